//! Packet memory as [`policer_common::parse::Bytes`].

use policer_common::{parse::Bytes, rewrite::BytesMut};

/// The bytes between an XDP or TC context's `data` and `data_end`.
pub struct PacketBytes {
    start: usize,
    end: usize,
}

impl PacketBytes {
    #[inline(always)]
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }
}

impl Bytes for PacketBytes {
    #[inline(always)]
    fn read<T: Copy>(&self, offset: usize) -> Option<T> {
        let at = self.start + offset;
        // The check the verifier needs before any packet read: the whole value lies
        // before data_end.
        if at + size_of::<T>() > self.end {
            return None;
        }
        // SAFETY: [at, at + size_of::<T>()) is inside the packet, checked just above;
        // `T` is an integer or byte array (valid for any bits); the read is unaligned-safe.
        Some(unsafe { core::ptr::read_unaligned(at as *const T) })
    }
}

impl BytesMut for PacketBytes {
    #[inline(always)]
    fn write<T: Copy>(&mut self, offset: usize, value: T) -> Option<()> {
        let at = self.start + offset;
        if at + size_of::<T>() > self.end {
            return None;
        }
        // SAFETY: [at, at + size_of::<T>()) is inside the packet, checked just above; XDP and
        // TC programs may write packet data directly (TC makes the head writable first).
        unsafe { core::ptr::write_unaligned(at as *mut T, value) };
        Some(())
    }
}
