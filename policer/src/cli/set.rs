use anyhow::Context as _;
use clap::Args;
use policer::{Policer, netdev::Interface, profile};

use super::ProfileArgs;

#[derive(Args, Debug)]
pub struct SetArgs {
    /// Interface whose policer to change.
    iface: String,
    #[command(flatten)]
    direction: super::DirectionArg,
    #[command(flatten)]
    profile: ProfileArgs,
}

pub fn run(args: SetArgs) -> anyhow::Result<()> {
    let request = args.profile.request(None);
    if request.is_empty() {
        anyhow::bail!(
            "nothing to change: give at least one of --cir, --cbs, --ebs, --mode, --yellow, --red"
        );
    }
    let mut policer = Policer::open(&args.iface, args.direction.get())?;
    // The interface may be gone while its pins remain: then bursts are checked against a
    // standard Ethernet frame.
    let max_frame = Interface::find(&args.iface).map(|i| i.max_frame_bytes()).unwrap_or(1514);
    args.profile.echo_inputs();
    let current = policer.profile()?;
    let profile = request.resolve_change(&current, max_frame)?;
    policer.set(&profile).with_context(|| format!("changing the profile of {}", args.iface))?;
    println!("policer on {}: {}", args.iface, profile::describe(&profile));
    Ok(())
}
