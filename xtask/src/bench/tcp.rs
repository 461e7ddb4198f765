//! TCP through the policer and through what users would use instead, on testbeds with a
//! real round-trip time (the delay line of `policer-tests`). The setups of one point, and
//! their repeats, run at the same time on testbeds of their own, so that they meet the same
//! machine; how many at once is bounded by the traffic they make together.

use std::{thread, time::Duration};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use policer_tests::{
    Netns, Testbed,
    tap::{Tap, TapReport},
};

use super::Spread;

#[derive(Args, Clone)]
pub struct TcpArgs {
    /// Round-trip times, ms (the delay line holds frames half of it each way; 0: none).
    #[arg(long, value_delimiter = ',', default_values_t = [20u64])]
    rtt: Vec<u64>,
    /// Congestion controls of the sender.
    #[arg(long, value_delimiter = ',', default_values_t = ["cubic".to_string(), "bbr".to_string()])]
    cc: Vec<String>,
    /// Committed rates, Mbit/s.
    #[arg(long, value_delimiter = ',', default_values_t = [10u64])]
    cir: Vec<u64>,
    /// Parallel TCP flows (each is policed on its own: the rate is per flow).
    #[arg(long, value_delimiter = ',', default_values_t = [1u32])]
    flows: Vec<u32>,
    /// What to compare: default, ebs0, nft, htb, none, red-ecn, yellow-ecn, policer (the
    /// bursts below), or a mode with the bursts below: junose, len-debt, tcp.
    #[arg(long, value_delimiter = ',', default_values_t = ["default", "ebs0", "nft", "htb", "none"].map(String::from))]
    setups: Vec<String>,
    /// Committed burst as a time of the rate, for `policer`, `ebs0` and `nft`.
    #[arg(long, default_value = "100ms")]
    cbs: String,
    /// Excess burst as a time of the rate, for `policer`.
    #[arg(long, default_value = "200ms")]
    ebs: String,
    /// Extra `policer attach` arguments for `default` and `policer` (e.g. "--yellow ecn").
    #[arg(long, allow_hyphen_values = true, default_value = "")]
    attach: String,
    /// Runs of every point.
    #[arg(long, default_value_t = 3)]
    repeats: u32,
    /// Seconds measured per run (after `--warmup`).
    #[arg(long, default_value_t = 20)]
    seconds: u32,
    /// Seconds of each run left out of goodput and retransmissions (slow start).
    #[arg(long, default_value_t = 3)]
    warmup: u32,
    /// Where our policer sits: ingress (XDP on the receiver) or egress (TC on the sender).
    #[arg(long, value_enum, default_value_t = Direction::Ingress)]
    direction: Direction,
    /// With `--direction egress`: the sender's TCP segmentation offload (see `Placement`).
    #[arg(long, value_enum, default_value_t = Tso::Off)]
    tso: Tso,
}

/// Which side of the path our policer polices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Direction {
    /// XDP on the receiver's interface: what arrives.
    Ingress,
    /// TC on the sender's interface: what leaves.
    Egress,
}

/// The sender's TCP segmentation offload, for a policer on its egress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Tso {
    Off,
    On,
}

/// Where our policer is attached, and how the sender hands it packets.
///
/// On the sender's egress TC sees what TCP builds: the kernel's TCP always builds GSO
/// packets of several segments (since 4.19), so with TSO off the stack cuts them into frames
/// after TC, and with TSO on they leave the interface whole (through the delay line, which
/// then segments them as a NIC would). A TC drop there is a local congestion signal to TCP,
/// not a loss on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Placement {
    /// XDP on the receiver's interface.
    #[default]
    Ingress,
    /// TC egress on the sender's interface, TSO off.
    Egress,
    /// TC egress on the sender's interface, TSO (and GSO, checksum offload) on.
    EgressTso,
}

impl Placement {
    pub const ALL: [Placement; 3] = [Placement::Ingress, Placement::Egress, Placement::EgressTso];

    pub fn new(direction: Direction, tso: Tso) -> Placement {
        match (direction, tso) {
            (Direction::Ingress, _) => Placement::Ingress,
            (Direction::Egress, Tso::Off) => Placement::Egress,
            (Direction::Egress, Tso::On) => Placement::EgressTso,
        }
    }

    /// The name in results files, reports and file names.
    pub fn name(self) -> &'static str {
        match self {
            Placement::Ingress => "ingress",
            Placement::Egress => "egress",
            Placement::EgressTso => "egress-tso",
        }
    }

    pub fn from_name(name: &str) -> Option<Placement> {
        Placement::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Where it is, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Placement::Ingress => "XDP ingress on the receiver",
            Placement::Egress => "TC egress on the sender, TSO off",
            Placement::EgressTso => "TC egress on the sender, TSO on",
        }
    }

    pub fn direction(self) -> Direction {
        if self == Placement::Ingress { Direction::Ingress } else { Direction::Egress }
    }
}

/// One setup at one point.
#[derive(Clone, Debug)]
pub struct Spec {
    pub setup: String,
    pub cc: String,
    pub cir_mbit: u64,
    pub rtt_ms: u64,
    pub flows: u32,
    /// Bursts as times of the rate ("100ms"); empty: the policer's defaults (not passed).
    pub cbs: String,
    pub ebs: String,
    pub attach: String,
    /// Where our policer sits (the peers, nft and htb, sit where they always do).
    pub placement: Placement,
    /// The largest TCP send and receive buffers of both ends, bytes (`tcp_wmem`,
    /// `tcp_rmem`); `None`: the kernel's defaults.
    pub tcp_buffers: Option<u64>,
}

/// The figures of one run.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    pub goodput_over_cir: f64,
    pub drop_share: f64,
    /// Of the same frames, the share the policer itself dropped (its `dropped` counter);
    /// `None` where no policer of ours is in place.
    pub policer_drop_share: Option<f64>,
    /// The share of the bytes our policer coloured that it dropped (wire bytes: a GSO
    /// packet counts as its frames); `None` where no policer of ours is in place.
    pub policer_loss: Option<f64>,
    pub loss_runs: f64,
    pub run_length: f64,
    pub retransmits: f64,
    pub mean_rtt_ms: f64,
    pub jain: f64,
    /// Frames the testbed itself lost (the delay line or the tap short of buffer): a run
    /// with any is not a clean measurement, and the report says so.
    pub testbed_lost: f64,
    /// Goodput/CIR in each second of the run, warm-up included (from the tap).
    pub per_second: Vec<f64>,
}

/// A spec with its repeats.
pub struct Row {
    pub spec: Spec,
    pub samples: Vec<Sample>,
}

impl Row {
    pub fn spread(&self, metric: fn(&Sample) -> f64) -> Spread {
        Spread::of(self.samples.iter().map(metric))
    }
}

/// Everything of a run: the rows and how they were made.
pub struct Plan {
    pub title: String,
    pub specs: Vec<Spec>,
    pub repeats: u32,
    pub seconds: u32,
    pub warmup: u32,
}

pub struct Results {
    pub plan: Plan,
    pub rows: Vec<Row>,
}

pub fn run(args: &TcpArgs) -> anyhow::Result<Results> {
    let mut specs = Vec::new();
    for &cir_mbit in &args.cir {
        for &flows in &args.flows {
            for &rtt_ms in &args.rtt {
                for cc in &args.cc {
                    for setup in &args.setups {
                        specs.push(Spec {
                            setup: setup.clone(),
                            cc: cc.clone(),
                            cir_mbit,
                            rtt_ms,
                            flows,
                            cbs: args.cbs.clone(),
                            ebs: args.ebs.clone(),
                            attach: args.attach.clone(),
                            placement: Placement::new(args.direction, args.tso),
                            tcp_buffers: None,
                        });
                    }
                }
            }
        }
    }
    run_plan(&Plan {
        title: "TCP at chosen points".into(),
        specs,
        repeats: args.repeats,
        seconds: args.seconds,
        warmup: args.warmup,
    })
}

fn spec(setup: &str, cc: &str, cir_mbit: u64, rtt_ms: u64, flows: u32) -> Spec {
    Spec {
        setup: setup.into(),
        cc: cc.into(),
        cir_mbit,
        rtt_ms,
        flows,
        cbs: "100ms".into(),
        ebs: "200ms".into(),
        attach: String::new(),
        placement: Placement::Ingress,
        tcp_buffers: None,
    }
}

const SETUPS: [&str; 5] = ["default", "ebs0", "nft", "htb", "none"];
const CCS: [&str; 2] = ["cubic", "bbr"];

/// The comparison of `cargo xtask bench`: every setup at 10 Mbit/s, RTT 0, 20 and 80 ms,
/// 1 and 4 flows, both congestion controls; 1 and 100 Mbit/s at 20 ms, one flow. No
/// policer (`none`) at 10 Mbit/s, one flow, 20 and 80 ms.
pub fn main_plan(quick: bool) -> Plan {
    let mut specs = Vec::new();
    let (rtts, flow_counts): (&[u64], &[u32]) =
        if quick { (&[20], &[1]) } else { (&[0, 20, 80], &[1, 4]) };
    // `none` only where it says something: what TCP does on the path itself, at a real RTT.
    let with_none = |rtt: u64, flows: u32, cir: u64| rtt > 0 && flows == 1 && cir == 10;
    let mut point = |cc: &str, cir: u64, rtt: u64, flows: u32| {
        let setups = SETUPS.iter().filter(|&&s| s != "none" || with_none(rtt, flows, cir));
        specs.extend(setups.map(|s| spec(s, cc, cir, rtt, flows)));
    };
    for &rtt in rtts {
        for &flows in flow_counts {
            for cc in CCS {
                point(cc, 10, rtt, flows);
            }
        }
    }
    if !quick {
        for cir in [1, 100] {
            for cc in CCS {
                point(cc, cir, 20, 1);
            }
        }
    }
    Plan {
        title: "TCP through the policer and its peers".into(),
        specs,
        repeats: 3,
        seconds: if quick { 8 } else { 20 },
        warmup: 3,
    }
}

/// The modes side by side with the plain bucket at the default bursts and at router-style
/// ones (cbs 1.5 s, ebs 3 s), 10 Mbit/s, 20 and 80 ms, one flow.
pub fn modes_plan(quick: bool) -> Plan {
    let mut specs = Vec::new();
    let rtts: &[u64] = if quick { &[] } else { &[20, 80] };
    for (cbs, ebs) in [("100ms", "200ms"), ("1500ms", "3000ms")] {
        for &rtt in rtts {
            for cc in CCS {
                for setup in ["junose", "len-debt", "tcp", "ebs0"] {
                    let bursts =
                        Spec { cbs: cbs.into(), ebs: ebs.into(), ..spec(setup, cc, 10, rtt, 1) };
                    specs.push(bursts);
                }
            }
        }
    }
    Plan { title: "Modes".into(), specs, repeats: 3, seconds: 20, warmup: 3 }
}

/// ECN-capable CUBIC (ECN on at both ends): `--red ecn` and `--yellow ecn` with the
/// default profile beside the plain bucket, 10 Mbit/s, 20 and 80 ms, 1 and 4 flows.
pub fn ecn_plan(quick: bool) -> Plan {
    let mut specs = Vec::new();
    let rtts: &[u64] = if quick { &[] } else { &[20, 80] };
    for &rtt in rtts {
        for flows in [1, 4] {
            for setup in ["red-ecn", "yellow-ecn", "ebs0"] {
                specs.push(spec(setup, "cubic", 10, rtt, flows));
            }
        }
    }
    Plan { title: "ECN".into(), specs, repeats: 3, seconds: 20, warmup: 3 }
}

/// The burst sweep at 10 Mbit/s: cbs of 10 ms, 100 ms and 1.5 s, ebs of 0, 1x and 2x cbs.
pub fn sweep_plan(quick: bool) -> Plan {
    let mut specs = Vec::new();
    let rtts: &[u64] = if quick { &[] } else { &[20, 80] };
    for &rtt in rtts {
        for cc in CCS {
            for (cbs, ms) in [("10ms", 10), ("100ms", 100), ("1500ms", 1500)] {
                for ebs_ms in [0, ms, 2 * ms] {
                    specs.push(Spec {
                        setup: "policer".into(),
                        cbs: cbs.into(),
                        ebs: format!("{ebs_ms}ms"),
                        ..spec("policer", cc, 10, rtt, 1)
                    });
                }
            }
        }
    }
    Plan { title: "Burst sweep".into(), specs, repeats: 3, seconds: 20, warmup: 3 }
}

/// Mbit/s of test traffic that may cross the delay lines at once (see `delay_line_check`
/// for what one line carries).
const TRAFFIC_BUDGET_MBIT: u64 = 200;
/// Testbeds at once at most, whatever their traffic (each has a delay line of four threads).
const MAX_RUNS_AT_ONCE: usize = 16;

/// Runs every spec `repeats` times; runs of like traffic go at the same time.
pub fn run_plan(plan: &Plan) -> anyhow::Result<Results> {
    let jobs = jobs(plan);
    let mut samples: Vec<Vec<Sample>> = plan.specs.iter().map(|_| Vec::new()).collect();
    let mut rest = &jobs[..];
    while !rest.is_empty() {
        let at_once = batch_len(rest);
        let (batch, later) = rest.split_at(at_once);
        let measured: Vec<anyhow::Result<Sample>> = thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|&(_, s)| scope.spawn(move || measure(s, plan.seconds, plan.warmup)))
                .collect();
            handles.into_iter().map(|h| h.join().expect("a run does not panic")).collect()
        });
        for (&(i, s), sample) in batch.iter().zip(measured) {
            let sample = sample.with_context(|| describe_spec(s))?;
            eprintln!("{}: {}", describe_spec(s), sample.brief());
            samples[i].push(sample);
        }
        rest = later;
    }
    let rows = plan
        .specs
        .iter()
        .cloned()
        .zip(samples)
        .map(|(spec, samples)| Row { spec, samples })
        .collect();
    Ok(Results { plan: Plan { specs: Vec::new(), title: plan.title.clone(), ..*plan }, rows })
}

/// Every run of a plan: each spec `repeats` times, by the index of its spec.
fn jobs(plan: &Plan) -> Vec<(usize, &Spec)> {
    let mut jobs = Vec::new();
    for (i, s) in plan.specs.iter().enumerate() {
        jobs.extend((0..plan.repeats).map(|_| (i, s)));
    }
    jobs
}

/// How many of the runs at the head of `rest` go at the same time (at least one).
fn batch_len(rest: &[(usize, &Spec)]) -> usize {
    let Some(&(_, first)) = rest.first() else { return 0 };
    // Only runs of the same rate share the machine, and no more than the budget of their
    // traffic together; runs without a policer take all the line gives them, so they share
    // it only with their own repeats.
    let unlimited = |s: &Spec| s.setup == "none";
    let mut traffic = 0;
    let at_once = rest
        .iter()
        .take_while(|(_, s)| {
            traffic += (s.cir_mbit * u64::from(s.flows)).max(1);
            s.cir_mbit == first.cir_mbit
                && unlimited(s) == unlimited(first)
                && traffic <= TRAFFIC_BUDGET_MBIT
        })
        .take(MAX_RUNS_AT_ONCE)
        .count();
    at_once.max(1)
}

/// How many rounds of runs at the same time a plan takes.
pub fn batch_count(plan: &Plan) -> usize {
    let jobs = jobs(plan);
    let (mut rest, mut count) = (&jobs[..], 0);
    while !rest.is_empty() {
        rest = &rest[batch_len(rest)..];
        count += 1;
    }
    count
}

pub fn describe_spec(s: &Spec) -> String {
    format!(
        "{} {} Mbit/s {} ms {} flow(s) {} {} {}",
        s.setup,
        s.cir_mbit,
        s.rtt_ms,
        s.flows,
        s.cc,
        s.placement.name(),
        bursts(s).unwrap_or_default()
    )
}

/// The bursts a setup uses, as the report shows them.
fn bursts(s: &Spec) -> Option<String> {
    let or_default = |burst: &str| if burst.is_empty() { "default" } else { burst }.to_string();
    let (cbs, ebs) = (or_default(&s.cbs), or_default(&s.ebs));
    match s.setup.as_str() {
        "default" | "red-ecn" | "yellow-ecn" => Some("cbs 100ms ebs 200ms".into()),
        "policer" | "junose" | "len-debt" | "tcp" => Some(format!("cbs {cbs} ebs {ebs}")),
        "ebs0" => Some(format!("cbs {cbs} ebs 0")),
        "nft" => Some(format!("burst {cbs} (+1 s)")),
        _ => None,
    }
}

impl Sample {
    fn brief(&self) -> String {
        format!(
            "goodput/CIR {:.3}, drops {:.2} % (policer {}, {} of its bytes) in {} runs, \
             {} retransmits, RTT {:.1} ms, Jain {:.3}, testbed lost {}",
            self.goodput_over_cir,
            self.drop_share * 100.0,
            self.policer_drop_share.map_or("-".into(), |d| format!("{:.2} %", d * 100.0)),
            self.policer_loss.map_or("-".into(), |d| format!("{:.2} %", d * 100.0)),
            self.loss_runs,
            self.retransmits,
            self.mean_rtt_ms,
            self.jain,
            self.testbed_lost
        )
    }
}

/// A testbed with a delay line of `rtt_ms` (none at 0).
pub fn testbed(rtt_ms: u64) -> Testbed {
    if rtt_ms == 0 {
        Testbed::new()
    } else {
        Testbed::with_delay(Duration::from_millis(rtt_ms / 2))
    }
}

/// One run of one spec on a testbed of its own.
fn measure(s: &Spec, seconds: u32, warmup: u32) -> anyhow::Result<Sample> {
    let bed = testbed(s.rtt_ms);
    set_up(&bed, s)?;
    // iperf3 leaves the warm-up out of its figures; the counters and the tap start after it
    // too (and after iperf3's own start), so that every figure covers the same window.
    let (report, window) = thread::scope(|scope| {
        let iperf = scope.spawn(|| {
            let args = ["-C", &s.cc, "-O", &warmup.to_string(), "-P", &s.flows.to_string()];
            bed.iperf3(seconds + warmup, &args)
        });
        thread::sleep(Duration::from_millis(u64::from(warmup) * 1000 + 300));
        let window = Window::open(&bed, s.placement);
        (iperf.join().expect("iperf3 runs"), window)
    });
    let Counts { sent, received, testbed_lost, seen, policer_dropped, policer_loss } =
        window?.close(&bed)?;
    let lost = sent.saturating_sub(received);
    let share = |count: u64| if sent == 0 { 0.0 } else { count as f64 / sent as f64 };
    let cir_bits = s.cir_mbit as f64 * 1e6 * f64::from(s.flows);
    let streams = report["end"]["streams"].as_array().context("iperf3 streams")?;
    let per_stream = |side: &str, field: &str| -> Vec<f64> {
        streams.iter().filter_map(|st| st[side][field].as_f64()).collect()
    };
    let rtts = per_stream("sender", "mean_rtt");
    Ok(Sample {
        goodput_over_cir: Testbed::goodput_bps(&report) / cir_bits,
        drop_share: share(lost),
        policer_drop_share: policer_dropped.map(share),
        policer_loss,
        loss_runs: seen.loss_runs() as f64,
        run_length: seen.lost_segments() as f64 / seen.loss_runs().max(1) as f64,
        retransmits: report["end"]["sum_sent"]["retransmits"].as_f64().unwrap_or(0.0),
        mean_rtt_ms: rtts.iter().sum::<f64>() / rtts.len().max(1) as f64 / 1000.0,
        jain: jain(&per_stream("receiver", "bits_per_second")),
        testbed_lost: testbed_lost as f64,
        // The last second is cut short by the end of the run: left out.
        per_second: seen
            .bytes_per_second
            .iter()
            .rev()
            .skip(1)
            .rev()
            .map(|&b| b as f64 * 8.0 / cir_bits)
            .collect(),
    })
}

/// What the measured window saw.
struct Counts {
    /// Frames sent (or dropped by the sender's shaper).
    sent: u64,
    /// Packets the receiver's IP layer got.
    received: u64,
    /// Frames the testbed lost itself (the delay line or the tap).
    testbed_lost: u64,
    seen: TapReport,
    /// Packets the policer dropped, where one of ours is attached.
    policer_dropped: Option<u64>,
    /// The share of the bytes it coloured that it dropped.
    policer_loss: Option<f64>,
}

/// The counters at the start of the measured window, and the tap.
struct Window {
    placement: Placement,
    sent: u64,
    received: u64,
    line_missed: u64,
    policer: Option<PolicerCounts>,
    tap: Tap,
}

impl Window {
    fn open(bed: &Testbed, placement: Placement) -> anyhow::Result<Window> {
        let (sent, received) = (sent_packets(bed, placement)?, bed.ip_in_receives());
        let (line_missed, policer) = (line_missed(bed)?, policer_counts(bed, placement)?);
        let tap = Tap::start(&bed.b, &bed.b_if)?;
        Ok(Window { placement, sent, received, line_missed, policer, tap })
    }

    /// The counts over the window.
    fn close(self, bed: &Testbed) -> anyhow::Result<Counts> {
        let seen = self.tap.finish();
        let policer =
            policer_counts(bed, self.placement)?.zip(self.policer).map(|(end, at)| PolicerCounts {
                dropped_packets: end.dropped_packets - at.dropped_packets,
                dropped_bytes: end.dropped_bytes - at.dropped_bytes,
                coloured_bytes: end.coloured_bytes - at.coloured_bytes,
            });
        Ok(Counts {
            sent: sent_packets(bed, self.placement)? - self.sent,
            received: bed.ip_in_receives() - self.received,
            testbed_lost: line_missed(bed)? - self.line_missed + seen.missed,
            seen,
            policer_dropped: policer.map(|p| p.dropped_packets),
            policer_loss: policer.map(|p| {
                if p.coloured_bytes == 0 {
                    0.0
                } else {
                    p.dropped_bytes as f64 / p.coloured_bytes as f64
                }
            }),
        })
    }
}

/// Counters of our policer, where one is attached.
#[derive(Clone, Copy)]
struct PolicerCounts {
    dropped_packets: u64,
    dropped_bytes: u64,
    /// Bytes coloured green, yellow or red.
    coloured_bytes: u64,
}

/// The namespace and interface our policer sits on, for a placement.
fn policed(bed: &Testbed, placement: Placement) -> (&Netns, &str) {
    match placement {
        Placement::Ingress => (&bed.b, &bed.b_if),
        Placement::Egress | Placement::EgressTso => (&bed.a, &bed.a_if),
    }
}

/// The counters of the policer at `placement`, if one of ours is attached there.
fn policer_counts(bed: &Testbed, placement: Placement) -> anyhow::Result<Option<PolicerCounts>> {
    let (ns, iface) = policed(bed, placement);
    if !policer_tests::pin_dir(iface).exists() {
        return Ok(None);
    }
    let direction = placement.direction().to_possible_value().expect("a named value");
    let args = ["stats", iface, "--direction", direction.get_name(), "--json"];
    let out = policer_tests::succeeded(ns.policer(args), || format!("policer {args:?}"));
    let stats: serde_json::Value = serde_json::from_str(&out).context("stats --json")?;
    let counter = |name: &str, unit: &str| {
        stats["counters"][name][unit]
            .as_u64()
            .with_context(|| format!("`policer stats --json` has counters.{name}.{unit}"))
    };
    let mut coloured_bytes = 0;
    for colour in ["green", "yellow", "red"] {
        coloured_bytes += counter(colour, "bytes")?;
    }
    Ok(Some(PolicerCounts {
        dropped_packets: counter("dropped", "packets")?,
        dropped_bytes: counter("dropped", "bytes")?,
        coloured_bytes,
    }))
}

fn line_missed(bed: &Testbed) -> anyhow::Result<u64> {
    Ok(match bed.middle() {
        Some(m) => m.line.missed()?,
        None => 0,
    })
}

/// Frames the sender offered: put on the wire, or dropped by its own qdisc (the shaper).
/// With TSO on, the sender's interface counts GSO packets, so the frames are counted where
/// the delay line has cut them, on its link into the receiver. (A drop by our policer on
/// the sender's egress is before both: these count what left the sender.)
fn sent_packets(bed: &Testbed, placement: Placement) -> anyhow::Result<u64> {
    if let (Placement::EgressTso, Some(m)) = (placement, bed.middle()) {
        return link_packets(&m.ns, &m.to_b, "tx");
    }
    Ok(link_packets(&bed.a, &bed.a_if, "tx")? + qdisc_drops(&bed.a, &bed.a_if)?)
}

/// Jain's fairness index: 1 when every flow got the same, 1/n when one got everything.
pub fn jain(x: &[f64]) -> f64 {
    let (sum, squares) = x.iter().fold((0.0, 0.0), |(s, q), v| (s + v, q + v * v));
    if squares == 0.0 { 0.0 } else { sum * sum / (x.len() as f64 * squares) }
}

/// Puts the spec's policer (or peer) in place.
pub fn set_up(bed: &Testbed, s: &Spec) -> anyhow::Result<()> {
    let cir = format!("{}mbit", s.cir_mbit);
    if s.attach.contains("ecn") || s.setup.contains("ecn") {
        // Marks help only where both ends negotiate ECN.
        for ns in [&bed.a, &bed.b] {
            ns.exec_ok("sysctl", ["-qw", "net.ipv4.tcp_ecn=1"]);
        }
    }
    if let Some(max) = s.tcp_buffers {
        for ns in [&bed.a, &bed.b] {
            ns.exec_ok("sysctl", ["-qw", &format!("net.ipv4.tcp_rmem=4096 131072 {max}")]);
            ns.exec_ok("sysctl", ["-qw", &format!("net.ipv4.tcp_wmem=4096 16384 {max}")]);
        }
    }
    if s.placement == Placement::EgressTso {
        // Segmentation offload needs scatter-gather and checksum offload; the delay line
        // passes the GSO packets on whole and cuts them into frames on its far side.
        bed.a.exec_ok(
            "ethtool",
            ["-K", &bed.a_if, "sg", "on", "tx", "on", "tso", "on", "gso", "on"],
        );
    }
    // Bursts given as times, or none (the policer's defaults, the same for every setup).
    let burst = |name: &'static str, value: &str| -> Vec<String> {
        if value.is_empty() { Vec::new() } else { vec![format!("--{name}"), value.to_string()] }
    };
    let (cbs, ebs) = (burst("cbs", &s.cbs), burst("ebs", &s.ebs));
    let mut args: Vec<String> = vec!["--cir".into(), cir];
    match s.setup.as_str() {
        "default" => {}
        "policer" => args.extend(cbs.into_iter().chain(ebs)),
        "ebs0" => args.extend(cbs.into_iter().chain(["--ebs".into(), "0".into()])),
        "red-ecn" => args.extend(["--red".into(), "ecn".into()]),
        "yellow-ecn" => args.extend(["--yellow".into(), "ecn".into()]),
        mode @ ("junose" | "len-debt" | "tcp") => {
            args.extend(cbs.into_iter().chain(ebs).chain(["--mode".into(), mode.into()]))
        }
        "nft" => return nft_limit(bed, s),
        "htb" => {
            htb(bed, s);
            return Ok(());
        }
        "none" => return Ok(()),
        other => anyhow::bail!("unknown setup {other}"),
    }
    if matches!(s.setup.as_str(), "default" | "policer" | "junose" | "len-debt" | "tcp") {
        args.extend(s.attach.split_whitespace().map(String::from));
    }
    attach(bed, s.placement, &args);
    Ok(())
}

/// `policer attach` with `args` (from `--cir` on) where `placement` says.
fn attach(bed: &Testbed, placement: Placement, args: &[String]) {
    let (ns, iface) = policed(bed, placement);
    let mut all = vec!["attach".to_string(), iface.to_string()];
    if placement != Placement::Ingress {
        all.extend(["--direction".into(), "egress".into()]);
    }
    all.extend_from_slice(args);
    policer_tests::succeeded(ns.policer(&all), || format!("policer {all:?} in {}", ns.name));
}

/// nftables `limit rate over` on the egress of the link into the receiver (where a tap on
/// the receiver sees only what passed); with several flows, a meter: a limit per flow.
fn nft_limit(bed: &Testbed, s: &Spec) -> anyhow::Result<()> {
    let (ns, dev) = match bed.middle() {
        Some(m) => (&m.ns, m.to_b.as_str()),
        None => (&bed.a, bed.a_if.as_str()),
    };
    let rate = s.cir_mbit * 125_000;
    let burst = (rate as f64 * burst_seconds(&s.cbs)?) as u64;
    let limit = format!("limit rate over {rate} bytes/second burst {burst} bytes");
    let rule = if s.flows > 1 {
        format!("ip protocol tcp meter flows {{ ip saddr . tcp sport {limit} }} drop")
    } else {
        format!("{limit} drop")
    };
    super::nft_chain(ns, "egress", dev, &rule);
    Ok(())
}

/// An HTB shaper at the rate (times the flows) on the sender's egress.
fn htb(bed: &Testbed, s: &Spec) {
    let dev = bed.a_if.as_str();
    bed.a.exec_ok(
        "tc",
        ["qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "10"],
    );
    let rate = format!("{}mbit", s.cir_mbit * u64::from(s.flows));
    bed.a.exec_ok(
        "tc",
        ["class", "add", "dev", dev, "parent", "1:", "classid", "1:10", "htb", "rate", &rate],
    );
}

fn burst_seconds(time: &str) -> anyhow::Result<f64> {
    let ms: f64 = time.strip_suffix("ms").context("bursts are given in ms")?.parse()?;
    Ok(ms / 1000.0)
}

fn link_packets(ns: &Netns, iface: &str, way: &str) -> anyhow::Result<u64> {
    let out = ns.exec_ok("ip", ["-j", "-s", "link", "show", "dev", iface]);
    let links: serde_json::Value = serde_json::from_str(&out)?;
    links[0]["stats64"][way]["packets"].as_u64().context("packets")
}

fn qdisc_drops(ns: &Netns, iface: &str) -> anyhow::Result<u64> {
    let out = ns.exec_ok("tc", ["-j", "-s", "qdisc", "show", "dev", iface]);
    let qdiscs: serde_json::Value = serde_json::from_str(&out)?;
    Ok(qdiscs.as_array().into_iter().flatten().filter_map(|q| q["drops"].as_u64()).sum())
}

fn describe_setup(setup: &str) -> &'static str {
    match setup {
        "default" => "policer with every default: mode tcp, cbs 100 ms and ebs 200 ms of the rate",
        "policer" => "policer, TCP-friendly, the bursts in the row",
        "junose" => "policer `--mode junose`: the exact JunosE rules, the bursts in the row",
        "len-debt" => "policer `--mode len-debt`: the debt grows by the packet's length",
        "tcp" => {
            "policer `--mode tcp` (the default mode): the len-debt rules, with a plain bucket \
             for slow start, an immediate red for a flow that has repaid, and a plain bucket \
             for a flow that ignores its reds"
        }
        "ebs0" => "policer `--ebs 0`: a plain token bucket with the same cbs",
        "red-ecn" => {
            "policer, defaults, `--red ecn`: a red that is TCP's signal is a CE mark on an \
             ECN-capable packet (ECN on at both ends); at the bucket's floor red drops"
        }
        "yellow-ecn" => {
            "policer, defaults, `--yellow ecn`: an ECN-capable packet that is yellow, or red \
             above the bucket's floor, gets a CE mark (ECN on at both ends)"
        }
        "nft" => {
            "nftables `limit rate over R bytes/second burst B bytes` in a netdev chain on the \
             egress of the link into the receiver, B = 100 ms of the rate; its bucket holds 1 s \
             of rate plus B (1.1 s in all). With 4 flows, a meter: one limit per flow. At RTT \
             0 (no delay line) it sits on the sender's egress, where TCP learns of a drop \
             at once and locally, so retransmissions are few there"
        }
        "htb" => {
            "HTB shaper on the sender's egress at the rate (times the flows): no policing \
             loss, a queue and its delay instead"
        }
        _ => "no policer",
    }
}

/// The delay line does what it claims: ping RTT at each delay, and TCP throughput through
/// it without a policer (so it is not the bottleneck of any point).
pub struct DelayLineCheck {
    rows: Vec<(u64, f64, f64)>,
}

pub fn delay_line_check() -> anyhow::Result<DelayLineCheck> {
    let mut rows = Vec::new();
    for rtt in [20u64, 80] {
        let bed = Testbed::with_delay(Duration::from_millis(rtt / 2));
        let ping = bed.a.exec_ok("ping", ["-c", "5", "-i", "0.2", "-q", &bed.b_addr]);
        let avg = ping
            .lines()
            .find(|l| l.contains("min/avg/max"))
            .and_then(|l| l.split('=').nth(1)?.split('/').nth(1)?.trim().parse::<f64>().ok())
            .context("ping's summary")?;
        let report = bed.iperf3(6, &["-O", "2"]);
        rows.push((rtt, avg, Testbed::goodput_bps(&report) / 1e6));
    }
    Ok(DelayLineCheck { rows })
}

impl DelayLineCheck {
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "## The delay line\n\nThe kernel here has no netem. A small program of ours \
             (`tests/src/delay.rs`) holds every frame for half the RTT each way between two \
             namespaces, over AF_PACKET, with GRO, GSO, TSO and checksum offload off so frames \
             stay MTU-sized. What it adds, and what one TCP flow gets through it with no \
             policer (4 s after 2 s of warm-up):\n\n\
             | RTT asked | ping RTT | TCP through it, no policer |\n|---|---|---|\n",
        );
        for (rtt, ping, mbit) in &self.rows {
            out += &format!("| {rtt} ms | {ping:.2} ms | {mbit:.0} Mbit/s |\n");
        }
        out += &format!(
            "\nRuns of one point go at the same time on testbeds of their own, with at most \
             {TRAFFIC_BUDGET_MBIT} Mbit/s of committed rate crossing the delay lines at once.\n"
        );
        out
    }
}

/// A section of the report: one table per rate and flow count.
pub fn markdown(results: &Results) -> String {
    let plan = &results.plan;
    let mut out = format!(
        "## {}\n\nOne TCP sender (iperf3, `-P` flows) into a receiver with the setup in place; \
         {} s measured after {} s of warm-up, {} runs of every row (median, range). CIR is \
         counted on whole frames, so goodput cannot pass about 0.956 of CIR (1448 payload bytes \
         of 1514). A run's goodput can stray from CIR by (cbs + ebs) / window: {:.3} for the \
         default profile here. With several flows, goodput/CIR is their sum over flows x CIR \
         (the policer's rate is per flow).\n\n\
         Drops: frames the sender put on the wire (or its shaper dropped) that the receiver's \
         IP layer never got, as a share of them; in brackets, the share the policer itself \
         counted as dropped (`policer stats`). Loss runs: holes the \
         receiver saw in each flow's sequence space (a run of consecutive lost segments is one \
         hole) and their mean length in segments. RTT: the sender's mean smoothed RTT. Jain: \
         fairness of the flows' goodputs. Testbed lost: frames the \
         delay line or the tap could not take in, over all runs of the row (0 for a clean \
         measurement; `none` can exceed what the line carries).\n\n",
        plan.title,
        plan.seconds,
        plan.warmup,
        plan.repeats,
        0.3 / f64::from(plan.seconds.max(1)),
    );
    let mut setups: Vec<&str> = results.rows.iter().map(|r| r.spec.setup.as_str()).collect();
    setups.dedup();
    setups.sort();
    setups.dedup();
    for setup in setups {
        out += &format!("- `{setup}`: {}\n", describe_setup(setup));
    }
    // Rows of one group need not be adjacent (a plan interleaves flow counts), so keep the
    // first appearance of each group rather than deduplicating neighbours.
    let group_of = |r: &Row| (r.spec.cir_mbit, r.spec.flows, r.spec.placement);
    let mut groups: Vec<(u64, u32, Placement)> = Vec::new();
    for group in results.rows.iter().map(group_of) {
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    for (cir, flows, placement) in groups {
        out += &format!(
            "\n### {cir} Mbit/s, {flows} flow{}{}\n\n\
             | RTT | cc | setup | goodput/CIR | drops | loss runs (mean length) | retransmits | \
             mean RTT | Jain | testbed lost |\n|---|---|---|---|---|---|---|---|---|---|\n",
            if flows == 1 { "" } else { "s" },
            match placement {
                Placement::Ingress => String::new(),
                other => format!(", our policer on {}", other.describe()),
            }
        );
        for r in results.rows.iter().filter(|r| group_of(r) == (cir, flows, placement)) {
            let s = &r.spec;
            out += &format!(
                "| {} ms | {} | {}{} | {} | {} | {} ({:.1}) | {} | {} ms | {:.3} | {} |\n",
                s.rtt_ms,
                s.cc,
                s.setup,
                bursts(s).map(|b| format!(" ({b})")).unwrap_or_default(),
                r.spread(|x| x.goodput_over_cir).show(3, 1.0),
                drops(r),
                r.spread(|x| x.loss_runs).show(0, 1.0),
                r.spread(|x| x.run_length).median,
                r.spread(|x| x.retransmits).show(0, 1.0),
                r.spread(|x| x.mean_rtt_ms).show(1, 1.0),
                r.spread(|x| x.jain).median,
                r.samples.iter().map(|x| x.testbed_lost).sum::<f64>(),
            );
        }
    }
    out
}

/// A row's drops, and the policer's own share of them where it has one.
fn drops(r: &Row) -> String {
    let all = r.spread(|x| x.drop_share).show(2, 100.0);
    if r.samples.iter().any(|x| x.policer_drop_share.is_none()) {
        return format!("{all} %");
    }
    let policer = r.spread(|x| x.policer_drop_share.unwrap_or_default()).median * 100.0;
    format!("{all} % ({policer:.2} %)")
}
