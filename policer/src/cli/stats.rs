use clap::Args;
use policer::{Policer, maps::Counters, profile, units};
use policer_common::{Colour, Profile, counter};
use serde_json::{Value, json};

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Interface whose policer to show.
    iface: String,
    #[command(flatten)]
    direction: super::DirectionArg,
    /// One JSON object, for scripts.
    #[arg(long)]
    json: bool,
}

pub fn run(args: StatsArgs) -> anyhow::Result<()> {
    let policer = Policer::open(&args.iface, args.direction.get())?;
    let profile = policer.profile()?;
    let counters = policer.counters()?;
    let flows = policer.flow_count()?;
    let max_flows = policer.flow_capacity()?;
    let memory = policer.memory_bytes()?;
    let plans = policer.plans()?;
    if args.json {
        let report = json!({
            "interface": args.iface,
            "hook": hook_name(&policer)?,
            "attachment": policer.method()?,
            "direction": policer.direction().name(),
            "profile": profile_json(&profile),
            "counters": counters_json(&counters),
            "flows_active": flows,
            "flows_max": max_flows,
            "flows_new": counters.get(counter::NEW_FLOWS).packets,
            "flows_evicted_at_least": evicted(&counters, flows),
            "memory_bytes": memory,
            "plan_match": profile::plan_match_name(profile.plan_match),
            "plans": plans.iter().map(super::plan::plan_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("policer on {} ({}, {})", args.iface, policer.direction().name(), policer.method()?);
    println!("  {}", profile::describe(&profile));
    println!(
        "  {:<10} {:>14} {:>18} {:>12} {:>12} {:>12}",
        "", "packets", "bytes", "passed", "marked", "dropped"
    );
    for colour in Colour::ALL {
        let c = counters.get(colour as u32);
        let outcome = |o| counters.get(counter::by_colour(colour as u32, o)).packets;
        println!(
            "  {:<10} {:>14} {:>18} {:>12} {:>12} {:>12}",
            colour.name(),
            c.packets,
            c.bytes,
            outcome(0),
            outcome(1),
            outcome(2)
        );
    }
    print_row("passed", counters.get(counter::PASSED));
    print_row("marked", counters.get(counter::MARKED));
    print_row("dropped", counters.get(counter::DROPPED));
    if !plans.is_empty() {
        println!(
            "  plans ({}, matched against the {} address), packets:",
            plans.len(),
            profile::plan_match_name(profile.plan_match)
        );
        println!("  {:<24} {:>12} {:>12} {:>12} {:>12}", "", "green", "yellow", "red", "dropped");
        let mut rest = [0u64; 4];
        for (i, r) in rest.iter_mut().enumerate().take(3) {
            *r = counters.get(i as u32).packets;
        }
        rest[3] = counters.get(counter::DROPPED).packets;
        for plan in &plans {
            let c = plan.counters.map(|c| c.packets);
            for (r, c) in rest.iter_mut().zip(c) {
                *r = r.saturating_sub(c);
            }
            println!(
                "  {:<24} {:>12} {:>12} {:>12} {:>12}",
                plan.prefix.to_string(),
                c[0],
                c[1],
                c[2],
                c[3]
            );
        }
        println!(
            "  {:<24} {:>12} {:>12} {:>12} {:>12}",
            "default", rest[0], rest[1], rest[2], rest[3]
        );
    }
    println!("  not policed (passed):");
    print_row("unparsed", counters.get(counter::UNPARSED));
    print_row("non-IP", counters.get(counter::NON_IP));
    print_row("no profile", counters.get(counter::NO_PROFILE));
    print_row("table err", counters.get(counter::FLOW_TABLE_ERROR));
    print_row("flow busy", counters.get(counter::FLOW_BUSY));
    println!("  policed without ports:");
    print_row("ipv6 ext", counters.get(counter::EXT_CHAIN_TOO_LONG));
    println!(
        "  flows {flows} of {max_flows}: {} new flows seen, at least {} gone (an idle \
         IPv4 flow's slot is taken by a new flow, the least recently used goes when the LRU \
         table is full); kernel memory {}",
        counters.get(counter::NEW_FLOWS).packets,
        evicted(&counters, flows),
        units::format_size(memory)
    );
    Ok(())
}

fn print_row(name: &str, c: policer_common::Counter) {
    println!("  {name:<10} {:>14} {:>18}", c.packets, c.bytes);
}

pub fn profile_json(profile: &Profile) -> Value {
    json!({
        "cir_bps": profile.cir_bytes_per_sec * 8,
        "cir_bytes_per_sec": profile.cir_bytes_per_sec,
        "cir": units::format_rate(profile.cir_bytes_per_sec * 8),
        "cbs_bytes": profile.cbs_bytes,
        "cbs_ms": profile::burst_ms(profile, profile.cbs_bytes),
        "ebs_bytes": profile.ebs_bytes,
        "ebs_ms": profile::burst_ms(profile, profile.ebs_bytes),
        "mode": policer_common::mode::name(profile.mode),
        "key": profile::key_mode_name(profile.key_mode),
        "yellow": profile::action_name(profile.action_for(Colour::Yellow)),
        "red": profile::action_name(profile.action_for(Colour::Red)),
    })
}

fn counters_json(counters: &Counters) -> Value {
    let pair = |index: u32| {
        let c = counters.get(index);
        json!({ "packets": c.packets, "bytes": c.bytes })
    };
    let colour = |colour: Colour| {
        let c = colour as u32;
        let mut entry = pair(c);
        for (outcome, name) in ["passed", "marked", "dropped"].into_iter().enumerate() {
            entry[name] = pair(counter::by_colour(c, outcome as u32));
        }
        entry
    };
    json!({
        "green": colour(Colour::Green),
        "yellow": colour(Colour::Yellow),
        "red": colour(Colour::Red),
        "passed": pair(counter::PASSED),
        "marked": pair(counter::MARKED),
        "dropped": pair(counter::DROPPED),
        "ipv6_ext_chain_too_long": pair(counter::EXT_CHAIN_TOO_LONG),
        "unparsed": pair(counter::UNPARSED),
        "non_ip": pair(counter::NON_IP),
        "no_profile": pair(counter::NO_PROFILE),
        "flow_table_error": pair(counter::FLOW_TABLE_ERROR),
        "flow_busy": pair(counter::FLOW_BUSY),
        "new_flows": counters.get(counter::NEW_FLOWS).packets,
    })
}

/// "xdp" or "tc", from how the program was attached.
pub fn hook_name(policer: &Policer) -> anyhow::Result<&'static str> {
    Ok(if policer.method()?.starts_with("XDP") { "xdp" } else { "tc" })
}

/// Flows that must have been evicted: those inserted and no longer in the table. (A flow
/// evicted and seen again is inserted, and counted, again.)
fn evicted(counters: &Counters, active: usize) -> u64 {
    counters.get(counter::NEW_FLOWS).packets.saturating_sub(active as u64)
}
