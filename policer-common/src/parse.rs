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

/// Parses Ethernet (up to [`MAX_VLAN_TAGS`] tags), IPv4 or IPv6, and TCP/UDP ports.
#[inline(always)]
pub fn parse<B: Bytes + ?Sized>(frame: &B) -> Parsed {
    let Some(mut ethertype) = read_be16(frame, 12) else {
        return Parsed::Malformed;
    };
    let mut offset = ETH_HLEN;
    for _ in 0..MAX_VLAN_TAGS {
        if ethertype != ETH_P_8021Q && ethertype != ETH_P_8021AD {
            break;
        }
        let Some(inner) = read_be16(frame, offset + 2) else {
            return Parsed::Malformed;
        };
        ethertype = inner;
        offset += 4;
    }
    let parsed = match ethertype {
        ETH_P_IP => parse_ipv4(frame, offset),
        ETH_P_IPV6 => parse_ipv6(frame, offset),
        _ => return Parsed::NonIp,
    };
    parsed.unwrap_or(Parsed::Malformed)
}

/// `None` when a header is cut short or invalid. Reads are sequential with early returns:
/// evaluating several fallible reads before checking them lets the compiler spill values of
/// reads that failed, which the verifier rejects as uninitialised.
#[inline(always)]
fn parse_ipv4<B: Bytes + ?Sized>(frame: &B, offset: usize) -> Option<Parsed> {
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
    let mut key = FlowKey {
        proto,
        family: family::IPV4,
        ..FlowKey::default()
    };
    key.src[..4].copy_from_slice(&src);
    key.dst[..4].copy_from_slice(&dst);
    // Fragments: only the first carries ports, so every fragment of a datagram (the first
    // included) is keyed without ports, to land in one bucket per address pair and protocol.
    if flags_offset & IPV4_MF_OR_OFFSET != 0 {
        return Some(Parsed::Flow(key));
    }
    with_ports(frame, key, offset + header_len)
}

#[inline(always)]
fn parse_ipv6<B: Bytes + ?Sized>(frame: &B, offset: usize) -> Option<Parsed> {
    let version = frame.read::<u8>(offset)?;
    if version >> 4 != 6 {
        return None;
    }
    let proto = frame.read::<u8>(offset + 6)?;
    let src = frame.read::<[u8; 16]>(offset + 8)?;
    let dst = frame.read::<[u8; 16]>(offset + 24)?;
    let key = FlowKey {
        src,
        dst,
        proto,
        family: family::IPV6,
        ..FlowKey::default()
    };
    // Extension headers are not walked: such packets are keyed without ports.
    with_ports(frame, key, offset + IPV6_HLEN)
}

/// Adds TCP/UDP ports from the transport header at `offset`; other protocols keep none.
#[inline(always)]
fn with_ports<B: Bytes + ?Sized>(frame: &B, mut key: FlowKey, offset: usize) -> Option<Parsed> {
    if key.proto == IPPROTO_TCP || key.proto == IPPROTO_UDP {
        key.src_port = read_be16(frame, offset)?;
        key.dst_port = read_be16(frame, offset + 2)?;
    }
    Some(Parsed::Flow(key))
}

#[cfg(test)]
mod tests;
