//! `cargo xtask`: project tasks that are not the product.

mod bench;
mod demo;
mod machine;
mod man;
mod replay_speed;
mod vm_test;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Two namespaces joined by veth; a TCP flow without and then with
    /// `policer attach ... --cir 10mbit` on the receiver; goodput of both and `policer stats`.
    Demo(demo::DemoArgs),
    /// The evidence: per-packet cost, packet rate under a flood, and TCP through the
    /// policer, a plain bucket, nftables, HTB and nothing at real RTTs, with a burst sweep;
    /// writes bench/RESULTS.md and its plots. `bench cost|load|tcp` runs one part.
    Bench(bench::BenchArgs),
    /// Time `policer simulate` on a generated capture and write bench/REPLAY.md.
    ReplaySpeed(replay_speed::ReplaySpeedArgs),
    /// Build, boot another kernel (default: Debian bookworm's 6.1) in QEMU with virtme-ng
    /// over the host's root, run the integration tests in it, and fail if they fail.
    VmTest(vm_test::VmTestArgs),
    /// Write the man pages (policer.1, policer-COMMAND.1) into target/man.
    Man(man::ManArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Demo(args) => demo::run(&args),
        Task::Bench(args) => bench::run(&args),
        Task::ReplaySpeed(args) => replay_speed::run(&args),
        Task::VmTest(args) => vm_test::run(&args),
        Task::Man(args) => man::run(&args),
    }
}
