//! The packet rate one core sustains under a flood of small UDP frames, with the policer
//! (XDP and TC) or nftables `limit` dropping nearly all of it, against the same flood into
//! a receiver that polices nothing. The generator is BPF_PROG_TEST_RUN in live-frames mode
//! (as xdp-trafficgen does; Debian's build of it fails on this kernel) running
//! `xdp_redirect` into one end of a veth: the other end receives native XDP frames, as from
//! a NIC, on the same core. So each figure is one core sending and receiving, and the
//! ratios between rows are what the receiving side costs.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use aya::{
    EbpfLoader,
    programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp, XdpMode},
};
use clap::Args;
use policer_common::{GLOBAL_REDIRECT_IFINDEX, PROG_XDP_PASS, PROG_XDP_REDIRECT};
use policer_tests::{Testbed, frames::Packet};

use super::Spread;

#[derive(Args)]
pub struct LoadArgs {
    /// Seconds of flood per measurement.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Measurements of every receiver, taken in turn.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Distinct flows (source ports) in the flood, one after another.
    #[arg(long, default_value_t = 16)]
    flows: u16,
}

impl LoadArgs {
    pub fn preset(quick: bool) -> LoadArgs {
        LoadArgs { seconds: if quick { 1 } else { 3 }, repeats: 3, flows: 16 }
    }
}

/// The receivers compared.
const RECEIVERS: [(&str, &str); 5] = [
    ("none", "no policer: a bare XDP_PASS, then the stack drops each frame at UDP"),
    ("drop", "a bare XDP_DROP: the ceiling of any XDP program that drops"),
    (
        "nft",
        "bare XDP_PASS, then nftables `limit rate over 125000 bytes/second` drop (netdev ingress)",
    ),
    ("xdp", "policer, XDP, `--cir 1mbit` (drops nearly all)"),
    ("tc", "bare XDP_PASS, then the policer at TC (tcx ingress), `--cir 1mbit`"),
];

pub struct LoadRow {
    pub receiver: &'static str,
    pub what: &'static str,
    /// Million frames per second the core handled.
    pub mpps: Spread,
}

pub fn run(args: &LoadArgs) -> anyhow::Result<Vec<LoadRow>> {
    let beds: Vec<Testbed> = RECEIVERS.iter().map(|_| Testbed::new()).collect();
    // Receivers that are not an XDP policer get a bare XDP_PASS, so that their veth end
    // takes XDP frames at all; it builds the socket buffer the rest of the stack needs.
    let mut passes = Vec::new();
    for (bed, (receiver, _)) in beds.iter().zip(RECEIVERS) {
        match receiver {
            "xdp" => drop(bed.attach(&["--cir", "1mbit"])),
            "tc" => drop(bed.attach(&["--cir", "1mbit", "--hook", "tc"])),
            "nft" => super::nft_chain(
                &bed.b,
                "ingress",
                &bed.b_if,
                "limit rate over 125000 bytes/second drop",
            ),
            _ => {}
        }
        match receiver {
            "xdp" => {}
            "drop" => passes.push(xdp_drop_on(bed)?),
            _ => passes.push(xdp_pass_on(bed)?),
        }
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); RECEIVERS.len()];
    // In turn, repeatedly, so that a slow moment of the machine hits every receiver alike.
    for _ in 0..args.repeats {
        for (i, bed) in beds.iter().enumerate() {
            samples[i].push(flood(bed, args)?);
        }
    }
    drop(passes);
    let rows = RECEIVERS
        .iter()
        .zip(samples)
        .map(|(&(receiver, what), s)| LoadRow { receiver, what, mpps: Spread::of(s) })
        .collect::<Vec<_>>();
    for r in &rows {
        eprintln!("load {}: {:.2} Mpps", r.receiver, r.mpps.median);
    }
    Ok(rows)
}

/// A bare XDP_PASS on the receiver's interface, attached for as long as the value lives.
fn xdp_pass_on(bed: &Testbed) -> anyhow::Result<aya::Ebpf> {
    let mut ebpf = aya::Ebpf::load(policer::ebpf_object())?;
    let pass: &mut Xdp = ebpf.program_mut(PROG_XDP_PASS).context("xdp_pass")?.try_into()?;
    pass.load()?;
    bed.b.enter(|| pass.attach(&bed.b_if, XdpMode::Driver))?;
    Ok(ebpf)
}

/// A bare XDP_DROP (from the benchmark's anchors) on the receiver's interface.
fn xdp_drop_on(bed: &Testbed) -> anyhow::Result<aya::Ebpf> {
    let mut ebpf = EbpfLoader::new()
        .map_max_entries("ANCHOR_LRU", 1)
        .map_max_entries("ANCHOR_LOCKED", 1)
        .load(policer::bench_anchors_object())?;
    let drop: &mut Xdp = ebpf.program_mut(PROG_XDP_DROP).context("xdp_drop")?.try_into()?;
    drop.load()?;
    bed.b.enter(|| drop.attach(&bed.b_if, XdpMode::Driver))?;
    Ok(ebpf)
}

/// The bare XDP_DROP of the anchors' object.
const PROG_XDP_DROP: &str = "xdp_drop";

/// Million frames per second that the receiving end of the veth took in.
fn flood(bed: &Testbed, args: &LoadArgs) -> anyhow::Result<f64> {
    let ifindex = ifindex(bed)?;
    let mut ebpf = EbpfLoader::new()
        .override_global(GLOBAL_REDIRECT_IFINDEX, &ifindex, true)
        .load(policer::ebpf_object())?;
    let generator: &mut Xdp =
        ebpf.program_mut(PROG_XDP_REDIRECT).context("xdp_redirect")?.try_into()?;
    generator.load()?;
    let mac = mac_of(bed)?;
    let frames: Vec<Vec<u8>> = (0..args.flows)
        .map(|i| {
            let mut frame = Packet::udp(&bed.a_addr, &bed.b_addr, 10_000 + i, 9).frame(64);
            frame[..6].copy_from_slice(&mac);
            frame
        })
        .collect();
    let before = received(bed)?;
    let start = Instant::now();
    let deadline = Duration::from_secs(args.seconds);
    // A thread of its own, pinned, so that nothing else of this process stays on one CPU.
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> anyhow::Result<()> {
                pin_to_cpu(0)?;
                bed.a.enter(|| {
                    // Each run sets up a page pool of its own (milliseconds), so runs are long.
                    for frame in frames.iter().cycle() {
                        if start.elapsed() >= deadline {
                            break;
                        }
                        let opts = TestRunOptions {
                            data_in: Some(frame),
                            repeat: 1 << 19,
                            attrs: TestRunAttrs::new().xdp_live_frames(64),
                            ..Default::default()
                        };
                        generator.test_run(opts)?;
                    }
                    Ok(())
                })
            })
            .join()
            .expect("the generator does not panic")
    })?;
    let elapsed = start.elapsed().as_secs_f64();
    Ok((received(bed)? - before) as f64 / elapsed / 1e6)
}

/// The receiver's MAC address, so that its stack takes the frames as its own.
fn mac_of(bed: &Testbed) -> anyhow::Result<[u8; 6]> {
    let text = link_field(bed, "address")?;
    let mut mac = [0u8; 6];
    for (byte, part) in mac.iter_mut().zip(text.as_str().unwrap_or_default().split(':')) {
        *byte = u8::from_str_radix(part, 16)?;
    }
    Ok(mac)
}

fn link_field(bed: &Testbed, field: &str) -> anyhow::Result<serde_json::Value> {
    let out = bed.b.exec_ok("ip", ["-j", "link", "show", "dev", &bed.b_if]);
    let links: serde_json::Value = serde_json::from_str(&out)?;
    Ok(links[0][field].clone())
}

fn ifindex(bed: &Testbed) -> anyhow::Result<u32> {
    let out = bed.a.exec_ok("ip", ["-j", "link", "show", "dev", &bed.a_if]);
    let links: serde_json::Value = serde_json::from_str(&out)?;
    Ok(links[0]["ifindex"].as_u64().context("an ifindex")? as u32)
}

/// XDP frames the receiving veth end ran its program on (ethtool's per-queue counters).
fn received(bed: &Testbed) -> anyhow::Result<u64> {
    let out = bed.b.exec_ok("ethtool", ["-S", &bed.b_if]);
    Ok(out
        .lines()
        .filter_map(|l| l.trim().split_once(':'))
        .filter(|(name, _)| name.starts_with("rx_queue_") && name.ends_with("_xdp_packets"))
        .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
        .sum())
}

fn pin_to_cpu(cpu: usize) -> anyhow::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
    };
    anyhow::ensure!(rc == 0, "pinning to CPU {cpu}: {}", std::io::Error::last_os_error());
    Ok(())
}

pub fn markdown(args: &LoadArgs, rows: &[LoadRow]) -> String {
    let rate =
        |receiver| rows.iter().find(|r| r.receiver == receiver).map_or(1.0, |r| r.mpps.median);
    let (base, drop) = (rate("nft"), rate("drop"));
    let mut out = format!(
        "## Packet rate under a flood\n\n64-byte UDP frames of {} flows (runs of 524,288 frames of one flow in turn) from BPF_PROG_TEST_RUN \
         in live-frames mode (the way xdp-trafficgen generates; Debian's build of it fails on \
         this kernel), redirected by our `xdp_redirect` into a veth from CPU 0. The far end \
         takes them as native XDP frames on the same core, so each figure is what one core \
         does generating and receiving, and the ratios between rows are what the receiving \
         side costs. Counted: frames the far end's XDP program ran on (ethtool's \
         `rx_queue_*_xdp_packets`). {} s per measurement, {} measurements of each receiver \
         taken in turn (median, range).\n\n\
         | receiver | Mpps on one core | against nftables | against XDP_DROP |\n|---|---|---|---|\n",
        args.flows, args.seconds, args.repeats
    );
    for r in rows {
        out += &format!(
            "| {} | {} | {:.2}x | {:.2}x |\n",
            r.what,
            r.mpps.show(2, 1.0),
            r.mpps.median / base,
            r.mpps.median / drop
        );
    }
    out
}
