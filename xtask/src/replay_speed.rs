//! How fast `policer simulate` replays a capture that is in the page cache.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, ensure};
use clap::Args;
use pcap_file::{
    TsResolution,
    pcap::{PcapHeader, PcapPacket, PcapWriter},
};
use policer_tests::frames::Packet;

#[derive(Args)]
pub struct ReplaySpeedArgs {
    /// Packets in the generated capture.
    #[arg(long, default_value_t = 5_000_000)]
    packets: u64,
    /// Distinct 5-tuple flows among them.
    #[arg(long, default_value_t = 1000)]
    flows: u16,
    /// Timed runs (the median is reported).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Where to write the figures.
    #[arg(long, default_value = "bench/REPLAY.md")]
    out: PathBuf,
}

/// Bytes kept of each frame: headers up to the ports (the rest is not needed to key it).
const SNAP: usize = 64;

pub fn run(args: &ReplaySpeedArgs) -> anyhow::Result<()> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--release", "--package", "policer", "--bin", "policer"])
        .status()
        .context("building policer (release)")?;
    ensure!(status.success(), "building policer failed");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let policer = root.join("target/release/policer");
    let capture = root.join("target/replay-speed.pcap");
    write_capture(&capture, args.packets, args.flows)?;

    // Baseline: reading the file (cat), then the replay; both warm in the page cache.
    let read = median(args.repeats, || time(Command::new("cat").arg(&capture)))?;
    let replay = median(args.repeats, || {
        time(
            Command::new(&policer)
                .args(["simulate", "--pcap"])
                .arg(&capture)
                .args(["--cir", "100mbit", "--json"]),
        )
    })?;
    let pps = args.packets as f64 / replay.as_secs_f64();
    let size = fs::metadata(&capture)?.len();
    fs::remove_file(&capture)?;

    let report = format!(
        "# Replay speed\n\n\
         `cargo xtask replay-speed` on {machine}.\n\n\
         A pcap of {packets} frames ({flows} TCP flows, IPv4, 64 and 1514 bytes on the wire, \
         {SNAP} bytes captured each, {mib:.0} MiB) replayed by `policer simulate --pcap ... \
         --cir 100mbit --json` (release build, one core), median of {repeats} runs after the \
         file is in the page cache:\n\n\
         | what | time | packets/s |\n|---|---|---|\n\
         | `cat` the capture (I/O floor) | {read:.3} s | {read_pps:.1} M |\n\
         | `policer simulate` | {replay:.3} s | **{pps:.1} M** |\n\n\
         Replay takes {ratio:.1}x the time of reading the file.\n",
        machine = crate::machine::describe(),
        packets = args.packets,
        flows = args.flows,
        mib = size as f64 / (1 << 20) as f64,
        repeats = args.repeats,
        read = read.as_secs_f64(),
        read_pps = args.packets as f64 / read.as_secs_f64() / 1e6,
        replay = replay.as_secs_f64(),
        pps = pps / 1e6,
        ratio = replay.as_secs_f64() / read.as_secs_f64(),
    );
    let out = root.join(&args.out);
    fs::create_dir_all(out.parent().expect("a file in a directory"))?;
    fs::write(&out, &report)?;
    print!("{report}");
    println!("written to {}", out.display());
    Ok(())
}

fn write_capture(path: &Path, packets: u64, flows: u16) -> anyhow::Result<()> {
    let header = PcapHeader { ts_resolution: TsResolution::NanoSecond, ..PcapHeader::default() };
    let file = std::io::BufWriter::new(fs::File::create(path)?);
    let mut writer = PcapWriter::with_header(file, header)?;
    let frames: Vec<Vec<u8>> = (0..flows)
        .map(|i| Packet::tcp("10.0.0.1", "10.0.0.2", 1024 + i, 5201).frame(SNAP))
        .collect();
    for n in 0..packets {
        let wire_len = if n % 2 == 0 { 64 } else { 1514 };
        let frame = &frames[(n % flows as u64) as usize];
        // 1 us apart: 5 M packets span 5 s.
        let packet = PcapPacket::new(Duration::from_nanos(n * 1000), wire_len, frame);
        writer.write_packet(&packet)?;
    }
    Ok(())
}

fn time(cmd: &mut Command) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let status = cmd.stdout(Stdio::null()).status()?;
    ensure!(status.success(), "{cmd:?} failed");
    Ok(start.elapsed())
}

fn median(
    repeats: usize,
    mut f: impl FnMut() -> anyhow::Result<Duration>,
) -> anyhow::Result<Duration> {
    f()?; // warm-up: brings the file into the page cache
    let mut times = (0..repeats.max(1)).map(|_| f()).collect::<anyhow::Result<Vec<_>>>()?;
    times.sort();
    Ok(times[times.len() / 2])
}
