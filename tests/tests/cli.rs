//! The CLI's errors: each exits non-zero with a specific message and changes nothing; and
//! `detach` leaves nothing behind.

use aya::programs::{Xdp, XdpMode};
use policer_common::PROG_XDP_PASS;
use policer_tests::{
    Netns, Testbed, failed_with, pin_dir, policer_bin, run, run_ok, text, xdp_prog_id,
};

/// What a command could have changed on the receiver's interface: its pins, the programs
/// attached to it (XDP, TC, TCX: `bpftool net`), its qdiscs. (Maps live only in pins and
/// programs here.)
fn state(bed: &Testbed) -> (Vec<String>, String, String) {
    let mut pins = Vec::new();
    if let Ok(entries) = std::fs::read_dir(pin_dir(&bed.b_if)) {
        pins.extend(entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()));
    }
    let net = bed.b.exec_ok("bpftool", ["net", "show", "dev", &bed.b_if]);
    let qdiscs = bed.b.exec_ok("tc", ["qdisc", "show", "dev", &bed.b_if]);
    (pins, net, qdiscs)
}

/// Runs `policer args` in the receiver's namespace and checks it fails with `message` and
/// changes nothing: no pins, no program attached, the qdiscs as they were.
fn fails_cleanly(bed: &Testbed, args: &[&str], message: &str) {
    let before = state(bed);
    failed_with(&bed.b.policer(args), format!("policer {args:?}"), &[message]);
    assert_eq!(state(bed), before, "policer {args:?} changed the machine");
    assert!(!pin_dir(&bed.b_if).exists(), "policer {args:?} left pins");
    assert_eq!(xdp_prog_id(&bed.b, &bed.b_if), None, "policer {args:?} left an XDP program");
}

#[test]
fn bad_rates_and_bursts_are_refused() {
    let bed = Testbed::new();
    let iface = bed.b_if.as_str();
    let cases: &[(&[&str], &str)] = &[
        (&["--cir", ""], "empty"),
        (&["--cir", "0"], "greater than zero"),
        (&["--cir", "-1mbit"], "negative"),
        (&["--cir", "fast"], "not a number"),
        (&["--cir", "5xyz"], "unknown unit \"xyz\""),
        (&["--cir", "99999999999999999999999"], "too large"),
        (&["--cir", "20000000tbit"], "too large"),
        (&["--cir", "4bit"], "below the smallest rate"),
        (&["--cir", "2tbit"], "above the largest"),
        (&["--cir", "1mbit", "--cbs", "100"], "cbs of 100 bytes is below one maximum-size frame"),
        (&["--cir", "1mbit", "--cbs", "1ms"], "below one maximum-size frame"),
        (&["--cir", "1mbit", "--ebs", "1000"], "ebs of 1000 bytes is below"),
        (&["--cir", "1mbit", "--cbs", "5gb"], "bursts are limited to"),
        (&["--cir", "1mbit", "--cbs", "lots"], "invalid burst"),
        (&["--cir", "1mbit", "--key", "port"], "expected 5tuple, src, dst or all"),
        (&["--cir", "1mbit", "--red", "explode"], "expected pass, drop, ecn or dscp=N"),
        (&["--cir", "1mbit", "--yellow", "dscp=64"], "expected a number from 0 to 63"),
        (&["--cir", "1mbit", "--red", "dscp=-1"], "expected a number from 0 to 63"),
        (&["--cir", "1mbit", "--max-flows", "0"], "max-flows"),
        (&[], "needs a committed rate"),
        (&["--cir", "1.5.5mbit"], "not a number"),
        (&["--cir", "1e6"], "not a number"),
        (&["--cir", "1mbit", "--cbs", "99999999999s"], "too large"),
        (&["--cir", "1mbit", "--cbs", "-5"], "negative"),
        (&["--cir", "1mbit", "--ebs", "1e3"], "not a number"),
        (&["--cir", "1mbit", "--cbs", ""], "empty"),
        (&["--cir", "1mbit", "--max-flows", "1.5"], "invalid value '1.5'"),
        (&["--cir", "1mbit", "--max-flows", "99999999999"], "invalid value"),
        (&["--cir", "1mbit", "--key", ""], "invalid key"),
        (&["--cir", "1mbit", "--direction", "sideways"], "invalid value 'sideways'"),
        (&["--cir", "1mbit", "--hook", "ebpf"], "invalid value 'ebpf'"),
        (&["--cir", "1mbit", "--xdp-mode", "turbo"], "invalid value 'turbo'"),
        (&["--cir", "1mbit", "--yellow", ""], "invalid action"),
        (&["--cir", "1mbit", "--cir", "2mbit"], "cannot be used multiple times"),
        (&["--cir", "1mbit", "--mode", "fast"], "expected tcp, len-debt or junose"),
    ];
    for (flags, message) in cases {
        let mut args = vec!["attach", iface];
        args.extend_from_slice(flags);
        fails_cleanly(&bed, &args, message);
    }
}

#[test]
fn other_commands_refuse_garbage_too() {
    let bed = Testbed::new();
    let iface = bed.b_if.as_str();
    fails_cleanly(&bed, &["attach", "--cir", "1mbit"], "required");
    fails_cleanly(&bed, &["flows", iface, "--top", "-1"], "unexpected argument '-1'");
    fails_cleanly(&bed, &["flows", iface, "--top", "x"], "invalid value 'x'");
    fails_cleanly(&bed, &["stats", iface, "--direction", "up"], "invalid value 'up'");
    fails_cleanly(&bed, &["log", iface, "--timeout", "soon"], "invalid value 'soon'");
    fails_cleanly(&bed, &["attach", "", "--cir", "1mbit"], "invalid interface name");
    fails_cleanly(&bed, &["attach", "a/b", "--cir", "1mbit"], "invalid interface name");
    fails_cleanly(
        &bed,
        &["attach", "sixteen_chars_xx", "--cir", "1mbit"],
        "invalid interface name",
    );
    fails_cleanly(&bed, &["simulate", "--cir", "1mbit"], "required");
    fails_cleanly(&bed, &["frobnicate"], "unrecognized subcommand");
    // With a policer attached: a bad `set` changes nothing either.
    bed.attach(&["--cir", "1mbit"]);
    let before = bed.stats()["profile"].clone();
    for (args, message) in [
        (vec!["set", iface, "--cir", "0"], "greater than zero"),
        (vec!["set", iface, "--red", "ecn=1"], "invalid action"),
        (vec!["set", iface, "--direction", "egress", "--cir", "2mbit"], "no policer is attached"),
        (vec!["detach", iface, "--direction", "egress"], "no policer is attached"),
    ] {
        failed_with(&bed.b.policer(&args), format!("{args:?}"), &[message]);
        assert_eq!(bed.stats()["profile"], before, "{args:?}");
    }
    assert!(xdp_prog_id(&bed.b, &bed.b_if).is_some(), "the policer stays attached");
}

#[test]
fn unknown_interface_is_refused() {
    let bed = Testbed::new();
    fails_cleanly(&bed, &["attach", "nosuchif0", "--cir", "1mbit"], "\"nosuchif0\" does not exist");
    for command in ["stats", "flows", "detach"] {
        fails_cleanly(&bed, &[command, "nosuchif0"], "no policer is attached to nosuchif0");
    }
}

#[test]
fn commands_on_an_interface_without_policer_are_refused() {
    let bed = Testbed::new();
    let iface = bed.b_if.as_str();
    let message = format!("no policer is attached to {iface}");
    fails_cleanly(&bed, &["stats", iface], &message);
    fails_cleanly(&bed, &["flows", iface, "--json"], &message);
    fails_cleanly(&bed, &["set", iface, "--cir", "2mbit"], &message);
    fails_cleanly(&bed, &["detach", iface], &message);
}

#[test]
fn running_without_root_is_refused() {
    let bed = Testbed::new();
    let output = run(
        "nsenter",
        [
            format!("--net={}", bed.b.path().display()),
            "setpriv".into(),
            "--reuid=65534".into(),
            "--regid=65534".into(),
            "--clear-groups".into(),
            policer_bin().display().to_string(),
            "attach".into(),
            bed.b_if.clone(),
            "--cir".into(),
            "1mbit".into(),
        ],
    );
    failed_with(&output, "attach as uid 65534", &["needs root"]);
    assert!(!pin_dir(&bed.b_if).exists());
    assert_eq!(xdp_prog_id(&bed.b, &bed.b_if), None);
}

#[test]
fn a_foreign_xdp_program_is_never_replaced() {
    let bed = Testbed::new();
    // Someone else's XDP program, attached from this test process inside the namespace.
    let mut ebpf = aya::Ebpf::load(policer::ebpf_object()).expect("load object");
    let program: &mut Xdp =
        ebpf.program_mut(PROG_XDP_PASS).unwrap().try_into().expect("an XDP program");
    program.load().expect("load xdp_pass");
    bed.b.enter(|| program.attach(&bed.b_if, XdpMode::Skb).expect("attach foreign XDP"));
    let foreign = xdp_prog_id(&bed.b, &bed.b_if).expect("foreign program attached");

    let output = bed.b.policer(["attach", &bed.b_if, "--cir", "1mbit"]);
    let names_it = format!("id {foreign}");
    failed_with(
        &output,
        "attach over a foreign program",
        &["already carries an XDP program that is not ours", &names_it],
    );
    assert_eq!(xdp_prog_id(&bed.b, &bed.b_if), Some(foreign), "the foreign program stays");
    assert!(!pin_dir(&bed.b_if).exists());
    drop(ebpf);
}

#[test]
fn a_second_attach_is_refused_and_changes_nothing() {
    let bed = Testbed::new();
    bed.attach(&["--cir", "1mbit"]);
    let prog = xdp_prog_id(&bed.b, &bed.b_if).expect("attached");
    let before = bed.stats();
    let output = bed.b.policer(["attach", &bed.b_if, "--cir", "5mbit"]);
    failed_with(&output, "second attach", &["already attached", "use `policer set"]);
    assert_eq!(xdp_prog_id(&bed.b, &bed.b_if), Some(prog));
    assert_eq!(bed.stats()["profile"], before["profile"]);
}

#[test]
fn attach_reports_how_it_read_the_input_and_what_it_set() {
    let bed = Testbed::new();
    let output = bed.b.policer(["attach", &bed.b_if, "--cir", "1mbps", "--cbs", "200ms"]);
    assert!(output.status.success(), "{}", text(&output));
    let message = text(&output);
    // tc's mbps is megabytes per second: say so.
    assert!(message.contains("read --cir as 8Mbit (8000000 bit/s)"), "{message}");
    assert!(message.contains("cbs 200000b (200.0ms)"), "{message}");
    assert!(message.contains("ebs 400000b (400.0ms)"), "{message}");
    assert!(message.contains("(ingress, XDP native)"), "{message}");
    let tables = "flows: 65536 IPv4 slots, and 65536 in the LRU table (IPv6, IPv4 without a slot)";
    assert!(message.contains(tables), "{message}");
    let stats = bed.stats();
    // 65,536 slots (a 64-byte state, a quarter of a 64-byte line of keys) and an LRU table
    // of 65,536 entries (a 48-byte kernel header, 40-byte key and 64-byte state),
    // preallocated: at least those, and not wildly more.
    let memory = stats["memory_bytes"].as_u64().expect("stats --json has memory_bytes");
    let entries = 65_536 * ((64 + 16) + (48 + 40 + 64));
    assert!((entries..3 * entries).contains(&memory), "memory {memory} for {entries}");
    assert_eq!(stats["profile"]["cir_bps"], 8_000_000);
    assert_eq!(stats["profile"]["cbs_bytes"], 200_000);
    let listed = bed.policer_ok(&["list", "--json"]);
    assert!(listed.contains(&bed.b_if), "list shows the policer: {listed}");
}

#[test]
fn detach_leaves_no_pins_no_program_and_no_namespace() {
    let bed = Testbed::new();
    let names = [bed.a.name.clone(), bed.b.name.clone()];
    bed.attach(&["--cir", "1mbit"]);
    assert!(pin_dir(&bed.b_if).join("ingress/link").exists());
    assert!(xdp_prog_id(&bed.b, &bed.b_if).is_some());
    bed.policer_ok(&["detach", &bed.b_if]);
    assert!(!pin_dir(&bed.b_if).exists(), "pins removed");
    assert_eq!(xdp_prog_id(&bed.b, &bed.b_if), None, "program detached");
    drop(bed);
    let namespaces = run_ok("ip", ["netns", "list"]);
    for name in names {
        assert!(!namespaces.contains(&name), "namespace {name} removed");
    }
}

#[test]
fn the_mode_is_set_on_attach_changed_by_set_and_shown_by_stats() {
    let bed = Testbed::new();
    let out = bed.attach(&["--cir", "1mbit", "--mode", "len-debt"]);
    assert!(out.contains("mode len-debt"), "{out}");
    assert_eq!(bed.stats()["profile"]["mode"], "len-debt");
    bed.policer_ok(&["set", &bed.b_if, "--mode", "tcp"]);
    assert_eq!(bed.stats()["profile"]["mode"], "tcp");
    bed.policer_ok(&["set", &bed.b_if, "--mode", "len-debt"]);
    let profile = bed.stats()["profile"].clone();
    assert_eq!(
        (profile["mode"].as_str(), profile["cir_bps"].as_u64()),
        (Some("len-debt"), Some(1_000_000))
    );
    bed.policer_ok(&["set", &bed.b_if, "--mode", "JunosE"]);
    assert_eq!(bed.stats()["profile"]["mode"], "junose");
}

#[test]
fn the_default_mode_is_tcp_and_junose_with_long_bursts_is_warned_about() {
    let bed = Testbed::new();
    let out = text(&bed.b.policer(["attach", &bed.b_if, "--cir", "1mbit"]));
    assert!(out.contains("mode tcp") && !out.contains("warning"), "{out}");
    bed.policer_ok(&["detach", &bed.b_if]);
    // On egress too: no mode was sound there everywhere (docs/egress.md), so tcp stays.
    let egress = ["attach", &bed.b_if, "--direction", "egress", "--cir", "1mbit"];
    let out = text(&bed.b.policer(egress));
    assert!(out.contains("(egress,") && out.contains("mode tcp"), "{out}");
    let stats = bed.policer_ok(&["stats", &bed.b_if, "--direction", "egress", "--json"]);
    let stats: serde_json::Value = serde_json::from_str(&stats).expect("stats --json is JSON");
    assert_eq!(stats["profile"]["mode"], "tcp");
    bed.policer_ok(&["detach", &bed.b_if, "--direction", "egress"]);
    let args = ["attach", &bed.b_if, "--cir", "1mbit", "--mode", "junose", "--cbs", "1500ms"];
    let output = bed.b.policer(args);
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("warning: the exact JunosE rules with a burst of 3.0s"), "{out}");
}

#[test]
fn set_needs_something_to_change() {
    let bed = Testbed::new();
    bed.attach(&["--cir", "1mbit"]);
    failed_with(&bed.b.policer(["set", &bed.b_if]), "empty set", &["nothing to change"]);
    // A bad value leaves the profile as it was.
    let before = bed.stats()["profile"].clone();
    let output = bed.b.policer(["set", &bed.b_if, "--cbs", "10"]);
    failed_with(&output, "set --cbs 10", &["below one maximum-size frame"]);
    assert_eq!(bed.stats()["profile"], before);
}

/// Keeps `Netns` in use from this file (the harness is shared by all test files).
#[test]
fn a_namespace_is_removed_on_drop() {
    let ns = Netns::new();
    let name = ns.name.clone();
    drop(ns);
    assert!(!run_ok("ip", ["netns", "list"]).contains(&name));
}

#[test]
fn log_shows_why_frames_went_unpoliced() {
    let bed = Testbed::new();
    bed.attach(&["--cir", "1mbit"]);
    let follower = bed
        .b
        .policer_command(["log", &bed.b_if, "--timeout", "4"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("policer log");
    std::thread::sleep(std::time::Duration::from_millis(800));
    // Break the profile behind the CLI's back (a zero rate, which `set` would refuse): the
    // program must fail open, count it, and say so in its log.
    let mut policer = policer::Policer::open(&bed.b_if, None).expect("open");
    policer.set(&policer_common::Profile::default()).expect("write a zero profile");
    bed.a.exec_ok("ping", ["-c", "3", "-i", "0.2", "-W", "1", &bed.b_addr]);
    let output = follower.wait_with_output().expect("policer log");
    let log = text(&output);
    assert!(output.status.success(), "{log}");
    assert!(log.contains("no valid profile"), "the kernel's warning reaches `policer log`: {log}");
    let stats = bed.stats();
    assert!(stats["counters"]["no_profile"]["packets"].as_u64().unwrap() >= 3, "{stats}");
    assert_eq!(stats["counters"]["dropped"]["packets"], 0, "fails open");
}

#[test]
fn pins_of_the_first_layout_are_recognised_and_detach_removes_them() {
    let bed = Testbed::new();
    // Layout 1 had the link straight in IFACE/: fake one with a map pinned as `link`.
    let ebpf = aya::Ebpf::load(policer::ebpf_object()).expect("load object");
    let dir = pin_dir(&bed.b_if);
    std::fs::create_dir_all(&dir).unwrap();
    let map = ebpf.map(policer_common::MAP_PROFILE).unwrap();
    map.pin(dir.join("link")).expect("pin");
    drop(ebpf);
    for command in ["stats", "flows"] {
        failed_with(
            &bed.b.policer([command, &bed.b_if]),
            command,
            &["older policer (layout 1", "policer detach"],
        );
    }
    failed_with(
        &bed.b.policer(["attach", &bed.b_if, "--cir", "1mbit"]),
        "attach over layout 1",
        &["older policer (layout 1"],
    );
    bed.policer_ok(&["detach", &bed.b_if]);
    assert!(!dir.exists(), "detach removed the old pins");
}

/// `policer stats IFACE | head -1`: every command that prints ends quietly when its reader
/// goes away, as `cat` does (killed by SIGPIPE, or done): no panic, no "Broken pipe", no
/// backtrace.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt as _;

    let bed = Testbed::new();
    bed.attach(&["--cir", "1mbit"]);
    // Flows, so that `flows` has rows to print.
    bed.a.exec_ok("ping", ["-c", "3", "-i", "0.2", "-W", "1", &bed.b_addr]);
    let iface = bed.b_if.as_str();
    let commands: &[&[&str]] = &[
        &["stats", iface],
        &["stats", iface, "--json"],
        &["flows", iface],
        &["flows", iface, "--json"],
        &["list"],
        &["list", "--json"],
        &["completions", "bash"],
        &["man"],
        &["--help"],
    ];
    for args in commands {
        // The reader is gone before the first write, so every write fails with EPIPE.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let output = bed
            .b
            .policer_command(*args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run policer");
        // Warnings about policers of another version (other builds' tests on this machine)
        // are `list`'s to give; anything else on stderr is the pipe's doing.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said: Vec<&str> =
            stderr.lines().filter(|l| !l.contains("made by an incompatible version")).collect();
        assert!(said.is_empty(), "policer {args:?} into a closed pipe said: {stderr}");
        assert!(
            output.status.success() || output.status.signal() == Some(libc::SIGPIPE),
            "policer {args:?} into a closed pipe: {:?}",
            output.status
        );
    }
    // And as a user types it: the first line, and nothing on stderr.
    for (command, first) in [("stats", format!("policer on {iface} ")), ("flows", "flow ".into())] {
        let line = format!(
            "nsenter --net={} {} {command} {iface} | head -1",
            bed.b.path().display(),
            policer_bin().display()
        );
        let output = run("sh", ["-c", &line]);
        let (stdout, stderr) = (text_of(&output.stdout), text_of(&output.stderr));
        assert!(output.status.success() && stdout.starts_with(&first), "{line}: {stdout}");
        assert!(stderr.is_empty(), "{line} said: {stderr}");
    }
}

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `policer completions SHELL` and `policer man` work without root and name every command.
#[test]
fn completions_and_the_man_page_name_every_command() {
    let commands = ["attach", "set", "stats", "flows", "list", "detach", "simulate", "log"];
    for shell in ["bash", "zsh", "fish"] {
        let script = run_ok(policer_bin().to_str().unwrap(), ["completions", shell]);
        for command in commands {
            assert!(script.contains(command), "{shell} completions lack {command}");
        }
    }
    let page = run_ok(policer_bin().to_str().unwrap(), ["man"]);
    for command in commands {
        assert!(page.contains(&format!("policer\\-{command}(1)")), "man lacks {command}");
    }
    failed_with(
        &run(policer_bin().to_str().unwrap(), ["completions", "tcsh"]),
        "completions tcsh",
        &["invalid value 'tcsh'"],
    );
}
