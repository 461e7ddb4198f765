use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use clap::Args;
use policer::{Policer, maps::Flow};
use policer_common::{FlowKey, family};
use serde_json::json;

#[derive(Args, Debug)]
pub struct FlowsArgs {
    /// Interface whose flows to show.
    iface: String,
    /// Show only the N heaviest flows.
    #[arg(long, value_name = "N")]
    top: Option<usize>,
    /// A JSON array, for scripts.
    #[arg(long)]
    json: bool,
}

pub fn run(args: FlowsArgs) -> anyhow::Result<()> {
    let policer = Policer::open(&args.iface)?;
    let mut flows = policer.flows()?;
    flows.truncate(args.top.unwrap_or(usize::MAX));
    if args.json {
        let rows: Vec<_> = flows.iter().map(flow_json).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<52} {:>10} {:>14} {:>12} {:>12} {:>10}",
        "flow", "packets", "bytes", "tokens", "debt", "red"
    );
    for flow in &flows {
        println!(
            "{:<52} {:>10} {:>14} {:>12} {:>12} {:>10}",
            describe_key(&flow.key),
            flow.state.packets,
            flow.state.bytes,
            flow.state.tokens_bytes(),
            flow.state.debt_bytes(),
            flow.state.red_packets
        );
    }
    Ok(())
}

fn flow_json(flow: &Flow) -> serde_json::Value {
    let k = &flow.key;
    json!({
        "flow": describe_key(k),
        "proto": k.proto,
        "src": address(k, &k.src).map(|a| a.to_string()),
        "dst": address(k, &k.dst).map(|a| a.to_string()),
        "src_port": k.src_port,
        "dst_port": k.dst_port,
        "packets": flow.state.packets,
        "bytes": flow.state.bytes,
        "red_packets": flow.state.red_packets,
        "tokens_bytes": flow.state.tokens_bytes(),
        "debt_bytes": flow.state.debt_bytes(),
    })
}

/// The address in `bytes`, or `None` where the key mode left it out (all zero).
fn address(key: &FlowKey, bytes: &[u8; 16]) -> Option<IpAddr> {
    if bytes.iter().all(|&b| b == 0) {
        return None;
    }
    Some(match key.family {
        family::IPV4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        _ => IpAddr::V6(Ipv6Addr::from(*bytes)),
    })
}

/// `tcp 10.0.0.1:5201 > 10.0.0.2:40000`, with `*` for what the key leaves out.
pub fn describe_key(key: &FlowKey) -> String {
    let proto = match key.proto {
        6 => "tcp".to_string(),
        17 => "udp".to_string(),
        1 => "icmp".to_string(),
        58 => "icmpv6".to_string(),
        0 => "*".to_string(),
        n => format!("proto{n}"),
    };
    let end = |bytes: &[u8; 16], port: u16| {
        let addr = address(key, bytes).map_or("*".to_string(), |a| match a {
            IpAddr::V6(a) => format!("[{a}]"),
            a => a.to_string(),
        });
        if port == 0 {
            addr
        } else {
            format!("{addr}:{port}")
        }
    };
    format!(
        "{proto} {} > {}",
        end(&key.src, key.src_port),
        end(&key.dst, key.dst_port)
    )
}
