use std::io::Write;

use clap::{Args, CommandFactory as _};
use clap_complete::Shell;

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for: bash, zsh, fish (also elvish, powershell).
    #[arg(value_enum)]
    shell: Shell,
}

pub fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    write(args.shell, &mut std::io::stdout().lock());
    Ok(())
}

/// The completion script for `shell`, generated from the CLI's own definitions.
pub fn write(shell: Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut super::Cli::command(), "policer", out);
}
