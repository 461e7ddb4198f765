//! `cargo xtask bench grid`: the defaults against a plain token bucket with the same cbs
//! (`--ebs 0`) over every rate, round trip, flow count, congestion control and placement of
//! issue 24's grid, with `len-debt` and `junose` beside them. Every finished point is
//! appended to a results file and skipped by the next run, so the grid (many hours in
//! full) can be run in slices and resumed; `bench/GRID.md` and one heat map per congestion
//! control and placement are written from the whole file at the end of every run.

mod heat;
mod report;
mod results;

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use policer_tests::Testbed;

use super::tcp::{self, Direction, Placement, Spec, Tso};
use results::{LineRecord, Outcome, PointRecord, Record, Run};

/// Committed rates, Mbit/s.
pub const RATES: [u64; 4] = [1, 10, 50, 200];
/// Round trips through the delay line, ms.
pub const RTTS: [u64; 8] = [2, 5, 10, 20, 40, 80, 150, 250];
/// Flows of one sender, each policed on its own.
pub const FLOWS: [u32; 2] = [1, 4];
/// The setups of every point: the defaults, the plain bucket they are judged against, and
/// the two other modes. Every one keeps the policer's default bursts (cbs 100 ms of the
/// rate, never below two of the largest packets the hook sees; `ebs0` has the same cbs).
pub const SETUPS: [&str; 4] = ["default", "ebs0", "len-debt", "junose"];
/// The plain bucket: what every ratio is to.
pub const PLAIN: &str = "ebs0";
/// The largest TCP send and receive buffers in the grid's namespaces: a flow of 200 Mbit/s
/// at 250 ms has 6.25 MB in flight, more than the kernel's default send buffer (4 MB) lets
/// it keep; a flow held back by its buffers would never meet the policer.
pub const TCP_BUFFERS: u64 = 32 << 20;
/// A point runs only where the delay line, with nothing policing, carried at least this
/// many times the point's committed rate (all its flows together): TCP probes above the
/// rate, and a line that is the bottleneck would be measured instead of the policer. (A
/// point that runs and still loses frames in the testbed is not judged: see `report`.)
pub const LINE_HEADROOM: f64 = 1.5;

/// A sender's congestion control.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum)]
pub enum Cc {
    Cubic,
    Reno,
    Bbr,
}

impl Cc {
    pub const ALL: [Cc; 3] = [Cc::Cubic, Cc::Reno, Cc::Bbr];

    /// The name TCP knows it by (`iperf3 -C`), also in results files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Cc::Cubic => "cubic",
            Cc::Reno => "reno",
            Cc::Bbr => "bbr",
        }
    }

    pub fn from_name(name: &str) -> Option<Cc> {
        Cc::ALL.into_iter().find(|cc| cc.name() == name)
    }

    pub fn title(self) -> &'static str {
        match self {
            Cc::Cubic => "CUBIC",
            Cc::Reno => "Reno",
            Cc::Bbr => "BBR",
        }
    }
}

/// One point of the grid: every setup runs at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Point {
    pub placement: Placement,
    pub cc: Cc,
    pub flows: u32,
    pub rate_mbit: u64,
    pub rtt_ms: u64,
}

impl std::fmt::Display for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} Mbit/s x {} flow{} at {} ms, {}, {}",
            self.rate_mbit,
            self.flows,
            if self.flows == 1 { "" } else { "s" },
            self.rtt_ms,
            self.cc.name(),
            self.placement.name()
        )
    }
}

/// How long every run of a point is, and how many runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Seconds measured per run.
    pub seconds: u32,
    /// Runs of every setup.
    pub repeats: u32,
}

impl Profile {
    pub const FULL: Profile = Profile { seconds: 30, repeats: 2 };
    pub const QUICK: Profile = Profile { seconds: 15, repeats: 1 };
}

/// Seconds of each run left out before measuring: slow start to 200 Mbit/s takes about 12
/// round trips, and a flow should be past it.
pub fn warmup_seconds(rtt_ms: u64) -> u32 {
    3 + (12 * rtt_ms).div_ceil(1000) as u32
}

#[derive(Args)]
pub struct GridArgs {
    /// The quick diagonal: a handful of points across the grid, one short run per setup
    /// (about 10 minutes). Its points count as done only for runs as short.
    #[arg(long)]
    quick: bool,
    /// Start over: empty the results file (points and delay line checks) first.
    #[arg(long)]
    fresh: bool,
    /// Measure the selected points again even where done (after a change of the policer):
    /// the longest measurement of a point, the latest of equals, speaks for it.
    #[arg(long)]
    again: bool,
    /// Only these rates, Mbit/s.
    #[arg(long, value_delimiter = ',')]
    rate: Vec<u64>,
    /// Only these round trips, ms.
    #[arg(long, value_delimiter = ',')]
    rtt: Vec<u64>,
    /// Only these congestion controls.
    #[arg(long, value_enum, value_delimiter = ',')]
    cc: Vec<Cc>,
    /// Only these flow counts.
    #[arg(long, value_delimiter = ',')]
    flows: Vec<u32>,
    /// Only these directions: ingress (XDP on the receiver), egress (TC on the sender).
    #[arg(long, value_enum, value_delimiter = ',')]
    direction: Vec<Direction>,
    /// Only these choices of the sender's TSO, for egress points.
    #[arg(long, value_enum, value_delimiter = ',')]
    tso: Vec<Tso>,
    /// Seconds measured per run (default 30; 15 with --quick).
    #[arg(long)]
    seconds: Option<u32>,
    /// Runs of every setup at every point (default 2; 1 with --quick).
    #[arg(long)]
    repeats: Option<u32>,
    /// Print the points to run, with what is already done and an estimate; run nothing.
    #[arg(long)]
    list: bool,
    /// Only write GRID.md and the heat maps from the results file; run nothing.
    #[arg(long)]
    report_only: bool,
    /// The results file (one JSON record per line).
    #[arg(long, default_value = "bench/grid/results.jsonl")]
    results: PathBuf,
    /// Where GRID.md goes (its heat maps go beside the results file).
    #[arg(long, default_value = "bench")]
    out: PathBuf,
}

impl GridArgs {
    fn profile(&self) -> Profile {
        let base = if self.quick { Profile::QUICK } else { Profile::FULL };
        Profile {
            seconds: self.seconds.unwrap_or(base.seconds),
            repeats: self.repeats.unwrap_or(base.repeats),
        }
    }

    /// Whether a point is in the slice the filters ask for.
    fn selects(&self, p: &Point) -> bool {
        let tso = match p.placement {
            Placement::Ingress => None,
            Placement::Egress => Some(Tso::Off),
            Placement::EgressTso => Some(Tso::On),
        };
        any(&self.rate, &p.rate_mbit)
            && any(&self.rtt, &p.rtt_ms)
            && any(&self.cc, &p.cc)
            && any(&self.flows, &p.flows)
            && any(&self.direction, &p.placement.direction())
            && tso.is_none_or(|t| any(&self.tso, &t))
    }

    /// The points of this run, in order, before skipping what is done.
    fn points(&self) -> Vec<Point> {
        let all = if self.quick { quick_plan() } else { full_plan() };
        all.into_iter().filter(|p| self.selects(p)).collect()
    }
}

/// Whether a filter lets `value` through: an empty one lets everything through.
fn any<T: PartialEq>(filter: &[T], value: &T) -> bool {
    filter.is_empty() || filter.contains(value)
}

/// Every point of the grid: 4 rates x 8 round trips x 2 flow counts x 3 congestion
/// controls x 3 placements (576), by placement, congestion control, flows, rate, RTT.
pub fn full_plan() -> Vec<Point> {
    let mut points = Vec::new();
    for placement in Placement::ALL {
        for cc in Cc::ALL {
            for flows in FLOWS {
                for rate_mbit in RATES {
                    for rtt_ms in RTTS {
                        points.push(Point { placement, cc, flows, rate_mbit, rtt_ms });
                    }
                }
            }
        }
    }
    points
}

/// The quick diagonal: every round trip once, the rate rising with it, flows, congestion
/// controls and placements taking turns, so that each value of each axis is met.
pub fn quick_plan() -> Vec<Point> {
    use Placement::{Egress, EgressTso, Ingress};
    let diagonal = [
        (1, 2, 1, Cc::Cubic, Ingress),
        (1, 5, 4, Cc::Reno, Egress),
        (10, 10, 1, Cc::Bbr, EgressTso),
        (10, 20, 4, Cc::Cubic, Ingress),
        (50, 40, 1, Cc::Reno, Ingress),
        (50, 80, 4, Cc::Bbr, Egress),
        (200, 150, 1, Cc::Cubic, EgressTso),
        (200, 250, 4, Cc::Bbr, Ingress),
    ];
    diagonal
        .into_iter()
        .map(|(rate_mbit, rtt_ms, flows, cc, placement)| Point {
            placement,
            cc,
            flows,
            rate_mbit,
            rtt_ms,
        })
        .collect()
}

/// The specs of a point: every setup, the policer's default bursts.
pub fn specs(p: &Point) -> Vec<Spec> {
    SETUPS
        .iter()
        .map(|setup| Spec {
            setup: setup.to_string(),
            cc: p.cc.name().into(),
            cir_mbit: p.rate_mbit,
            rtt_ms: p.rtt_ms,
            flows: p.flows,
            cbs: String::new(),
            ebs: String::new(),
            attach: String::new(),
            placement: p.placement,
            tcp_buffers: Some(TCP_BUFFERS),
        })
        .collect()
}

fn tcp_plan(p: &Point, profile: Profile) -> tcp::Plan {
    tcp::Plan {
        title: format!("grid: {p}"),
        specs: specs(p),
        repeats: profile.repeats,
        seconds: profile.seconds,
        warmup: warmup_seconds(p.rtt_ms),
    }
}

/// Seconds a delay line check at `rtt_ms` takes: TCP with nothing policing, slow start
/// left out.
fn line_check_seconds(rtt_ms: u64) -> (u32, u32) {
    let omit = 2 + (16 * rtt_ms).div_ceil(1000) as u32;
    (omit, 5)
}

/// Seconds a point is expected to take: its rounds of runs at the same time, each its
/// warm-up, its measured window and about 4 s of setting up; and the delay line check if
/// there is none yet for its round trip and flows.
pub fn estimate_seconds(p: &Point, profile: Profile, line_checked: bool) -> u64 {
    let rounds = tcp::batch_count(&tcp_plan(p, profile)) as u64;
    let run = u64::from(warmup_seconds(p.rtt_ms) + profile.seconds) + 4;
    let (omit, measured) = line_check_seconds(p.rtt_ms);
    let check = if line_checked { 0 } else { u64::from(omit + measured) + 3 };
    rounds * run + check
}

/// Seconds the points `todo` are expected to take, with a delay line check for each round
/// trip and flow count that has none in `lines` yet.
pub fn estimate_all(todo: &[Point], profile: Profile, lines: &BTreeMap<(u64, u32), f64>) -> u64 {
    let mut checked: std::collections::BTreeSet<(u64, u32)> = lines.keys().copied().collect();
    todo.iter()
        .map(|p| {
            let fresh = checked.insert((p.rtt_ms, p.flows));
            estimate_seconds(p, profile, !fresh)
        })
        .sum()
}

pub fn run(args: &GridArgs) -> anyhow::Result<()> {
    let figures_dir = args.results.parent().unwrap_or(Path::new(".")).to_path_buf();
    if args.report_only {
        return write_report(args, &figures_dir);
    }
    let profile = args.profile();
    anyhow::ensure!(profile.seconds > 0 && profile.repeats > 0, "--seconds and --repeats > 0");
    if args.fresh && !args.list && args.results.exists() {
        fs::remove_file(&args.results)
            .with_context(|| format!("removing {}", args.results.display()))?;
    }
    let mut records = results::load(&args.results)?;
    if args.fresh && args.list {
        records.clear();
    }
    let points = args.points();
    let (todo, done): (Vec<Point>, Vec<Point>) =
        points.iter().partition(|p| args.again || !results::is_done(&records, p, profile));
    let estimate = estimate_all(&todo, profile, &results::line_capacities(&records));
    eprintln!(
        "grid: {} points selected, {} done already (skipped), {} to run: about {:.0} minutes \
         ({} s measured per run, {} runs per setup)",
        points.len(),
        done.len(),
        todo.len(),
        estimate as f64 / 60.0,
        profile.seconds,
        profile.repeats
    );
    if args.list {
        for p in &points {
            let state = if done.contains(p) { "done" } else { "to run" };
            println!("{state:7} {p}");
        }
        return Ok(());
    }
    interrupt::clean_up_on_signal()?;
    let commit = commit();
    let started = Instant::now();
    for (n, p) in todo.iter().enumerate() {
        eprintln!("grid: [{}/{}] {p}", n + 1, todo.len());
        let capacity = match results::line_capacities(&records).get(&(p.rtt_ms, p.flows)) {
            Some(&mbit) => mbit,
            None => {
                let mbit = line_capacity(p.rtt_ms, p.flows)?;
                eprintln!(
                    "grid: the delay line carries {mbit:.0} Mbit/s at {} ms with {} flow(s)",
                    p.rtt_ms, p.flows
                );
                let line = Record::Line(LineRecord {
                    rtt_ms: p.rtt_ms,
                    flows: p.flows,
                    mbit,
                    commit: commit.clone(),
                    unix_time: unix_time(),
                });
                results::append(&args.results, &line)?;
                records.push(line);
                mbit
            }
        };
        let record = measure_point(p, profile, capacity, &commit);
        if let Outcome::Failed { reason } | Outcome::BeyondLine { reason } = &record.outcome {
            eprintln!("grid: {p}: {reason}");
        }
        let record = Record::Point(record);
        results::append(&args.results, &record)?;
        records.push(record);
    }
    eprintln!(
        "grid: ran {} points in {:.1} minutes",
        todo.len(),
        started.elapsed().as_secs_f64() / 60.0
    );
    write_report(args, &figures_dir)
}

/// Runs every setup at a point, or says why it cannot run.
fn measure_point(p: &Point, profile: Profile, line_mbit: f64, commit: &str) -> PointRecord {
    let mut record = PointRecord::new(p, profile, warmup_seconds(p.rtt_ms), commit, unix_time());
    let needed = LINE_HEADROOM * (p.rate_mbit * u64::from(p.flows)) as f64;
    if line_mbit < needed {
        record.outcome = Outcome::BeyondLine {
            reason: format!(
                "beyond the delay line: with nothing policing it carried {line_mbit:.0} Mbit/s \
                 at {} ms with {} flow{}; the point needs {needed:.0} ({LINE_HEADROOM} x {} x \
                 {} Mbit/s)",
                p.rtt_ms,
                p.flows,
                if p.flows == 1 { "" } else { "s" },
                p.flows,
                p.rate_mbit
            ),
        };
        return record;
    }
    let plan = tcp_plan(p, profile);
    // A run that cannot go on panics (a command of the testbed failed); its testbed is
    // removed as the panic unwinds. The point is recorded as failed and the grid goes on.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tcp::run_plan(&plan)));
    match outcome {
        Ok(Ok(results)) => {
            let mut setups = BTreeMap::new();
            for row in results.rows {
                let runs = row.samples.iter().map(Run::of).collect();
                setups.insert(row.spec.setup, runs);
            }
            record.setups = setups;
            record.outcome = Outcome::Measured;
        }
        Ok(Err(e)) => record.outcome = Outcome::Failed { reason: format!("{e:#}") },
        Err(panic) => {
            let reason = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a run panicked".into());
            record.outcome = Outcome::Failed { reason };
        }
    }
    record
}

/// What one delay line at `rtt_ms` carries, Mbit/s, for `flows` CUBIC flows with nothing
/// policing them and the grid's TCP buffers, with the receiver's tap reading every frame as
/// it does in a measured run (it shares the CPUs with the line).
fn line_capacity(rtt_ms: u64, flows: u32) -> anyhow::Result<f64> {
    let bed = tcp::testbed(rtt_ms);
    let max = TCP_BUFFERS;
    for ns in [&bed.a, &bed.b] {
        ns.exec_ok("sysctl", ["-qw", &format!("net.ipv4.tcp_rmem=4096 131072 {max}")]);
        ns.exec_ok("sysctl", ["-qw", &format!("net.ipv4.tcp_wmem=4096 16384 {max}")]);
    }
    let (omit, measured) = line_check_seconds(rtt_ms);
    let (omit_s, flows_s) = (omit.to_string(), flows.to_string());
    let tap = policer_tests::tap::Tap::start(&bed.b, &bed.b_if)?;
    let report = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        bed.iperf3(omit + measured, &["-C", "cubic", "-O", &omit_s, "-P", &flows_s])
    }))
    .map_err(|_| anyhow::anyhow!("the delay line check at {rtt_ms} ms failed"))?;
    drop(tap.finish());
    Ok(Testbed::goodput_bps(&report) / 1e6)
}

fn write_report(args: &GridArgs, figures_dir: &Path) -> anyhow::Result<()> {
    let records = results::load(&args.results)?;
    let grid = report::Grid::from_records(&records);
    fs::create_dir_all(figures_dir)?;
    let maps = heat::draw_all(figures_dir, &grid)?;
    fs::create_dir_all(&args.out)?;
    let path = args.out.join("GRID.md");
    let relative = |file: &Path| -> String {
        let dir = pathdiff(figures_dir, &args.out);
        dir.join(file.file_name().unwrap_or_default()).display().to_string()
    };
    let text = report::markdown(&grid, &maps.iter().map(|(k, f)| (*k, relative(f))).collect());
    fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "grid: wrote {} and {} heat map(s) in {}",
        path.display(),
        maps.len(),
        figures_dir.display()
    );
    Ok(())
}

/// `to` relative to `from` when `to` is inside it (bench/grid from bench: grid), else `to`.
fn pathdiff(to: &Path, from: &Path) -> PathBuf {
    to.strip_prefix(from).map(Path::to_path_buf).unwrap_or_else(|_| to.to_path_buf())
}

/// The commit the benchmark measures, `-dirty` if the sources differ from it (outside
/// bench/, where the results themselves are written).
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let head = git(&["rev-parse", "--short", "HEAD"]);
    let dirty = !git(&["status", "--porcelain", "--", ".", ":!bench"]).is_empty();
    if dirty { format!("{head}-dirty") } else { head }
}

fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

mod interrupt {
    //! Ctrl-C (or SIGTERM) in the middle of a run of hours: the points finished are in the
    //! results file already; the namespaces, policers and pins of the runs in flight are
    //! removed before the process ends.

    use std::{io, thread};

    /// From now on SIGINT and SIGTERM go to a thread of their own, which cleans up and
    /// ends the process.
    pub fn clean_up_on_signal() -> anyhow::Result<()> {
        // SAFETY: sigset_t is plain data that sigemptyset/sigaddset initialise.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: a valid set, valid signal numbers. Threads spawned from now on inherit
        // the mask; child processes do not (std resets it before exec).
        unsafe {
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc).into());
            }
        }
        thread::spawn(move || {
            let mut signal = 0;
            // SAFETY: waits for one of the blocked signals of a valid set.
            if unsafe { libc::sigwait(&set, &mut signal) } == 0 {
                eprintln!("grid: interrupted; removing the testbeds in flight");
                policer_tests::remove_everything();
                std::process::exit(128 + signal);
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        grid: GridArgs,
    }

    fn args(line: &[&str]) -> GridArgs {
        Cli::try_parse_from([&["grid"], line].concat()).expect("arguments parse").grid
    }

    #[test]
    fn the_full_grid_is_every_combination_once() {
        let plan = full_plan();
        assert_eq!(plan.len(), 4 * 8 * 2 * 3 * 3);
        assert_eq!(plan.iter().collect::<BTreeSet<_>>().len(), plan.len());
    }

    #[test]
    fn the_quick_diagonal_meets_every_value_of_every_axis_in_about_ten_minutes() {
        let quick = quick_plan();
        assert!((5..=10).contains(&quick.len()), "a handful: {}", quick.len());
        let full = full_plan();
        assert!(quick.iter().all(|p| full.contains(p)));
        let seen = |f: fn(&Point) -> String| quick.iter().map(f).collect::<BTreeSet<_>>().len();
        assert_eq!(seen(|p| p.rate_mbit.to_string()), RATES.len());
        assert_eq!(seen(|p| p.rtt_ms.to_string()), RTTS.len());
        assert_eq!(seen(|p| p.flows.to_string()), FLOWS.len());
        assert_eq!(seen(|p| p.cc.name().into()), Cc::ALL.len());
        assert_eq!(seen(|p| p.placement.name().into()), Placement::ALL.len());
        // A diagonal: the rate never falls as the round trip grows.
        let mut by_rtt = quick.clone();
        by_rtt.sort_by_key(|p| p.rtt_ms);
        assert!(by_rtt.windows(2).all(|w| w[0].rate_mbit <= w[1].rate_mbit));
        // From an empty results file (every delay line check to run), every point run.
        let minutes = estimate_all(&quick, Profile::QUICK, &BTreeMap::new()) as f64 / 60.0;
        assert!((5.0..=12.0).contains(&minutes), "about 10 minutes: {minutes:.1}");
        let a = args(&["--quick"]);
        assert_eq!(a.points(), quick);
        assert_eq!(a.profile(), Profile::QUICK);
    }

    #[test]
    fn filters_run_a_slice() {
        let a = args(&["--rate", "1,10", "--rtt", "20", "--cc", "bbr", "--direction", "ingress"]);
        let points = a.points();
        assert_eq!(points.len(), 2 * 2);
        assert!(points.iter().all(|p| p.cc == Cc::Bbr && p.placement == Placement::Ingress));
        let egress = args(&["--direction", "egress", "--tso", "on", "--flows", "4"]).points();
        assert_eq!(egress.len(), 4 * 8 * 3);
        assert!(egress.iter().all(|p| p.placement == Placement::EgressTso && p.flows == 4));
        // --tso concerns egress only: ingress points stay.
        let both = args(&["--tso", "off", "--rate", "50", "--rtt", "80", "--cc", "reno"]).points();
        let placements: Vec<Placement> = both.iter().map(|p| p.placement).collect();
        assert_eq!(
            placements,
            [Placement::Ingress, Placement::Ingress, Placement::Egress, Placement::Egress]
        );
        // Filters apply to the quick diagonal too.
        assert_eq!(args(&["--quick", "--cc", "reno"]).points().len(), 2);
        assert_eq!(args(&["--seconds", "40"]).profile(), Profile { seconds: 40, repeats: 2 });
    }

    #[test]
    fn a_point_needs_a_delay_line_of_half_again_its_rate() {
        let p = Point {
            placement: Placement::Ingress,
            cc: Cc::Bbr,
            flows: 4,
            rate_mbit: 200,
            rtt_ms: 250,
        };
        let r = measure_point(&p, Profile::QUICK, 1000.0, "abc");
        let Outcome::BeyondLine { reason } = &r.outcome else { panic!("{r:?}") };
        assert!(reason.contains("1000 Mbit/s") && reason.contains("needs 1200"), "{reason}");
        assert!(r.settles(Profile::FULL), "named once, not tried again");
    }
}
