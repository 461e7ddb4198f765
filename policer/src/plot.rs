//! The picture of a replay: one flow's tokens and debt with each packet's colour, and its
//! delivered rate against CIR.

use std::path::Path;

use plotters::prelude::*;
use policer_common::{Colour, NANOS_PER_SEC, Profile};

/// One packet of the plotted flow.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub time_ns: u64,
    pub len: u32,
    pub colour: Colour,
    pub tokens_bytes: i64,
    pub debt_bytes: u64,
    pub dropped: bool,
}

/// A line of the upper panel: its label, colour, and value per sample.
type Curve = (&'static str, RGBColor, fn(&Sample) -> f64);

/// At most about this many packets are drawn (an even sample of them); SVGs of millions of
/// points help nobody.
const MAX_POINTS: usize = 4_000;
/// Bins of the delivered-rate panel.
const RATE_BINS: u64 = 100;

/// Draws `samples` (one flow, in time order) into an SVG at `path`.
pub fn draw(path: &Path, title: &str, profile: &Profile, samples: &[Sample]) -> anyhow::Result<()> {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        anyhow::bail!("nothing to plot: the flow has no packets");
    };
    let start = first.time_ns;
    let seconds = |t: u64| (t - start) as f64 / NANOS_PER_SEC as f64;
    let span = seconds(last.time_ns).max(1e-6);

    let root = SVGBackend::new(path, (1100, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 17))?;
    let (upper, lower) = root.split_vertically(460);

    // Tokens and debt, with a point per packet in its colour.
    let cbs = profile.cbs_bytes as f64;
    let ebs = profile.ebs_bytes as f64;
    let mut chart = ChartBuilder::on(&upper)
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(80)
        .caption("tokens and debt (bytes); points: packets by colour", ("sans-serif", 16))
        .build_cartesian_2d(0.0..span, (-ebs - cbs * 0.05)..(cbs.max(ebs) * 1.05))?;
    chart.configure_mesh().x_desc("time (s)").y_desc("bytes").draw()?;
    let stride = samples.len().div_ceil(MAX_POINTS).max(1);
    let curves: [Curve; 2] =
        [("tokens", BLUE, |s| s.tokens_bytes as f64), ("debt", MAGENTA, |s| s.debt_bytes as f64)];
    for (label, colour, value) in curves {
        chart
            .draw_series(LineSeries::new(
                samples.iter().step_by(stride).map(|s| (seconds(s.time_ns), value(s))),
                &colour,
            ))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    let yellow = RGBColor(230, 170, 0);
    let points = samples.iter().step_by(stride).map(|s| {
        let style = match s.colour {
            Colour::Green => GREEN.filled(),
            Colour::Yellow => yellow.filled(),
            Colour::Red => RED.filled(),
        };
        Circle::new((seconds(s.time_ns), s.tokens_bytes as f64), 2, style)
    });
    chart.draw_series(points)?;
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw()?;

    // Delivered (passed) and offered rate per bin, against CIR.
    let bin_ns = ((last.time_ns - start) / RATE_BINS).max(1);
    let mut offered = vec![0u64; RATE_BINS as usize + 1];
    let mut delivered = vec![0u64; RATE_BINS as usize + 1];
    for s in samples {
        let bin = (((s.time_ns - start) / bin_ns) as usize).min(RATE_BINS as usize);
        offered[bin] += s.len as u64;
        if !s.dropped {
            delivered[bin] += s.len as u64;
        }
    }
    let mbps = |bytes: u64| bytes as f64 * 8.0 * NANOS_PER_SEC as f64 / bin_ns as f64 / 1e6;
    let cir_mbps = profile.cir_bytes_per_sec as f64 * 8.0 / 1e6;
    let top = offered.iter().map(|&b| mbps(b)).fold(cir_mbps, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&lower)
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(80)
        .caption("rate per bin (Mbit/s)", ("sans-serif", 16))
        .build_cartesian_2d(0.0..span, 0.0..top)?;
    chart.configure_mesh().x_desc("time (s)").y_desc("Mbit/s").draw()?;
    let bin_start = |i: usize| (i as u64 * bin_ns) as f64 / NANOS_PER_SEC as f64;
    for (series, colour, label) in
        [(&offered, BLACK, "offered"), (&delivered, BLUE, "delivered (passed)")]
    {
        chart
            .draw_series(LineSeries::new(
                series.iter().enumerate().map(|(i, &b)| (bin_start(i), mbps(b))),
                &colour,
            ))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .draw_series(LineSeries::new([(0.0, cir_mbps), (span, cir_mbps)], &RED))?
        .label("CIR")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw()?;
    root.present()?;
    Ok(())
}
