use std::collections::HashMap;

use clap::Args;
use policer::{Policer, keys, maps::Flow};
use policer_common::{Phase, Profile, mode};
use serde_json::json;

#[derive(Args, Debug)]
pub struct FlowsArgs {
    /// Interface whose flows to show.
    iface: String,
    #[command(flatten)]
    direction: super::DirectionArg,
    /// Show only the N heaviest flows.
    #[arg(long, value_name = "N")]
    top: Option<usize>,
    /// A JSON array, for scripts.
    #[arg(long)]
    json: bool,
}

pub fn run(args: FlowsArgs) -> anyhow::Result<()> {
    let policer = Policer::open(&args.iface, args.direction.get())?;
    // Each flow's plan (by the profile index in its key) and whether its profile is `tcp`.
    let mut plans: HashMap<u16, (String, Profile)> = HashMap::new();
    plans.insert(0, ("default".into(), policer.profile()?));
    for plan in policer.plans()? {
        plans.insert(plan.index as u16, (plan.prefix.to_string(), plan.profile));
    }
    let plan_of = |flow: &Flow| {
        plans
            .get(&flow.key.profile)
            .map_or(("?", false), |(name, p)| (name.as_str(), p.mode == mode::TCP))
    };
    let flows = policer.top_flows(args.top.unwrap_or(usize::MAX))?;
    if args.json {
        let rows: Vec<_> = flows
            .iter()
            .map(|f| {
                let (plan, tcp_mode) = plan_of(f);
                let mut row = flow_json(f, tcp_mode);
                row["plan"] = plan.into();
                row
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<52} {:<20} {:>10} {:>14} {:>12} {:>12} {:>10} {:>10}",
        "flow", "plan", "packets", "bytes", "tokens", "debt", "red", "phase"
    );
    for flow in &flows {
        let (plan, tcp_mode) = plan_of(flow);
        println!(
            "{:<52} {:<20} {:>10} {:>14} {:>12} {:>12} {:>10} {:>10}",
            keys::describe(&flow.key),
            plan,
            flow.state.packets,
            flow.state.bytes,
            flow.state.tokens_bytes(),
            flow.state.debt_bytes(),
            flow.state.red_packets,
            phase(flow, tcp_mode).unwrap_or("-"),
        );
    }
    Ok(())
}

/// Where a flow of a `--mode tcp` policer is: slow-start, len-debt, watched or plain.
fn phase(flow: &Flow, tcp_mode: bool) -> Option<&'static str> {
    tcp_mode.then(|| Phase::of(&flow.state).name())
}

fn flow_json(flow: &Flow, tcp_mode: bool) -> serde_json::Value {
    let k = &flow.key;
    json!({
        "phase": phase(flow, tcp_mode),
        "flow": keys::describe(k),
        "proto": k.proto,
        "src": keys::address(k, &k.src).map(|a| a.to_string()),
        "dst": keys::address(k, &k.dst).map(|a| a.to_string()),
        "src_port": k.src_port,
        "dst_port": k.dst_port,
        "packets": flow.state.packets,
        "bytes": flow.state.bytes,
        "red_packets": flow.state.red_packets,
        "tokens_bytes": flow.state.tokens_bytes(),
        "debt_bytes": flow.state.debt_bytes(),
    })
}
