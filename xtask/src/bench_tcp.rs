//! TCP through the policer and through what users would use instead, on a testbed with a
//! real round-trip time (the delay line of `policer-tests`), in one run.

use std::{fs, path::Path, process::Command, time::Duration};

use anyhow::Context as _;
use clap::Args;
use policer_tests::{Netns, Testbed};

#[derive(Args)]
pub struct TcpArgs {
    /// Seconds measured per point (after `--warmup`).
    #[arg(long, default_value_t = 15)]
    seconds: u32,
    /// Seconds of each flow left out of the figures (slow start).
    #[arg(long, default_value_t = 3)]
    warmup: u32,
    /// Round-trip times, ms (the delay line holds frames half of it each way).
    #[arg(long, value_delimiter = ',', default_values_t = [20u64, 80])]
    rtt: Vec<u64>,
    /// Congestion controls of the sender.
    #[arg(long, value_delimiter = ',', default_values_t = ["cubic".to_string(), "bbr".to_string()])]
    cc: Vec<String>,
    /// Committed rate, Mbit/s.
    #[arg(long, default_value_t = 10)]
    cir_mbit: u64,
    /// What to compare: default, ebs0, nft, htb, none.
    #[arg(long, value_delimiter = ',', default_values_t = ["default", "ebs0", "nft", "htb", "none"].map(String::from))]
    setups: Vec<String>,
    /// Where to write the figures.
    #[arg(long, default_value = "bench/TCP.md")]
    out: String,
}

/// One point's figures.
struct Point {
    goodput_over_cir: f64,
    drop_share: f64,
    retransmits: u64,
    mean_rtt_ms: f64,
}

pub fn run(args: &TcpArgs) -> anyhow::Result<()> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--package", "policer", "--bin", "policer"])
        .status()?;
    anyhow::ensure!(status.success(), "building policer failed");
    let mut rows = Vec::new();
    for &rtt in &args.rtt {
        for cc in &args.cc {
            for setup in &args.setups {
                let point = measure(args, rtt, cc, setup)
                    .with_context(|| format!("{setup}, {cc}, {rtt} ms"))?;
                eprintln!(
                    "{rtt} ms {cc} {setup}: goodput/CIR {:.3}, drops {:.2} %, {} retransmits, \
                     RTT {:.1} ms",
                    point.goodput_over_cir,
                    point.drop_share * 100.0,
                    point.retransmits,
                    point.mean_rtt_ms
                );
                rows.push((rtt, cc.clone(), setup.clone(), point));
            }
        }
    }
    write_report(Path::new(&args.out), args, &rows)
}

fn measure(args: &TcpArgs, rtt: u64, cc: &str, setup: &str) -> anyhow::Result<Point> {
    let bed = Testbed::with_delay(Duration::from_millis(rtt / 2));
    let cir_bytes = args.cir_mbit * 125_000;
    match setup {
        "default" => drop(bed.attach(&["--cir", &format!("{}mbit", args.cir_mbit)])),
        "ebs0" => drop(bed.attach(&["--cir", &format!("{}mbit", args.cir_mbit), "--ebs", "0"])),
        "nft" => {
            // The same rate and burst as the policer's default cbs (100 ms of the rate).
            let chain = format!(
                "add chain netdev policer_bench ingress {{ type filter hook ingress device {} \
                 priority 0 ; }}",
                bed.b_if
            );
            bed.b.exec_ok("nft", ["add table netdev policer_bench"]);
            bed.b.exec_ok("nft", [chain.as_str()]);
            let rule = format!(
                "add rule netdev policer_bench ingress limit rate over {cir_bytes} bytes/second \
                 burst {} bytes drop",
                cir_bytes / 10
            );
            bed.b.exec_ok("nft", [rule.as_str()]);
        }
        "htb" => {
            // A shaper on the sender's egress: no loss, a queue instead.
            let dev = bed.a_if.as_str();
            bed.a.exec_ok(
                "tc",
                ["qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "10"],
            );
            let rate = format!("{}mbit", args.cir_mbit);
            bed.a.exec_ok(
                "tc",
                [
                    "class", "add", "dev", dev, "parent", "1:", "classid", "1:10", "htb", "rate",
                    &rate,
                ],
            );
        }
        "none" => {}
        other => anyhow::bail!("unknown setup {other}"),
    }
    let sent_before = link_packets(&bed.a, &bed.a_if, "tx")?;
    let received_before = bed.ip_in_receives();
    let total = args.seconds + args.warmup;
    let report = bed.iperf3(total, &["-C", cc, "-O", &args.warmup.to_string()]);
    let sent = link_packets(&bed.a, &bed.a_if, "tx")? - sent_before;
    let received = bed.ip_in_receives() - received_before;
    let qdisc_drops = if setup == "htb" { htb_drops(&bed.a, &bed.a_if)? } else { 0 };
    let offered = sent + qdisc_drops;
    let lost = offered.saturating_sub(received);
    let streams = report["end"]["streams"].as_array().context("streams")?;
    let mean_rtt_us: f64 =
        streams.iter().filter_map(|s| s["sender"]["mean_rtt"].as_f64()).sum::<f64>()
            / streams.len().max(1) as f64;
    Ok(Point {
        goodput_over_cir: Testbed::goodput_bps(&report) / (args.cir_mbit as f64 * 1e6),
        drop_share: if offered == 0 { 0.0 } else { lost as f64 / offered as f64 },
        retransmits: report["end"]["sum_sent"]["retransmits"].as_u64().unwrap_or(0),
        mean_rtt_ms: mean_rtt_us / 1000.0,
    })
}

fn link_packets(ns: &Netns, iface: &str, way: &str) -> anyhow::Result<u64> {
    let out = ns.exec_ok("ip", ["-j", "-s", "link", "show", "dev", iface]);
    let links: serde_json::Value = serde_json::from_str(&out)?;
    links[0]["stats64"][way]["packets"].as_u64().context("packets")
}

fn htb_drops(ns: &Netns, iface: &str) -> anyhow::Result<u64> {
    let out = ns.exec_ok("tc", ["-j", "-s", "qdisc", "show", "dev", iface]);
    let qdiscs: serde_json::Value = serde_json::from_str(&out)?;
    Ok(qdiscs.as_array().into_iter().flatten().filter_map(|q| q["drops"].as_u64()).sum())
}

fn describe(setup: &str) -> &'static str {
    match setup {
        "default" => "policer, TCP-friendly, default bursts (cbs 100 ms, ebs 200 ms)",
        "ebs0" => "policer `--ebs 0` (plain token bucket, same cbs)",
        "nft" => {
            "nftables `limit rate over` (netdev ingress, burst 100 ms; its bucket holds 1 s of rate plus the burst)"
        }
        "htb" => "HTB shaper at the rate, on the sender's egress (no loss: a queue)",
        _ => "no policer",
    }
}

fn write_report(
    path: &Path,
    args: &TcpArgs,
    rows: &[(u64, String, String, Point)],
) -> anyhow::Result<()> {
    let mut out = format!(
        "# TCP through the policer and its peers\n\n`cargo xtask bench-tcp` on {}. One run per point (no \
         repeats yet: no spread).\n\n\
         Testbed: two namespaces joined through the delay line of `policer-tests` (each frame \
         held half the RTT each way; offloads off, frames MTU-sized). One TCP flow (iperf3), \
         {} s measured after {} s left out; CIR {} Mbit/s counted on whole frames, so goodput \
         cannot pass about 0.956 of CIR (1448 payload bytes of 1514). A window's goodput can \
         stray from CIR by (cbs + ebs) / window: {:.3} for the default profile here.\n\n\
         Drops: packets the sender put on the wire (or the shaper dropped) that the receiver's \
         IP layer never got, as a share of those, over the whole run (warm-up included; \
         retransmissions and goodput leave the warm-up out). RTT: the sender's mean smoothed \
         RTT.\n\n",
        crate::machine::describe(),
        args.seconds,
        args.warmup,
        args.cir_mbit,
        0.3 / args.seconds as f64,
    );
    for setup in &args.setups {
        out += &format!("- `{setup}`: {}\n", describe(setup));
    }
    out += "\n| RTT | cc | setup | goodput/CIR | drops | retransmits | mean RTT |\n|---|---|---|---|---|---|---|\n";
    for (rtt, cc, setup, p) in rows {
        out += &format!(
            "| {rtt} ms | {cc} | {setup} | {:.3} | {:.2} % | {} | {:.1} ms |\n",
            p.goodput_over_cir,
            p.drop_share * 100.0,
            p.retransmits,
            p.mean_rtt_ms
        );
    }
    fs::create_dir_all(path.parent().expect("a file in a directory"))?;
    fs::write(path, &out)?;
    print!("{out}");
    Ok(())
}
