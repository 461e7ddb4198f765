use clap::Args;
use policer::Policer;

#[derive(Args, Debug)]
pub struct DetachArgs {
    /// Interface whose policer to remove.
    iface: String,
    #[command(flatten)]
    direction: super::DirectionArg,
}

pub fn run(args: DetachArgs) -> anyhow::Result<()> {
    Policer::detach(&args.iface, args.direction.get())?;
    println!("policer detached from {}; its pins are removed", args.iface);
    Ok(())
}
