//! `cargo xtask bench`: the evidence. Per-packet cost, packet rate under load and TCP
//! through the policer and its peers, in one run, written to `bench/RESULTS.md` with plots.
//! Each part also runs alone (`cargo xtask bench tcp --rtt 20 --cc bbr ...`).

mod cost;
mod grid;
mod load;
mod plots;
mod tcp;
mod trace;

use std::{fs, path::PathBuf, time::Instant};

use clap::{Args, Subcommand};

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    part: Option<Part>,
    /// A subset that runs in about 3 minutes: fewer points, shorter runs.
    #[arg(long)]
    quick: bool,
    /// Where the report and its plots go.
    #[arg(long, default_value = "bench")]
    out: PathBuf,
}

#[derive(Subcommand)]
enum Part {
    /// Per-packet cost from BPF_PROG_TEST_RUN against a bare XDP_PASS.
    Cost(cost::CostArgs),
    /// Packets per second one core handles under a flood: the policer against nftables.
    Load(load::LoadArgs),
    /// TCP through the policer and its peers at chosen points (prints a table).
    Tcp(tcp::TcpArgs),
    /// One TCP flow with the policer's own state of it over time, drawn as an SVG.
    Trace(trace::TraceArgs),
    /// The defaults against a plain bucket over every rate, round trip, flow count,
    /// congestion control and placement (issue 24): resumable, writes bench/GRID.md.
    Grid(grid::GridArgs),
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    build_policer()?;
    match &args.part {
        Some(Part::Cost(a)) => {
            print!("{}", cost::markdown(a, &cost::run(a)?));
            print!("\n{}", cost::sizes_markdown(&cost::sizes()?));
            if a.walks() {
                print!("\n{}", cost::table_walk(a.walk, 3)?.markdown());
            }
        }
        Some(Part::Load(a)) => print!("{}", load::markdown(a, &load::run(a)?)),
        Some(Part::Tcp(a)) => print!("{}", tcp::markdown(&tcp::run(a)?)),
        Some(Part::Trace(a)) => trace::run(a)?,
        Some(Part::Grid(a)) => grid::run(a)?,
        None => everything(args)?,
    }
    Ok(())
}

/// Every part, then the report and the plots.
fn everything(args: &BenchArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    fs::create_dir_all(&args.out)?;
    let cost_args = cost::CostArgs::preset(args.quick);
    let cost_rows = cost::run(&cost_args)?;
    let sizes = cost::sizes()?;
    let walk = cost::table_walk(cost_args.walk, 3)?;
    let load_args = load::LoadArgs::preset(args.quick);
    let load_rows = load::run(&load_args)?;
    let check = tcp::delay_line_check()?;
    let main = tcp::run_plan(&tcp::main_plan(args.quick))?;
    let sweep = tcp::run_plan(&tcp::sweep_plan(args.quick))?;
    let modes = tcp::run_plan(&tcp::modes_plan(args.quick))?;
    let ecn = tcp::run_plan(&tcp::ecn_plan(args.quick))?;
    plots::draw_all(&args.out, &cost_rows, &main)?;
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let report = format!(
        "# Evidence: cost and TCP accuracy of the policer and its peers\n\n\
         `cargo xtask bench{}` on {}; the whole run took {minutes:.1} minutes. Every figure is \
         the median of repeats with its range (min-max); every comparison is a ratio measured \
         in the same run. Plots: [goodput over time](tcp-goodput-20ms.svg), \
         [goodput and drops by RTT](tcp-by-rtt.svg), [cost by flows](cost-by-flows.svg).\n\n\
         {}\n{}\n{}\n{}\n{}\n{}\n{}",
        if args.quick { " --quick" } else { "" },
        crate::machine::describe(),
        cost::markdown(&cost_args, &cost_rows)
            + "\n"
            + &cost::sizes_markdown(&sizes)
            + "\n"
            + &walk.markdown(),
        load::markdown(&load_args, &load_rows),
        check.markdown(),
        tcp::markdown(&main),
        tcp::markdown(&sweep),
        tcp::markdown(&modes),
        tcp::markdown(&ecn),
    );
    let path = args.out.join("RESULTS.md");
    fs::write(&path, &report)?;
    println!("{report}\nwritten to {}", path.display());
    Ok(())
}

fn build_policer() -> anyhow::Result<()> {
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--package", "policer", "--bin", "policer"])
        .status()?;
    anyhow::ensure!(status.success(), "building policer failed");
    Ok(())
}

/// An nftables netdev chain on `hook` (ingress, egress) of `dev` in `ns`, with one rule.
/// The benchmark's anchors object (`policer-ebpf/src/anchors.rs`): flow tables of `flows`
/// entries, and a fan-out of `copies` for the flood generator.
pub fn anchors(flows: u32, copies: u32) -> anyhow::Result<aya::Ebpf> {
    use anyhow::Context as _;
    aya::EbpfLoader::new()
        .map_max_entries("ANCHOR_LRU", flows)
        .map_max_entries("ANCHOR_LOCKED", flows)
        .map_max_entries("FANOUT", copies)
        .load(policer::bench_anchors_object())
        .context("loading the anchors")
}

pub fn nft_chain(ns: &policer_tests::Netns, hook: &str, dev: &str, rule: &str) {
    let chain = format!(
        "add chain netdev policer_bench police {{ type filter hook {hook} device \"{dev}\" \
         priority 0 ; }}"
    );
    ns.exec_ok("nft", ["add table netdev policer_bench"]);
    ns.exec_ok("nft", [chain.as_str()]);
    ns.exec_ok("nft", [format!("add rule netdev policer_bench police {rule}").as_str()]);
}

/// The median of repeats and their range.
#[derive(Clone, Copy, Debug, Default)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(samples: impl IntoIterator<Item = f64>) -> Spread {
        let mut s: Vec<f64> = samples.into_iter().collect();
        if s.is_empty() {
            return Spread::default();
        }
        s.sort_by(f64::total_cmp);
        let mid = s.len() / 2;
        let median = if s.len() % 2 == 1 { s[mid] } else { (s[mid - 1] + s[mid]) / 2.0 };
        Spread { median, min: s[0], max: s[s.len() - 1] }
    }

    /// "0.940 (0.931-0.952)" with `digits` decimals, scaled by `scale`.
    pub fn show(&self, digits: usize, scale: f64) -> String {
        format!(
            "{:.digits$} ({:.digits$}-{:.digits$})",
            self.median * scale,
            self.min * scale,
            self.max * scale
        )
    }
}
