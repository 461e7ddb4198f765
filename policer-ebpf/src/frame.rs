//! Packet memory as [`policer_common::parse::Bytes`].

use policer_common::parse::Bytes;

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

    /// Length of the linear frame.
    #[inline(always)]
    pub fn len(&self) -> u32 {
        (self.end - self.start) as u32
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
