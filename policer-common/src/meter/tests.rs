//! Tests of the meter against DESIGN.md section 2: one test per rule, the worked example, and
//! property tests of the contract (bounds, the plain token bucket at `ebs = 0`, conforming
//! flows all green, extreme values).

extern crate std;

use super::*;
use crate::types::{MAX_BURST_BYTES, MAX_CIR_BYTES_PER_SEC, ProfileError, action, key_mode, mode};
use proptest::prelude::*;
use std::vec::Vec;

use Colour::{Green, Red, Yellow};

const NS: u64 = NANOS_PER_SEC;
const MS: u64 = 1_000_000;
const YEAR_NS: u64 = 365 * 24 * 3600 * NS;

fn profile(cir: u64, cbs: u64, ebs: u64) -> Profile {
    Profile::new(cir, cbs, ebs, key_mode::FIVE_TUPLE, action::PASS, action::DROP).unwrap()
}

/// `bytes` in nano-bytes, the unit of `FlowState::tokens` and `debt`.
fn nano(bytes: i64) -> i64 {
    bytes * NS as i64
}

/// Colours `count` packets of `len` bytes, all at `now_ns`.
fn burst(p: &Profile, state: &mut FlowState, count: usize, len: u32, now_ns: u64) -> Vec<Colour> {
    (0..count).map(|_| police(p, state, len, now_ns)).collect()
}

// ---------------------------------------------------------------------------------------------
// Profile::new
// ---------------------------------------------------------------------------------------------

#[test]
fn profile_new_refuses_a_zero_rate() {
    let r = Profile::new(0, 1000, 1000, key_mode::FIVE_TUPLE, action::PASS, action::DROP);
    assert_eq!(r, Err(ProfileError::ZeroRate));
}

#[test]
fn profile_new_refuses_a_rate_above_1_tbit() {
    let max = Profile::new(MAX_CIR_BYTES_PER_SEC, 0, 0, 0, 0, 1);
    assert!(max.is_ok());
    let r = Profile::new(MAX_CIR_BYTES_PER_SEC + 1, 0, 0, 0, 0, 1);
    assert_eq!(r, Err(ProfileError::RateTooHigh));
    assert_eq!(Profile::new(u64::MAX, 0, 0, 0, 0, 1), Err(ProfileError::RateTooHigh));
}

#[test]
fn profile_new_refuses_bursts_above_4_gib() {
    assert!(Profile::new(1, MAX_BURST_BYTES, MAX_BURST_BYTES, 0, 0, 1).is_ok());
    let too_big = MAX_BURST_BYTES + 1;
    assert_eq!(Profile::new(1, too_big, 0, 0, 0, 1), Err(ProfileError::BurstTooLarge));
    assert_eq!(Profile::new(1, 0, too_big, 0, 0, 1), Err(ProfileError::BurstTooLarge));
    assert_eq!(Profile::new(1, u64::MAX, u64::MAX, 0, 0, 1), Err(ProfileError::BurstTooLarge));
}

#[test]
fn profile_new_refuses_bad_key_mode_and_actions() {
    assert_eq!(Profile::new(1, 0, 0, key_mode::ALL + 1, 0, 1), Err(ProfileError::BadKeyMode));
    // Between ECN and the DSCP range, and past DSCP 63: not actions.
    for bad in [action::ECN + 1, action::DSCP_BASE - 1, action::DSCP_BASE + 64, u8::MAX] {
        assert_eq!(Profile::new(1, 0, 0, 0, bad, 1), Err(ProfileError::BadAction), "{bad}");
        assert_eq!(Profile::new(1, 0, 0, 0, 0, bad), Err(ProfileError::BadAction), "{bad}");
    }
    for good in [action::PASS, action::DROP, action::ECN, action::dscp(0), action::dscp(63)] {
        assert!(Profile::new(1, 0, 0, 0, good, good).is_ok(), "{good}");
    }
}

#[test]
fn profile_new_computes_fill_ns_rounded_up() {
    // 8000 bytes from -ebs to cbs at 1000 B/s: 8 s.
    assert_eq!(profile(1000, 3000, 5000).fill_ns, 8 * NS);
    // 1 byte at 3 B/s: 333_333_333.3 ns, rounded up.
    assert_eq!(profile(3, 1, 0).fill_ns, 333_333_334);
    // The largest span at the smallest rate: 2^33 bytes at 1 B/s.
    assert_eq!(profile(1, MAX_BURST_BYTES, MAX_BURST_BYTES).fill_ns, 2 * MAX_BURST_BYTES * NS);
}

#[test]
fn profile_action_for_each_colour() {
    let p = Profile::new(1000, 0, 0, 0, action::DROP, action::PASS).unwrap();
    assert_eq!(p.action_for(Green), action::PASS);
    assert_eq!(p.action_for(Yellow), action::DROP);
    assert_eq!(p.action_for(Red), action::PASS);
}

// ---------------------------------------------------------------------------------------------
// The rules, one by one
// ---------------------------------------------------------------------------------------------

#[test]
fn new_flow_starts_full_without_debt() {
    let p = profile(1000, 3000, 5000);
    let s = new_flow(&p, 42);
    assert_eq!(s.tokens, nano(3000));
    assert_eq!(s.debt, 0);
    assert_eq!(s.last_ns, 42);
    assert_eq!((s.packets, s.bytes, s.red_packets), (0, 0, 0));
}

#[test]
fn refill_of_one_millisecond_at_1000_bytes_per_second_is_exactly_one_byte() {
    let p = profile(1000, 3000, 0);
    let mut s = new_flow(&p, 0);
    assert_eq!(police(&p, &mut s, 3000, 0), Green);
    assert_eq!(s.tokens, 0);
    // One nanosecond short of a byte: 999_999_000 nano-bytes, not enough (ebs 0: red).
    assert_eq!(police(&p, &mut s, 1, MS - 1), Red);
    assert_eq!(s.tokens, 999_999_000);
    // The last nanosecond completes the byte, exactly.
    assert_eq!(police(&p, &mut s, 1, MS), Green);
    assert_eq!(s.tokens, 0);
    assert_eq!(s.last_ns, MS);
}

#[test]
fn refill_is_elapsed_time_times_rate_in_nano_bytes() {
    let p = profile(12_345, 1_000_000, 0);
    let mut s = new_flow(&p, 0);
    assert_eq!(police(&p, &mut s, 1_000_000, 0), Green);
    assert_eq!(police(&p, &mut s, 0, 777), Green);
    assert_eq!(s.tokens, 777 * 12_345);
    assert_eq!(police(&p, &mut s, 0, 777 + 3 * NS), Green);
    assert_eq!(s.tokens, (777 + 3 * NS as i64) * 12_345);
    assert_eq!(s.tokens_bytes(), 37_035);
}

#[test]
fn sub_byte_refills_between_packets_are_kept() {
    // Each 1 us gap earns 0.5 byte at 500_000 B/s. A meter that rounded each refill down to
    // whole bytes would never pass another 64-byte packet after the first.
    let p = profile(500_000, 64, 0);
    let mut s = new_flow(&p, 0);
    let packets = 128_000u64;
    let mut green = 0u64;
    for i in 0..packets {
        if police(&p, &mut s, 64, i * 1_000) == Green {
            green += 1;
        }
    }
    // The full bucket passes packet 0; then 128 gaps of 0.5 byte earn each next 64 bytes:
    // packets 0, 128, 256, ..., 127_872.
    assert_eq!(green, packets / 128);
    // That is the rate: green bytes within one packet of cbs + cir * T.
    let earned = p.cir_bytes_per_sec * (packets - 1) * 1_000 / NS;
    assert!(green * 64 <= 64 + earned && green * 64 + 64 > 64 + earned);
}

#[test]
fn refill_never_goes_past_cbs() {
    let p = profile(1000, 3000, 5000);
    let mut s = new_flow(&p, 0);
    assert_eq!(police(&p, &mut s, 1000, 0), Green);
    // 10 s at 1000 B/s would earn 10_000 bytes; the bucket holds 3000.
    assert_eq!(police(&p, &mut s, 0, 10 * NS), Green);
    assert_eq!(s.tokens, nano(3000));
    // And from a borrowing bucket too.
    assert_eq!(burst(&p, &mut s, 3, 1500, 10 * NS), [Green, Green, Yellow]);
    assert_eq!(s.tokens_bytes(), -1500);
    assert_eq!(police(&p, &mut s, 0, 20 * NS), Green);
    assert_eq!(s.tokens, nano(3000));
}

#[test]
fn green_takes_len_tokens_when_tokens_are_at_least_len() {
    let p = profile(1000, 3000, 5000);
    let mut s = new_flow(&p, 0);
    assert_eq!(police(&p, &mut s, 1000, 0), Green);
    assert_eq!(s.tokens, nano(2000));
    // tokens == len is still green.
    assert_eq!(police(&p, &mut s, 2000, 0), Green);
    assert_eq!(s.tokens, 0);
    assert_eq!(s.debt, 0);
}

#[test]
fn yellow_takes_len_tokens_and_adds_the_actual_debt() {
    let p = profile(1000, 3000, 5000);
    let mut s = new_flow(&p, 0);
    assert_eq!(police(&p, &mut s, 2000, 0), Green);
    // 1000 tokens, 1500 bytes: borrows a = 500 (not 1500).
    assert_eq!(police(&p, &mut s, 1500, 0), Yellow);
    assert_eq!(s.tokens, nano(-500));
    assert_eq!(s.debt, nano(500) as u64);
    // -500 tokens, 1000 bytes: a = 1500, debt 500 + 1500.
    assert_eq!(police(&p, &mut s, 1000, 0), Yellow);
    assert_eq!(s.tokens, nano(-1500));
    assert_eq!(s.debt, nano(2000) as u64);
}

#[test]
fn red_takes_no_tokens_and_resets_the_debt() {
    let p = profile(1000, 3000, 5000);
    let mut s = new_flow(&p, 0);
    assert_eq!(burst(&p, &mut s, 4, 1500, 0), [Green, Green, Yellow, Yellow]);
    assert_eq!((s.tokens_bytes(), s.debt_bytes()), (-3000, 4500));
    // a = 4500, debt + a = 9000 >= 5000.
    assert_eq!(police(&p, &mut s, 1500, 0), Red);
    assert_eq!(s.tokens, nano(-3000));
    assert_eq!(s.debt, 0);
}

#[test]
fn debt_plus_actual_debt_equal_to_ebs_is_red() {
    let p = profile(1000, 1000, 2000);
    let mut s = new_flow(&p, 0);
    assert_eq!(police(&p, &mut s, 1000, 0), Green);
    // tokens 0, a = 2000 == ebs: red (JunosE's `>=`, not Cisco's `>`).
    assert_eq!(police(&p, &mut s, 2000, 0), Red);
    assert_eq!((s.tokens, s.debt), (0, 0));
}

#[test]
fn debt_plus_actual_debt_one_byte_under_ebs_is_yellow() {
    let p = profile(1000, 1000, 2000);
    let mut s = new_flow(&p, 0);
    assert_eq!(police(&p, &mut s, 1000, 0), Green);
    assert_eq!(police(&p, &mut s, 1999, 0), Yellow);
    assert_eq!((s.tokens_bytes(), s.debt_bytes()), (-1999, 1999));
}

#[test]
fn ebs_boundary_is_exact_to_the_nano_byte() {
    let p = profile(1000, 1000, 2000);
    let mut s = new_flow(&p, 0);
    assert_eq!(police(&p, &mut s, 1000, 0), Green);
    // 1 ns at 1000 B/s earns 1000 nano-bytes: a = 2000 bytes - 1000 nano-bytes < ebs.
    assert_eq!(police(&p, &mut s, 2000, 1), Yellow);
    assert_eq!(s.debt, nano(2000) as u64 - 1000);
}

#[test]
fn ebs_zero_makes_every_borrowing_packet_red() {
    let p = profile(1000, 3000, 0);
    let mut s = new_flow(&p, 0);
    assert_eq!(police(&p, &mut s, 2999, 0), Green);
    // 1 token left: each packet needing more is red and takes nothing.
    assert_eq!(burst(&p, &mut s, 5, 2, 0), [Red; 5]);
    assert_eq!(police(&p, &mut s, 1, 0), Green);
    assert_eq!(police(&p, &mut s, 1, 0), Red);
    assert_eq!((s.tokens, s.debt), (0, 0));
}

#[test]
fn debt_does_not_decay_with_time() {
    let p = profile(1000, 3000, 5000);
    let mut s = new_flow(&p, 0);
    assert_eq!(burst(&p, &mut s, 3, 1500, 0), [Green, Green, Yellow]);
    assert_eq!(s.debt_bytes(), 1500);
    // An hour later the bucket is full again, and the debt is still 1500.
    let later = 3600 * NS;
    assert_eq!(police(&p, &mut s, 0, later), Green);
    assert_eq!((s.tokens_bytes(), s.debt_bytes()), (3000, 1500));
    // So the second borrow is red (1500 + 3000 >= 5000); from zero debt it would be yellow.
    assert_eq!(burst(&p, &mut s, 4, 1500, later), [Green, Green, Yellow, Red]);
}

#[test]
fn worked_example_of_design_section_2() {
    // cbs 3000, ebs 5000, nine 1500-byte frames at one instant (no refill).
    // DESIGN.md lists tokens *before* each frame (3000, 1500, 0, -1500, -3000, -3000, -4500)
    // and the debt *after* it (0, 0, 1500, 4500, 0, 4500, 0); this checks both after.
    let p = profile(1000, 3000, 5000);
    let mut s = new_flow(&p, 7);
    let expected = [
        (Green, 1500, 0),
        (Green, 0, 0),
        (Yellow, -1500, 1500),
        (Yellow, -3000, 4500),
        (Red, -3000, 0),
        (Yellow, -4500, 4500),
        (Red, -4500, 0),
        (Red, -4500, 0),
        (Red, -4500, 0),
    ];
    for (i, &(colour, tokens, debt)) in expected.iter().enumerate() {
        let before = s.tokens_bytes();
        assert_eq!(police(&p, &mut s, 1500, 7), colour, "frame {i}");
        assert_eq!(s.tokens_bytes(), tokens, "tokens after frame {i} (before: {before})");
        assert_eq!(s.debt_bytes(), debt, "debt after frame {i}");
        assert_eq!(s.tokens % NS as i64, 0);
        assert_eq!(s.debt % NS, 0);
    }
}

/// Nine 1500-byte frames at one instant in `mode`, cbs 3000, ebs 5000: colour and tokens
/// after each.
fn nine_frames(mode: u8) -> Vec<(Colour, i64)> {
    let p = profile(1000, 3000, 5000).with_mode(mode).unwrap();
    let mut s = new_flow(&p, 7);
    (0..9).map(|_| (police(&p, &mut s, 1500, 7), s.tokens_bytes())).collect()
}

#[test]
fn len_debt_mode_grows_the_debt_by_len_down_to_the_floor() {
    // Debt after each yellow: 1500, 3000, 4500; the next would take the bucket to -6000,
    // past -ebs, so it is red, and every one after it while nothing refills.
    let expected = [
        (Green, 1500),
        (Green, 0),
        (Yellow, -1500),
        (Yellow, -3000),
        (Yellow, -4500),
        (Red, -4500),
        (Red, -4500),
        (Red, -4500),
        (Red, -4500),
    ];
    assert_eq!(nine_frames(mode::LEN_DEBT), expected);
}

#[test]
fn tcp_mode_is_a_plain_bucket_in_slow_start() {
    let expected = [
        (Green, 1500),
        (Green, 0),
        (Red, 0),
        (Red, 0),
        (Red, 0),
        (Red, 0),
        (Red, 0),
        (Red, 0),
        (Red, 0),
    ];
    assert_eq!(nine_frames(mode::TCP), expected);
}

/// A `tcp`-mode flow, cir 1 MB/s (1000 bytes a millisecond), cbs 3000, ebs 5000.
fn tcp_profile() -> Profile {
    profile(1_000_000, 3000, 5000).with_mode(mode::TCP).unwrap()
}

#[test]
fn tcp_slow_start_ends_once_the_bucket_is_half_full_after_a_red() {
    let p = tcp_profile();
    let mut s = new_flow(&p, 0);
    assert_eq!(Phase::of(&s), Phase::SlowStart);
    // A flow that has had no red is still starting: refilling does not end it.
    assert_eq!(burst(&p, &mut s, 2, 1500, 0), [Green, Green]);
    assert_eq!(police(&p, &mut s, 1000, 2 * MS), Green);
    assert_eq!(burst(&p, &mut s, 2, 1500, 2 * MS), [Red, Red]);
    // 0.2 ms later: 200 earned, a 500-byte frame leaves 700, under half of cbs.
    assert_eq!(police(&p, &mut s, 500, 2 * MS + 200_000), Green);
    assert_eq!(police(&p, &mut s, 1500, 2 * MS + 200_000), Red);
    assert_eq!(Phase::of(&s), Phase::SlowStart);
    // 5.8 ms later the bucket is full: a 1000-byte green leaves 2000 >= 1500, but so soon
    // after the red that is TCP's loss recovery, not TCP backed off.
    assert_eq!(police(&p, &mut s, 1000, 8 * MS), Green);
    assert_eq!(Phase::of(&s), Phase::SlowStart);
    // A frame of the rate every millisecond keeps it at 2000, until the green
    // SLOW_START_MIN_NS after the red ends the slow start.
    let now = 2 * MS + SLOW_START_MIN_NS;
    for ms in 9..=now / MS {
        assert_eq!(police(&p, &mut s, 1000, ms * MS), Green);
        let phase = if ms * MS < now { Phase::SlowStart } else { Phase::LenDebt };
        assert_eq!(Phase::of(&s), phase, "at {ms} ms");
    }
    // Then the debt's rules: the frames take 1500 each and earn nothing (one instant). Once
    // the flow took two frames (3000, more than a sixteenth of cbs) beyond what it earned,
    // its next shortfall is red (none of these is a TCP segment awaiting its resend), and
    // the count starts again from there.
    let colours = burst(&p, &mut s, 5, 1500, now);
    assert_eq!(colours, [Green, Yellow, Red, Yellow, Yellow]);
    assert_eq!((Phase::of(&s), s.tokens_bytes(), s.debt_bytes()), (Phase::LenDebt, -4000, 3000));
}

/// A flow whose slow start ends as early as it can: its first red at 0, then 500 bytes a
/// millisecond (half the rate), which fills its bucket in 6 ms, until the green
/// [`SLOW_START_MIN_NS`] after the red ends it. Its bucket is left at 2500 of 3000.
fn tcp_flow_out_of_slow_start(p: &Profile) -> (FlowState, u64) {
    let mut s = new_flow(p, 0);
    assert_eq!(burst(p, &mut s, 3, 1500, 0), [Green, Green, Red]);
    let mut now = 0;
    while Phase::of(&s) == Phase::SlowStart {
        now += MS;
        assert_eq!(police(p, &mut s, 500, now), Green, "at {now} ns");
    }
    // The red at 0 is kept as 1,024 ns (a time of 0 would mean no red yet): 401 ms.
    let end = SLOW_START_MIN_NS + MS;
    assert_eq!((now, Phase::of(&s), s.tokens_bytes()), (end, Phase::LenDebt, 2500));
    (s, now)
}

/// A slow start held under half its bucket after its first red, at 0: a frame of 1000
/// bytes every millisecond (the rate), green, and at each millisecond `extra` picks one of
/// 1500 bytes more, which finds the bucket short: red. Until 1999 ms.
fn tcp_slow_start_losing_at(p: &Profile, extra: impl Fn(u64) -> bool) -> FlowState {
    let mut s = new_flow(p, 0);
    assert_eq!(burst(p, &mut s, 3, 1500, 0), [Green, Green, Red]);
    for ms in 1..2000 {
        assert_eq!(police(p, &mut s, 1000, ms * MS), Green, "at {ms} ms");
        if extra(ms) {
            assert_eq!(police(p, &mut s, 1500, ms * MS), Red, "at {ms} ms");
        }
        assert_eq!(Phase::of(&s), Phase::SlowStart);
    }
    s
}

#[test]
fn tcp_slow_start_still_losing_after_a_second_ends_two_seconds_after_its_first_red() {
    let p = tcp_profile();
    // A red every 100 ms, ten of them a second or more after the first: TCP held by its
    // losses, as CUBIC at short round trips is under a plain bucket.
    let mut s = tcp_slow_start_losing_at(&p, |ms| ms % 100 == 50);
    // Past two seconds, a frame the bucket cannot pay for borrows: the len-debt rules,
    // unwatched, as the flow was still losing frames a second after its first red.
    assert_eq!(police(&p, &mut s, 3000, 2001 * MS), Yellow);
    assert_eq!((Phase::of(&s), s.tokens_bytes()), (Phase::LenDebt, -1000));
}

#[test]
fn a_late_burst_is_more_than_one_red_a_round_trip_and_at_least_24() {
    // Not timed: 24 reds in the 0.75 s from 1.25 s after the first red.
    assert!(!tcp::late_burst(23, None));
    assert!(tcp::late_burst(24, None));
    // 20 ms: 37 round trips in those 0.75 s.
    assert!(!tcp::late_burst(36, Some(20 * MS)));
    assert!(tcp::late_burst(37, Some(20 * MS)));
    // 80 ms: 9 round trips, so 24 as untimed.
    assert!(!tcp::late_burst(23, Some(80 * MS)));
    assert!(tcp::late_burst(24, Some(80 * MS)));
    // 150 ms: counted from 1.5 s on, 3 round trips: 24. 200 ms: from 2 s on, never.
    assert!(tcp::late_burst(24, Some(150 * MS)));
    assert!(!tcp::late_burst(127, Some(200 * MS)));
    // 2 ms: 375 round trips, more than the count holds (127): CUBIC losing one every few
    // round trips is never a burst.
    assert!(!tcp::late_burst(127, Some(2 * MS)));
    assert!(!tcp::late_burst(127, Some(0)));
}

#[test]
fn a_slow_starts_first_drop_times_tcps_round_trip() {
    let p = tcp_profile();
    let mut s = new_flow(&p, 0);
    let seqs = [1000u32, 2448, 3896];
    let acts: Vec<u8> =
        seqs.iter().map(|&seq| police_and_act(&p, &mut s, 1500, 0, false, seq).1).collect();
    assert_eq!(acts, [action::PASS, action::PASS, action::DROP]);
    assert_eq!(resend::round_trip_ns(&s), None);
    // Later segments, then the dropped one again 20 ms after the drop.
    police_and_act(&p, &mut s, 500, 10 * MS, false, 5344);
    assert_eq!(resend::round_trip_ns(&s), None);
    police_and_act(&p, &mut s, 500, 20 * MS, false, 3896);
    let rtt = resend::round_trip_ns(&s).expect("timed");
    assert!((19 * MS..=20 * MS).contains(&rtt), "{rtt}");
    // Kept through the packets after it, and through the slow start's later drops.
    police_and_act(&p, &mut s, 500, 21 * MS, false, 5844);
    assert_eq!(resend::round_trip_ns(&s), Some(rtt));
    let later = police_and_act(&p, &mut s, 60_000, 22 * MS, false, 6344);
    assert_eq!(later, (Red, action::DROP));
    police_and_act(&p, &mut s, 500, 23 * MS, false, 6344);
    assert_eq!(resend::round_trip_ns(&s), Some(rtt));
    // A flow that is no TCP (sequence 0) is timed by its next packet: a flood's come
    // microseconds apart.
    let mut udp = new_flow(&p, 0);
    for _ in 0..3 {
        police_and_act(&p, &mut udp, 1500, 0, false, 0);
    }
    police_and_act(&p, &mut udp, 500, 100_000, false, 0);
    assert!(resend::round_trip_ns(&udp).is_some_and(|rtt| rtt <= 100_000));
}

#[test]
fn tcp_slow_start_that_loses_a_burst_a_second_after_its_first_red_is_plain() {
    let p = tcp_profile();
    for (late_reds, phase) in [(23, Phase::LenDebt), (24, Phase::Plain), (40, Phase::Plain)] {
        // A burst of reds from 1.3 s on (BBR's probe meeting the empty bucket).
        let mut s = tcp_slow_start_losing_at(&p, |ms| (1300..1300 + late_reds).contains(&ms));
        let colour = police(&p, &mut s, 3000, 2001 * MS);
        assert_eq!(Phase::of(&s), phase, "{late_reds} late reds");
        if phase == Phase::Plain {
            // Its plain bucket as full as its bucket was (2000 of cbs): -3000. The frame
            // would take it to -6000, past -ebs: red; a smaller one is green.
            assert_eq!((colour, s.tokens_bytes()), (Red, -3000));
            assert_eq!(police(&p, &mut s, 1000, 2001 * MS), Green);
            assert_eq!(s.tokens_bytes(), -4000);
        }
    }
}

#[test]
fn tcp_slow_start_half_full_late_is_watched_whatever_its_late_reds() {
    let p = tcp_profile();
    // The same late burst, but the slow start ends at a green that leaves the bucket half
    // full (2 ms earn 2000, the frame takes 500): the flow backed off; watched, not plain.
    let mut s = tcp_slow_start_losing_at(&p, |ms| (1300..1324).contains(&ms));
    assert_eq!(police(&p, &mut s, 500, 2001 * MS), Green);
    assert_eq!((Phase::of(&s), s.tokens_bytes(), s.debt_bytes()), (Phase::Watched, 1500, 0));
}

/// A flow at exactly the rate after its first red: no shortfall for two seconds (BBR after
/// its start-up, at its estimate of the rate).
fn tcp_flow_quiet_for_two_seconds_after_its_first_red(p: &Profile) -> (FlowState, u64) {
    let mut s = new_flow(p, 0);
    assert_eq!(burst(p, &mut s, 3, 1500, 0), [Green, Green, Red]);
    let mut now = 0;
    while now < SLOW_START_MAX_NS {
        now += MS;
        assert_eq!(police(p, &mut s, 1000, now), Green, "at {now} ns");
    }
    assert_eq!(Phase::of(&s), Phase::SlowStart);
    (s, now)
}

#[test]
fn tcp_slow_start_quiet_after_its_reds_is_watched_and_plain_once_it_borrows_half_of_cbs() {
    let p = tcp_profile();
    let (mut s, now) = tcp_flow_quiet_for_two_seconds_after_its_first_red(&p);
    // Its first shortfall ends the slow start, watched: it may borrow, up to half of cbs.
    let now = now + MS;
    assert_eq!(police(&p, &mut s, 1500, now), Yellow);
    assert_eq!((Phase::of(&s), s.tokens_bytes(), s.debt_bytes()), (Phase::Watched, -500, 1500));
    // This frame would borrow 2000, past 1500: red, and a plain bucket at the floor, empty
    // (it was borrowing; a full one would lend it another cbs).
    assert_eq!(police(&p, &mut s, 1500, now), Red);
    assert_eq!((Phase::of(&s), s.tokens_bytes()), (Phase::Plain, -5000));
}

#[test]
fn tcp_watched_flow_that_repays_gets_the_len_debt_rules() {
    let p = tcp_profile();
    let (mut s, now) = tcp_flow_quiet_for_two_seconds_after_its_first_red(&p);
    assert_eq!(police(&p, &mut s, 1500, now + MS), Yellow);
    assert_eq!(Phase::of(&s), Phase::Watched);
    // 3.5 ms later the bucket is full: repaid, the debt's rules. What it takes is counted
    // from there: the first shortfall after 2000 taken (under two frames) borrows...
    let now = now + 4_500_000;
    assert_eq!(burst(&p, &mut s, 2, 2000, now), [Green, Yellow]);
    assert_eq!(Phase::of(&s), Phase::LenDebt);
    // ... the next, 4000 taken, is red, and the flow then borrows past half of cbs without
    // being made plain.
    assert_eq!(burst(&p, &mut s, 3, 1500, now), [Red, Yellow, Yellow]);
    assert_eq!((Phase::of(&s), s.tokens_bytes()), (Phase::LenDebt, -4000));
}

#[test]
fn tcp_flow_that_creeps_back_to_half_full_only_after_two_seconds_is_watched() {
    let p = tcp_profile();
    let (mut s, now) = tcp_flow_quiet_for_two_seconds_after_its_first_red(&p);
    // A gap of 2.5 ms fills the bucket to half, but long after the red: watched, its bucket
    // as it was (1500), nothing owed.
    assert_eq!(police(&p, &mut s, 1000, now + 2_500_000), Green);
    assert_eq!((Phase::of(&s), s.tokens_bytes(), s.debt_bytes()), (Phase::Watched, 1500, 0));
    // It may borrow less than half of cbs (1500) before its bucket is full again: 2900
    // takes it to -1400, yellow; the next frame would borrow 2400: red, and plain at the
    // floor, empty (it was borrowing).
    assert_eq!(police(&p, &mut s, 2900, now + 2_500_000), Yellow);
    assert_eq!(s.tokens_bytes(), -1400);
    assert_eq!(police(&p, &mut s, 1000, now + 2_500_000), Red);
    assert_eq!((Phase::of(&s), s.tokens_bytes()), (Phase::Plain, -5000));
}

#[test]
fn tcp_flow_that_reaches_the_floor_gets_a_plain_bucket_until_a_pause_that_fills_cbs() {
    let p = tcp_profile();
    let (mut s, now) = tcp_flow_out_of_slow_start(&p);
    // A burst: yellows, a red every third frame (two frames taken beyond what it earned),
    // which a burst does not slow down, down to -3500; the next frame would take it to
    // -5000, the floor: red, and the flow is plain, its plain bucket empty.
    let colours = burst(&p, &mut s, 6, 1500, now);
    assert_eq!(colours, [Green, Yellow, Red, Yellow, Yellow, Red]);
    assert_eq!((Phase::of(&s), s.tokens_bytes()), (Phase::Plain, -5000));
    // A plain bucket at the floor: a frame is green while it keeps the bucket above -ebs,
    // and no debt spaces the reds (2 ms earned 2000)...
    assert_eq!(burst(&p, &mut s, 2, 1500, now + 2 * MS), [Green, Red]);
    assert_eq!((s.tokens_bytes(), s.debt_bytes()), (-4500, 0));
    // ... and the bucket tops out at cbs - ebs = -2000 (2.9 ms would have earned 2900).
    assert_eq!(police(&p, &mut s, 500, now + 4_900_000), Green);
    assert_eq!((Phase::of(&s), s.tokens_bytes()), (Phase::Plain, -2500));
    // A pause of 3 ms fills cbs but is far shorter than TCP's retransmission timer (and
    // than BBR's ProbeRTT gap): still plain.
    assert_eq!(police(&p, &mut s, 1500, now + 7_900_000), Green);
    assert_eq!((Phase::of(&s), s.tokens_bytes()), (Phase::Plain, -3500));
}

#[test]
fn tcp_debts_reds_are_200_ms_of_the_rate_apart_in_a_shallow_debt() {
    use super::tcp::red_spacing;
    // 1 MB/s: 200 ms of the rate is 200 kB.
    let p = profile(1_000_000, 3000, 100_000).with_mode(mode::TCP).unwrap();
    let spacing = |borrowed: i64| red_spacing(&p, nano(borrowed) as u64) as i64;
    assert_eq!(spacing(0), nano(200_000));
    assert_eq!(spacing(49_999), nano(200_000));
    // Half of ebs in debt or deeper: ebs.
    assert_eq!(spacing(50_000), nano(100_000));
    // An ebs over 200 ms of the rate is the spacing; at 1 Tbit/s 200 ms is capped at 4 GiB.
    let wide = profile(1_000_000, 3000, 300_000).with_mode(mode::TCP).unwrap();
    assert_eq!(red_spacing(&wide, 0) as i64, nano(300_000));
    let fast = profile(MAX_CIR_BYTES_PER_SEC, 3000, 100_000).with_mode(mode::TCP).unwrap();
    assert_eq!(red_spacing(&fast, 0), MAX_BURST_BYTES * NS);
}

/// A flow out of its slow start, its bucket full (debt primed), then 1500 bytes every
/// millisecond (1.5x the rate of 1 MB/s), cbs 3000, ebs 100 kB: the index of each red of
/// the first 120 frames after the one red at once.
fn reds_of_a_stream_at_1_5x(m: u8) -> Vec<usize> {
    let p = profile(1_000_000, 3000, 100_000).with_mode(mode::TCP).unwrap();
    let (mut s, now) = tcp_flow_out_of_slow_start(&p);
    // 3 ms later the bucket is full: the first shortfall is red at once.
    let start = now + 3 * MS;
    assert_eq!(burst(&p, &mut s, 3, 1500, start), [Green, Green, Red]);
    let p = p.with_mode(m).unwrap();
    (1..=120).filter(|&i| police(&p, &mut s, 1500, start + i as u64 * MS) == Red).collect()
}

#[test]
fn the_next_red_comes_after_ebs_of_debt_in_len_debt_and_after_an_overdraft_in_tcp_mode() {
    // The bucket sinks by 500 bytes a frame, from 0. Under the len-debt rules the debt
    // (1500 a frame) reaches ebs at the 67th frame, 66 ms after the red: the next loss
    // window at round trips of 80 ms, a second cut of TCP's window.
    let len_debt = reds_of_a_stream_at_1_5x(mode::LEN_DEBT);
    assert_eq!(len_debt.first(), Some(&67), "{len_debt:?}");
    // In tcp mode the count is what the flow took beyond what it earned: 500 a frame. With
    // two frames' worth (3000) owed, the next shortfall is red: the 7th frame.
    let tcp = reds_of_a_stream_at_1_5x(mode::TCP);
    assert_eq!(tcp.first(), Some(&7), "{tcp:?}");
}

/// The stream of `reds_of_a_stream_at_1_5x` as TCP segments (the red at once drops the
/// third), one frame a millisecond: 1500 bytes (1.5x the rate) except in `slow` (500 bytes,
/// 0.5x), the frame `resend_at` sending the dropped segment again: the index of each red of
/// 220 frames.
fn reds_of_a_tcp_stream(m: u8, resend_at: usize, slow: core::ops::Range<usize>) -> Vec<usize> {
    let p = profile(1_000_000, 3000, 100_000).with_mode(mode::TCP).unwrap();
    let (mut s, now) = tcp_flow_out_of_slow_start(&p);
    let start = now + 3 * MS;
    let mut seq = 1000u32;
    let mut first = Vec::new();
    for _ in 0..3 {
        first.push(police_and_act(&p, &mut s, 1500, start, false, seq).1);
        seq += 1448;
    }
    assert_eq!(first, [action::PASS, action::PASS, action::DROP]);
    let dropped = seq - 1448;
    let p = p.with_mode(m).unwrap();
    (1..=220)
        .filter(|&i| {
            let len = if slow.contains(&i) { 500 } else { 1500 };
            let segment = if i == resend_at { dropped } else { seq };
            seq += len - 52;
            police_and_act(&p, &mut s, len, start + i as u64 * MS, false, segment).0 == Red
        })
        .collect()
}

#[test]
fn the_debts_next_red_waits_for_tcps_answer_and_counts_from_it() {
    // Without sequence numbers the len-debt red comes at the 67th frame (the test above):
    // a debt of ebs counted from the red. A TCP flow's waits for TCP to send the dropped
    // segment again...
    let never = reds_of_a_tcp_stream(mode::LEN_DEBT, 0, 0..0);
    // ... never here, so no red before the floor, where the packet would borrow ebs (500
    // bytes more every frame): the 200th frame.
    assert_eq!(never.first(), Some(&200), "{never:?}");
    // Sent again at the 40th, no slower after it: the debt counts from there (the resend's
    // own 1,500 bytes first) and reaches ebs 66 frames later.
    let resent = reds_of_a_tcp_stream(mode::LEN_DEBT, 40, 0..0);
    assert_eq!(resent.first(), Some(&106), "{resent:?}");
    // Sent again at the 40th and slower from the 41st to the 120th (TCP's cut): 21,500
    // bytes of debt by the time it has repaid (the resend, and 40 frames of 500 bytes below
    // zero), borrowing again once its bucket runs short after the 120th: ebs at the 177th.
    let answered = reds_of_a_tcp_stream(mode::LEN_DEBT, 40, 41..121);
    assert_eq!(answered.first(), Some(&177), "{answered:?}");
    // In tcp mode the flow owes nothing while it repays (the 41st to the 120th), and what
    // it takes beyond what it earns counts from its bucket full again: 500 a frame from the
    // 121st, so that at the 127th it owes two frames: red.
    let tcp = reds_of_a_tcp_stream(mode::TCP, 40, 41..121);
    assert_eq!(tcp.first(), Some(&127), "{tcp:?}");
    // An older segment also counts as sent again (one before the dropped one).
    let p = profile(1_000_000, 3000, 100_000).with_mode(mode::LEN_DEBT).unwrap();
    let mut s = new_flow(&p, 7);
    resend::before(&p, &mut s, 5, 1500, 7);
    resend::dropped(&p, &mut s, 7);
    for (seq, answered) in [(6, false), (7, false), (u32::MAX, false), (8, true)] {
        resend::before(&p, &mut s, seq, 1500, 7);
        assert_eq!(resend::answered(&s), answered, "{seq}");
    }
    // u32::MAX is one before 5, modulo 2^32: the resend, answered from the next packet on.
    // A flow that is no TCP carries 0, which comes again with its next packet.
    resend::before(&p, &mut s, 0, 1500, 7);
    resend::dropped(&p, &mut s, 7);
    resend::before(&p, &mut s, 0, 1500, 7);
    assert!(!resend::answered(&s));
    resend::before(&p, &mut s, 0, 1500, 7);
    assert!(resend::answered(&s));
}

/// Whether a `tcp` flow (8 Mbit/s) whose segment the debt's rules dropped, and which TCP
/// sent again `answer_ms` later, gets the debt's red after it: the flow then takes 1.5x the
/// rate for 20 ms (10 kB beyond what it earns).
fn red_after_an_answer_in(answer_ms: u64) -> bool {
    let p = profile(1_000_000, 3000, 100_000).with_mode(mode::TCP).unwrap();
    let (mut s, now) = tcp_flow_out_of_slow_start(&p);
    let start = now + 3 * MS;
    let first: Vec<u8> = (0..3u32)
        .map(|i| police_and_act(&p, &mut s, 1500, start, false, 1000 + i * 1448).1)
        .collect();
    assert_eq!(first, [action::PASS, action::PASS, action::DROP]);
    let resent = start + answer_ms * MS;
    police_and_act(&p, &mut s, 1500, resent, false, 1000 + 2 * 1448);
    (1..=20u32).any(|i| {
        let seq = 10_000 + i * 1448;
        police_and_act(&p, &mut s, 1500, resent + u64::from(i) * MS, false, seq).0 == Red
    })
}

#[test]
fn a_flow_whose_answers_come_within_four_packets_at_the_rate_gets_no_debts_reds() {
    // 8 Mbit/s: four 1500-byte packets take 6 ms. Answered in 2 ms, TCP's window cannot
    // hold the flow at the rate: no red before the floor (ebs is 100 kB). In 10 ms it can:
    // the debt's red comes.
    assert!(!red_after_an_answer_in(2));
    assert!(red_after_an_answer_in(10));
}

#[test]
fn plain_flow_borrows_again_after_a_pause_that_fills_cbs_and_is_as_long_as_tcps_rto() {
    // cbs is 100 ms of the rate, the whole bucket 600 ms.
    let p = profile(10_000, 1000, 5000).with_mode(mode::TCP).unwrap();
    let mut s = new_flow(&p, 0);
    assert_eq!(burst(&p, &mut s, 3, 500, 0), [Green, Green, Red]);
    // 401 ms later (the red at 0 is kept as 1,024 ns) the bucket is full and slow start ends;
    // a burst borrows down to the floor (its reds, one in three frames, do not slow it).
    let mut now = SLOW_START_MIN_NS + MS;
    let colours = burst(&p, &mut s, 17, 500, now);
    assert_eq!(colours.last(), Some(&Red), "{colours:?}");
    assert_eq!(Phase::of(&s), Phase::Plain, "{colours:?}");
    // 120 ms fill cbs, but a BBR flow's ProbeRTT leaves such gaps at 80 ms round trips.
    now += PLAIN_PAUSE_NS - 30 * MS;
    assert_eq!(police(&p, &mut s, 500, now), Green);
    assert_eq!(Phase::of(&s), Phase::Plain);
    // 160 ms is TCP waiting out its retransmission timer: it borrows again under the
    // len-debt rules (not a slow start, which takes 600 ms): -4500 + 1600 - 500.
    now += PLAIN_PAUSE_NS + 10 * MS;
    assert_eq!(police(&p, &mut s, 500, now), Yellow);
    assert_eq!((Phase::of(&s), s.tokens_bytes(), s.debt_bytes()), (Phase::LenDebt, -3400, 500));
}

#[test]
fn a_tcp_flows_phase_is_no_debt_once_the_mode_changes() {
    let p = tcp_profile();
    let mut s = new_flow(&p, 0);
    assert_eq!(Phase::of(&s), Phase::SlowStart);
    // `policer set --mode len-debt` on a live table: the flow keeps its state word, and the
    // len-debt rules must not read the slow-start flag as a debt past ebs.
    let len_debt = p.with_mode(mode::LEN_DEBT).unwrap();
    assert_eq!(burst(&len_debt, &mut s, 3, 1500, 0), [Green, Green, Yellow]);
    assert_eq!(s.debt_bytes(), 1500);
}

#[test]
fn tcp_flow_starts_slow_again_after_a_pause_that_fills_the_bucket() {
    let p = tcp_profile();
    let (mut s, now) = tcp_flow_out_of_slow_start(&p);
    assert_eq!(burst(&p, &mut s, 4, 1500, now), [Green, Yellow, Red, Yellow]);
    // fill_ns is (3000 + 5000) / 1e6 s = 8 ms: a pause of 7 ms is not a new start; the
    // bucket is full again and what the flow takes counts from there: the first shortfall,
    // two frames taken, is red...
    assert_eq!(burst(&p, &mut s, 4, 1500, now + 7 * MS), [Green, Green, Red, Yellow]);
    assert_eq!(Phase::of(&s), Phase::LenDebt);
    // ... a pause of 8 ms is: a plain bucket again.
    assert_eq!(burst(&p, &mut s, 4, 1500, now + 15 * MS), [Green, Green, Red, Red]);
    assert_eq!(Phase::of(&s), Phase::SlowStart);
}

/// Nine 1500-byte frames at one instant, JunosE rules, cbs 3000, ebs 5000, with these yellow
/// and red actions: the action for each and the tokens after it.
fn nine_frames_acted(yellow: u8, red: u8, ect: bool) -> Vec<(u8, i64)> {
    let p = Profile::new(1000, 3000, 5000, key_mode::FIVE_TUPLE, yellow, red).unwrap();
    let mut s = new_flow(&p, 7);
    (0..9).map(|_| (police_and_act(&p, &mut s, 1500, 7, ect, 0).1, s.tokens_bytes())).collect()
}

/// [`nine_frames_acted`] under `--red ecn`.
fn nine_frames_red_ecn(ect: bool) -> Vec<(u8, i64)> {
    nine_frames_acted(action::PASS, action::ECN, ect)
}

#[test]
fn yellow_ecn_marks_the_borrowing_and_the_signal_and_drops_at_the_floor() {
    let (pass, ecn, drop) = (action::PASS, action::ECN, action::DROP);
    // ECN-capable: the yellows are marks, and so is the debt's red above the floor (it
    // takes its tokens, as under `--red ecn`); at the floor, drops.
    let marked = [
        (pass, 1500),
        (pass, 0),
        (ecn, -1500),
        (ecn, -3000),
        (ecn, -4500),
        (drop, -4500),
        (drop, -4500),
        (drop, -4500),
        (drop, -4500),
    ];
    assert_eq!(nine_frames_acted(action::ECN, action::DROP, true), marked);
    // Not ECN-capable: the worked example's colours, every red dropped (the yellows' `ecn`
    // becomes a drop where the frame is rewritten: a Not-ECT packet cannot carry a mark).
    let dropped: Vec<u8> = nine_frames_acted(action::ECN, action::DROP, false)
        .into_iter()
        .map(|(act, _)| act)
        .collect();
    assert_eq!(dropped, [pass, pass, ecn, ecn, drop, ecn, drop, drop, drop]);
}

#[test]
fn red_ecn_marks_the_signal_and_drops_at_the_floor() {
    let (pass, ecn, drop) = (action::PASS, action::ECN, action::DROP);
    // Frame 5 is the debt's red with the bucket at -3000: an ECN-capable packet passes
    // marked and takes its tokens (-4500). From then on every packet would take the bucket
    // to -6000, past -ebs: dropped.
    let expected = [
        (pass, 1500),
        (pass, 0),
        (pass, -1500),
        (pass, -3000),
        (ecn, -4500),
        (drop, -4500),
        (drop, -4500),
        (drop, -4500),
        (drop, -4500),
    ];
    assert_eq!(nine_frames_red_ecn(true), expected);
}

#[test]
fn red_ecn_drops_a_packet_that_cannot_carry_a_mark() {
    // The worked example's colours and tokens: reds take nothing and are dropped.
    let (pass, drop) = (action::PASS, action::DROP);
    let expected = [
        (pass, 1500),
        (pass, 0),
        (pass, -1500),
        (pass, -3000),
        (drop, -3000),
        (pass, -4500),
        (drop, -4500),
        (drop, -4500),
        (drop, -4500),
    ];
    assert_eq!(nine_frames_red_ecn(false), expected);
}

#[test]
fn red_ecn_gives_an_ecn_capable_packet_the_len_debt_rules_in_tcp_mode() {
    let p = Profile::new(1000, 3000, 5000, key_mode::FIVE_TUPLE, action::PASS, action::ECN)
        .and_then(|p| p.with_mode(mode::TCP))
        .unwrap();
    let acts = |ect| {
        let mut s = new_flow(&p, 7);
        (0..9).map(|_| police_and_act(&p, &mut s, 1500, 7, ect, 0).1).collect::<Vec<_>>()
    };
    let (pass, drop) = (action::PASS, action::DROP);
    // ECN-capable: the len-debt rules (three yellows, then the floor); not: a plain bucket.
    assert_eq!(acts(true), [pass, pass, pass, pass, pass, drop, drop, drop, drop]);
    assert_eq!(acts(false), [pass, pass, drop, drop, drop, drop, drop, drop, drop]);
}

#[test]
fn an_ecn_capable_slow_start_is_marked_once_half_the_bucket_is_spent() {
    let p = Profile::new(1000, 3000, 5000, key_mode::FIVE_TUPLE, action::ECN, action::DROP)
        .and_then(|p| p.with_mode(mode::TCP))
        .unwrap();
    let acts = |ect| {
        let mut s = new_flow(&p, 7);
        (0..5).map(|_| police_and_act(&p, &mut s, 1000, 7, ect, 0).1).collect::<Vec<_>>()
    };
    let (pass, ecn, drop) = (action::PASS, action::ECN, action::DROP);
    // ECN-capable: two greens leave 1000, under half of cbs: the third is yellow, a mark
    // (slow start is over), and so is the borrowing after it.
    assert_eq!(acts(true), [pass, pass, ecn, ecn, ecn]);
    // Not: slow start is a plain bucket, and the first shortfall is red.
    assert_eq!(acts(false), [pass, pass, pass, drop, drop]);
}

#[test]
fn red_ecn_never_marks_under_a_plain_bucket() {
    let p = Profile::new(1000, 3000, 0, key_mode::FIVE_TUPLE, action::PASS, action::ECN).unwrap();
    let mut s = new_flow(&p, 7);
    let acts: Vec<u8> = (0..4).map(|_| police_and_act(&p, &mut s, 1500, 7, true, 0).1).collect();
    assert_eq!(acts, [action::PASS, action::PASS, action::DROP, action::DROP]);
}

#[test]
fn the_junose_mode_is_the_default_and_modes_are_checked() {
    assert_eq!(profile(1000, 3000, 5000).mode, mode::JUNOSE);
    assert_eq!(nine_frames(mode::JUNOSE)[4], (Red, -3000));
    assert_eq!(profile(1, 0, 0).with_mode(mode::TCP + 1), Err(ProfileError::BadMode));
    let names = [mode::JUNOSE, mode::LEN_DEBT, mode::TCP].map(mode::name);
    assert_eq!(names, ["junose", "len-debt", "tcp"]);
}

#[test]
fn clock_going_backwards_refills_nothing_and_keeps_last_ns() {
    let p = profile(1000, 3000, 0);
    let mut s = new_flow(&p, 10 * MS);
    assert_eq!(police(&p, &mut s, 3000, 10 * MS), Green);
    assert_eq!(police(&p, &mut s, 0, 5 * MS), Green);
    assert_eq!((s.tokens, s.last_ns), (0, 10 * MS));
    assert_eq!(police(&p, &mut s, 1, 0), Red);
    assert_eq!((s.tokens, s.last_ns), (0, 10 * MS));
    // Forward again: only the time after 10 ms is credited (1 ms, 1 byte), not 6 ms.
    assert_eq!(police(&p, &mut s, 0, 11 * MS), Green);
    assert_eq!((s.tokens, s.last_ns), (nano(1), 11 * MS));
}

#[test]
fn same_instant_refills_nothing() {
    let p = profile(1_000_000_000, 3000, 0);
    let mut s = new_flow(&p, 5);
    assert_eq!(burst(&p, &mut s, 3, 1000, 5), [Green, Green, Green]);
    assert_eq!(police(&p, &mut s, 1, 5), Red);
    assert_eq!((s.tokens, s.last_ns), (0, 5));
}

#[test]
fn lowered_cbs_brings_tokens_down_on_the_next_packet() {
    let big = profile(1000, 10_000, 5000);
    let mut s = new_flow(&big, 0);
    // `policer set --cbs` builds a new profile; the flow keeps its 10_000 tokens.
    let small = profile(1000, 2000, 5000);
    // With 10_000 tokens it would be green; capped at 2000 it borrows 500.
    assert_eq!(police(&small, &mut s, 2500, 1), Yellow);
    assert_eq!((s.tokens_bytes(), s.debt_bytes()), (-500, 500));
}

#[test]
fn lowered_cbs_brings_tokens_down_even_at_the_same_instant() {
    // DESIGN.md step 1 is `tokens = min(cbs, tokens + elapsed * cir)`: with nothing elapsed
    // (or a clock behind `last_ns`) it still caps at cbs.
    let big = profile(1000, 10_000, 5000);
    let mut s = new_flow(&big, 0);
    let small = profile(1000, 2000, 5000);
    assert_eq!(police(&small, &mut s, 2500, 0), Yellow);
}

#[test]
fn zero_bursts_colour_every_packet_red() {
    let p = profile(1000, 0, 0);
    let mut s = new_flow(&p, 0);
    assert_eq!(s.tokens, 0);
    assert_eq!(police(&p, &mut s, 1, YEAR_NS), Red);
    assert_eq!(s.tokens, 0);
}

#[test]
fn idle_for_a_year_at_the_largest_bursts_and_rate_does_not_overflow() {
    let p = profile(MAX_CIR_BYTES_PER_SEC, MAX_BURST_BYTES, MAX_BURST_BYTES);
    let mut s = new_flow(&p, 0);
    assert_eq!(police(&p, &mut s, u32::MAX, 0), Green);
    assert_eq!(police(&p, &mut s, u32::MAX, 0), Yellow);
    assert_eq!(police(&p, &mut s, u32::MAX, 0), Red);
    assert_eq!(police(&p, &mut s, 0, YEAR_NS), Green);
    assert_eq!(s.tokens, nano(MAX_BURST_BYTES as i64));
    // The same at 1 B/s, where the fill time is 2^33 s (about 272 years).
    let p = profile(1, MAX_BURST_BYTES, MAX_BURST_BYTES);
    let mut s = new_flow(&p, 0);
    assert_eq!(police(&p, &mut s, u32::MAX, 0), Green);
    assert_eq!(police(&p, &mut s, u32::MAX, 0), Yellow);
    assert_eq!(police(&p, &mut s, 0, u64::MAX), Green);
    assert_eq!(s.tokens, nano(MAX_BURST_BYTES as i64));
}

#[test]
fn colour_names_and_order() {
    assert_eq!(Colour::ALL, [Green, Yellow, Red]);
    let names: Vec<_> = Colour::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["green", "yellow", "red"]);
    for (i, c) in Colour::ALL.iter().enumerate() {
        assert_eq!(*c as usize, i);
    }
}

// ---------------------------------------------------------------------------------------------
// Reference models, written independently of meter.rs
// ---------------------------------------------------------------------------------------------

/// DESIGN.md section 2 written the plain way: nano-bytes in i128, the elapsed time not clamped.
/// The other modes as their doc comments state them.
struct Model {
    tokens: i128,
    debt: i128,
    last_ns: u64,
    /// `tcp` mode only.
    phase: Option<ModelPhase>,
}

#[derive(Clone, Copy, PartialEq)]
enum ModelPhase {
    /// The time of the first red, as kept: the clock in 1,024 ns units, low 54 bits, at least 1;
    /// whether a shortfall came a second or more after it, and how many 1.25 s or more after
    /// it (at most 127).
    SlowStart(Option<u64>, bool, u64),
    /// Watched: plain once it borrows half of cbs, until its bucket is full.
    LenDebt(bool),
    /// A plain bucket from `-ebs` to `cbs - ebs`.
    Plain,
}

impl Model {
    fn new(p: &Profile, now_ns: u64) -> Model {
        Model {
            tokens: p.cbs_bytes as i128 * NS as i128,
            debt: 0,
            last_ns: now_ns,
            phase: (p.mode == mode::TCP).then_some(ModelPhase::SlowStart(None, false, 0)),
        }
    }

    /// The debt as `FlowState::debt` keeps it.
    fn debt_word(&self) -> i128 {
        match self.phase {
            Some(ModelPhase::SlowStart(first, late, burst)) => {
                (2i128 << 62)
                    + ((late as i128) << 61)
                    + ((burst as i128) << 54)
                    + first.unwrap_or(0) as i128
            }
            Some(ModelPhase::Plain) => 1i128 << 62,
            Some(ModelPhase::LenDebt(true)) => (3i128 << 62) + self.debt,
            _ => self.debt,
        }
    }

    /// A plain bucket as full as the bucket was; empty if it was borrowing.
    fn become_plain(&mut self, ebs: i128) {
        self.phase = Some(ModelPhase::Plain);
        self.tokens = self.tokens.max(0) - ebs;
    }

    fn police(&mut self, p: &Profile, len: u32, now_ns: u64) -> Colour {
        let cbs = p.cbs_bytes as i128 * NS as i128;
        let ebs = p.ebs_bytes as i128 * NS as i128;
        let need = len as i128 * NS as i128;
        let pause = now_ns.saturating_sub(self.last_ns);
        if self.phase.is_some() && pause >= p.fill_ns {
            self.phase = Some(ModelPhase::SlowStart(None, false, 0));
        } else if self.phase == Some(ModelPhase::Plain)
            && pause >= 150 * MS
            && pause as i128 * p.cir_bytes_per_sec as i128 >= cbs
        {
            self.phase = Some(ModelPhase::LenDebt(false));
            self.debt = 0;
        }
        let before = self.tokens;
        if now_ns > self.last_ns {
            let earned = (now_ns - self.last_ns) as i128 * p.cir_bytes_per_sec as i128;
            self.tokens = (self.tokens + earned).min(cbs);
            self.last_ns = now_ns;
        } else {
            self.tokens = self.tokens.min(cbs);
        }
        if self.phase == Some(ModelPhase::Plain) {
            self.tokens = self.tokens.min(cbs - ebs);
        }
        // The debt's rules of `tcp` mode: what the flow took beyond what it earned; a
        // watched flow whose bucket is full again has repaid.
        if let Some(ModelPhase::LenDebt(watched)) = self.phase {
            let earned = (self.tokens - before).max(0);
            self.debt = (self.debt - earned).max(0);
            if watched && self.tokens == cbs {
                self.phase = Some(ModelPhase::LenDebt(false));
            }
        }
        let most = MAX_BURST_BYTES as i128 * NS as i128;
        if self.tokens >= need {
            self.tokens -= need;
            if matches!(self.phase, Some(ModelPhase::LenDebt(_))) {
                self.debt = (self.debt + need).min(most);
            }
            let half_full = self.tokens >= (p.cbs_bytes / 2) as i128 * NS as i128;
            if let Some(ModelPhase::SlowStart(Some(t), ..)) = self.phase
                && half_full
                && let since = now_ns.saturating_sub(t * 1024)
                && since >= SLOW_START_MIN_NS
            {
                let watched = since >= SLOW_START_MAX_NS;
                self.phase = Some(ModelPhase::LenDebt(watched));
                self.debt = 0;
            }
            return Green;
        }
        if let Some(ModelPhase::SlowStart(first, late, burst)) = self.phase {
            match first {
                None => {
                    let low = (now_ns / 1024) % (1u64 << 54);
                    self.phase = Some(ModelPhase::SlowStart(Some(low.max(1)), false, 0));
                    return Red;
                }
                Some(t) if now_ns.saturating_sub(t * 1024) < SLOW_START_MAX_NS => {
                    let since = now_ns.saturating_sub(t * 1024);
                    let late = late || since >= NS;
                    let burst = (burst + (since >= 1250 * MS) as u64).min(127);
                    self.phase = Some(ModelPhase::SlowStart(Some(t), late, burst));
                    return Red;
                }
                Some(_) if burst >= 24 => self.become_plain(ebs),
                Some(_) => {
                    self.phase = Some(ModelPhase::LenDebt(!late));
                    self.debt = 0;
                }
            }
        }
        let a = need - self.tokens;
        if self.phase == Some(ModelPhase::Plain) {
            if a >= ebs {
                return Red;
            }
            self.tokens -= need;
            return Green;
        }
        if let Some(ModelPhase::LenDebt(watched)) = self.phase
            && (a >= ebs || (watched && a >= (p.cbs_bytes / 2) as i128 * NS as i128))
        {
            self.become_plain(ebs);
            return Red;
        }
        if self.phase.is_some() {
            // Red once it took a sixteenth of cbs, shrunk by sixteenths as the bucket's debt
            // uses up ebs, and at least two of this packet, beyond what it earned.
            let in_debt = (-self.tokens).max(0);
            let left = match (ebs - in_debt).max(0).checked_div(ebs / 16) {
                Some(sixteenths) => sixteenths.min(16),
                None => 16,
            };
            let base = (p.cbs_bytes / 16) as i128 * NS as i128;
            let depth = (base * left / 16).max(2 * need);
            if self.debt >= depth {
                self.debt = 0;
                return Red;
            }
            self.tokens -= need;
            self.debt = (self.debt + need).min(most);
            return Yellow;
        }
        let by_len = p.mode != mode::JUNOSE;
        let grows_by = if by_len { need } else { a };
        if self.debt + grows_by >= ebs || (by_len && a >= ebs) {
            self.debt = 0;
            Red
        } else {
            self.tokens -= need;
            self.debt += grows_by;
            Yellow
        }
    }
}

/// A plain single-rate token bucket (hard tail drop): what `ebs = 0` must be.
struct TokenBucket {
    tokens: u128,
    last_ns: u64,
}

impl TokenBucket {
    /// `true`: pass.
    fn offer(&mut self, cir: u64, cbs: u64, len: u32, now_ns: u64) -> bool {
        if now_ns > self.last_ns {
            let earned = (now_ns - self.last_ns) as u128 * cir as u128;
            self.tokens = (self.tokens + earned).min(cbs as u128 * NS as u128);
            self.last_ns = now_ns;
        }
        let need = len as u128 * NS as u128;
        if self.tokens >= need {
            self.tokens -= need;
            true
        } else {
            false
        }
    }
}

/// Checks the invariants of DESIGN.md after a packet: `-ebs < tokens <= cbs` (a `tcp`-mode
/// plain flow's plain bucket: `-ebs <= tokens <= cbs - ebs`), `debt < ebs` (a `tcp`-mode
/// flow's under its widest spacing of reds; at most the spacing while a dropped TCP segment
/// has yet to come again), or 0 when `ebs = 0`.
fn check_bounds(p: &Profile, s: &FlowState) -> Result<(), TestCaseError> {
    let cbs = p.cbs_bytes as i128 * NS as i128;
    let ebs = p.ebs_bytes as i128 * NS as i128;
    prop_assert!(s.tokens as i128 <= cbs, "tokens {} > cbs {}", s.tokens, cbs);
    if ebs == 0 {
        prop_assert!(s.tokens >= 0, "tokens {} < 0 with ebs 0", s.tokens);
    } else if p.mode == mode::TCP && Phase::of(s) == Phase::Plain {
        // A plain bucket, from the floor (empty) to `cbs - ebs` (full).
        let tokens = s.tokens as i128;
        prop_assert!(tokens >= -ebs, "tokens {tokens} < -ebs {}, plain", -ebs);
        prop_assert!(tokens <= cbs - ebs, "tokens {tokens} > cbs - ebs {}, plain", cbs - ebs);
    } else if p.mode == mode::TCP {
        // An ECN-capable packet hands a plain flow to the len-debt rules (see `marked`) with
        // its level, which may be the floor: a red there takes nothing, so the bucket stays
        // at `-ebs` until it refills.
        prop_assert!(s.tokens as i128 >= -ebs, "tokens {} < -ebs {}", s.tokens, -ebs);
    } else {
        prop_assert!(s.tokens as i128 > -ebs, "tokens {} <= -ebs {}", s.tokens, -ebs);
    }
    if p.mode == mode::TCP {
        // What a `tcp`-mode flow took beyond what it earned (or an ECN-capable flow's debt,
        // under its spacing) is held under MAX_BURST_BYTES, clear of the phase bits.
        let owed = debt_of(s) as i128;
        let most = MAX_BURST_BYTES as i128 * NS as i128;
        prop_assert!(owed <= most, "owed {} > {}", owed, most);
        return Ok(());
    }
    // A debt is under ebs, or 0 when ebs is 0.
    let debt = s.debt as i128;
    let limit = ebs;
    // At ebs: held there while a dropped segment had yet to come again; the next
    // shortfall after its resend is red.
    let primed = debt == limit;
    prop_assert!(
        debt < limit || primed || (ebs == 0 && debt == 0),
        "debt {} with ebs {} (reds spaced {})",
        debt,
        ebs,
        limit
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Packet lengths: mostly Ethernet frames, some up to 64 KiB.
fn frame_len() -> impl Strategy<Value = u32> {
    prop_oneof![8 => 1u32..=1514, 1 => 1u32..=65_535]
}

/// A profile of everyday size, and a monotone trace `(time_ns, len)` whose offered load is
/// from about a quarter to twice `cir`, starting at a random time.
fn everyday_run(ebs_zero: bool) -> impl Strategy<Value = (Profile, Vec<(u64, u32)>)> {
    let ebs_max = if ebs_zero { 0 } else { 60_000 };
    (1_000u64..=100_000_000, 0u64..=30_000, 0u64..=ebs_max, 1u64..=8, 0u64..=u64::MAX / 2)
        .prop_flat_map(|(cir, cbs, ebs, load, start)| {
            // The time `cir` takes to earn a 1500-byte frame, times load / 4 at most per gap.
            let max_gap = 1500 * NS / cir * load / 4;
            let gaps = proptest::collection::vec((0..=max_gap, frame_len()), 1..300);
            (Just(profile(cir, cbs, ebs)), Just(start), gaps)
        })
        .prop_map(|(p, start, gaps)| {
            let mut now = start;
            let trace = gaps
                .into_iter()
                .map(|(gap, len)| {
                    now += gap;
                    (now, len)
                })
                .collect();
            (p, trace)
        })
}

/// A profile of everyday size in any mode, and a trace as [`everyday_run`].
fn everyday_run_any_mode(ebs_zero: bool) -> impl Strategy<Value = (Profile, Vec<(u64, u32)>)> {
    (everyday_run(ebs_zero), 0u8..=mode::TCP)
        .prop_map(|((p, trace), m)| (p.with_mode(m).expect("a valid mode"), trace))
}

/// Extreme rates, from 1 B/s (8 bit/s) up to 1 Tbit/s.
fn extreme_cir() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(1u64),
        Just(50_000_000_000u64),
        Just(MAX_CIR_BYTES_PER_SEC),
        1u64..=1000,
        1u64..=50_000_000_000,
    ]
}

/// Extreme bursts, 0 to 4 GiB.
fn extreme_burst() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(MAX_BURST_BYTES),
        0u64..=100_000,
        0u64..=MAX_BURST_BYTES,
        MAX_BURST_BYTES - 100_000..=MAX_BURST_BYTES,
    ]
}

/// Lengths up to `u32::MAX`.
fn extreme_len() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        1u32..=65_535,
        Just(u32::MAX),
        u32::MAX - 65_535..=u32::MAX,
        any::<u32>(),
    ]
}

/// The next timestamp from `now`: forward by up to a year, a little, not at all, or backwards.
#[derive(Clone, Copy, Debug)]
enum Step {
    Forward(u64),
    Back(u64),
    Jump(u64),
}

fn extreme_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u64..=1_000_000).prop_map(Step::Forward),
        2 => (0u64..=YEAR_NS).prop_map(Step::Forward),
        1 => Just(Step::Forward(0)),
        1 => (0u64..=YEAR_NS).prop_map(Step::Back),
        1 => any::<u64>().prop_map(Step::Jump),
    ]
}

fn apply(now: u64, step: Step) -> u64 {
    match step {
        Step::Forward(gap) => now.saturating_add(gap),
        Step::Back(gap) => now.saturating_sub(gap),
        Step::Jump(to) => to,
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Tokens stay within (-ebs, cbs] (a plain flow's within [-ebs, cbs - ebs]) and the debt
    /// under ebs after every packet.
    #[test]
    fn tokens_stay_between_minus_ebs_and_cbs((p, trace) in everyday_run_any_mode(false)) {
        let mut s = new_flow(&p, trace[0].0);
        for &(now, len) in &trace {
            police(&p, &mut s, len, now);
            check_bounds(&p, &s)?;
        }
    }

    /// Over the run, green + yellow bytes <= cir * T + cbs + ebs (T: first to last packet).
    #[test]
    fn green_and_yellow_bytes_are_bounded_by_rate_and_bursts(
        (p, trace) in everyday_run_any_mode(false),
    ) {
        let (first, last) = (trace[0].0, trace[trace.len() - 1].0);
        let mut s = new_flow(&p, first);
        let mut passed: u128 = 0;
        for &(now, len) in &trace {
            if police(&p, &mut s, len, now) != Red {
                passed += len as u128;
            }
        }
        let bound = p.cir_bytes_per_sec as u128 * (last - first) as u128
            + (p.cbs_bytes + p.ebs_bytes) as u128 * NS as u128;
        prop_assert!(passed * NS as u128 <= bound, "passed {} bytes, bound {} nB", passed, bound);
    }

    /// Under `--red ecn` or `--yellow ecn --red drop`, with packets ECN-capable or not at
    /// random, what passes (green, yellow and marked) keeps the same bound, and the bucket
    /// stays above -ebs.
    #[test]
    fn marked_reds_keep_the_bound(
        (p, trace) in everyday_run_any_mode(false),
        ect in proptest::collection::vec(any::<bool>(), 1..64),
        yellow_ecn in any::<bool>(),
    ) {
        let (yellow_action, red_action) =
            if yellow_ecn { (action::ECN, action::DROP) } else { (action::PASS, action::ECN) };
        let p = Profile { yellow_action, red_action, ..p };
        let (first, last) = (trace[0].0, trace[trace.len() - 1].0);
        let mut s = new_flow(&p, first);
        let mut passed: u128 = 0;
        for (i, &(now, len)) in trace.iter().enumerate() {
            let (colour, act) = police_and_act(&p, &mut s, len, now, ect[i % ect.len()], 0);
            prop_assert!(colour == Red || act == p.action_for(colour));
            if act != action::DROP {
                passed += len as u128;
            }
            check_bounds(&p, &s)?;
        }
        let bound = p.cir_bytes_per_sec as u128 * (last - first) as u128
            + (p.cbs_bytes + p.ebs_bytes) as u128 * NS as u128;
        prop_assert!(passed * NS as u128 <= bound, "passed {} bytes, bound {} nB", passed, bound);
    }

    /// TCP segments with sequence numbers at random (so drops wait for resends, and resends
    /// come, at random) keep the same bound in every mode, and the bucket above -ebs.
    #[test]
    fn waiting_for_resends_keeps_the_bound(
        (p, trace) in everyday_run_any_mode(false),
        seqs in proptest::collection::vec(any::<u32>(), 1..64),
    ) {
        let (first, last) = (trace[0].0, trace[trace.len() - 1].0);
        let mut s = new_flow(&p, first);
        let mut passed: u128 = 0;
        for (i, &(now, len)) in trace.iter().enumerate() {
            let (_, act) = police_and_act(&p, &mut s, len, now, false, seqs[i % seqs.len()]);
            if act != action::DROP {
                passed += len as u128;
            }
            check_bounds(&p, &s)?;
        }
        let bound = p.cir_bytes_per_sec as u128 * (last - first) as u128
            + (p.cbs_bytes + p.ebs_bytes) as u128 * NS as u128;
        prop_assert!(passed * NS as u128 <= bound, "passed {} bytes, bound {} nB", passed, bound);
    }

    /// With ebs = 0 the meter is exactly a single-rate token bucket: green where it passes,
    /// red where it drops, never yellow.
    #[test]
    fn ebs_zero_is_a_plain_token_bucket((p, trace) in everyday_run_any_mode(true)) {
        prop_assert_eq!(p.ebs_bytes, 0);
        let mut s = new_flow(&p, trace[0].0);
        let mut bucket = TokenBucket {
            tokens: p.cbs_bytes as u128 * NS as u128,
            last_ns: trace[0].0,
        };
        for (i, &(now, len)) in trace.iter().enumerate() {
            let colour = police(&p, &mut s, len, now);
            let pass = bucket.offer(p.cir_bytes_per_sec, p.cbs_bytes, len, now);
            let expected = if pass { Green } else { Red };
            prop_assert_eq!(colour, expected, "packet {}", i);
            prop_assert_eq!(s.tokens as u128, bucket.tokens, "packet {}", i);
        }
    }

    /// A flow that never sends more than the bucket holds is all green: each packet (at most
    /// cbs bytes) is sent once a full-bucket token bucket at cir has earned it, so the bytes
    /// in any interval [t_j, t_i] are at most cbs + cir * (t_i - t_j).
    #[test]
    fn conforming_flow_is_all_green(
        cir in 1_000u64..=10_000_000_000,
        cbs in 1u64..=200_000,
        ebs in 0u64..=200_000,
        packets in proptest::collection::vec((any::<u16>(), 0u64..=2_000_000, 0u8..4), 1..300),
        start in 0u64..=u64::MAX / 2,
    ) {
        let p = profile(cir, cbs, ebs);
        let cbs_nano = cbs as u128 * NS as u128;
        let mut now = start;
        let mut level = cbs_nano; // the ideal bucket the trace is built from
        let mut s = new_flow(&p, start);
        for (i, &(len, gap, burst)) in packets.iter().enumerate() {
            let len = (len as u64 % cbs + 1) as u32;
            // burst == 0: back to back; else wait a random gap.
            let gap = if burst == 0 { 0 } else { gap };
            let mut earned = gap as u128 * cir as u128;
            let need = len as u128 * NS as u128;
            if (level + earned).min(cbs_nano) < need {
                // Wait just long enough to earn the rest of the packet.
                let missing = need - level;
                earned = missing.div_ceil(cir as u128) * cir as u128;
            }
            now += (earned / cir as u128) as u64;
            level = (level + earned).min(cbs_nano) - need;
            prop_assert_eq!(police(&p, &mut s, len, now), Green, "packet {} of {} bytes", i, len);
        }
        prop_assert_eq!(s.debt, 0);
    }

    /// Extreme values: rates from 8 bit/s to 1 Tbit/s, bursts up to 4 GiB, lengths up to
    /// u32::MAX, gaps up to a year, clocks going backwards or jumping anywhere. The meter uses
    /// wrapping arithmetic, so an overflow would not panic: it is caught by comparing with the
    /// i128 model, colour, tokens, debt and last_ns, and by the bounds.
    #[test]
    fn extreme_values_match_the_exact_model(
        cir in extreme_cir(),
        cbs in extreme_burst(),
        ebs in extreme_burst(),
        start in any::<u64>(),
        trace in proptest::collection::vec((extreme_step(), extreme_len()), 1..100),
        m in 0u8..=mode::TCP,
    ) {
        let p = profile(cir, cbs, ebs).with_mode(m).expect("a valid mode");
        let mut s = new_flow(&p, start);
        let mut model = Model::new(&p, start);
        let mut now = start;
        let mut latest = start;
        let mut passed: u128 = 0;
        for (i, &(step, len)) in trace.iter().enumerate() {
            now = apply(now, step);
            latest = latest.max(now);
            let colour = police(&p, &mut s, len, now);
            prop_assert_eq!(colour, model.police(&p, len, now), "packet {}", i);
            prop_assert_eq!(s.tokens as i128, model.tokens, "tokens after packet {}", i);
            prop_assert_eq!(s.debt as i128, model.debt_word(), "debt after packet {}", i);
            prop_assert_eq!(s.last_ns, latest, "last_ns after packet {}", i);
            check_bounds(&p, &s)?;
            if colour != Red {
                passed += len as u128;
            }
        }
        // Only time past the latest clock reading is credited, so T runs to the latest.
        let bound = cir as u128 * (latest - start) as u128 + (cbs + ebs) as u128 * NS as u128;
        prop_assert!(passed * NS as u128 <= bound);
    }

    /// The same model comparison on everyday profiles, where every colour is common.
    #[test]
    fn everyday_runs_match_the_exact_model((p, trace) in everyday_run_any_mode(false)) {
        let mut s = new_flow(&p, trace[0].0);
        let mut model = Model::new(&p, trace[0].0);
        for (i, &(now, len)) in trace.iter().enumerate() {
            prop_assert_eq!(police(&p, &mut s, len, now), model.police(&p, len, now), "packet {}", i);
            prop_assert_eq!(s.tokens as i128, model.tokens, "tokens after packet {}", i);
            prop_assert_eq!(s.debt as i128, model.debt_word(), "debt after packet {}", i);
        }
    }
}
