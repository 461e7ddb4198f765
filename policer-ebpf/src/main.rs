//! The kernel side of policer: XDP and TC programs that parse each frame, find its flow's
//! bucket, colour the frame with `policer_common::police` and act on the colour. Both run
//! the same path ([`police_frame`]); they differ only in how long a frame is on the wire and
//! how a verdict is spelled.
//!
//! Cost. The hot path is one parse, a multiply-and-shift to the flow's slot, one clock read,
//! one atomic compare-and-exchange and one exchange on the flow's own slot, the meter, and
//! one per-CPU counter (`cargo xtask bench cost` measures it against the per-flow bucket a C
//! author writes; bench/RESULTS.md). The parser writes the flow key into a key zeroed on the
//! stack (`parse::parse_into`, [`zeroed`]), never through a `memset` or `memcpy`, which this
//! BPF build calls as functions looping over bytes; returned by value, the key's addresses
//! were carried as 32 separate bytes, a third of the hot path. What was taken out, and what
//! each piece cost, is in docs/cost.md.
//!
//! Flow tables. IPv4 flows live in a slot table, sets of four slots: a flow's set is the hash
//! of its key (`set_of`: a multiply, no hash-map lookup, which cost a third of the hot
//! path); the set's four keys are one cache line (`POLICER_SKEYS4`), each slot's state
//! another (`POLICER_SLOTS4`), so a packet reads two lines. A new flow takes a slot of its
//! set that nobody used, or the one seen the longest ago if its flow has been quiet for its
//! bucket's fill time (`meter::forgettable`: that flow's bucket is full, so back as new it
//! meets the same bucket). IPv6 flows, and IPv4 flows whose set holds four active flows,
//! live in an LRU hash under the 40-byte key (the kernel evicts the least recently used
//! flow when it is full, so policing never stops); a flow there stays there, so that it is
//! never in two places.
//!
//! Concurrency: an LRU hash cannot hold a `bpf_spin_lock` on this kernel. Each flow's state
//! carries its own lock word instead, taken with an atomic compare-and-exchange and released
//! with an atomic exchange (both full barriers): two CPUs handling packets of one flow
//! serialise on it, so each packet sees the state the previous one left, and the meter is
//! exact under concurrency. A slot's key is written under the slot's lock; the program
//! finds a flow's place without the lock and checks it again under it, and a packet whose
//! slot another CPU gave to a new flow in between passes unpoliced as `flow busy` (its
//! flow's next packet finds its place afresh). The holder keeps the lock for a few dozen
//! instructions with preemption off; a CPU that finds it taken retries up to [`LOCK_TRIES`]
//! times (microseconds), and should a holder be stalled longer than that (a storm of
//! hardware interrupts on its CPU), the packet passes unpoliced and is counted as `flow
//! busy`: the failure rule, never a wait without end. The one gap, as with any lock kept in
//! an LRU value: if the LRU evicts a flow while another CPU holds a pointer to its entry,
//! that CPU's update lands in the recycled entry, which needs the table to be full and a
//! flow to be both evicted and active at that instant. Slots are never freed.
//!
//! Profile: read in place (no copy) from the slot the generation names. User space writes
//! only the inactive slot, flips the generation, and waits for an RCU grace period before
//! it may write that slot again, so no program run ever sees a slot being rewritten (see
//! `policer::maps::Maps::store_profile`). Every entry of the profile table (the default,
//! 0, and one per plan) follows that scheme.
//!
//! Plans: when the default profile says plans exist (its `plans` count, read from the slot
//! the program reads anyway), the packet's source or destination address (`plan_match`) is
//! looked up in an LPM trie per family, whose value is the index of the plan's profile (no
//! match: index 0, the default profile, read again through the same path). The index goes
//! into the flow key, so two plans never share a bucket. Without plans there is no lookup:
//! one load and a branch. The two paths meet before the meter with one profile pointer
//! each; a path that chose the profile among several pointers (match, no match, invalid
//! plan) took the verifier past its limit of a million instructions (it walks the meter
//! once per distinct state). Now, on Linux 6.18: 0.36 million instructions verified for the
//! XDP program, 0.58 million for TC (a flow's state in a slot or in the LRU table, and the
//! settling of a slot once per way: see `settle_slot`); Linux 6.1's verifier, which does
//! more work for the same code, accepts both (the VM test).
#![no_std]
#![no_main]
// BPF has atomics but the bpfel target's `core` offers no atomic types: the intrinsics.
#![feature(core_intrinsics)]
#![allow(internal_features)]

mod frame;
mod runtime;

use core::{
    intrinsics::{AtomicOrdering, atomic_cxchg, atomic_xchg},
    mem::MaybeUninit,
};

use aya_ebpf::{
    EbpfContext,
    bindings::{BPF_NOEXIST, TC_ACT_OK, TC_ACT_SHOT, xdp_action},
    btf_maps::{Array, LpmTrie, LruHashMap, PerCpuArray, lpm_trie::Key},
    helpers::{bpf_ktime_get_ns, bpf_xdp_get_buff_len},
    macros::{btf_map, classifier, xdp},
    programs::{TcContext, XdpContext},
};
use aya_log_ebpf::warn;
use policer_common::{
    Colour, Counter, DEFAULT_MAX_FLOWS, FlowKey, FlowKey4, FlowState, MAX_PLANS, PROFILE_TABLE_LEN,
    Pod, Profile, ProfileCell, SLOT_WAYS, SlotKeys4, counter, family, meter,
    parse::{self, Layout},
    plan_counter, plan_match,
    rewrite::{self, Outcome},
};

use crate::frame::PacketBytes;

/// The profile table: the default profile (0) and the plans' profiles (1 to 1024).
#[btf_map]
static POLICER_PROFILE: Array<ProfileCell, { PROFILE_TABLE_LEN as usize }> = Array::new();

/// The plans: IPv4 and IPv6 prefixes to the index of their profile (the trie's flags
/// default to BPF_F_NO_PREALLOC, which the kernel requires).
#[btf_map]
static POLICER_PLANS4: LpmTrie<[u8; 4], u32, { MAX_PLANS as usize }> = LpmTrie::new();
#[btf_map]
static POLICER_PLANS6: LpmTrie<[u8; 16], u32, { MAX_PLANS as usize }> = LpmTrie::new();

/// Per-CPU counters per plan (`plan_counter`); counted only for plans, not the default.
#[btf_map]
static POLICER_PLANCNT: PerCpuArray<Counter, { plan_counter::LEN as usize }> = PerCpuArray::new();

/// The slot table's keys, a cache line per set of [`SLOT_WAYS`] slots; sized at load time to
/// the sets of `--max-flows` (`slot_sets`), `SET_MASK` set to match.
#[btf_map]
static POLICER_SKEYS4: Array<SlotKeys4, { (DEFAULT_MAX_FLOWS / SLOT_WAYS) as usize }> =
    Array::new();

/// The slot table's states, one cache line each: slot `set * SLOT_WAYS + way`.
#[btf_map]
static POLICER_SLOTS4: Array<FlowState, { DEFAULT_MAX_FLOWS as usize }> = Array::new();

/// The slot table's sets less one, set by the loader (a read-only global: the verifier
/// knows its value).
#[unsafe(no_mangle)]
static SET_MASK: u32 = DEFAULT_MAX_FLOWS / SLOT_WAYS - 1;

/// IPv6 flows, and IPv4 flows whose set active flows hold; sized at load time by
/// `--max-flows`.
#[btf_map]
static POLICER_FLOWS: LruHashMap<FlowKey, FlowState, { DEFAULT_MAX_FLOWS as usize }> =
    LruHashMap::new();

#[btf_map]
static POLICER_COUNTS: PerCpuArray<Counter, { counter::LEN as usize }> = PerCpuArray::new();

/// Attempts at a flow's lock before its packet passes unpoliced. A holder keeps it for a
/// few dozen instructions with preemption off, so one attempt nearly always succeeds; 128
/// (each a compare-and-exchange on a cache line another CPU holds) cover microseconds of a
/// holder interrupted by hardware. The verifier walks every attempt: at 1024 they were
/// three quarters of its work, and Linux 6.1's verifier passed its limit.
const LOCK_TRIES: u32 = 128;

/// XDP, ingress. A multi-buffer (jumbo) frame is charged whole: `bpf_xdp_get_buff_len`
/// counts every buffer, not just the first one the parser sees. It is asked only when the
/// first buffer does not hold the whole IP packet (or the frame is no IP packet): a frame
/// in one buffer is that buffer, and the helper call was a tenth of the hot path.
#[xdp(frags)]
pub fn policer_xdp(ctx: XdpContext) -> u32 {
    let mut frame = PacketBytes::new(ctx.data(), ctx.data_end());
    let linear = (ctx.data_end() - ctx.data()) as u32;
    // Read here, before the parser, though the parser reads the same headers again: taken
    // from the parsed layout, the choice came after every parse path, and the verifier
    // walked each of them twice, past its limit (docs/cost.md).
    let wire_len = match parse::ip_end(&frame) {
        Some(end) if end <= linear => linear,
        // SAFETY: the helper reads the length of the buffer the context describes.
        _ => unsafe { bpf_xdp_get_buff_len(ctx.ctx) as u32 },
    };
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
    let mut key_storage = MaybeUninit::uninit();
    let key: &mut FlowKey = zeroed(&mut key_storage);
    let mut layout = Layout::default();
    let kind = parse::parse_into(frame, key, &mut layout);
    let len = wire_len(&layout);
    match kind {
        parse::Kind::Flow => {}
        parse::Kind::NonIp => return count_and_pass(counter::NON_IP, len),
        parse::Kind::Malformed => return count_and_pass(counter::UNPARSED, len),
    }
    if layout.ext_chain_too_long {
        count(counter::EXT_CHAIN_TOO_LONG, len);
    }
    // The fail-open paths below should never be taken: each logs (aya-log, read by
    // `policer log`) besides counting, so an operator learns why packets went unpoliced.
    let Some(default) = profile_in_force(0) else {
        warn!(ctx, "no valid profile: frame of {} bytes passed unpoliced", len);
        return count_and_pass(counter::NO_PROFILE, len);
    };
    let (profile, plan) = if default.plans == 0 {
        (default, 0)
    } else {
        let plan = plan_of(key, default.plan_match);
        let Some(profile) = profile_in_force(plan) else {
            return count_and_pass(counter::NO_PROFILE, len);
        };
        (profile, plan)
    };
    // Whether the packet can carry a CE mark: read only where `--yellow/--red ecn` ask for it.
    let ect = profile.marks_ecn()
        && rewrite::ecn(frame, layout.l3_offset as usize, key.family).is_some_and(|e| e != 0);
    let family = key.family;
    key.restrict_to(profile.key_mode);
    key.profile = plan as u16;
    let packet = Packet { len, ect, tcp_seq: layout.tcp_seq };
    let (colour, act) = match police_flow(key, profile, &packet) {
        Policed::Coloured(colour, act) => (colour, act),
        Policed::NoEntry => {
            warn!(ctx, "flow table error: frame of {} bytes passed unpoliced", len);
            return count_and_pass(counter::FLOW_TABLE_ERROR, len);
        }
        Policed::Busy => {
            warn!(ctx, "flow lock held too long: frame of {} bytes passed unpoliced", len);
            return count_and_pass(counter::FLOW_BUSY, len);
        }
    };
    let outcome = rewrite::apply(frame, &layout, family, act);
    // One counter per packet: the colour and outcome totals are its sums (user space adds
    // them up, `counter::totals`).
    count(counter::by_colour(colour as u32, outcome as u32), len);
    if plan != 0 {
        count_plan(plan_counter::index(plan, colour as u32), len);
        if matches!(outcome, Outcome::Dropped) {
            count_plan(plan_counter::index(plan, plan_counter::DROPPED), len);
        }
    }
    match outcome {
        Outcome::Passed | Outcome::Marked => Verdict::Pass,
        Outcome::Dropped => Verdict::Drop,
    }
}

/// `storage` set to all zeroes with one 8-byte store per word. Reason: zeroing a key or a
/// flow state the plain way (`FlowKey::default()`) is a `memset`, which this BPF build
/// calls as a function (a loop over the bytes); the key is zeroed on every packet.
#[inline(always)]
fn zeroed<T: Pod>(storage: &mut MaybeUninit<T>) -> &mut T {
    const { assert!(align_of::<T>() >= 8 && size_of::<T>() % 8 == 0) };
    let words = storage.as_mut_ptr().cast::<u64>();
    for word in 0..size_of::<T>() / size_of::<u64>() {
        // SAFETY: `words` points to the storage of a `T`, 8-aligned and a whole number of
        // words long (asserted above); each word is inside it. Volatile, so the compiler
        // does not merge the stores into a `memset`.
        unsafe { words.add(word).write_volatile(0) };
    }
    // SAFETY: every byte was written above, and any bits are a valid `T` (`Pod`).
    unsafe { storage.assume_init_mut() }
}

/// What became of a packet at its flow's bucket.
enum Policed {
    /// Coloured, with the action to carry out.
    Coloured(Colour, u8),
    /// The flow could neither be found nor inserted.
    NoEntry,
    /// Another CPU held the flow's lock through every attempt.
    Busy,
}

/// What the meter needs of a packet besides its flow.
#[derive(Clone, Copy)]
struct Packet {
    /// Bytes on the wire.
    len: u32,
    /// It can carry an ECN mark.
    ect: bool,
    /// Its TCP sequence number, 0 if it is no TCP segment.
    tcp_seq: u32,
}

/// Colours a packet against its flow's bucket, creating the bucket (full) for a new flow,
/// and says what to do with it.
#[inline(always)]
fn police_flow(key: &FlowKey, profile: &Profile, packet: &Packet) -> Policed {
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let Some(place) = place_of(key, profile, now) else {
        return Policed::NoEntry;
    };
    let state = match place {
        Place::Slot(_, _, state) | Place::Table(state) => state,
    };
    if !lock_flow(lock_of(state)) {
        return Policed::Busy;
    }
    if let Place::Slot(keys, set, _) = place {
        if !settle_slot(&SlotPlace { keys, set, state }, key, profile, now) {
            unlock_flow(lock_of(state));
            return Policed::Busy;
        }
    }
    // SAFETY: `state` points into a map value the kernel keeps alive for this program run,
    // and this CPU holds the flow's lock until `unlock_flow`, so no other CPU writes it.
    let (colour, act) = police_packet(profile, unsafe { &mut *state }, packet, now);
    unlock_flow(lock_of(state));
    Policed::Coloured(colour, act)
}

/// Where a flow's state is.
#[derive(Clone, Copy)]
enum Place {
    /// A slot of an IPv4 flow's set: the set's keys, the set, the slot's state. The slot
    /// holds the flow, or the flow takes it.
    Slot(*mut SlotKeys4, u32, *mut FlowState),
    /// An entry of the LRU table.
    Table(*mut FlowState),
}

/// The place of a flow's state, found without its lock: for an IPv4 flow, the way of its
/// set that holds it; else its entry in the LRU table; else, for an IPv4 flow, a way of its
/// set that nobody used, or the one seen the longest ago if its flow can be forgotten
/// (`meter::forgettable`); else a new entry in the LRU table (a full bucket). A flow lives
/// in one place: once in the LRU table, it stays there. What was read here is checked
/// again under the lock (`settle_slot`).
#[inline(always)]
fn place_of(key: &FlowKey, profile: &Profile, now: u64) -> Option<Place> {
    let mut set = None;
    if key.family == family::IPV4 {
        let key4 = FlowKey4::of(key);
        // SAFETY: a read-only global the loader set before loading.
        let mask = unsafe { core::ptr::read_volatile(&raw const SET_MASK) };
        let index = policer_common::set_of(&key4, mask);
        if let Some(keys) = POLICER_SKEYS4.get_ptr_mut(index) {
            if let Some(held) = held_way(keys, index, &key4) {
                return Some(held);
            }
            set = Some((keys, index));
        }
    }
    if let Some(state) = POLICER_FLOWS.get_ptr_mut(key) {
        return Some(Place::Table(state));
    }
    if let Some(free) = set.and_then(|(keys, index)| free_way(keys, index, now)) {
        return Some(free);
    }
    // Another CPU may insert the same flow first: BPF_NOEXIST keeps its state.
    let mut state_storage = MaybeUninit::uninit();
    let state: &mut FlowState = zeroed(&mut state_storage);
    meter::restart_flow(profile, state, now);
    if POLICER_FLOWS.insert(key, &*state, BPF_NOEXIST as u64).is_ok() {
        count(counter::NEW_FLOWS, 0);
    }
    POLICER_FLOWS.get_ptr_mut(key).map(Place::Table)
}

/// The state of slot `way` of set `set`.
#[inline(always)]
fn slot_state(set: u32, way: usize) -> Option<*mut FlowState> {
    POLICER_SLOTS4.get_ptr_mut(set * SLOT_WAYS + way as u32)
}

/// The slot of set `set` that holds `key`, read without the lock.
#[inline(always)]
fn held_way(keys: *mut SlotKeys4, set: u32, key: &FlowKey4) -> Option<Place> {
    // Way 0's state is read before the keys are compared, so that with many flows (the
    // tables out of the caches) its cache line is fetched alongside the keys' line, not
    // after: way 0 holds most flows of a set.
    // SAFETY: an entry of an array map, alive for the program run.
    let _ = unsafe { core::ptr::read_volatile(&raw const (*slot_state(set, 0)?).lock) };
    // SAFETY: an entry of an array map, alive for the program run; read without its
    // slots' locks, and settled under the lock.
    let seen = unsafe { &*keys };
    for way in 0..SLOT_WAYS as usize {
        if seen.has(way, key) {
            let state = slot_state(set, way)?;
            // SAFETY: as above.
            if unsafe { (*state).in_use() } {
                return Some(Place::Slot(keys, set, state));
            }
        }
    }
    None
}

/// A slot of set `set` a new flow may take: the one seen the longest ago (one nobody used
/// first), if nobody used it or its flow can be forgotten. Read without the lock.
#[inline(always)]
fn free_way(keys: *mut SlotKeys4, set: u32, now: u64) -> Option<Place> {
    let mut last_ns = [0u64; SLOT_WAYS as usize];
    for (way, last) in last_ns.iter_mut().enumerate() {
        // SAFETY: an entry of an array map, alive for the program run.
        *last = unsafe { (*slot_state(set, way)?).last_ns };
    }
    let way = policer_common::oldest_way(last_ns);
    let state = slot_state(set, way)?;
    // SAFETY: as above.
    let (seen_keys, seen) = unsafe { (&*keys, &*state) };
    vacant(seen_keys, way, seen, now).then_some(Place::Slot(keys, set, state))
}

/// Whether slot `way` may be taken: nobody used it, or its flow can be forgotten by its own
/// profile (a removed plan's flow can: it is purged anyway).
#[inline(always)]
fn vacant(keys: &SlotKeys4, way: usize, state: &FlowState, now: u64) -> bool {
    let Some(occupant) = keys.keys.get(way) else {
        return false;
    };
    !state.in_use()
        || profile_in_force(occupant.profile as u32)
            .is_none_or(|profile| meter::forgettable(profile, state, now))
}

/// Under the slot's lock: whether the slot is the flow's, taking it if it is (still)
/// vacant. False when another CPU took it for another flow since `place_of` looked (a race
/// of nanoseconds: the packet passes unpoliced, counted as `flow busy`, and the flow's next
/// packet finds its place afresh).
///
/// The slot's way is found again here, by its state's address, rather than carried from
/// `place_of`: a way that came out of branches is a different constant on each path, and
/// the verifier would walk the lock once per way.
#[inline(always)]
fn settle_slot(place: &SlotPlace, key: &FlowKey, profile: &Profile, now: u64) -> bool {
    let SlotPlace { keys, set, state } = *place;
    for way in 0..SLOT_WAYS as usize {
        match slot_state(set, way) {
            // SAFETY: `keys` and `state` point into array maps; this CPU holds the lock.
            Some(slot) if core::ptr::eq(slot, state) => {
                let (keys, state) = unsafe { (&mut *keys, &mut *state) };
                return settle_way(keys, way, state, key, profile, now);
            }
            Some(_) => {}
            None => return false,
        }
    }
    false
}

/// A slot as `place_of` found it, its lock held.
#[derive(Clone, Copy)]
struct SlotPlace {
    keys: *mut SlotKeys4,
    set: u32,
    state: *mut FlowState,
}

/// [`settle_slot`] for way `way` of the set.
#[inline(always)]
fn settle_way(
    keys: &mut SlotKeys4,
    way: usize,
    state: &mut FlowState,
    key: &FlowKey,
    profile: &Profile,
    now: u64,
) -> bool {
    let key4 = FlowKey4::of(key);
    if keys.has(way, &key4) && state.in_use() {
        return true;
    }
    if !vacant(keys, way, state, now) {
        return false;
    }
    let Some(held) = keys.keys.get_mut(way) else {
        return false;
    };
    *held = key4;
    meter::restart_flow(profile, state, now);
    count(counter::NEW_FLOWS, 0);
    true
}

/// The lock word of a flow's state.
#[inline(always)]
fn lock_of(state: *mut FlowState) -> *mut u64 {
    // SAFETY: only the field's address is taken.
    unsafe { &raw mut (*state).lock }
}

/// Meters one packet against a flow's state and adds it to the flow's own counts.
#[inline(always)]
fn police_packet(
    profile: &Profile,
    state: &mut FlowState,
    packet: &Packet,
    now: u64,
) -> (Colour, u8) {
    let Packet { len, ect, tcp_seq } = *packet;
    let (colour, act) = meter::police_and_act(profile, state, len, now, ect, tcp_seq);
    state.packets += 1;
    state.bytes += len as u64;
    if colour == Colour::Red {
        state.red_packets += 1;
    }
    (colour, act)
}

/// Takes a flow's lock: 0 to 1 by compare-and-exchange (a full barrier), at most
/// [`LOCK_TRIES`] times.
#[inline(always)]
fn lock_flow(lock: *mut u64) -> bool {
    for _ in 0..LOCK_TRIES {
        // SAFETY: `lock` points to a u64 in a live map value; the kernel's BPF atomics work
        // on map values, and the verifier checks the access.
        let (_, taken) = unsafe {
            atomic_cxchg::<u64, { AtomicOrdering::Acquire }, { AtomicOrdering::Relaxed }>(
                lock, 0, 1,
            )
        };
        if taken {
            return true;
        }
    }
    false
}

/// Releases a flow's lock with an atomic exchange: a full barrier on every architecture,
/// so the state written under the lock is visible before the lock reads 0.
#[inline(always)]
fn unlock_flow(lock: *mut u64) {
    // SAFETY: as in `lock_flow`.
    unsafe { atomic_xchg::<u64, { AtomicOrdering::Release }>(lock, 0) };
}

/// The index of the plan whose prefix is the longest to match the packet's address (the
/// one `by` names), else 0 (the default profile).
#[inline(always)]
fn plan_of(key: &FlowKey, by: u8) -> u32 {
    let addr = if by == plan_match::DST { &key.dst } else { &key.src };
    let index = if key.family == family::IPV4 {
        POLICER_PLANS4.get(&Key::new(32, [addr[0], addr[1], addr[2], addr[3]]))
    } else {
        POLICER_PLANS6.get(&Key::new(128, *addr))
    };
    match index.copied() {
        Some(index) if index < PROFILE_TABLE_LEN => index,
        _ => 0,
    }
}

/// The profile in force at `index` of the profile table, read in place: the slot the
/// generation names, which user space does not rewrite until every program run that may
/// read it has ended (see the module comment). `None` while no valid profile is stored.
#[inline(always)]
fn profile_in_force(index: u32) -> Option<&'static Profile> {
    let cell = POLICER_PROFILE.get_ptr(index)?;
    // SAFETY: `cell` points to the single, preallocated entry of an array map; the volatile
    // read takes the generation once, as it is now.
    unsafe {
        let generation = core::ptr::read_volatile(&raw const (*cell).generation);
        let profile = &(*cell).slots[(generation & 1) as usize];
        (profile.cir_bytes_per_sec != 0).then_some(profile)
    }
}

#[inline(always)]
fn count(index: u32, len: u32) {
    add(POLICER_COUNTS.get_ptr_mut(index), len);
}

#[inline(always)]
fn count_plan(index: u32, len: u32) {
    add(POLICER_PLANCNT.get_ptr_mut(index), len);
}

/// Adds a packet of `len` bytes to a per-CPU counter, if the index was in the map.
#[inline(always)]
fn add(counter: Option<*mut Counter>, len: u32) {
    if let Some(counter) = counter {
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

/// A bare TC program that lets everything through: "someone else's TC filter" in the tests.
#[classifier]
pub fn tc_pass(_ctx: TcContext) -> i32 {
    TC_ACT_OK
}
