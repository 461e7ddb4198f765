//! The kernel side of policer: XDP and TC programs that parse each frame, find its flow's
//! bucket, colour the frame with `policer_common::police` and act on the colour. Both run
//! the same path ([`police_frame`]); they differ only in how long a frame is on the wire and
//! how a verdict is spelled.
//!
//! Concurrency: flow state lives in an LRU hash (the kernel evicts the least recently used
//! flow when the table is full, so policing never stops), and an LRU hash cannot hold a
//! `bpf_spin_lock` on this kernel. Updates are serialised instead by an array of
//! [`LOCK_STRIPES`] spin locks, picked by a hash of the flow key: two CPUs handling packets
//! of one flow take the same lock, so each packet sees the state the previous one left, and
//! the meter is exact under concurrency. The one gap: if the LRU evicts a flow while another
//! CPU holds a pointer to its entry, that CPU's update lands in the recycled entry, which
//! needs the table to be full and a flow to be both evicted and active at that instant.
#![no_std]
#![no_main]

mod frame;

use aya_ebpf::{
    EbpfContext,
    bindings::{BPF_NOEXIST, TC_ACT_OK, TC_ACT_SHOT, bpf_spin_lock, xdp_action},
    btf_maps::{Array, LruHashMap, PerCpuArray},
    helpers::{
        bpf_ktime_get_ns, bpf_redirect, bpf_spin_lock, bpf_spin_unlock, bpf_xdp_get_buff_len,
    },
    macros::{btf_map, classifier, xdp},
    programs::{TcContext, XdpContext},
};
use aya_log_ebpf::warn;
use policer_common::{
    Colour, Counter, DEFAULT_MAX_FLOWS, FlowKey, FlowState, LOCK_STRIPES, Profile, ProfileCell,
    action, counter, meter,
    parse::{self, Layout, Parsed},
    rewrite::{self, Outcome},
};

use crate::frame::PacketBytes;

#[btf_map]
static POLICER_PROFILE: Array<ProfileCell, 1> = Array::new();

/// Sized at load time by `--max-flows`.
#[btf_map]
static POLICER_FLOWS: LruHashMap<FlowKey, FlowState, { DEFAULT_MAX_FLOWS as usize }> =
    LruHashMap::new();

#[btf_map]
static POLICER_COUNTS: PerCpuArray<Counter, { counter::LEN as usize }> = PerCpuArray::new();

#[repr(C)]
struct FlowLock {
    lock: bpf_spin_lock,
}

#[btf_map]
static POLICER_LOCKS: Array<FlowLock, { LOCK_STRIPES as usize }> = Array::new();

/// Attempts to read a profile that user space is not rewriting at that instant.
const PROFILE_READ_TRIES: usize = 3;

/// XDP, ingress. A multi-buffer (jumbo) frame is charged whole: `bpf_xdp_get_buff_len`
/// counts every buffer, not just the first one the parser sees.
#[xdp(frags)]
pub fn policer_xdp(ctx: XdpContext) -> u32 {
    let mut frame = PacketBytes::new(ctx.data(), ctx.data_end());
    // SAFETY: the helper reads the length of the buffer the context describes.
    let wire_len = unsafe { bpf_xdp_get_buff_len(ctx.ctx) } as u32;
    match police_frame(&ctx, &mut frame, |_| wire_len) {
        Verdict::Pass => xdp_action::XDP_PASS,
        Verdict::Drop => xdp_action::XDP_DROP,
    }
}

/// TC (clsact or TCX), ingress or egress. A GSO packet stands for `gso_segs` frames on the
/// wire, each repeating the headers: it is charged its length plus the headers of every
/// segment after the first.
#[classifier]
pub fn policer_tc(ctx: TcContext) -> i32 {
    let mut frame = PacketBytes::new(ctx.data(), ctx.data_end());
    let len = ctx.len();
    // SAFETY: the context points to the __sk_buff of this program run.
    let segments = unsafe { (*ctx.skb.skb).gso_segs };
    let wire_len = |layout: &Layout| wire_length(len, segments, layout.headers_len);
    match police_frame(&ctx, &mut frame, wire_len) {
        Verdict::Pass => TC_ACT_OK,
        Verdict::Drop => TC_ACT_SHOT,
    }
}

/// Bytes on the wire of a packet of `len` bytes sent as `segments` segments that each carry
/// `headers` bytes of headers (0: not segmented, or no TCP/UDP header to repeat).
#[inline(always)]
fn wire_length(len: u32, segments: u32, headers: u16) -> u32 {
    if segments > 1 && headers > 0 {
        len.saturating_add((segments - 1).saturating_mul(headers as u32))
    } else {
        len
    }
}

enum Verdict {
    Pass,
    Drop,
}

/// Parses, polices, counts and acts on one frame. `wire_len` says how many bytes the frame
/// is on the wire, given where its headers are.
#[inline(always)]
fn police_frame<C: EbpfContext>(
    ctx: &C,
    frame: &mut PacketBytes,
    wire_len: impl Fn(&Layout) -> u32,
) -> Verdict {
    let (parsed, layout) = parse::parse_with_layout(frame);
    let len = wire_len(&layout);
    let key = match parsed {
        Parsed::Flow(key) => key,
        Parsed::NonIp => return count_and_pass(counter::NON_IP, len),
        Parsed::Malformed => return count_and_pass(counter::UNPARSED, len),
    };
    if layout.ext_chain_too_long {
        count(counter::EXT_CHAIN_TOO_LONG, len);
    }
    // The two fail-open paths below should never be taken: each logs (aya-log, read by
    // `policer log`) besides counting, so an operator learns why packets went unpoliced.
    let Some(profile) = read_profile() else {
        warn!(ctx, "no valid profile: frame of {} bytes passed unpoliced", len);
        return count_and_pass(counter::NO_PROFILE, len);
    };
    let policed_key = key.for_mode(profile.key_mode);
    // Whether the packet can carry a CE mark: read only where `--yellow/--red ecn` ask for it.
    let ect = profile.marks_ecn()
        && rewrite::ecn(frame, layout.l3_offset as usize, key.family).is_some_and(|e| e != 0);
    let Some((colour, act)) = police_flow(&profile, &policed_key, len, ect) else {
        warn!(ctx, "flow table error: frame of {} bytes passed unpoliced", len);
        return count_and_pass(counter::FLOW_TABLE_ERROR, len);
    };
    let outcome = rewrite::apply(frame, &layout, key.family, act);
    count(colour as u32, len);
    count(counter::by_colour(colour as u32, outcome as u32), len);
    match outcome {
        Outcome::Passed => count_and_pass(counter::PASSED, len),
        Outcome::Marked => count_and_pass(counter::MARKED, len),
        Outcome::Dropped => {
            count(counter::DROPPED, len);
            Verdict::Drop
        }
    }
}

/// Colours a packet against its flow's bucket, creating the bucket (full) for a new flow,
/// and says what to do with it (`ect`: it can carry an ECN mark). `None` when the flow can
/// neither be found nor inserted.
#[inline(always)]
fn police_flow(profile: &Profile, key: &FlowKey, len: u32, ect: bool) -> Option<(Colour, u8)> {
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let state = match POLICER_FLOWS.get_ptr_mut(key) {
        Some(state) => state,
        None => {
            // Another CPU may insert the same flow first: BPF_NOEXIST keeps its state.
            if POLICER_FLOWS.insert(key, meter::new_flow(profile, now), BPF_NOEXIST as u64).is_ok()
            {
                count(counter::NEW_FLOWS, 0);
            }
            POLICER_FLOWS.get_ptr_mut(key)?
        }
    };
    let lock = POLICER_LOCKS.get_ptr_mut(stripe(key))?;
    // SAFETY: `lock` and `state` point into map values the kernel keeps alive for this
    // program run; the lock is taken and released on the one straight path below, with no
    // helper call in between, as the verifier requires.
    unsafe {
        let lock = &raw mut (*lock).lock;
        bpf_spin_lock(lock);
        let (colour, act) = meter::police_and_act(profile, &mut *state, len, now, ect);
        (*state).packets += 1;
        (*state).bytes += len as u64;
        if colour == Colour::Red {
            (*state).red_packets += 1;
        }
        bpf_spin_unlock(lock);
        Some((colour, act))
    }
}

/// The lock stripe of a flow: a multiplicative hash of the key's 8-byte words.
#[inline(always)]
fn stripe(key: &FlowKey) -> u32 {
    const _: () = assert!(size_of::<FlowKey>() == 5 * size_of::<u64>());
    // SAFETY: FlowKey is 40 bytes of plain integers with explicit padding, so any 40 bytes
    // of it are a valid [u64; 5]; read_unaligned because FlowKey is only 2-byte aligned.
    let words = unsafe { core::ptr::read_unaligned((key as *const FlowKey).cast::<[u64; 5]>()) };
    let mut hash: u64 = 0;
    for word in words {
        hash = (hash ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    ((hash >> 32) as u32) & (LOCK_STRIPES - 1)
}

/// Copies the profile in force, retrying if user space swapped it during the copy.
#[inline(always)]
fn read_profile() -> Option<Profile> {
    let cell = POLICER_PROFILE.get_ptr(0)?;
    for _ in 0..PROFILE_READ_TRIES {
        // SAFETY: `cell` points to the single, preallocated entry of an array map. The
        // volatile reads keep the two generation reads around the copy (see ProfileCell).
        unsafe {
            let before = core::ptr::read_volatile(&raw const (*cell).generation);
            let profile = core::ptr::read_volatile(&raw const (*cell).slots[(before & 1) as usize]);
            let after = core::ptr::read_volatile(&raw const (*cell).generation);
            if before == after && profile.cir_bytes_per_sec != 0 {
                return Some(profile);
            }
        }
    }
    None
}

#[inline(always)]
fn count(index: u32, len: u32) {
    if let Some(counter) = POLICER_COUNTS.get_ptr_mut(index) {
        // SAFETY: a per-CPU entry: only this CPU writes it, and BPF programs are not
        // preempted by other BPF programs on the same CPU for this map's users.
        unsafe {
            (*counter).packets += 1;
            (*counter).bytes += len as u64;
        }
    }
}

#[inline(always)]
fn count_and_pass(index: u32, len: u32) -> Verdict {
    count(index, len);
    Verdict::Pass
}

/// A bare `XDP_PASS`, built exactly like the policer: the baseline of the per-packet cost
/// benchmark, and "someone else's XDP program" in the tests.
#[xdp]
pub fn xdp_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

/// Where `xdp_redirect` sends every frame; set at load time.
#[unsafe(no_mangle)]
static REDIRECT_IFINDEX: u32 = 0;

/// Sends every frame out of `REDIRECT_IFINDEX`: the packet generator of the load
/// benchmark, run with BPF_PROG_TEST_RUN's live frames (as xdp-trafficgen does), so that a
/// veth peer receives native XDP frames rather than copies of socket buffers.
#[xdp]
pub fn xdp_redirect(_ctx: XdpContext) -> u32 {
    // SAFETY: a read of a load-time constant; volatile so the compiler keeps the load that
    // the loader patches rather than folding the zero it was built with.
    let ifindex = unsafe { core::ptr::read_volatile(&REDIRECT_IFINDEX) };
    // SAFETY: bpf_redirect only records the target; it takes no pointers.
    unsafe { bpf_redirect(ifindex, 0) as u32 }
}

/// A bare TC program that lets everything through: "someone else's TC filter" in the tests.
#[classifier]
pub fn tc_pass(_ctx: TcContext) -> i32 {
    TC_ACT_OK
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
