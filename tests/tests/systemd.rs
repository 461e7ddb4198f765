//! dist/systemd: the unit files pass `systemd-analyze verify`, and the command lines of
//! policer.service (ExecStart, ExecReload), taken from the unit file itself, make a
//! namespace's policers match a file.

use std::{fs, path::PathBuf, process::Command};

use policer_tests::{PolicerGuard, TempDir, Testbed, policer_bin, succeeded, text};

/// Where the unit files are.
fn units_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist/systemd")
}

const UNITS: [&str; 2] = ["policer.service", "policer-export.service"];
/// The file the units apply, and the binary they run, as the README installs them.
const POLICY: &str = "/etc/policer/policer.toml";
const BINARY: &str = "/usr/local/bin/policer";

/// The value of `key=` in the unit file `unit`, which must be there once.
fn unit_setting(unit: &str, key: &str) -> String {
    let path = units_dir().join(unit);
    let contents = fs::read_to_string(&path).expect("read the unit file");
    let prefix = format!("{key}=");
    let values: Vec<&str> =
        contents.lines().filter_map(|line| line.trim().strip_prefix(&prefix)).collect();
    assert_eq!(values.len(), 1, "{unit} must set {key} once: {values:?}");
    values[0].trim().to_string()
}

#[test]
fn the_unit_files_verify() {
    // A root of the machine's own units (sysinit.target...), the binary where the units
    // expect it, and ours: `--root` checks the ExecStart binary there, not on this machine.
    let root = TempDir::new("units");
    let system = root.path.join("usr/lib/systemd");
    fs::create_dir_all(&system).unwrap();
    let copied = Command::new("cp")
        .args(["-a", "/usr/lib/systemd/system"])
        .arg(&system)
        .status()
        .expect("cp");
    assert!(copied.success());
    let bin = root.path.join(BINARY.trim_start_matches('/'));
    fs::create_dir_all(bin.parent().unwrap()).unwrap();
    fs::copy(policer_bin(), &bin).expect("copy the binary");
    let etc = root.path.join("etc/systemd/system");
    fs::create_dir_all(&etc).unwrap();
    for unit in UNITS {
        fs::copy(units_dir().join(unit), etc.join(unit)).expect("copy the unit");
    }
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.path.display()))
        .args(UNITS)
        .output()
        .expect("systemd-analyze (scripts/setup.sh installs systemd)");
    let said = text(&output);
    assert!(output.status.success(), "systemd-analyze verify failed: {said}");
    // It exits 0 on keys it ignores (a misspelt one, a bad value): none may be there.
    assert!(said.trim().is_empty(), "systemd-analyze verify warned: {said}");

    assert_eq!(unit_setting("policer.service", "Type"), "oneshot");
    assert_eq!(unit_setting("policer.service", "RemainAfterExit"), "yes");
    assert!(unit_setting("policer.service", "After").contains("network-online.target"));
    assert!(unit_setting("policer.service", "Wants").contains("network-online.target"));
    let start = unit_setting("policer.service", "ExecStart");
    assert!(start.starts_with(&format!("{BINARY} apply --prune")), "{start}");
    assert!(start.ends_with(POLICY), "{start}");
    assert!(unit_setting("policer-export.service", "ExecStart").contains(" export --listen "));
    // The udev hook reloads the unit (its ExecReload, run by the test below) when an
    // interface appears.
    let rules = fs::read_to_string(units_dir().join("90-policer.rules")).expect("the udev rule");
    let rule = rules.lines().find(|l| !l.starts_with('#') && !l.trim().is_empty()).unwrap();
    for part in ["ACTION==\"add\"", "SUBSYSTEM==\"net\"", "try-reload-or-restart policer.service"] {
        assert!(rule.contains(part), "{part} not in the udev rule {rule}");
    }
    assert_eq!(unit_setting("policer.service", "ExecReload"), start, "reload applies as start");
}

/// The unit's command line `key` with the file swapped for `policy` and the binary for
/// this build's, run in `bed`'s receiving namespace (as systemd runs it on a host).
fn run_unit_command(bed: &Testbed, key: &str, policy: &str) -> String {
    let line = unit_setting("policer.service", key);
    assert!(!line.contains(['"', '\'', '\\', '$', '%']), "{key} needs a shell to split: {line}");
    let mut argv: Vec<String> = line.split_whitespace().map(String::from).collect();
    assert_eq!(argv[0], BINARY, "{key}");
    assert_eq!(argv.iter().filter(|a| *a == POLICY).count(), 1, "{key} applies {POLICY}");
    for arg in &mut argv[1..] {
        if arg == POLICY {
            *arg = policy.to_string();
        }
    }
    let output = Command::new("nsenter")
        .arg(format!("--net={}", bed.b.path().display()))
        .arg(policer_bin())
        .args(&argv[1..])
        .output()
        .expect("run nsenter");
    assert!(output.status.success(), "{key} {argv:?} failed: {}", text(&output));
    text(&output)
}

#[test]
fn exec_start_and_exec_reload_apply_the_file_in_a_namespace() {
    let bed = Testbed::new();
    let (x, _) = bed.b.veth_pair();
    let _guard = PolicerGuard::new(&bed.b, &x);
    let b = bed.b_if.as_str();
    // A policer from before the boot's apply, on an interface the file does not name.
    succeeded(bed.b.policer(["attach", &x, "--cir", "1mbit"]), || "attach x".into());
    let dir = TempDir::new("unit");
    // An interface that appears later: a warning at boot, not a failure.
    let later = format!("nl{}", std::process::id());
    let policy = |cir: &str| {
        format!(
            "[interface.{b}.ingress]\ncir = \"{cir}\"\n\n[interface.{later}.ingress]\n\
             cir = \"1mbit\"\n"
        )
    };
    let file = dir.write("policer.toml", &policy("10mbit"));
    let file = file.to_str().unwrap();

    let said = run_unit_command(&bed, "ExecStart", file);
    assert!(said.contains(&format!("{b} ingress: attached")), "{said}");
    assert!(said.contains(&format!("{x} ingress: detached")), "{said}");
    assert!(said.contains(&format!("interface {later} does not exist")), "{said}");
    let stats = bed.stats();
    assert_eq!(stats["profile"]["cir_bps"], 10_000_000);
    assert!(!bed.b.policer(["stats", &x]).status.success(), "--prune left {x} policed");
    let program = policer_tests::xdp_prog_id(&bed.b, b).expect("attached");

    // Reload after an edit: the rate changes live, the program stays.
    dir.write("policer.toml", &policy("20mbit"));
    let said = run_unit_command(&bed, "ExecReload", file);
    assert!(said.contains(&format!("{b} ingress: changed live")), "{said}");
    assert_eq!(bed.stats()["profile"]["cir_bps"], 20_000_000);
    assert_eq!(policer_tests::xdp_prog_id(&bed.b, b), Some(program));
    let said = run_unit_command(&bed, "ExecStart", file);
    assert!(said.contains("nothing to change: 1 policer matches"), "{said}");
}
