//! Heat maps of the grid (SVG): one per congestion control and placement, a cell per rate,
//! flow count and round trip, three panels of ratios to the plain bucket (goodput,
//! retransmissions, loss). A cell where the goal fails has a heavy frame.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use plotters::{
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

use super::{
    Cc, FLOWS, Point, RATES, RTTS,
    report::{self, COLLAPSE_BELOW, Failure, GOODPUT_MIN, Grid, State},
};
use crate::bench::tcp::Placement;

const CELL_W: i32 = 54;
const CELL_H: i32 = 26;
const LABEL_W: i32 = 104;
const PANEL_GAP: i32 = 24;
const TOP: i32 = 78;

const GREEN: RGBColor = RGBColor(44, 160, 44);
const RED: RGBColor = RGBColor(214, 39, 40);
const NOT_RUN: RGBColor = RGBColor(240, 240, 240);
const BEYOND: RGBColor = RGBColor(150, 150, 150);
const FEW: RGBColor = RGBColor(215, 225, 240);

/// What a panel shows.
#[derive(Clone, Copy)]
enum Panel {
    Goodput,
    Retransmits,
    Loss,
}

impl Panel {
    fn title(self, cc: Cc) -> String {
        match self {
            Panel::Goodput => format!("goodput ÷ plain (goal ≥ {GOODPUT_MIN})"),
            Panel::Retransmits => {
                let limit = report::retrans_limit(cc);
                let limit = if cc == Cc::Bbr { format!("{limit}") } else { "1/3".into() };
                format!("retransmissions ÷ plain (goal ≤ {limit})")
            }
            Panel::Loss => "loss ÷ plain (not judged)".into(),
        }
    }
}

/// Draws a map for every congestion control and placement with any point in the grid;
/// returns the files by congestion control and placement.
pub fn draw_all(dir: &Path, grid: &Grid) -> anyhow::Result<BTreeMap<(Cc, Placement), PathBuf>> {
    let mut maps = BTreeMap::new();
    for placement in Placement::ALL {
        for cc in Cc::ALL {
            let any = grid.points.keys().any(|p| p.cc == cc && p.placement == placement);
            if !any {
                continue;
            }
            let path = dir.join(format!("heat-{}-{}.svg", cc.name(), placement.name()));
            draw(&path, grid, cc, placement)?;
            maps.insert((cc, placement), path);
        }
    }
    Ok(maps)
}

/// The rows of a panel: every rate with every flow count.
fn rows() -> Vec<(u64, u32)> {
    RATES.iter().flat_map(|&r| FLOWS.iter().map(move |&f| (r, f))).collect()
}

fn draw(path: &Path, grid: &Grid, cc: Cc, placement: Placement) -> anyhow::Result<()> {
    let panels = [Panel::Goodput, Panel::Retransmits, Panel::Loss];
    let panel_w = LABEL_W + CELL_W * RTTS.len() as i32;
    let width = PANEL_GAP + (panel_w + PANEL_GAP) * panels.len() as i32;
    let height = TOP + CELL_H * rows().len() as i32 + 70;
    let root = SVGBackend::new(path, (width as u32, height as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "{}, {}: the defaults against a plain bucket with the same cbs (same run)",
        cc.title(),
        placement.describe()
    );
    root.draw(&Text::new(title, (PANEL_GAP, 14), ("sans-serif", 18).into_font()))?;
    for (i, panel) in panels.into_iter().enumerate() {
        let x0 = PANEL_GAP + i as i32 * (panel_w + PANEL_GAP);
        draw_panel(&root, grid, cc, placement, panel, x0)?;
    }
    let legend = [
        "Rows: rate x flows (each flow policed at the rate); columns: round trip. Green: better \
         than the plain bucket, red: worse (deeper for larger ratios)."
            .to_string(),
        format!(
            "Heavy frame: the goal fails there (✗✗: below {COLLAPSE_BELOW} of its goodput, a \
             collapse). ·: not run yet; line: beyond the delay line; lost: the testbed lost \
             frames (not judged); err: the run failed; few: too few retransmissions to judge."
        ),
    ];
    for (i, line) in legend.into_iter().enumerate() {
        let y = TOP + CELL_H * rows().len() as i32 + 20 + 18 * i as i32;
        root.draw(&Text::new(line, (PANEL_GAP, y), ("sans-serif", 13).into_font()))?;
    }
    root.present()?;
    Ok(())
}

fn centred(size: u32) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", size).into_font()).pos(Pos::new(HPos::Center, VPos::Center))
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    grid: &Grid,
    cc: Cc,
    placement: Placement,
    panel: Panel,
    x0: i32,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    area.draw(&Text::new(panel.title(cc), (x0, 44), ("sans-serif", 14).into_font()))?;
    let right = Pos::new(HPos::Right, VPos::Center);
    let label_style = TextStyle::from(("sans-serif", 12).into_font()).pos(right);
    area.draw(&Text::new("RTT, ms:", (x0 + LABEL_W - 8, TOP - 10), label_style.clone()))?;
    for (j, rtt) in RTTS.iter().enumerate() {
        let x = x0 + LABEL_W + j as i32 * CELL_W + CELL_W / 2;
        area.draw(&Text::new(format!("{rtt}"), (x, TOP - 10), centred(12)))?;
    }
    // Frames where the goal fails go on top of every cell, so no neighbour hides them.
    let mut failing = Vec::new();
    for (i, (rate_mbit, flows)) in rows().into_iter().enumerate() {
        let y = TOP + i as i32 * CELL_H;
        let label = format!("{rate_mbit} Mbit/s x {flows}");
        area.draw(&Text::new(label, (x0 + LABEL_W - 8, y + CELL_H / 2), label_style.clone()))?;
        for (j, &rtt_ms) in RTTS.iter().enumerate() {
            let p = Point { placement, cc, flows, rate_mbit, rtt_ms };
            let x = x0 + LABEL_W + j as i32 * CELL_W;
            let (fill, text, fails) = cell(grid.points.get(&p), panel);
            let corners = [(x, y), (x + CELL_W, y + CELL_H)];
            area.draw(&Rectangle::new(corners, fill.filled()))?;
            area.draw(&Rectangle::new(corners, RGBColor(200, 200, 200).stroke_width(1)))?;
            if fails {
                failing.push(corners);
            }
            let centre = (x + CELL_W / 2, y + CELL_H / 2);
            area.draw(&Text::new(text, centre, centred(11)))?;
        }
    }
    for corners in failing {
        area.draw(&Rectangle::new(corners, BLACK.stroke_width(3)))?;
    }
    Ok(())
}

/// A cell's colour, text, and whether the goal fails there (in this panel's terms).
fn cell(state: Option<&State>, panel: Panel) -> (RGBColor, String, bool) {
    let m = match state {
        None => return (NOT_RUN, "·".into(), false),
        Some(State::BeyondLine(_)) => return (BEYOND, "line".into(), false),
        Some(State::Failed(..)) => return (BEYOND, "err".into(), false),
        Some(State::Measured(_, m)) if m.unclean() => return (BEYOND, "lost".into(), false),
        Some(State::Measured(_, m)) => m,
    };
    let r = &m.check.ratios;
    match panel {
        Panel::Goodput => {
            let fails = m
                .check
                .failures
                .iter()
                .any(|f| matches!(f, Failure::Goodput(_) | Failure::Collapse(_)));
            let text = if m.check.collapsed() {
                format!("✗✗{}", report::show_ratio(r.goodput))
            } else {
                report::show_ratio(r.goodput)
            };
            // A tenth either way is the deepest colour.
            (shade((r.goodput - 1.0) / 0.1), text, fails)
        }
        Panel::Retransmits => {
            let fails = m.check.failures.iter().any(|f| matches!(f, Failure::Retransmits { .. }));
            if !m.check.retrans_judged {
                return (FEW, "few".into(), false);
            }
            (shade(-log_ratio(r.retransmits)), report::show_ratio(r.retransmits), fails)
        }
        Panel::Loss => (shade(-log_ratio(r.loss)), report::show_ratio(r.loss), false),
    }
}

/// log2 of a ratio over 2 (a quarter: -1, four times: 1), 0 where it means nothing.
fn log_ratio(r: f64) -> f64 {
    if r.is_nan() {
        0.0
    } else if r == 0.0 {
        -1.0
    } else {
        (r.log2() / 2.0).clamp(-1.0, 1.0)
    }
}

/// White at 0, green towards 1 (better), red towards -1 (worse).
fn shade(t: f64) -> RGBColor {
    let t = t.clamp(-1.0, 1.0);
    let to = if t >= 0.0 { GREEN } else { RED };
    let mix = |c: u8| (255.0 + (f64::from(c) - 255.0) * t.abs() * 0.85).round() as u8;
    RGBColor(mix(to.0), mix(to.1), mix(to.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shades_run_from_red_through_white_to_green() {
        assert_eq!(shade(0.0), RGBColor(255, 255, 255));
        let (good, bad) = (shade(1.0), shade(-1.0));
        assert!(good.1 > good.0 && bad.0 > bad.1, "{good:?} {bad:?}");
        assert_eq!(shade(5.0), shade(1.0));
        assert_eq!(log_ratio(4.0), 1.0);
        assert_eq!(log_ratio(0.25), -1.0);
        assert_eq!(log_ratio(f64::INFINITY), 1.0);
        assert_eq!(log_ratio(f64::NAN), 0.0);
    }
}
