//! `--mode tcp`: the `len-debt` rules, with a plain bucket for slow start and an immediate
//! red for a flow that has repaid (README, "Modes and choosing a profile", has the
//! measurements behind each rule).
//!
//! * **Slow start** meets a plain bucket. Slow start ends with a round trip or two of
//!   packets over the rate; a plain bucket drops them within one loss window, so TCP cuts
//!   its rate once. Borrowing them instead leaves the losses to the bucket's floor a round
//!   trip later: a second cut, which costs seconds of rate at long round trips. A flow is in
//!   slow start from its first packet (or a pause that filled its bucket) until, after its
//!   first red, its bucket is half full again (TCP has backed off), or at most
//!   [`SLOW_START_MAX_NS`] after that red.
//! * **A flow that has repaid** (its bucket is full) gets its next shortfall red at once:
//!   that is TCP growing past the rate again, and the red comes where a plain bucket's first
//!   drop would, but alone. Later in the same borrowing the `len-debt` spacing applies.
//!
//! An ECN-capable packet under `--yellow ecn` or `--red ecn` gets the `len-debt` rules
//! instead (see `police_and_act`): its signals are marks, which lose nothing.
//!
//! The phase lives in the flow's debt word: a flag above any debt (`ebs` is at most 4 GiB, so
//! a debt stays under `2^63` nano-bytes).

use super::{Colour, borrow_len_debt, scaled};
use crate::types::{FlowState, NANOS_PER_SEC, Profile};

/// In slow start; the rest of the word is the time of its first red (the clock's low 63
/// bits, at least 1), or 0 before it.
pub const SLOW_START: u64 = 1 << 63;
/// The longest a slow start lasts after its first red: TCP's loss recovery at the end of
/// slow start takes a few round trips, and round trips up to half a second are covered. A
/// flow whose bucket stays low that long (TCP losing a packet every few round trips, as
/// under a plain bucket) has long left slow start.
pub const SLOW_START_MAX_NS: u64 = 2 * NANOS_PER_SEC;

/// Where a `tcp`-mode flow is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    SlowStart,
    LenDebt,
}

/// Whether a `tcp`-mode flow is in its slow start (the one place that reads the flag).
#[inline(always)]
pub const fn in_slow_start(state: &FlowState) -> bool {
    state.debt & SLOW_START != 0
}

impl Phase {
    pub const fn of(state: &FlowState) -> Phase {
        if in_slow_start(state) { Phase::SlowStart } else { Phase::LenDebt }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Phase::SlowStart => "slow-start",
            Phase::LenDebt => "len-debt",
        }
    }
}

/// The debt word of a new flow.
pub(super) const NEW: u64 = SLOW_START;

/// Before the refill: a flow quiet long enough to fill its whole bucket starts slow again,
/// as TCP does after an idle period.
#[inline(always)]
pub(super) fn restart_after_pause(profile: &Profile, state: &mut FlowState, now_ns: u64) {
    if now_ns.saturating_sub(state.last_ns) >= profile.fill_ns {
        state.debt = NEW;
    }
}

/// Ends a slow start at once (a flow whose packets carry marks instead of being dropped).
#[inline(always)]
pub(super) fn leave_slow_start(state: &mut FlowState) {
    if in_slow_start(state) {
        state.debt = 0;
    }
}

/// After the refill: a flow whose bucket is full has repaid, and its next shortfall is red.
#[inline(always)]
pub(super) fn after_refill(profile: &Profile, state: &mut FlowState) {
    if !in_slow_start(state) && state.tokens == scaled(profile.cbs_bytes) {
        state.debt = scaled(profile.ebs_bytes) as u64;
    }
}

/// After a green: a slow start that has had its red ends once the bucket is half full.
#[inline(always)]
pub(super) fn after_green(profile: &Profile, state: &mut FlowState) {
    if state.debt > SLOW_START && state.tokens >= scaled(profile.cbs_bytes / 2) {
        state.debt = 0;
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
    if in_slow_start(state) {
        let first_red = state.debt & !SLOW_START;
        if first_red == 0 {
            let time = now_ns & !SLOW_START;
            state.debt = SLOW_START | if time == 0 { 1 } else { time };
            return Colour::Red;
        }
        if now_ns.saturating_sub(first_red) < SLOW_START_MAX_NS {
            return Colour::Red;
        }
        state.debt = 0;
    }
    borrow_len_debt(profile, state, need, borrowed)
}
