use std::process::Command;

use anyhow::{Context as _, ensure};
use clap::Args;
use policer_tests::Testbed;

#[derive(Args)]
pub struct DemoArgs {
    /// The committed rate to police the flow at.
    #[arg(long, default_value = "10mbit")]
    cir: String,
    /// Seconds of each TCP run.
    #[arg(long, default_value_t = 10)]
    seconds: u32,
    /// TCP congestion control of the sender.
    #[arg(long, default_value = "cubic")]
    cc: String,
}

pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    // The demo makes network namespaces and loads eBPF.
    policer::pins::require_root("cargo xtask demo")?;
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--package", "policer", "--bin", "policer"])
        .status()
        .context("building policer")?;
    ensure!(status.success(), "building policer failed");

    // Everything below lives in two namespaces that are removed when `bed` drops.
    let bed = Testbed::new();
    println!("testbed: {} ({}) -> {} ({})", bed.a.name, bed.a_addr, bed.b.name, bed.b_addr);

    println!("\n1. {} s of TCP ({}) without a policer", args.seconds, args.cc);
    let free = Testbed::goodput_bps(&bed.iperf3(args.seconds, &["-C", &args.cc]));
    println!("   goodput {:.1} Mbit/s", free / 1e6);

    println!("\n2. policer attach {} --cir {}", bed.b_if, args.cir);
    print!("{}", indent(&bed.attach(&["--cir", &args.cir])));
    let policed = Testbed::goodput_bps(&bed.iperf3(args.seconds, &["-C", &args.cc]));
    println!("   goodput {:.2} Mbit/s through the policer", policed / 1e6);

    println!("\n3. policer stats {}", bed.b_if);
    print!("{}", indent(&bed.policer_ok(&["stats", &bed.b_if])));
    println!("\n4. policer flows {} --top 3", bed.b_if);
    print!("{}", indent(&bed.policer_ok(&["flows", &bed.b_if, "--top", "3"])));

    println!(
        "\nwithout policer {:.1} Mbit/s, with policer at {} {:.2} Mbit/s",
        free / 1e6,
        args.cir,
        policed / 1e6
    );
    println!("cleaning up: detach, namespaces and veth removed");
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   {l}\n")).collect()
}
