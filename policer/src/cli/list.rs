use clap::Args;
use policer::{Policer, profile};
use serde_json::json;

use super::stats::profile_json;

#[derive(Args, Debug)]
pub struct ListArgs {
    /// A JSON array, for scripts.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ListArgs) -> anyhow::Result<()> {
    let policers = Policer::list()?;
    if args.json {
        let mut rows = Vec::new();
        for policer in &policers {
            rows.push(json!({
                "interface": policer.interface(),
                "hook": "xdp",
                "direction": "ingress",
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
            "{} (ingress, XDP): {}",
            policer.interface(),
            profile::describe(&policer.profile()?)
        );
    }
    Ok(())
}
