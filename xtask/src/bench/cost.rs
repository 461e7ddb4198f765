//! Per-packet cost of the kernel programs, from BPF_PROG_TEST_RUN, against a bare XDP_PASS
//! built the same way and measured in the same run.

use anyhow::Context as _;
use aya::programs::{TestRun, TestRunOptions, Xdp};
use clap::Args;
use policer::{Loaded, ProgramKind};
use policer_common::{PROG_XDP_PASS, Profile, action, key_mode};
use policer_tests::frames::Packet;

use super::Spread;

#[derive(Args)]
pub struct CostArgs {
    /// Repeats of each measurement (the median is reported, with min and max).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Runs of one frame per hot-flow measurement.
    #[arg(long, default_value_t = 2_000_000)]
    runs: u32,
    /// Flow-table sizes to measure with every flow in the table.
    #[arg(long, value_delimiter = ',', default_values_t = [4_096u32, 65_536, 1_048_576])]
    flows: Vec<u32>,
}

impl CostArgs {
    /// The settings of `cargo xtask bench` (and of `--quick`).
    pub fn preset(quick: bool) -> CostArgs {
        if quick {
            CostArgs { repeats: 3, runs: 500_000, flows: vec![65_536] }
        } else {
            CostArgs { repeats: 5, runs: 2_000_000, flows: vec![4_096, 65_536, 1_048_576] }
        }
    }
}

/// One measured case: the policer and the bare XDP_PASS, ns per packet.
pub struct CostRow {
    pub case: String,
    /// Flows in the table, for the cases that spread lookups over them (1: a hot flow).
    pub flows: Option<u32>,
    pub ours: Spread,
    pub base: Spread,
}
/// 10 GbE line rate at 64-byte frames: 14.88 Mpps, 67.2 ns per packet on one core.
const LINE_RATE_NS: f64 = 67.2;

/// A profile no measurement fills: every packet green, the common path.
fn profile() -> Profile {
    Profile::new(
        125_000_000_000,
        1 << 32,
        1 << 32,
        key_mode::FIVE_TUPLE,
        action::PASS,
        action::DROP,
    )
    .expect("a valid profile")
}

/// Frame `i` of `n` distinct TCP flows (addresses and ports spread over the key).
fn flow_frame(i: u32, len: usize) -> Vec<u8> {
    let src = format!("10.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
    Packet::tcp(&src, "192.0.2.1", (i % 60_000) as u16 + 1024, 443).frame(len)
}

/// Mean ns of `runs` runs of one frame, as the kernel times them.
fn hot(
    run: &mut dyn FnMut(&[u8], u32) -> anyhow::Result<u64>,
    frame: &[u8],
    runs: u32,
) -> anyhow::Result<f64> {
    Ok(run(frame, runs)? as f64)
}

/// Mean ns over `frames`, one run each (so each lookup is for another flow).
fn spread(
    run: &mut dyn FnMut(&[u8], u32) -> anyhow::Result<u64>,
    frames: &[Vec<u8>],
) -> anyhow::Result<f64> {
    let mut total = 0u64;
    for frame in frames {
        total += run(frame, 1)?;
    }
    Ok(total as f64 / frames.len() as f64)
}

pub fn run(args: &CostArgs) -> anyhow::Result<Vec<CostRow>> {
    let mut ebpf = aya::Ebpf::load(policer::ebpf_object()).context("loading the object")?;
    let pass: &mut Xdp = ebpf.program_mut(PROG_XDP_PASS).context("xdp_pass")?.try_into()?;
    pass.load()?;
    let mut run_pass = |frame: &[u8], repeat: u32| -> anyhow::Result<u64> {
        let opts = TestRunOptions { data_in: Some(frame), repeat, ..Default::default() };
        Ok(pass.test_run(opts)?.duration.as_nanos() as u64)
    };
    let mut rows = Vec::new();

    let cases = [
        (ProgramKind::Xdp, 64),
        (ProgramKind::Xdp, 1514),
        (ProgramKind::Tc, 64),
        (ProgramKind::Tc, 1514),
    ];
    for (kind, len) in cases {
        let mut loaded = Loaded::load(&profile(), 1024, kind)?;
        let frame = flow_frame(1, len);
        let mut run_policer = |f: &[u8], r: u32| Ok(loaded.test_run(f, r)?.1);
        let (mut ours, mut base) = (Vec::new(), Vec::new());
        for _ in 0..args.repeats {
            ours.push(hot(&mut run_policer, &frame, args.runs)?);
            base.push(hot(&mut run_pass, &frame, args.runs)?);
        }
        let hook = if kind == ProgramKind::Xdp { "XDP" } else { "TC" };
        let name = format!("{hook}, one hot flow, {len}-byte frames");
        let flows = (kind == ProgramKind::Xdp && len == 64).then_some(1);
        rows.push(row(name, flows, ours, base));
    }

    for &n in &args.flows {
        let frames: Vec<Vec<u8>> = (0..n).map(|i| flow_frame(i, 64)).collect();
        let mut loaded = Loaded::load(&profile(), n, ProgramKind::Xdp)?;
        let mut run_policer = |f: &[u8], r: u32| Ok(loaded.test_run(f, r)?.1);
        // The first pass inserts every flow: the new-flow path.
        let insert = spread(&mut run_policer, &frames)?;
        let insert_base = spread(&mut run_pass, &frames)?;
        let name = format!("XDP, a new flow each packet (insert, {n}-entry table)");
        rows.push(row(name, None, vec![insert], vec![insert_base]));
        let (mut ours, mut base) = (Vec::new(), Vec::new());
        for _ in 0..args.repeats.min(3) {
            ours.push(spread(&mut run_policer, &frames)?);
            base.push(spread(&mut run_pass, &frames)?);
        }
        let name = format!("XDP, {n} flows in the table, each packet another flow");
        rows.push(row(name, Some(n), ours, base));
    }
    Ok(rows)
}

fn row(case: String, flows: Option<u32>, ours: Vec<f64>, base: Vec<f64>) -> CostRow {
    let row = CostRow { case, flows, ours: Spread::of(ours), base: Spread::of(base) };
    eprintln!("{}: {:.1} ns (XDP_PASS {:.1})", row.case, row.ours.median, row.base.median);
    row
}

/// The cost section of the report.
pub fn markdown(args: &CostArgs, rows: &[CostRow]) -> String {
    let mut out = format!(
        "## Per-packet cost\n\n\
         BPF_PROG_TEST_RUN times each program in the kernel. Hot flow: one frame run {} times \
         per measurement. Many flows: every flow first inserted (the new-flow figure), then each \
         frame run once, in turn, so every lookup is for another flow and misses the caches; \
         each of those runs includes the kernel's timer reads (about the same in both columns). \
         Medians of {} measurements (min-max). The baseline is a bare `XDP_PASS` built like the \
         policer and measured in the same run. Anchor: 10 GbE line rate at 64-byte frames is \
         14.88 Mpps, {LINE_RATE_NS} ns per packet on one core; our target is one hot flow \
         within that and 1M flows within twice that.\n\n\
         | case | policer ns/packet | XDP_PASS ns/packet | added ns | Mpps per core |\n\
         |---|---|---|---|---|\n",
        args.runs, args.repeats,
    );
    for r in rows {
        out += &format!(
            "| {} | {} | {:.1} | {:.1} | {:.1} |\n",
            r.case,
            r.ours.show(1, 1.0),
            r.base.median,
            r.ours.median - r.base.median,
            1e3 / r.ours.median
        );
    }
    out
}
