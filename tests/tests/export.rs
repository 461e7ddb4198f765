//! `policer export`: a real Prometheus server (Debian's `prometheus`) scrapes the exporter
//! inside the test's namespace; after traffic through a policer, Prometheus's HTTP API
//! returns the packet counts `policer stats --json` prints. A policer attached or detached
//! while the exporter runs appears or disappears at the next scrape.

use std::{
    collections::BTreeMap,
    fs,
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use policer_tests::{Background, Netns, PolicerGuard, TempDir, Testbed, succeeded};
use serde_json::Value;

const EXPORTER: &str = "127.0.0.1:9977";
const PROMETHEUS: &str = "127.0.0.1:9090";

/// `curl URL` inside `ns`; None while nothing answers.
fn curl(ns: &Netns, args: &[&str]) -> Option<String> {
    let mut all = vec!["-sf", "--max-time", "5"];
    all.extend_from_slice(args);
    let output = ns.exec("curl", &all);
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Waits for `check` to return Some, up to `timeout`.
fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if start.elapsed() > timeout {
            return None;
        }
        thread::sleep(Duration::from_millis(250));
    }
}

/// An instant query to Prometheus's HTTP API: the result vector.
fn query(ns: &Netns, promql: &str) -> Option<Vec<Value>> {
    let url = format!("http://{PROMETHEUS}/api/v1/query");
    let body = curl(ns, &[&url, "--data-urlencode", &format!("query={promql}")])?;
    let reply: Value = serde_json::from_str(&body).ok()?;
    (reply["status"] == "success").then(|| reply["data"]["result"].as_array().cloned())?
}

/// `policer_packets_total` of `iface` by (colour, outcome), as Prometheus has it.
fn prometheus_packets(ns: &Netns, iface: &str) -> Option<BTreeMap<(String, String), u64>> {
    let rows = query(ns, &format!("policer_packets_total{{interface=\"{iface}\"}}"))?;
    let mut counts = BTreeMap::new();
    for row in rows {
        let label = |name: &str| row["metric"][name].as_str().unwrap_or_default().to_string();
        let value = row["value"][1].as_str()?.parse::<f64>().ok()? as u64;
        counts.insert((label("colour"), label("outcome")), value);
    }
    Some(counts)
}

/// The same counts from `policer stats --json`.
fn stats_packets(stats: &Value) -> BTreeMap<(String, String), u64> {
    let mut counts = BTreeMap::new();
    for colour in ["green", "yellow", "red"] {
        for outcome in ["passed", "marked", "dropped"] {
            let packets = stats["counters"][colour][outcome]["packets"].as_u64().unwrap();
            counts.insert((colour.to_string(), outcome.to_string()), packets);
        }
    }
    counts
}

#[test]
fn prometheus_scrapes_the_counters_stats_prints() {
    let bed = Testbed::new();
    bed.attach(&["--cir", "5mbit"]);
    let b = bed.b_if.as_str();

    let mut exporter = Background::spawn(
        {
            let mut cmd = bed.b.policer_command(["export", "--listen", EXPORTER]);
            cmd.stdout(Stdio::null());
            cmd
        },
        "policer export",
    );
    let dir = TempDir::new("prom");
    let config = dir.write(
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
             - job_name: policer\n    static_configs:\n      - targets: ['{EXPORTER}']\n"
        ),
    );
    let log = fs::File::create(dir.path.join("prometheus.log")).unwrap();
    let mut prometheus = Background::spawn(
        {
            let mut cmd = bed.b.command("prometheus");
            cmd.arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", dir.path.join("data").display()))
                .arg(format!("--web.listen-address={PROMETHEUS}"))
                .stdout(log.try_clone().unwrap())
                .stderr(log);
            cmd
        },
        "prometheus",
    );
    let prometheus_log = || fs::read_to_string(dir.path.join("prometheus.log")).unwrap_or_default();
    let up = wait_for(Duration::from_secs(60), || {
        let rows = query(&bed.b, "up{job=\"policer\"}")?;
        (rows.first()?["value"][1] == "1").then_some(())
    });
    exporter.assert_running();
    prometheus.assert_running();
    assert!(up.is_some(), "Prometheus never scraped the exporter: {}", prometheus_log());

    // UDP at four times the rate: green, yellow and red packets, reds dropped.
    bed.iperf3(3, &["-u", "-b", "20M", "-l", "1400"]);
    thread::sleep(Duration::from_millis(500));
    let mut last = None;
    let matched = wait_for(Duration::from_secs(30), || {
        let stats = stats_packets(&bed.stats());
        let scraped = prometheus_packets(&bed.b, b)?;
        let same = scraped == stats;
        last = Some((stats.clone(), scraped));
        same.then_some(stats)
    });
    let Some(stats) = matched else {
        panic!("Prometheus never returned the counts of stats: (stats, prometheus) {last:?}");
    };
    let count = |colour: &str, outcome: &str| stats[&(colour.to_string(), outcome.to_string())];
    assert!(count("green", "passed") > 100, "{stats:?}");
    assert!(count("red", "dropped") > 100, "{stats:?}");
    eprintln!("stats and Prometheus agree: {stats:?}");

    // Gauges of the profile and the flow table.
    let gauge = |name: &str| {
        let rows = query(&bed.b, &format!("{name}{{interface=\"{b}\"}}")).expect(name);
        rows[0]["value"][1].as_str().unwrap().parse::<f64>().unwrap()
    };
    assert_eq!(gauge("policer_profile_cir_bytes_per_second"), 625_000.0);
    // 65,536 IPv4 slots and an LRU table of 65,536.
    assert_eq!(gauge("policer_flows_max"), 131_072.0);

    // A policer attached while the exporter runs is in the next scrape; detached, it is not.
    let (x, _) = bed.b.veth_pair();
    let _guard = PolicerGuard::new(&bed.b, &x);
    let metrics = || curl(&bed.b, &[&format!("http://{EXPORTER}/metrics")]).expect("scrape");
    let label = format!("interface=\"{x}\"");
    assert!(!metrics().contains(&label));
    succeeded(bed.b.policer(["attach", &x, "--cir", "1mbit"]), || "attach x".into());
    assert!(
        metrics().contains(&format!("policer_flows_max{{{label},direction=\"ingress\"}} 131072"))
    );
    succeeded(bed.b.policer(["detach", &x]), || "detach x".into());
    assert!(!metrics().contains(&label));
    exporter.assert_running();
}
