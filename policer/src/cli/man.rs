use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use clap::{Args, CommandFactory as _};

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write policer.1 and a page for each command (policer-attach.1, ...) into DIR,
    /// instead of printing policer.1.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn run(args: ManArgs) -> anyhow::Result<()> {
    match args.dir {
        None => render(&mut std::io::stdout().lock()).context("writing the man page")?,
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            write_pages(&dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
            println!("policer: man pages written to {}", dir.display());
        }
    }
    Ok(())
}

/// policer(1), in roff, generated from the CLI's own definitions.
pub fn render(out: &mut dyn Write) -> std::io::Result<()> {
    page(command()).render(out)
}

/// policer.1 and policer-COMMAND.1 for each command, in `dir`.
fn write_pages(dir: &Path) -> std::io::Result<()> {
    let command = command();
    for sub in command.get_subcommands().filter(|c| !c.is_hide_set()) {
        page(sub.clone()).generate_to(dir)?;
    }
    page(command).generate_to(dir)?;
    Ok(())
}

/// A page whose footer names the release (clap_mangen would give a subcommand's page
/// only the subcommand's name there).
fn page(command: clap::Command) -> clap_mangen::Man {
    clap_mangen::Man::new(command).source(concat!("policer ", env!("CARGO_PKG_VERSION")))
}

/// The CLI as the man pages show it, built (so a subcommand's page is named
/// policer-COMMAND); `policer help` is left out, the pages are the help.
fn command() -> clap::Command {
    let mut command = super::Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

#[cfg(test)]
impl ManArgs {
    pub fn for_dir(dir: PathBuf) -> ManArgs {
        ManArgs { dir: Some(dir) }
    }
}
