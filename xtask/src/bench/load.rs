//! The packet rate one core sustains under a flood of small UDP frames, with the policer
//! (XDP and TC) or nftables `limit` dropping nearly all of it, against the same flood into
//! a receiver that polices nothing, into a bare `XDP_DROP` (also after reading the frame,
//! and after reading the clock, as any meter must) and into the naive per-flow bucket of
//! the cost benchmark at the policer's rate.
//!
//! The generator: user space sends seed frames with AF_PACKET (`PACKET_QDISC_BYPASS`,
//! `sendmmsg`) into one end of a second veth pair in the sender's namespace; the other end
//! runs `xdp_fanout` (from the benchmark's anchors object), which broadcasts each seed
//! through a devmap to the sending end of the testbed's veth, `--copies` times. So the
//! receiving end gets native XDP frames, as from a NIC, at many times the rate user space
//! could send. (BPF_PROG_TEST_RUN in live-frames mode, the generator used before, is refused
//! with EPERM by the kernel of this machine, whatever the program, batch size or namespace.)
//!
//! The generator (user space and the fan-out's NAPI) runs on CPU 0; the
//! receiving end's NAPI is threaded and its threads are pinned to CPU 1, where all the
//! receiver's work happens (its XDP program, and for frames passed, the stack: nftables,
//! TC, UDP). Counted: frames the receiver's XDP program ran on (ethtool's
//! `rx_queue_*_xdp_packets`), per second of wall time and per second of CPU time of the
//! receiving NAPI threads (their `schedstat`): the second is the rate one receiving core
//! sustains, and on a machine shared with other work it does not count the time others
//! took from that core. It holds while the receiver finds frames waiting whenever it runs
//! (frames per run near or above the veth ring's 256); a receiver that mostly waits for
//! frames also pays for its wake-ups, so its figure is then a lower bound.

use std::{
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use aya::{
    maps::DevMap,
    programs::{Xdp, XdpMode},
};
use clap::Args;
use policer_common::PROG_XDP_PASS;
use policer_tests::{Testbed, frames::Packet, unique_name};

use super::{Spread, anchors};

#[derive(Args)]
pub struct LoadArgs {
    /// Seconds of flood per measurement.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Measurements of every receiver, taken in turn.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Distinct flows (source ports) in the flood, in turn (each seed is copied by the fan-out).
    #[arg(long, default_value_t = 16)]
    flows: u16,
    /// Frames the fan-out makes of each seed (1: the seeds themselves, from the veth's page
    /// pool and recycled into it; more: clones in pages of their own, freed by the receiver).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=64))]
    copies: u32,
}

impl LoadArgs {
    pub fn preset(quick: bool) -> LoadArgs {
        LoadArgs { seconds: if quick { 1 } else { 3 }, repeats: 3, flows: 16, copies: 64 }
    }
}

/// The receivers compared.
const RECEIVERS: [(&str, &str); 8] = [
    ("none", "no policer: a bare XDP_PASS, then the stack drops each frame at UDP"),
    ("drop", "a bare XDP_DROP: the ceiling of any XDP program that drops"),
    (
        "read",
        "XDP_DROP after reading the EtherType: the ceiling of any XDP program that reads the frame",
    ),
    ("clock", "XDP_DROP after reading the clock (`bpf_ktime_get_ns`), as every meter does"),
    ("naive", "the naive per-flow bucket (the cost benchmark's anchor) at 1 Mbit/s a 5-tuple, XDP"),
    (
        "nft",
        "bare XDP_PASS, then nftables `limit rate over 125000 bytes/second` drop (netdev ingress)",
    ),
    ("xdp", "policer, XDP, `--cir 1mbit --key dst` (drops nearly all)"),
    ("tc", "bare XDP_PASS, then the policer at TC (tcx ingress), `--cir 1mbit --key dst`"),
];

pub struct LoadRow {
    pub receiver: &'static str,
    pub what: &'static str,
    /// Million frames per second of the receiving core's CPU time.
    pub mpps: Spread,
    /// Million frames per second of wall time.
    pub wall: Spread,
    /// The share of the wall time the receiving NAPI threads ran.
    pub busy: Spread,
    /// Million frames per second the generator offered the receiver.
    pub offered: Spread,
    /// Frames per run of a receiving NAPI thread (a run that finds the ring full takes 256).
    pub per_run: Spread,
    /// The share of the frames dropped by the receiver's XDP program.
    pub xdp_dropped: Spread,
}

/// Seed frames per `sendmmsg`.
const SEEDS_PER_CALL: usize = 64;
/// Where the generator's threads run, and where the receiver's NAPI threads run: apart, so
/// that frames reach the receiver from another core's cache, as from a NIC. (With a
/// generator thread on the receiver's CPU too, the receiver finds its frames in its own
/// cache and every row looked 10-30 % faster.)
const GENERATOR_CPUS: [usize; 1] = [0];
const RECEIVER_CPU: usize = 1;

pub fn run(args: &LoadArgs) -> anyhow::Result<Vec<LoadRow>> {
    let beds: Vec<Testbed> = RECEIVERS.iter().map(|_| Testbed::new()).collect();
    // Receivers that are not an XDP policer get a bare XDP_PASS, so that their veth end
    // takes XDP frames at all; it builds the socket buffer the rest of the stack needs.
    let mut passes = Vec::new();
    for (bed, (receiver, _)) in beds.iter().zip(RECEIVERS) {
        match receiver {
            // One bucket for the flood's destination, as nftables' one `limit`: both pass the
            // same 1 Mbit/s up the stack, so the rows compare what dropping costs.
            "xdp" => drop(bed.attach(&["--cir", "1mbit", "--key", "dst"])),
            "tc" => drop(bed.attach(&["--cir", "1mbit", "--key", "dst", "--hook", "tc"])),
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
            "drop" => passes.push(attach_bare(bed, anchors(1, 1)?, PROG_XDP_DROP)?),
            "read" => passes.push(attach_bare(bed, anchors(1, 1)?, PROG_XDP_READ_DROP)?),
            "clock" => passes.push(attach_bare(bed, anchors(1, 1)?, PROG_XDP_CLOCK_DROP)?),
            "naive" => {
                // Room for every flow of the flood, twice over: an LRU table evicts before it
                // is full, and a new entry passes.
                let table = (u32::from(args.flows) * 2).max(1024);
                passes.push(attach_bare(bed, anchors(table, 1)?, PROG_NAIVE_FLOOD)?)
            }
            _ => passes.push(attach_bare(
                bed,
                aya::Ebpf::load(policer::ebpf_object())?,
                PROG_XDP_PASS,
            )?),
        }
    }
    let generators =
        beds.iter().map(|bed| Generator::new(bed, args)).collect::<anyhow::Result<Vec<_>>>()?;
    let mut samples: Vec<Vec<Sample>> = (0..RECEIVERS.len()).map(|_| Vec::new()).collect();
    // In turn, repeatedly, so that a slow moment of the machine hits every receiver alike.
    for _ in 0..args.repeats {
        for (i, generator) in generators.iter().enumerate() {
            samples[i].push(generator.flood(args)?);
        }
    }
    drop(generators);
    drop(passes);
    let rows = RECEIVERS
        .iter()
        .zip(samples)
        .map(|(&(receiver, what), s)| LoadRow {
            receiver,
            what,
            mpps: Spread::of(s.iter().map(|s| s.per_cpu_mpps)),
            wall: Spread::of(s.iter().map(|s| s.wall_mpps)),
            busy: Spread::of(s.iter().map(|s| s.busy)),
            offered: Spread::of(s.iter().map(|s| s.offered_mpps)),
            per_run: Spread::of(s.iter().map(|s| s.per_run)),
            xdp_dropped: Spread::of(s.iter().map(|s| s.xdp_dropped)),
        })
        .collect::<Vec<_>>();
    for r in &rows {
        eprintln!(
            "load {}: {:.2} Mpps per receiving core, {:.2} Mpps wall, receiver busy {:.0} %, \
             offered {:.2} Mpps, {:.0} frames per run, {:.1} % dropped in XDP",
            r.receiver,
            r.mpps.median,
            r.wall.median,
            r.busy.median * 100.0,
            r.offered.median,
            r.per_run.median,
            r.xdp_dropped.median * 100.0
        );
    }
    Ok(rows)
}

/// The bare program `name` of `ebpf` on the receiver's interface, attached for as long as
/// the returned object lives.
fn attach_bare(bed: &Testbed, mut ebpf: aya::Ebpf, name: &str) -> anyhow::Result<aya::Ebpf> {
    let prog: &mut Xdp = ebpf.program_mut(name).context(name.to_string())?.try_into()?;
    prog.load()?;
    bed.b.enter(|| prog.attach(&bed.b_if, XdpMode::Driver))?;
    Ok(ebpf)
}

/// The bare XDP_DROP of the anchors' object.
pub const PROG_XDP_DROP: &str = "xdp_drop";
/// `XDP_DROP` after reading the frame, in the anchors' object.
const PROG_XDP_READ_DROP: &str = "xdp_read_drop";
/// `XDP_DROP` after reading the clock, in the anchors' object.
const PROG_XDP_CLOCK_DROP: &str = "xdp_clock_drop";
/// The naive per-flow bucket at 1 Mbit/s, in the anchors' object.
pub const PROG_NAIVE_FLOOD: &str = "anchor_naive_flood_xdp";
/// The generator's amplifier in the anchors' object.
const PROG_XDP_FANOUT: &str = "xdp_fanout";

/// One measurement of one receiver.
struct Sample {
    per_cpu_mpps: f64,
    wall_mpps: f64,
    busy: f64,
    offered_mpps: f64,
    per_run: f64,
    /// The share of the frames the receiver's XDP program dropped.
    xdp_dropped: f64,
}

/// The flood generator of one testbed: a veth pair of its own in the sender's namespace,
/// seeds in at `seed_if`, the fan-out on its peer (`copies` entries), and the receiver's
/// NAPI threads.
struct Generator<'a> {
    bed: &'a Testbed,
    seed_if: String,
    fanout_if: String,
    frames: Vec<Vec<u8>>,
    napi_threads: Vec<i32>,
    _fanout: aya::Ebpf,
}

impl<'a> Generator<'a> {
    fn new(bed: &'a Testbed, args: &LoadArgs) -> anyhow::Result<Generator<'a>> {
        let (seed_if, fanout_if) = (unique_name("g"), unique_name("f"));
        bed.a.exec_ok("ip", ["link", "add", &seed_if, "type", "veth", "peer", "name", &fanout_if]);
        for ifname in [&seed_if, &fanout_if] {
            bed.a.exec_ok("ip", ["link", "set", ifname, "up"]);
            // Without TSO on the sending end, veth hands frames to the peer's NAPI (and so
            // to its XDP program) rather than straight to the stack.
            bed.a.exec_ok(
                "ethtool",
                ["-K", ifname, "gro", "off", "tso", "off", "gso", "off", "tx", "off"],
            );
        }
        let target = ifindex(bed, &bed.a_if)?;
        let mut ebpf = anchors(1, args.copies)?;
        {
            let mut fanout: DevMap<_> = ebpf.map_mut("FANOUT").context("FANOUT")?.try_into()?;
            // The kernel resolves the ifindex in the namespace of the thread that writes it.
            bed.a.enter(|| (0..args.copies).try_for_each(|i| fanout.set(i, target, None, 0)))?;
        }
        let prog: &mut Xdp = ebpf.program_mut(PROG_XDP_FANOUT).context("xdp_fanout")?.try_into()?;
        prog.load()?;
        bed.a.enter(|| prog.attach(&fanout_if, XdpMode::Driver))?;
        let mac = mac_of(bed)?;
        let frames = (0..args.flows)
            .map(|i| {
                let mut frame = Packet::udp(&bed.a_addr, &bed.b_addr, 10_000 + i, 9).frame(64);
                frame[..6].copy_from_slice(&mac);
                frame
            })
            .collect();
        let napi_threads = threaded_napi(bed)?;
        for &pid in &napi_threads {
            pin_to_cpu(pid, RECEIVER_CPU)?;
        }
        Ok(Generator { bed, seed_if, fanout_if, frames, napi_threads, _fanout: ebpf })
    }

    /// Floods for `args.seconds` and measures what the receiver took in.
    fn flood(&self, args: &LoadArgs) -> anyhow::Result<Sample> {
        let seed_ifindex = ifindex(self.bed, &self.seed_if)?;
        let (before, (cpu_before, runs_before)) = (received(self.bed)?, self.napi_cpu()?);
        let dropped_before = xdp_dropped(self.bed)?;
        let fanned_before = self.fanned()?;
        let start = Instant::now();
        let deadline = Duration::from_secs(args.seconds);
        std::thread::scope(|scope| {
            let threads: Vec<_> = GENERATOR_CPUS
                .iter()
                .map(|&cpu| {
                    scope.spawn(move || -> anyhow::Result<()> {
                        pin_to_cpu(0, cpu)?;
                        let socket = self.bed.a.enter(|| seed_socket(seed_ifindex))?;
                        send_seeds(&socket, &self.frames, start, deadline)
                    })
                })
                .collect();
            threads.into_iter().try_for_each(|t| t.join().expect("the generator does not panic"))
        })?;
        let elapsed = start.elapsed().as_secs_f64();
        let frames = (received(self.bed)? - before) as f64;
        let (cpu_after, runs_after) = self.napi_cpu()?;
        let cpu = (cpu_after - cpu_before) as f64 / 1e9;
        let runs = (runs_after - runs_before).max(1) as f64;
        let offered = ((self.fanned()? - fanned_before) * u64::from(args.copies)) as f64;
        anyhow::ensure!(
            cpu > 0.0 && frames > 0.0,
            "the receiver took in nothing ({frames} frames, {cpu} s of CPU, {offered} offered)"
        );
        Ok(Sample {
            per_cpu_mpps: frames / cpu / 1e6,
            wall_mpps: frames / elapsed / 1e6,
            busy: cpu / elapsed,
            offered_mpps: offered / elapsed / 1e6,
            per_run: frames / runs,
            xdp_dropped: (xdp_dropped(self.bed)? - dropped_before) as f64 / frames,
        })
    }

    /// CPU time the receiver's NAPI threads have run, in nanoseconds, and how many times
    /// they were put on the CPU (schedstat's first and third fields).
    fn napi_cpu(&self) -> anyhow::Result<(u64, u64)> {
        let (mut ns, mut runs) = (0, 0);
        for pid in &self.napi_threads {
            let text = std::fs::read_to_string(format!("/proc/{pid}/schedstat"))?;
            let fields: Vec<u64> =
                text.split_whitespace().map(str::parse).collect::<Result<_, _>>()?;
            anyhow::ensure!(fields.len() == 3, "schedstat of {pid}: {text}");
            ns += fields[0];
            runs += fields[2];
        }
        Ok((ns, runs))
    }

    /// Seeds the fan-out has redirected.
    fn fanned(&self) -> anyhow::Result<u64> {
        let out = self.bed.a.exec_ok("ethtool", ["-S", &self.fanout_if]);
        Ok(counter_sum(&out, "_xdp_redirect"))
    }
}

/// Makes the receiving end's NAPI threaded and returns its threads' pids.
fn threaded_napi(bed: &Testbed) -> anyhow::Result<Vec<i32>> {
    bed.b.exec_ok("sh", ["-c", &format!("echo 1 > /sys/class/net/{}/threaded", bed.b_if)]);
    // The threads are `napi/<interface>-<napi id>`, cut to 15 characters.
    let prefix: String = format!("napi/{}-", bed.b_if).chars().take(15).collect();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if std::fs::read_to_string(entry.path().join("comm"))
            .is_ok_and(|comm| comm.trim_end().starts_with(&prefix))
        {
            pids.push(pid);
        }
    }
    anyhow::ensure!(!pids.is_empty(), "no NAPI threads named {prefix}*");
    Ok(pids)
}

/// An AF_PACKET socket that sends on `ifindex` past the qdisc (and receives nothing).
fn seed_socket(ifindex: u32) -> anyhow::Result<OwnedFd> {
    // SAFETY: plain socket calls on a descriptor this function owns; the structures passed
    // are initialised and outlive the calls.
    unsafe {
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
        anyhow::ensure!(fd >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
        let socket = OwnedFd::from_raw_fd(fd);
        let one: libc::c_int = 1;
        let rc = libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_QDISC_BYPASS,
            (&raw const one).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        );
        anyhow::ensure!(rc == 0, "PACKET_QDISC_BYPASS: {}", std::io::Error::last_os_error());
        let mut addr: libc::sockaddr_ll = std::mem::zeroed();
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = ifindex as i32;
        let rc = libc::bind(
            fd,
            (&raw const addr).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        );
        anyhow::ensure!(rc == 0, "bind AF_PACKET: {}", std::io::Error::last_os_error());
        Ok(socket)
    }
}

/// Sends the frames in turn, `SEEDS_PER_CALL` a call, until the deadline.
fn send_seeds(
    socket: &OwnedFd,
    frames: &[Vec<u8>],
    start: Instant,
    deadline: Duration,
) -> anyhow::Result<()> {
    let mut iovecs: Vec<libc::iovec> = (0..SEEDS_PER_CALL)
        .map(|i| {
            let frame = &frames[i % frames.len()];
            libc::iovec { iov_base: frame.as_ptr() as *mut _, iov_len: frame.len() }
        })
        .collect();
    let mut messages: Vec<libc::mmsghdr> = iovecs
        .iter_mut()
        .map(|iovec| {
            // SAFETY: an all-zero msghdr is valid; the iovec it points to outlives it.
            let mut message: libc::mmsghdr = unsafe { std::mem::zeroed() };
            message.msg_hdr.msg_iov = iovec;
            message.msg_hdr.msg_iovlen = 1;
            message
        })
        .collect();
    while start.elapsed() < deadline {
        // SAFETY: the messages point to iovecs and frames that live until the loop ends.
        let sent = unsafe {
            libc::sendmmsg(socket.as_raw_fd(), messages.as_mut_ptr(), SEEDS_PER_CALL as u32, 0)
        };
        if sent < 0 {
            let error = std::io::Error::last_os_error();
            // A full device queue: try again.
            anyhow::ensure!(error.raw_os_error() == Some(libc::ENOBUFS), "sendmmsg: {error}");
        }
    }
    Ok(())
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

/// The index of an interface in the sender's namespace.
fn ifindex(bed: &Testbed, ifname: &str) -> anyhow::Result<u32> {
    let out = bed.a.exec_ok("ip", ["-j", "link", "show", "dev", ifname]);
    let links: serde_json::Value = serde_json::from_str(&out)?;
    Ok(links[0]["ifindex"].as_u64().context("an ifindex")? as u32)
}

/// XDP frames the receiving veth end ran its program on (ethtool's per-queue counters).
fn received(bed: &Testbed) -> anyhow::Result<u64> {
    let out = bed.b.exec_ok("ethtool", ["-S", &bed.b_if]);
    Ok(counter_sum(&out, "_xdp_packets"))
}

/// Frames the receiving veth end's XDP program dropped.
fn xdp_dropped(bed: &Testbed) -> anyhow::Result<u64> {
    let out = bed.b.exec_ok("ethtool", ["-S", &bed.b_if]);
    Ok(counter_sum(&out, "_xdp_drops"))
}

/// The sum of ethtool's per-queue receive counters ending in `suffix`.
fn counter_sum(ethtool_s: &str, suffix: &str) -> u64 {
    ethtool_s
        .lines()
        .filter_map(|l| l.trim().split_once(':'))
        .filter(|(name, _)| name.starts_with("rx_queue_") && name.ends_with(suffix))
        .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
        .sum()
}

/// Pins a thread (0: the calling one) to one CPU.
fn pin_to_cpu(pid: i32, cpu: usize) -> anyhow::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(pid, size_of::<libc::cpu_set_t>(), &set)
    };
    anyhow::ensure!(rc == 0, "pinning to CPU {cpu}: {}", std::io::Error::last_os_error());
    Ok(())
}

pub fn markdown(args: &LoadArgs, rows: &[LoadRow]) -> String {
    let rate =
        |receiver| rows.iter().find(|r| r.receiver == receiver).map_or(1.0, |r| r.mpps.median);
    let (base, drop, naive) = (rate("nft"), rate("drop"), rate("naive"));
    let mut out = format!(
        "## Packet rate under a flood\n\n64-byte UDP frames of {} flows. The generator: \
         AF_PACKET (`PACKET_QDISC_BYPASS`, `sendmmsg` of {SEEDS_PER_CALL}) sends seed frames \
         into a veth whose peer runs `xdp_fanout`, which broadcasts each seed {} times \
         through a devmap into the testbed's veth, from CPUs {GENERATOR_CPUS:?}. The far \
         end takes them as native XDP frames (as from a NIC) in threaded NAPI pinned to CPU \
         {RECEIVER_CPU}, where the receiver's whole work is done. (BPF_PROG_TEST_RUN in \
         live-frames mode, the generator used before, is refused with EPERM by this \
         machine's kernel.) Counted: frames the far end's XDP program ran on (ethtool's \
         `rx_queue_*_xdp_packets`), per second of CPU time of the receiving NAPI threads \
         (their schedstat): the rate one receiving core sustains. Also per second of wall \
         time, with the share of it the receiving threads ran and the rate the generator \
         offered, and the frames a receiving thread took in per run on its CPU (up to the \
         veth ring's 256 when it finds the ring full; far fewer means it mostly waited for \
         frames, and then wake-ups weigh on its figure). {} s per measurement, {} measurements of each receiver taken in turn \
         (median, range).\n\n\
         | receiver | Mpps per receiving core | against nftables | against XDP_DROP | against \
         the naive bucket | Mpps wall | receiver busy | offered Mpps | frames per run |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        args.flows, args.copies, args.seconds, args.repeats
    );
    for r in rows {
        out += &format!(
            "| {} | {} | {:.2}x | {:.2}x | {:.2}x | {} | {:.0} % | {:.2} | {:.0} |\n",
            r.what,
            r.mpps.show(2, 1.0),
            r.mpps.median / base,
            r.mpps.median / drop,
            r.mpps.median / naive,
            r.wall.show(2, 1.0),
            r.busy.median * 100.0,
            r.offered.median,
            r.per_run.median
        );
    }
    out
}
