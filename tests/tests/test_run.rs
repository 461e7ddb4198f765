//! Frames pushed through the loaded kernel program with BPF_PROG_TEST_RUN: exact colours,
//! verdicts and counters, with no timing involved.

use policer::Loaded;
use policer_common::{Profile, action, counter, key_mode};
use policer_tests::frames::tcp_frame;

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

fn load(cbs: u64, ebs: u64, key: u8) -> Loaded {
    // 1 byte/s: no refill worth a byte within the test.
    let profile = Profile::new(1, cbs, ebs, key, action::PASS, action::DROP).unwrap();
    Loaded::load(&profile, 1024).expect("load the XDP program")
}

fn run(loaded: &mut Loaded, frame: &[u8]) -> u32 {
    loaded.test_run(frame, 1).expect("BPF_PROG_TEST_RUN").0
}

#[test]
fn worked_example_of_design_section_2() {
    let mut loaded = load(3000, 5000, key_mode::FIVE_TUPLE);
    let frame = tcp_frame(1500, 1234, [10, 0, 0, 2]);
    let verdicts: Vec<u32> = (0..9).map(|_| run(&mut loaded, &frame)).collect();
    // green, green, yellow, yellow, red, yellow, red, red, red; red is dropped.
    let (p, d) = (XDP_PASS, XDP_DROP);
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
    assert_eq!(
        (state.packets, state.red_packets, state.bytes),
        (9, 4, 9 * 1500)
    );
    // -4500 bytes, plus what 1 byte/s refilled during the test (well under a byte).
    assert!(
        (-4500..=-4499).contains(&state.tokens_bytes()),
        "tokens {}",
        state.tokens_bytes()
    );
    assert_eq!(state.debt_bytes(), 0);
    assert_eq!(flows[0].key.src_port, 1234);
}

#[test]
fn plain_bucket_when_ebs_is_zero() {
    let mut loaded = load(3000, 0, key_mode::FIVE_TUPLE);
    let frame = tcp_frame(1000, 1, [10, 0, 0, 2]);
    let verdicts: Vec<u32> = (0..5).map(|_| run(&mut loaded, &frame)).collect();
    assert_eq!(verdicts, [XDP_PASS, XDP_PASS, XDP_PASS, XDP_DROP, XDP_DROP]);
    assert_eq!(
        loaded.maps.counters().unwrap().get(counter::YELLOW).packets,
        0
    );
}

#[test]
fn flows_get_their_own_bucket_or_share_one_by_key_mode() {
    for (mode, buckets) in [
        (key_mode::FIVE_TUPLE, 4),
        (key_mode::SRC, 1),
        (key_mode::DST, 2),
    ] {
        let mut loaded = load(10_000, 0, mode);
        for port in [1, 2] {
            for dst in [[10, 0, 0, 2], [10, 0, 0, 3]] {
                assert_eq!(run(&mut loaded, &tcp_frame(1500, port, dst)), XDP_PASS);
            }
        }
        assert_eq!(
            loaded.maps.flows().unwrap().len(),
            buckets,
            "key mode {mode}"
        );
        assert_eq!(
            loaded
                .maps
                .counters()
                .unwrap()
                .get(counter::NEW_FLOWS)
                .packets,
            buckets as u64
        );
    }
}

#[test]
fn non_ip_and_unparsable_frames_pass_and_are_counted_apart() {
    let mut loaded = load(3000, 0, key_mode::FIVE_TUPLE);
    let mut arp = tcp_frame(60, 1, [10, 0, 0, 2]);
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    let mut bad_ihl = tcp_frame(60, 1, [10, 0, 0, 2]);
    bad_ihl[14] = 0x44;
    let truncated = &tcp_frame(60, 1, [10, 0, 0, 2])[..36];
    for frame in [&arp[..], &bad_ihl[..], truncated] {
        assert_eq!(run(&mut loaded, frame), XDP_PASS);
    }
    let counters = loaded.maps.counters().unwrap();
    assert_eq!(counters.get(counter::NON_IP).packets, 1);
    assert_eq!(counters.get(counter::UNPARSED).packets, 2);
    assert_eq!(counters.get(counter::UNPARSED).bytes, 60 + 36);
    assert_eq!(counters.get(counter::GREEN).packets, 0);
    assert!(loaded.maps.flows().unwrap().is_empty());
}
