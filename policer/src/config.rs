//! The declarative file of `policer apply`: which policers a machine has, in TOML.
//!
//! ```toml
//! [interface.eth0.ingress]
//! cir = "10mbit"        # tc units, as on the command line
//! cbs = "100ms"         # every flag of `policer attach` has a key of the same name
//! key = "src"
//!
//! [interface.eth0.egress]
//! cir = "50mbit"
//! ```
//!
//! A table `[interface.NAME.DIRECTION]` is one policer; its keys are the flags of
//! `policer attach` without the dashes (`cir`, `cbs`, `ebs`, `key`, `mode`, `yellow`,
//! `red`, `hook`, `xdp-mode`, `max-flows`); the direction is the table's name. A key not
//! given takes the default `attach` gives it.
//!
//! Plans (`policer plan`) are tables under a policer, keyed by prefix, with the profile keys
//! (`[interface.eth0.ingress.plan."10.1.0.0/16"]`, `cir` required); `match = "src"|"dst"`
//! beside the default profile says which address they match.
//!
//! Parsing checks everything that can be checked without the machine: the syntax, every
//! key and every value. Each error names the file, the line and the key, as in
//! `p.toml:2: cir = "fast": not a rate (not a number)`.

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
};

use serde::Deserialize;
use toml::{Spanned, Value};

use crate::{
    Direction, Hook, XdpModeChoice,
    netdev::Interface,
    profile::{self, ProfileRequest},
    units::{self, Quantity, UnitError},
};

/// The largest flow table `attach --max-flows` accepts.
pub const MAX_FLOWS_LIMIT: u32 = 1 << 24;

/// The frame size profiles are checked against while the interface is unknown (missing, or
/// not looked at by `--check`): a standard Ethernet frame.
pub const STANDARD_FRAME: u64 = 1514;

/// One policer the file declares.
#[derive(Clone, Debug)]
pub struct Entry {
    pub iface: String,
    pub direction: Direction,
    /// The line of the table's header (`[interface.NAME.DIRECTION]`).
    pub line: usize,
    /// The profile keys, as `attach` would take them.
    pub request: ProfileRequest,
    pub hook: Hook,
    pub max_flows: u32,
    /// `match`: which address the plans match (one of `policer_common::plan_match`).
    pub plan_match: u8,
    /// The plans, in the file's order.
    pub plans: Vec<PlanEntry>,
    /// Where each key given is, for errors found later (against the interface).
    pub key_lines: BTreeMap<&'static str, usize>,
}

impl Entry {
    /// `[interface.NAME.DIRECTION]`, as the file names it.
    pub fn table(&self) -> String {
        format!("interface.{}.{}", self.iface, self.direction.name())
    }

    /// The largest packet the program will see on `iface` with this entry's hook: what
    /// bursts must hold (as `attach` computes it).
    pub fn max_packet(&self, iface: Option<&Interface>) -> u64 {
        match (iface, self.hook) {
            (Some(iface), Hook::Tc) => {
                iface.max_tc_packet_bytes(self.direction == Direction::Egress)
            }
            (Some(iface), Hook::Xdp(_)) => iface.max_frame_bytes(),
            (None, _) => STANDARD_FRAME,
        }
    }
}

/// One plan of a policer in the file.
#[derive(Clone, Debug)]
pub struct PlanEntry {
    pub prefix: crate::plans::Prefix,
    pub request: ProfileRequest,
    /// The line of its table's header.
    pub line: usize,
}

/// A parsed, checked file.
#[derive(Clone, Debug)]
pub struct Config {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
}

impl Config {
    /// Whether the file declares a policer on `iface` in `direction`.
    pub fn names(&self, iface: &str, direction: Direction) -> bool {
        self.entries.iter().any(|e| e.iface == iface && e.direction == direction)
    }
}

/// One thing wrong with the file, at a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub message: String,
}

/// Everything wrong with a file: each problem as `FILE:LINE: MESSAGE`, one a line.
#[derive(Clone, Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, problem) in self.problems.iter().enumerate() {
            if n > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}: {}", self.path.display(), problem.line, problem.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDe {
    #[serde(default)]
    interface: BTreeMap<Spanned<String>, InterfaceDe>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InterfaceDe {
    ingress: Option<Spanned<DirectionDe>>,
    egress: Option<Spanned<DirectionDe>>,
}

type Key = Option<Spanned<Value>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct DirectionDe {
    cir: Key,
    cbs: Key,
    ebs: Key,
    key: Key,
    mode: Key,
    yellow: Key,
    red: Key,
    hook: Key,
    xdp_mode: Key,
    max_flows: Key,
    /// Which address the plans match: src or dst.
    #[serde(rename = "match")]
    match_: Key,
    /// The plans: a table of prefixes, each a table of profile keys.
    plan: Key,
}

/// Reads and checks the file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        path: path.to_path_buf(),
        problems: vec![Problem { line: 0, message: format!("cannot read the file: {e}") }],
    })?;
    parse(path, &text)
}

/// Checks `text`, the contents of the file at `path` (named in errors).
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let fail = |problems| ConfigError { path: path.to_path_buf(), problems };
    let file: FileDe = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |span| line_of(text, span.start));
        fail(vec![Problem { line, message: e.message().trim_end().to_string() }])
    })?;
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for (name, iface) in file.interface {
        let name_line = line_of(text, name.span().start);
        let name = name.into_inner();
        if let Err(e) = check_iface_name(&name) {
            problems.push(Problem { line: name_line, message: e });
            continue;
        }
        if iface.ingress.is_none() && iface.egress.is_none() {
            problems.push(Problem {
                line: name_line,
                message: format!(
                    "interface.{name}: no policer declared: add [interface.{name}.ingress] \
                     or [interface.{name}.egress]"
                ),
            });
        }
        for (direction, table) in
            [(Direction::Ingress, iface.ingress), (Direction::Egress, iface.egress)]
        {
            let Some(table) = table else { continue };
            let line = line_of(text, table.span().start);
            let mut reader = EntryReader { text, problems: Vec::new(), key_lines: BTreeMap::new() };
            let entry = reader.entry(&name, direction, line, table.into_inner());
            match entry {
                Some(entry) if reader.problems.is_empty() => entries.push(entry),
                _ => problems.extend(reader.problems),
            }
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        return Err(fail(problems));
    }
    Ok(Config { path: path.to_path_buf(), entries })
}

/// The 1-based line of byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

fn check_iface_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 15 || name.contains(['/', '\0', ' ']) || name == "." {
        return Err(format!(
            "interface.{name:?}: invalid interface name (1 to 15 characters, no '/' or spaces)"
        ));
    }
    Ok(())
}

/// Reads one `[interface.NAME.DIRECTION]` table, collecting every problem.
struct EntryReader<'a> {
    text: &'a str,
    problems: Vec<Problem>,
    key_lines: BTreeMap<&'static str, usize>,
}

impl EntryReader<'_> {
    fn entry(
        &mut self,
        iface: &str,
        direction: Direction,
        line: usize,
        table: DirectionDe,
    ) -> Option<Entry> {
        let plan_match = self.value(&table.match_, "match", |v| word(v, profile::parse_plan_match));
        let plans = self.plans(&table.plan);
        let request = ProfileRequest {
            cir_bits: self.value(&table.cir, "cir", |v| text_or_number(v, Quantity::Rate)),
            cbs: self.value(&table.cbs, "cbs", |v| text_or_number(v, Quantity::Burst)),
            ebs: self.value(&table.ebs, "ebs", |v| text_or_number(v, Quantity::Burst)),
            key_mode: self.value(&table.key, "key", |v| word(v, profile::parse_key_mode)),
            mode: self.value(&table.mode, "mode", |v| word(v, profile::parse_mode)),
            yellow: self.value(&table.yellow, "yellow", |v| word(v, profile::parse_action)),
            red: self.value(&table.red, "red", |v| word(v, profile::parse_action)),
        };
        let hook = self.value(&table.hook, "hook", |v| word(v, parse_hook));
        let xdp_mode = self.value(&table.xdp_mode, "xdp-mode", |v| word(v, parse_xdp_mode));
        let max_flows = self.value(&table.max_flows, "max-flows", max_flows);
        if request.cir_bits.is_none() && table.cir.is_none() {
            self.problems.push(Problem {
                line,
                message: format!(
                    "[interface.{iface}.{}]: cir is missing: every policer needs a committed \
                     rate (cir = \"10mbit\")",
                    direction.name()
                ),
            });
        }
        let is_xdp = hook.unwrap_or(direction == Direction::Ingress);
        let hook = if is_xdp && direction == Direction::Egress {
            self.problem_at(
                "hook",
                "hook = \"xdp\": XDP sees only received packets: police egress with hook = \"tc\"",
            );
            return None;
        } else if is_xdp {
            Hook::Xdp(xdp_mode.unwrap_or_default())
        } else if xdp_mode.is_some() {
            self.problem_at("xdp-mode", "xdp-mode: applies only to hook = \"xdp\"");
            return None;
        } else {
            Hook::Tc
        };
        if !self.problems.is_empty() {
            return None;
        }
        // What the machine cannot change: the profile is whole. (Its bursts are checked
        // again against the interface's own frame size when the file is applied.)
        if let Err(e) = request.resolve_new(STANDARD_FRAME) {
            let message = e.to_string();
            let key = key_of_profile_error(&message);
            let line = self.key_lines.get(key).copied().unwrap_or(line);
            self.problems.push(Problem { line, message: format!("{key}: {message}") });
            return None;
        }
        Some(Entry {
            iface: iface.to_string(),
            direction,
            line,
            request,
            hook,
            max_flows: max_flows.unwrap_or(policer_common::DEFAULT_MAX_FLOWS),
            plan_match: plan_match.unwrap_or(policer_common::plan_match::SRC),
            plans,
            key_lines: std::mem::take(&mut self.key_lines),
        })
    }

    /// Reads key `name`, if given, with `parse`; a problem names its line, key and value.
    fn value<T>(
        &mut self,
        value: &Key,
        name: &'static str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        let value = value.as_ref()?;
        let line = line_of(self.text, value.span().start);
        self.key_lines.insert(name, line);
        match parse(value.get_ref()) {
            Ok(parsed) => Some(parsed),
            Err(why) => {
                self.problems.push(Problem {
                    line,
                    message: format!("{name} = {}: {why}", show(value.get_ref())),
                });
                None
            }
        }
    }

    /// The `plan` table: each prefix with its profile keys, checked as `plan add` checks them.
    fn plans(&mut self, value: &Key) -> Vec<PlanEntry> {
        let Some(value) = value else { return Vec::new() };
        let table_line = line_of(self.text, value.span().start);
        let Value::Table(table) = value.get_ref() else {
            let message = "plan: expected tables of prefixes: [interface.NAME.DIRECTION.plan.\"10.1.0.0/16\"]";
            self.problems.push(Problem { line: table_line, message: message.into() });
            return Vec::new();
        };
        let mut plans = Vec::new();
        for (text, keys) in table {
            // The line of the prefix's table header (quoted in TOML), else of `plan`.
            let line = self
                .text
                .find(&format!("\"{text}\""))
                .map_or(table_line, |at| line_of(self.text, at));
            let mut problem = |message: String| {
                self.problems.push(Problem { line, message: format!("plan.\"{text}\": {message}") })
            };
            let prefix = match text.parse::<crate::plans::Prefix>() {
                Ok(prefix) => prefix,
                Err(e) => {
                    problem(e.to_string());
                    continue;
                }
            };
            let Value::Table(keys) = keys else {
                problem("expected a table of profile keys (cir = \"50mbit\", ...)".into());
                continue;
            };
            let mut request = ProfileRequest::default();
            let mut bad = false;
            for (key, value) in keys {
                let parsed: Result<(), String> = match key.as_str() {
                    "cir" => {
                        text_or_number(value, Quantity::Rate).map(|v| request.cir_bits = Some(v))
                    }
                    "cbs" => text_or_number(value, Quantity::Burst).map(|v| request.cbs = Some(v)),
                    "ebs" => text_or_number(value, Quantity::Burst).map(|v| request.ebs = Some(v)),
                    "key" => {
                        word(value, profile::parse_key_mode).map(|v| request.key_mode = Some(v))
                    }
                    "mode" => word(value, profile::parse_mode).map(|v| request.mode = Some(v)),
                    "yellow" => {
                        word(value, profile::parse_action).map(|v| request.yellow = Some(v))
                    }
                    "red" => word(value, profile::parse_action).map(|v| request.red = Some(v)),
                    other => Err(format!(
                        "unknown key {other:?}: a plan takes cir, cbs, ebs, key, mode, yellow, red"
                    )),
                };
                if let Err(why) = parsed {
                    problem(format!("{key} = {}: {why}", show(value)));
                    bad = true;
                }
            }
            if bad {
                continue;
            }
            if request.cir_bits.is_none() {
                problem("cir is missing: every plan needs a committed rate".into());
                continue;
            }
            if let Err(e) = request.resolve_new(STANDARD_FRAME) {
                problem(e.to_string());
                continue;
            }
            plans.push(PlanEntry { prefix, request, line });
        }
        if plans.len() > policer_common::MAX_PLANS as usize {
            self.problems.push(Problem {
                line: table_line,
                message: format!(
                    "plan: {} plans; a policer holds at most {}",
                    plans.len(),
                    policer_common::MAX_PLANS
                ),
            });
        }
        plans
    }

    fn problem_at(&mut self, key: &'static str, message: &str) {
        let line = self.key_lines.get(key).copied().unwrap_or(1);
        self.problems.push(Problem { line, message: message.to_string() });
    }
}

/// A value as it is written in TOML.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Which key of a profile an error of `ProfileRequest::resolve_new` is about.
fn key_of_profile_error(message: &str) -> &'static str {
    if message.starts_with("ebs") {
        "ebs"
    } else if message.starts_with("cbs") || message.starts_with("bursts") {
        "cbs"
    } else {
        "cir"
    }
}

/// A rate or burst: a string in tc units, or a bare integer (bit/s for a rate, bytes for a
/// burst, as on the command line).
fn text_or_number<T: FromUnits>(value: &Value, quantity: Quantity) -> Result<T, String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Integer(n) => n.to_string(),
        _ => {
            return Err(format!(
                "not a {quantity}: expected a string in tc units (\"{}\")",
                match quantity {
                    Quantity::Rate => "10mbit",
                    _ => "100ms",
                }
            ));
        }
    };
    T::parse(&text).map_err(|e| {
        // "invalid rate \"fast\": not a number" -> "not a rate (not a number)"
        let full = e.to_string();
        let prefix = format!("invalid {quantity} {text:?}: ");
        let why = full.strip_prefix(&prefix).unwrap_or(&full);
        format!("not a {quantity} ({why})")
    })
}

trait FromUnits: Sized {
    fn parse(text: &str) -> Result<Self, UnitError>;
}

impl FromUnits for u64 {
    fn parse(text: &str) -> Result<Self, UnitError> {
        units::parse_rate(text)
    }
}

impl FromUnits for units::Burst {
    fn parse(text: &str) -> Result<Self, UnitError> {
        units::parse_burst(text)
    }
}

/// A word (`src`, `drop`...) read by the CLI's own parser.
fn word<T>(value: &Value, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, String> {
    match value {
        Value::String(s) => parse(s),
        _ => Err("expected a string".into()),
    }
}

/// `true` for XDP.
fn parse_hook(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "xdp" => Ok(true),
        "tc" => Ok(false),
        _ => Err(format!("invalid hook {text:?}: expected xdp or tc")),
    }
}

fn parse_xdp_mode(text: &str) -> Result<XdpModeChoice, String> {
    match text.to_ascii_lowercase().as_str() {
        "auto" => Ok(XdpModeChoice::Auto),
        "native" => Ok(XdpModeChoice::Native),
        "generic" => Ok(XdpModeChoice::Generic),
        _ => Err(format!("invalid XDP mode {text:?}: expected auto, native or generic")),
    }
}

fn max_flows(value: &Value) -> Result<u32, String> {
    match value {
        Value::Integer(n) if (1..=MAX_FLOWS_LIMIT as i64).contains(n) => Ok(*n as u32),
        Value::Integer(_) => Err(format!("expected a number of flows from 1 to {MAX_FLOWS_LIMIT}")),
        _ => Err("expected an integer".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> String {
        parse(Path::new("p.toml"), text).expect_err("should fail").to_string()
    }

    #[test]
    fn reads_the_issue_example() {
        let text = r#"
[interface.eth0.ingress]
cir = "10mbit"        # tc units, as on the command line
cbs = "100ms"
key = "src"

[interface.eth0.egress]
cir = "50mbit"
"#;
        let config = parse(Path::new("p.toml"), text).unwrap();
        assert_eq!(config.entries.len(), 2);
        let ingress = &config.entries[0];
        assert_eq!((ingress.iface.as_str(), ingress.direction), ("eth0", Direction::Ingress));
        assert_eq!(ingress.line, 2);
        assert_eq!(ingress.request.cir_bits, Some(10_000_000));
        assert_eq!(ingress.request.key_mode, Some(policer_common::key_mode::SRC));
        assert_eq!(ingress.hook, Hook::Xdp(XdpModeChoice::Auto));
        assert_eq!(config.entries[1].hook, Hook::Tc);
        assert_eq!(config.entries[1].line, 7);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let text = "[interface.eth0.ingress]\ncir = \"fast\"\n";
        assert_eq!(errors(text), "p.toml:2: cir = \"fast\": not a rate (not a number)");
    }

    #[test]
    fn every_bad_value_is_reported() {
        let text = "[interface.eth0.ingress]\ncir = \"1mbit\"\nkey = \"port\"\nred = \"boom\"\n\
                    max-flows = 0\n[interface.eth1.egress]\ncir = \"1mbit\"\nhook = \"xdp\"\n";
        let text = errors(text);
        for expected in [
            "p.toml:3: key = \"port\": invalid key",
            "p.toml:4: red = \"boom\": invalid action",
            "p.toml:5: max-flows = 0: expected a number of flows",
            "p.toml:8: hook = \"xdp\": XDP sees only received packets",
        ] {
            assert!(text.contains(expected), "{expected:?} not in {text}");
        }
    }

    #[test]
    fn unknown_keys_and_syntax_errors_have_lines() {
        let text = errors("[interface.eth0.ingress]\ncir = \"1mbit\"\nmax_flows = 5\n");
        assert!(text.starts_with("p.toml:3: unknown field `max_flows`"), "{text}");
        let text = errors("[interface.eth0.ingres]\ncir = \"1mbit\"\n");
        assert!(text.starts_with("p.toml:1: unknown field `ingres`"), "{text}");
        let text = errors("[interface.eth0.ingress]\ncir = \"1mbit\n");
        assert!(text.starts_with("p.toml:2: "), "{text}");
        let text = errors("[interface.eth0.ingress]\ncbs = \"1ms\"\n");
        assert!(text.contains("p.toml:1: [interface.eth0.ingress]: cir is missing"), "{text}");
    }

    #[test]
    fn profile_errors_point_at_their_key() {
        let text = errors("[interface.eth0.ingress]\ncir = \"1mbit\"\n\ncbs = 100\n");
        assert!(text.starts_with("p.toml:4: cbs: cbs of 100 bytes is below"), "{text}");
    }

    #[test]
    fn plans_are_tables_of_prefixes_with_their_reasons() {
        let text = "[interface.eth0.ingress]\ncir = \"1mbit\"\nmatch = \"dst\"\n\
                    [interface.eth0.ingress.plan.\"10.0.0.0/8\"]\ncir = \"2mbit\"\nkey = \"all\"\n\
                    [interface.eth0.ingress.plan.\"2001:db8::/32\"]\ncir = \"3mbit\"\n";
        let config = parse(Path::new("p.toml"), text).unwrap();
        let entry = &config.entries[0];
        assert_eq!(entry.plan_match, policer_common::plan_match::DST);
        let plans: Vec<String> = entry.plans.iter().map(|p| p.prefix.to_string()).collect();
        assert_eq!(plans, ["10.0.0.0/8", "2001:db8::/32"]);
        assert_eq!(entry.plans[0].request.key_mode, Some(policer_common::key_mode::ALL));
        assert_eq!(entry.plans[0].line, 4);

        let text = errors(
            "[interface.eth0.ingress]\ncir = \"1mbit\"\nmatch = \"up\"\n\
             [interface.eth0.ingress.plan.\"10.0.0.1/8\"]\ncir = \"2mbit\"\n\
             [interface.eth0.ingress.plan.\"10.1.0.0/16\"]\ncbs = \"1k\"\n\
             [interface.eth0.ingress.plan.\"10.2.0.0/16\"]\ncir = \"2mbit\"\nburst = 3\n",
        );
        assert!(text.contains("p.toml:3: match = \"up\": invalid match"), "{text}");
        assert!(text.contains("p.toml:4: plan.\"10.0.0.1/8\": invalid prefix"), "{text}");
        assert!(text.contains("host bits are set"), "{text}");
        assert!(text.contains("p.toml:6: plan.\"10.1.0.0/16\": cir is missing"), "{text}");
        assert!(text.contains("p.toml:8: plan.\"10.2.0.0/16\": burst = 3: unknown key"), "{text}");
    }

    #[test]
    fn integers_are_bare_numbers() {
        let config =
            parse(Path::new("p.toml"), "[interface.eth0.egress]\ncir = 8000000\nebs = 0\n")
                .unwrap();
        assert_eq!(config.entries[0].request.cir_bits, Some(8_000_000));
        assert_eq!(config.entries[0].request.ebs, Some(units::Burst::Bytes(0)));
    }
}
