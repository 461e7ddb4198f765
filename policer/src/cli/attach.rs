use anyhow::Context as _;
use clap::{Args, ValueEnum};
use policer::{AttachOptions, Policer, XdpModeChoice, netdev::Interface, profile};
use policer_common::DEFAULT_MAX_FLOWS;

use super::ProfileArgs;

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Interface to police (ingress, XDP).
    iface: String,
    #[command(flatten)]
    profile: ProfileArgs,
    /// What makes a flow: 5tuple (one bucket per connection), src or dst (per address).
    #[arg(long, value_name = "5tuple|src|dst", value_parser = profile::parse_key_mode)]
    key: Option<u8>,
    /// Size of the flow table; when full, the least recently used flow is evicted.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_FLOWS,
          value_parser = clap::value_parser!(u32).range(1..=(1 << 24)))]
    max_flows: u32,
    /// XDP mode: native (driver) or generic (skb); auto tries native first.
    #[arg(long, value_enum, default_value_t = Mode::Auto)]
    xdp_mode: Mode,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    Auto,
    Native,
    Generic,
}

pub fn run(args: AttachArgs) -> anyhow::Result<()> {
    let iface = Interface::find(&args.iface)?;
    args.profile.echo_inputs();
    let profile = args
        .profile
        .request(args.key)
        .resolve_new(iface.max_frame_bytes())?;
    let opts = AttachOptions {
        profile,
        max_flows: args.max_flows,
        xdp_mode: match args.xdp_mode {
            Mode::Auto => XdpModeChoice::Auto,
            Mode::Native => XdpModeChoice::Native,
            Mode::Generic => XdpModeChoice::Generic,
        },
    };
    let attached =
        Policer::attach(&iface, &opts).with_context(|| format!("attaching to {}", iface.name))?;
    for stale in &attached.removed_stale {
        eprintln!(
            "policer: removed leftovers of an interrupted attach: {}",
            stale.display()
        );
    }
    println!(
        "policer attached to {} (ingress, XDP {} mode), pinned at {}",
        iface.name,
        attached.xdp_mode,
        attached.policer.pin_dir().display()
    );
    println!("  {}", profile::describe(&profile));
    println!("  max flows {}", args.max_flows);
    Ok(())
}
