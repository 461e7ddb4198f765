//! What the ECN and DSCP actions write into a packet, shared by the XDP and TC programs.
//!
//! * `ecn`: an ECN-capable packet (ECT(0) or ECT(1)) gets CE and passes; a packet already
//!   CE passes as it is (and counts as marked); a Not-ECT packet is dropped, as a router's
//!   AQM would.
//! * `dscp=N`: the DSCP becomes N (the ECN bits are kept) and the packet passes.
//!
//! IPv4's header checksum is updated incrementally (RFC 1624); IPv6 has none.

use crate::{
    action,
    parse::{Bytes, Layout},
    types::family,
};

/// Write access to the bytes of one frame.
pub trait BytesMut: Bytes {
    /// Stores `value` at `offset`; `None` (and nothing written) past the end of the frame.
    fn write<T: Copy>(&mut self, offset: usize, value: T) -> Option<()>;
}

impl BytesMut for [u8] {
    #[inline]
    fn write<T: Copy>(&mut self, offset: usize, value: T) -> Option<()> {
        let end = offset.checked_add(size_of::<T>())?;
        let bytes = self.get_mut(offset..end)?;
        // SAFETY: `bytes` holds exactly `size_of::<T>()` writable bytes.
        unsafe { core::ptr::write_unaligned(bytes.as_mut_ptr().cast::<T>(), value) };
        Some(())
    }
}

/// What an action did to a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed = 0,
    Marked = 1,
    Dropped = 2,
}

/// Carries out `action` on a packet that parsed with `layout` and address `family`.
#[inline(always)]
pub fn apply<B: BytesMut + ?Sized>(
    frame: &mut B,
    layout: &Layout,
    family: u8,
    action: u8,
) -> Outcome {
    match action {
        action::PASS => Outcome::Passed,
        action::ECN => mark_ce(frame, layout.l3_offset as usize, family),
        dscp if dscp >= action::DSCP_BASE => {
            set_dscp(frame, layout.l3_offset as usize, family, dscp - action::DSCP_BASE)
        }
        _ => Outcome::Dropped,
    }
}

/// The ECN field of the packet (0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE), if readable.
#[inline(always)]
pub fn ecn<B: Bytes + ?Sized>(frame: &B, l3: usize, family: u8) -> Option<u8> {
    let [_, second] = frame.read::<[u8; 2]>(l3)?;
    Some(if family == family::IPV4 { second & 3 } else { (second >> 4) & 3 })
}

#[inline(always)]
fn mark_ce<B: BytesMut + ?Sized>(frame: &mut B, l3: usize, family: u8) -> Outcome {
    match ecn(frame, l3, family) {
        None | Some(0) => Outcome::Dropped,
        Some(3) => Outcome::Marked,
        Some(_) => rewrite_traffic_class(frame, l3, family, |class| class | 3),
    }
}

#[inline(always)]
fn set_dscp<B: BytesMut + ?Sized>(frame: &mut B, l3: usize, family: u8, dscp: u8) -> Outcome {
    rewrite_traffic_class(frame, l3, family, |class| (dscp << 2) | (class & 3))
}

/// Rewrites the IPv4 TOS / IPv6 traffic class with `change`, fixing the IPv4 checksum.
/// A packet that cannot be rewritten (cut short) passes unchanged.
#[inline(always)]
fn rewrite_traffic_class<B: BytesMut + ?Sized>(
    frame: &mut B,
    l3: usize,
    family: u8,
    change: impl Fn(u8) -> u8,
) -> Outcome {
    let Some([first, second]) = frame.read::<[u8; 2]>(l3) else {
        return Outcome::Passed;
    };
    if family == family::IPV4 {
        let Some(check) = frame.read::<[u8; 2]>(l3 + 10) else {
            return Outcome::Passed;
        };
        let tos = change(second);
        let check = checksum_replace(
            u16::from_be_bytes(check),
            u16::from_be_bytes([first, second]),
            u16::from_be_bytes([first, tos]),
        );
        if frame.write(l3 + 10, check.to_be_bytes()).is_none() || frame.write(l3 + 1, tos).is_none()
        {
            return Outcome::Passed;
        }
    } else {
        // Traffic class: the low nibble of the first byte and the high nibble of the second.
        let class = change((first << 4) | (second >> 4));
        let bytes = [(first & 0xf0) | (class >> 4), (class << 4) | (second & 0x0f)];
        if frame.write(l3, bytes).is_none() {
            return Outcome::Passed;
        }
    }
    Outcome::Marked
}

/// An Internet checksum after one 16-bit word of the data changes from `old` to `new`
/// (RFC 1624, equation 3: HC' = ~(~HC + ~m + m')).
#[inline(always)]
pub const fn checksum_replace(check: u16, old: u16, new: u16) -> u16 {
    let mut sum = (!check) as u32 + (!old) as u32 + new as u32;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

#[cfg(test)]
mod tests;
