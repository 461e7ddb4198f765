//! Frame parsing and flow keying, written once for the kernel program and user space.
//!
//! The parser follows xdp-tools' `parsing_helpers.h`: one cursor moving forward, each read
//! checked against the end of the frame first, a bounded number of VLAN tags, and the IPv4
//! `ihl >= 5` check. It reads through [`Bytes`], which the kernel implements over packet
//! memory (with the bounds check the verifier wants) and user space over a byte slice.
//!
//! The rule for what cannot be parsed: the frame is [`Parsed::Malformed`] (counted as
//! unparsed and passed unpoliced by the kernel program) when a header the parser must read is
//! cut short or invalid; [`Parsed::NonIp`] when it is not IPv4/IPv6 (ARP, LLDP, a third VLAN
//! tag...), also passed and counted apart.
//!
//! Keying rules: TCP and UDP by ports; ICMP/ICMPv6 by type (and echo identifier); IPv4 and
//! IPv6 fragments (every fragment, the first included) without ports, so a datagram's
//! fragments share a bucket; IPv6 extension headers are walked, up to
//! [`MAX_IPV6_EXT_HEADERS`] of them, past which the packet is keyed without ports.

use crate::types::{FlowKey, family};

/// Read access to the bytes of one frame.
pub trait Bytes {
    /// The `T` stored at `offset`, or `None` when the frame ends before `offset + size_of::<T>()`.
    fn read<T: Copy>(&self, offset: usize) -> Option<T>;
}

impl Bytes for [u8] {
    #[inline]
    fn read<T: Copy>(&self, offset: usize) -> Option<T> {
        let end = offset.checked_add(size_of::<T>())?;
        let bytes = self.get(offset..end)?;
        // SAFETY: `bytes` holds exactly `size_of::<T>()` readable bytes, and `T: Copy` is
        // only ever instantiated here with integers and byte arrays, valid for any bits.
        Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
    }
}

/// What the parser made of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// An IP packet and its full 5-tuple key (before the profile's key mode is applied).
    Flow(FlowKey),
    /// Not IP: passed unpoliced.
    NonIp,
    /// A header was truncated or invalid: passed unpoliced and counted.
    Malformed,
}

pub const ETH_HLEN: usize = 14;
pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86DD;
pub const ETH_P_8021Q: u16 = 0x8100;
pub const ETH_P_8021AD: u16 = 0x88A8;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
/// VLAN tags walked: 802.1Q, and 802.1ad QinQ (one outer and one inner tag).
pub const MAX_VLAN_TAGS: usize = 2;
const IPV6_HLEN: usize = 40;
/// IPv4 "more fragments" flag and fragment offset, in the flags/offset field.
const IPV4_MF_OR_OFFSET: u16 = 0x3fff;

#[inline(always)]
fn read_be16<B: Bytes + ?Sized>(frame: &B, offset: usize) -> Option<u16> {
    frame.read::<[u8; 2]>(offset).map(u16::from_be_bytes)
}

/// Where the headers of a parsed frame are: what the actions and the wire-length rule need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Offset of the IP header.
    pub l3_offset: u16,
    /// Bytes up to the end of the TCP or UDP header: the headers every segment of a GSO
    /// packet repeats. 0 when there is no such header (or it is cut short).
    pub headers_len: u16,
    /// The IPv6 extension-header chain was longer than [`MAX_IPV6_EXT_HEADERS`]: the packet
    /// is keyed without ports (and counted).
    pub ext_chain_too_long: bool,
    /// A TCP segment's sequence number, 0 for anything else (or a TCP header cut short): the
    /// meter watches for the resend of a segment it dropped (`meter::resend`).
    pub tcp_seq: u32,
}

/// Parses Ethernet (up to [`MAX_VLAN_TAGS`] tags), IPv4 or IPv6, and TCP/UDP ports.
#[inline(always)]
pub fn parse<B: Bytes + ?Sized>(frame: &B) -> Parsed {
    parse_with_layout(frame).0
}

/// [`parse`], and where the headers are.
#[inline(always)]
pub fn parse_with_layout<B: Bytes + ?Sized>(frame: &B) -> (Parsed, Layout) {
    let mut key = FlowKey::default();
    let mut layout = Layout::default();
    let parsed = match parse_into(frame, &mut key, &mut layout) {
        Kind::Flow => Parsed::Flow(key),
        Kind::NonIp => Parsed::NonIp,
        Kind::Malformed => Parsed::Malformed,
    };
    (parsed, layout)
}

/// What [`parse_into`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An IP packet: the key is its full 5-tuple key.
    Flow,
    /// Not IP: the key is left as it was, or partly written.
    NonIp,
    /// A header was truncated or invalid: the key is left partly written.
    Malformed,
}

/// [`parse_with_layout`] into a key the caller holds, which must start zeroed
/// (`FlowKey::default()`): the parser writes only the fields the packet has. Reason: a key
/// returned by value was carried through the parser's branches as 32 separate address
/// bytes, spilled and gathered again one by one (about 90 instructions on the IPv4 path);
/// written in place, an IPv4 address is one 4-byte store (docs/cost.md).
#[inline(always)]
pub fn parse_into<B: Bytes + ?Sized>(frame: &B, key: &mut FlowKey, layout: &mut Layout) -> Kind {
    let Some(mut ethertype) = read_be16(frame, 12) else {
        return Kind::Malformed;
    };
    let mut offset = ETH_HLEN;
    for _ in 0..MAX_VLAN_TAGS {
        if ethertype != ETH_P_8021Q && ethertype != ETH_P_8021AD {
            break;
        }
        let Some(inner) = read_be16(frame, offset + 2) else {
            return Kind::Malformed;
        };
        ethertype = inner;
        offset += 4;
    }
    layout.l3_offset = offset as u16;
    let parsed = match ethertype {
        ETH_P_IP => parse_ipv4(frame, offset, key, layout),
        ETH_P_IPV6 => parse_ipv6(frame, offset, key, layout),
        _ => return Kind::NonIp,
    };
    match parsed {
        Some(()) => Kind::Flow,
        None => Kind::Malformed,
    }
}

/// Where the IP packet of a frame ends by its own header (IPv4 total length, IPv6 payload
/// length), for an untagged frame or one with a single VLAN tag; `None` for anything else
/// or a frame too short to say. An XDP frame in one buffer holds its whole packet, so only
/// a frame shorter than this has more buffers (or is cut short): the XDP program asks the
/// kernel for the whole length only then.
#[inline(always)]
pub fn ip_end<B: Bytes + ?Sized>(frame: &B) -> Option<u32> {
    let mut l3 = ETH_HLEN;
    let mut ethertype = read_be16(frame, 12)?;
    if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
        ethertype = read_be16(frame, 16)?;
        l3 += 4;
    }
    let ip_len = match ethertype {
        ETH_P_IP => read_be16(frame, l3 + 2)? as usize,
        ETH_P_IPV6 => IPV6_HLEN + read_be16(frame, l3 + 4)? as usize,
        _ => return None,
    };
    Some((l3 + ip_len) as u32)
}

/// `None` when a header is cut short or invalid. Reads are sequential with early returns:
/// evaluating several fallible reads before checking them lets the compiler spill values of
/// reads that failed, which the verifier rejects as uninitialised.
#[inline(always)]
fn parse_ipv4<B: Bytes + ?Sized>(
    frame: &B,
    offset: usize,
    key: &mut FlowKey,
    layout: &mut Layout,
) -> Option<()> {
    // The fixed fields first: were they read after the check of the variable-length header,
    // the compiler would drop their bounds checks as implied by it (ihl >= 5), and the
    // verifier, which does not follow that reasoning, would reject the program.
    let version_ihl = frame.read::<u8>(offset)?;
    let flags_offset = read_be16(frame, offset + 6)?;
    let proto = frame.read::<u8>(offset + 9)?;
    let src = frame.read::<[u8; 4]>(offset + 12)?;
    let dst = frame.read::<[u8; 4]>(offset + 16)?;
    let header_len = ((version_ihl & 0x0f) as usize) * 4;
    if version_ihl >> 4 != 4 || header_len < 20 {
        return None;
    }
    // Options are skipped, but they must be in the frame.
    frame.read::<u8>(offset + header_len - 1)?;
    key.proto = proto;
    key.family = family::IPV4;
    key.src[..4].copy_from_slice(&src);
    key.dst[..4].copy_from_slice(&dst);
    // Fragments: only the first carries ports, so every fragment of a datagram (the first
    // included) is keyed without ports, to land in one bucket per address pair and protocol.
    if flags_offset & IPV4_MF_OR_OFFSET != 0 {
        return Some(());
    }
    transport(frame, key, offset + header_len, layout)
}

/// IPv6 extension headers walked before giving up on the ports.
pub const MAX_IPV6_EXT_HEADERS: usize = 6;
const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_AH: u8 = 51;
const IPPROTO_DSTOPTS: u8 = 60;
/// IPv6 fragment header: fragment offset and the M flag.
const IPV6_FRAG_OFFSET_OR_MORE: u16 = 0xfff9;

#[inline(always)]
fn parse_ipv6<B: Bytes + ?Sized>(
    frame: &B,
    offset: usize,
    key: &mut FlowKey,
    layout: &mut Layout,
) -> Option<()> {
    let version = frame.read::<u8>(offset)?;
    if version >> 4 != 6 {
        return None;
    }
    let mut next = frame.read::<u8>(offset + 6)?;
    // Read in 8-byte words: a 16-byte read is a call to `memcpy` in a BPF program.
    let src = [frame.read::<u64>(offset + 8)?, frame.read::<u64>(offset + 16)?];
    let dst = [frame.read::<u64>(offset + 24)?, frame.read::<u64>(offset + 32)?];
    key.src = bytemuck::cast(src);
    key.dst = bytemuck::cast(dst);
    key.family = family::IPV6;
    let mut offset = offset + IPV6_HLEN;
    // Reads at the variable offsets below are at least two bytes wide: the compiler turns
    // a one-byte bounds check into a form the verifier does not learn a packet range from.
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        let header_len = match next {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => {
                let [following, len] = frame.read::<[u8; 2]>(offset)?;
                next = following;
                (len as usize + 1) * 8
            }
            IPPROTO_AH => {
                let [following, len] = frame.read::<[u8; 2]>(offset)?;
                next = following;
                (len as usize + 2) * 4
            }
            IPPROTO_FRAGMENT => {
                let [following, _, offset_hi, offset_lo] = frame.read::<[u8; 4]>(offset)?;
                next = following;
                // Like IPv4 fragments: keyed without ports, first fragment included.
                if u16::from_be_bytes([offset_hi, offset_lo]) & IPV6_FRAG_OFFSET_OR_MORE != 0 {
                    key.proto = next;
                    return Some(());
                }
                8
            }
            _ => break,
        };
        offset += header_len;
    }
    key.proto = next;
    if is_extension_header(next) {
        layout.ext_chain_too_long = true;
        return Some(());
    }
    transport(frame, key, offset, layout)
}

#[inline(always)]
fn is_extension_header(proto: u8) -> bool {
    matches!(
        proto,
        IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_FRAGMENT | IPPROTO_AH | IPPROTO_DSTOPTS
    )
}

pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_ICMPV6: u8 = 58;
const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMPV6_ECHO_REQUEST: u8 = 128;
const ICMPV6_ECHO_REPLY: u8 = 129;

/// The transport part of the key, from the header at `offset`:
/// * TCP and UDP: the ports;
/// * ICMP and ICMPv6: the type as `dst_port`, and for echo requests and replies the
///   identifier as `src_port`, so that each ping session is a flow;
/// * other protocols: nothing.
#[inline(always)]
fn transport<B: Bytes + ?Sized>(
    frame: &B,
    key: &mut FlowKey,
    offset: usize,
    layout: &mut Layout,
) -> Option<()> {
    match key.proto {
        IPPROTO_TCP | IPPROTO_UDP => {
            key.src_port = read_be16(frame, offset)?;
            key.dst_port = read_be16(frame, offset + 2)?;
            let header_len = if key.proto == IPPROTO_UDP {
                Some(8)
            } else {
                // Sequence number to data offset in one read: one more read would be one more
                // path for the verifier to walk the meter on.
                frame.read::<[u8; 9]>(offset + 4).map(|fields| {
                    let [s0, s1, s2, s3, _, _, _, _, data_offset] = fields;
                    layout.tcp_seq = u32::from_be_bytes([s0, s1, s2, s3]);
                    (data_offset >> 4) as usize * 4
                })
            };
            if let Some(header_len) = header_len {
                layout.headers_len = (offset + header_len) as u16;
            }
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            let [kind, _code] = frame.read::<[u8; 2]>(offset)?;
            key.dst_port = kind as u16;
            if matches!(
                (key.proto, kind),
                (IPPROTO_ICMP, ICMP_ECHO_REQUEST | ICMP_ECHO_REPLY)
                    | (IPPROTO_ICMPV6, ICMPV6_ECHO_REQUEST | ICMPV6_ECHO_REPLY)
            ) {
                key.src_port = read_be16(frame, offset + 4)?;
            }
        }
        _ => {}
    }
    Some(())
}

#[cfg(test)]
mod tests;
