//! `policer apply`: makes the machine's policers match a [`Config`].
//!
//! [`plan`] compares the file with what is attached and says what would change, touching
//! nothing; [`execute`] carries a plan out, step by step, and stops at the first step the
//! kernel refuses, saying which steps were done. Every entry is checked against the machine
//! (interface present, bursts that hold its frames) before the first change.

use policer_common::Profile;

use crate::{
    AttachOptions, Direction, Error, Hook, Policer, XdpModeChoice,
    config::{Config, Entry, Problem},
    netdev::Interface,
    pins,
    plans::{Plan as Installed, Prefix},
    profile, units,
};

/// What `apply` does to one interface and direction.
#[derive(Clone, Debug)]
pub enum Action {
    /// Nothing attached yet: attach.
    Attach { profile: Profile },
    /// Attached with another profile: change it live (as `set` does).
    Set { from: Profile, to: Profile },
    /// Attached in a way only a new attach changes (hook, XDP mode, flow table size, key):
    /// detach and attach again; flows start fresh.
    Replace { why: Vec<String>, profile: Profile },
    /// Attached as the file says.
    Unchanged,
    /// Attached, not named in the file, and `--prune`: detach.
    Detach,
    /// Named in the file, no such interface here, and `--allow-missing`: skipped.
    Missing,
}

impl Action {
    /// One word for the action, as `--json` prints it.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Attach { .. } => "attach",
            Action::Set { .. } => "set",
            Action::Replace { .. } => "replace",
            Action::Unchanged => "unchanged",
            Action::Detach => "detach",
            Action::Missing => "missing",
        }
    }

    /// Whether the action changes the machine.
    pub fn changes(&self) -> bool {
        !matches!(self, Action::Unchanged | Action::Missing)
    }
}

/// One step of a plan.
#[derive(Clone, Debug)]
pub struct Step {
    pub iface: String,
    pub direction: Direction,
    pub action: Action,
    /// From the file (absent for a detach).
    pub entry: Option<Entry>,
    /// The plans to delete, change and add, in that order, once the action is done.
    pub plans: Vec<PlanChange>,
}

/// A change of one plan (`policer plan del|set|add`).
#[derive(Clone, Debug)]
pub enum PlanChange {
    Del(Prefix),
    Set(Prefix, Profile, Profile),
    Add(Prefix, Profile),
}

impl PlanChange {
    fn describe(&self) -> String {
        match self {
            PlanChange::Del(prefix) => format!("plan {prefix} deleted"),
            PlanChange::Set(prefix, from, to) => {
                format!("plan {prefix}: {}", profile_changes(from, to).join(", "))
            }
            PlanChange::Add(prefix, profile) => {
                format!("plan {prefix} added: {}", profile::describe(profile))
            }
        }
    }
}

impl Step {
    /// What the step changes, field by field ("cir 10Mbit -> 20Mbit"), or why it replaces.
    pub fn changes(&self) -> Vec<String> {
        let mut changes = match &self.action {
            Action::Set { from, to } => profile_changes(from, to),
            Action::Replace { why, .. } => why.clone(),
            Action::Attach { profile } => vec![profile::describe(profile)],
            _ => Vec::new(),
        };
        changes.extend(self.plans.iter().map(PlanChange::describe));
        changes
    }
}

/// What [`plan`] found.
#[derive(Clone, Debug)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Policers left alone by `--prune` because their interface is not in this network
    /// namespace (pins are shared by all namespaces; a policer of another one is not ours
    /// to judge).
    pub elsewhere: Vec<(String, Direction)>,
}

impl Plan {
    pub fn changes(&self) -> bool {
        self.steps.iter().any(|s| s.action.changes())
    }
}

/// Options of `apply`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApplyOptions {
    /// Detach policers of interfaces and directions the file does not name.
    pub prune: bool,
    /// An interface the file names that does not exist is a warning, not an error.
    pub allow_missing: bool,
}

/// Checks every entry against this machine without reading any pin: the interface exists
/// (or `allow_missing`), and the profile holds the interface's largest packet. All the
/// problems, with their lines; and the interfaces that are missing (when allowed).
pub fn check_machine(config: &Config, allow_missing: bool) -> Result<Vec<Step>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut steps = Vec::new();
    for entry in &config.entries {
        match Interface::find(&entry.iface) {
            Ok(iface) => {
                if let Err(problem) = desired_profile(entry, &iface) {
                    problems.push(problem);
                }
                if let Err(plan_problems) = desired_plans(entry, &iface) {
                    problems.extend(plan_problems);
                }
            }
            Err(Error::UnknownInterface(_)) if allow_missing => steps.push(Step {
                iface: entry.iface.clone(),
                direction: entry.direction,
                action: Action::Missing,
                entry: Some(entry.clone()),
                plans: Vec::new(),
            }),
            Err(Error::UnknownInterface(_)) => problems.push(Problem {
                line: entry.line,
                message: format!(
                    "[{}]: interface {} does not exist (--allow-missing makes this a warning)",
                    entry.table(),
                    entry.iface
                ),
            }),
            Err(e) => problems
                .push(Problem { line: entry.line, message: format!("[{}]: {e}", entry.table()) }),
        }
    }
    if problems.is_empty() { Ok(steps) } else { Err(problems) }
}

/// The plans `plan add` would make of `entry`'s on `iface`.
fn desired_plans(entry: &Entry, iface: &Interface) -> Result<Vec<(Prefix, Profile)>, Vec<Problem>> {
    let mut plans = Vec::new();
    let mut problems = Vec::new();
    for plan in &entry.plans {
        match plan.request.resolve_new(entry.max_packet(Some(iface))) {
            Ok(profile) => plans.push((plan.prefix, profile)),
            Err(e) => problems.push(Problem {
                line: plan.line,
                message: format!(
                    "[{}.plan.\"{}\"]: {e} (on {})",
                    entry.table(),
                    plan.prefix,
                    iface.name
                ),
            }),
        }
    }
    if problems.is_empty() { Ok(plans) } else { Err(problems) }
}

/// The changes that make `current` plans the `desired` ones.
fn plan_changes(current: &[Installed], desired: &[(Prefix, Profile)]) -> Vec<PlanChange> {
    let mut changes: Vec<PlanChange> = current
        .iter()
        .filter(|c| !desired.iter().any(|(p, _)| *p == c.prefix))
        .map(|c| PlanChange::Del(c.prefix))
        .collect();
    for &(prefix, profile) in desired {
        match current.iter().find(|c| c.prefix == prefix) {
            Some(c) if c.profile == profile => {}
            Some(c) => changes.push(PlanChange::Set(prefix, c.profile, profile)),
            None => changes.push(PlanChange::Add(prefix, profile)),
        }
    }
    // Deletions first (they free room), then changes, then additions.
    changes.sort_by_key(|c| match c {
        PlanChange::Del(_) => 0,
        PlanChange::Set(..) => 1,
        PlanChange::Add(..) => 2,
    });
    changes
}

/// The profile `attach` would make of `entry` on `iface`.
fn desired_profile(entry: &Entry, iface: &Interface) -> Result<Profile, Problem> {
    let resolved = entry.request.resolve_new(entry.max_packet(Some(iface)));
    resolved.map(|p| Profile { plan_match: entry.plan_match, ..p }).map_err(|e| {
        let message = e.to_string();
        let key = if message.starts_with("ebs") { "ebs" } else { "cbs" };
        let line = entry.key_lines.get(key).copied().unwrap_or(entry.line);
        Problem {
            line,
            message: format!("[{}]: {key}: {message} (on {})", entry.table(), iface.name),
        }
    })
}

/// Compares the file with the policers attached: what `apply` would do. Changes nothing.
/// Hold [`lock`] from before the plan until it is executed, so that two `apply`s (a reload
/// by udev, one by hand) do not both plan to attach the same policer.
pub fn plan(config: &Config, opts: ApplyOptions) -> Result<Plan, PlanError> {
    pins::require_root("policer apply").map_err(PlanError::Machine)?;
    pins::require_bpffs().map_err(PlanError::Machine)?;
    let mut steps = check_machine(config, opts.allow_missing).map_err(PlanError::File)?;
    for entry in &config.entries {
        if steps.iter().any(|s| s.iface == entry.iface && s.direction == entry.direction) {
            continue; // missing
        }
        let iface = Interface::find(&entry.iface).map_err(PlanError::Machine)?;
        let desired = desired_profile(entry, &iface).map_err(|p| PlanError::File(vec![p]))?;
        let wanted_plans = desired_plans(entry, &iface).map_err(PlanError::File)?;
        let attached = pins::attached_directions(&entry.iface).contains(&entry.direction);
        let (action, plans) = if !attached {
            (Action::Attach { profile: desired }, plan_changes(&[], &wanted_plans))
        } else {
            let policer =
                Policer::open(&entry.iface, Some(entry.direction)).map_err(PlanError::Machine)?;
            // The count of plans is theirs, not the profile's: `set` keeps it.
            let current = Profile { plans: 0, ..policer.profile().map_err(PlanError::Machine)? };
            let why = attach_differences(entry, &policer, &current, &desired)
                .map_err(PlanError::Machine)?;
            if !why.is_empty() {
                (Action::Replace { why, profile: desired }, plan_changes(&[], &wanted_plans))
            } else {
                let current_plans = policer.plans().map_err(PlanError::Machine)?;
                let plans = plan_changes(&current_plans, &wanted_plans);
                if current != desired || !plans.is_empty() {
                    (Action::Set { from: current, to: desired }, plans)
                } else {
                    (Action::Unchanged, plans)
                }
            }
        };
        steps.push(Step {
            iface: entry.iface.clone(),
            direction: entry.direction,
            action,
            entry: Some(entry.clone()),
            plans,
        });
    }
    let order = |s: &Step| {
        config.entries.iter().position(|e| e.iface == s.iface && e.direction == s.direction)
    };
    steps.sort_by_key(order);
    let mut elsewhere = Vec::new();
    if opts.prune {
        for iface in pins::attached_interfaces().map_err(PlanError::Machine)? {
            for direction in pins::attached_directions(&iface) {
                if config.names(&iface, direction) {
                    continue;
                }
                if Interface::find(&iface).is_ok() {
                    steps.push(Step {
                        iface: iface.clone(),
                        direction,
                        action: Action::Detach,
                        entry: None,
                        plans: Vec::new(),
                    });
                } else {
                    elsewhere.push((iface.clone(), direction));
                }
            }
        }
    }
    Ok(Plan { steps, elsewhere })
}

/// Why `plan` failed: the file does not fit the machine (with lines), or the machine could
/// not be read.
#[derive(Debug)]
pub enum PlanError {
    File(Vec<Problem>),
    Machine(Error),
}

/// What only a new attach changes, as "hook xdp -> tc" lines; empty if nothing.
fn attach_differences(
    entry: &Entry,
    policer: &Policer,
    current: &Profile,
    desired: &Profile,
) -> crate::Result<Vec<String>> {
    let mut why = Vec::new();
    let method = policer.method()?;
    let matches = match entry.hook {
        Hook::Xdp(XdpModeChoice::Auto) => method.starts_with("XDP"),
        Hook::Xdp(XdpModeChoice::Native) => method == "XDP native",
        Hook::Xdp(XdpModeChoice::Generic) => method == "XDP generic",
        Hook::Tc => !method.starts_with("XDP"),
    };
    if !matches {
        let wanted = match entry.hook {
            Hook::Xdp(XdpModeChoice::Auto) => "XDP",
            Hook::Xdp(XdpModeChoice::Native) => "XDP native",
            Hook::Xdp(XdpModeChoice::Generic) => "XDP generic",
            Hook::Tc => "TC",
        };
        why.push(format!("hook {method} -> {wanted}"));
    }
    let max_flows = policer.max_flows()?;
    if max_flows != entry.max_flows {
        why.push(format!("max-flows {max_flows} -> {}", entry.max_flows));
    }
    if current.plan_match != desired.plan_match {
        why.push(format!(
            "match {} -> {}",
            profile::plan_match_name(current.plan_match),
            profile::plan_match_name(desired.plan_match)
        ));
    }
    if current.key_mode != desired.key_mode {
        why.push(format!(
            "key {} -> {}",
            profile::key_mode_name(current.key_mode),
            profile::key_mode_name(desired.key_mode)
        ));
    }
    Ok(why)
}

/// The fields in which two profiles differ, as "cir 10Mbit -> 20Mbit".
pub fn profile_changes(from: &Profile, to: &Profile) -> Vec<String> {
    let mut changes = Vec::new();
    let mut field = |name: &str, a: String, b: String| {
        if a != b {
            changes.push(format!("{name} {a} -> {b}"));
        }
    };
    field(
        "cir",
        units::format_rate(from.cir_bytes_per_sec * 8),
        units::format_rate(to.cir_bytes_per_sec * 8),
    );
    let burst = |bytes: u64, ns: u64| {
        if ns == 0 {
            format!("{bytes}b")
        } else {
            format!("{bytes}b ({})", units::format_duration_ns(ns))
        }
    };
    field("cbs", burst(from.cbs_bytes, from.cbs_ns), burst(to.cbs_bytes, to.cbs_ns));
    field("ebs", burst(from.ebs_bytes, from.ebs_ns), burst(to.ebs_bytes, to.ebs_ns));
    field(
        "mode",
        policer_common::mode::name(from.mode).into(),
        policer_common::mode::name(to.mode).into(),
    );
    field(
        "key",
        profile::key_mode_name(from.key_mode).into(),
        profile::key_mode_name(to.key_mode).into(),
    );
    for (name, colour) in
        [("yellow", policer_common::Colour::Yellow), ("red", policer_common::Colour::Red)]
    {
        field(
            name,
            profile::action_name(from.action_for(colour)),
            profile::action_name(to.action_for(colour)),
        );
    }
    if changes.is_empty() && from != to {
        changes.push("internal fields of the profile".into());
    }
    changes
}

/// Serialises `apply`s: an exclusive lock on the bpffs mount point (never removed, unlike
/// policer's own directories, and the same in every namespace that shares the pins), held
/// until the returned file is dropped.
pub fn lock() -> crate::Result<std::fs::File> {
    let dir = std::fs::File::open(pins::BPFFS)
        .map_err(|source| Error::Io { context: format!("opening {}", pins::BPFFS), source })?;
    // SAFETY: flock on a valid, open file descriptor; released when `dir` is closed.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&dir), libc::LOCK_EX) } != 0 {
        let source = std::io::Error::last_os_error();
        return Err(Error::Io { context: format!("locking {}", pins::BPFFS), source });
    }
    Ok(dir)
}

/// What happened to one step.
#[derive(Debug)]
pub enum Outcome {
    /// Done; for an attach, how the program was attached.
    Done { method: Option<&'static str> },
    /// The kernel (or the file system) refused it.
    Failed(Error),
    /// Not tried: an earlier step failed.
    NotTried,
}

/// Carries out the steps of `plan` in order: the file's entries, then the detaches of
/// `--prune`. Stops at the first failure; the outcome of every step says what was done.
pub fn execute(plan: &Plan) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    let mut failed = false;
    for step in &plan.steps {
        if failed {
            outcomes.push(Outcome::NotTried);
            continue;
        }
        let outcome = match execute_step(step) {
            Ok(method) => Outcome::Done { method },
            Err(e) => {
                failed = true;
                Outcome::Failed(e)
            }
        };
        outcomes.push(outcome);
    }
    outcomes
}

fn execute_step(step: &Step) -> crate::Result<Option<&'static str>> {
    let attach = |profile: &Profile| {
        let entry = step.entry.as_ref().expect("an attach comes from the file");
        let iface = Interface::find(&step.iface)?;
        let opts = AttachOptions {
            profile: *profile,
            max_flows: entry.max_flows,
            hook: entry.hook,
            direction: step.direction,
        };
        Policer::attach(&iface, &opts).map(|attached| Some(attached.method))
    };
    let method = match &step.action {
        Action::Attach { profile } => attach(profile)?,
        Action::Set { from, to } => {
            let mut policer = Policer::open(&step.iface, Some(step.direction))?;
            if from != to {
                policer.set(to)?;
            }
            None
        }
        Action::Replace { profile, .. } => {
            Policer::detach(&step.iface, Some(step.direction))?;
            attach(profile)?
        }
        Action::Detach => {
            Policer::detach(&step.iface, Some(step.direction))?;
            None
        }
        Action::Unchanged | Action::Missing => None,
    };
    if !step.plans.is_empty() {
        let mut policer = Policer::open(&step.iface, Some(step.direction))?;
        for change in &step.plans {
            match *change {
                PlanChange::Del(prefix) => policer.plan_del(prefix)?,
                PlanChange::Set(prefix, _, to) => {
                    policer.plan_set(prefix, |_| Ok(to))?;
                }
                PlanChange::Add(prefix, profile) => {
                    policer.plan_add(prefix, &profile)?;
                }
            }
        }
    }
    Ok(method)
}
