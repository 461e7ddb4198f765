//! `policer plan add|set|del|list`: profiles of their own for the addresses under a prefix.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use policer::{
    Direction, Policer,
    netdev::Interface,
    plans::{Plan, Prefix},
    profile,
};
use policer_common::{Colour, plan_counter};
use serde_json::{Value, json};

use super::ProfileArgs;

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(subcommand)]
    command: PlanCommand,
}

#[derive(Subcommand, Debug)]
enum PlanCommand {
    /// Give the addresses under PREFIX a profile of their own (longest prefix wins).
    Add(ChangeArgs),
    /// Change a plan's profile, live (its flows keep their state).
    Set(ChangeArgs),
    /// Delete a plan: its addresses take the profile that now matches, with fresh buckets.
    Del(DelArgs),
    /// List the plans with their profiles and counters.
    List(ListArgs),
}

#[derive(Args, Debug)]
struct ChangeArgs {
    /// Interface whose policer gets the plan.
    iface: String,
    /// IPv4 or IPv6 prefix, host bits clear (10.1.0.0/16, 2001:db8::/48; a bare address is
    /// one host).
    prefix: String,
    #[command(flatten)]
    direction: super::DirectionArg,
    #[command(flatten)]
    profile: ProfileArgs,
    /// What makes a flow within the plan: 5tuple, src, dst or all (one bucket for all of
    /// the plan's traffic).
    #[arg(long, value_name = "5tuple|src|dst|all", value_parser = profile::parse_key_mode)]
    key: Option<u8>,
    /// One JSON object, for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct DelArgs {
    iface: String,
    prefix: String,
    #[command(flatten)]
    direction: super::DirectionArg,
}

#[derive(Args, Debug)]
struct ListArgs {
    iface: String,
    #[command(flatten)]
    direction: super::DirectionArg,
    /// A JSON array of plans, for scripts.
    #[arg(long)]
    json: bool,
}

pub fn run(args: PlanArgs) -> anyhow::Result<()> {
    match args.command {
        PlanCommand::Add(args) => change(args, true),
        PlanCommand::Set(args) => change(args, false),
        PlanCommand::Del(args) => del(args),
        PlanCommand::List(args) => list(args),
    }
}

fn change(args: ChangeArgs, add: bool) -> anyhow::Result<()> {
    let prefix: Prefix = args.prefix.parse()?;
    let request = args.profile.request(args.key);
    if !add && request.is_empty() {
        anyhow::bail!(
            "nothing to change: give at least one of --cir, --cbs, --ebs, --mode, --key, \
             --yellow, --red"
        );
    }
    let mut policer = Policer::open(&args.iface, args.direction.get())?;
    let max_packet = max_packet(&policer);
    args.profile.echo_inputs();
    let what = if add { "adding" } else { "changing" };
    let context = || format!("{what} the plan for {prefix} on {}", args.iface);
    let profile = if add {
        let profile = request.resolve_new(max_packet).with_context(context)?;
        policer.plan_add(prefix, &profile).with_context(context)?;
        profile
    } else {
        policer
            .plan_set(prefix, |current| request.resolve_change(current, max_packet))
            .with_context(context)?
    };
    if args.json {
        let out = json!({ "prefix": prefix.to_string(), "profile": super::stats::profile_json(&profile) });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("plan {prefix} on {}: {}", args.iface, profile::describe(&profile));
    }
    Ok(())
}

fn del(args: DelArgs) -> anyhow::Result<()> {
    let prefix: Prefix = args.prefix.parse()?;
    let mut policer = Policer::open(&args.iface, args.direction.get())?;
    policer
        .plan_del(prefix)
        .with_context(|| format!("deleting the plan for {prefix} on {}", args.iface))?;
    println!("plan {prefix} on {} deleted", args.iface);
    Ok(())
}

fn list(args: ListArgs) -> anyhow::Result<()> {
    let policer = Policer::open(&args.iface, args.direction.get())?;
    let plans = policer.plans()?;
    if args.json {
        let rows: Vec<Value> = plans.iter().map(plan_json).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let default = policer.profile()?;
    println!(
        "{} plans on {} ({}), matched against the {} address",
        plans.len(),
        args.iface,
        policer.direction().name(),
        profile::plan_match_name(default.plan_match)
    );
    println!("  {:<20} {}", "default", profile::describe(&default));
    for plan in &plans {
        println!("  {:<20} {}", plan.prefix.to_string(), profile::describe(&plan.profile));
        let c = &plan.counters;
        println!(
            "  {:<20} green {} yellow {} red {} packets, dropped {}",
            "",
            c[Colour::Green as usize].packets,
            c[Colour::Yellow as usize].packets,
            c[Colour::Red as usize].packets,
            c[plan_counter::DROPPED as usize].packets
        );
    }
    Ok(())
}

/// One plan as `plan list --json` and `stats --json` give it.
pub fn plan_json(plan: &Plan) -> Value {
    let pair = |c: policer_common::Counter| json!({ "packets": c.packets, "bytes": c.bytes });
    json!({
        "prefix": plan.prefix.to_string(),
        "profile_index": plan.index,
        "profile": super::stats::profile_json(&plan.profile),
        "counters": {
            "green": pair(plan.counters[Colour::Green as usize]),
            "yellow": pair(plan.counters[Colour::Yellow as usize]),
            "red": pair(plan.counters[Colour::Red as usize]),
            "dropped": pair(plan.counters[plan_counter::DROPPED as usize]),
        },
    })
}

/// The largest unit a plan's bucket must hold, as at attach: a frame under XDP, a GSO
/// packet under TC (a standard Ethernet frame when the interface is gone).
fn max_packet(policer: &Policer) -> u64 {
    let Ok(iface) = Interface::find(policer.interface()) else { return 1514 };
    match policer.method() {
        Ok(method) if method.starts_with("XDP") => iface.max_frame_bytes(),
        _ => iface.max_tc_packet_bytes(policer.direction() == Direction::Egress),
    }
}
