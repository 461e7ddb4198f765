use anyhow::Context as _;
use clap::{Args, ValueEnum};
use policer::{
    AttachOptions, Direction, Hook, Policer, XdpModeChoice, netdev::Interface, profile, units,
};
use policer_common::DEFAULT_MAX_FLOWS;

use super::{DirectionName, ProfileArgs};

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Interface to police.
    iface: String,
    #[command(flatten)]
    profile: ProfileArgs,
    /// What makes a flow: 5tuple (one bucket per connection), src or dst (per address),
    /// all (one bucket for everything the profile covers).
    #[arg(long, value_name = "5tuple|src|dst|all", value_parser = profile::parse_key_mode)]
    key: Option<u8>,
    /// Which address the plans' prefixes are matched against (`policer plan`): src, or dst
    /// (a router policing downstream traffic to subscribers).
    #[arg(long = "match", value_name = "src|dst", value_parser = profile::parse_plan_match)]
    plan_match: Option<u8>,
    /// Flows each flow table holds (IPv4 and IPv6 have one each, preallocated: `attach`
    /// prints their memory); when one is full, its least recently used flow is evicted.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_FLOWS,
          value_parser = clap::value_parser!(u32).range(1..=(1 << 24)))]
    max_flows: u32,
    /// Police what the interface receives (ingress) or sends (egress, TC only).
    #[arg(long, value_enum, default_value_t = DirectionName::Ingress)]
    direction: DirectionName,
    /// Where to hook in: xdp (ingress only; the default there) or tc (the default for
    /// egress; a TCX link, or on kernels before 6.6 a cls_bpf filter on a clsact qdisc).
    #[arg(long, value_enum)]
    hook: Option<HookName>,
    /// XDP mode: native (driver) or generic (skb); auto tries native first.
    #[arg(long, value_enum, default_value_t = Mode::Auto)]
    xdp_mode: Mode,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum HookName {
    Xdp,
    Tc,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    Auto,
    Native,
    Generic,
}

pub fn run(args: AttachArgs) -> anyhow::Result<()> {
    let direction = args.direction.direction();
    let xdp_mode = match args.xdp_mode {
        Mode::Auto => XdpModeChoice::Auto,
        Mode::Native => XdpModeChoice::Native,
        Mode::Generic => XdpModeChoice::Generic,
    };
    let hook = match (args.hook, direction) {
        (Some(HookName::Tc), _) | (None, Direction::Egress) => Hook::Tc,
        (Some(HookName::Xdp), _) | (None, Direction::Ingress) => Hook::Xdp(xdp_mode),
    };
    let iface = Interface::find(&args.iface)?;
    args.profile.echo_inputs();
    // With TC, one GSO/GRO packet is the largest unit the bucket must hold.
    let max_packet = match hook {
        Hook::Tc => iface.max_tc_packet_bytes(direction == Direction::Egress),
        Hook::Xdp(_) => iface.max_frame_bytes(),
    };
    let mut profile = args.profile.request(args.key).resolve_new(max_packet)?;
    profile.plan_match = args.plan_match.unwrap_or(policer_common::plan_match::SRC);
    if let Some(warning) = profile::tcp_warning(&profile) {
        eprintln!("policer: warning: {warning}");
    }
    let opts = AttachOptions { profile, max_flows: args.max_flows, hook, direction };
    let attached =
        Policer::attach(&iface, &opts).with_context(|| format!("attaching to {}", iface.name))?;
    for stale in &attached.removed_stale {
        eprintln!("policer: removed leftovers of an interrupted attach: {}", stale.display());
    }
    println!(
        "policer attached to {} ({}, {}), pinned at {}",
        iface.name,
        direction.name(),
        attached.method,
        attached.policer.pin_dir().display()
    );
    println!("  {}", profile::describe(&profile));
    let memory = attached.policer.memory_bytes()?;
    let capacity = attached.policer.flow_capacity()?;
    println!(
        "  flows: {} IPv4 slots, and {} in the LRU table (IPv6, IPv4 without a slot); kernel \
         memory {} ({} bytes per flow of capacity)",
        capacity - u64::from(args.max_flows),
        args.max_flows,
        units::format_size(memory),
        memory / capacity,
    );
    if profile.plan_match != policer_common::plan_match::SRC {
        println!("  plans match the {} address", profile::plan_match_name(profile.plan_match));
    }
    Ok(())
}
