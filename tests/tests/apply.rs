//! `policer apply FILE`: a file applied twice changes nothing the second time; a changed
//! rate is applied live (same program); `--prune` removes what the file dropped, and only in
//! its own network namespace; a bad file changes nothing and names its line; a step the
//! kernel refuses halfway is reported with what was done and what was not.

use std::process::Output;

use aya::programs::{Xdp, XdpMode};
use policer_common::PROG_XDP_PASS;
use policer_tests::{
    Netns, PolicerGuard, TempDir, Testbed, failed_with, pin_dir, succeeded, tc_method, text,
    xdp_prog_id,
};
use serde_json::Value;

fn apply(ns: &Netns, args: &[&str]) -> Output {
    let mut all = vec!["apply"];
    all.extend_from_slice(args);
    ns.policer(all)
}

fn apply_ok(ns: &Netns, args: &[&str]) -> String {
    succeeded(apply(ns, args), || format!("policer apply {args:?}"))
}

fn stats(ns: &Netns, iface: &str) -> Value {
    let out = succeeded(ns.policer(["stats", iface, "--json"]), || format!("stats {iface}"));
    serde_json::from_str(&out).expect("stats --json is JSON")
}

fn is_attached(ns: &Netns, iface: &str) -> bool {
    ns.policer(["stats", iface, "--json"]).status.success()
}

#[test]
fn a_file_is_applied_once_changed_live_and_pruned() {
    let bed = Testbed::new();
    let (x, y) = bed.b.veth_pair();
    let _guards = [PolicerGuard::new(&bed.b, &x), PolicerGuard::new(&bed.b, &y)];
    let dir = TempDir::new("apply");
    let b = bed.b_if.as_str();
    let policy = |cir: &str, key: &str| {
        format!(
            "[interface.{b}.ingress]\ncir = \"{cir}\"\ncbs = \"100ms\"\nkey = \"{key}\"\n\n\
             [interface.{x}.egress]\ncir = \"50mbit\"\n"
        )
    };
    let file = dir.write("p.toml", &policy("10mbit", "src"));
    let file = file.to_str().unwrap();

    let out = apply_ok(&bed.b, &[file]);
    assert!(out.contains(&format!("{b} ingress: attached (XDP")), "{out}");
    assert!(out.contains(&format!("{x} egress: attached ({})", tc_method())), "{out}");
    let profile = &stats(&bed.b, b)["profile"];
    assert_eq!(profile["cir_bps"], 10_000_000);
    assert_eq!(profile["key"], "src");
    assert_eq!(stats(&bed.b, &x)["profile"]["cir_bps"], 50_000_000);
    assert_eq!(stats(&bed.b, &x)["direction"], "egress");
    let program = xdp_prog_id(&bed.b, b).expect("XDP attached");

    // The same file again: nothing changes, and apply says so.
    let out = apply_ok(&bed.b, &[file]);
    assert!(out.contains("nothing to change: 2 policers match"), "{out}");
    let report: Value = serde_json::from_str(&apply_ok(&bed.b, &[file, "--json"])).unwrap();
    assert_eq!(report["changed"], false, "{report}");
    assert!(report["steps"].as_array().unwrap().iter().all(|s| s["action"] == "unchanged"));
    assert_eq!(xdp_prog_id(&bed.b, b), Some(program));

    // A new rate: --diff shows it and changes nothing; apply changes it live.
    dir.write("p.toml", &policy("20mbit", "src"));
    let diff = apply_ok(&bed.b, &[file, "--diff"]);
    assert!(diff.contains(&format!("~ {b} ingress: change live: cir 10Mbit -> 20Mbit")), "{diff}");
    assert!(diff.contains(&format!("= {x} egress: unchanged")), "{diff}");
    assert_eq!(stats(&bed.b, b)["profile"]["cir_bps"], 10_000_000, "--diff changed the rate");
    let out = apply_ok(&bed.b, &[file]);
    assert!(out.contains(&format!("{b} ingress: changed live")), "{out}");
    assert_eq!(stats(&bed.b, b)["profile"]["cir_bps"], 20_000_000);
    assert_eq!(xdp_prog_id(&bed.b, b), Some(program), "a live change keeps the program");

    // Policers the file does not name: left alone without --prune; with it, detached, but
    // only in apply's own network namespace.
    succeeded(bed.b.policer(["attach", &y, "--cir", "1mbit"]), || "attach y".into());
    succeeded(bed.a.policer(["attach", &bed.a_if, "--cir", "1mbit"]), || "attach a".into());
    apply_ok(&bed.b, &[file]);
    assert!(is_attached(&bed.b, &y), "apply without --prune detached {y}");
    let diff = apply_ok(&bed.b, &[file, "--prune", "--diff"]);
    assert!(diff.contains(&format!("- {y} ingress: detach")), "{diff}");
    assert!(is_attached(&bed.b, &y), "--diff detached {y}");
    let out = apply_ok(&bed.b, &[file, "--prune"]);
    assert!(out.contains(&format!("{y} ingress: detached")), "{out}");
    assert!(!out.contains(&bed.a_if), "apply --prune touched another namespace: {out}");
    assert!(!is_attached(&bed.b, &y) && !pin_dir(&y).exists(), "{y} still policed");
    assert!(is_attached(&bed.a, &bed.a_if), "--prune detached a policer of another namespace");
    assert!(is_attached(&bed.b, b) && is_attached(&bed.b, &x));

    // A new key is a new attach: the program is replaced, and apply says flows start fresh.
    dir.write("p.toml", &policy("20mbit", "dst"));
    let out = apply_ok(&bed.b, &[file, "--prune"]);
    assert!(out.contains(&format!("{b} ingress: detached and attached again")), "{out}");
    assert!(out.contains("key src -> dst"), "{out}");
    assert_eq!(stats(&bed.b, b)["profile"]["key"], "dst");
    assert_ne!(xdp_prog_id(&bed.b, b), Some(program));
    let out = apply_ok(&bed.b, &[file, "--prune"]);
    assert!(out.contains("nothing to change: 2 policers match"), "{out}");
}

#[test]
fn a_bad_file_changes_nothing_and_names_the_line() {
    let bed = Testbed::new();
    let dir = TempDir::new("apply");
    let b = bed.b_if.as_str();
    let file = dir.write(
        "p.toml",
        &format!(
            "[interface.{b}.ingress]\ncir = \"10mbit\"\n\n[interface.{b}.egress]\ncir = \"fast\"\n"
        ),
    );
    let file = file.to_str().unwrap();
    let expected = format!("{file}:5: cir = \"fast\": not a rate");
    for args in [vec![file], vec![file, "--check"], vec![file, "--diff"]] {
        failed_with(&apply(&bed.b, &args), format!("apply {args:?}"), &[&expected]);
        assert!(!pin_dir(b).exists(), "apply {args:?} attached despite a bad entry");
    }

    // An interface that does not exist: an error (nothing attached), or with
    // --allow-missing a warning (the rest attached).
    let missing = format!("nx{}", std::process::id());
    dir.write(
        "p.toml",
        &format!("[interface.{b}.ingress]\ncir = \"10mbit\"\n[interface.{missing}.ingress]\ncir = \"1mbit\"\n"),
    );
    failed_with(
        &apply(&bed.b, &[file]),
        "apply with a missing interface",
        &[&format!("{file}:3: [interface.{missing}.ingress]: interface {missing} does not exist")],
    );
    assert!(!pin_dir(b).exists());
    let checked = apply_ok(&bed.b, &[file, "--check", "--allow-missing"]);
    assert!(checked.contains("valid, 2 policers declared"), "{checked}");
    assert!(!pin_dir(b).exists(), "--check attached");
    let output = apply(&bed.b, &[file, "--allow-missing"]);
    let all = text(&output);
    assert!(output.status.success(), "{all}");
    assert!(
        all.contains(&format!("warning: {file}:3: interface {missing} does not exist")),
        "{all}"
    );
    assert!(is_attached(&bed.b, b), "{all}");
}

#[test]
fn a_step_the_kernel_refuses_is_reported_with_what_was_done() {
    let bed = Testbed::new();
    let (x, y) = bed.b.veth_pair();
    let _guards = [PolicerGuard::new(&bed.b, &x), PolicerGuard::new(&bed.b, &y)];
    // Someone else's XDP program on x: the file is valid, the attach to x is refused.
    let mut ebpf = aya::Ebpf::load(policer::ebpf_object()).expect("load object");
    let program: &mut Xdp =
        ebpf.program_mut(PROG_XDP_PASS).unwrap().try_into().expect("an XDP program");
    program.load().expect("load xdp_pass");
    bed.b.enter(|| program.attach(&x, XdpMode::Skb).expect("attach foreign XDP"));

    let dir = TempDir::new("apply");
    let b = bed.b_if.as_str();
    let file = dir.write(
        "p.toml",
        &format!(
            "[interface.{b}.ingress]\ncir = \"10mbit\"\n[interface.{x}.ingress]\ncir = \"1mbit\"\n\
             [interface.{y}.ingress]\ncir = \"1mbit\"\n"
        ),
    );
    let output = apply(&bed.b, &[file.to_str().unwrap()]);
    failed_with(
        &output,
        "apply over a foreign XDP program",
        &[
            &format!("{b} ingress: attached"),
            &format!("{x} ingress: attach FAILED"),
            "not ours",
            &format!("{y} ingress: attach not tried"),
            "the steps before it were done",
        ],
    );
    assert!(is_attached(&bed.b, b));
    assert!(!is_attached(&bed.b, &x) && !is_attached(&bed.b, &y));
    drop(ebpf);
}

#[test]
fn concurrent_applies_do_not_trip_over_each_other() {
    let bed = Testbed::new();
    let (x, _) = bed.b.veth_pair();
    let _guard = PolicerGuard::new(&bed.b, &x);
    let dir = TempDir::new("apply");
    let b = bed.b_if.as_str();
    let file = dir.write(
        "p.toml",
        &format!(
            "[interface.{b}.ingress]\ncir = \"10mbit\"\n[interface.{x}.egress]\ncir = \"5mbit\"\n"
        ),
    );
    let file = file.to_str().unwrap();
    // Four at once (a udev reload while someone applies by hand): one attaches, the others
    // find it done; none fails.
    let outputs: Vec<Output> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..4).map(|_| scope.spawn(|| apply(&bed.b, &[file]))).collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    for output in &outputs {
        assert!(output.status.success(), "a concurrent apply failed: {}", text(output));
    }
    let attached =
        outputs.iter().filter(|o| text(o).contains(&format!("{b} ingress: attached"))).count();
    assert_eq!(attached, 1, "exactly one apply attaches");
    assert!(is_attached(&bed.b, b) && is_attached(&bed.b, &x));
}

/// Plans in the file: attached with the policer, changed, added and deleted live to match
/// the file (the program stays), left alone when the file has not changed; `match` is an
/// attach-time setting (a change replaces the policer); a bad plan names its line.
#[test]
fn plans_in_the_file_are_applied_live() {
    let bed = Testbed::new();
    let dir = TempDir::new("aplan");
    let b = bed.b_if.as_str();
    let policy = |plans: &str| {
        format!("[interface.{b}.ingress]\ncir = \"10mbit\"\nmatch = \"dst\"\n{plans}")
    };
    let plan = |prefix: &str, cir: &str| {
        format!("[interface.{b}.ingress.plan.\"{prefix}\"]\ncir = \"{cir}\"\nkey = \"all\"\n")
    };
    let listed = || -> Vec<(String, u64)> {
        let out = succeeded(bed.b.policer(["plan", "list", b, "--json"]), || "plan list".into());
        let plans: Value = serde_json::from_str(&out).unwrap();
        plans
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let cir = p["profile"]["cir_bps"].as_u64().unwrap();
                (p["prefix"].as_str().unwrap().to_string(), cir)
            })
            .collect()
    };
    let file = dir.write(
        "p.toml",
        &policy(&(plan("10.1.0.0/16", "50mbit") + &plan("2001:db8::/32", "5mbit"))),
    );
    let file = file.to_str().unwrap();
    let out = apply_ok(&bed.b, &[file]);
    assert!(out.contains("plan 10.1.0.0/16 added"), "{out}");
    assert_eq!(
        listed(),
        [("10.1.0.0/16".to_string(), 50_000_000), ("2001:db8::/32".to_string(), 5_000_000)]
    );
    assert_eq!(stats(&bed.b, b)["plan_match"], "dst");
    let program = xdp_prog_id(&bed.b, b).expect("XDP attached");
    let out = apply_ok(&bed.b, &[file]);
    assert!(out.contains("nothing to change"), "{out}");

    // One plan changed, one dropped, one new: live.
    dir.write(
        "p.toml",
        &policy(&(plan("10.1.0.0/16", "60mbit") + &plan("192.0.2.8/29", "200mbit"))),
    );
    let diff = apply_ok(&bed.b, &[file, "--diff"]);
    assert!(diff.contains("plan 2001:db8::/32 deleted"), "{diff}");
    assert!(diff.contains("plan 10.1.0.0/16: cir 50Mbit -> 60Mbit"), "{diff}");
    assert!(diff.contains("plan 192.0.2.8/29 added"), "{diff}");
    apply_ok(&bed.b, &[file]);
    assert_eq!(
        listed(),
        [("10.1.0.0/16".to_string(), 60_000_000), ("192.0.2.8/29".to_string(), 200_000_000)]
    );
    assert_eq!(xdp_prog_id(&bed.b, b), Some(program), "plans change live");

    // A bad plan: refused with its line, nothing changed.
    dir.write("p.toml", &policy(&plan("10.1.0.1/16", "60mbit")));
    failed_with(&apply(&bed.b, &[file]), "a bad plan", &["p.toml:4", "host bits are set"]);
    assert_eq!(listed().len(), 2);

    // `match` is fixed at attach: changing it replaces the policer, plans and all.
    let src =
        format!("[interface.{b}.ingress]\ncir = \"10mbit\"\n{}", plan("10.1.0.0/16", "60mbit"));
    dir.write("p.toml", &src);
    let out = apply_ok(&bed.b, &[file]);
    assert!(out.contains("match dst -> src"), "{out}");
    assert_eq!(listed(), [("10.1.0.0/16".to_string(), 60_000_000)]);
    assert_eq!(stats(&bed.b, b)["plan_match"], "src");
}
