//! `cargo xtask bench trace`: one TCP flow through the policer, with the kernel program's
//! own state of that flow (tokens, debt, packets, reds) read from its flow map every
//! interval, drawn as one SVG: what a collapse or a BBR cycle looks like from inside.

use std::{
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::Args;
use plotters::prelude::*;
use policer_tests::Testbed;

use super::tcp::{self, Spec};

#[derive(Args)]
pub struct TraceArgs {
    /// The policer setup: a mode (junose, len-debt, tcp) with the bursts below, or
    /// `ebs0` (a plain bucket).
    #[arg(long, default_value = "junose")]
    setup: String,
    /// Congestion control of the sender.
    #[arg(long, default_value = "cubic")]
    cc: String,
    /// Round-trip time, ms (0: no delay line).
    #[arg(long, default_value_t = 80)]
    rtt: u64,
    /// Committed rate, Mbit/s.
    #[arg(long, default_value_t = 10)]
    cir: u64,
    /// Committed burst, as a time of the rate.
    #[arg(long, default_value = "1500ms")]
    cbs: String,
    /// Excess burst, as a time of the rate.
    #[arg(long, default_value = "3000ms")]
    ebs: String,
    /// Seconds of TCP.
    #[arg(long, default_value_t = 30)]
    seconds: u32,
    /// How often the flow map is read, ms.
    #[arg(long, default_value_t = 100)]
    interval: u64,
    /// The SVG to write.
    #[arg(long, default_value = "trace.svg")]
    out: PathBuf,
    /// Extra `policer attach` arguments (e.g. "--yellow ecn": ECN is then on at both ends).
    #[arg(long, allow_hyphen_values = true, default_value = "")]
    attach: String,
    /// Also print every interval (not only each second's summary): what the per-second
    /// means hide, such as how deep a flow borrows before it answers a red.
    #[arg(long)]
    steps: bool,
}

/// The policed flow's state as the kernel program left it, at `t` seconds.
#[derive(Clone, Copy, Debug, Default)]
struct Reading {
    t: f64,
    packets: u64,
    bytes: u64,
    red: u64,
    tokens: i64,
    debt: i64,
    /// The flow's phase in `tcp` mode (`policer flows`), else "-".
    phase: &'static str,
}

/// One interval between two readings.
struct Step {
    t: f64,
    offered_mbit: f64,
    passed_mbit: f64,
    reds: u64,
    tokens_kb: f64,
    debt_kb: f64,
    phase: &'static str,
}

pub fn run(args: &TraceArgs) -> anyhow::Result<()> {
    let spec = Spec {
        setup: args.setup.clone(),
        cc: args.cc.clone(),
        cir_mbit: args.cir,
        rtt_ms: args.rtt,
        flows: 1,
        cbs: args.cbs.clone(),
        ebs: args.ebs.clone(),
        attach: args.attach.clone(),
        placement: tcp::Placement::Ingress,
        tcp_buffers: None,
    };
    anyhow::ensure!(
        matches!(spec.setup.as_str(), "junose" | "len-debt" | "tcp" | "ebs0" | "policer"),
        "trace needs our policer: --setup junose, len-debt, tcp, ebs0 or policer"
    );
    let bed = tcp::testbed(spec.rtt_ms);
    tcp::set_up(&bed, &spec)?;
    let readings = record(&bed, args)?;
    let steps = steps(&readings);
    anyhow::ensure!(!steps.is_empty(), "no packet of the flow reached the policer");
    let title = format!(
        "{} (cbs {}, ebs {}), {}, {} Mbit/s, RTT {} ms: the flow as the kernel program saw it",
        spec.setup, spec.cbs, spec.ebs, spec.cc, spec.cir_mbit, spec.rtt_ms
    );
    draw(&args.out, &title, args.cir as f64, &steps)?;
    if args.steps {
        print_steps(&steps, args.cir as f64);
    }
    print_summary(&steps, args.cir as f64);
    print_outcomes(&bed.stats());
    eprintln!("trace written to {}", args.out.display());
    Ok(())
}

/// Runs iperf3 and reads the heaviest flow every interval until it ends.
fn record(bed: &Testbed, args: &TraceArgs) -> anyhow::Result<Vec<Reading>> {
    thread::scope(|scope| {
        let iperf = scope.spawn(|| bed.iperf3(args.seconds, &["-C", &args.cc]));
        let start = Instant::now();
        let mut readings = Vec::new();
        while !iperf.is_finished() {
            if let Some(mut r) = heaviest_flow(bed)? {
                r.t = start.elapsed().as_secs_f64();
                readings.push(r);
            }
            thread::sleep(Duration::from_millis(args.interval));
        }
        iperf.join().map_err(|_| anyhow::anyhow!("iperf3 failed"))?;
        Ok(readings)
    })
}

/// The flow with the most bytes (iperf3's data connection), from `policer flows --json`.
fn heaviest_flow(bed: &Testbed) -> anyhow::Result<Option<Reading>> {
    let out = bed.policer_ok(&["flows", &bed.b_if, "--json", "--top", "1"]);
    let rows: serde_json::Value = serde_json::from_str(&out).context("flows --json")?;
    let Some(row) = rows.as_array().and_then(|a| a.first()) else { return Ok(None) };
    let int = |field: &str| row[field].as_i64().with_context(|| format!("flows: {field}"));
    Ok(Some(Reading {
        t: 0.0,
        packets: int("packets")? as u64,
        bytes: int("bytes")? as u64,
        red: int("red_packets")? as u64,
        tokens: int("tokens_bytes")?,
        debt: int("debt_bytes")?,
        phase: phase_name(row["phase"].as_str()),
    }))
}

/// The phase as a static name (readings are `Copy`).
fn phase_name(phase: Option<&str>) -> &'static str {
    let names = policer_common::Phase::ALL.map(policer_common::Phase::name);
    names.into_iter().find(|&n| Some(n) == phase).unwrap_or("-")
}

/// Rates and reds between consecutive readings. Red bytes are not counted per flow, so the
/// passed rate takes each red packet at the interval's mean packet length.
fn steps(readings: &[Reading]) -> Vec<Step> {
    readings
        .windows(2)
        .filter(|w| w[1].t > w[0].t)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            let seconds = b.t - a.t;
            let bytes = b.bytes.saturating_sub(a.bytes) as f64;
            let packets = b.packets.saturating_sub(a.packets);
            let reds = b.red.saturating_sub(a.red);
            let mean_len = if packets == 0 { 0.0 } else { bytes / packets as f64 };
            let mbit = |bytes: f64| bytes * 8.0 / seconds / 1e6;
            Step {
                t: b.t,
                offered_mbit: mbit(bytes),
                passed_mbit: mbit(bytes - reds as f64 * mean_len),
                reds,
                tokens_kb: b.tokens as f64 / 1000.0,
                debt_kb: b.debt as f64 / 1000.0,
                phase: b.phase,
            }
        })
        .collect()
}

/// Every interval: what arrived, the reds, and the flow's state at its end.
fn print_steps(steps: &[Step], cir: f64) {
    println!("time s  offered/CIR  reds  tokens kB  debt kB  phase");
    for s in steps {
        println!(
            "{:>6.3}  {:>11.2}  {:>4}  {:>9.0}  {:>7.0}  {}",
            s.t,
            s.offered_mbit / cir,
            s.reds,
            s.tokens_kb,
            s.debt_kb,
            s.phase
        );
    }
}

/// Per second: what arrived, what passed and the reds, for the run's log.
fn print_summary(steps: &[Step], cir: f64) {
    let seconds = steps.last().map_or(0, |s| s.t as usize);
    println!("second  offered/CIR  passed/CIR  reds  tokens kB  debt kB  phases");
    for second in 0..seconds {
        let of_second: Vec<&Step> = steps.iter().filter(|s| s.t as usize == second).collect();
        if of_second.is_empty() {
            continue;
        }
        let n = of_second.len() as f64;
        let mean = |f: fn(&Step) -> f64| of_second.iter().map(|s| f(s)).sum::<f64>() / n;
        let last = of_second[of_second.len() - 1];
        println!(
            "{second:>6}  {:>11.2}  {:>10.2}  {:>4}  {:>9.0}  {:>7.0}  {}",
            mean(|s| s.offered_mbit) / cir,
            mean(|s| s.passed_mbit) / cir,
            of_second.iter().map(|s| s.reds).sum::<u64>(),
            last.tokens_kb,
            last.debt_kb,
            phases(&of_second),
        );
    }
}

/// What the policer did with each colour over the whole run (`stats`).
fn print_outcomes(stats: &serde_json::Value) {
    for colour in ["green", "yellow", "red"] {
        let c = &stats["counters"][colour];
        let n = |field: &str| c[field].as_u64().unwrap_or(0);
        println!(
            "{colour}: {} packets, {} passed, {} marked, {} dropped",
            n("packets"),
            c["passed"]["packets"].as_u64().unwrap_or(0),
            c["marked"]["packets"].as_u64().unwrap_or(0),
            c["dropped"]["packets"].as_u64().unwrap_or(0),
        );
    }
}

/// The phases a second's readings saw, in order, a phase repeated in a row once.
fn phases(steps: &[&Step]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for step in steps {
        if seen.last() != Some(&step.phase) {
            seen.push(step.phase);
        }
    }
    seen.join(">")
}

/// Three panels over time: rate at the policer, tokens and debt, reds per interval.
fn draw(path: &Path, title: &str, cir: f64, steps: &[Step]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1100, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 20))?;
    let panels = root.split_evenly((3, 1));
    let end = steps.last().map_or(1.0, |s| s.t).ceil();
    let blue = RGBColor(31, 119, 180);
    let red = RGBColor(214, 39, 40);
    let grey = RGBColor(127, 127, 127);

    // Slow start can reach many times CIR for a moment; past 3x CIR it is clipped, so that
    // the cycles after it stay readable.
    let top = steps.iter().map(|s| s.offered_mbit).fold(cir * 1.5, f64::max).min(cir * 3.0);
    let rate_lines = [
        ("arriving at the policer", blue, steps.iter().map(|s| (s.t, s.offered_mbit)).collect()),
        ("passed (green and yellow)", red, steps.iter().map(|s| (s.t, s.passed_mbit)).collect()),
        ("CIR", grey, vec![(0.0, cir), (end, cir)]),
    ];
    panel(&panels[0], "Mbit/s (clipped at 3x CIR)", (0.0, end), (0.0, top), &rate_lines)?;

    let low = steps.iter().map(|s| s.tokens_kb.min(-s.debt_kb)).fold(0.0, f64::min);
    let high = steps.iter().map(|s| s.tokens_kb.max(s.debt_kb)).fold(1.0, f64::max);
    let bucket_lines = [
        ("tokens", blue, steps.iter().map(|s| (s.t, s.tokens_kb)).collect()),
        ("debt", red, steps.iter().map(|s| (s.t, s.debt_kb)).collect()),
    ];
    panel(&panels[1], "kB", (0.0, end), (low * 1.1, high * 1.1), &bucket_lines)?;

    let most = steps.iter().map(|s| s.reds as f64).fold(1.0, f64::max);
    let red_lines =
        [("red packets per interval", red, steps.iter().map(|s| (s.t, s.reds as f64)).collect())];
    panel(&panels[2], "reds", (0.0, end), (0.0, most * 1.1), &red_lines)?;
    root.present()?;
    Ok(())
}

type Line = (&'static str, RGBColor, Vec<(f64, f64)>);

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    y_label: &str,
    x: (f64, f64),
    y: (f64, f64),
    lines: &[Line],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(x.0..x.1, y.0..y.1)?;
    chart.configure_mesh().x_desc("seconds").y_desc(y_label).draw()?;
    for (label, colour, points) in lines {
        let colour = *colour;
        chart
            .draw_series(LineSeries::new(points.iter().copied(), colour.stroke_width(2)))?
            .label(*label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    Ok(())
}
