//! `policer simulate`: the exact kernel algorithm replayed offline, checked against hand
//! computations and against the kernel program itself.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use pcap_file::{
    DataLink,
    pcap::{PcapHeader, PcapPacket, PcapWriter},
    pcapng::{
        PcapNgWriter,
        blocks::{
            enhanced_packet::EnhancedPacketBlock,
            interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption},
        },
    },
};
use policer::{Loaded, keys};
use policer_common::{Profile, action, key_mode};
use policer_tests::{failed_with, frames::Packet, policer_bin, succeeded, unique_name};

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(unique_name("sim"));
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn simulate(args: &[&str]) -> std::process::Output {
    Command::new(policer_bin()).arg("simulate").args(args).output().expect("run policer")
}

/// The colours of `--per-packet`, in input order.
fn colours(scratch: &Scratch, input: &[&str], profile: &[&str]) -> Vec<String> {
    let out = scratch.0.join("per-packet.csv");
    let mut args = input.to_vec();
    args.extend_from_slice(profile);
    args.extend_from_slice(&["--per-packet", out.to_str().unwrap()]);
    succeeded(simulate(&args), || format!("simulate {args:?}"));
    let csv = fs::read_to_string(out).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("index,time_ns,flow,len,colour"));
    lines
        .enumerate()
        .map(|(i, line)| {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields[0], i.to_string(), "index in input order");
            fields[4].to_string()
        })
        .collect()
}

#[test]
fn the_worked_example_as_a_trace_gives_its_colours() {
    let scratch = Scratch::new();
    let trace: String = std::iter::once("time_ns,len,flow\n".to_string())
        .chain((0..9).map(|_| "1000,1500,one\n".to_string()))
        .collect();
    let path = scratch.file("example.csv", &trace);
    let colours = colours(
        &scratch,
        &["--trace", path.to_str().unwrap()],
        &["--cir", "8bit", "--cbs", "3000", "--ebs", "5000", "--mode", "junose"],
    );
    let expected = ["green", "green", "yellow", "yellow", "red", "yellow", "red", "red", "red"];
    assert_eq!(colours, expected);
}

#[test]
fn refills_happen_at_exact_nanoseconds() {
    // 8000 bit/s = 1000 bytes/s: one byte per 1,000,000 ns.
    let scratch = Scratch::new();
    let plain = scratch.file(
        "plain.csv",
        "time_ns,len,flow\n0,2000,f\n1000000,1,f\n1999999,1,f\n2000000,1,f\n2000000,1,g\n",
    );
    let profile = ["--cir", "8000bit", "--cbs", "2000", "--ebs", "0"];
    // 2000 at t=0 empties the bucket; 1 ms earns exactly 1 byte (green); 0.999999 ms more
    // earns just under a byte (red, takes nothing); 1 ns more completes it (green). Another
    // flow has its own full bucket.
    let colours_plain = colours(&scratch, &["--trace", plain.to_str().unwrap()], &profile);
    assert_eq!(colours_plain, ["green", "green", "red", "green", "green"]);

    let borrowing = scratch.file(
        "borrowing.csv",
        "time_ns,len,flow\n0,2000,f\n500000,1000,f\n500000,2000,f\n1500000,2000,f\n1500001,1,f\n",
    );
    let profile = ["--cir", "8000bit", "--cbs", "2000", "--ebs", "3000", "--mode", "junose"];
    // Tokens 0 after the first; +0.5 byte at 0.5 ms: 1000 borrows 999.5 (yellow, debt
    // 999.5); 2000 borrows 2999.5, 999.5 + 2999.5 >= 3000 (red, debt 0); +1 byte at 1.5 ms:
    // 2000 borrows 2998.5 < 3000 (yellow); +0.001 byte 1 ns later: 1 byte borrows
    // 2999.499, and 2998.5 + 2999.499 >= 3000 (red).
    let colours_borrowing = colours(&scratch, &["--trace", borrowing.to_str().unwrap()], &profile);
    assert_eq!(colours_borrowing, ["green", "yellow", "red", "yellow", "red"]);
}

/// A capture of several flows: IPv4 TCP and UDP, VLAN and QinQ tagged, and IPv6.
fn capture_packets() -> Vec<(u64, Vec<u8>)> {
    let flows = [
        Packet::tcp("10.1.0.1", "10.1.0.2", 40000, 5201),
        Packet::tcp("10.1.0.1", "10.1.0.2", 40001, 5201),
        Packet::udp("10.1.0.3", "10.1.0.2", 5353, 53),
        Packet::tcp("10.2.0.1", "10.2.0.2", 1234, 80).vlans(&[0x8100]),
        Packet::udp("10.3.0.1", "10.3.0.2", 7, 9).vlans(&[0x88a8, 0x8100]),
        Packet::tcp("2001:db8::1", "2001:db8::2", 443, 50000),
        Packet::udp("2001:db8::3", "2001:db8::2", 4789, 4789).vlans(&[0x8100]),
    ];
    (0..70)
        .map(|i| {
            let flow = &flows[i % flows.len()];
            (1_700_000_000_000_000_000 + i as u64 * 1_000_000, flow.frame(200 + i * 10))
        })
        .collect()
}

fn write_pcap(path: &Path, packets: &[(u64, Vec<u8>)]) {
    let header =
        PcapHeader { ts_resolution: pcap_file::TsResolution::NanoSecond, ..PcapHeader::default() };
    let mut writer = PcapWriter::with_header(fs::File::create(path).unwrap(), header).unwrap();
    for (time_ns, frame) in packets {
        let packet = PcapPacket::new(Duration::from_nanos(*time_ns), frame.len() as u32, frame);
        writer.write_packet(&packet).unwrap();
    }
}

fn write_pcapng(path: &Path, packets: &[(u64, Vec<u8>)]) {
    let mut writer = PcapNgWriter::new(fs::File::create(path).unwrap()).unwrap();
    let mut interface = InterfaceDescriptionBlock::new(DataLink::ETHERNET, 0);
    // Microsecond timestamps (the pcapng default, stated anyway).
    interface.options.push(InterfaceDescriptionOption::IfTsResol(6));
    writer.write_pcapng_block(interface).unwrap();
    for (time_ns, frame) in packets {
        let block = EnhancedPacketBlock {
            interface_id: 0,
            // pcap-file writes the raw units: microseconds here.
            timestamp: Duration::from_nanos(time_ns / 1000),
            original_len: frame.len() as u32,
            data: frame.into(),
            options: vec![],
        };
        writer.write_pcapng_block(block).unwrap();
    }
}

/// flow -> packets, from `simulate --json`.
fn replayed_flows(path: &Path, key: &str) -> BTreeMap<String, u64> {
    let args = [
        "--pcap",
        path.to_str().unwrap(),
        "--cir",
        "10mbit",
        "--key",
        key,
        "--top",
        "1000",
        "--json",
    ];
    let report: serde_json::Value =
        serde_json::from_str(&succeeded(simulate(&args), || format!("simulate {args:?}"))).unwrap();
    report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let packets = ["green", "yellow", "red"]
                .iter()
                .map(|c| f["counters"][c]["packets"].as_u64().unwrap())
                .sum();
            (f["flow"].as_str().unwrap().to_string(), packets)
        })
        .collect()
}

/// flow -> packets, from the kernel program fed the same frames with BPF_PROG_TEST_RUN.
fn kernel_flows(packets: &[(u64, Vec<u8>)], mode: u8) -> BTreeMap<String, u64> {
    let profile = Profile::new(1_250_000, 1 << 30, 0, mode, action::PASS, action::DROP).unwrap();
    let mut loaded =
        Loaded::load(&profile, 1024, policer::ProgramKind::Xdp).expect("load the XDP program");
    for (_, frame) in packets {
        loaded.test_run(frame, 1).expect("BPF_PROG_TEST_RUN");
    }
    let flows = loaded.maps.flows().unwrap();
    flows.iter().map(|f| (keys::describe(&f.key), f.state.packets)).collect()
}

#[test]
fn a_capture_is_keyed_exactly_as_the_kernel_keys_it() {
    let scratch = Scratch::new();
    let packets = capture_packets();
    let pcap = scratch.0.join("flows.pcap");
    let pcapng = scratch.0.join("flows.pcapng");
    write_pcap(&pcap, &packets);
    write_pcapng(&pcapng, &packets);
    for (mode, name) in
        [(key_mode::FIVE_TUPLE, "5tuple"), (key_mode::SRC, "src"), (key_mode::DST, "dst")]
    {
        let kernel = kernel_flows(&packets, mode);
        assert_eq!(replayed_flows(&pcap, name), kernel, "pcap, key {name}");
        assert_eq!(replayed_flows(&pcapng, name), kernel, "pcapng, key {name}");
    }
    assert_eq!(kernel_flows(&packets, key_mode::FIVE_TUPLE).len(), 7);
}

#[test]
fn pcapng_timestamps_follow_the_interface_resolution() {
    // 1500-byte frames 1 ms apart at 12 Mbit/s (1500 bytes per ms) with cbs 1514: each
    // frame is earned exactly when it arrives, so all green. Read as nanoseconds (1000x
    // too close together), most would be red.
    let scratch = Scratch::new();
    let packets: Vec<_> = (0..20u64)
        .map(|i| {
            (1_000_000_000 + i * 1_000_000, Packet::tcp("10.0.0.1", "10.0.0.2", 1, 2).frame(1500))
        })
        .collect();
    let path = scratch.0.join("ms.pcapng");
    write_pcapng(&path, &packets);
    let colours = colours(
        &scratch,
        &["--pcap", path.to_str().unwrap()],
        &["--cir", "12mbit", "--cbs", "1514", "--ebs", "0"],
    );
    assert_eq!(colours, vec!["green"; 20]);
}

#[test]
fn unreadable_truncated_and_foreign_inputs_are_refused_with_their_reason() {
    let scratch = Scratch::new();
    let missing = scratch.0.join("missing.pcap");
    let cir = ["--cir", "1mbit"];
    let run = |input: &str, path: &Path| {
        let mut args = vec![input, path.to_str().unwrap()];
        args.extend_from_slice(&cir);
        simulate(&args)
    };
    failed_with(&run("--pcap", &missing), "missing capture", &["cannot read", "No such file"]);

    let text = scratch.file("text.pcap", "this is not a capture at all\n");
    failed_with(&run("--pcap", &text), "text file", &["is not a pcap or pcapng capture"]);

    let packets = capture_packets();
    let full = scratch.0.join("full.pcap");
    write_pcap(&full, &packets);
    let bytes = fs::read(&full).unwrap();
    let cut = scratch.0.join("cut.pcap");
    fs::write(&cut, &bytes[..bytes.len() - 50]).unwrap();
    let output = run("--pcap", &cut);
    failed_with(
        &output,
        "truncated capture",
        &["is truncated: it stops inside packet 70", "covers the 69 packets"],
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("69 packets policed"),
        "partial report"
    );

    let raw = scratch.0.join("raw.pcap");
    let header = PcapHeader { datalink: DataLink::RAW, ..PcapHeader::default() };
    PcapWriter::with_header(fs::File::create(&raw).unwrap(), header).unwrap();
    failed_with(&run("--pcap", &raw), "raw IP capture", &["is not Ethernet"]);

    for (name, contents, message) in [
        ("header.csv", "time,len,flow\n1,2,a\n", "line 1: the header must be \"time_ns,len,flow\""),
        ("fields.csv", "time_ns,len,flow\n1,100,a\n2,100\n", "line 3: expected 3 fields"),
        ("comma.csv", "time_ns,len,flow\n1,100,a,b\n", "line 2: expected 3 fields"),
        (
            "time.csv",
            "time_ns,len,flow\n1.5,100,a\n",
            "line 2: time_ns \"1.5\" is not a whole number",
        ),
        ("len.csv", "time_ns,len,flow\n1,0,a\n", "line 2: len \"0\" is not a length"),
        (
            "backwards.csv",
            "time_ns,len,flow\n5,100,a\n7,100,a\n6,100,b\n",
            "line 4: time goes backwards: 6 ns after 7 ns",
        ),
        ("empty.csv", "", "line 1: empty file"),
    ] {
        let path = scratch.file(name, contents);
        failed_with(&run("--trace", &path), name, &[message]);
    }
}

#[test]
fn compare_and_plot_describe_the_same_traffic() {
    let scratch = Scratch::new();
    // One flow at twice its 1 Mbit/s rate for 2 s: 1000-byte packets every 4 ms.
    let trace: String = std::iter::once("time_ns,len,flow\n".to_string())
        .chain((0..500).map(|i| format!("{},1000,fast\n", i * 4_000_000)))
        .collect();
    let path = scratch.file("fast.csv", &trace);
    let svg = scratch.0.join("fast.svg");
    let args = [
        "--trace",
        path.to_str().unwrap(),
        "--cir",
        "1mbit",
        "--compare",
        "--json",
        "--plot",
        svg.to_str().unwrap(),
    ];
    let report: serde_json::Value =
        serde_json::from_str(&succeeded(simulate(&args), || "simulate --compare".into())).unwrap();
    let red = |r: &serde_json::Value| r["counters"]["red"]["packets"].as_u64().unwrap();
    let plain = &report["compare_plain_bucket"];
    assert_eq!(plain["profile"]["ebs_bytes"], 0);
    assert_eq!(plain["counters"]["yellow"]["packets"], 0, "a plain bucket has no yellow");
    assert!(red(&report) > 0 && red(plain) > 0);
    // Both deliver about the rate: 2 s at 1 Mbit/s plus the bursts.
    let delivered = report["delivered_bps"].as_f64().unwrap();
    assert!((0.9e6..1.4e6).contains(&delivered), "delivered {delivered}");
    let svg = fs::read_to_string(svg).expect("the plot was written");
    assert!(
        svg.starts_with("<svg") && svg.contains("tokens") && svg.contains("CIR"),
        "an SVG plot"
    );
}

#[test]
fn frames_cut_by_the_snap_length_are_charged_their_wire_length() {
    // As `tcpdump -s 96` writes them: 96 bytes kept, the original length recorded.
    let scratch = Scratch::new();
    let path = scratch.0.join("snap96.pcap");
    let header = PcapHeader {
        snaplen: 96,
        ts_resolution: pcap_file::TsResolution::NanoSecond,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(fs::File::create(&path).unwrap(), header).unwrap();
    let frame = Packet::tcp("10.0.0.1", "10.0.0.2", 1, 2).frame(1514);
    for i in 0..3u64 {
        let raw = pcap_file::pcap::RawPcapPacket {
            ts_sec: 1,
            ts_frac: i as u32,
            incl_len: 96,
            orig_len: 1514,
            data: frame[..96].into(),
        };
        writer.write_raw_packet(&raw).unwrap();
    }
    drop(writer);
    let out = scratch.0.join("per-packet.csv");
    let args = ["--pcap", path.to_str().unwrap(), "--cir", "1mbit", "--cbs", "3028", "--ebs", "0"];
    let mut with_csv = args.to_vec();
    with_csv.extend_from_slice(&["--per-packet", out.to_str().unwrap()]);
    succeeded(simulate(&with_csv), || "simulate a snap-96 capture".into());
    let csv = fs::read_to_string(out).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r[3] == "1514"), "charged on the wire: {csv}");
    assert_eq!(rows.iter().map(|r| r[4]).collect::<Vec<_>>(), ["green", "green", "red"]);
    assert_eq!(rows[0][2], "tcp 10.0.0.1:1 > 10.0.0.2:2");
    assert_eq!(rows[1][1], "1000000001", "nanosecond timestamps");
}

#[test]
fn ecn_and_dscp_actions_mark_instead_of_dropping() {
    let scratch = Scratch::new();
    // The worked example again: nine frames at once, cbs 3000, ebs 5000; a trace is taken as
    // ECN-capable. `dscp=10` marks every red (len-debt: the last four). `ecn` marks only
    // the red that is TCP's signal (JunosE's debt red, the fifth frame), which then takes
    // its tokens, so that every frame after it finds the bucket at its floor: dropped.
    let trace: String = std::iter::once("time_ns,len,flow\n".to_string())
        .chain((0..9).map(|_| "1000,1500,one\n".to_string()))
        .collect();
    let path = scratch.file("example.csv", &trace);
    for (red, mode, (reds, marked, dropped)) in
        [("dscp=10", "len-debt", (4, 4, 0)), ("ecn", "junose", (5, 1, 4))]
    {
        let args = [
            "--trace",
            path.to_str().unwrap(),
            "--cir",
            "8bit",
            "--cbs",
            "3000",
            "--ebs",
            "5000",
            "--mode",
            mode,
            "--red",
            red,
            "--json",
        ];
        let report: serde_json::Value =
            serde_json::from_str(&succeeded(simulate(&args), || format!("--red {red}"))).unwrap();
        let counters = &report["counters"];
        assert_eq!(counters["red"]["packets"], reds, "{red}");
        assert_eq!(counters["marked"]["packets"], marked, "{red}");
        assert_eq!(counters["dropped"]["packets"], dropped, "{red}");
        assert_eq!(report["profile"]["red"], red);
    }
}

/// `--plan` gives each capture's packets the profile of its longest matching prefix, as the
/// kernel program does (the same frames through both, no refill worth a byte: the colours
/// depend on the buckets only).
#[test]
fn plans_colour_a_capture_as_the_kernel_does() {
    let scratch = Scratch::new();
    let senders = ["192.0.2.9", "192.0.2.1", "198.51.100.1", "2001:db8::7"];
    let packets: Vec<(u64, Vec<u8>)> = (0..40)
        .map(|i| {
            let src = senders[i % 4];
            let dst = if src.contains(':') { "2001:db8:ffff::1" } else { "203.0.113.1" };
            (1_000_000 + i as u64 * 1000, Packet::tcp(src, dst, 1000, 80).frame(1500))
        })
        .collect();
    let pcap = scratch.0.join("plans.pcap");
    write_pcap(&pcap, &packets);
    let plans = scratch.file(
        "plans.txt",
        "# prefix=rate,fields\n192.0.2.0/24=8bit,cbs=3000,ebs=0\n\n2001:db8::/32=8bit,cbs=4500,ebs=0\n",
    );
    let args = [
        "--pcap",
        pcap.to_str().unwrap(),
        "--cir",
        "8bit",
        "--cbs",
        "6000",
        "--ebs",
        "0",
        "--plan",
        "192.0.2.8/29=8bit,cbs=2000,ebs=0",
        "--plans",
        plans.to_str().unwrap(),
        "--json",
    ];
    let out = succeeded(simulate(&args), || format!("simulate {args:?}"));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let green = |plan: &serde_json::Value| plan["counters"]["green"]["packets"].as_u64().unwrap();
    let by_prefix: BTreeMap<String, u64> = report["plans"]
        .as_array()
        .expect("plans in the report")
        .iter()
        .map(|p| (p["prefix"].as_str().unwrap().to_string(), green(p)))
        .collect();
    let expected: BTreeMap<String, u64> =
        [("192.0.2.8/29", 1), ("192.0.2.0/24", 2), ("2001:db8::/32", 3)]
            .map(|(p, n)| (p.to_string(), n))
            .into();
    assert_eq!(by_prefix, expected, "{out}");

    // The kernel program, with the same plans, passes as many of each sender's frames.
    let bucket = |cbs| Profile::new(1, cbs, 0, key_mode::FIVE_TUPLE, action::PASS, action::DROP);
    let mut loaded =
        Loaded::load(&bucket(6000).unwrap(), 1024, policer::ProgramKind::Xdp).expect("load");
    for (prefix, cbs) in [("192.0.2.8/29", 2000), ("192.0.2.0/24", 3000), ("2001:db8::/32", 4500)] {
        let profile = bucket(cbs).unwrap();
        policer::plans::add(&mut loaded.maps, "sim", prefix.parse().unwrap(), &profile).unwrap();
    }
    let passed = packets.iter().filter(|(_, f)| loaded.test_run(f, 1).unwrap().0 == 2).count();
    assert_eq!(passed, 1 + 2 + 4 + 3);
    let total_green = report["counters"]["green"]["packets"].as_u64();
    assert_eq!(total_green, Some(10), "{out}");

    // A bad plan is refused with its reason, naming the file and line.
    let bad = scratch.file("bad.txt", "10.0.0.0/8=1mbit\n10.0.0.1/8=1mbit\n");
    let output = simulate(&[
        "--pcap",
        pcap.to_str().unwrap(),
        "--cir",
        "1mbit",
        "--plans",
        bad.to_str().unwrap(),
    ]);
    failed_with(&output, "a bad plans file", &["bad.txt:2", "host bits are set"]);
}
