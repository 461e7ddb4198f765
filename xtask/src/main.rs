//! `cargo xtask`: project tasks that are not the product.

mod bench_cost;
mod bench_tcp;
mod demo;
mod machine;
mod replay_speed;

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
    /// Per-packet cost of the programs against a bare XDP_PASS; writes bench/COST.md.
    BenchCost(bench_cost::CostArgs),
    /// TCP through the policer, a plain bucket, nftables, HTB and nothing, at real RTTs;
    /// writes bench/TCP.md.
    BenchTcp(bench_tcp::TcpArgs),
    /// Time `policer simulate` on a generated capture and write bench/REPLAY.md.
    ReplaySpeed(replay_speed::ReplaySpeedArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Demo(args) => demo::run(&args),
        Task::BenchCost(args) => bench_cost::run(&args),
        Task::BenchTcp(args) => bench_tcp::run(&args),
        Task::ReplaySpeed(args) => replay_speed::run(&args),
    }
}
