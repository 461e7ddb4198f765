//! The report's plots (SVG): goodput over time at 20 ms, goodput and drops by RTT, and the
//! per-packet cost by the number of flows.

use std::path::Path;

use plotters::{coord::Shift, prelude::*};

use super::{
    cost::CostRow,
    tcp::{Results, Row},
};

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
/// A panel's label, the figure of a row it plots, and its least y range.
type Metric = (&'static str, fn(&Row) -> f64, (f64, f64));

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(127, 127, 127),
    RGBColor(255, 127, 14),
];

pub fn draw_all(dir: &Path, cost: &[CostRow], tcp: &Results) -> anyhow::Result<()> {
    goodput_over_time(&dir.join("tcp-goodput-20ms.svg"), tcp)?;
    by_rtt(&dir.join("tcp-by-rtt.svg"), tcp)?;
    cost_by_flows(&dir.join("cost-by-flows.svg"), cost)
}

/// Rows of one flow at 10 Mbit/s with congestion control `cc`.
fn single_flow<'a>(tcp: &'a Results, cc: &'a str) -> impl Iterator<Item = &'a Row> {
    tcp.rows.iter().filter(move |r| r.spec.cc == cc && r.spec.flows == 1 && r.spec.cir_mbit == 10)
}

/// The setups that police (`none`'s goodput is the delay line's, off every scale here).
fn setups(tcp: &Results) -> Vec<String> {
    let mut s: Vec<String> = Vec::new();
    for r in &tcp.rows {
        if r.spec.setup != "none" && !s.contains(&r.spec.setup) {
            s.push(r.spec.setup.clone());
        }
    }
    s
}

fn goodput_over_time(path: &Path, tcp: &Results) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1100, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((2, 1));
    for (panel, cc) in panels.iter().zip(["cubic", "bbr"]) {
        let lines: Vec<(String, Vec<(f64, f64)>)> = single_flow(tcp, cc)
            .filter(|r| r.spec.rtt_ms == 20 && r.spec.setup != "none")
            .filter_map(|r| {
                let first = r.samples.first()?;
                let points = first.per_second.iter().enumerate();
                Some((r.spec.setup.clone(), points.map(|(i, &v)| (i as f64 + 0.5, v)).collect()))
            })
            .collect();
        let caption = format!("{cc}, 10 Mbit/s, 20 ms RTT: goodput/CIR per second (first run)");
        chart(panel, &caption, "seconds", "goodput / CIR", &lines, (0.0, 1.3))?;
    }
    root.present()?;
    Ok(())
}

fn by_rtt(path: &Path, tcp: &Results) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1100, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((2, 2));
    let metrics: [Metric; 2] = [
        ("goodput / CIR", |r| r.spread(|s| s.goodput_over_cir).median, (0.0, 1.3)),
        ("drops, %", |r| r.spread(|s| s.drop_share).median * 100.0, (0.0, 5.0)),
    ];
    for (i, (label, metric, range)) in metrics.iter().enumerate() {
        for (j, cc) in ["cubic", "bbr"].into_iter().enumerate() {
            let lines: Vec<(String, Vec<(f64, f64)>)> = setups(tcp)
                .into_iter()
                .map(|setup| {
                    let points = single_flow(tcp, cc)
                        .filter(|r| r.spec.setup == setup)
                        .map(|r| (r.spec.rtt_ms as f64, metric(r)))
                        .collect();
                    (setup, points)
                })
                .collect();
            let top = lines.iter().flat_map(|(_, p)| p.iter().map(|p| p.1)).fold(range.1, f64::max);
            let caption = format!("{cc}, 10 Mbit/s, 1 flow: {label} by RTT (median)");
            chart(&panels[i * 2 + j], &caption, "RTT, ms", label, &lines, (range.0, top))?;
        }
    }
    root.present()?;
    Ok(())
}

fn cost_by_flows(path: &Path, cost: &[CostRow]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let points: Vec<(u32, &CostRow)> = cost.iter().filter_map(|r| Some((r.flows?, r))).collect();
    let series = |f: fn(&CostRow) -> f64| -> Vec<(f64, f64)> {
        points.iter().map(|&(n, r)| ((n as f64).log10(), f(r))).collect()
    };
    let lines = vec![
        ("policer (XDP, 64-byte frames)".to_string(), series(|r| r.ours.median)),
        ("bare XDP_PASS".to_string(), series(|r| r.base.median)),
    ];
    let top = lines.iter().flat_map(|(_, p)| p.iter().map(|p| p.1)).fold(80.0, f64::max);
    let caption = "ns per packet by flows in the table (log10 of flows; 0 = one hot flow)";
    chart(&root, caption, "log10(flows)", "ns / packet", &lines, (0.0, top * 1.1))?;
    root.present()?;
    Ok(())
}

/// One panel of lines with markers, x from the data, y over `y`.
fn chart(
    area: &Area,
    caption: &str,
    x_label: &str,
    y_label: &str,
    lines: &[(String, Vec<(f64, f64)>)],
    y: (f64, f64),
) -> anyhow::Result<()> {
    let xs = lines.iter().flat_map(|(_, p)| p.iter().map(|p| p.0));
    let (x0, x1) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let (x0, x1) = if x0 > x1 { (0.0, 1.0) } else { (x0, x1.max(x0 + 1.0)) };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(x0..x1, y.0..y.1)?;
    chart.configure_mesh().x_desc(x_label).y_desc(y_label).draw()?;
    for (i, (name, points)) in lines.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(points.iter().copied(), colour.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    Ok(())
}
