//! `policer top`: `--once --json` gives a flow's rate over the interval, near the rate TCP
//! gets through the policer; the live view quits on `q`.

use std::{
    io::Write as _,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use policer_tests::{Testbed, policer_bin, text};
use serde_json::Value;

#[test]
fn once_json_gives_the_rate_of_a_tcp_flow() {
    let bed = Testbed::new();
    bed.attach(&["--cir", "10mbit"]);
    let b = bed.b_if.as_str();
    let report = thread::scope(|scope| {
        let traffic = scope.spawn(|| bed.iperf3(5, &[]));
        // Past the slow start.
        thread::sleep(Duration::from_secs(3));
        let out = bed.policer_ok(&["top", b, "--once", "--json", "--interval", "1"]);
        traffic.join().expect("iperf3");
        serde_json::from_str::<Value>(&out).expect("top --once --json is JSON")
    });
    assert_eq!(report["interface"], b);
    let interval = report["interval_s"].as_f64().unwrap();
    assert!((0.9..2.0).contains(&interval), "{report}");
    let fastest = &report["flows"][0];
    let flow = fastest["flow"].as_str().unwrap();
    assert!(flow.contains(&bed.a_addr) && flow.contains(&bed.b_addr), "{report}");
    // Whole frames of one TCP flow policed at 10 Mbit/s, measured over one second.
    let rate = fastest["rate_bps"].as_f64().unwrap();
    assert!((3e6..20e6).contains(&rate), "rate {rate}: {report}");
    for key in ["tokens_bytes", "debt_bytes", "red_in_interval", "phase", "bytes"] {
        assert!(!fastest[key].is_null(), "{key} missing: {report}");
    }
}

#[test]
fn the_live_view_quits_on_q() {
    let bed = Testbed::new();
    bed.attach(&["--cir", "10mbit"]);
    // A terminal for the view: `script` runs it on a pseudo-terminal (of 40 x 160) and passes
    // our input.
    let command = format!(
        "stty rows 40 cols 160; exec nsenter --net={} {} top {}",
        bed.b.path().display(),
        policer_bin().display(),
        bed.b_if
    );
    let mut child = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script");
    thread::sleep(Duration::from_millis(2500));
    child.stdin.as_mut().unwrap().write_all(b"q").unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("top did not quit on q");
        }
        thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    let said = text(&output);
    assert!(output.status.success(), "top failed: {said}");
    // The screen is drawn in pieces between cursor moves: look for words, not lines.
    assert!(said.contains(&format!("{} (ingress,", bed.b_if)), "no heading drawn: {said}");
    for word in ["fastest", "tokens", "debt", "quit"] {
        assert!(said.contains(word), "{word:?} not drawn: {said}");
    }
}
