//! Tests of the frame parser on frames built byte by byte.

extern crate std;

use super::*;
use crate::types::key_mode;
use std::{vec, vec::Vec};

const SRC4: [u8; 4] = [192, 0, 2, 1];
const DST4: [u8; 4] = [198, 51, 100, 7];
const SRC6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01];
const DST6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34];
// Byte-asymmetric ports, so that a byte-order mistake shows.
const SPORT: u16 = 0x1234;
const DPORT: u16 = 0xabcd;
const ETH_P_ARP: u16 = 0x0806;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ICMPV6: u8 = 58;
/// A protocol without ports or anything else the parser reads.
const IPPROTO_GRE: u8 = 47;
/// Flags/fragment offset field values.
const DF: u16 = 0x4000;
const MF: u16 = 0x2000;

/// Ethernet header: MACs, then one (TPID, TCI) pair per tag, then the ethertype.
fn ethernet(tags: &[u16], ethertype: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]); // destination MAC
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02]); // source MAC
    for (i, tpid) in tags.iter().enumerate() {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&(100 + i as u16).to_be_bytes()); // TCI: VLAN 100, 101, ...
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// IPv4 header with `ihl` (in 32-bit words; the header holds max(ihl, 5) words, options NOP).
fn ipv4(ihl: u8, flags_offset: u16, proto: u8) -> Vec<u8> {
    ipv4_versioned(4, ihl, flags_offset, proto)
}

fn ipv4_versioned(version: u8, ihl: u8, flags_offset: u16, proto: u8) -> Vec<u8> {
    let mut h = Vec::new();
    h.push(version << 4 | ihl);
    h.push(0); // DSCP/ECN
    h.extend_from_slice(&100u16.to_be_bytes()); // total length (not checked)
    h.extend_from_slice(&0x5555u16.to_be_bytes()); // identification
    h.extend_from_slice(&flags_offset.to_be_bytes());
    h.push(64); // TTL
    h.push(proto);
    h.extend_from_slice(&[0, 0]); // checksum (not checked)
    h.extend_from_slice(&SRC4);
    h.extend_from_slice(&DST4);
    h.resize(4 * ihl.max(5) as usize, 0x01); // options: NOP
    h
}

/// IPv6 header with `next` as the next header.
fn ipv6(next: u8) -> Vec<u8> {
    ipv6_versioned(6, next)
}

fn ipv6_versioned(version: u8, next: u8) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&[version << 4, 0, 0, 0]); // version, traffic class, flow label
    h.extend_from_slice(&20u16.to_be_bytes()); // payload length (not checked)
    h.push(next);
    h.push(64); // hop limit
    h.extend_from_slice(&SRC6);
    h.extend_from_slice(&DST6);
    h
}

/// A 20-byte TCP header.
fn tcp(sport: u16, dport: u16) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.resize(20, 0);
    // Data offset: 5 words, no options.
    h[12] = 0x50;
    h
}

/// An 8-byte UDP header.
fn udp(sport: u16, dport: u16) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.resize(8, 0);
    h
}

fn frame(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn key4(proto: u8, src_port: u16, dst_port: u16) -> FlowKey {
    let mut key = FlowKey { proto, family: family::IPV4, src_port, dst_port, ..FlowKey::default() };
    key.src[..4].copy_from_slice(&SRC4);
    key.dst[..4].copy_from_slice(&DST4);
    key
}

fn key6(proto: u8, src_port: u16, dst_port: u16) -> FlowKey {
    FlowKey { src: SRC6, dst: DST6, src_port, dst_port, proto, family: family::IPV6, profile: 0 }
}

fn ipv4_tcp_frame() -> Vec<u8> {
    frame(&[&ethernet(&[], ETH_P_IP), &ipv4(5, DF, IPPROTO_TCP), &tcp(SPORT, DPORT)])
}

/// Every cut of `f` shorter than `complete` is Malformed; every longer one parses as `whole`.
fn assert_truncations(f: &[u8], complete: usize, whole: Parsed) {
    for len in 0..complete {
        assert_eq!(parse(&f[..len]), Parsed::Malformed, "cut at {len} of {}", f.len());
    }
    for len in complete..=f.len() {
        assert_eq!(parse(&f[..len]), whole, "cut at {len} of {}", f.len());
    }
}

// ---------------------------------------------------------------------------------------------
// Well-formed IP
// ---------------------------------------------------------------------------------------------

#[test]
fn ipv4_tcp() {
    assert_eq!(parse(&ipv4_tcp_frame()[..]), Parsed::Flow(key4(IPPROTO_TCP, SPORT, DPORT)));
}

#[test]
fn ipv4_udp() {
    let f = frame(&[&ethernet(&[], ETH_P_IP), &ipv4(5, 0, IPPROTO_UDP), &udp(53, 40_000)]);
    assert_eq!(parse(&f[..]), Parsed::Flow(key4(IPPROTO_UDP, 53, 40_000)));
}

#[test]
fn ipv6_tcp() {
    let f = frame(&[&ethernet(&[], ETH_P_IPV6), &ipv6(IPPROTO_TCP), &tcp(SPORT, DPORT)]);
    assert_eq!(parse(&f[..]), Parsed::Flow(key6(IPPROTO_TCP, SPORT, DPORT)));
}

#[test]
fn ipv6_udp() {
    let f = frame(&[&ethernet(&[], ETH_P_IPV6), &ipv6(IPPROTO_UDP), &udp(SPORT, DPORT)]);
    assert_eq!(parse(&f[..]), Parsed::Flow(key6(IPPROTO_UDP, SPORT, DPORT)));
}

#[test]
fn ports_are_in_host_order() {
    let Parsed::Flow(key) = parse(&ipv4_tcp_frame()[..]) else { panic!("not a flow") };
    assert_eq!((key.src_port, key.dst_port), (0x1234, 0xabcd));
}

#[test]
fn single_vlan_tag() {
    let f =
        frame(&[&ethernet(&[ETH_P_8021Q], ETH_P_IP), &ipv4(5, 0, IPPROTO_TCP), &tcp(SPORT, DPORT)]);
    assert_eq!(parse(&f[..]), Parsed::Flow(key4(IPPROTO_TCP, SPORT, DPORT)));
    let f =
        frame(&[&ethernet(&[ETH_P_8021AD], ETH_P_IPV6), &ipv6(IPPROTO_UDP), &udp(SPORT, DPORT)]);
    assert_eq!(parse(&f[..]), Parsed::Flow(key6(IPPROTO_UDP, SPORT, DPORT)));
}

#[test]
fn qinq_two_tags() {
    let tags = [ETH_P_8021AD, ETH_P_8021Q];
    let f = frame(&[&ethernet(&tags, ETH_P_IP), &ipv4(5, 0, IPPROTO_UDP), &udp(SPORT, DPORT)]);
    assert_eq!(parse(&f[..]), Parsed::Flow(key4(IPPROTO_UDP, SPORT, DPORT)));
    // Two 802.1Q tags (old-style QinQ) too.
    let tags = [ETH_P_8021Q, ETH_P_8021Q];
    let f = frame(&[&ethernet(&tags, ETH_P_IPV6), &ipv6(IPPROTO_TCP), &tcp(SPORT, DPORT)]);
    assert_eq!(parse(&f[..]), Parsed::Flow(key6(IPPROTO_TCP, SPORT, DPORT)));
}

#[test]
fn ipv4_options_are_skipped_for_every_ihl() {
    for ihl in 6..=15 {
        let f = frame(&[&ethernet(&[], ETH_P_IP), &ipv4(ihl, 0, IPPROTO_TCP), &tcp(SPORT, DPORT)]);
        assert_eq!(parse(&f[..]), Parsed::Flow(key4(IPPROTO_TCP, SPORT, DPORT)), "ihl {ihl}");
    }
}

#[test]
fn icmp_is_keyed_by_type_and_echo_identifier() {
    // Echo request: type 8, identifier 0x0001 -> dst_port 8, src_port 1.
    let echo = [8, 0, 0x12, 0x34, 0, 1, 0, 7];
    let f = frame(&[&ethernet(&[], ETH_P_IP), &ipv4(5, 0, IPPROTO_ICMP), &echo]);
    assert_eq!(parse(&f[..]), Parsed::Flow(key4(IPPROTO_ICMP, 1, 8)));
    // Destination unreachable: the type only.
    let unreachable = [3, 1, 0, 0, 0, 0, 0, 0];
    let f = frame(&[&ethernet(&[], ETH_P_IP), &ipv4(5, 0, IPPROTO_ICMP), &unreachable]);
    assert_eq!(parse(&f[..]), Parsed::Flow(key4(IPPROTO_ICMP, 0, 3)));
    // Cut before the type, or inside an echo's identifier: Malformed.
    assert_eq!(parse(&f[..14 + 20]), Parsed::Malformed);
    let f = frame(&[&ethernet(&[], ETH_P_IP), &ipv4(5, 0, IPPROTO_ICMP), &echo]);
    assert_eq!(parse(&f[..14 + 20 + 5]), Parsed::Malformed);
    // ICMPv6 echo reply (129).
    let echo6 = [129, 0, 0, 0, 0x0a, 0x0b, 0, 1];
    let f = frame(&[&ethernet(&[], ETH_P_IPV6), &ipv6(IPPROTO_ICMPV6), &echo6]);
    assert_eq!(parse(&f[..]), Parsed::Flow(key6(IPPROTO_ICMPV6, 0x0a0b, 129)));
}

#[test]
fn ipv4_fragments_have_no_ports() {
    // MF on the first fragment, offsets on later ones (with and without MF), the largest
    // offset: all keyed without ports, so every fragment lands in one bucket.
    for flags_offset in [MF, MF | 1, 1, 0x1fff, DF | 185, MF | DF] {
        let f = frame(&[
            &ethernet(&[], ETH_P_IP),
            &ipv4(5, flags_offset, IPPROTO_UDP),
            &udp(SPORT, DPORT),
        ]);
        assert_eq!(parse(&f[..]), Parsed::Flow(key4(IPPROTO_UDP, 0, 0)), "{flags_offset:#06x}");
        // A later fragment need not carry a transport header.
        assert_eq!(parse(&f[..14 + 20]), Parsed::Flow(key4(IPPROTO_UDP, 0, 0)));
    }
}

#[test]
fn ipv4_dont_fragment_alone_is_not_a_fragment() {
    let f = frame(&[&ethernet(&[], ETH_P_IP), &ipv4(5, DF, IPPROTO_UDP), &udp(SPORT, DPORT)]);
    assert_eq!(parse(&f[..]), Parsed::Flow(key4(IPPROTO_UDP, SPORT, DPORT)));
    // The reserved (evil) bit is not a fragment flag either.
    let f = frame(&[&ethernet(&[], ETH_P_IP), &ipv4(5, 0x8000, IPPROTO_UDP), &udp(SPORT, DPORT)]);
    assert_eq!(parse(&f[..]), Parsed::Flow(key4(IPPROTO_UDP, SPORT, DPORT)));
}

#[test]
fn ipv6_other_next_headers_have_no_ports() {
    let f = frame(&[&ethernet(&[], ETH_P_IPV6), &ipv6(IPPROTO_GRE), &tcp(SPORT, DPORT)]);
    assert_eq!(parse(&f[..]), Parsed::Flow(key6(IPPROTO_GRE, 0, 0)));
    assert_eq!(parse(&f[..14 + 40]), Parsed::Flow(key6(IPPROTO_GRE, 0, 0)));
}

/// An IPv6 extension header of `len8` 8-byte units after the first, then `next`.
fn ext(next: u8, len8: u8) -> Vec<u8> {
    let mut h = vec![0u8; (len8 as usize + 1) * 8];
    h[0] = next;
    h[1] = len8;
    h
}

#[test]
fn ipv6_extension_headers_are_walked_to_the_ports() {
    // Hop-by-hop (0) -> routing (43, 24 bytes) -> destination options (60) -> TCP.
    let f = frame(&[
        &ethernet(&[], ETH_P_IPV6),
        &ipv6(0),
        &ext(43, 0),
        &ext(60, 2),
        &ext(IPPROTO_TCP, 0),
        &tcp(SPORT, DPORT),
    ]);
    assert_eq!(parse(&f[..]), Parsed::Flow(key6(IPPROTO_TCP, SPORT, DPORT)));
    // AH counts its length in 4-byte units, plus 2: len 1 is 12 bytes.
    let mut ah = vec![IPPROTO_UDP, 1];
    ah.resize(12, 0);
    let f = frame(&[&ethernet(&[], ETH_P_IPV6), &ipv6(51), &ah, &udp(SPORT, DPORT)]);
    assert_eq!(parse(&f[..]), Parsed::Flow(key6(IPPROTO_UDP, SPORT, DPORT)));
    // An atomic fragment header (offset 0, no M flag) is walked like the others.
    let f =
        frame(&[&ethernet(&[], ETH_P_IPV6), &ipv6(44), &ext(IPPROTO_UDP, 0), &udp(SPORT, DPORT)]);
    assert_eq!(parse(&f[..]), Parsed::Flow(key6(IPPROTO_UDP, SPORT, DPORT)));
}

#[test]
fn ipv6_fragments_have_no_ports() {
    for frag in [0x0001u16, 0x0008, 0x0009] {
        let mut fh = ext(IPPROTO_UDP, 0);
        fh[1] = 0;
        fh[2..4].copy_from_slice(&frag.to_be_bytes());
        let f = frame(&[&ethernet(&[], ETH_P_IPV6), &ipv6(44), &fh, &udp(SPORT, DPORT)]);
        assert_eq!(parse(&f[..]), Parsed::Flow(key6(IPPROTO_UDP, 0, 0)), "{frag:#x}");
    }
}

/// An IPv6 frame whose chain has `count` destination-options headers, then TCP.
fn chain_of(count: usize) -> Vec<u8> {
    let mut f = frame(&[&ethernet(&[], ETH_P_IPV6), &ipv6(60)]);
    for i in 0..count {
        f.extend_from_slice(&ext(if i + 1 == count { IPPROTO_TCP } else { 60 }, 0));
    }
    f.extend_from_slice(&tcp(SPORT, DPORT));
    f
}

#[test]
fn ipv6_chains_longer_than_the_limit_are_keyed_without_ports_and_flagged() {
    let (parsed, layout) = parse_with_layout(&chain_of(MAX_IPV6_EXT_HEADERS + 1)[..]);
    assert_eq!(parsed, Parsed::Flow(key6(60, 0, 0)));
    assert!(layout.ext_chain_too_long);
    let (parsed, layout) = parse_with_layout(&chain_of(MAX_IPV6_EXT_HEADERS)[..]);
    assert_eq!(parsed, Parsed::Flow(key6(IPPROTO_TCP, SPORT, DPORT)));
    assert!(!layout.ext_chain_too_long);
}

#[test]
fn a_cut_extension_header_is_malformed() {
    let f =
        frame(&[&ethernet(&[], ETH_P_IPV6), &ipv6(0), &ext(IPPROTO_TCP, 1), &tcp(SPORT, DPORT)]);
    for len in 14 + 40..14 + 40 + 16 + 4 {
        assert_eq!(parse(&f[..len]), Parsed::Malformed, "cut at {len}");
    }
}

#[test]
fn layout_gives_the_ip_offset_and_the_headers_every_segment_repeats() {
    let f = frame(&[&ethernet(&[0x8100], ETH_P_IP), &ipv4(6, 0, IPPROTO_TCP), &tcp(SPORT, DPORT)]);
    let (_, layout) = parse_with_layout(&f[..]);
    assert_eq!(layout.l3_offset, 18);
    // 18 + 24 + TCP data offset 5 words.
    assert_eq!(layout.headers_len, 18 + 24 + 20);
    let f = frame(&[&ethernet(&[], ETH_P_IPV6), &ipv6(IPPROTO_UDP), &udp(SPORT, DPORT)]);
    assert_eq!(parse_with_layout(&f[..]).1.headers_len, 14 + 40 + 8);
    let f = frame(&[&ethernet(&[], ETH_P_IP), &ipv4(5, 0, IPPROTO_GRE)]);
    assert_eq!(parse_with_layout(&f[..]).1.headers_len, 0);
}

#[test]
fn ip_end_is_where_the_ip_header_says_the_packet_ends() {
    // `ipv4` says 100 bytes in all; the frame may be longer (padding) or shorter (cut, or in
    // more buffers than this one): ip_end reads the header, not the frame.
    let f = frame(&[&ethernet(&[], ETH_P_IP), &ipv4(5, 0, IPPROTO_TCP), &tcp(SPORT, DPORT)]);
    assert_eq!(ip_end(&f[..]), Some(14 + 100));
    let f = frame(&[&ethernet(&[0x8100], ETH_P_IP), &ipv4(5, 0, IPPROTO_UDP)]);
    assert_eq!(ip_end(&f[..]), Some(18 + 100));
    let mut v6 = ipv6(IPPROTO_UDP);
    v6[4..6].copy_from_slice(&1000u16.to_be_bytes());
    let f = frame(&[&ethernet(&[], ETH_P_IPV6), &v6]);
    assert_eq!(ip_end(&f[..]), Some(14 + 40 + 1000));
    // Not IP, two tags, or too short to tell: unknown (the kernel is asked).
    assert_eq!(ip_end(&ethernet(&[], ETH_P_ARP)[..]), None);
    let f = frame(&[&ethernet(&[0x88a8, 0x8100], ETH_P_IP), &ipv4(5, 0, IPPROTO_UDP)]);
    assert_eq!(ip_end(&f[..]), None);
    let f = frame(&[&ethernet(&[], ETH_P_IP), &ipv4(5, 0, IPPROTO_UDP)]);
    assert_eq!(ip_end(&f[..14 + 3]), None);
}

#[test]
fn a_tcp_segment_gives_its_sequence_number_and_anything_else_0() {
    let mut segment = tcp(SPORT, DPORT);
    segment[4..8].copy_from_slice(&0xfedc_ba98u32.to_be_bytes());
    let f = frame(&[&ethernet(&[0x8100], ETH_P_IP), &ipv4(5, 0, IPPROTO_TCP), &segment]);
    assert_eq!(parse_with_layout(&f[..]).1.tcp_seq, 0xfedc_ba98);
    let f = frame(&[&ethernet(&[], ETH_P_IPV6), &ipv6(IPPROTO_TCP), &segment]);
    assert_eq!(parse_with_layout(&f[..]).1.tcp_seq, 0xfedc_ba98);
    // Cut before the data offset: keyed by its ports, no sequence number (0).
    let f = frame(&[&ethernet(&[], ETH_P_IP), &ipv4(5, 0, IPPROTO_TCP), &segment[..12]]);
    let (parsed, layout) = parse_with_layout(&f[..]);
    assert_eq!(parsed, Parsed::Flow(key4(IPPROTO_TCP, SPORT, DPORT)));
    assert_eq!((layout.tcp_seq, layout.headers_len), (0, 0));
    let f = frame(&[&ethernet(&[], ETH_P_IP), &ipv4(5, 0, IPPROTO_UDP), &udp(SPORT, DPORT)]);
    assert_eq!(parse_with_layout(&f[..]).1.tcp_seq, 0);
    // A fragment has no TCP header to read.
    let f = frame(&[&ethernet(&[], ETH_P_IP), &ipv4(5, 0x2000, IPPROTO_TCP), &segment]);
    assert_eq!(parse_with_layout(&f[..]).1.tcp_seq, 0);
}

#[test]
fn trailing_bytes_are_ignored() {
    let mut f = ipv4_tcp_frame();
    f.extend_from_slice(&[0xee; 1000]);
    assert_eq!(parse(&f[..]), Parsed::Flow(key4(IPPROTO_TCP, SPORT, DPORT)));
}

// ---------------------------------------------------------------------------------------------
// Not IP
// ---------------------------------------------------------------------------------------------

#[test]
fn arp_is_not_ip() {
    let arp_payload = [0u8; 28];
    let f = frame(&[&ethernet(&[], ETH_P_ARP), &arp_payload]);
    assert_eq!(parse(&f[..]), Parsed::NonIp);
    // The ethertype alone decides.
    assert_eq!(parse(&f[..14]), Parsed::NonIp);
    let f = frame(&[&ethernet(&[ETH_P_8021Q], ETH_P_ARP), &arp_payload]);
    assert_eq!(parse(&f[..]), Parsed::NonIp);
}

#[test]
fn third_vlan_tag_is_not_ip() {
    let tags = [ETH_P_8021AD, ETH_P_8021Q, ETH_P_8021Q];
    let f = frame(&[&ethernet(&tags, ETH_P_IP), &ipv4(5, 0, IPPROTO_TCP), &tcp(SPORT, DPORT)]);
    assert_eq!(parse(&f[..]), Parsed::NonIp);
}

// ---------------------------------------------------------------------------------------------
// Malformed
// ---------------------------------------------------------------------------------------------

#[test]
fn every_truncation_of_ipv4_tcp_before_the_ports_end_is_malformed() {
    // Cut inside the MACs or ethertype (0..14), the IP header (14..34) or the ports (34..38).
    let f = ipv4_tcp_frame();
    assert_truncations(&f, 14 + 20 + 4, Parsed::Flow(key4(IPPROTO_TCP, SPORT, DPORT)));
}

#[test]
fn every_truncation_of_tagged_frames_before_the_ports_end_is_malformed() {
    let f =
        frame(&[&ethernet(&[ETH_P_8021Q], ETH_P_IP), &ipv4(5, 0, IPPROTO_UDP), &udp(SPORT, DPORT)]);
    assert_truncations(&f, 18 + 20 + 4, Parsed::Flow(key4(IPPROTO_UDP, SPORT, DPORT)));
    let tags = [ETH_P_8021AD, ETH_P_8021Q];
    let f = frame(&[&ethernet(&tags, ETH_P_IPV6), &ipv6(IPPROTO_TCP), &tcp(SPORT, DPORT)]);
    assert_truncations(&f, 22 + 40 + 4, Parsed::Flow(key6(IPPROTO_TCP, SPORT, DPORT)));
}

#[test]
fn every_truncation_of_ipv4_options_is_malformed() {
    // ihl 7: 8 bytes of options between the fixed header and the ports.
    let f = frame(&[&ethernet(&[], ETH_P_IP), &ipv4(7, 0, IPPROTO_TCP), &tcp(SPORT, DPORT)]);
    assert_truncations(&f, 14 + 28 + 4, Parsed::Flow(key4(IPPROTO_TCP, SPORT, DPORT)));
    // Without ports (GRE), the options must still all be there.
    let f = frame(&[&ethernet(&[], ETH_P_IP), &ipv4(7, 0, IPPROTO_GRE)]);
    assert_truncations(&f, 14 + 28, Parsed::Flow(key4(IPPROTO_GRE, 0, 0)));
}

#[test]
fn every_truncation_of_ipv6_is_malformed() {
    let f = frame(&[&ethernet(&[], ETH_P_IPV6), &ipv6(IPPROTO_UDP), &udp(SPORT, DPORT)]);
    assert_truncations(&f, 14 + 40 + 4, Parsed::Flow(key6(IPPROTO_UDP, SPORT, DPORT)));
    // No ports: the 40-byte header must still be whole.
    let f = frame(&[&ethernet(&[], ETH_P_IPV6), &ipv6(IPPROTO_GRE)]);
    assert_truncations(&f, 14 + 40, Parsed::Flow(key6(IPPROTO_GRE, 0, 0)));
}

#[test]
fn ihl_below_5_is_malformed() {
    for ihl in 0..5 {
        let f = frame(&[&ethernet(&[], ETH_P_IP), &ipv4(ihl, 0, IPPROTO_TCP), &tcp(SPORT, DPORT)]);
        assert_eq!(parse(&f[..]), Parsed::Malformed, "ihl {ihl}");
    }
}

#[test]
fn ihl_pointing_past_the_end_is_malformed() {
    // ihl 15 claims 60 bytes; the frame has a 20-byte header and a TCP header: 40 bytes.
    let mut ip = ipv4(5, 0, IPPROTO_TCP);
    ip[0] = 0x4f;
    let f = frame(&[&ethernet(&[], ETH_P_IP), &ip, &tcp(SPORT, DPORT)]);
    assert_eq!(f.len(), 14 + 40);
    assert_eq!(parse(&f[..]), Parsed::Malformed);
    // One byte short of the options, with no ports to read (GRE): still Malformed.
    let f = frame(&[&ethernet(&[], ETH_P_IP), &ipv4(15, 0, IPPROTO_GRE)]);
    assert_eq!(parse(&f[..f.len() - 1]), Parsed::Malformed);
    assert_eq!(parse(&f[..]), Parsed::Flow(key4(IPPROTO_GRE, 0, 0)));
}

#[test]
fn wrong_ip_version_is_malformed() {
    // An IPv6 header behind the IPv4 ethertype, and the other way round.
    let f = frame(&[&ethernet(&[], ETH_P_IP), &ipv6(IPPROTO_TCP), &tcp(SPORT, DPORT)]);
    assert_eq!(parse(&f[..]), Parsed::Malformed);
    let f = frame(&[
        &ethernet(&[], ETH_P_IP),
        &ipv4_versioned(6, 5, 0, IPPROTO_TCP),
        &tcp(SPORT, DPORT),
    ]);
    assert_eq!(parse(&f[..]), Parsed::Malformed);
    let f = frame(&[&ethernet(&[], ETH_P_IPV6), &ipv4(5, 0, IPPROTO_TCP), &tcp(SPORT, DPORT)]);
    assert_eq!(parse(&f[..]), Parsed::Malformed);
    for version in [0, 5, 15] {
        let f = frame(&[
            &ethernet(&[], ETH_P_IPV6),
            &ipv6_versioned(version, IPPROTO_TCP),
            &tcp(SPORT, DPORT),
        ]);
        assert_eq!(parse(&f[..]), Parsed::Malformed, "version {version}");
    }
}

#[test]
fn vlan_tag_cut_short_is_malformed() {
    // The tag's TPID is there, the inner ethertype is not.
    let f = ethernet(&[ETH_P_8021Q], ETH_P_IP);
    assert_eq!(parse(&f[..16]), Parsed::Malformed);
    assert_eq!(parse(&f[..17]), Parsed::Malformed);
    // Inner ethertype present, IP header missing.
    assert_eq!(parse(&f[..18]), Parsed::Malformed);
}

#[test]
fn byte_slice_reads_are_bounds_checked() {
    let bytes = [1u8, 2, 3, 4];
    assert_eq!(bytes[..].read::<[u8; 4]>(0), Some([1, 2, 3, 4]));
    assert_eq!(bytes[..].read::<[u8; 2]>(2), Some([3, 4]));
    assert_eq!(bytes[..].read::<[u8; 2]>(3), None);
    assert_eq!(bytes[..].read::<u8>(4), None);
    // An offset whose end overflows usize.
    assert_eq!(bytes[..].read::<[u8; 2]>(usize::MAX), None);
    assert_eq!(bytes[..].read::<u8>(usize::MAX), None);
}

// ---------------------------------------------------------------------------------------------
// Key modes
// ---------------------------------------------------------------------------------------------

#[test]
fn for_mode_src_keeps_only_the_source_address_and_family() {
    for full in [key4(IPPROTO_TCP, SPORT, DPORT), key6(IPPROTO_UDP, SPORT, DPORT)] {
        let expected = FlowKey { src: full.src, family: full.family, ..FlowKey::default() };
        assert_eq!(full.for_mode(key_mode::SRC), expected);
    }
}

#[test]
fn for_mode_dst_keeps_only_the_destination_address_and_family() {
    for full in [key4(IPPROTO_TCP, SPORT, DPORT), key6(IPPROTO_UDP, SPORT, DPORT)] {
        let expected = FlowKey { dst: full.dst, family: full.family, ..FlowKey::default() };
        assert_eq!(full.for_mode(key_mode::DST), expected);
    }
}

#[test]
fn for_mode_five_tuple_keeps_everything() {
    for full in [key4(IPPROTO_TCP, SPORT, DPORT), key6(IPPROTO_UDP, SPORT, DPORT)] {
        assert_eq!(full.for_mode(key_mode::FIVE_TUPLE), full);
    }
}

#[test]
fn for_mode_separates_families_with_equal_bytes() {
    // An IPv4 and an IPv6 source whose 16 bytes are equal stay apart through the family.
    let mut v4 = key4(IPPROTO_TCP, 0, 0);
    let mut v6 = key6(IPPROTO_TCP, 0, 0);
    v4.src = [0; 16];
    v6.src = [0; 16];
    assert_ne!(v4.for_mode(key_mode::SRC), v6.for_mode(key_mode::SRC));
}

#[test]
fn for_mode_all_is_one_key_for_both_families() {
    let (v4, v6) = (key4(6, 1, 2), key6(17, 3, 4));
    assert_eq!(v4.for_mode(key_mode::ALL), v6.for_mode(key_mode::ALL));
    assert_eq!(
        v4.for_mode(key_mode::ALL),
        FlowKey { family: family::IPV4, ..FlowKey::default() },
        "the IPv4 table's zero key"
    );
    // The profile index is kept: plans never share a bucket.
    let planned = FlowKey { profile: 7, ..v6 };
    assert_eq!(planned.for_mode(key_mode::ALL).profile, 7);
    assert_eq!(crate::FlowKey4::of(&planned.for_mode(key_mode::ALL)).widen().profile, 7);
}
