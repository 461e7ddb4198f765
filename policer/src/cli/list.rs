use clap::Args;
use policer::{Policer, profile};
use serde_json::json;

use super::stats::{hook_name, profile_json};

#[derive(Args, Debug)]
pub struct ListArgs {
    /// A JSON array, for scripts.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ListArgs) -> anyhow::Result<()> {
    let (policers, foreign) = Policer::list_all()?;
    for e in &foreign {
        eprintln!("policer: warning: {e}");
    }
    if args.json {
        let mut rows = Vec::new();
        for policer in &policers {
            rows.push(json!({
                "interface": policer.interface(),
                "hook": hook_name(policer)?,
                "attachment": policer.method()?,
                "direction": policer.direction().name(),
                "profile": profile_json(&policer.profile()?),
                "flows_active": policer.flow_count()?,
            }));
        }
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if policers.is_empty() {
        println!("no policer attached");
    }
    for policer in &policers {
        println!(
            "{} ({}, {}): {}",
            policer.interface(),
            policer.direction().name(),
            policer.method()?,
            profile::describe(&policer.profile()?)
        );
    }
    Ok(())
}
