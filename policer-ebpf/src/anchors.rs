//! The benchmarks' anchors: the per-flow token bucket a C author writes first, built
//! exactly like the policer (same compiler, linker and flags), so that `cargo xtask bench
//! cost` and `bench load` compare the policer with them in one run; and the flood
//! benchmark's ceilings (`XDP_DROP` bare, after reading the frame, after reading the clock)
//! and its generator (`xdp_fanout`). Not part of the product: this object is only ever
//! loaded by the benchmarks.
//!
//! Both parse Ethernet (no VLAN tag), IPv4 (with the `ihl` check) and TCP/UDP ports; other
//! frames pass. Each keeps one bucket per 5-tuple (a 16-byte key, as a C author packs it),
//! refills it from `bpf_ktime_get_ns` at the rate in nano-bytes (no division, as ours),
//! compares, and counts in one per-CPU counter:
//! * `anchor_naive_*`: an LRU hash, the bucket updated without a lock (wrong when two CPUs
//!   feed one flow); `anchor_naive_flood_xdp` is the same at 1 Mbit/s a flow;
//! * `anchor_locked_*`: a plain hash whose value holds a `bpf_spin_lock` (exact on many
//!   CPUs; a full table refuses new flows, which then pass).
#![no_std]
#![no_main]

mod runtime;

use aya_ebpf::{
    bindings::{BPF_ANY, TC_ACT_OK, TC_ACT_SHOT, bpf_spin_lock, xdp_action},
    btf_maps::{DevMap, HashMap, LruHashMap, PerCpuArray},
    helpers::{bpf_ktime_get_ns, bpf_spin_lock, bpf_spin_unlock},
    macros::{btf_map, classifier, xdp},
    programs::{TcContext, XdpContext},
};

/// 1 Gbit/s in bytes per second, the cost benchmark's rate. A hot flow of 64-byte frames does
/// empty a bucket of it, but an anchor runs the same instructions either way (refill,
/// compare, count; only the counter's index differs). The naive programs share one table,
/// so a flow's bucket carries from one of them to the next.
const COST_RATE: u64 = 125_000_000;
/// 1 Mbit/s in bytes per second: the flood benchmark's rate, at which nearly all is dropped.
const FLOOD_RATE: u64 = 125_000;

/// A bucket of 100 ms at `rate` bytes per second, in nano-bytes.
const fn burst_nano_bytes(rate: u64) -> u64 {
    rate / 10 * 1_000_000_000
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Key {
    src: u32,
    dst: u32,
    sport: u16,
    dport: u16,
    proto: u8,
    _pad: [u8; 3],
}

#[repr(C)]
struct Bucket {
    tokens: u64,
    last_ns: u64,
}

#[repr(C)]
struct LockedBucket {
    lock: bpf_spin_lock,
    _pad: u32,
    tokens: u64,
    last_ns: u64,
}

/// Sized at load time by the benchmark.
#[btf_map]
static ANCHOR_LRU: LruHashMap<Key, Bucket, 65_536> = LruHashMap::new();
#[btf_map]
static ANCHOR_LOCKED: HashMap<Key, LockedBucket, 65_536> = HashMap::new();
#[btf_map]
static ANCHOR_COUNTS: PerCpuArray<u64, 2> = PerCpuArray::new();

/// The 5-tuple of an IPv4 TCP/UDP frame between `data` and `end`.
#[inline(always)]
fn parse(data: usize, end: usize) -> Option<Key> {
    if data + 14 + 20 > end {
        return None;
    }
    // SAFETY: the 34 bytes read below were checked to lie before `end` just above.
    let (ethertype, version_ihl, proto, src, dst) = unsafe {
        (
            core::ptr::read_unaligned((data + 12) as *const u16),
            *((data + 14) as *const u8),
            *((data + 23) as *const u8),
            core::ptr::read_unaligned((data + 26) as *const u32),
            core::ptr::read_unaligned((data + 30) as *const u32),
        )
    };
    if ethertype != 0x0008u16 || version_ihl >> 4 != 4 || version_ihl & 0x0f < 5 {
        return None;
    }
    if proto != 6 && proto != 17 {
        return None;
    }
    let l4 = data + 14 + ((version_ihl & 0x0f) as usize) * 4;
    if l4 + 4 > end {
        return None;
    }
    // SAFETY: the 4 port bytes lie before `end`, checked just above.
    let (sport, dport) = unsafe {
        (
            core::ptr::read_unaligned(l4 as *const u16),
            core::ptr::read_unaligned((l4 + 2) as *const u16),
        )
    };
    Some(Key { src, dst, sport, dport, proto, _pad: [0; 3] })
}

/// Refills at `BYTES_PER_SEC` and takes `len` bytes: true when the bucket had them.
#[inline(always)]
fn take<const BYTES_PER_SEC: u64>(tokens: &mut u64, last_ns: &mut u64, now: u64, len: u64) -> bool {
    // A second fills any bucket here: clamping to it keeps the product within 64 bits.
    let elapsed = now.saturating_sub(*last_ns).min(1_000_000_000);
    *last_ns = now;
    let refilled = *tokens + elapsed * BYTES_PER_SEC;
    let burst = const { burst_nano_bytes(BYTES_PER_SEC) };
    *tokens = if refilled > burst { burst } else { refilled };
    let need = len * 1_000_000_000;
    if *tokens >= need {
        *tokens -= need;
        true
    } else {
        false
    }
}

#[inline(always)]
fn count(conform: bool) -> bool {
    if let Some(c) = ANCHOR_COUNTS.get_ptr_mut(!conform as u32) {
        // SAFETY: a per-CPU entry, written only by this CPU.
        unsafe { *c += 1 };
    }
    conform
}

/// The naive bucket at `BYTES_PER_SEC` a flow.
#[inline(always)]
fn naive<const BYTES_PER_SEC: u64>(data: usize, end: usize) -> bool {
    let Some(key) = parse(data, end) else { return true };
    let len = (end - data) as u64;
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    match ANCHOR_LRU.get_ptr_mut(key) {
        // SAFETY: a pointer to a live map value, for this program run.
        Some(b) => unsafe {
            count(take::<BYTES_PER_SEC>(&mut (*b).tokens, &mut (*b).last_ns, now, len))
        },
        None => {
            let tokens = burst_nano_bytes(BYTES_PER_SEC) - len * 1_000_000_000;
            let b = Bucket { tokens, last_ns: now };
            let _ = ANCHOR_LRU.insert(key, b, BPF_ANY as u64);
            count(true)
        }
    }
}

#[inline(always)]
fn locked(data: usize, end: usize) -> bool {
    let Some(key) = parse(data, end) else { return true };
    let len = (end - data) as u64;
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let Some(b) = ANCHOR_LOCKED.get_ptr_mut(key) else {
        let b = LockedBucket {
            lock: bpf_spin_lock { val: 0 },
            _pad: 0,
            tokens: burst_nano_bytes(COST_RATE) - len * 1_000_000_000,
            last_ns: now,
        };
        let _ = ANCHOR_LOCKED.insert(key, b, BPF_ANY as u64);
        return count(true);
    };
    // SAFETY: a live map value; the lock is held on one straight path with no helper call.
    let conform = unsafe {
        bpf_spin_lock(&raw mut (*b).lock);
        let conform = take::<COST_RATE>(&mut (*b).tokens, &mut (*b).last_ns, now, len);
        bpf_spin_unlock(&raw mut (*b).lock);
        conform
    };
    count(conform)
}

/// An XDP program's verdict on a frame its bucket did or did not have the bytes for.
#[inline(always)]
fn xdp_verdict(conform: bool) -> u32 {
    if conform { xdp_action::XDP_PASS } else { xdp_action::XDP_DROP }
}

/// A TC program's verdict on a frame its bucket did or did not have the bytes for.
#[inline(always)]
fn tc_verdict(conform: bool) -> i32 {
    if conform { TC_ACT_OK } else { TC_ACT_SHOT }
}

#[xdp]
pub fn anchor_naive_xdp(ctx: XdpContext) -> u32 {
    xdp_verdict(naive::<COST_RATE>(ctx.data(), ctx.data_end()))
}

/// The naive bucket at 1 Mbit/s a flow: the flood benchmark's anchor, the same code as
/// `anchor_naive_xdp` but for the rate.
#[xdp]
pub fn anchor_naive_flood_xdp(ctx: XdpContext) -> u32 {
    xdp_verdict(naive::<FLOOD_RATE>(ctx.data(), ctx.data_end()))
}

#[xdp]
pub fn anchor_locked_xdp(ctx: XdpContext) -> u32 {
    xdp_verdict(locked(ctx.data(), ctx.data_end()))
}

#[classifier]
pub fn anchor_naive_tc(ctx: TcContext) -> i32 {
    tc_verdict(naive::<COST_RATE>(ctx.data(), ctx.data_end()))
}

#[classifier]
pub fn anchor_locked_tc(ctx: TcContext) -> i32 {
    tc_verdict(locked(ctx.data(), ctx.data_end()))
}

/// A bare `XDP_DROP`: the ceiling of the flood benchmark.
#[xdp]
pub fn xdp_drop(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_DROP
}

/// `XDP_DROP` after reading the frame's EtherType: the ceiling of any program that looks at
/// the frame (a frame that arrives from another core is not in this core's cache, and
/// `XDP_DROP` alone never reads it).
#[xdp]
pub fn xdp_read_drop(ctx: XdpContext) -> u32 {
    let (data, end) = (ctx.data(), ctx.data_end());
    if data + 14 > end {
        return xdp_action::XDP_PASS;
    }
    // SAFETY: the 14-byte Ethernet header lies before `end`, checked just above; a byte
    // needs no alignment. Volatile, so that the read is not optimised away.
    let ethertype_high = unsafe { core::ptr::read_volatile((data + 12) as *const u8) };
    if ethertype_high == 0 { xdp_action::XDP_PASS } else { xdp_action::XDP_DROP }
}

/// `XDP_DROP` after reading the clock: what `bpf_ktime_get_ns`, which every rate meter calls
/// once a packet, costs on its own.
#[xdp]
pub fn xdp_clock_drop(_ctx: XdpContext) -> u32 {
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    if now == 0 { xdp_action::XDP_PASS } else { xdp_action::XDP_DROP }
}

/// The flood generator's fan-out: every entry holds the ifindex of the veth end that feeds
/// the receiver (the same one `FANOUT_COPIES` times), filled by the benchmark.
#[btf_map]
static FANOUT: DevMap<64> = DevMap::new();

/// The flood generator's amplifier, on a veth end fed by user space (AF_PACKET): each frame
/// leaves once per entry of `FANOUT` (the kernel clones an `xdp_frame` for all but the last),
/// so the receiver gets native XDP frames, as from a NIC, at many times the rate user space
/// can send.
#[xdp]
pub fn xdp_fanout(_ctx: XdpContext) -> u32 {
    FANOUT
        .redirect(0, u64::from(aya_ebpf::bindings::BPF_F_BROADCAST))
        .unwrap_or(xdp_action::XDP_DROP)
}
