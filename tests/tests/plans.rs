//! Plans on a real kernel: TCP senders under different plans of one policer are each held
//! near their own plan's rate at the same time; `plan del` moves a sender to the plan that
//! now matches; `--key all` makes parallel flows share one rate; bad input is refused with
//! its reason and changes nothing. Traffic only between the test's own namespaces.

use std::{
    sync::atomic::{AtomicU16, Ordering},
    thread,
    time::Duration,
};

use policer_tests::{Testbed, failed_with};
use serde_json::Value;

/// Generous bounds on goodput / CIR (TCP payload is at most 0.956 of the frame bytes).
const LOW: f64 = 0.6;
const HIGH: f64 = 1.2;

static PORT: AtomicU16 = AtomicU16::new(0);

/// Runs iperf3 for `seconds` from `src` (an address of `a`) to `b`, with `extra` flags;
/// returns the report.
fn iperf3_from(bed: &Testbed, src: &str, seconds: u32, extra: &[&str]) -> Value {
    let port =
        (30_000 + (std::process::id() % 20_000) as u16 + PORT.fetch_add(1, Ordering::Relaxed))
            .to_string();
    let mut server = bed
        .b
        .command("iperf3")
        .args(["-s", "-1", "-p", &port, "-B", &bed.b_addr])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start iperf3 server");
    let mut report = Value::Null;
    for _ in 0..50 {
        thread::sleep(Duration::from_millis(100));
        let seconds = seconds.to_string();
        let mut args = vec!["-c", &bed.b_addr, "-p", &port, "-B", src, "-t", &seconds, "-J"];
        args.extend_from_slice(extra);
        let output = bed.a.exec("iperf3", &args);
        report = serde_json::from_slice(&output.stdout).unwrap_or_default();
        if !report["error"].as_str().is_some_and(|e| e.contains("connect")) {
            break;
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(report["error"].is_null(), "iperf3 from {src} failed: {}", report["error"]);
    report
}

/// Gives `a` the extra source addresses and `b` a route back to them.
fn extra_senders(bed: &Testbed, addrs: &[&str]) {
    for addr in addrs {
        bed.a.exec_ok("ip", ["addr", "add", &format!("{addr}/32"), "dev", &bed.a_if]);
    }
    bed.b.exec_ok("ip", ["route", "add", "192.0.2.0/24", "dev", &bed.b_if]);
}

/// Goodput/CIR of each sender, all sending at once for `seconds`.
fn at_once(bed: &Testbed, senders: &[(&str, f64)], seconds: u32) -> Vec<f64> {
    thread::scope(|scope| {
        let runs: Vec<_> = senders
            .iter()
            .map(|&(src, cir)| {
                scope
                    .spawn(move || Testbed::goodput_bps(&iperf3_from(bed, src, seconds, &[])) / cir)
            })
            .collect();
        runs.into_iter().map(|r| r.join().expect("iperf3 thread")).collect()
    })
}

#[test]
fn each_sender_is_held_near_its_plans_rate_and_del_moves_it() {
    let bed = Testbed::new();
    bed.attach(&["--cir", "10mbit"]);
    extra_senders(&bed, &["192.0.2.1", "192.0.2.77"]);
    let b = bed.b_if.as_str();
    bed.policer_ok(&["plan", "add", b, "192.0.2.1/32", "--cir", "2mbit"]);
    bed.policer_ok(&["plan", "add", b, "192.0.2.0/24", "--cir", "4mbit"]);

    let senders = [("192.0.2.1", 2e6), ("192.0.2.77", 4e6), (bed.a_addr.as_str(), 10e6)];
    let ratios = at_once(&bed, &senders, 8);
    println!(
        "goodput/CIR: /32 at 2mbit {:.3}, /24 at 4mbit {:.3}, default 10mbit {:.3}",
        ratios[0], ratios[1], ratios[2]
    );
    for ((src, cir), ratio) in senders.iter().zip(&ratios) {
        assert!((LOW..HIGH).contains(ratio), "{src} at {cir}: goodput/CIR {ratio:.3}");
    }

    // Counters per plan, beside the totals.
    let stats = bed.stats();
    let plans = stats["plans"].as_array().expect("stats --json has plans");
    assert_eq!(plans.len(), 2, "{stats}");
    for plan in plans {
        assert!(plan["counters"]["green"]["packets"].as_u64().unwrap() > 100, "{plan}");
        assert!(plan["counters"]["red"]["packets"].as_u64().unwrap() > 0, "{plan}");
    }
    let listed: Value =
        serde_json::from_str(&bed.policer_ok(&["plan", "list", b, "--json"])).unwrap();
    let prefixes: Vec<&str> =
        listed.as_array().unwrap().iter().map(|p| p["prefix"].as_str().unwrap()).collect();
    assert_eq!(prefixes, ["192.0.2.0/24", "192.0.2.1/32"]);
    let flows: Value = serde_json::from_str(&bed.policer_ok(&["flows", b, "--json"])).unwrap();
    assert!(flows.as_array().unwrap().iter().any(|f| f["plan"] == "192.0.2.1/32"), "{flows}");

    // Without its /32, the sender takes the /24's rate.
    bed.policer_ok(&["plan", "del", b, "192.0.2.1/32"]);
    let ratio = Testbed::goodput_bps(&iperf3_from(&bed, "192.0.2.1", 6, &[])) / 4e6;
    println!("after plan del: 192.0.2.1 at the /24's 4mbit: {ratio:.3}");
    assert!((LOW..HIGH).contains(&ratio), "after del: goodput/4mbit {ratio:.3}");
}

#[test]
fn key_all_makes_parallel_flows_share_one_rate() {
    let bed = Testbed::new();
    bed.attach(&["--cir", "8mbit", "--key", "all"]);
    let report = bed.iperf3(8, &["-P", "4"]);
    let ratio = Testbed::goodput_bps(&report) / 8e6;
    let streams: Vec<f64> = report["end"]["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| s["receiver"]["bits_per_second"].as_f64().unwrap())
        .collect();
    let (sum, squares): (f64, f64) = (streams.iter().sum(), streams.iter().map(|x| x * x).sum());
    let jain = sum * sum / (streams.len() as f64 * squares);
    println!("--key all, 4 flows: sum/CIR {ratio:.3}, Jain's index {jain:.3}, {streams:?}");
    assert_eq!(streams.len(), 4);
    assert!((LOW..HIGH).contains(&ratio), "sum/CIR {ratio:.3}");
    let flows: Value =
        serde_json::from_str(&bed.policer_ok(&["flows", &bed.b_if, "--json"])).unwrap();
    assert_eq!(flows.as_array().unwrap().len(), 1, "one bucket: {flows}");
}

#[test]
fn bad_plans_are_refused_with_their_reason_and_change_nothing() {
    let bed = Testbed::new();
    bed.attach(&["--cir", "10mbit", "--match", "dst"]);
    let b = bed.b_if.as_str();
    bed.policer_ok(&["plan", "add", b, "2001:db8::/32", "--cir", "2mbit", "--key", "all"]);
    let before = bed.policer_ok(&["plan", "list", b, "--json"]);
    let stats_before = bed.stats()["profile"].clone();
    let cases: [(&[&str], &str); 6] = [
        (&["plan", "add", b, "10.0.0.0/33", "--cir", "1mbit"], "from 0 to 32"),
        (&["plan", "add", b, "10.0.0.1/24", "--cir", "1mbit"], "host bits are set"),
        (&["plan", "add", b, "2001:db8::/32", "--cir", "1mbit"], "use `policer plan set`"),
        (&["plan", "add", b, "10.0.0.0/8"], "needs a committed rate"),
        (&["plan", "set", b, "10.0.0.0/8", "--cir", "1mbit"], "has no plan for 10.0.0.0/8"),
        (&["plan", "del", b, "10.0.0.0/8"], "has no plan for 10.0.0.0/8"),
    ];
    for (args, message) in cases {
        failed_with(&bed.b.policer(args), format!("{args:?}"), &[message]);
        assert_eq!(bed.policer_ok(&["plan", "list", b, "--json"]), before, "{args:?}");
    }
    assert_eq!(bed.stats()["profile"], stats_before);
    assert_eq!(bed.stats()["plan_match"], "dst");
    // `set` keeps the plans.
    bed.policer_ok(&["set", b, "--cir", "20mbit"]);
    assert_eq!(bed.policer_ok(&["plan", "list", b, "--json"]), before);
    let listed: Value = serde_json::from_str(&before).unwrap();
    assert_eq!(listed[0]["profile"]["key"], "all");
}
