//! Values stored in the BPF maps, shared bit for bit by the kernel program and user space.
//!
//! Every type is `#[repr(C)]` with explicit padding fields and a size assertion, holds no
//! `bool`, enum or `Option` (the kernel writes raw bytes), and is `Pod` for bytemuck (and for
//! aya behind the `user` feature).

use bytemuck::{Pod, Zeroable};

/// Nanoseconds in a second: the scale of tokens and debt (see [`crate::meter`]).
pub const NANOS_PER_SEC: u64 = 1_000_000_000;
/// Largest `cbs` or `ebs`: 4 GiB keeps every intermediate value of the meter within 63 bits.
pub const MAX_BURST_BYTES: u64 = 1 << 32;
/// Largest committed rate: 1 Tbit/s.
pub const MAX_CIR_BYTES_PER_SEC: u64 = 125_000_000_000;

/// The values of [`FlowState::resend`] (0: nothing awaited).
pub mod resend {
    /// A packet of the flow was dropped, and has not come again yet.
    pub const WAITING: u32 = 1;
    /// The packet being metered is the dropped one come again: TCP has answered.
    pub const RESENT: u32 = 2;
    /// The first packet a slow start dropped, awaited only to time TCP's round trip.
    pub const SAMPLING: u32 = 3;
    /// The bits of the word that hold one of the above (0: none).
    pub const STATE: u32 = 0b11;
    /// Kept through every state: TCP's last answer came within a window too small to hold
    /// the flow at the rate (`meter::tcp::window_too_small`), and the debt's reds are off.
    pub const QUICK: u32 = 0b100;
    /// With no state: the time bits hold TCP's round trip, timed by [`SAMPLING`].
    pub const ROUND_TRIP: u32 = 0b1000;
    /// Where the time starts in the word: of the drop while [`WAITING`] or [`SAMPLING`], the
    /// round trip with [`ROUND_TRIP`].
    pub const TIME_SHIFT: u32 = 4;
    /// The unit of that time: 2^16 ns, 65.5 us.
    pub const TIME_UNIT_SHIFT: u32 = 16;
}

/// Version of the pinned maps' layout. Bump it whenever a shared type changes, so that an
/// older policer's pins are recognised instead of misread. (5: the flow's lock is in its
/// state, no lock stripes, IPv4 and IPv6 flows in tables of their own. 6: plans: a profile
/// table, two prefix tries, the profile in the flow keys, per-plan counters. 7: the flow
/// remembers the last TCP segment it dropped, until TCP sends it again. 8: IPv4 flows in a
/// slot table, one LRU table for IPv6 flows and IPv4 flows without a slot. 9: the slot
/// table's keys a cache line per set of four, its states in an array of their own.)
pub const LAYOUT_VERSION: u32 = 10;

/// Most plans (prefixes with a profile of their own) one policer holds; profile 0 of the
/// profile table is the default, so the table has `MAX_PLANS + 1` entries.
pub const MAX_PLANS: u32 = 1024;
/// Entries of the profile table: the default profile (0) and one per plan (1 to 1024).
pub const PROFILE_TABLE_LEN: u32 = MAX_PLANS + 1;

/// Map names (at most 15 characters: the kernel truncates longer names).
pub const MAP_PROFILE: &str = "POLICER_PROFILE";
/// The flow tables: IPv4 flows in the slot table, sets of [`SLOT_WAYS`] slots whose keys are
/// in [`MAP_SLOT_KEYS4`] (a [`SlotKeys4`] per set) and whose states are in [`MAP_SLOTS4`] (a
/// [`FlowState`] per slot, slot `set * SLOT_WAYS + way`); IPv6 flows, and IPv4 flows whose
/// set is held by active flows, in an LRU hash (see the kernel program).
pub const MAP_SLOT_KEYS4: &str = "POLICER_SKEYS4";
pub const MAP_SLOTS4: &str = "POLICER_SLOTS4";
pub const MAP_FLOWS: &str = "POLICER_FLOWS";
/// The kernel program's global that holds the number of sets of the slot table less one
/// (a power of two less one: a mask).
pub const GLOBAL_SET_MASK: &str = "SET_MASK";
pub const MAP_COUNTERS: &str = "POLICER_COUNTS";
/// The plans: longest-prefix-match tries from IPv4 and IPv6 prefixes to a profile index.
pub const MAP_PLANS4: &str = "POLICER_PLANS4";
pub const MAP_PLANS6: &str = "POLICER_PLANS6";
/// Per-CPU counters per plan: `plan_counter::index(profile, what)`.
pub const MAP_PLAN_COUNTERS: &str = "POLICER_PLANCNT";
/// Name of the XDP program in the object file.
pub const PROG_XDP: &str = "policer_xdp";
/// Name of the TC program in the object file.
pub const PROG_TC: &str = "policer_tc";
/// Name of the bare `XDP_PASS` program in the object file (benchmark baseline, test stand-in).
pub const PROG_XDP_PASS: &str = "xdp_pass";
/// Name of a bare TC program that lets everything through (a stand-in for someone else's
/// TC filter in the tests).
pub const PROG_TC_PASS: &str = "tc_pass";

/// Default size of the flow table.
pub const DEFAULT_MAX_FLOWS: u32 = 65_536;

/// How a packet is mapped to a bucket.
pub mod key_mode {
    /// Protocol, addresses and ports: one bucket per connection.
    pub const FIVE_TUPLE: u8 = 0;
    /// Source address only: one bucket per sender.
    pub const SRC: u8 = 1;
    /// Destination address only: one bucket per receiver.
    pub const DST: u8 = 2;
    /// One bucket for all the traffic the profile covers (IPv4 and IPv6 alike).
    pub const ALL: u8 = 3;
}

/// Which address of a packet the plans' prefixes are matched against (set at attach).
pub mod plan_match {
    pub const SRC: u8 = 0;
    pub const DST: u8 = 1;
}

/// What happens to a packet of a given colour.
/// How a flow borrows once its bucket is short (DESIGN.md section 2 and docs/algorithm.md).
pub mod mode {
    /// The exact JunosE rules: the debt grows by the actual debt `len - tokens`; a packet
    /// that brings it to `ebs` is red and resets it.
    pub const JUNOSE: u8 = 0;
    /// The debt grows by `len`, so a flow deep in its borrowing is not punished for the
    /// depth; the bucket never goes below `-ebs` (a packet that would take it there is red).
    pub const LEN_DEBT: u8 = 1;
    /// The `LEN_DEBT` rules, with a plain bucket for a flow's slow start, an immediate red
    /// for a flow that has repaid (its bucket is full) and runs short again, and a plain
    /// bucket at the floor for a flow that ignores its reds (see `meter::tcp`).
    pub const TCP: u8 = 2;

    pub const fn name(mode: u8) -> &'static str {
        match mode {
            JUNOSE => "junose",
            LEN_DEBT => "len-debt",
            TCP => "tcp",
            _ => "unknown",
        }
    }

    pub const fn is_valid(mode: u8) -> bool {
        mode <= TCP
    }
}

pub mod action {
    pub const PASS: u8 = 0;
    pub const DROP: u8 = 1;
    /// Set CE on ECN-capable packets, drop Not-ECT ones (see [`crate::rewrite`]).
    pub const ECN: u8 = 2;
    /// `DSCP_BASE + n` rewrites the DSCP to `n` (0 to 63) and passes.
    pub const DSCP_BASE: u8 = 64;

    /// The action that sets DSCP `n` (0 to 63).
    pub const fn dscp(n: u8) -> u8 {
        DSCP_BASE + (n & 63)
    }

    pub const fn is_valid(action: u8) -> bool {
        action <= ECN || (action >= DSCP_BASE && action < DSCP_BASE + 64)
    }
}

/// A policing profile, in the units the meter uses. Build it with
/// [`Profile::new`], which checks the bounds the meter relies on.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Profile {
    /// Committed information rate, bytes per second (at least 1).
    pub cir_bytes_per_sec: u64,
    /// Committed burst size (bucket depth), bytes.
    pub cbs_bytes: u64,
    /// Excess burst size (limit of the cumulative debt), bytes; 0 makes a plain token bucket.
    pub ebs_bytes: u64,
    /// Nanoseconds that refill the bucket from `-ebs` to `cbs`, rounded up: the longest
    /// elapsed time worth crediting.
    pub fill_ns: u64,
    /// One of [`key_mode`].
    pub key_mode: u8,
    /// One of [`action`], for yellow packets.
    pub yellow_action: u8,
    /// One of [`action`], for red packets.
    pub red_action: u8,
    /// One of [`mode`]. Was padding before modes existed: pins of that time read 0, JunosE.
    pub mode: u8,
    /// Default profile (index 0) only: one of [`plan_match`].
    pub plan_match: u8,
    pub _pad: u8,
    /// Default profile (index 0) only: how many plans exist. The kernel program looks the
    /// plans up only when this is not 0, so a policer without plans pays nothing for them;
    /// it changes with the profile's generation, like every other field.
    pub plans: u16,
    /// User space only: the bursts as times of the rate when they were given so (or took
    /// their defaults, which are times), else 0. A change of rate keeps such a burst at the
    /// same time, so `set --cir` does not shrink a 100 ms burst to 33 ms.
    pub cbs_ns: u64,
    pub ebs_ns: u64,
}
const _: () = assert!(size_of::<Profile>() == 56);

/// Why a profile was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileError {
    ZeroRate,
    RateTooHigh,
    BurstTooLarge,
    BadKeyMode,
    BadAction,
    BadMode,
}

impl Profile {
    /// A profile with every bound the meter relies on checked.
    pub const fn new(
        cir_bytes_per_sec: u64,
        cbs_bytes: u64,
        ebs_bytes: u64,
        key_mode: u8,
        yellow_action: u8,
        red_action: u8,
    ) -> Result<Profile, ProfileError> {
        if cir_bytes_per_sec == 0 {
            return Err(ProfileError::ZeroRate);
        }
        if cir_bytes_per_sec > MAX_CIR_BYTES_PER_SEC {
            return Err(ProfileError::RateTooHigh);
        }
        if cbs_bytes > MAX_BURST_BYTES || ebs_bytes > MAX_BURST_BYTES {
            return Err(ProfileError::BurstTooLarge);
        }
        if key_mode > key_mode::ALL {
            return Err(ProfileError::BadKeyMode);
        }
        if !action::is_valid(yellow_action) || !action::is_valid(red_action) {
            return Err(ProfileError::BadAction);
        }
        let span = (cbs_bytes + ebs_bytes) * NANOS_PER_SEC;
        Ok(Profile {
            cir_bytes_per_sec,
            cbs_bytes,
            ebs_bytes,
            fill_ns: span.div_ceil(cir_bytes_per_sec),
            key_mode,
            yellow_action,
            red_action,
            mode: mode::JUNOSE,
            plan_match: plan_match::SRC,
            _pad: 0,
            plans: 0,
            cbs_ns: 0,
            ebs_ns: 0,
        })
    }

    /// The same profile in `mode` (one of [`mode`]).
    pub const fn with_mode(self, mode: u8) -> Result<Profile, ProfileError> {
        if !mode::is_valid(mode) {
            return Err(ProfileError::BadMode);
        }
        Ok(Profile { mode, ..self })
    }

    /// The action for packets of `colour`.
    #[inline(always)]
    pub const fn action_for(&self, colour: crate::Colour) -> u8 {
        match colour {
            crate::Colour::Green => action::PASS,
            crate::Colour::Yellow => self.yellow_action,
            crate::Colour::Red => self.red_action,
        }
    }

    /// Whether a colour's action is an ECN mark: only then does the meter need to know
    /// whether a packet is ECN-capable.
    #[inline(always)]
    pub const fn marks_ecn(&self) -> bool {
        self.yellow_action == action::ECN || self.red_action == action::ECN
    }

    /// Whether a red above the bucket's floor may be a CE mark on an ECN-capable packet:
    /// under `--red ecn`, and under `--yellow ecn --red drop`, where the flow's borrowing is
    /// already marked and a drop before the floor would only cost it a retransmission.
    #[inline(always)]
    pub const fn red_can_mark(&self) -> bool {
        self.red_action == action::ECN
            || (self.yellow_action == action::ECN && self.red_action == action::DROP)
    }
}

/// An entry of the profile table (index 0: the default profile; 1 to [`MAX_PLANS`]: the
/// plans' profiles): two profile slots and a generation counter.
///
/// User space writes a new profile into the slot the kernel is not reading
/// (`slots[(generation + 1) % 2]`), then bumps `generation` in a second write, then waits an
/// RCU grace period before that slot may be written again. The kernel reads `generation`
/// once and reads `slots[generation % 2]` in place: no program run ever sees a slot being
/// rewritten. See `policer::maps::Maps::store_profile`. Only entry 0's `layout_version`,
/// `attachment` and `tc_*` fields mean anything.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct ProfileCell {
    pub generation: u64,
    /// [`LAYOUT_VERSION`] of whoever created the pins.
    pub layout_version: u32,
    /// How the program was attached (one of [`attachment`]); for user space only.
    pub attachment: u8,
    /// With [`attachment::TC_CLSACT`]: [`attachment::ADDED_QDISC`] if the attach added the
    /// clsact qdisc (and `detach` may remove it); for user space only.
    pub tc_flags: u8,
    /// With [`attachment::TC_CLSACT`]: the priority of the cls_bpf filter (its handle is
    /// [`attachment::CLS_BPF_HANDLE`]), so that `detach` removes exactly that filter.
    pub tc_priority: u16,
    pub slots: [Profile; 2],
}
const _: () = assert!(size_of::<ProfileCell>() == 128);

impl ProfileCell {
    /// The profile currently in force.
    pub const fn active(&self) -> &Profile {
        &self.slots[(self.generation & 1) as usize]
    }
}

/// How a policer's program is attached.
pub mod attachment {
    pub const UNKNOWN: u8 = 0;
    pub const XDP_NATIVE: u8 = 1;
    pub const XDP_GENERIC: u8 = 2;
    pub const TCX: u8 = 3;
    /// A cls_bpf filter on a clsact qdisc, through netlink: kernels without TCX (before 6.6).
    pub const TC_CLSACT: u8 = 4;
    /// [`super::ProfileCell::tc_flags`]: the attach added the clsact qdisc.
    pub const ADDED_QDISC: u8 = 1;
    /// The handle of policer's cls_bpf filter, the first of a priority of its own.
    pub const CLS_BPF_HANDLE: u32 = 1;
}

/// Address family of a flow key.
pub mod family {
    pub const IPV4: u8 = 4;
    pub const IPV6: u8 = 6;
}

/// The key of a flow's bucket. IPv4 addresses sit in the first 4 bytes of `src`/`dst`.
/// Ports are in host byte order; 0 where the packet has none (or the key mode drops them).
///
/// Aligned to 8 bytes: the kernel program zeroes a key and copies it in 8-byte words (at the
/// byte alignment of its fields, a 40-byte zeroing was a call to `memset`).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Pod, Zeroable)]
pub struct FlowKey {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub src_port: u16,
    pub dst_port: u16,
    /// IP protocol number (6 TCP, 17 UDP, ...).
    pub proto: u8,
    /// One of [`family`].
    pub family: u8,
    /// The index of the profile (plan) whose bucket this is: flows of two plans never share
    /// a bucket. 0: the default profile.
    pub profile: u16,
}
const _: () = assert!(size_of::<FlowKey>() == 40);

impl FlowKey {
    /// The key that `mode` makes of a full 5-tuple key.
    #[inline(always)]
    pub fn for_mode(&self, mode: u8) -> FlowKey {
        let mut key = *self;
        key.restrict_to(mode);
        key
    }

    /// Clears, in place, what `mode` leaves out of a full 5-tuple key: nothing for the
    /// 5-tuple, so the common key costs no copy in the kernel program.
    #[inline(always)]
    pub fn restrict_to(&mut self, mode: u8) {
        let keep_src = match mode {
            key_mode::SRC => true,
            key_mode::DST => false,
            key_mode::ALL => {
                // One bucket for both families: every key is the IPv4 table's zero key.
                clear_address(&mut self.src);
                clear_address(&mut self.dst);
                self.family = family::IPV4;
                self.src_port = 0;
                self.dst_port = 0;
                self.proto = 0;
                return;
            }
            _ => return,
        };
        if keep_src {
            clear_address(&mut self.dst);
        } else {
            clear_address(&mut self.src);
        }
        self.src_port = 0;
        self.dst_port = 0;
        self.proto = 0;
    }
}

/// Zeroes an address of a [`FlowKey`] with two 8-byte stores. Reason: a zeroed 16-byte
/// array, however written, is merged by the compiler into a `memset`, which this BPF build
/// calls as a function (a loop over the bytes); the key modes clear an address on every
/// packet. The stores are volatile so that they stay two stores.
#[inline(always)]
fn clear_address(address: &mut [u8; 16]) {
    let words = (address as *mut [u8; 16]).cast::<u64>();
    // SAFETY: `address` is a field of a `FlowKey` (8-aligned, its addresses at offsets 0
    // and 16: asserted below), so both words are aligned and inside the field.
    unsafe {
        words.write_volatile(0);
        words.add(1).write_volatile(0);
    }
}
const _: () = assert!(
    align_of::<FlowKey>() == 8
        && core::mem::offset_of!(FlowKey, src) % 8 == 0
        && core::mem::offset_of!(FlowKey, dst) % 8 == 0
);

/// The key of an IPv4 flow in the slot table: the [`FlowKey`] of an IPv4 flow, packed into
/// 16 bytes as a C author would, four to a cache line.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Pod, Zeroable)]
pub struct FlowKey4 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    /// Host byte order, as in [`FlowKey`].
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    /// Padding as a scalar: zeroing an array is a call to `memset` in a BPF program.
    pub _pad: u8,
    /// As in [`FlowKey`]: the profile (plan) whose bucket this is.
    pub profile: u16,
}
const _: () = assert!(size_of::<FlowKey4>() == 16);

impl FlowKey4 {
    /// The packed key of an IPv4 [`FlowKey`] (its addresses are in the first 4 bytes).
    #[inline(always)]
    pub fn of(key: &FlowKey) -> FlowKey4 {
        FlowKey4 {
            src: [key.src[0], key.src[1], key.src[2], key.src[3]],
            dst: [key.dst[0], key.dst[1], key.dst[2], key.dst[3]],
            src_port: key.src_port,
            dst_port: key.dst_port,
            proto: key.proto,
            _pad: 0,
            profile: key.profile,
        }
    }

    /// The full key again.
    pub fn widen(&self) -> FlowKey {
        let mut key = FlowKey {
            src_port: self.src_port,
            dst_port: self.dst_port,
            proto: self.proto,
            family: family::IPV4,
            profile: self.profile,
            ..FlowKey::default()
        };
        key.src[..4].copy_from_slice(&self.src);
        key.dst[..4].copy_from_slice(&self.dst);
        key
    }
}

/// Slots in a set of the slot table: the ways a flow may take.
pub const SLOT_WAYS: u32 = 4;

/// The keys of one set of the slot table: one cache line, so that finding a flow among its
/// set reads one line, and its state a second. A slot whose state has `last_ns == 0` was
/// never used (the clock has run since boot), whatever its key.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct SlotKeys4 {
    pub keys: [FlowKey4; SLOT_WAYS as usize],
}
const _: () = assert!(size_of::<SlotKeys4>() == 64);

impl SlotKeys4 {
    /// Whether way `way` has `key`. Compared as two words: comparing the structs would
    /// compare byte arrays, which a BPF build turns into a call to `memcmp`, which BPF lacks.
    #[inline(always)]
    pub fn has(&self, way: usize, key: &FlowKey4) -> bool {
        let Some(held) = self.keys.get(way) else {
            return false;
        };
        let [a0, a1]: [u64; 2] = bytemuck::cast(*held);
        let [b0, b1]: [u64; 2] = bytemuck::cast(*key);
        a0 == b0 && a1 == b1
    }
}

/// The way whose `last_ns` is the least (a way nobody used has 0), the first among equals.
#[inline(always)]
pub fn oldest_way(last_ns: [u64; SLOT_WAYS as usize]) -> usize {
    let mut oldest = 0;
    for (way, &last) in last_ns.iter().enumerate() {
        if last < last_ns[oldest] {
            oldest = way;
        }
    }
    oldest
}

/// Sets of the slot table for `max_flows` flows: slots at the power of two at or above it
/// (at least one set), so that the set of a key is its hash's low bits.
pub const fn slot_sets(max_flows: u32) -> u32 {
    let max = if max_flows > 1 << 31 { 1 << 31 } else { max_flows };
    let sets = max.next_power_of_two() / SLOT_WAYS;
    if sets == 0 { 1 } else { sets }
}

/// The set of an IPv4 flow's key in a table of `mask + 1` sets: a multiplicative hash of the
/// key's two words (Fibonacci hashing), its high bits folded down. One multiply-add chain
/// instead of the kernel's jhash and memcmp: the slot table exists to be cheaper than a
/// hash-map lookup.
#[inline(always)]
pub fn set_of(key: &FlowKey4, mask: u32) -> u32 {
    let [lo, hi]: [u64; 2] = bytemuck::cast(*key);
    let h = (lo ^ hi.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((h >> 32) as u32) & mask
}

/// The state of one flow's bucket, and what it has carried.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct FlowState {
    /// Tokens in nano-bytes; negative while the flow borrows.
    pub tokens: i64,
    /// Time of the last refill (bpf_ktime_get_ns).
    pub last_ns: u64,
    /// The cumulative debt, nano-bytes.
    pub debt: u64,
    /// Packets and bytes of this flow the meter saw, and how many of them were red.
    pub packets: u64,
    pub bytes: u64,
    pub red_packets: u64,
    /// The flow's lock, in its own cache line: 1 while a CPU updates the state (taken with
    /// an atomic compare-and-exchange by the kernel program), else 0. User space reads it
    /// as 0 or 1 and never writes it.
    pub lock: u64,
    /// TCP's answer to the flow's drops (`meter::resend`): [`resend::WAITING`] or
    /// [`resend::SAMPLING`] (with the time of the drop above [`resend::TIME_SHIFT`]),
    /// [`resend::RESENT`] or 0 (with the round trip, if timed: [`resend::ROUND_TRIP`]), and
    /// the [`resend::QUICK`] bit.
    pub resend: u32,
    /// The sequence number of the oldest TCP segment of this flow dropped and not yet sent
    /// again (while nothing is awaited: of the segment being metered). These two fill the
    /// state to 64 bytes: a slot's state is one whole cache line.
    pub dropped_seq: u32,
}
const _: () = assert!(size_of::<FlowState>() == 64);

impl FlowState {
    /// Whether a flow ever used this state (a slot's: see [`SlotKeys4`]).
    pub const fn in_use(&self) -> bool {
        self.last_ns != 0
    }

    /// Tokens in whole bytes (rounded toward zero).
    pub const fn tokens_bytes(&self) -> i64 {
        self.tokens / NANOS_PER_SEC as i64
    }

    /// Debt in whole bytes (rounded down).
    pub const fn debt_bytes(&self) -> u64 {
        // A `tcp`-mode flow's slow-start word is not debt.
        crate::meter::debt_of(self) / NANOS_PER_SEC
    }
}

/// A packet and byte count (one per CPU in the counters map).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}
const _: () = assert!(size_of::<Counter>() == 16);

impl Counter {
    /// Adds another counter's packets and bytes to this one.
    pub fn add(&mut self, other: Counter) {
        self.packets += other.packets;
        self.bytes += other.bytes;
    }
}

/// Indices into the per-CPU counters map.
pub mod counter {
    /// Colours (index = `Colour as u32`). This and the outcomes below are totals of the
    /// `BY_COLOUR` counters, which are all the kernel program counts for a policed packet
    /// (one per-CPU counter per packet, not three): user space adds them up (`totals`).
    pub const GREEN: u32 = 0;
    pub const YELLOW: u32 = 1;
    pub const RED: u32 = 2;
    /// Actions taken on policed packets.
    pub const PASSED: u32 = 3;
    pub const DROPPED: u32 = 4;
    /// Frames passed unpoliced because they could not be parsed (truncated, bad IHL, ...).
    pub const UNPARSED: u32 = 5;
    /// Frames passed unpoliced because they are not IP (ARP, LLDP, ...).
    pub const NON_IP: u32 = 6;
    /// Frames passed unpoliced because no profile was readable (fail open).
    pub const NO_PROFILE: u32 = 7;
    /// Frames passed unpoliced because their flow could not be stored (fail open).
    pub const FLOW_TABLE_ERROR: u32 = 8;
    /// New flows inserted into the flow table.
    pub const NEW_FLOWS: u32 = 9;
    /// Policed packets passed with a mark (ECN CE or a DSCP rewrite).
    pub const MARKED: u32 = 10;
    /// IPv6 packets whose extension-header chain was too long to reach the ports (policed,
    /// keyed without ports).
    pub const EXT_CHAIN_TOO_LONG: u32 = 11;
    /// Frames passed unpoliced because another CPU held their flow's lock for longer than
    /// the program waits (fail open; see the kernel program's `LOCK_TRIES`).
    pub const FLOW_BUSY: u32 = 12;
    /// Per colour and outcome: `BY_COLOUR + colour * 3 + outcome` (passed, marked, dropped).
    pub const BY_COLOUR: u32 = 16;
    /// The total of each outcome, in the order of `by_colour`'s outcomes.
    pub const OUTCOMES: [u32; 3] = [PASSED, MARKED, DROPPED];
    /// Size of the counters map.
    pub const LEN: u32 = 32;

    /// The counter of packets of `colour` (0 green, 1 yellow, 2 red) that met `outcome`
    /// (0 passed, 1 marked, 2 dropped).
    pub const fn by_colour(colour: u32, outcome: u32) -> u32 {
        BY_COLOUR + colour * 3 + outcome
    }

    /// Fills the colour and outcome totals of a counter table from its `BY_COLOUR` counters
    /// (`add(total, part)` adds counter `part` into counter `total`).
    pub fn totals(mut add: impl FnMut(u32, u32)) {
        for colour in [GREEN, YELLOW, RED] {
            for (outcome, total) in OUTCOMES.into_iter().enumerate() {
                let part = by_colour(colour, outcome as u32);
                add(colour, part);
                add(total, part);
            }
        }
    }
}

/// Per-plan counters: for each profile index, packets and bytes per colour and those
/// dropped. Counted only for plans (index 1 and up), so a policer without plans does not
/// pay for them; the default profile's share is the totals less the plans'.
pub mod plan_counter {
    /// Counters per profile: green, yellow, red, dropped.
    pub const PER_PLAN: u32 = 4;
    pub const DROPPED: u32 = 3;
    /// Size of the per-plan counters map.
    pub const LEN: u32 = super::PROFILE_TABLE_LEN * PER_PLAN;

    /// The counter `what` (a colour, 0 to 2, or [`DROPPED`]) of profile `profile`.
    pub const fn index(profile: u32, what: u32) -> u32 {
        profile * PER_PLAN + what
    }
}

#[cfg(feature = "user")]
mod aya_pod {
    // SAFETY: all of these are `#[repr(C)]`, made only of integers with explicit padding, and
    // valid for every bit pattern (checked by bytemuck's derive of `Pod`).
    unsafe impl aya::Pod for super::Profile {}
    unsafe impl aya::Pod for super::ProfileCell {}
    unsafe impl aya::Pod for super::FlowKey {}
    unsafe impl aya::Pod for super::FlowKey4 {}
    unsafe impl aya::Pod for super::FlowState {}
    unsafe impl aya::Pod for super::SlotKeys4 {}
    unsafe impl aya::Pod for super::Counter {}
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key(port: u16) -> FlowKey4 {
        FlowKey4 { src: [10, 0, 0, 1], src_port: port, proto: 6, ..FlowKey4::default() }
    }

    proptest! {
        #[test]
        fn oldest_way_is_the_first_least(last_ns in prop_oneof![
            proptest::array::uniform4(0u64..4),
            proptest::array::uniform4(any::<u64>()),
        ]) {
            let least = *last_ns.iter().min().unwrap();
            let first = last_ns.iter().position(|&l| l == least).unwrap();
            prop_assert_eq!(oldest_way(last_ns), first);
        }

        #[test]
        fn has_is_the_keys_equality(ports in proptest::array::uniform4(0u16..3), wanted in 0u16..3) {
            let keys = SlotKeys4 { keys: ports.map(key) };
            for way in 0..5 {
                prop_assert_eq!(keys.has(way, &key(wanted)), ports.get(way) == Some(&wanted));
            }
        }
    }

    #[test]
    fn a_set_of_a_key_is_within_the_table_and_sets_spread() {
        let mask = slot_sets(1 << 16) - 1;
        let mut used = [0u32; 1 << 14];
        for port in 0..(1u16 << 14) {
            let set = set_of(&key(port), mask);
            used[set as usize] += 1;
        }
        // 16384 keys into 16384 sets: about 1 - 1/e of the sets used, none crowded.
        let sets_used = used.iter().filter(|&&n| n > 0).count();
        assert!(sets_used > 9_000, "{sets_used} sets used");
        assert!(used.iter().all(|&n| n < 12), "a set of {:?}", used.iter().max());
        assert_eq!(slot_sets(1), 1);
        assert_eq!(slot_sets(65_536), 16_384);
        assert_eq!(slot_sets(65_537), 32_768);
    }
}
