//! Hostile frames, faults, concurrency and permissions, against the real kernel programs.
//!
//! The rule every frame must meet: a frame is dropped only when the meter coloured it red
//! and the red action is `drop`; every frame is counted exactly once, as green, yellow or
//! red, or as unparsed or non-IP (passed unpoliced).

use std::{fs, os::unix::fs::PermissionsExt as _, path::Path, thread, time::Duration};

use policer::{Loaded, ProgramKind, maps::Counters};
use policer_common::{Profile, action, counter, key_mode};
use policer_tests::{
    Testbed, failed_with, frames::Packet, pin_dir, policer_bin, run, text, xdp_prog_id,
};

const KINDS: [ProgramKind; 2] = [ProgramKind::Xdp, ProgramKind::Tc];

/// A pass verdict of either program: XDP_PASS (2) or TC_ACT_OK (0).
fn passed(kind: ProgramKind, raw: u32) -> bool {
    matches!((kind, raw), (ProgramKind::Xdp, 2) | (ProgramKind::Tc, 0))
}

/// Runs a frame; `None` where the kernel's BPF_PROG_TEST_RUN for TC refuses to build an
/// skb of it (EINVAL for an IP ethertype with less than an IP header after it: the stack
/// never hands TC such a packet). XDP takes every frame of an Ethernet header or more.
fn try_run(loaded: &mut Loaded, frame: &[u8]) -> Option<u32> {
    match loaded.test_run(frame, 1) {
        Ok((raw, _)) => Some(raw),
        Err(e) if loaded.kind() == ProgramKind::Tc && frame.len() < 14 + 8 + 40 => {
            let _ = e;
            None
        }
        Err(e) => panic!(
            "{:?}: {} bytes {:02x?}: {e}",
            loaded.kind(),
            frame.len(),
            &frame[..frame.len().min(64)]
        ),
    }
}

/// Every frame passes: a bucket no test fills.
fn load_all_green(kind: ProgramKind) -> Loaded {
    let profile =
        Profile::new(1 << 30, 1 << 32, 0, key_mode::FIVE_TUPLE, action::PASS, action::DROP);
    Loaded::load(&profile.unwrap(), 1 << 16, kind).expect("load")
}

/// Frames counted: coloured, unparsed or non-IP.
fn counted(c: &Counters) -> u64 {
    [counter::GREEN, counter::YELLOW, counter::RED, counter::UNPARSED, counter::NON_IP]
        .iter()
        .map(|&i| c.get(i).packets)
        .sum()
}

/// Frames of every kind the parser knows, to cut and to mutate.
fn seeds() -> Vec<Vec<u8>> {
    let tcp = Packet::tcp("10.0.0.1", "10.0.0.2", 1000, 80);
    let udp6 = Packet::udp("2001:db8::1", "2001:db8::2", 53, 5353);
    let mut icmp = Packet::udp("10.0.0.1", "10.0.0.3", 0, 0).frame(98);
    icmp[23] = 1;
    icmp[34..38].copy_from_slice(&[8, 0, 0, 0]);
    let mut ext = udp6.frame(160);
    ext[20] = 0; // hop-by-hop, then UDP
    ext.splice(54..54, [17u8, 0, 0, 0, 0, 0, 0, 0]);
    let mut options = tcp.frame(120);
    options[14] = 0x47; // IHL 7: 8 bytes of options
    vec![
        tcp.frame(1514),
        tcp.vlans(&[0x8100]).frame(200),
        tcp.vlans(&[0x88a8, 0x8100]).frame(200),
        udp6.frame(300),
        udp6.vlans(&[0x8100]).frame(120),
        icmp,
        ext,
        options,
    ]
}

#[test]
fn every_truncation_of_every_header_passes_and_is_counted_once() {
    for kind in KINDS {
        let mut loaded = load_all_green(kind);
        let mut frames = 0;
        for seed in seeds() {
            // BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header (EINVAL):
            // the kernel never hands a program one.
            for len in 14..=seed.len().min(200) {
                let Some(raw) = try_run(&mut loaded, &seed[..len]) else { continue };
                assert!(passed(kind, raw), "{kind:?}: cut at {len} of {seed:02x?} was dropped");
                frames += 1;
            }
        }
        let counters = loaded.maps.counters().unwrap();
        assert_eq!(counted(&counters), frames, "{kind:?}: each frame counted once");
        assert!(counters.get(counter::UNPARSED).packets > 0);
        assert_eq!(counters.get(counter::DROPPED).packets, 0);
    }
}

#[test]
fn ipv4_lengths_that_disagree_with_the_frame_are_policed_on_the_frame() {
    // The IPv4 total length is not used: a frame is charged what it is on the wire.
    for kind in KINDS {
        let mut loaded = load_all_green(kind);
        for total in [0u16, 20, 46, 1500, 65535] {
            let mut frame = Packet::tcp("10.0.0.1", "10.0.0.2", 1, 2).frame(400);
            frame[16..18].copy_from_slice(&total.to_be_bytes());
            assert!(passed(kind, loaded.test_run(&frame, 1).unwrap().0));
        }
        let counters = loaded.maps.counters().unwrap();
        assert_eq!(counters.get(counter::GREEN).packets, 5);
        assert_eq!(counters.get(counter::GREEN).bytes, 5 * 400);
    }
}

/// xorshift64*: reproducible, and enough to scramble frames.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A random frame: a seed with a few bytes changed and its length cut or grown, or noise.
fn mutant(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if rng.below(10) == 0 {
        let len = 14 + rng.below(200);
        return (0..len).map(|_| rng.next() as u8).collect();
    }
    let mut frame = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        // Mostly in the headers, where the parser looks.
        let at = rng.below(frame.len().min(80));
        frame[at] = rng.next() as u8;
    }
    let len = 14 + rng.below(frame.len() + 40 - 14);
    frame.resize(len, rng.next() as u8);
    frame
}

/// Frames fuzzed per program in the normal test run.
const FUZZ_FRAMES: u64 = 1_000_000;

/// [`FUZZ_FRAMES`], or `POLICER_FUZZ_FRAMES` where set: `cargo xtask vm-test` asks for fewer
/// in an emulated guest, where a million runs would take most of the CI's time.
fn fuzz_frames() -> u64 {
    match std::env::var("POLICER_FUZZ_FRAMES") {
        Ok(frames) => frames.parse().expect("POLICER_FUZZ_FRAMES: a number of frames"),
        Err(_) => FUZZ_FRAMES,
    }
}

#[test]
fn a_million_mutated_frames_never_break_the_rule() {
    let seeds = seeds();
    let frames = fuzz_frames();
    for kind in KINDS {
        let mut rng = Rng(0x5eed_0000 + kind as u64);
        // A small bucket with ebs 0: many frames are red and dropped, so the drop rule is
        // exercised, not just passing.
        let profile =
            Profile::new(1000, 20_000, 0, key_mode::FIVE_TUPLE, action::PASS, action::DROP);
        let mut loaded = Loaded::load(&profile.unwrap(), 4096, kind).expect("load");
        let (mut dropped, mut refused) = (0, 0);
        for _ in 0..frames {
            let frame = mutant(&mut rng, &seeds);
            match try_run(&mut loaded, &frame) {
                Some(raw) if !passed(kind, raw) => dropped += 1,
                Some(_) => {}
                None => refused += 1,
            }
        }
        let counters = loaded.maps.counters().unwrap();
        println!(
            "{kind:?}: {frames} frames: green {} yellow {} red {} unparsed {} non-IP {} \
             dropped {dropped}",
            counters.get(counter::GREEN).packets,
            counters.get(counter::YELLOW).packets,
            counters.get(counter::RED).packets,
            counters.get(counter::UNPARSED).packets,
            counters.get(counter::NON_IP).packets,
        );
        println!("{kind:?}: {refused} short frames the kernel would not build an skb of");
        assert_eq!(counted(&counters), frames - refused, "{kind:?}: every frame counted once");
        assert_eq!(dropped, counters.get(counter::RED).packets, "{kind:?}: drops are the reds");
        assert_eq!(dropped, counters.get(counter::DROPPED).packets);
        assert!(dropped > 0 && counters.get(counter::UNPARSED).packets > 0);
    }
}

/// Writes `tests/corpus/frames.txt`: the seeds, and the first mutant of each kind the fuzz
/// meets (by what it counts as, its EtherType and IP protocol bytes, and whether it is
/// short), as the XDP program classifies them. Run by hand:
/// `cargo test -p policer-tests --test robustness -- --ignored write_corpus`.
#[test]
#[ignore = "writes the corpus; run by hand"]
fn write_corpus() {
    let seeds = seeds();
    let mut rng = Rng(0xc0_ffee);
    let mut seen = std::collections::BTreeSet::new();
    let mut lines = vec![
        "// Frames for the robustness tests: hex, then what the kernel counts it as.".to_string(),
        "// Written by `write_corpus` in tests/tests/robustness.rs.".to_string(),
    ];
    let mut loaded = load_all_green(ProgramKind::Xdp);
    let mut before = loaded.maps.counters().unwrap();
    let frames = seeds.iter().cloned().chain((0..20_000).map(|_| mutant(&mut rng, &seeds)));
    for frame in frames {
        loaded.test_run(&frame, 1).expect("run");
        let after = loaded.maps.counters().unwrap();
        let grew = |i| after.get(i).packets > before.get(i).packets;
        let class = if grew(counter::UNPARSED) {
            "unparsed"
        } else if grew(counter::NON_IP) {
            "non-ip"
        } else {
            "coloured"
        };
        before = after;
        let kind = (class, frame[12], frame[13], frame.get(23).copied(), frame.len() < 64);
        if seen.insert(kind) && seen.len() <= 80 {
            let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
            lines.push(format!("{hex} # {class}"));
        }
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/frames.txt");
    fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// `tests/corpus/frames.txt`: one frame a line, as hex, then ` # ` and what it must count
/// as (`coloured`, `unparsed` or `non-ip`).
#[test]
fn the_corpus_of_interesting_frames_replays() {
    let corpus =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/frames.txt"))
            .expect("the corpus");
    let entries: Vec<(Vec<u8>, &str)> = corpus
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("//"))
        .map(|line| {
            let (hex, class) = line.split_once(" # ").expect("hex # class");
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            (bytes, class.trim())
        })
        .collect();
    assert!(entries.len() >= 20, "the corpus has {} frames", entries.len());
    for kind in KINDS {
        for (frame, class) in &entries {
            let mut loaded = load_all_green(kind);
            let Some(raw) = try_run(&mut loaded, frame) else { continue };
            assert!(passed(kind, raw), "{kind:?}: {frame:02x?} dropped");
            let c = loaded.maps.counters().unwrap();
            let got = if c.get(counter::UNPARSED).packets == 1 {
                "unparsed"
            } else if c.get(counter::NON_IP).packets == 1 {
                "non-ip"
            } else {
                "coloured"
            };
            assert_eq!(got, *class, "{kind:?}: {frame:02x?}");
            assert_eq!(counted(&c), 1);
        }
    }
}

#[test]
fn an_overfull_flow_table_evicts_and_keeps_policing_the_flows_it_holds() {
    for kind in KINDS {
        let profile = Profile::new(1, 3000, 0, key_mode::FIVE_TUPLE, action::PASS, action::DROP);
        let mut loaded = Loaded::load(&profile.unwrap(), 16, kind).expect("load");
        // 64 flows, one packet each: the tables hold at most 32 (16 slots, 16 in the LRU
        // table; at 1 byte/s no flow is ever forgotten to free a slot).
        for port in 0..64u16 {
            let frame = Packet::tcp("10.0.0.1", "10.0.0.2", 1000 + port, 80).frame(1000);
            assert!(passed(kind, loaded.test_run(&frame, 1).unwrap().0));
        }
        assert!(loaded.maps.flows().unwrap().len() <= 32);
        assert_eq!(loaded.maps.counters().unwrap().get(counter::NEW_FLOWS).packets, 64);
        // A flow it holds is still policed: 3000 bytes of bucket, then red.
        let hot = Packet::tcp("10.0.0.9", "10.0.0.2", 7, 80).frame(1000);
        let verdicts: Vec<bool> =
            (0..5).map(|_| passed(kind, loaded.test_run(&hot, 1).unwrap().0)).collect();
        assert_eq!(verdicts, [true, true, true, false, false], "{kind:?}");
    }
}

#[test]
fn a_long_idle_gap_refills_exactly_to_cbs() {
    // The fastest rate with the deepest bucket: an unclamped refill after 2 s would be
    // 2e9 ns x 1.25e11 B/s, far past 64 bits.
    let profile = Profile::new(125_000_000_000, 1 << 32, 1 << 32, 0, action::PASS, action::DROP);
    let mut loaded = Loaded::load(&profile.unwrap(), 16, ProgramKind::Xdp).expect("load");
    let frame = Packet::tcp("10.0.0.1", "10.0.0.2", 1, 2).frame(1500);
    loaded.test_run(&frame, 1).unwrap();
    thread::sleep(Duration::from_secs(2));
    loaded.test_run(&frame, 1).unwrap();
    let state = loaded.maps.flows().unwrap()[0].state;
    assert_eq!(state.tokens_bytes(), (1 << 32) - 1500, "full bucket, less the packet");
    // And at the slowest rate, a 3 s gap refills 3 bytes.
    let profile = Profile::new(1, 3000, 0, 0, action::PASS, action::DROP);
    let mut loaded = Loaded::load(&profile.unwrap(), 16, ProgramKind::Xdp).expect("load");
    let small = Packet::tcp("10.0.0.1", "10.0.0.2", 1, 2).frame(3000);
    loaded.test_run(&small, 1).unwrap();
    thread::sleep(Duration::from_secs(3));
    loaded.test_run(&small, 1).unwrap();
    let state = loaded.maps.flows().unwrap()[0].state;
    assert!((3..=4).contains(&state.tokens_bytes()), "tokens {}", state.tokens_bytes());
}

/// `policer attach` on the receiver, made to die at `point` (see `POLICER_FAULT`).
fn attach_dying_at(bed: &Testbed, point: &str) -> std::process::Output {
    bed.b
        .policer_command(["attach", &bed.b_if, "--cir", "1mbit"])
        .env("POLICER_FAULT", point)
        .output()
        .expect("run policer")
}

#[test]
fn an_attach_killed_at_any_step_leaves_nothing_attached_and_is_cleaned_up() {
    let bed = Testbed::new();
    for point in ["after-load", "after-attach", "after-pin-maps", "after-rename"] {
        let output = attach_dying_at(&bed, point);
        assert!(!output.status.success(), "{point}: the attach died");
        assert!(text(&output).contains("dying here"), "{point}: {}", text(&output));
        assert_eq!(xdp_prog_id(&bed.b, &bed.b_if), None, "{point}: no program left attached");
        let link = pin_dir(&bed.b_if).join("ingress/link");
        assert!(!link.exists(), "{point}: no policer left half made");
        // `stats` sees no policer; a new attach clears what was left and succeeds.
        failed_with(&bed.b.policer(["stats", &bed.b_if]), point, &["no policer is attached"]);
        let out = bed.attach(&["--cir", "1mbit"]);
        assert!(xdp_prog_id(&bed.b, &bed.b_if).is_some(), "{point}: {out}");
        bed.policer_ok(&["detach", &bed.b_if]);
        assert!(!pin_dir(&bed.b_if).exists(), "{point}");
    }
    // A detach alone also cleans up after a dead attach.
    assert!(!attach_dying_at(&bed, "after-rename").status.success());
    bed.policer_ok(&["detach", &bed.b_if]);
    assert!(!pin_dir(&bed.b_if).exists());
    assert_no_empty_root_is_left();
}

/// A detach leaves no empty directory of ours on bpffs: the pin roots are gone once the
/// last policer is, or hold the policer of a test running beside this one (which may be
/// between two steps of its own: a few looks).
fn assert_no_empty_root_is_left() {
    for root in [policer::pins::ROOT, policer::pins::PARTIAL_ROOT] {
        let empty = || fs::read_dir(root).is_ok_and(|mut entries| entries.next().is_none());
        let stays_empty = (0..20).all(|_| {
            let now_empty = empty();
            if now_empty {
                thread::sleep(Duration::from_millis(50));
            }
            now_empty
        });
        assert!(!stays_empty, "{root} is left empty");
    }
}

#[test]
fn an_interface_removed_under_its_policer_still_has_stats_and_detach() {
    let bed = Testbed::new();
    bed.attach(&["--cir", "1mbit"]);
    bed.b.exec_ok("ip", ["link", "del", &bed.b_if]);
    let stats = bed.stats();
    assert_eq!(stats["profile"]["cir_bps"], 1_000_000);
    bed.policer_ok(&["detach", &bed.b_if]);
    assert!(!pin_dir(&bed.b_if).exists());
}

#[test]
fn under_ip_netns_exec_without_bpffs_attach_refuses_and_changes_nothing() {
    let bed = Testbed::new();
    // `ip netns exec` gives the command a mount namespace of its own, with /sys remounted
    // and no bpffs: a bpffs mounted there would vanish with the command, and the policer
    // with it. The host's bpffs is untouched.
    let bin = policer_bin().display().to_string();
    let exec = |args: &[&str]| {
        let mut all = vec!["netns", "exec", bed.b.name.as_str(), bin.as_str()];
        all.extend_from_slice(args);
        run("ip", all)
    };
    let attach = exec(&["attach", &bed.b_if, "--cir", "1mbit"]);
    failed_with(&attach, "attach under ip netns exec", &["no BPF file system", "nsenter --net="]);
    let stats = exec(&["stats", &bed.b_if]);
    failed_with(&stats, "stats under ip netns exec", &["no BPF file system"]);
    assert_eq!(xdp_prog_id(&bed.b, &bed.b_if), None);
    assert!(!pin_dir(&bed.b_if).exists());
}

#[test]
fn pins_are_private_and_a_user_without_root_reads_or_changes_nothing() {
    let bed = Testbed::new();
    bed.attach(&["--cir", "1mbit"]);
    let dir = pin_dir(&bed.b_if);
    for path in [dir.clone(), dir.join("ingress")] {
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o700, "{path:?}");
    }
    for entry in fs::read_dir(dir.join("ingress")).unwrap() {
        let path = entry.unwrap().path();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{path:?} is {mode:o}");
    }
    let as_nobody = |args: &[&str]| {
        let mut all = vec![
            format!("--net={}", bed.b.path().display()),
            "setpriv".into(),
            "--reuid=65534".into(),
            "--regid=65534".into(),
            "--clear-groups".into(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        run("nsenter", all)
    };
    let bin = policer_bin().display().to_string();
    for command in
        [vec![bin.as_str(), "flows", &bed.b_if], vec![&bin, "set", &bed.b_if, "--cir", "5mbit"]]
    {
        failed_with(&as_nobody(&command), "as nobody", &["needs root"]);
    }
    // Not through policer either: the pins cannot even be listed.
    let ls = as_nobody(&["ls", dir.to_str().unwrap()]);
    assert!(!ls.status.success() && text(&ls).contains("Permission denied"), "{}", text(&ls));
    assert_eq!(bed.stats()["profile"]["cir_bps"], 1_000_000);
}

#[test]
fn two_cpus_feeding_one_bucket_stay_within_the_bound() {
    let bed = Testbed::new();
    // Queue n of the sender transmits from CPU n, and the veth delivers it on receive
    // queue n: the two floods are policed on two CPUs at once, into one bucket.
    for (queue, cpus) in [(0, "1"), (1, "2")] {
        let path = format!("/sys/class/net/{}/queues/tx-{queue}/xps_cpus", bed.a_if);
        bed.a.exec_ok("sh", ["-c", &format!("echo {cpus} > {path}")]);
    }
    bed.attach(&["--cir", "10mbit", "--key", "dst"]);
    let seconds = 5u32;
    let counters_before = bed.stats();
    let start = std::time::Instant::now();
    // Two UDP floods, pinned to CPU 0 and CPU 1, into one destination bucket.
    let reports: Vec<serde_json::Value> = thread::scope(|scope| {
        let flood = |cpu: &'static str| {
            let bed = &bed;
            scope.spawn(move || bed.iperf3(seconds, &["-u", "-b", "200M", "-l", "1400", "-A", cpu]))
        };
        let (first, second) = (flood("0"), flood("1"));
        vec![first.join().unwrap(), second.join().unwrap()]
    });
    let elapsed = start.elapsed().as_secs_f64();
    let stats = bed.stats();
    let bytes = |s: &serde_json::Value, c: &str| s["counters"][c]["bytes"].as_u64().unwrap();
    let passed = ["green", "yellow"]
        .iter()
        .map(|c| bytes(&stats, c) - bytes(&counters_before, c))
        .sum::<u64>() as f64;
    let profile = &stats["profile"];
    let burst =
        (profile["cbs_bytes"].as_u64().unwrap() + profile["ebs_bytes"].as_u64().unwrap()) as f64;
    let bound = 1_250_000.0 * elapsed + burst;
    let offered: u64 = ["green", "yellow", "red"].iter().map(|c| bytes(&stats, c)).sum();
    println!(
        "2 CPUs into one bucket: passed {passed:.0} bytes of {offered} offered, bound \
         cir*T + cbs + ebs = {bound:.0} (T {elapsed:.2} s): {:.4} of the bound",
        passed / bound
    );
    assert!(reports.iter().all(|r| r["error"].is_null()));
    // Both CPUs policed packets of the one bucket.
    let policer = policer::Policer::open(&bed.b_if, None).expect("open");
    let per_cpu = policer.counter_per_cpu(counter::RED).unwrap();
    println!("red packets per CPU: {:?}", per_cpu.iter().map(|c| c.packets).collect::<Vec<_>>());
    assert!(per_cpu.iter().filter(|c| c.packets > 1000).count() >= 2, "{per_cpu:?}");
    assert!(offered as f64 > 4.0 * bound, "both floods far over the rate");
    assert!(passed <= bound, "passed {passed} > bound {bound}");
}

#[test]
fn counters_only_grow_and_set_under_load_always_reads_a_whole_profile() {
    let bed = Testbed::new();
    bed.attach(&["--cir", "5mbit", "--cbs", "20000", "--ebs", "40000"]);
    let profiles = [("5000000", 20_000u64, 40_000u64), ("20000000", 60_000, 0)];
    thread::scope(|scope| {
        let flood = scope.spawn(|| bed.iperf3(4, &["-u", "-b", "50M", "-l", "1400"]));
        let mut last: Option<serde_json::Value> = None;
        for i in 0..40 {
            let (cir, cbs, ebs) = profiles[i % 2];
            bed.policer_ok(&[
                "set",
                &bed.b_if,
                "--cir",
                &format!("{cir}bit"),
                "--cbs",
                &cbs.to_string(),
                "--ebs",
                &ebs.to_string(),
            ]);
            let stats = bed.stats();
            let p = &stats["profile"];
            let seen = (p["cbs_bytes"].as_u64().unwrap(), p["ebs_bytes"].as_u64().unwrap());
            assert!(profiles.iter().any(|&(_, c, e)| (c, e) == seen), "torn profile {p}");
            if let Some(last) = &last {
                for c in ["green", "yellow", "red", "passed", "dropped"] {
                    let now = stats["counters"][c]["packets"].as_u64().unwrap();
                    let before = last["counters"][c]["packets"].as_u64().unwrap();
                    assert!(now >= before, "{c} went from {before} to {now}");
                }
            }
            last = Some(stats);
            thread::sleep(Duration::from_millis(50));
        }
        flood.join().unwrap();
    });
    let stats = bed.stats();
    assert_eq!(stats["counters"]["no_profile"]["packets"], 0, "the program always read a profile");
    assert!(stats["counters"]["green"]["packets"].as_u64().unwrap() > 100);
}
