//! Frames pushed through the loaded kernel program with BPF_PROG_TEST_RUN: exact colours,
//! verdicts and counters, with no timing involved.

use policer::{Loaded, ProgramKind};
use policer_common::{FlowKey4, Profile, action, counter, key_mode};
use policer_tests::frames::{Packet, ipv4_checksum, tcp_frame};

/// Both programs, which must agree on every frame.
const KINDS: [ProgramKind; 2] = [ProgramKind::Xdp, ProgramKind::Tc];

/// A verdict, whichever program gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Pass,
    Drop,
}
use Verdict::{Drop as DROP, Pass as PASS};

/// PASS 2 / DROP 1; TC_ACT_OK 0 / TC_ACT_SHOT 2.
fn verdict(kind: ProgramKind, raw: u32) -> Verdict {
    match (kind, raw) {
        (ProgramKind::Xdp, 2) | (ProgramKind::Tc, 0) => PASS,
        (ProgramKind::Xdp, 1) | (ProgramKind::Tc, 2) => DROP,
        other => panic!("unexpected verdict {other:?}"),
    }
}

fn load(kind: ProgramKind, cbs: u64, ebs: u64, key: u8) -> Loaded {
    // 1 byte/s: no refill worth a byte within the test.
    let profile = Profile::new(1, cbs, ebs, key, action::PASS, action::DROP).unwrap();
    Loaded::load(&profile, 1024, kind).expect("load the program")
}

fn run(loaded: &mut Loaded, frame: &[u8]) -> Verdict {
    verdict(loaded.kind(), loaded.test_run(frame, 1).expect("BPF_PROG_TEST_RUN").0)
}

/// The verdict and the frame as the program left it.
fn run_output(loaded: &mut Loaded, frame: &[u8]) -> (Verdict, Vec<u8>) {
    let (raw, out) = loaded.test_run_output(frame).expect("BPF_PROG_TEST_RUN");
    (verdict(loaded.kind(), raw), out)
}

#[test]
fn worked_example_of_design_section_2() {
    for kind in KINDS {
        let mut loaded = load(kind, 3000, 5000, key_mode::FIVE_TUPLE);
        let frame = tcp_frame(1500, 1234, [10, 0, 0, 2]);
        let verdicts: Vec<Verdict> = (0..9).map(|_| run(&mut loaded, &frame)).collect();
        // green, green, yellow, yellow, red, yellow, red, red, red; red is dropped.
        let (p, d) = (PASS, DROP);
        assert_eq!(verdicts, [p, p, p, p, d, p, d, d, d]);

        let counters = loaded.maps.counters().unwrap();
        let packets = |i| counters.get(i).packets;
        assert_eq!(
            [counter::GREEN, counter::YELLOW, counter::RED].map(packets),
            [2, 3, 4],
            "green, yellow, red"
        );
        assert_eq!(packets(counter::PASSED), 5);
        assert_eq!(packets(counter::DROPPED), 4);
        assert_eq!(counters.get(counter::RED).bytes, 4 * 1500);

        let flows = loaded.maps.flows().unwrap();
        assert_eq!(flows.len(), 1);
        let state = flows[0].state;
        assert_eq!((state.packets, state.red_packets, state.bytes), (9, 4, 9 * 1500));
        // -4500 bytes, plus what 1 byte/s refilled during the test (well under a byte).
        assert!((-4500..=-4499).contains(&state.tokens_bytes()), "tokens {}", state.tokens_bytes());
        assert_eq!(state.debt_bytes(), 0);
        assert_eq!(flows[0].key.src_port, 1234);
    }
}

#[test]
fn each_mode_gives_its_colours_in_the_kernel() {
    use policer_common::mode;
    // cbs 3000, ebs 5000, nine 1500-byte frames at once: the colours of meter/tests.rs.
    let (p, d) = (PASS, DROP);
    let cases = [
        (mode::JUNOSE, [p, p, p, p, d, p, d, d, d]),
        (mode::LEN_DEBT, [p, p, p, p, p, d, d, d, d]),
        // Slow start meets a plain bucket.
        (mode::TCP, [p, p, d, d, d, d, d, d, d]),
    ];
    for kind in KINDS {
        for (m, expected) in cases {
            let profile =
                Profile::new(1, 3000, 5000, key_mode::FIVE_TUPLE, action::PASS, action::DROP)
                    .and_then(|p| p.with_mode(m))
                    .unwrap();
            let mut loaded = Loaded::load(&profile, 1024, kind).expect("load the program");
            let frame = tcp_frame(1500, 1234, [10, 0, 0, 2]);
            let verdicts: Vec<Verdict> = (0..9).map(|_| run(&mut loaded, &frame)).collect();
            assert_eq!(verdicts, expected, "{} ({kind:?})", mode::name(m));
        }
    }
}

#[test]
fn plain_bucket_when_ebs_is_zero() {
    for kind in KINDS {
        let mut loaded = load(kind, 3000, 0, key_mode::FIVE_TUPLE);
        let frame = tcp_frame(1000, 1, [10, 0, 0, 2]);
        let verdicts: Vec<Verdict> = (0..5).map(|_| run(&mut loaded, &frame)).collect();
        assert_eq!(verdicts, [PASS, PASS, PASS, DROP, DROP]);
        assert_eq!(loaded.maps.counters().unwrap().get(counter::YELLOW).packets, 0);
    }
}

#[test]
fn flows_get_their_own_bucket_or_share_one_by_key_mode() {
    for kind in KINDS {
        for (mode, buckets) in [(key_mode::FIVE_TUPLE, 4), (key_mode::SRC, 1), (key_mode::DST, 2)] {
            let mut loaded = load(kind, 10_000, 0, mode);
            for port in [1, 2] {
                for dst in [[10, 0, 0, 2], [10, 0, 0, 3]] {
                    assert_eq!(run(&mut loaded, &tcp_frame(1500, port, dst)), PASS);
                }
            }
            assert_eq!(loaded.maps.flows().unwrap().len(), buckets, "key mode {mode}");
            assert_eq!(
                loaded.maps.counters().unwrap().get(counter::NEW_FLOWS).packets,
                buckets as u64
            );
        }
    }
}

#[test]
fn ipv4_and_ipv6_flows_are_listed_together_and_the_top_is_the_heaviest() {
    let mut loaded = load(ProgramKind::Xdp, 1 << 20, 0, key_mode::FIVE_TUPLE);
    // Bytes per flow: 4 x 1000 (IPv4), 3 x 1000 (IPv6), 2 x 1000 (IPv4), 1 x 1000 (IPv6).
    let flows = [
        (Packet::tcp("10.0.0.1", "10.0.0.2", 1, 80), 4),
        (Packet::tcp("2001:db8::1", "2001:db8::2", 2, 80), 3),
        (Packet::tcp("10.0.0.1", "10.0.0.2", 3, 80), 2),
        (Packet::tcp("2001:db8::1", "2001:db8::2", 4, 80), 1),
    ];
    for (packet, frames) in flows {
        for _ in 0..frames {
            assert_eq!(run(&mut loaded, &packet.frame(1000)), PASS);
        }
    }
    assert_eq!(loaded.maps.flows().unwrap().len(), 4);
    let top = loaded.maps.top_flows(2).unwrap();
    let described: Vec<(String, u64)> =
        top.iter().map(|f| (policer::keys::describe(&f.key), f.state.bytes)).collect();
    assert_eq!(described.len(), 2, "{described:?}");
    assert_eq!(described[0].1, 4000, "{described:?}");
    assert!(described[0].0.contains("10.0.0.1:1"), "{described:?}");
    assert_eq!(described[1].1, 3000, "{described:?}");
    assert!(described[1].0.contains("2001:db8::1"), "{described:?}");
    assert_eq!(loaded.maps.top_flows(10).unwrap().len(), 4);
}

/// Source ports of `n` TCP flows 10.0.0.1:port -> 10.0.0.2:80 whose keys share one set of
/// the slot table of a policer loaded for 1024 flows.
fn ports_of_one_set(n: usize) -> Vec<u16> {
    let mask = policer_common::slot_sets(1024) - 1;
    let set_of = |port: u16| {
        let key = FlowKey4 {
            src: [10, 0, 0, 1],
            dst: [10, 0, 0, 2],
            src_port: port,
            dst_port: 80,
            proto: 6,
            ..FlowKey4::default()
        };
        policer_common::set_of(&key, mask)
    };
    let set = set_of(1);
    (1..u16::MAX).filter(|port| set_of(*port) == set).take(n).collect()
}

fn flow_frame(port: u16) -> Vec<u8> {
    Packet::tcp("10.0.0.1", "10.0.0.2", port, 80).frame(1500)
}

/// The ways of a set, and one flow more.
const WAYS: usize = policer_common::SLOT_WAYS as usize;

#[test]
fn a_flow_finding_its_set_held_by_active_flows_goes_to_the_lru_table_and_keeps_its_bucket() {
    for kind in KINDS {
        // A bucket of one frame, no debt, 1 byte/s: no flow is ever quiet long enough to be
        // forgotten, and each flow's second frame is red wherever its state lives.
        let mut loaded = load(kind, 1500, 0, key_mode::FIVE_TUPLE);
        let ports = ports_of_one_set(WAYS + 1);
        for port in &ports {
            assert_eq!(run(&mut loaded, &flow_frame(*port)), PASS, "{kind:?} {port}");
        }
        for port in &ports {
            assert_eq!(run(&mut loaded, &flow_frame(*port)), DROP, "{kind:?} {port}");
        }
        assert_eq!(loaded.maps.slots_in_use().unwrap(), WAYS, "{kind:?}");
        assert_eq!(loaded.maps.flows().unwrap().len(), WAYS + 1, "{kind:?}");
        let counters = loaded.maps.counters().unwrap();
        assert_eq!(counters.get(counter::NEW_FLOWS).packets, WAYS as u64 + 1, "{kind:?}");
        assert_eq!(counters.get(counter::RED).packets, WAYS as u64 + 1, "{kind:?}");
    }
}

#[test]
fn a_flow_quiet_for_its_buckets_fill_time_gives_its_slot_to_a_new_flow() {
    for kind in KINDS {
        // 1 GB/s and a bucket of 1500 bytes: full again 1.5 us after a packet.
        let profile = Profile::new(1_000_000_000, 1500, 0, 0, action::PASS, action::DROP);
        let mut loaded = Loaded::load(&profile.unwrap(), 1024, kind).expect("load");
        let ports = ports_of_one_set(WAYS + 1);
        for port in &ports {
            assert_eq!(run(&mut loaded, &flow_frame(*port)), PASS, "{kind:?} {port}");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // The last took the slot of the first, seen the longest ago and forgotten: no flow
        // went to the LRU table.
        assert_eq!(loaded.maps.slots_in_use().unwrap(), WAYS, "{kind:?}");
        let mut listed: Vec<u16> =
            loaded.maps.flows().unwrap().iter().map(|f| f.key.src_port).collect();
        listed.sort_unstable();
        let mut expected = ports[1..].to_vec();
        expected.sort_unstable();
        assert_eq!(listed, expected, "{kind:?}");
        let new_flows = loaded.maps.counters().unwrap().get(counter::NEW_FLOWS).packets;
        assert_eq!(new_flows, WAYS as u64 + 1, "{kind:?}");
    }
}

#[test]
fn a_flow_whose_lock_stays_taken_passes_unpoliced_and_is_counted() {
    for kind in KINDS {
        // A bucket of one frame and no debt: the second frame of the flow would be red.
        let mut loaded = load(kind, 1500, 0, key_mode::FIVE_TUPLE);
        let frame = tcp_frame(1500, 7, [10, 0, 0, 2]);
        assert_eq!(run(&mut loaded, &frame), PASS);
        // Another CPU holding the flow's lock for good: the program gives up after its
        // tries and passes the frame unpoliced (fail open), counted as flow_busy.
        let mut flow = loaded.maps.flows().unwrap()[0];
        flow.state.lock = 1;
        loaded.maps.write_flow(&flow).unwrap();
        assert_eq!(run(&mut loaded, &frame), PASS, "{kind:?}");
        let counters = loaded.maps.counters().unwrap();
        assert_eq!(counters.get(counter::FLOW_BUSY).packets, 1, "{kind:?}");
        assert_eq!(counters.get(counter::RED).packets, 0, "{kind:?}");
        // The lock released, the flow is policed again: its bucket is empty, so red.
        flow.state.lock = 0;
        loaded.maps.write_flow(&flow).unwrap();
        assert_eq!(run(&mut loaded, &frame), DROP, "{kind:?}");
        assert_eq!(loaded.maps.counters().unwrap().get(counter::RED).packets, 1, "{kind:?}");
    }
}

#[test]
fn non_ip_and_unparsable_frames_pass_and_are_counted_apart() {
    for kind in KINDS {
        let mut loaded = load(kind, 3000, 0, key_mode::FIVE_TUPLE);
        let mut arp = tcp_frame(60, 1, [10, 0, 0, 2]);
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        let mut bad_ihl = tcp_frame(60, 1, [10, 0, 0, 2]);
        bad_ihl[14] = 0x44;
        let truncated = &tcp_frame(60, 1, [10, 0, 0, 2])[..36];
        for frame in [&arp[..], &bad_ihl[..], truncated] {
            assert_eq!(run(&mut loaded, frame), PASS);
        }
        let counters = loaded.maps.counters().unwrap();
        assert_eq!(counters.get(counter::NON_IP).packets, 1);
        assert_eq!(counters.get(counter::UNPARSED).packets, 2);
        assert_eq!(counters.get(counter::UNPARSED).bytes, 60 + 36);
        assert_eq!(counters.get(counter::GREEN).packets, 0);
        assert!(loaded.maps.flows().unwrap().is_empty());
    }
}

/// A profile where the first frame is green and every later one red (cbs one frame, ebs 0),
/// with `red` as the red action.
fn load_red_action(kind: ProgramKind, red: u8) -> Loaded {
    let profile = Profile::new(1, 1500, 0, key_mode::FIVE_TUPLE, action::PASS, red).unwrap();
    Loaded::load(&profile, 1024, kind).expect("load the program")
}

/// The worked example's profile (JunosE, cbs 3000, ebs 5000, no refill worth a byte) with
/// these yellow and red actions, and the ECT(0) 1500-byte frame sent through it.
fn load_ecn_example(kind: ProgramKind, yellow: u8, red: u8) -> (Loaded, Vec<u8>) {
    let profile = Profile::new(1, 3000, 5000, key_mode::FIVE_TUPLE, yellow, red).unwrap();
    let loaded = Loaded::load(&profile, 1024, kind).expect("load the program");
    (loaded, Packet::tcp("10.0.0.1", "10.0.0.2", 1, 2).tos(0x02).frame(1500))
}

#[test]
fn red_ecn_marks_ect_packets_with_a_valid_checksum_and_drops_not_ect() {
    for kind in KINDS {
        // Green, green, yellow, yellow, then the debt's red with the bucket at -3000, still
        // able to lend.
        let (mut loaded, ect0) = load_ecn_example(kind, action::PASS, action::ECN);
        for colour in ["green", "green", "yellow", "yellow"] {
            assert_eq!(run_output(&mut loaded, &ect0).0, PASS, "{colour}");
        }
        let (verdict, out) = run_output(&mut loaded, &ect0);
        assert_eq!(verdict, PASS, "red, ECT: marked and passed");
        assert_eq!(out[15] & 3, 3, "CE");
        assert_eq!(ipv4_checksum(&out[14..34]), 0, "the IPv4 checksum still holds");
        let changed: Vec<usize> = (0..out.len()).filter(|&i| out[i] != ect0[i]).collect();
        assert!(
            changed.contains(&15) && changed.iter().all(|i| [15, 24, 25].contains(i)),
            "only the TOS byte and the checksum changed: {changed:?}"
        );
        // The mark took its tokens (-4500): the next packet would pass -ebs.
        let not_ect = Packet::tcp("10.0.0.1", "10.0.0.2", 1, 2).frame(1500);
        assert_eq!(run_output(&mut loaded, &not_ect).0, DROP, "red, Not-ECT: dropped");
        assert_eq!(run_output(&mut loaded, &ect0).0, DROP, "red at the floor, ECT: dropped");
        let counters = loaded.maps.counters().unwrap();
        let red = |outcome| counters.get(counter::by_colour(counter::RED, outcome)).packets;
        assert_eq!((red(0), red(1), red(2)), (0, 1, 2), "red: passed, marked, dropped");
        assert_eq!(counters.get(counter::MARKED).packets, 1);
        assert_eq!(counters.get(counter::PASSED).packets, 4, "greens and yellows");
    }
}

#[test]
fn yellow_ecn_marks_ect_borrowing_up_to_the_floor_and_drops_not_ect() {
    for kind in KINDS {
        // `--yellow ecn --red drop`: green, green, two yellows, then the debt's red with the
        // bucket at -3000.
        let (mut loaded, ect0) = load_ecn_example(kind, action::ECN, action::DROP);
        let ce = |out: &[u8]| out[15] & 3 == 3;
        let outcomes: Vec<(Verdict, bool)> = (0..5)
            .map(|_| run_output(&mut loaded, &ect0))
            .map(|(verdict, out)| (verdict, ce(&out)))
            .collect();
        let expected = [(PASS, false), (PASS, false), (PASS, true), (PASS, true), (PASS, true)];
        assert_eq!(outcomes, expected, "greens pass; yellows and the debt's red are marks");
        // The marked red took its tokens (-4500): the next packet would pass -ebs.
        assert_eq!(run_output(&mut loaded, &ect0).0, DROP, "red at the floor, ECT: dropped");
        let counters = loaded.maps.counters().unwrap();
        let packets = |colour, outcome| counters.get(counter::by_colour(colour, outcome)).packets;
        assert_eq!(packets(counter::YELLOW, 1), 2, "yellow marked");
        assert_eq!((packets(counter::RED, 1), packets(counter::RED, 2)), (1, 1), "red");

        // A Not-ECT packet cannot carry the yellow's mark: dropped.
        let (mut loaded, _) = load_ecn_example(kind, action::ECN, action::DROP);
        let not_ect = Packet::tcp("10.0.0.1", "10.0.0.2", 1, 2).frame(1500);
        let verdicts: Vec<Verdict> = (0..3).map(|_| run(&mut loaded, &not_ect)).collect();
        assert_eq!(verdicts, [PASS, PASS, DROP], "green, green, yellow dropped");
    }
}

#[test]
fn red_dscp_rewrites_ipv4_and_ipv6() {
    for kind in KINDS {
        let mut loaded = load_red_action(kind, action::dscp(10));
        let v4 = Packet::tcp("10.0.0.1", "10.0.0.2", 1, 2).tos(0x01).frame(1500);
        run_output(&mut loaded, &v4);
        let (verdict, out) = run_output(&mut loaded, &v4);
        assert_eq!(verdict, PASS);
        assert_eq!(out[15], (10 << 2) | 1, "DSCP 10, ECN kept");
        assert_eq!(ipv4_checksum(&out[14..34]), 0);
        let v6 = Packet::udp("2001:db8::1", "2001:db8::2", 1, 2).tos(0xb9).frame(1500);
        run_output(&mut loaded, &v6);
        let (_, out) = run_output(&mut loaded, &v6);
        assert_eq!(out[14] >> 4, 6);
        assert_eq!(((out[14] & 0x0f) << 4) | (out[15] >> 4), (10 << 2) | 1);
    }
}

#[test]
fn ipv6_extension_headers_and_icmp_are_keyed_by_the_stated_rules() {
    for kind in KINDS {
        let mut loaded = load(kind, 1 << 20, 0, key_mode::FIVE_TUPLE);
        // UDP behind hop-by-hop and destination-options headers: keyed with its ports.
        let mut f = Packet::udp("2001:db8::1", "2001:db8::2", 4000, 53).frame(200);
        let payload_at = 14 + 40;
        f[20] = 0; // next header: hop-by-hop
        let ext = [60u8, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0];
        f.splice(payload_at..payload_at, ext);
        assert_eq!(run(&mut loaded, &f), PASS);
        // Seven destination-options headers: past the limit, keyed without ports, counted.
        let mut long = Packet::udp("2001:db8::1", "2001:db8::3", 1, 2).frame(200);
        long[20] = 60;
        // Inserted at the same place, so the first inserted ends last in the chain.
        for i in 0..7 {
            let next = if i == 0 { 17 } else { 60 };
            long.splice(payload_at..payload_at, [next, 0, 0, 0, 0, 0, 0, 0]);
        }
        assert_eq!(run(&mut loaded, &long), PASS);
        // An ICMP echo request: keyed by type (8) and identifier (0x0102).
        let mut ping = Packet::udp("10.0.0.1", "10.0.0.9", 0, 0).frame(98);
        ping[23] = 1;
        ping[34..42].copy_from_slice(&[8, 0, 0, 0, 1, 2, 0, 1]);
        assert_eq!(run(&mut loaded, &ping), PASS);
        // An ICMPv6 echo reply in a VLAN: type 129, identifier 7.
        let mut ping6 = Packet::udp("2001:db8::7", "2001:db8::8", 0, 0).vlans(&[0x8100]).frame(120);
        ping6[18 + 6] = 58;
        ping6[18 + 40..18 + 48].copy_from_slice(&[129, 0, 0, 0, 0, 7, 0, 1]);
        assert_eq!(run(&mut loaded, &ping6), PASS);
        // Two fragments of one UDP datagram in QinQ: the first (MF set) and a later one
        // (offset, no UDP header): one bucket, keyed without ports.
        let first = Packet::udp("10.0.0.5", "10.0.0.6", 9, 9).vlans(&[0x88a8, 0x8100]).frame(600);
        let mut later = first.clone();
        let mut first = first;
        first[22 + 6] = 0x20;
        later[22 + 6..22 + 8].copy_from_slice(&0x0050u16.to_be_bytes());
        for fragment in [&mut first, &mut later] {
            fragment[22 + 10..22 + 12].fill(0);
            let check = ipv4_checksum(&fragment[22..42]);
            fragment[22 + 10..22 + 12].copy_from_slice(&check.to_be_bytes());
            assert_eq!(run(&mut loaded, fragment), PASS);
        }

        let mut keys: Vec<_> =
            loaded.maps.flows().unwrap().iter().map(|f| policer::keys::describe(&f.key)).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "icmp 10.0.0.1:258 > 10.0.0.9:8",
                "icmpv6 [2001:db8::7]:7 > [2001:db8::8]:129",
                "proto60 [2001:db8::1] > [2001:db8::3]",
                "udp 10.0.0.5 > 10.0.0.6",
                "udp [2001:db8::1]:4000 > [2001:db8::2]:53",
            ]
        );
        let counters = loaded.maps.counters().unwrap();
        assert_eq!(counters.get(counter::EXT_CHAIN_TOO_LONG).packets, 1);
    }
}

#[test]
fn a_gso_packet_is_charged_the_headers_of_every_segment() {
    // A TCP superpacket of 3 segments of 1000 bytes: 54 bytes of headers (Ethernet, IPv4,
    // TCP) + 3000 of payload in the skb, 3 x 1054 bytes on the wire.
    let mut loaded = load(ProgramKind::Tc, 1 << 20, 0, key_mode::FIVE_TUPLE);
    let frame = Packet::tcp("10.0.0.1", "10.0.0.2", 1, 2).frame(54 + 3000);
    let (raw, _) = loaded.test_run_segments(&frame, 3, 1000).unwrap();
    assert_eq!(verdict(ProgramKind::Tc, raw), PASS);
    let counters = loaded.maps.counters().unwrap();
    assert_eq!(counters.get(counter::GREEN).bytes, 3 * 1054);
    // A packet that is not segmented is charged its length.
    loaded.test_run_segments(&frame, 1, 0).unwrap();
    let counters = loaded.maps.counters().unwrap();
    assert_eq!(counters.get(counter::GREEN).bytes, 3 * 1054 + 3054);
}

#[test]
fn a_multi_buffer_xdp_frame_is_charged_whole() {
    // BPF_PROG_TEST_RUN puts what does not fit in the first page of a 9000-byte frame into
    // fragments: the parser sees the first buffer, the meter must be charged all of it.
    let mut loaded = load(ProgramKind::Xdp, 1 << 20, 0, key_mode::FIVE_TUPLE);
    let charged = |loaded: &Loaded| {
        let counters = loaded.maps.counters().unwrap();
        [counter::GREEN, counter::YELLOW, counter::RED]
            .map(|c| counters.get(c).bytes)
            .iter()
            .sum::<u64>()
    };
    let jumbo = Packet::tcp("10.0.0.1", "10.0.0.2", 1, 2).frame(9000);
    run(&mut loaded, &jumbo);
    assert_eq!(charged(&loaded), 9000);
    // A frame in one buffer is charged its length, however long its IP header says it is.
    let mut short = Packet::tcp("10.0.0.1", "10.0.0.2", 1, 2).frame(1000);
    run(&mut loaded, &short);
    assert_eq!(charged(&loaded), 10_000);
    short[16..18].copy_from_slice(&4000u16.to_be_bytes());
    run(&mut loaded, &short);
    assert_eq!(charged(&loaded), 11_000);
}
