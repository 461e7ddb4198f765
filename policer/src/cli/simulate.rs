use std::{
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use clap::Args;
use policer::{
    plans::{self, Prefix},
    plot::{self, Sample},
    profile,
    simulate::{
        CaptureReader, FlowId, Frame, InputError, Outcome, Record, Replay, Tally, TraceReader,
        outcome_of, rate_bps,
    },
    units,
};
use policer_common::{Colour, Counter, Profile, key_mode};
use serde_json::{Value, json};

use super::{ProfileArgs, stats::profile_json};

/// Bursts are checked against a standard Ethernet frame: there is no interface to ask.
const MAX_FRAME: u64 = 1514;

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("input").required(true))]
pub struct SimulateArgs {
    /// A pcap or pcapng capture (Ethernet).
    #[arg(long, value_name = "FILE", group = "input")]
    pcap: Option<PathBuf>,
    /// A CSV trace with the header `time_ns,len,flow`.
    #[arg(long, value_name = "FILE", group = "input")]
    trace: Option<PathBuf>,
    #[command(flatten)]
    profile: ProfileArgs,
    /// What makes a flow in a capture: 5tuple, src or dst (a trace's flows are its labels).
    #[arg(long, value_name = "5tuple|src|dst", value_parser = profile::parse_key_mode)]
    key: Option<u8>,
    /// Show the N heaviest flows.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// One JSON object, for scripts.
    #[arg(long)]
    json: bool,
    /// Write every packet's colour to this CSV: index,time_ns,flow,len,colour.
    #[arg(long, value_name = "FILE")]
    per_packet: Option<PathBuf>,
    /// Draw the heaviest flow's tokens, debt, colours and rate into this SVG.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Also replay through a plain token bucket with the same cbs (ebs 0), side by side.
    #[arg(long)]
    compare: bool,
    /// A plan for the addresses under a prefix, as `policer plan add` makes it:
    /// PREFIX=RATE[,cbs=..][,ebs=..][,mode=..][,key=..][,yellow=..][,red=..] (repeatable;
    /// a capture's packets take the longest matching prefix's, else the default profile).
    #[arg(long = "plan", value_name = "PREFIX=RATE[,NAME=VALUE..]")]
    plan: Vec<String>,
    /// A file of plans, one PREFIX=RATE[,NAME=VALUE..] a line (`#` starts a comment).
    #[arg(long, value_name = "FILE")]
    plans: Option<PathBuf>,
    /// Which address the plans' prefixes are matched against: src (default) or dst.
    #[arg(long = "match", value_name = "src|dst", value_parser = profile::parse_plan_match)]
    plan_match: Option<u8>,
}

/// Where the packets come from, and the plans they meet.
struct Source<'a> {
    input: Input<'a>,
    plans: Vec<(Prefix, Profile)>,
    plan_match: u8,
}

#[derive(Clone, Copy)]
enum Input<'a> {
    Pcap(&'a Path, u8),
    Trace(&'a Path),
}

impl Source<'_> {
    fn records(&self) -> Result<Box<dyn Iterator<Item = Result<Record, InputError>>>, InputError> {
        Ok(match self.input {
            Input::Pcap(path, key_mode) => Box::new(CaptureReader::open(path, key_mode)?),
            Input::Trace(path) => Box::new(TraceReader::open(path)?),
        })
    }
}

/// The plans of `--plan` and `--plans FILE`, in that order.
fn read_plans(args: &SimulateArgs) -> anyhow::Result<Vec<(Prefix, Profile)>> {
    let mut plans = Vec::new();
    for spec in &args.plan {
        plans.push(plans::parse_spec(spec, MAX_FRAME).context("--plan")?);
    }
    if let Some(path) = &args.plans {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if !line.is_empty() {
                let plan = plans::parse_spec(line, MAX_FRAME)
                    .with_context(|| format!("{}:{}", path.display(), number + 1))?;
                plans.push(plan);
            }
        }
    }
    for (i, (prefix, _)) in plans.iter().enumerate() {
        if plans[..i].iter().any(|(p, _)| p == prefix) {
            anyhow::bail!("plan {prefix} is given twice");
        }
    }
    if plans.len() > policer_common::MAX_PLANS as usize {
        anyhow::bail!(
            "{} plans: a policer holds at most {}",
            plans.len(),
            policer_common::MAX_PLANS
        );
    }
    Ok(plans)
}

/// A finished replay, and the error that stopped it early, if one did.
struct Run {
    replay: Replay,
    stopped: Option<InputError>,
}

/// Replays the whole source, calling `each` with every packet's index, record and outcome.
fn replay(
    source: &Source,
    profile: &Profile,
    mut each: impl FnMut(u64, &Record, Outcome, &Replay) -> anyhow::Result<()>,
) -> anyhow::Result<Run> {
    let mut replay = Replay::new(*profile);
    if !source.plans.is_empty() {
        replay = replay.with_plans(&source.plans, source.plan_match);
    }
    for (index, record) in source.records()?.enumerate() {
        let record = match record {
            Ok(record) => record,
            Err(stopped) => {
                return Ok(Run { replay, stopped: Some(stopped) });
            }
        };
        let outcome = replay.packet(&record);
        each(index as u64, &record, outcome, &replay)?;
    }
    Ok(Run { replay, stopped: None })
}

pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let profile = args.profile.request(args.key).resolve_new(MAX_FRAME)?;
    let plans = read_plans(&args)?;
    // With plans, a capture is keyed by 5-tuple and each plan's key applied in the replay.
    let key_mode = if plans.is_empty() { profile.key_mode } else { key_mode::FIVE_TUPLE };
    let input = match (&args.pcap, &args.trace) {
        (Some(path), _) => Input::Pcap(path, key_mode),
        (None, Some(path)) => Input::Trace(path),
        (None, None) => unreachable!("clap requires one input"),
    };
    let plan_match = args.plan_match.unwrap_or(policer_common::plan_match::SRC);
    let source = Source { input, plans, plan_match };

    let main = match &args.per_packet {
        Some(path) => replay_with_csv(&source, &profile, path)?,
        None => replay(&source, &profile, |_, _, _, _| Ok(()))?,
    };
    let plain = if args.compare {
        let plain = Profile::new(
            profile.cir_bytes_per_sec,
            profile.cbs_bytes,
            0,
            profile.key_mode,
            profile.yellow_action,
            profile.red_action,
        )
        .expect("a valid profile with ebs 0 is valid");
        let plain_plans =
            source.plans.iter().map(|&(p, profile)| (p, plain_of(&profile))).collect();
        let plain_source = Source { input: source.input, plans: plain_plans, plan_match };
        Some(replay(&plain_source, &plain, |_, _, _, _| Ok(()))?.replay)
    } else {
        None
    };

    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report_json(&main.replay, plain.as_ref(), args.top))?
        );
    } else {
        print_report(&main.replay, plain.as_ref(), args.top);
    }
    if let Some(path) = &args.plot {
        draw_heaviest(&source, &profile, &main.replay, path)?;
    }
    match main.stopped {
        Some(stopped) => Err(anyhow::Error::new(stopped).context(format!(
            "the replay above covers the {} packets before the input stopped",
            main.replay.tally.packets() + main.replay.unparsed.packets + main.replay.non_ip.packets
        ))),
        None => Ok(()),
    }
}

/// A plain token bucket of the same profile (ebs 0).
fn plain_of(profile: &Profile) -> Profile {
    Profile { ebs_bytes: 0, ebs_ns: 0, ..*profile }
}

fn replay_with_csv(source: &Source, profile: &Profile, path: &Path) -> anyhow::Result<Run> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::new(file);
    writeln!(out, "index,time_ns,flow,len,colour")?;
    let run = replay(source, profile, |index, record, outcome, _| {
        let flow = match &record.what {
            Frame::Flow(id) => id.to_string(),
            _ => "-".to_string(),
        };
        writeln!(out, "{index},{},{flow},{},{}", record.time_ns, record.len, outcome.name())?;
        Ok(())
    })?;
    out.flush().with_context(|| format!("writing {}", path.display()))?;
    Ok(run)
}

/// Replays again, keeping the heaviest flow's every packet, and draws it.
fn draw_heaviest(
    source: &Source,
    profile: &Profile,
    replay: &Replay,
    path: &Path,
) -> anyhow::Result<()> {
    let Some((heaviest, _)) = replay.flows().first().map(|(id, f)| ((*id).clone(), **f)) else {
        anyhow::bail!("nothing to plot: no packet was policed");
    };
    let mut samples = Vec::new();
    replay_flow(source, profile, &heaviest, &mut samples)?;
    let title = format!(
        "{heaviest}  (cir {}, cbs {}b, ebs {}b)",
        units::format_rate(profile.cir_bytes_per_sec * 8),
        profile.cbs_bytes,
        profile.ebs_bytes
    );
    plot::draw(path, &title, profile, &samples)
        .with_context(|| format!("drawing {}", path.display()))?;
    eprintln!("policer: plot of the heaviest flow ({heaviest}) written to {}", path.display());
    Ok(())
}

fn replay_flow(
    source: &Source,
    profile: &Profile,
    flow: &FlowId,
    samples: &mut Vec<Sample>,
) -> anyhow::Result<()> {
    replay(source, profile, |_, record, outcome, replay| {
        let (Frame::Flow(id), Outcome::Coloured(colour)) = (&record.what, outcome) else {
            return Ok(());
        };
        if id == flow {
            let state = replay.flow(id).expect("a policed flow is in the table").state;
            samples.push(Sample {
                time_ns: record.time_ns,
                len: record.len,
                colour,
                tokens_bytes: state.tokens_bytes(),
                debt_bytes: state.debt_bytes(),
                dropped: outcome_of(profile.action_for(colour), record.ecn)
                    == policer_common::rewrite::Outcome::Dropped,
            });
        }
        Ok(())
    })?;
    Ok(())
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

fn print_report(replay: &Replay, plain: Option<&Replay>, top: usize) {
    let profile = replay.profile();
    let tally = &replay.tally;
    let span = replay.span_ns();
    println!("replayed through: {}", profile::describe(profile));
    println!(
        "  {} packets policed over {:.3} s ({} unparsed, {} non-IP passed unpoliced)",
        tally.packets(),
        span as f64 / 1e9,
        replay.unparsed.packets,
        replay.non_ip.packets
    );
    let total = tally.offered_bytes();
    println!("  {:<9} {:>12} {:>8} {:>16} {:>8}", "", "packets", "share", "bytes", "share");
    let row = |name: &str, c: Counter| {
        println!(
            "  {name:<9} {:>12} {:>7.2}% {:>16} {:>7.2}%",
            c.packets,
            100.0 * share(c.packets, tally.packets()),
            c.bytes,
            100.0 * share(c.bytes, total)
        );
    };
    for colour in Colour::ALL {
        row(colour.name(), tally.colour(colour));
    }
    row("passed", tally.passed);
    row("marked", tally.marked);
    row("dropped", tally.dropped);
    println!(
        "  offered {}, delivered {} (all flows together; CIR {} per flow)",
        rate(total, span),
        rate(tally.delivered_bytes(), span),
        units::format_rate(profile.cir_bytes_per_sec * 8)
    );
    for (prefix, plan, t) in replay.plans() {
        println!(
            "  plan {prefix}: green {} yellow {} red {} packets, dropped {}; {}",
            t.colour(Colour::Green).packets,
            t.colour(Colour::Yellow).packets,
            t.colour(Colour::Red).packets,
            t.dropped.packets,
            profile::describe(plan)
        );
    }
    if let Some(plain) = plain {
        let p = &plain.tally;
        println!(
            "  plain token bucket (ebs 0, same cbs): red {} packets ({:.2}%), dropped {}, delivered {}",
            p.colour(Colour::Red).packets,
            100.0 * share(p.colour(Colour::Red).packets, p.packets()),
            p.dropped.packets,
            rate(p.delivered_bytes(), plain.span_ns())
        );
    }
    println!(
        "heaviest flows:\n  {:<50} {:>9} {:>12} {:>8} {:>8} {:>8} {:>9} {:>14}",
        "flow", "packets", "bytes", "green", "yellow", "red", "dropped", "delivered/CIR"
    );
    for (id, flow) in replay.flows().into_iter().take(top) {
        let t = &flow.tally;
        println!(
            "  {:<50} {:>9} {:>12} {:>8} {:>8} {:>8} {:>9} {:>14}",
            id.to_string(),
            t.packets(),
            t.offered_bytes(),
            t.colour(Colour::Green).packets,
            t.colour(Colour::Yellow).packets,
            t.colour(Colour::Red).packets,
            t.dropped.packets,
            delivered_over_cir(replay.profile_for(id), t, flow.last_ns - flow.first_ns)
                .map_or("n/a".to_string(), |r| format!("{r:.3}")),
        );
    }
}

fn rate(bytes: u64, ns: u64) -> String {
    if ns == 0 {
        "n/a (one instant)".into()
    } else {
        units::format_rate(rate_bps(bytes, ns) as u64)
    }
}

/// A flow's delivered rate over CIR; `None` for a flow whose packets all came at one instant.
fn delivered_over_cir(profile: &Profile, tally: &Tally, span_ns: u64) -> Option<f64> {
    (span_ns > 0)
        .then(|| rate_bps(tally.passed.bytes, span_ns) / (profile.cir_bytes_per_sec as f64 * 8.0))
}

fn tally_json(tally: &Tally) -> Value {
    let total_bytes = tally.offered_bytes();
    let entry = |c: Counter| {
        json!({
            "packets": c.packets,
            "bytes": c.bytes,
            "packet_share": share(c.packets, tally.packets()),
            "byte_share": share(c.bytes, total_bytes),
        })
    };
    json!({
        "green": entry(tally.colour(Colour::Green)),
        "yellow": entry(tally.colour(Colour::Yellow)),
        "red": entry(tally.colour(Colour::Red)),
        "passed": entry(tally.passed),
        "marked": entry(tally.marked),
        "dropped": entry(tally.dropped),
    })
}

fn replay_json(replay: &Replay) -> Value {
    let span = replay.span_ns();
    let tally = &replay.tally;
    json!({
        "profile": profile_json(replay.profile()),
        "packets": tally.packets(),
        "span_ns": span,
        "counters": tally_json(tally),
        "unparsed": { "packets": replay.unparsed.packets, "bytes": replay.unparsed.bytes },
        "non_ip": { "packets": replay.non_ip.packets, "bytes": replay.non_ip.bytes },
        "offered_bps": rate_bps(tally.offered_bytes(), span),
        "delivered_bps": rate_bps(tally.delivered_bytes(), span),
        "flows_total": replay.flows().len(),
    })
}

fn report_json(replay: &Replay, plain: Option<&Replay>, top: usize) -> Value {
    let mut report = replay_json(replay);
    report["flows"] = replay
        .flows()
        .into_iter()
        .take(top)
        .map(|(id, flow)| {
            let key = match id {
                FlowId::Key(key) => Some(json!({
                    "proto": key.proto,
                    "src_port": key.src_port,
                    "dst_port": key.dst_port,
                    "src": policer::keys::address(key, &key.src).map(|a| a.to_string()),
                    "dst": policer::keys::address(key, &key.dst).map(|a| a.to_string()),
                })),
                FlowId::Label(_) => None,
            };
            json!({
                "flow": id.to_string(),
                "key": key,
                "counters": tally_json(&flow.tally),
                "delivered_over_cir": delivered_over_cir(replay.profile_for(id), &flow.tally, flow.last_ns - flow.first_ns),
                "tokens_bytes": flow.state.tokens_bytes(),
                "debt_bytes": flow.state.debt_bytes(),
            })
        })
        .collect();
    let plans: Vec<Value> = replay
        .plans()
        .map(|(prefix, plan, t)| {
            json!({ "prefix": prefix.to_string(), "profile": profile_json(plan), "counters": tally_json(t) })
        })
        .collect();
    if !plans.is_empty() {
        report["plans"] = Value::Array(plans);
    }
    if let Some(plain) = plain {
        report["compare_plain_bucket"] = replay_json(plain);
    }
    report
}
