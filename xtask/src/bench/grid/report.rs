//! The grid's judgement (issue 24's goal, point by point) and bench/GRID.md.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    Cc, LINE_HEADROOM, PLAIN, Point, Profile, RATES, RTTS, SETUPS, TCP_BUFFERS,
    results::{self, Outcome, PointRecord, Record, Run},
};
use crate::bench::{Spread, tcp::Placement};

/// The goal: the defaults keep at least this share of a plain bucket's goodput...
pub const GOODPUT_MIN: f64 = 0.97;
/// ... and never fall below this share (a collapse), ingress or egress.
pub const COLLAPSE_BELOW: f64 = 0.9;
/// CUBIC and Reno: at most this share of a plain bucket's retransmissions.
pub const RETRANS_LIMIT_LOSS_BASED: f64 = 1.0 / 3.0;
/// BBR: at most this multiple of a plain bucket's retransmissions.
pub const RETRANS_LIMIT_BBR: f64 = 1.15;
/// A point is judged only where the testbed (the delay line, the tap) lost at most this
/// share of any setup's frames: beyond it the testbed, not the policer, is measured.
pub const TESTBED_LOSS_MAX: f64 = 1e-4;
/// Retransmissions are judged only where either setup retransmitted at least this many
/// segments per run (median): below that a ratio is noise (2 against 1 is "2x").
pub const RETRANS_TO_JUDGE: f64 = 5.0;

/// Bytes of a full-size frame of the grid's TCP on the wire: what the policer charges.
const FRAME_BYTES: f64 = 1514.0;
/// Mathis, Semke, Mahdavi and Ott, "The macroscopic behavior of the TCP congestion avoidance
/// algorithm" (1997): loss-based TCP keeps an average window of `W` packets only if about one
/// packet in `W² / C²` is lost, `C² = 3 / (2b)`, here `b = 2` packets per delayed ACK (Linux).
/// CUBIC's window is never below that Reno estimate (RFC 9438, section 4.3), so it needs at
/// least as many losses.
const MATHIS_C2: f64 = 0.75;

/// Full frames a second at the committed rate.
fn frames_per_second(rate_mbit: u64) -> f64 {
    rate_mbit as f64 * 1e6 / 8.0 / FRAME_BYTES
}

/// A flow's window at the committed rate over a round trip of `rtt_ms`, in full frames.
pub fn window_packets(rate_mbit: u64, rtt_ms: f64) -> f64 {
    frames_per_second(rate_mbit) * rtt_ms / 1e3
}

/// TCP's floor: the fewest losses per run (all flows) with which loss-based TCP can be held at
/// the rate over a round trip of `rtt_ms`, one in `W² / C²` of the packets the rate carries
/// (all of them below a window of one packet). A policer without a queue cannot make TCP
/// retransmit less; where the floor passes the goal's share of a plain bucket's
/// retransmissions, the goal is out of reach there.
pub fn tcp_floor(p: &Point, rtt_ms: f64, seconds: u32) -> f64 {
    let window = window_packets(p.rate_mbit, rtt_ms);
    let packets = frames_per_second(p.rate_mbit) * f64::from(seconds) * f64::from(p.flows);
    packets * (MATHIS_C2 / (window * window)).min(1.0)
}

/// The limit of the retransmission ratio for a congestion control.
pub fn retrans_limit(cc: Cc) -> f64 {
    match cc {
        Cc::Cubic | Cc::Reno => RETRANS_LIMIT_LOSS_BASED,
        Cc::Bbr => RETRANS_LIMIT_BBR,
    }
}

/// A setup's figures at a point: medians over its runs (testbed losses summed).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Figures {
    pub goodput: f64,
    pub retransmits: f64,
    pub loss: f64,
    pub rtt_ms: f64,
    pub testbed_lost: f64,
}

impl Figures {
    pub fn of(runs: &[Run]) -> Figures {
        let median = |f: fn(&Run) -> f64| Spread::of(runs.iter().map(f)).median;
        Figures {
            goodput: median(|r| r.goodput),
            retransmits: median(|r| r.retransmits),
            loss: median(|r| r.loss),
            rtt_ms: median(|r| r.rtt_ms),
            testbed_lost: runs.iter().map(|r| r.testbed_lost).sum(),
        }
    }
}

/// `a / b`: infinite where only `b` is 0, NaN where both are.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else if a > 0.0 {
        f64::INFINITY
    } else {
        f64::NAN
    }
}

/// One setup against the plain bucket at the same point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ratios {
    pub goodput: f64,
    pub retransmits: f64,
    pub loss: f64,
}

impl Ratios {
    pub fn of(setup: &Figures, plain: &Figures) -> Ratios {
        Ratios {
            goodput: ratio(setup.goodput, plain.goodput),
            retransmits: ratio(setup.retransmits, plain.retransmits),
            loss: ratio(setup.loss, plain.loss),
        }
    }
}

/// Where the goal fails at a point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Failure {
    /// More retransmissions than the congestion control's limit allows.
    Retransmits { ratio: f64, limit: f64 },
    /// Less than `GOODPUT_MIN` of the plain bucket's goodput.
    Goodput(f64),
    /// Less than `COLLAPSE_BELOW` of it.
    Collapse(f64),
}

/// The goal at one point: the defaults against the plain bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub ratios: Ratios,
    /// Whether there were retransmissions enough to judge (`RETRANS_TO_JUDGE`).
    pub retrans_judged: bool,
    pub failures: Vec<Failure>,
}

impl Check {
    pub fn holds(&self) -> bool {
        self.failures.is_empty()
    }

    pub fn collapsed(&self) -> bool {
        self.failures.iter().any(|f| matches!(f, Failure::Collapse(_)))
    }
}

/// Issue 24's goal for the defaults at a point of congestion control `cc`.
pub fn check(cc: Cc, default: &Figures, plain: &Figures) -> Check {
    let ratios = Ratios::of(default, plain);
    let mut failures = Vec::new();
    let retrans_judged = default.retransmits.max(plain.retransmits) >= RETRANS_TO_JUDGE;
    let limit = retrans_limit(cc);
    if retrans_judged && ratios.retransmits > limit {
        failures.push(Failure::Retransmits { ratio: ratios.retransmits, limit });
    }
    if ratios.goodput < COLLAPSE_BELOW {
        failures.push(Failure::Collapse(ratios.goodput));
    } else if ratios.goodput < GOODPUT_MIN {
        failures.push(Failure::Goodput(ratios.goodput));
    }
    Check { ratios, retrans_judged, failures }
}

/// A measured point: every setup's figures and the check of the defaults.
pub struct Measured {
    pub figures: BTreeMap<String, Figures>,
    pub check: Check,
    /// TCP's floor over the plain bucket's round trip (CUBIC and Reno; see [`tcp_floor`]).
    pub floor: Option<f64>,
    /// The largest share of a setup's frames the testbed lost.
    pub testbed_lost_share: f64,
}

impl Measured {
    /// Whether the testbed lost too many frames for the point to be judged.
    pub fn unclean(&self) -> bool {
        self.testbed_lost_share > TESTBED_LOSS_MAX
    }

    /// Whether TCP's floor is above the goal's share of the plain bucket's retransmissions:
    /// no policer without a queue could meet the retransmission goal here.
    pub fn out_of_reach(&self) -> bool {
        let plain = self.figures[PLAIN].retransmits;
        self.floor.is_some_and(|floor| floor > RETRANS_LIMIT_LOSS_BASED * plain)
    }

    /// Whether the point fails the goal only where TCP's floor puts it out of reach.
    pub fn fails_only_out_of_reach(&self) -> bool {
        !self.check.holds()
            && self.out_of_reach()
            && self.check.failures.iter().all(|f| matches!(f, Failure::Retransmits { .. }))
    }
}

/// What the grid knows of each point.
pub enum State<'a> {
    Measured(&'a PointRecord, Measured),
    BeyondLine(String),
    Failed(&'a PointRecord, String),
}

/// The whole file, point by point.
pub struct Grid<'a> {
    pub points: BTreeMap<Point, State<'a>>,
    /// What the delay line carried, by round trip and flows.
    pub lines: BTreeMap<(u64, u32), f64>,
    pub commits: BTreeSet<String>,
}

impl<'a> Grid<'a> {
    pub fn from_records(records: &'a [Record]) -> Grid<'a> {
        let mut points = BTreeMap::new();
        let mut commits = BTreeSet::new();
        for (p, r) in results::best(records) {
            commits.insert(r.commit.clone());
            let state = match &r.outcome {
                Outcome::Measured => match measured(&p, r) {
                    Some(m) => State::Measured(r, m),
                    None => State::Failed(r, "the record lacks the defaults or ebs0".into()),
                },
                Outcome::BeyondLine { reason } => State::BeyondLine(reason.clone()),
                Outcome::Failed { reason } => State::Failed(r, reason.clone()),
            };
            points.insert(p, state);
        }
        Grid { points, lines: results::line_capacities(records), commits }
    }

    /// The measured points of one congestion control and placement.
    pub fn measured(
        &self,
        cc: Cc,
        placement: Placement,
    ) -> impl Iterator<Item = (&Point, &Measured)> {
        self.points.iter().filter_map(move |(p, s)| match s {
            State::Measured(_, m) if p.cc == cc && p.placement == placement => Some((p, m)),
            _ => None,
        })
    }
}

fn measured(p: &Point, r: &PointRecord) -> Option<Measured> {
    let figures: BTreeMap<String, Figures> =
        r.setups.iter().map(|(setup, runs)| (setup.clone(), Figures::of(runs))).collect();
    let plain = figures.get(PLAIN)?;
    let check = check(p.cc, figures.get("default")?, plain);
    let floor = (p.cc != Cc::Bbr).then(|| tcp_floor(p, plain.rtt_ms, r.seconds));
    let testbed_lost_share = figures
        .values()
        .map(|f| testbed_lost_share(p, f, r.seconds, r.repeats))
        .fold(0.0, f64::max);
    Some(Measured { figures, check, floor, testbed_lost_share })
}

/// The share of a setup's frames the testbed lost over all its runs, the frames estimated
/// from its goodput (1448 bytes of payload a frame).
pub fn testbed_lost_share(p: &Point, f: &Figures, seconds: u32, repeats: u32) -> f64 {
    let bits = f.goodput * (p.rate_mbit * u64::from(p.flows)) as f64 * 1e6;
    let frames = bits * f64::from(seconds) * f64::from(repeats) / (1448.0 * 8.0);
    if f.testbed_lost == 0.0 { 0.0 } else { f.testbed_lost / (frames + f.testbed_lost) }
}

/// A ratio for a table: two decimals, "∞" over nothing, "–" for nothing over nothing.
pub fn show_ratio(r: f64) -> String {
    if r.is_nan() {
        "–".into()
    } else if r.is_infinite() {
        "∞".into()
    } else if r >= 10.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.2}")
    }
}

/// The goal column: "ok", or what fails; nothing where the testbed lost frames.
fn show_goal(m: &Measured) -> String {
    if m.unclean() {
        return format!(
            "not judged: the testbed lost {:.2} % of a setup's frames",
            m.testbed_lost_share * 100.0
        );
    }
    let text = show_check(&m.check);
    match m.floor {
        Some(floor) if m.out_of_reach() && !m.check.holds() => format!(
            "{text}; out of reach: TCP's floor, {floor:.0}, is over a third of the plain \
             bucket's {:.0}",
            m.figures[PLAIN].retransmits
        ),
        _ => text,
    }
}

/// "ok", or what fails.
fn show_check(c: &Check) -> String {
    let mut parts: Vec<String> = c
        .failures
        .iter()
        .map(|f| match f {
            Failure::Retransmits { ratio, limit } => {
                format!("**✗ retrans {} > {}**", show_ratio(*ratio), show_limit(*limit))
            }
            Failure::Goodput(g) => format!("**✗ goodput {g:.3}**"),
            Failure::Collapse(g) => format!("**✗✗ collapse {g:.3}**"),
        })
        .collect();
    if parts.is_empty() {
        parts.push("ok".into());
    }
    let mut text = parts.join(", ");
    if !c.retrans_judged {
        text += " (retrans too few to judge)";
    }
    text
}

fn show_limit(limit: f64) -> String {
    if (limit - RETRANS_LIMIT_LOSS_BASED).abs() < 1e-9 { "1/3".into() } else { format!("{limit}") }
}

/// Another mode's cell: its ratios, and a collapse marked (where the point is judged).
fn show_other(f: Option<&Figures>, plain: &Figures, judged: bool) -> String {
    let Some(f) = f else { return "not run".into() };
    let r = Ratios::of(f, plain);
    let collapse = if judged && r.goodput < COLLAPSE_BELOW { " **✗✗ collapse**" } else { "" };
    format!(
        "{} / {} / {}{collapse}",
        show_ratio(r.goodput),
        show_ratio(r.retransmits),
        show_ratio(r.loss)
    )
}

fn flows_text(flows: u32) -> String {
    format!("{flows} flow{}", if flows == 1 { "" } else { "s" })
}

/// The whole report. `maps`: the heat map file of each congestion control and placement,
/// relative to the report.
pub fn markdown(grid: &Grid, maps: &BTreeMap<(Cc, Placement), String>) -> String {
    let all = super::full_plan();
    let (mut ok, mut failing, mut collapsed, mut beyond, mut failed) = (0, 0, 0, 0, 0);
    let (mut unclean, mut out_of_reach) = (0, 0);
    for state in grid.points.values() {
        match state {
            State::Measured(_, m) if m.unclean() => unclean += 1,
            State::Measured(_, m) if m.check.holds() => ok += 1,
            State::Measured(_, m) => {
                failing += 1;
                collapsed += usize::from(m.check.collapsed());
                out_of_reach += usize::from(m.fails_only_out_of_reach());
            }
            State::BeyondLine(_) => beyond += 1,
            State::Failed(..) => failed += 1,
        }
    }
    let not_run: Vec<Point> =
        all.iter().copied().filter(|p| !grid.points.contains_key(p)).collect();
    let hours_left = super::estimate_all(&not_run, Profile::FULL, &grid.lines) as f64 / 3600.0;
    let commits: Vec<&str> = grid.commits.iter().map(String::as_str).collect();
    let mut out = format!(
        "# The grid: the defaults against a plain bucket, point by point\n\n\
         Issue 24's goal: on every point of the grid, the **defaults** against a plain token \
         bucket with the same cbs (`--ebs 0`), same run: CUBIC and Reno retransmissions at most \
         a third of the plain bucket's, BBR's at most 1.15x, goodput at least 0.97x, and never \
         a collapse (below 0.9x). Written by `cargo xtask bench grid` from \
         [grid/results.jsonl](grid/results.jsonl) (every point finished so far; runs resume \
         from it), measured at commit{} {}; written on {}.\n\n\
         **{} of {} points measured: {ok} meet the goal, {failing} fail it ({collapsed} of \
         them a collapse; {out_of_reach} only where TCP's floor puts the goal out of reach), \
         {unclean} not judged (the testbed lost frames). {beyond} cannot run \
         on this machine (beyond the delay line), {failed} failed, {} not run yet** (`cargo xtask bench grid` runs them: about \
         {hours_left:.0} hours on this machine; `--rate`, `--rtt`, `--cc`, `--flows`, \
         `--direction`, `--tso` run a slice).\n\n",
        if commits.len() == 1 { "" } else { "s" },
        commits.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "),
        crate::machine::describe(),
        ok + failing + unclean,
        all.len(),
        not_run.len(),
    );
    out += &how_to_read();
    out += &line_section(grid);
    for placement in Placement::ALL {
        for cc in Cc::ALL {
            let rows: Vec<(&Point, &Measured)> = grid.measured(cc, placement).collect();
            if rows.is_empty() {
                continue;
            }
            out += &format!("\n## {}, {}\n\n", cc.title(), placement.describe());
            if let Some(map) = maps.get(&(cc, placement)) {
                out += &format!("Heat map: [{map}]({map})\n\n");
            }
            out += "| rate | flows | RTT (srtt) | window (TCP's floor) | plain bucket: goodput/CIR, \
                    retrans, loss | default ÷ plain: goodput, retrans, loss | goal | len-debt ÷ \
                    plain | junose ÷ plain | runs |\n|---|---|---|---|---|---|---|---|---|---|\n";
            for (p, m) in rows {
                out += &row(grid, p, m);
            }
        }
    }
    out += &not_run_section(grid, &not_run);
    out
}

fn row(grid: &Grid, p: &Point, m: &Measured) -> String {
    let plain = &m.figures[PLAIN];
    let r = &m.check.ratios;
    let record = match &grid.points[p] {
        State::Measured(record, _) => *record,
        _ => unreachable!("a measured point"),
    };
    let floor = m.floor.map(|f| format!(" ({f:.0})")).unwrap_or_default();
    let lost: f64 = m.figures.values().map(|f| f.testbed_lost).sum();
    let lost_note =
        if lost > 0.0 { format!("; testbed lost {lost:.0} frames") } else { String::new() };
    format!(
        "| {} Mbit/s | {} | {} ms ({:.1}) | {:.1}{floor} | {:.3}, {:.0}, {:.2} % | {} / {} / {} | \
         {} | {} | {} | {} s x {}{lost_note} |\n",
        p.rate_mbit,
        p.flows,
        p.rtt_ms,
        plain.rtt_ms,
        window_packets(p.rate_mbit, plain.rtt_ms),
        plain.goodput,
        plain.retransmits,
        plain.loss * 100.0,
        show_ratio(r.goodput),
        show_ratio(r.retransmits),
        show_ratio(r.loss),
        show_goal(m),
        show_other(m.figures.get("len-debt"), plain, !m.unclean()),
        show_other(m.figures.get("junose"), plain, !m.unclean()),
        record.seconds,
        record.repeats,
    )
}

fn how_to_read() -> String {
    let setups = SETUPS.map(|s| format!("`{s}`")).join(", ");
    format!(
        "## How to read it\n\n\
         - Every point runs the setups {setups} on testbeds of their own at the same time where \
         their traffic allows (as `bench tcp` does): iperf3 from one namespace to another \
         through the delay line (`tests/src/delay.rs`) at the round trip asked, `-P` flows, each \
         flow policed on its own at the rate. Every setup keeps the policer's default bursts \
         (cbs 100 ms of the rate, never below two of the largest packets the hook sees; \
         `ebs0` is the plain bucket with that same cbs). TCP buffers up to {} MiB at both \
         ends, so that no flow is held back by its own window.\n\
         - **ingress**: XDP on the receiver's interface. **egress**: TC on the sender's \
         interface; TCP always hands TC GSO packets (charged as the frames they become), and \
         with TSO off the kernel cuts them into frames after TC; with TSO on (**egress-tso**) \
         they leave whole and the delay line cuts them. A drop on the sender's egress is a \
         local congestion signal to TCP, not a loss on the wire: TCP sends the data again \
         without counting a retransmission, so retransmissions there are few in every setup \
         and the loss column tells more.\n\
         - Plain bucket: its goodput over the rate (all flows), its retransmitted segments per \
         run (all flows), and its loss: the share of the bytes it coloured that it dropped. \
         RTT: the asked round trip, and in brackets the sender's mean smoothed RTT under the \
         plain bucket (it adds the receiver's delayed ACKs, which weigh most at low rates, \
         and what the delay line, a program in user space, adds on a busy machine).\n\
         - Window: the committed rate over the plain bucket's round trip, in full frames \
         (1514 bytes). TCP's floor (CUBIC, Reno): the fewest retransmissions per run with which \
         loss-based TCP can be held at the rate at all, one loss in W²/0.75 packets (Mathis et \
         al., 1997, with Linux's delayed ACKs; CUBIC's window is never below that Reno \
         estimate, RFC 9438). A policer without a queue can only spread TCP's losses out, not \
         go below that: where the floor is over a third of the plain bucket's \
         retransmissions, the retransmission goal is **out of reach**, and the goal column \
         says so.\n\
         - Ratios (`÷ plain`): each setup's median over its runs divided by the plain \
         bucket's; ∞ where the plain bucket had none, – where neither had any.\n\
         - Goal (the defaults only): ✗ retrans where the ratio passes 1/3 (CUBIC, Reno) or \
         1.15 (BBR), judged only where either setup retransmitted at least {} segments per \
         run; ✗ goodput below {GOODPUT_MIN}; ✗✗ collapse below {COLLAPSE_BELOW} (marked for \
         `len-debt` and `junose` too). Loss is shown, not judged. A point where the testbed \
         (the delay line or the receiver's tap) lost more than {} % of any setup's frames is \
         not judged: the testbed was measured there, not the policer.\n\
         - runs: seconds measured per run (after a warm-up of 3 s plus 12 round trips) and runs \
         of every setup. The figures of one short run (--quick) are rough: take a failing mark there as \
         a point to look at with `cargo xtask bench trace`, not as a verdict.\n\n",
        TCP_BUFFERS >> 20,
        RETRANS_TO_JUDGE,
        TESTBED_LOSS_MAX * 100.0,
    )
}

fn line_section(grid: &Grid) -> String {
    let mut out = format!(
        "## The delay line\n\n\
         Before the first point at a round trip and flow count, the grid measures what the \
         delay line carries there with nothing policing (TCP CUBIC, the grid's buffers, the \
         receiver's tap reading every frame as in a measured run, 5 s after slow start). A point runs only where that is at least {LINE_HEADROOM} times \
         its rate times its flows; the others are named below as beyond the line.\n\n"
    );
    if grid.lines.is_empty() {
        return out + "No check has run yet.\n";
    }
    let flows: BTreeSet<u32> = grid.lines.keys().map(|k| k.1).collect();
    out += "| RTT |";
    for f in &flows {
        out += &format!(" {} |", flows_text(*f));
    }
    out += "\n|---|";
    out += &"---|".repeat(flows.len());
    out += "\n";
    for rtt in RTTS {
        if !flows.iter().any(|f| grid.lines.contains_key(&(rtt, *f))) {
            continue;
        }
        out += &format!("| {rtt} ms |");
        for f in &flows {
            match grid.lines.get(&(rtt, *f)) {
                Some(mbit) => out += &format!(" {mbit:.0} Mbit/s |"),
                None => out += " |",
            }
        }
        out += "\n";
    }
    out
}

fn not_run_section(grid: &Grid, not_run: &[Point]) -> String {
    let mut out = String::from("\n## Points without figures\n\n");
    let mut named = false;
    for (p, state) in &grid.points {
        match state {
            State::BeyondLine(reason) => out += &format!("- {p}: {reason}.\n"),
            State::Failed(r, reason) => {
                out += &format!("- {p}: **failed** at commit `{}`: {reason}.\n", r.commit)
            }
            State::Measured(..) => continue,
        }
        named = true;
    }
    if !named {
        out += "No point was found beyond the delay line or failed.\n";
    }
    let mut by_slice: BTreeMap<(Placement, Cc), usize> = BTreeMap::new();
    for p in not_run {
        *by_slice.entry((p.placement, p.cc)).or_default() += 1;
    }
    if !by_slice.is_empty() {
        out += &format!(
            "\nNot run yet: {} points ({} rates x {} round trips x 2 flow counts per \
             congestion control and placement): ",
            not_run.len(),
            RATES.len(),
            RTTS.len()
        );
        let slices: Vec<String> = by_slice
            .iter()
            .map(|((placement, cc), n)| format!("{} {} {n}", placement.name(), cc.name()))
            .collect();
        out += &slices.join(", ");
        out += ".\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(goodput: f64, retransmits: f64) -> Figures {
        Figures { goodput, retransmits, loss: 0.01, rtt_ms: 20.0, testbed_lost: 0.0 }
    }

    #[test]
    fn cubic_and_reno_must_cut_retransmissions_to_a_third() {
        let plain = figures(0.95, 120.0);
        for cc in [Cc::Cubic, Cc::Reno] {
            assert!(check(cc, &figures(0.95, 40.0), &plain).holds(), "exactly a third holds");
            let c = check(cc, &figures(0.95, 41.0), &plain);
            assert_eq!(c.failures.len(), 1);
            assert!(matches!(c.failures[0], Failure::Retransmits { ratio, limit }
                    if (ratio - 41.0 / 120.0).abs() < 1e-12 && limit == RETRANS_LIMIT_LOSS_BASED));
            // Level with the plain bucket: the failing case.
            assert!(!check(cc, &figures(0.95, 120.0), &plain).holds());
        }
    }

    #[test]
    fn bbr_may_retransmit_up_to_115_percent() {
        let plain = figures(0.95, 1000.0);
        assert!(check(Cc::Bbr, &figures(0.95, 1150.0), &plain).holds());
        assert!(check(Cc::Bbr, &figures(0.95, 900.0), &plain).holds());
        let c = check(Cc::Bbr, &figures(0.95, 1200.0), &plain);
        assert!(matches!(c.failures[..], [Failure::Retransmits { limit: RETRANS_LIMIT_BBR, .. }]));
    }

    #[test]
    fn goodput_below_097_fails_and_below_09_is_a_collapse() {
        let plain = figures(0.95, 100.0);
        assert!(check(Cc::Cubic, &figures(0.95 * 0.97, 10.0), &plain).holds());
        let c = check(Cc::Cubic, &figures(0.95 * 0.95, 10.0), &plain);
        assert!(matches!(c.failures[..], [Failure::Goodput(g)] if (g - 0.95).abs() < 1e-9));
        assert!(!c.collapsed());
        let c = check(Cc::Bbr, &figures(0.95 * 0.85, 100.0), &plain);
        assert!(matches!(c.failures[..], [Failure::Collapse(_)]), "{c:?}");
        assert!(c.collapsed());
        // Both at once: a collapse with more retransmissions.
        let c = check(Cc::Reno, &figures(0.5, 300.0), &plain);
        assert_eq!(c.failures.len(), 2, "{c:?}");
        // More goodput than the plain bucket is no failure.
        assert!(check(Cc::Cubic, &figures(1.2, 0.0), &plain).holds());
    }

    #[test]
    fn too_few_retransmissions_are_not_judged() {
        // 2 against 1 is "2x", and noise.
        let c = check(Cc::Cubic, &figures(0.95, 2.0), &figures(0.95, 1.0));
        assert!(c.holds() && !c.retrans_judged);
        // None under the plain bucket and some under the defaults: judged, infinite.
        let c = check(Cc::Cubic, &figures(0.95, 6.0), &figures(0.95, 0.0));
        assert!(c.retrans_judged && !c.holds());
        assert!(c.ratios.retransmits.is_infinite());
        assert_eq!(show_ratio(c.ratios.retransmits), "∞");
        assert_eq!(show_ratio(ratio(0.0, 0.0)), "–");
    }

    #[test]
    fn a_testbed_that_lost_frames_is_measured_instead_of_the_policer() {
        let p = Point {
            placement: Placement::Ingress,
            cc: Cc::Bbr,
            flows: 4,
            rate_mbit: 200,
            rtt_ms: 250,
        };
        // 0.8 x 800 Mbit/s for 15 s: about 829,000 frames of 1448 bytes of payload.
        let mut f = figures(0.8, 100.0);
        f.testbed_lost = 8290.0;
        let share = testbed_lost_share(&p, &f, 15, 1);
        assert!((share - 0.0099).abs() < 0.0002, "{share}");
        f.testbed_lost = 0.0;
        assert_eq!(testbed_lost_share(&p, &f, 15, 1), 0.0);
    }

    #[test]
    fn tcp_floor_is_one_loss_in_w_squared_over_c_squared_packets() {
        let p = |rate_mbit, flows| Point {
            placement: Placement::Ingress,
            cc: Cc::Cubic,
            flows,
            rate_mbit,
            rtt_ms: 20,
        };
        // 10 Mbit/s over 20 ms: 16.5 frames; 825.6 frames a second, 12,384 in 15 s.
        assert!((window_packets(10, 20.0) - 16.51).abs() < 0.01);
        let floor = tcp_floor(&p(10, 1), 20.0, 15);
        assert!((floor - 12_384.0 * 0.75 / (16.51 * 16.51)).abs() < 0.2, "{floor}");
        // Per flow: four flows need four times the losses.
        assert!((tcp_floor(&p(10, 4), 20.0, 15) - 4.0 * floor).abs() < 1e-9);
        // Twice the round trip: a window twice as wide, so a quarter of the losses (the rate
        // carries as many packets).
        assert!((tcp_floor(&p(10, 1), 40.0, 15) - floor / 4.0).abs() < 1e-9);
        // Under a window of one frame TCP loses at most every packet.
        assert!((tcp_floor(&p(1, 1), 2.0, 15) - 82.56 * 15.0).abs() < 0.1);
    }

    #[test]
    fn figures_are_medians_of_the_runs() {
        let run = |goodput, retransmits| Run {
            goodput,
            retransmits,
            loss: 0.02,
            rtt_ms: 21.0,
            testbed_lost: 1.0,
        };
        let f = Figures::of(&[run(0.9, 30.0), run(0.95, 10.0), run(0.93, 20.0)]);
        assert_eq!((f.goodput, f.retransmits, f.testbed_lost), (0.93, 20.0, 3.0));
    }
}
