extern crate std;

use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::parse::parse_with_layout;

/// The Internet checksum of `data` (RFC 1071), the reference for the incremental one.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 =
        data.chunks(2).map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ipv4_frame(tos: u8) -> Vec<u8> {
    let mut f = std::vec![0u8; 14 + 20 + 8];
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut f[14..34];
    ip.copy_from_slice(&[
        0x45, tos, 0, 28, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    let check = checksum(ip);
    ip[10..12].copy_from_slice(&check.to_be_bytes());
    f
}

fn ipv6_frame(traffic_class: u8) -> Vec<u8> {
    let mut f = std::vec![0u8; 14 + 40 + 8];
    f[12..14].copy_from_slice(&0x86DDu16.to_be_bytes());
    f[14] = 0x60 | (traffic_class >> 4);
    f[15] = (traffic_class << 4) | 0x0a; // flow label bits must survive
    f[20] = 17;
    f
}

fn act(frame: &mut [u8], action: u8) -> Outcome {
    let (_, layout) = parse_with_layout(&frame[..]);
    let family = if frame[12] == 0x08 { family::IPV4 } else { family::IPV6 };
    apply(frame, &layout, family, action)
}

fn ipv4_header_is_valid(frame: &[u8]) -> bool {
    checksum(&frame[14..34]) == 0
}

#[test]
fn ecn_marks_ect_packets_ce_and_keeps_the_checksum_valid() {
    for ect in [1u8, 2] {
        let mut f = ipv4_frame(0xb8 | ect);
        assert_eq!(act(&mut f, action::ECN), Outcome::Marked);
        assert_eq!(f[15], 0xb8 | 3, "DSCP kept, CE set");
        assert!(ipv4_header_is_valid(&f));
    }
}

#[test]
fn ecn_drops_not_ect_and_leaves_ce_as_it_is() {
    let mut f = ipv4_frame(0xb8);
    assert_eq!(act(&mut f, action::ECN), Outcome::Dropped);
    let mut f = ipv4_frame(0xb8 | 3);
    let before = f.clone();
    assert_eq!(act(&mut f, action::ECN), Outcome::Marked);
    assert_eq!(f, before);
}

#[test]
fn dscp_rewrites_ipv4_keeping_ecn_and_a_valid_checksum() {
    let mut f = ipv4_frame(0x02);
    assert_eq!(act(&mut f, action::dscp(10)), Outcome::Marked);
    assert_eq!(f[15], (10 << 2) | 0x02);
    assert!(ipv4_header_is_valid(&f));
}

#[test]
fn ipv6_traffic_class_is_rewritten_around_the_version_and_flow_label() {
    let mut f = ipv6_frame(0x01);
    assert_eq!(act(&mut f, action::dscp(46)), Outcome::Marked);
    assert_eq!(f[14] >> 4, 6, "version");
    assert_eq!(f[15] & 0x0f, 0x0a, "flow label");
    assert_eq!(((f[14] & 0x0f) << 4) | (f[15] >> 4), (46 << 2) | 1);
    let mut f = ipv6_frame(0x02);
    assert_eq!(act(&mut f, action::ECN), Outcome::Marked);
    assert_eq!(ecn(&f[..], 14, family::IPV6), Some(3));
    let mut f = ipv6_frame(0x00);
    assert_eq!(act(&mut f, action::ECN), Outcome::Dropped);
}

#[test]
fn pass_and_drop_touch_nothing() {
    let mut f = ipv4_frame(0x02);
    let before = f.clone();
    assert_eq!(act(&mut f, action::PASS), Outcome::Passed);
    assert_eq!(act(&mut f, action::DROP), Outcome::Dropped);
    assert_eq!(f, before);
}

proptest! {
    #[test]
    fn incremental_checksum_equals_a_full_recompute(
        mut header in proptest::collection::vec(any::<u8>(), 20),
        word in 0usize..10,
        new in any::<u16>(),
    ) {
        header[10] = 0;
        header[11] = 0;
        let check = checksum(&header);
        header[10..12].copy_from_slice(&check.to_be_bytes());
        prop_assume!(word != 5);
        let old = u16::from_be_bytes([header[2 * word], header[2 * word + 1]]);
        header[2 * word..2 * word + 2].copy_from_slice(&new.to_be_bytes());
        let updated = checksum_replace(check, old, new);
        header[10..12].copy_from_slice(&updated.to_be_bytes());
        // A valid header sums to 0 (or its one's-complement twin 0xffff with -0).
        prop_assert!(checksum(&header) == 0 || checksum(&header) == 0xffff);
    }
}
