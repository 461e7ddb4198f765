//! One file per subcommand, as cargo does.

mod apply;
mod attach;
mod completions;
mod detach;
mod export;
mod flows;
mod list;
mod log;
mod man;
mod plan;
mod set;
mod simulate;
mod stats;
mod top;

use clap::{Args, Parser, Subcommand};
use policer::{
    profile::{self, ProfileRequest},
    units::{self, Burst},
};

/// Per-flow TCP-friendly policing in the kernel (XDP).
#[derive(Parser, Debug)]
#[command(name = "policer", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Load, attach and pin a policer on an interface; returns at once, the policer stays.
    Attach(attach::AttachArgs),
    /// Change the profile of an attached policer, live (flows keep their state).
    Set(set::SetArgs),
    /// Profiles of their own for the addresses under a prefix: add, set, del, list.
    Plan(plan::PlanArgs),
    /// Show the profile and what was passed, marked and dropped.
    Stats(stats::StatsArgs),
    /// Show the flows, heaviest first, with their tokens and debt.
    Flows(flows::FlowsArgs),
    /// Watch the fastest flows live (rate over the last second, tokens, debt, phase); q quits.
    Top(top::TopArgs),
    /// List the interfaces with a policer and their profiles.
    List(list::ListArgs),
    /// Detach the policer and remove everything it created.
    Detach(detach::DetachArgs),
    /// Replay a capture or a trace through the exact kernel algorithm, offline (no root).
    Simulate(simulate::SimulateArgs),
    /// Make the policers of this machine match a file (TOML): attach, change live, detach.
    Apply(apply::ApplyArgs),
    /// Serve the counters of every policer at /metrics, in the Prometheus text format.
    Export(export::ExportArgs),
    /// Follow the kernel program's log (why packets went unpoliced, should it happen).
    Log(log::LogArgs),
    /// Print a shell completion script: `policer completions bash > /etc/bash_completion.d/policer`.
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff: `policer man | man -l -`), or write one per command.
    Man(man::ManArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Attach(args) => attach::run(args),
        Command::Set(args) => set::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Flows(args) => flows::run(args),
        Command::Top(args) => top::run(args),
        Command::List(args) => list::run(args),
        Command::Detach(args) => detach::run(args),
        Command::Log(args) => log::run(args).await,
        Command::Simulate(args) => simulate::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
        Command::Apply(args) => apply::run(args),
        Command::Export(args) => export::run(args).await,
    }
}

/// Profile flags shared by `attach` and `set`.
#[derive(Args, Debug, Default)]
pub struct ProfileArgs {
    /// Committed information rate, tc units: a bare number is bit/s; kbit, mbit, gbit;
    /// bps, kbps, mbps are BYTES per second (1mbps = 8mbit).
    #[arg(long, value_name = "RATE", value_parser = parse_rate, allow_hyphen_values = true)]
    cir: Option<u64>,
    /// Committed burst (bucket depth): a size (bytes, k, m, kbit...) or a time of the rate
    /// (200ms). Default 100ms of the rate, at least 2 maximum-size frames.
    #[arg(long, value_name = "SIZE|TIME", value_parser = parse_burst, allow_hyphen_values = true)]
    cbs: Option<Burst>,
    /// Excess burst, the limit of the cumulative debt: a size or a time. Default 2 x cbs;
    /// 0 makes a plain token bucket.
    #[arg(long, value_name = "SIZE|TIME", value_parser = parse_burst, allow_hyphen_values = true)]
    ebs: Option<Burst>,
    /// Action for yellow (borrowing) packets: pass, drop, ecn (CE on ECN-capable packets,
    /// drop the others) or dscp=N (rewrite the DSCP to N, 0-63, and pass).
    #[arg(long, value_name = "pass|drop|ecn|dscp=N", value_parser = profile::parse_action)]
    yellow: Option<u8>,
    /// Action for red packets: drop, pass, ecn or dscp=N.
    #[arg(long, value_name = "drop|pass|ecn|dscp=N", value_parser = profile::parse_action)]
    red: Option<u8>,
    /// How a flow borrows once its bucket is short: tcp (the default: the len-debt rules,
    /// with a plain bucket for slow start, an immediate red for a flow that has repaid, the
    /// debt's reds at least 200ms of the rate apart while the bucket is less than half of
    /// ebs in debt, and a plain bucket for a flow that ignores its reds),
    /// len-debt (the debt grows by the packet's length) or junose (the exact JunosE rules).
    /// See README, "Choosing a profile", and docs/algorithm.md.
    #[arg(long, value_name = "tcp|len-debt|junose", value_parser = profile::parse_mode)]
    mode: Option<u8>,
}

impl ProfileArgs {
    fn request(&self, key_mode: Option<u8>) -> ProfileRequest {
        ProfileRequest {
            cir_bits: self.cir,
            cbs: self.cbs,
            ebs: self.ebs,
            key_mode,
            yellow: self.yellow,
            red: self.red,
            mode: self.mode,
        }
    }

    /// "how the input was read" lines, so `1mbps` (8 Mbit/s in tc) surprises nobody.
    fn echo_inputs(&self) {
        if let Some(bits) = self.cir {
            eprintln!("policer: read --cir as {} ({} bit/s)", units::format_rate(bits), bits);
        }
        for (name, burst) in [("cbs", self.cbs), ("ebs", self.ebs)] {
            match burst {
                Some(Burst::Bytes(bytes)) => {
                    eprintln!("policer: read --{name} as {bytes} bytes")
                }
                Some(Burst::Time { ns }) => eprintln!(
                    "policer: read --{name} as {} of the rate",
                    units::format_duration_ns(ns)
                ),
                None => {}
            }
        }
    }
}

/// `--direction` of the commands that work on an attached policer.
#[derive(Args, Debug, Default)]
pub struct DirectionArg {
    /// Which policer of the interface: needed only when it has one on each side.
    #[arg(long, value_enum)]
    direction: Option<DirectionName>,
}

impl DirectionArg {
    fn get(&self) -> Option<policer::Direction> {
        self.direction.map(DirectionName::direction)
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum DirectionName {
    Ingress,
    Egress,
}

impl DirectionName {
    fn direction(self) -> policer::Direction {
        match self {
            DirectionName::Ingress => policer::Direction::Ingress,
            DirectionName::Egress => policer::Direction::Egress,
        }
    }
}

fn parse_rate(text: &str) -> Result<u64, String> {
    units::parse_rate(text).map_err(|e| e.to_string())
}

fn parse_burst(text: &str) -> Result<Burst, String> {
    units::parse_burst(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;
    use clap_complete::Shell;

    use super::Cli;

    /// The names of the subcommands a user can type (not `help`).
    fn subcommands() -> Vec<String> {
        let names: Vec<String> =
            Cli::command().get_subcommands().map(|c| c.get_name().to_string()).collect();
        assert!(names.len() >= 10, "{names:?}");
        names
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_man_page_names_every_subcommand() {
        let mut page = Vec::new();
        super::man::render(&mut page).expect("render");
        let page = String::from_utf8(page).expect("roff is UTF-8");
        assert!(page.starts_with(".ie \\n(.g .ds Aq"), "roff: {}", &page[..80]);
        assert!(page.contains(".TH policer 1"), "{page}");
        for name in subcommands() {
            // roff escapes the hyphen: the SUBCOMMANDS section lists policer\-NAME(1).
            let entry = format!("policer\\-{name}(1)");
            assert!(page.contains(&entry), "the man page lacks {entry}:\n{page}");
        }
        assert!(!page.contains("policer\\-help(1)"), "{page}");
    }

    #[test]
    fn every_subcommand_gets_a_page_of_its_own() {
        let dir = std::env::temp_dir().join(format!("policer-man-{}", std::process::id()));
        let args = super::man::ManArgs::for_dir(dir.clone());
        super::man::run(args).expect("man --dir");
        for name in subcommands() {
            let page = std::fs::read_to_string(dir.join(format!("policer-{name}.1")))
                .unwrap_or_else(|e| panic!("policer-{name}.1: {e}"));
            assert!(page.contains(&format!(".TH policer-{name} 1")), "{page}");
            assert!(page.contains("policer 0."), "the footer names the release: {page}");
        }
        assert!(dir.join("policer.1").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn completions_generate_for_each_shell_and_name_every_subcommand() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::Elvish, Shell::PowerShell] {
            let mut script = Vec::new();
            super::completions::write(shell, &mut script);
            let script = String::from_utf8(script).expect("UTF-8");
            for name in subcommands() {
                assert!(script.contains(&name), "{shell}: no {name} in\n{script}");
            }
            // A flag of a subcommand, and a value of a flag, complete too.
            assert!(script.contains("max-flows"), "{shell}");
        }
    }
}
