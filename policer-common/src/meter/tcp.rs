//! `--mode tcp`: the debt's rules counted by what the flow takes beyond what it earns, with
//! a plain bucket for slow start and for a flow that ignores the debt's reds. Each rule's
//! reason is here in a line; the measurements behind it are in
//! docs/algorithm.md ("`--mode tcp`, rule by rule"), and the alternatives tried and dropped,
//! with their figures, in docs/tried.md.
//!
//! * **Slow start** meets a plain bucket. Slow start ends with a round trip or two of
//!   packets over the rate; a plain bucket drops them within one loss window, so TCP cuts
//!   its rate once. Borrowing them instead leaves the losses to the bucket's floor a round
//!   trip later: a second cut, which costs seconds of rate at long round trips. A flow is in
//!   slow start from its first packet (or a pause that filled its bucket) until, after its
//!   first red, its bucket is half full again (TCP has backed off; not before
//!   [`SLOW_START_MIN_NS`], when that is TCP's loss recovery), or until its first
//!   shortfall [`SLOW_START_MAX_NS`] or more after that red. If the flow was still losing
//!   packets a second or more after its first red (TCP held by its losses, as under a plain
//!   bucket: it has long left slow start), the debt's rules follow, unless it lost a
//!   burst of them late, more than one a round trip (BBR's probe: see the plain flows
//!   below; the round trip timed by the slow start's first drop and its resend). If it was
//!   not, it crept back at about the rate with no loss since its start-up: BBR, out of its
//!   start-up at its estimate of the rate (or CUBIC whose halved window is just under it).
//!   So did a flow whose bucket is half full again only [`SLOW_START_MAX_NS`] or more after
//!   its first red (CUBIC with a window of hundreds of packets refills half of `cbs` only
//!   in seconds). Such a flow is **watched**: the debt's rules, but borrowing half of `cbs`
//!   before its bucket is next full makes it plain (CUBIC backs off at the first red and
//!   refills; BBR, lent more, takes it for rate and borrows on to the floor).
//! * **The debt's rules**: the bucket lends, and a packet that finds it short is red once
//!   the flow has taken [`red_depth`] more than it earned since TCP answered its last red
//!   (`resend`: the dropped segment sent again), or since its bucket was last at its highest
//!   after that, and TCP has answered; else yellow. What it earns comes off what it took, so
//!   a flow that repays after TCP's cut owes nothing and gets no second red, however long
//!   its round trip (counting the bytes it borrowed instead, as `len-debt` does, cut CUBIC
//!   twice at 150 ms); a flow still over the rate after its cut gets its next red a round
//!   trip later, however short its round trip (spaced by bytes, reds came too seldom for
//!   CUBIC at 10 ms, which borrowed to the floor). A flow that has repaid its bucket is
//!   past [`red_depth`] at its first shortfall: its red comes where a plain bucket's first
//!   drop would, but alone. The depth is at most one round trip of the rate (TCP's round
//!   trip, timed from a drop to its resend), and shrinks as the debt uses up `ebs`: the
//!   deeper the flow, the sooner its next red, so that TCP that backs off settles above the
//!   floor at any round trip.
//! * **A flow whose TCP answers within four packets at the rate** ([`window_too_small`]:
//!   its drop's resend came before four packets could pass at the rate, so its window at the
//!   rate is under four packets, as with no round trip) gets no debt's reds until an answer
//!   comes later: TCP's window cannot hold it at the rate, the reds only cost it packets,
//!   and it borrows to the floor and is plain there, as before this rule.
//! * **A flow that reaches the floor** did not slow down for the debt's reds (TCP that
//!   backs off on loss, CUBIC or Reno, settles above it; BBR paces at its own estimate of
//!   the rate, and every byte lent raises that estimate), nor did a watched flow that
//!   borrowed half of `cbs` before its bucket was full again, nor did one whose slow start
//!   lost a burst of packets more than 1.25 s after its first red
//!   ([`LATE_BURST_REDS`]: BBR's bandwidth probe meeting the empty bucket, where CUBIC
//!   loses one every round trip or few). Each becomes **plain**: a plain bucket of depth
//!   `cbs` at the floor (tokens from `-ebs` to `cbs - ebs`, entered empty if the flow was
//!   borrowing), what a plain policer would give it, until a pause that fills `cbs` and is
//!   nearly as long as TCP's shortest retransmission timeout (at short round trips, TCP
//!   waiting one out rather than ignoring reds; BBR's ProbeRTT leaves shorter gaps).
//!
//! An ECN-capable packet under `--yellow ecn` or `--red ecn` gets a slow start of its own
//! (see [`marked`]) and then the `len-debt` rules instead (see `police_and_act`): its
//! signals are marks, which lose nothing.
//!
//! The phase lives in the top two bits of the flow's debt word (`ebs` is at most 4 GiB, so
//! a debt stays under `2^62` nano-bytes): slow start, plain, watched, or none (the debt's
//! rules; the rest of the word is what the flow took beyond what it earned).

use super::{Colour, at_floor, scaled};
use crate::types::{FlowState, MAX_BURST_BYTES, NANOS_PER_SEC, Profile};

/// In slow start; the rest of the word is [`LATE_RED`], the count of [`LATE_REDS`] and the
/// time of its first red (in 1,024 ns units, at least 1), or 0 before it.
pub const SLOW_START: u64 = 0b10 << 62;
/// A plain bucket at the floor; nothing else in the word.
pub const PLAIN: u64 = 0b01 << 62;
/// The debt's rules, watched (plain once it borrows half of `cbs` before its bucket is full
/// again): the rest of the word is what the flow took beyond what it earned.
pub const WATCHED: u64 = 0b11 << 62;
/// The phase bits of the debt word (none: the `len-debt` rules, the word is the debt).
const PHASE_BITS: u64 = 0b11 << 62;
/// In the slow-start word: a shortfall came [`LATE_RED_NS`] or more after the first red.
const LATE_RED: u64 = 1 << 61;
/// In the slow-start word: how many shortfalls came [`LATE_BURST_FROM_NS`] or more after
/// the first red (saturating at 127).
const LATE_REDS: u64 = 0b111_1111 << 54;
const LATE_RED_ONE: u64 = 1 << 54;
/// The slow-start word's time of its first red, in 1,024 ns units ([`TIME_UNIT_SHIFT`]):
/// 2^54 of them reach the whole 64 bits of the clock.
const FIRST_RED_BITS: u64 = (1 << 54) - 1;
/// The unit of that time: 2^10 ns.
const TIME_UNIT_SHIFT: u32 = 10;
/// A shortfall this long after the first red is TCP still held by the bucket's reds (as
/// CUBIC at short round trips is under a plain bucket), not the red burst that ended its
/// start-up (BBR's lasts a few round trips, and then it creeps back at its estimate).
const LATE_RED_NS: u64 = SLOW_START_MAX_NS / 2;
/// Shortfalls this long (1.25 s) after the first red are counted for [`LATE_BURST_REDS`].
/// Rule: count only past the waves of reds that end CUBIC's slow start at long round trips
/// (about a second; from 1 s on, CUBIC was made plain: docs/tried.md).
const LATE_BURST_FROM_NS: u64 = SLOW_START_MAX_NS * 5 / 8;
/// As many shortfalls or more from [`LATE_BURST_FROM_NS`] on, and more than one a round trip
/// (see [`late_burst`]), are a burst of reds (BBR's bandwidth probe meeting the empty
/// bucket), not TCP held by them (CUBIC loses one every round trip or few). Figures:
/// docs/algorithm.md, the constants.
const LATE_BURST_REDS: u64 = 24;

/// How long after its first red a slow start's shortfalls count for a late burst:
/// [`LATE_BURST_FROM_NS`], or [`LATE_BURST_ROUND_TRIPS`] round trips if longer. Reason:
/// TCP's recovery from the losses that end its slow start lasts round trips, not a time:
/// CUBIC at 150 ms, 50 Mbit/s, still lost 32 from 1.25 s on and was made plain.
#[inline(always)]
fn late_from(round_trip_ns: Option<u64>) -> u64 {
    let by_round_trips = round_trip_ns.unwrap_or(0).saturating_mul(LATE_BURST_ROUND_TRIPS);
    if by_round_trips > LATE_BURST_FROM_NS { by_round_trips } else { LATE_BURST_FROM_NS }
}

/// Round trips after a slow start's first red before its shortfalls count for a late burst
/// (see [`late_from`]).
const LATE_BURST_ROUND_TRIPS: u64 = 10;

/// Whether `late_reds` shortfalls from [`late_from`] to [`SLOW_START_MAX_NS`] after the
/// first red are a burst: at least [`LATE_BURST_REDS`], and at least one a round trip of
/// that time where the slow start timed TCP's round trip (`resend::round_trip_ns`).
/// Reason: CUBIC held by a plain bucket loses one every round trip or few, so at 2 ms it
/// loses 150 a second, over any count fixed in time (it was made plain at 2-5 ms, where the
/// debt's rules cut its losses: docs/tried.md); BBR's probe loses several a round trip.
#[inline(always)]
pub(super) fn late_burst(late_reds: u64, round_trip_ns: Option<u64>) -> bool {
    let window = SLOW_START_MAX_NS.saturating_sub(late_from(round_trip_ns));
    let per_round_trip = match round_trip_ns {
        Some(rtt) => window.checked_div(rtt).unwrap_or(u64::MAX),
        None => 0,
    };
    window > 0 && late_reds >= LATE_BURST_REDS && late_reds >= per_round_trip
}

/// How long after its first red a slow start may take to refill half its bucket: TCP's
/// loss recovery at the end of slow start takes a few round trips, and round trips up to
/// half a second are covered. The first shortfall after that ends the slow start (TCP
/// losing a packet every few round trips, as under a plain bucket, has long left it;
/// watched if it lost nothing from a second after the red on); a flow that refills
/// half its bucket only later crept back at about the rate and is watched (see the module
/// comment).
pub const SLOW_START_MAX_NS: u64 = 2 * NANOS_PER_SEC;

/// How long after its first red a slow start's bucket half full again is TCP still in the
/// loss recovery that red began, not TCP backed off. Reason: CUBIC at short round trips
/// stalls in recovery long enough to half-fill the bucket with its window still several
/// times the rate; ended there, it was lent `ebs` at once and went plain for good
/// (traces and figures: docs/algorithm.md and docs/tried.md).
pub const SLOW_START_MIN_NS: u64 = SLOW_START_MAX_NS / 5;

/// The shortest pause that ends a plain flow's plain bucket (if it also fills `cbs`).
/// Reason: under Linux's shortest retransmission timeout (200 ms, what TCP with no round
/// trip waits out after losing its tail), over the gap BBR leaves at each ProbeRTT (about a
/// round trip), which must not lend it `ebs` again (docs/tried.md).
pub const PLAIN_PAUSE_NS: u64 = 150 * NANOS_PER_SEC / 1000;

/// The least borrowing between two of an ECN-capable flow's marks while the debt is
/// shallow, as a time of the rate (its packets follow the `len-debt` rules, see
/// `police_and_act`). Reason: TCP hears of a signal a round trip later and cuts then, so a
/// signal sooner after the last is in the same window and cuts it twice. 200 ms covers
/// round trips up to 100 ms, as the default `ebs` does (measured: docs/algorithm.md).
pub const RED_SPACING_MIN_NS: u64 = 200 * NANOS_PER_SEC / 1000;

/// The debt at which the `len-debt` rules' next red comes for an ECN-capable packet that
/// borrows `borrowed`: `ebs`, or [`RED_SPACING_MIN_NS`] of the rate if more while the bucket is less
/// than half of `ebs` in debt (within [`MAX_BURST_BYTES`], so that a debt stays under
/// `2^62`). Deeper, `ebs`. Reason: there the debt's reds must hold a flow that keeps
/// climbing past the rate above the floor (spaced at every depth, CUBIC at short round
/// trips reached it: docs/tried.md).
#[inline(always)]
pub(super) fn red_spacing(profile: &Profile, borrowed: u64) -> u64 {
    let ebs = scaled(profile.ebs_bytes) as u64;
    if borrowed >= ebs / 2 {
        return ebs;
    }
    let least = profile.cir_bytes_per_sec / (NANOS_PER_SEC / RED_SPACING_MIN_NS);
    let least = if least < MAX_BURST_BYTES { least } else { MAX_BURST_BYTES };
    let least = scaled(least) as u64;
    if least > ebs { least } else { ebs }
}

/// Where a `tcp`-mode flow is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    SlowStart,
    LenDebt,
    Watched,
    Plain,
}

impl Phase {
    pub const ALL: [Phase; 4] = [Phase::SlowStart, Phase::LenDebt, Phase::Watched, Phase::Plain];

    pub const fn of(state: &FlowState) -> Phase {
        match state.debt & PHASE_BITS {
            SLOW_START => Phase::SlowStart,
            PLAIN => Phase::Plain,
            WATCHED => Phase::Watched,
            _ => Phase::LenDebt,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Phase::SlowStart => "slow-start",
            Phase::LenDebt => "len-debt",
            Phase::Watched => "watched",
            Phase::Plain => "plain",
        }
    }
}

/// Whether a `tcp`-mode flow is in its slow start.
#[inline(always)]
pub const fn in_slow_start(state: &FlowState) -> bool {
    state.debt & PHASE_BITS == SLOW_START
}

/// The debt in a flow's debt word (none while it holds a phase). In the other modes the
/// word is always the debt: it stays under `2^62`.
#[inline(always)]
pub const fn debt_of(state: &FlowState) -> u64 {
    match state.debt & PHASE_BITS {
        0 => state.debt,
        WATCHED => state.debt & !PHASE_BITS,
        _ => 0,
    }
}

/// Whether the flow is in the `len-debt` or watched phase.
#[inline(always)]
pub(super) const fn in_debt_rules(state: &FlowState) -> bool {
    let phase = state.debt & PHASE_BITS;
    phase == 0 || phase == WATCHED
}

/// No debt left in the debt word, its phase kept (a `len-debt`-mode word has no phase bits:
/// its debt stays under `2^62`, so it becomes 0).
#[inline(always)]
pub(super) fn clear_debt(state: &mut FlowState) {
    state.debt &= PHASE_BITS;
}

/// The debt word of a new flow.
pub(super) const NEW: u64 = SLOW_START;

/// Half of `cbs`: the level at which slow start ends (a bucket refilled that far after a
/// red, or, for an ECN-capable flow, spent that far).
#[inline(always)]
const fn half_bucket(profile: &Profile) -> i64 {
    scaled(profile.cbs_bytes / 2)
}

/// Before the refill: a flow quiet long enough to fill its whole bucket starts slow again,
/// as TCP does after an idle period; a plain flow quiet long enough to fill `cbs`, and at
/// least [`PLAIN_PAUSE_NS`], borrows again.
#[inline(always)]
pub(super) fn restart_after_pause(profile: &Profile, state: &mut FlowState, now_ns: u64) {
    let pause = now_ns.saturating_sub(state.last_ns);
    if pause >= profile.fill_ns {
        state.debt = NEW;
    } else if state.debt & PHASE_BITS == PLAIN
        && pause >= PLAIN_PAUSE_NS
        // Below `fill_ns`, so the product is within u64 (see the meter's module comment).
        && pause.wrapping_mul(profile.cir_bytes_per_sec) >= scaled(profile.cbs_bytes) as u64
    {
        state.debt = 0;
    }
}

/// After the refill, for a packet that will carry a mark instead of being dropped: such a
/// flow's slow start goes on while its bucket is at least half full, and ends with a yellow
/// (a mark under `--yellow ecn`) for the first packet that finds it below half. Reason:
/// TCP then halves its window with half the bucket still to lend; slow start doubles its
/// window every round trip, and told only once the bucket was empty it overshot into the
/// floor (docs/tried.md). Out of slow start, the `len-debt` rules (also for a plain flow:
/// its marks tell it). `Some` colour when decided here.
#[inline(always)]
pub(super) fn marked(profile: &Profile, state: &mut FlowState, need: i64) -> Option<Colour> {
    let starting = in_slow_start(state);
    if starting && state.tokens >= half_bucket(profile) {
        return None;
    }
    state.debt = debt_of(state);
    if starting && state.tokens >= need {
        state.tokens = state.tokens.wrapping_sub(need);
        return Some(Colour::Yellow);
    }
    None
}

/// After the refill, which `earned` tokens: a plain flow's bucket tops out at `cbs - ebs`;
/// under the debt's rules, what the flow earned comes off what it took since TCP last
/// answered (its debt word: see [`took`]).
#[inline(always)]
pub(super) fn after_refill(profile: &Profile, state: &mut FlowState, earned: i64) {
    match state.debt & PHASE_BITS {
        PLAIN => {
            let top = scaled(profile.cbs_bytes).wrapping_sub(scaled(profile.ebs_bytes));
            if state.tokens > top {
                state.tokens = top;
            }
        }
        SLOW_START => {}
        phase => {
            // A watched flow whose bucket is full again has repaid: the debt's rules.
            let full = state.tokens == scaled(profile.cbs_bytes);
            let phase = if phase == WATCHED && full { 0 } else { phase };
            let earned = if earned > 0 { earned as u64 } else { 0 };
            state.debt = phase | (state.debt & !PHASE_BITS).saturating_sub(earned);
        }
    }
}

/// A packet took `need` tokens: under the debt's rules, the flow's debt word counts what it
/// took beyond what it earned since TCP last answered (or since its bucket was last at its
/// highest after that), up to [`red_depth`].
#[inline(always)]
pub(super) fn took(state: &mut FlowState, need: i64) {
    if in_debt_rules(state) {
        state.debt = (state.debt & PHASE_BITS) | owed_with(state, need);
    }
}

/// What the flow owes (the debt word without its phase) with `need` more taken, held under
/// `MAX_BURST_BYTES` so that it stays clear of the phase bits.
#[inline(always)]
fn owed_with(state: &FlowState, need: i64) -> u64 {
    let owed = (state.debt & !PHASE_BITS).saturating_add(need as u64);
    let most = scaled(MAX_BURST_BYTES) as u64;
    if owed < most { owed } else { most }
}

/// How much more than it earned a flow may have taken since TCP's last answer before a
/// shortfall is red: a sixteenth of `cbs`, or one round trip of the rate if less (the round
/// trip TCP's last answer timed, `resend::round_trip_ns`), and at least two of the packet's
/// size. Reason: a flow at the rate takes in bursts what it earns evenly (a TSO burst is
/// about a millisecond of its rate, ACKs come in pairs and each lets two segments go); a
/// red for that would cut a flow that is not over the rate. Deeper, and a flow at a short
/// round trip, whose window grows back within a few of them, outgrew the reds and borrowed
/// to the floor: half of `cbs` at 10 ms, a sixteenth at 2 ms (CUBIC at 50 Mbit/s, 1.1x the
/// rate until the floor; docs/tried.md).
#[inline(always)]
fn red_depth(profile: &Profile, state: &FlowState, need: i64, round_trip_ns: Option<u64>) -> u64 {
    let depth = scaled(profile.cbs_bytes / 16) as u64;
    // A round trip of the rate, below `fill_ns`, so the product is within u64 (see the
    // meter's module comment); a longer one is more than `cbs` anyway.
    let depth = match round_trip_ns {
        Some(rtt) if rtt < profile.fill_ns => {
            let window = rtt.wrapping_mul(profile.cir_bytes_per_sec);
            if window < depth { window } else { depth }
        }
        _ => depth,
    };
    let depth = depth.wrapping_mul(left_sixteenths(profile, state)) / 16;
    let two = (need as u64).saturating_mul(2);
    if depth > two { depth } else { two }
}

/// How much of `ebs` the bucket has left to lend, in sixteenths (16: not in debt).
#[inline(always)]
fn left_sixteenths(profile: &Profile, state: &FlowState) -> u64 {
    let ebs = scaled(profile.ebs_bytes) as u64;
    let in_debt = if state.tokens < 0 { state.tokens.wrapping_neg() as u64 } else { 0 };
    let left = ebs.saturating_sub(in_debt);
    match left.checked_div(ebs / 16) {
        Some(sixteenths) if sixteenths < 16 => sixteenths,
        _ => 16,
    }
}

/// After a green: a slow start that has had its red ends once the bucket is half full, from
/// [`SLOW_START_MIN_NS`] after the red on. If that took longer than [`SLOW_START_MAX_NS`]
/// (with no shortfall after those 2 s, which would have ended it), the flow crept back at
/// about the rate: BBR after its start-up, or CUBIC whose last cut left it just under the
/// rate (with a window of hundreds of packets, 200 Mbit/s at 20 ms, it refills half of
/// `cbs` only in seconds). It is watched, as a flow quiet after its reds is: BBR, lent,
/// borrows on and is plain at half of `cbs`; CUBIC backs off at its first red. (Made
/// plain here, CUBIC at 200 Mbit/s lost as much as under a plain bucket in one run of two,
/// whichever of the half-full bucket and a shortfall came first: docs/tried.md.) Unlike the
/// end at a shortfall (`still_slow`), its late reds are not weighed: a bucket half full
/// again is a flow that backed off from them, and the watch still makes BBR plain at its
/// next probe.
#[inline(always)]
pub(super) fn after_green(profile: &Profile, state: &mut FlowState, now_ns: u64) {
    let first_red = state.debt & FIRST_RED_BITS;
    if !in_slow_start(state) || first_red == 0 || state.tokens < half_bucket(profile) {
        return;
    }
    let since = since_first_red(state, now_ns);
    if since < SLOW_START_MIN_NS {
        // TCP's loss recovery, not TCP backing off: see SLOW_START_MIN_NS.
        return;
    }
    state.debt = if since < SLOW_START_MAX_NS { 0 } else { WATCHED };
}

/// A flow that did not back off becomes plain, its plain bucket as full as its bucket was,
/// and empty if it was borrowing. Reason: a fuller one would lend it more, which BBR takes
/// for rate (left full, it doubled BBR's losses: docs/tried.md).
#[inline(always)]
fn become_plain(profile: &Profile, state: &mut FlowState) {
    state.debt = PLAIN;
    let level = if state.tokens > 0 { state.tokens } else { 0 };
    state.tokens = level.wrapping_sub(scaled(profile.ebs_bytes));
}

/// The fewest packets in flight with which TCP can hear of a loss from the packets after
/// it: fast retransmit waits for three duplicate ACKs, so a window of fewer than four
/// packets that loses one can only wait for its retransmission timeout.
pub const WINDOW_PACKETS: u64 = 4;

/// Whether a flow whose drop TCP answered `answer_ns` later, with a packet of `len` bytes,
/// moves fewer than [`WINDOW_PACKETS`] such packets at the rate in that time. Such a flow's
/// debt's reds are off (until an answer comes later): it borrows to the floor and is plain
/// there. Reason: the answer takes about a round trip, so that is its window at the rate;
/// TCP's window cannot hold such a flow at the rate (at a round trip of a fraction of a
/// millisecond, one packet in flight is already several times the rate), it is held by its
/// losses alone, and the debt's reds only add losses (CUBIC with no round trip: 861 reds a
/// second, where borrowing to the floor and plain there lost 65: docs/tried.md).
#[inline(always)]
pub(super) fn window_too_small(profile: &Profile, answer_ns: u64, len: u32) -> bool {
    // `len` is at most 64 KiB: four of it in nano-bytes are within u64. Compared by division,
    // as the product of the time and the rate may not be (and a checked product is a
    // 128-bit multiply, which BPF has not).
    let least = (scaled(len as u64) as u64).wrapping_mul(WINDOW_PACKETS);
    let cir = profile.cir_bytes_per_sec;
    // The time in which the rate moves `least`, rounded up: shorter is a window too small.
    match least.wrapping_add(cir).wrapping_sub(1).checked_div(cir) {
        Some(least_ns) => answer_ns < least_ns,
        None => false,
    }
}

/// A packet that must borrow `borrowed` (see the module comment for the phases).
#[inline(always)]
pub(super) fn borrow(
    profile: &Profile,
    state: &mut FlowState,
    need: i64,
    borrowed: u64,
    now_ns: u64,
) -> Colour {
    if state.debt & PHASE_BITS == SLOW_START && still_slow(profile, state, now_ns) {
        return Colour::Red;
    }
    // Slow start may have just ended, and made the flow plain, its tokens `ebs` lower.
    let phase = state.debt & PHASE_BITS;
    if phase == PLAIN {
        let borrowed = need.wrapping_sub(state.tokens) as u64;
        return plain_borrow(profile, state, need, borrowed);
    }
    let watched = phase == WATCHED;
    if at_floor(profile, borrowed) || (watched && borrowed >= watch_depth(profile)) {
        become_plain(profile, state);
        return Colour::Red;
    }
    let owed = state.debt & !PHASE_BITS;
    if owed >= red_depth(profile, state, need, super::resend::round_trip_ns(state))
        && super::resend::answered(state)
        && !super::resend::quick(state)
    {
        state.debt = phase;
        return Colour::Red;
    }
    state.tokens = state.tokens.wrapping_sub(need);
    state.debt = phase | owed_with(state, need);
    Colour::Yellow
}

/// How far a watched flow may borrow before its bucket is full again: half of `cbs`, what a
/// plain bucket would lend it from half full.
#[inline(always)]
const fn watch_depth(profile: &Profile) -> u64 {
    scaled(profile.cbs_bytes / 2) as u64
}

/// Nanoseconds from a slow start's first red to `now_ns`.
#[inline(always)]
fn since_first_red(state: &FlowState, now_ns: u64) -> u64 {
    now_ns.saturating_sub((state.debt & FIRST_RED_BITS) << TIME_UNIT_SHIFT)
}

/// A shortfall in slow start: keeps the time of the first red, whether a shortfall came
/// [`LATE_RED_NS`] after it and how many [`LATE_BURST_FROM_NS`] after it, and says whether
/// the shortfall is red. The first shortfall [`SLOW_START_MAX_NS`] after the first red ends
/// the slow start: watched if TCP lost nothing in between (it crept back at about the
/// rate, as BBR does at long round trips), plain if it lost a burst (BBR's probe at short
/// round trips, see [`LATE_BURST_REDS`]), with the `len-debt` rules if it lost a few (as
/// under a plain bucket: it has long left slow start).
#[inline(always)]
fn still_slow(profile: &Profile, state: &mut FlowState, now_ns: u64) -> bool {
    if state.debt & FIRST_RED_BITS == 0 {
        let time = (now_ns >> TIME_UNIT_SHIFT) & FIRST_RED_BITS;
        state.debt = SLOW_START | if time == 0 { 1 } else { time };
        return true;
    }
    let since = since_first_red(state, now_ns);
    if since < SLOW_START_MAX_NS {
        if since >= LATE_RED_NS {
            state.debt |= LATE_RED;
        }
        let late = since >= late_from(super::resend::round_trip_ns(state));
        if late && state.debt & LATE_REDS != LATE_REDS {
            state.debt += LATE_RED_ONE;
        }
        return true;
    }
    if late_burst((state.debt & LATE_REDS) / LATE_RED_ONE, super::resend::round_trip_ns(state)) {
        become_plain(profile, state);
    } else {
        state.debt = if state.debt & LATE_RED != 0 { 0 } else { WATCHED };
    }
    false
}

/// A plain bucket at the floor: red only where the packet would take it to `-ebs`, green
/// otherwise (the packet is within that bucket: under `--yellow drop` or `dscp` a plain
/// flow is treated as a plain policer would treat it).
#[inline(always)]
fn plain_borrow(profile: &Profile, state: &mut FlowState, need: i64, borrowed: u64) -> Colour {
    if at_floor(profile, borrowed) {
        return Colour::Red;
    }
    state.tokens = state.tokens.wrapping_sub(need);
    Colour::Green
}
