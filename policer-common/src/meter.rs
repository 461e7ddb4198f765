//! The single-bucket TCP-friendly policer with a cumulative debt counter.
//!
//! This is, rule for rule, the JunosE "TCP-friendly one-rate" algorithm (DESIGN.md section 2):
//!
//! 1. Refill: `tokens = min(cbs, tokens + elapsed * cir)`; the debt does not decay.
//! 2. `tokens >= len`: green, `tokens -= len`.
//! 3. Otherwise the packet borrows `a = len - tokens`. If `debt + a >= ebs` it is red: the
//!    debt is reset to 0 and no tokens are taken. Else it is yellow: `tokens -= len`,
//!    `debt += a`.
//!
//! That is [`mode::JUNOSE`]; `len-debt` changes step 3 only, and `tcp` switches between
//! the `len-debt` rules and a plain bucket by the flow's phase (see [`mode`] and [`tcp`]).
//!
//! Units. Tokens and debt are kept in *nano-bytes* (1e-9 byte), so that a refill is the exact
//! integer `elapsed_ns * cir_bytes_per_sec` with no division in the hot path and no
//! fraction of a byte lost between two packets. Bounds that make overflow impossible:
//! bursts are at most [`MAX_BURST_BYTES`] (4 GiB, 4.3e18 nano-bytes, within `i64`), the
//! elapsed time is clamped to [`Profile::fill_ns`] (the time that fills the bucket from
//! `-ebs` to `cbs`), so a refill is at most `(cbs + ebs) * 1e9 + cir < 2^63`.

use crate::types::{FlowState, NANOS_PER_SEC, Profile, action, mode};

/// The colour the meter gives a packet.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    Green = 0,
    Yellow = 1,
    Red = 2,
}

impl Colour {
    /// All colours, in counter order.
    pub const ALL: [Colour; 3] = [Colour::Green, Colour::Yellow, Colour::Red];

    pub const fn name(self) -> &'static str {
        match self {
            Colour::Green => "green",
            Colour::Yellow => "yellow",
            Colour::Red => "red",
        }
    }
}

/// A byte count scaled to nano-bytes.
#[inline(always)]
const fn scaled(bytes: u64) -> i64 {
    (bytes as i64).wrapping_mul(NANOS_PER_SEC as i64)
}

/// State of a flow seen for the first time at `now_ns`: a full bucket, no debt.
#[inline(always)]
pub const fn new_flow(profile: &Profile, now_ns: u64) -> FlowState {
    FlowState {
        tokens: scaled(profile.cbs_bytes),
        last_ns: now_ns,
        debt: if profile.mode == mode::TCP { tcp::NEW } else { 0 },
        packets: 0,
        bytes: 0,
        red_packets: 0,
        lock: 0,
        resend: 0,
        dropped_seq: 0,
    }
}

/// Starts `state` afresh as [`new_flow`]'s, all but its lock, which the caller holds.
#[inline(always)]
pub fn restart_flow(profile: &Profile, state: &mut FlowState, now_ns: u64) {
    let FlowState {
        tokens,
        last_ns,
        debt,
        packets: _,
        bytes: _,
        red_packets: _,
        lock: _,
        resend,
        dropped_seq,
    } = new_flow(profile, now_ns);
    state.tokens = tokens;
    state.last_ns = last_ns;
    state.debt = debt;
    // The counts are 0, stored one by one: not merged by the compiler into a `memset`,
    // which this BPF build calls as a function (a loop over the bytes).
    clear(&mut state.packets);
    clear(&mut state.bytes);
    clear(&mut state.red_packets);
    state.resend = resend;
    state.dropped_seq = dropped_seq;
}

/// Sets a word to 0 with a store of its own (volatile: never merged with its neighbours'
/// into a `memset` call).
#[inline(always)]
fn clear(word: &mut u64) {
    // SAFETY: a write through a live, aligned, exclusive reference.
    unsafe { core::ptr::write_volatile(word, 0) };
}

/// Whether a flow has been quiet long enough to be forgotten: for [`Profile::fill_ns`], the
/// time that fills its bucket from the floor to `cbs`. Its bucket is then full (and a `tcp`
/// flow starts slow again, as new), so the flow, come back as new, meets the same bucket;
/// what it loses is what an LRU table's eviction loses: its counts, and a `junose` or
/// `len-debt` flow its debt, which never brings it past the bound `cir*T + cbs + ebs`.
#[inline(always)]
pub fn forgettable(profile: &Profile, state: &FlowState, now_ns: u64) -> bool {
    now_ns.saturating_sub(state.last_ns) >= profile.fill_ns
}

/// Adds the tokens earned since `state.last_ns`, never past `cbs`.
///
/// A clock that reads at or before `last_ns` (another CPU updated the flow with a later
/// timestamp, or a clock step) earns nothing and leaves `last_ns` where it is, so the same
/// interval is never credited twice. The cap at `cbs` applies either way: tokens above a cbs
/// lowered by `policer set` come down to it on the next packet.
#[inline(always)]
fn refill(profile: &Profile, state: &mut FlowState, now_ns: u64) {
    let earned = if now_ns > state.last_ns {
        let elapsed = now_ns.wrapping_sub(state.last_ns);
        state.last_ns = now_ns;
        let elapsed = if elapsed < profile.fill_ns { elapsed } else { profile.fill_ns };
        // At most (cbs + ebs) * 1e9 + cir: see the module comment.
        elapsed.wrapping_mul(profile.cir_bytes_per_sec)
    } else {
        0
    };
    let cbs = scaled(profile.cbs_bytes);
    let room = cbs.wrapping_sub(state.tokens);
    state.tokens = if room <= 0 || earned >= room as u64 {
        cbs
    } else {
        state.tokens.wrapping_add(earned as i64)
    };
}

/// Colours one packet of `len` bytes that arrives at `now_ns`, updating the flow's bucket.
///
/// Pure, integer-only and panic-free: the kernel program runs this very function.
#[inline(always)]
pub fn police(profile: &Profile, state: &mut FlowState, len: u32, now_ns: u64) -> Colour {
    colour(profile, state, len, now_ns, false)
}

/// [`police`], where `marked` says the packet will carry a CE mark rather than be dropped
/// (see [`police_and_act`]).
#[inline(always)]
fn colour(profile: &Profile, state: &mut FlowState, len: u32, now_ns: u64, marked: bool) -> Colour {
    let tcp_mode = profile.mode == mode::TCP;
    if tcp_mode {
        tcp::restart_after_pause(profile, state, now_ns);
    }
    let before = state.tokens;
    refill(profile, state, now_ns);
    let need = scaled(len as u64);
    if tcp_mode && marked {
        // The `tcp` rules are about loss windows: a packet that will carry a mark instead
        // of being dropped gets the `len-debt` rules, after a slow start of its own.
        if let Some(colour) = tcp::marked(profile, state, need) {
            return colour;
        }
    } else if tcp_mode {
        tcp::after_refill(profile, state, state.tokens.wrapping_sub(before));
    }
    if state.tokens >= need {
        state.tokens = state.tokens.wrapping_sub(need);
        if tcp_mode {
            if !marked {
                tcp::took(state, need);
            }
            tcp::after_green(profile, state, now_ns);
        }
        return Colour::Green;
    }
    // The actual debt: how far below zero the bucket goes if it takes this packet.
    let borrowed = need.wrapping_sub(state.tokens) as u64;
    if !tcp_mode {
        // A flow of a `tcp` profile changed by `policer set --mode`: its phase is no debt.
        state.debt = tcp::debt_of(state);
    }
    match profile.mode {
        mode::LEN_DEBT => {
            borrow_len_debt(profile, state, need, borrowed, scaled(profile.ebs_bytes) as u64)
        }
        // A packet that will carry a mark: the `len-debt` rules, also at the floor.
        mode::TCP if marked => {
            borrow_len_debt(profile, state, need, borrowed, tcp::red_spacing(profile, borrowed))
        }
        mode::TCP => tcp::borrow(profile, state, need, borrowed, now_ns),
        _ => borrow_junose(profile, state, need, borrowed),
    }
}

/// Colours a packet that is ECN-capable (`ect`: ECT(0), ECT(1) or CE) or not, and returns
/// the action to carry out on it: the profile's action for the colour, except under
/// `--red ecn` (and `--yellow ecn --red drop`, see [`Profile::red_can_mark`]), where a red
/// is TCP's signal as long as the bucket can still lend: an ECN-capable packet then passes
/// with a CE mark instead and takes its tokens like a yellow one (so marked bytes count
/// against the rate, and the bound `cir*T + cbs + ebs` holds). At the floor, where taking
/// the packet would bring the bucket to `-ebs` or below, and for a packet that cannot carry
/// a mark, red drops. Measured under `--yellow ecn` (CUBIC, 10 Mbit/s, 20 and 80 ms): with
/// the debt's reds dropped, 0.3-1.3 % of the flow's packets were lost; with them marked,
/// none.
///
/// In `tcp` mode an ECN-capable packet under `--yellow ecn` or `--red ecn` is metered by the
/// `len-debt` rules once its flow's slow start is over, which is when its bucket is half
/// spent (see `tcp::marked`): the `tcp` rules are there to keep losses within one loss window
/// and early, and marks lose nothing. Measured: with them, 0.5 % of an ECN-capable CUBIC
/// flow's packets reached the floor and were dropped; without, 0.02 %.
///
/// `tcp_seq`: the packet's TCP sequence number, 0 if it is no TCP segment. A dropped segment
/// is remembered, and the debt's next red waits until TCP has sent it again (see [`resend`]).
#[inline(always)]
pub fn police_and_act(
    profile: &Profile,
    state: &mut FlowState,
    len: u32,
    now_ns: u64,
    ect: bool,
    tcp_seq: u32,
) -> (Colour, u8) {
    resend::before(profile, state, tcp_seq, len, now_ns);
    let (colour, act) = colour_and_act(profile, state, len, now_ns, ect);
    if act == action::DROP {
        resend::dropped(profile, state, now_ns);
    }
    (colour, act)
}

/// [`police_and_act`] before the resend watch.
#[inline(always)]
fn colour_and_act(
    profile: &Profile,
    state: &mut FlowState,
    len: u32,
    now_ns: u64,
    ect: bool,
) -> (Colour, u8) {
    let colour = colour(profile, state, len, now_ns, ect && profile.marks_ecn());
    let act = profile.action_for(colour);
    if colour != Colour::Red || !profile.red_can_mark() {
        return (colour, act);
    }
    // A red took nothing, so the bucket is as the meter found it after its refill.
    let need = scaled(len as u64);
    let borrowed = need.wrapping_sub(state.tokens) as u64;
    if ect && !at_floor(profile, borrowed) {
        state.tokens = state.tokens.wrapping_sub(need);
        (colour, action::ECN)
    } else {
        (colour, action::DROP)
    }
}

/// TCP's answer to a drop. TCP hears of a lost segment a round trip after it was dropped
/// and answers by sending it again, cutting its window as it does; until then it cannot
/// have slowed down. So once the debt's rules (`len-debt` mode, and the `len-debt` and
/// watched phases of `tcp` mode) have dropped a packet of a flow, the debt's next red waits until the oldest segment dropped, or one before it, has come
/// again, and the debt is counted afresh from that answer: what the flow borrowed before
/// TCP could hear of the drop is not held against it a second time (counted, it brought a
/// second red, and a second cut, as soon as TCP had answered the first at round trips over
/// 100 ms). Both follow the flow's own round trip, whatever it is. The floor (`-ebs`) is
/// never waited for, so the bound `cir*T + cbs + ebs` holds. A packet that is no TCP
/// segment carries 0, which comes again with the flow's next packet.
///
/// Nothing here branches on whether the packet is TCP, and `resend` is read from memory
/// afresh: a value the kernel program branched on, known on each path, and carried across
/// the meter would make the verifier walk the meter once per value, past its limit.
pub mod resend {
    use crate::types::{
        FlowState, Profile,
        resend::{
            QUICK, RESENT, ROUND_TRIP, SAMPLING, STATE, TIME_SHIFT, TIME_UNIT_SHIFT, WAITING,
        },
    };

    /// Before the meter: a sequence number at or before the oldest one awaited (they wrap)
    /// is that segment sent again, `len` bytes: under the debt's rules the debt starts
    /// afresh; a slow start's first drop sent again times TCP's round trip. While nothing is
    /// awaited, the packet's sequence number is noted, to be awaited should the meter drop
    /// it.
    #[inline(always)]
    pub fn before(profile: &Profile, state: &mut FlowState, seq: u32, len: u32, now_ns: u64) {
        let resend = fresh(state);
        let kind = resend & STATE;
        if !awaiting(kind) {
            state.dropped_seq = seq;
            // Written only when it changes: the common packet stores one word, not two.
            if kind != 0 {
                state.resend = resend & !STATE;
            }
        } else if state.dropped_seq.wrapping_sub(seq) as i32 >= 0 {
            let elapsed = since(resend, now_ns);
            let timed = ROUND_TRIP | (to_units(elapsed) << TIME_SHIFT);
            state.resend = if kind == SAMPLING {
                timed | (resend & QUICK)
            } else {
                let quick = super::settle_debt(profile, state, elapsed, len);
                RESENT | timed | if quick { QUICK } else { 0 }
            };
        }
    }

    /// The packet was dropped at `now_ns`: in the debt's rules, wait for the oldest segment
    /// dropped (this one, unless one before it is still awaited) to come again, and keep
    /// the time of the drop. A `tcp`-mode flow's drops in slow start or plain are a plain
    /// bucket's, and arm nothing (TCP's recovery from a slow start's losses takes many
    /// round trips, and the debt's reds waiting on it let the flow borrow to the floor:
    /// CUBIC at 150 and 250 ms, 50 Mbit/s), but for a slow start's first drop while no
    /// round trip is timed, which is awaited to time it ([`round_trip_ns`]; a flow that is
    /// no TCP is timed by its next packet, as its sequence number is always 0). The
    /// conditions are few on purpose: two more (a TCP segment, no round trip kept apart)
    /// took the verifier's work from 0.3 to 0.84 million instructions for TC.
    #[inline(always)]
    pub fn dropped(profile: &Profile, state: &mut FlowState, now_ns: u64) {
        let resend = fresh(state);
        let kind = resend & STATE;
        let time = units(now_ns) << TIME_SHIFT;
        if kind != WAITING && super::in_debt_rules(profile, state) {
            state.resend = WAITING | (resend & QUICK) | time;
        } else if resend & (STATE | ROUND_TRIP) == 0 && super::in_slow_start(profile, state) {
            state.resend = SAMPLING | (resend & QUICK) | time;
        }
    }

    /// TCP's round trip as its last answer timed it (a drop to its resend: a slow start's
    /// first, or the debt's last), while no drop is awaited.
    #[inline(always)]
    pub fn round_trip_ns(state: &FlowState) -> Option<u64> {
        let resend = fresh(state);
        (resend & ROUND_TRIP != 0 && !awaiting(resend & STATE))
            .then_some(((resend >> TIME_SHIFT) as u64) << TIME_UNIT_SHIFT)
    }

    /// Whether a resend word's state awaits a dropped segment (for the debt or to time the
    /// round trip): its time bits then hold the time of the drop.
    #[inline(always)]
    fn awaiting(kind: u32) -> bool {
        kind == WAITING || kind == SAMPLING
    }

    /// Whether TCP has answered the flow's drops before this packet: the resend itself is
    /// never the red its coming allows.
    #[inline(always)]
    pub fn answered(state: &FlowState) -> bool {
        fresh(state) & STATE == 0
    }

    /// Whether TCP's last answer came within a window too small to hold the flow at the
    /// rate (see `meter::tcp::window_too_small`).
    #[inline(always)]
    pub fn quick(state: &FlowState) -> bool {
        fresh(state) & QUICK != 0
    }

    /// The clock in the units the resend word keeps, as many of its low bits as the word
    /// holds.
    #[inline(always)]
    fn units(now_ns: u64) -> u32 {
        ((now_ns >> TIME_UNIT_SHIFT) as u32) & (u32::MAX >> TIME_SHIFT)
    }

    /// Nanoseconds from the drop a resend word keeps to `now_ns` (the units wrap every
    /// 4.9 hours; a resend that long awaited is long past any rule that reads it).
    #[inline(always)]
    fn since(resend: u32, now_ns: u64) -> u64 {
        let elapsed = units(now_ns).wrapping_sub(resend >> TIME_SHIFT) & (u32::MAX >> TIME_SHIFT);
        (elapsed as u64) << TIME_UNIT_SHIFT
    }

    /// Nanoseconds as units of the word, at most what its time bits hold.
    #[inline(always)]
    fn to_units(ns: u64) -> u32 {
        let most = (u32::MAX >> TIME_SHIFT) as u64;
        let units = ns >> TIME_UNIT_SHIFT;
        (if units < most { units } else { most }) as u32
    }

    /// `state.resend` read from memory again (see the module comment).
    #[inline(always)]
    fn fresh(state: &FlowState) -> u32 {
        // SAFETY: a read of a field of a live reference.
        unsafe { core::ptr::read_volatile(&state.resend) }
    }
}

/// Whether the flow is a `tcp`-mode flow in its slow start.
#[inline(always)]
fn in_slow_start(profile: &Profile, state: &FlowState) -> bool {
    profile.mode == mode::TCP && tcp::in_slow_start(state)
}

/// Whether the flow is metered by the debt's rules: `len-debt` mode, or the `len-debt` and
/// watched phases of `tcp` mode.
#[inline(always)]
fn in_debt_rules(profile: &Profile, state: &FlowState) -> bool {
    profile.mode == mode::LEN_DEBT || (profile.mode == mode::TCP && tcp::in_debt_rules(state))
}

/// TCP has answered a drop `answer_ns` after it with a resend of `len` bytes: under the
/// debt's rules only (JunosE's debt is exact, and the other `tcp` phases keep no debt), the
/// debt is counted afresh. Returns whether, in `tcp` mode, the answer came within a window
/// too small to hold the flow at the rate ([`tcp::window_too_small`]): then the debt's
/// reds are off until an answer says otherwise.
#[inline(always)]
fn settle_debt(profile: &Profile, state: &mut FlowState, answer_ns: u64, len: u32) -> bool {
    if !in_debt_rules(profile, state) {
        return resend::quick(state);
    }
    tcp::clear_debt(state);
    profile.mode == mode::TCP && tcp::window_too_small(profile, answer_ns, len)
}

/// Whether a packet that must borrow `borrowed` would take the bucket to `-ebs` or below:
/// the floor every mode keeps (JunosE through its debt, which is at least the depth).
#[inline(always)]
fn at_floor(profile: &Profile, borrowed: u64) -> bool {
    borrowed >= scaled(profile.ebs_bytes) as u64
}

/// JunosE: the debt grows by the actual debt; reaching `ebs` is red and resets it.
#[inline(always)]
fn borrow_junose(profile: &Profile, state: &mut FlowState, need: i64, borrowed: u64) -> Colour {
    let ebs = scaled(profile.ebs_bytes) as u64;
    if state.debt.saturating_add(borrowed) >= ebs {
        state.debt = 0;
        Colour::Red
    } else {
        state.tokens = state.tokens.wrapping_sub(need);
        state.debt = state.debt.wrapping_add(borrowed);
        Colour::Yellow
    }
}

/// The debt grows by the packet's length; reaching `spacing` (`ebs`, or more in `tcp` mode)
/// once TCP has answered the last drop ([`resend`]) is red and resets it, and so is a packet
/// that would take the bucket to `-ebs` or below.
#[inline(always)]
fn borrow_len_debt(
    profile: &Profile,
    state: &mut FlowState,
    need: i64,
    borrowed: u64,
    spacing: u64,
) -> Colour {
    let debt = state.debt.saturating_add(need as u64);
    if at_floor(profile, borrowed) || (debt >= spacing && resend::answered(state)) {
        state.debt = 0;
        Colour::Red
    } else {
        state.tokens = state.tokens.wrapping_sub(need);
        // Held at the spacing while TCP has yet to answer: the next red is due, and the
        // debt stays under 2^62, clear of `tcp` mode's phase bits.
        state.debt = if debt < spacing { debt } else { spacing };
        Colour::Yellow
    }
}

mod tcp;
pub use tcp::{PLAIN_PAUSE_NS, Phase, SLOW_START_MAX_NS, SLOW_START_MIN_NS, debt_of};

#[cfg(test)]
mod tests;
