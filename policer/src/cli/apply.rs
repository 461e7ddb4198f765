use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use policer::{
    apply::{self, Action, ApplyOptions, Outcome, Plan, PlanError, Step},
    config::{self, Config, ConfigError, Problem},
    profile,
};
use serde_json::{Value, json};

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// The file that declares the policers of this machine (TOML; see README, "Operations").
    file: PathBuf,
    /// Also detach policers of interfaces and directions the file does not name (only of
    /// interfaces in this network namespace).
    #[arg(long)]
    prune: bool,
    /// Validate the file (syntax, keys, values, and the interfaces it names) and change
    /// nothing; needs no root.
    #[arg(long, conflicts_with = "diff")]
    check: bool,
    /// Print what would change, and change nothing.
    #[arg(long)]
    diff: bool,
    /// An interface the file names that does not exist (yet) is a warning, not an error.
    #[arg(long)]
    allow_missing: bool,
    /// Print one JSON object, for scripts.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ApplyArgs) -> anyhow::Result<()> {
    let config = config::load(&args.file)?;
    let opts = ApplyOptions { prune: args.prune, allow_missing: args.allow_missing };
    if args.check {
        let missing = apply::check_machine(&config, args.allow_missing)
            .map_err(|problems| file_error(&config, problems))?;
        for step in &missing {
            warn_missing(&config, step);
        }
        if args.json {
            let report = json!({
                "file": config.path.display().to_string(),
                "valid": true,
                "policers": config.entries.len(),
                "missing": missing.iter().map(|s| json!({
                    "interface": s.iface, "direction": s.direction.name()
                })).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            let declared = match config.entries.len() {
                1 => "1 policer".to_string(),
                n => format!("{n} policers"),
            };
            println!("{}: valid, {declared} declared", config.path.display());
        }
        return Ok(());
    }
    // Held until the plan is carried out (not for --diff, which changes nothing).
    policer::pins::require_root("policer apply")?;
    let _lock = if args.diff { None } else { Some(apply::lock()?) };
    let plan = apply::plan(&config, opts).map_err(|e| match e {
        PlanError::File(problems) => file_error(&config, problems),
        PlanError::Machine(e) => anyhow::Error::new(e).context("reading the attached policers"),
    })?;
    for step in plan.steps.iter().filter(|s| matches!(s.action, Action::Missing)) {
        warn_missing(&config, step);
    }
    for step in &plan.steps {
        if let Some(warning) = step_profile(step).and_then(profile::tcp_warning) {
            eprintln!("policer: warning: {} {}: {warning}", step.iface, step.direction.name());
        }
    }
    if !plan.elsewhere.is_empty() {
        let names: Vec<String> =
            plan.elsewhere.iter().map(|(iface, d)| format!("{iface} {}", d.name())).collect();
        eprintln!(
            "policer: note: --prune leaves alone the policers of interfaces that are not in this \
             network namespace: {}",
            names.join(", ")
        );
    }
    if args.diff {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report(&config, &plan, None))?);
        } else {
            for step in &plan.steps {
                println!("{}", diff_line(step));
            }
            if !plan.changes() {
                println!("no changes: the policers match {}", config.path.display());
            }
        }
        return Ok(());
    }
    let outcomes = apply::execute(&plan);
    let failure = outcomes.iter().zip(&plan.steps).find_map(|(outcome, step)| match outcome {
        Outcome::Failed(e) => Some((step, e)),
        _ => None,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report(&config, &plan, Some(&outcomes)))?);
    } else {
        for (step, outcome) in plan.steps.iter().zip(&outcomes) {
            println!("{}", done_line(step, outcome));
        }
        println!("{}", summary(&config, &plan, &outcomes));
    }
    if let Some((step, error)) = failure {
        return Err(anyhow::anyhow!("{error}")).with_context(|| {
            format!(
                "{} {}: {} failed; the steps before it were done, those after it were not \
                 tried",
                step.iface,
                step.direction.name(),
                step.action.name()
            )
        });
    }
    Ok(())
}

fn file_error(config: &Config, problems: Vec<Problem>) -> anyhow::Error {
    ConfigError { path: config.path.clone(), problems }.into()
}

fn warn_missing(config: &Config, step: &Step) {
    let line = step.entry.as_ref().map_or(0, |e| e.line);
    eprintln!(
        "policer: warning: {}:{line}: interface {} does not exist; its {} policer is skipped \
         (--allow-missing)",
        config.path.display(),
        step.iface,
        step.direction.name()
    );
}

fn step_profile(step: &Step) -> Option<&policer_common::Profile> {
    match &step.action {
        Action::Attach { profile } | Action::Replace { profile, .. } => Some(profile),
        Action::Set { to, .. } => Some(to),
        _ => None,
    }
}

/// `+` attach, `~` live change, `!` replace, `-` detach, `=` unchanged, `?` missing.
fn diff_line(step: &Step) -> String {
    let (mark, what) = match &step.action {
        Action::Attach { .. } => ('+', "attach".to_string()),
        Action::Set { .. } => ('~', "change live".to_string()),
        Action::Replace { .. } => ('!', "detach and attach again (flows start fresh)".into()),
        Action::Unchanged => ('=', "unchanged".into()),
        Action::Detach => ('-', "detach (not in the file, --prune)".into()),
        Action::Missing => ('?', "interface missing, skipped".into()),
    };
    let changes = step.changes();
    let changes =
        if changes.is_empty() { String::new() } else { format!(": {}", changes.join(", ")) };
    format!("{mark} {} {}: {what}{changes}", step.iface, step.direction.name())
}

fn done_line(step: &Step, outcome: &Outcome) -> String {
    let (iface, direction) = (&step.iface, step.direction.name());
    let changes = step.changes().join(", ");
    match (outcome, &step.action) {
        (Outcome::Failed(e), action) => {
            format!("{iface} {direction}: {} FAILED: {e}", action.name())
        }
        (Outcome::NotTried, action) => {
            format!("{iface} {direction}: {} not tried (an earlier step failed)", action.name())
        }
        (Outcome::Done { method }, Action::Attach { .. }) => {
            format!("{iface} {direction}: attached ({}): {changes}", method.unwrap_or("?"))
        }
        (Outcome::Done { .. }, Action::Set { .. }) => {
            format!(
                "{iface} {direction}: changed live (same program, flows keep their state): {changes}"
            )
        }
        (Outcome::Done { method }, Action::Replace { .. }) => format!(
            "{iface} {direction}: detached and attached again ({}; flows start fresh): {changes}",
            method.unwrap_or("?")
        ),
        (Outcome::Done { .. }, Action::Unchanged) => format!("{iface} {direction}: unchanged"),
        (Outcome::Done { .. }, Action::Detach) => {
            format!("{iface} {direction}: detached (not in the file, --prune)")
        }
        (Outcome::Done { .. }, Action::Missing) => {
            format!("{iface} {direction}: skipped (no such interface)")
        }
    }
}

fn summary(config: &Config, plan: &Plan, outcomes: &[Outcome]) -> String {
    let done = |name: &str| {
        plan.steps
            .iter()
            .zip(outcomes)
            .filter(|(s, o)| s.action.name() == name && matches!(o, Outcome::Done { .. }))
            .count()
    };
    let file = config.path.display();
    if !plan.changes() {
        let missing = done("missing");
        let missing = if missing > 0 {
            format!(", {missing} skipped (interface missing)")
        } else {
            String::new()
        };
        let matching = match done("unchanged") {
            1 => "1 policer matches".to_string(),
            n => format!("{n} policers match"),
        };
        return format!("nothing to change: {matching} {file}{missing}");
    }
    format!(
        "{file}: {} attached, {} changed live, {} replaced, {} detached, {} unchanged, {} skipped",
        done("attach"),
        done("set"),
        done("replace"),
        done("detach"),
        done("unchanged"),
        done("missing")
    )
}

fn report(config: &Config, plan: &Plan, outcomes: Option<&[Outcome]>) -> Value {
    let steps: Vec<Value> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(n, step)| {
            let mut row = json!({
                "interface": step.iface,
                "direction": step.direction.name(),
                "action": step.action.name(),
                "changes": step.changes(),
            });
            if let Some(outcomes) = outcomes {
                row["outcome"] = match &outcomes[n] {
                    Outcome::Done { method } => {
                        if let Some(method) = method {
                            row["attachment"] = json!(method);
                        }
                        json!("done")
                    }
                    Outcome::Failed(e) => {
                        row["error"] = json!(e.to_string());
                        json!("failed")
                    }
                    Outcome::NotTried => json!("not tried"),
                };
            }
            row
        })
        .collect();
    json!({
        "file": config.path.display().to_string(),
        "changed": outcomes.is_some_and(|outcomes| {
            plan.steps
                .iter()
                .zip(outcomes)
                .any(|(s, o)| s.action.changes() && matches!(o, Outcome::Done { .. }))
        }),
        "would_change": plan.changes(),
        "steps": steps,
    })
}
