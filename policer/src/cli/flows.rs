use clap::Args;
use policer::{Policer, keys, maps::Flow};
use policer_common::{Phase, mode};
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
    let tcp_mode = policer.profile()?.mode == mode::TCP;
    let flows = policer.top_flows(args.top.unwrap_or(usize::MAX))?;
    if args.json {
        let rows: Vec<_> = flows.iter().map(|f| flow_json(f, tcp_mode)).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<52} {:>10} {:>14} {:>12} {:>12} {:>10} {:>10}",
        "flow", "packets", "bytes", "tokens", "debt", "red", "phase"
    );
    for flow in &flows {
        println!(
            "{:<52} {:>10} {:>14} {:>12} {:>12} {:>10} {:>10}",
            keys::describe(&flow.key),
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
