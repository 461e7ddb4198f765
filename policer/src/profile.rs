//! Profiles as the user gives them (rates in bit/s, bursts as sizes or times) and as the
//! kernel program uses them ([`Profile`]).

use policer_common::{Colour, NANOS_PER_SEC, Profile, ProfileError, action, key_mode, mode};

use crate::{
    error::{Error, Result},
    units::{self, Burst},
};

/// The default committed burst: 100 ms of the rate (DESIGN.md section 2).
pub const DEFAULT_CBS_NS: u64 = 100_000_000;
/// The default excess burst, as a multiple of the committed burst.
pub const DEFAULT_EBS_FACTOR: u64 = 2;
/// The smallest default committed burst, in maximum-size frames of the interface.
pub const MIN_DEFAULT_CBS_FRAMES: u64 = 2;

/// How flows are told apart, as named on the command line.
pub fn key_mode_name(mode: u8) -> &'static str {
    match mode {
        key_mode::SRC => "src",
        key_mode::DST => "dst",
        key_mode::ALL => "all",
        _ => "5tuple",
    }
}

/// Parses `5tuple`, `src`, `dst` or `all`.
pub fn parse_key_mode(text: &str) -> Result<u8, String> {
    match text.to_ascii_lowercase().as_str() {
        "5tuple" | "5-tuple" | "flow" => Ok(key_mode::FIVE_TUPLE),
        "src" => Ok(key_mode::SRC),
        "dst" => Ok(key_mode::DST),
        "all" => Ok(key_mode::ALL),
        _ => Err(format!("invalid key {text:?}: expected 5tuple, src, dst or all")),
    }
}

/// Parses the address plans are matched against: `src` or `dst`.
pub fn parse_plan_match(text: &str) -> Result<u8, String> {
    match text.to_ascii_lowercase().as_str() {
        "src" => Ok(policer_common::plan_match::SRC),
        "dst" => Ok(policer_common::plan_match::DST),
        _ => Err(format!("invalid match {text:?}: expected src or dst")),
    }
}

/// `src` or `dst`: the address plans are matched against.
pub fn plan_match_name(value: u8) -> &'static str {
    if value == policer_common::plan_match::DST { "dst" } else { "src" }
}

/// The mode of a new policer (see docs/algorithm.md, "The modes measured"): in
/// bench/RESULTS.md it gave CUBIC a quarter to a ninth of a plain bucket's retransmissions
/// at a plain bucket's goodput at 20 and 80 ms (where `len-debt` loses goodput at 80 ms).
pub const DEFAULT_MODE: u8 = mode::TCP;

/// Why `profile` is likely to treat TCP badly, if the benchmark says so.
pub fn tcp_warning(profile: &Profile) -> Option<String> {
    let longest = burst_ms(profile, profile.cbs_bytes.max(profile.ebs_bytes));
    (profile.mode == mode::JUNOSE && longest >= 1000.0).then(|| {
        format!(
            "the exact JunosE rules with a burst of {:.1}s collapse TCP: once a flow has \
             borrowed deep, every other packet is red for seconds (CUBIC fell to 0.75 of the \
             rate at 80 ms RTT, BBR lost 2-4x the packets of a plain bucket in \
             bench/RESULTS.md); --mode tcp, or bursts of about 100ms, avoid it",
            longest / 1000.0
        )
    })
}

/// Parses a mode name: tcp, len-debt or junose.
pub fn parse_mode(text: &str) -> Result<u8, String> {
    let lower = text.to_ascii_lowercase();
    (0..=mode::TCP)
        .find(|&m| mode::name(m) == lower)
        .ok_or_else(|| format!("invalid mode {text:?}: expected tcp, len-debt or junose"))
}

/// An action as named on the command line.
pub fn action_name(action: u8) -> String {
    match action {
        action::PASS => "pass".into(),
        action::DROP => "drop".into(),
        action::ECN => "ecn".into(),
        dscp => format!("dscp={}", dscp.saturating_sub(action::DSCP_BASE)),
    }
}

/// Parses `pass`, `drop`, `ecn` or `dscp=N` (N from 0 to 63).
pub fn parse_action(text: &str) -> Result<u8, String> {
    let lower = text.to_ascii_lowercase();
    match lower.as_str() {
        "pass" => Ok(action::PASS),
        "drop" => Ok(action::DROP),
        "ecn" => Ok(action::ECN),
        _ => match lower.strip_prefix("dscp=").map(str::parse::<u8>) {
            Some(Ok(dscp)) if dscp < 64 => Ok(action::dscp(dscp)),
            Some(_) => Err(format!("invalid DSCP in {text:?}: expected a number from 0 to 63")),
            None => Err(format!("invalid action {text:?}: expected pass, drop, ecn or dscp=N")),
        },
    }
}

/// A profile as asked for; unset fields take defaults (on attach) or stay as they are (on set).
#[derive(Clone, Debug, Default)]
pub struct ProfileRequest {
    /// Committed rate, bit/s.
    pub cir_bits: Option<u64>,
    pub cbs: Option<Burst>,
    pub ebs: Option<Burst>,
    pub key_mode: Option<u8>,
    pub yellow: Option<u8>,
    pub red: Option<u8>,
    /// One of `policer_common::mode`.
    pub mode: Option<u8>,
}

impl ProfileRequest {
    /// The profile for a new policer on an interface whose largest frame is `max_frame` bytes.
    pub fn resolve_new(&self, max_frame: u64) -> Result<Profile> {
        let cir_bits = self.cir_bits.ok_or_else(|| {
            Error::InvalidProfile(
                "attach needs a committed rate: --cir RATE (for example --cir 10mbit)".into(),
            )
        })?;
        let defaults = Profile {
            key_mode: key_mode::FIVE_TUPLE,
            yellow_action: action::PASS,
            red_action: action::DROP,
            mode: DEFAULT_MODE,
            cbs_ns: DEFAULT_CBS_NS,
            ebs_ns: DEFAULT_CBS_NS * DEFAULT_EBS_FACTOR,
            ..Profile::default()
        };
        self.resolve(cir_bits / 8, &defaults, max_frame)
    }

    /// `current` with the fields of this request changed. A burst not given keeps its time
    /// of the rate if it was given as a time (or defaulted), else its size in bytes.
    pub fn resolve_change(&self, current: &Profile, max_frame: u64) -> Result<Profile> {
        let cir = self.cir_bits.map_or(current.cir_bytes_per_sec, |bits| bits / 8);
        self.resolve(cir, current, max_frame)
    }

    fn resolve(&self, cir: u64, base: &Profile, max_frame: u64) -> Result<Profile> {
        if cir == 0 {
            return Err(Error::InvalidProfile(format!(
                "rate {} is below the smallest rate policer meters, 8bit (1 byte/s)",
                units::format_rate(self.cir_bits.unwrap_or_default())
            )));
        }
        let given_or_kept = |given: Option<Burst>, ns: u64, bytes: u64| match given {
            Some(burst) => burst,
            None if ns != 0 => Burst::Time { ns },
            None => Burst::Bytes(bytes),
        };
        let cbs_spec = given_or_kept(self.cbs, base.cbs_ns, base.cbs_bytes);
        let ebs_spec = match (self.ebs, self.cbs, base.cir_bytes_per_sec) {
            // On attach (no rate before), ebs defaults to twice the cbs given.
            (None, Some(Burst::Time { ns }), 0) => Burst::Time { ns: ns.saturating_mul(2) },
            (None, Some(Burst::Bytes(bytes)), 0) => Burst::Bytes(bytes.saturating_mul(2)),
            _ => given_or_kept(self.ebs, base.ebs_ns, base.ebs_bytes),
        };
        // The default bursts (times) are never less than two maximum-size frames; a burst
        // the user gave is taken as given, and refused below one frame.
        let floor = |given: Option<Burst>, bytes: u64, frames: u64| {
            if given.is_none() && base.cbs_ns == DEFAULT_CBS_NS {
                bytes.max(frames * max_frame)
            } else {
                bytes
            }
        };
        let cbs = floor(self.cbs, burst_bytes(cbs_spec, cir), MIN_DEFAULT_CBS_FRAMES);
        let ebs = floor(
            self.ebs,
            burst_bytes(ebs_spec, cir),
            MIN_DEFAULT_CBS_FRAMES * DEFAULT_EBS_FACTOR,
        );
        check_burst("cbs", cbs, max_frame)?;
        check_burst("ebs", ebs, max_frame)?;
        let mut profile = build(
            cir,
            cbs,
            ebs,
            self.key_mode.unwrap_or(base.key_mode),
            self.yellow.unwrap_or(base.yellow_action),
            self.red.unwrap_or(base.red_action),
        )?
        .with_mode(self.mode.unwrap_or(base.mode))
        .map_err(profile_error)?;
        profile.cbs_ns = time_of(cbs_spec);
        profile.ebs_ns = time_of(ebs_spec);
        Ok(profile)
    }

    /// True when nothing would change.
    pub fn is_empty(&self) -> bool {
        self.cir_bits.is_none()
            && self.cbs.is_none()
            && self.ebs.is_none()
            && self.key_mode.is_none()
            && self.yellow.is_none()
            && self.red.is_none()
            && self.mode.is_none()
    }
}

fn time_of(burst: Burst) -> u64 {
    match burst {
        Burst::Time { ns } => ns,
        Burst::Bytes(_) => 0,
    }
}

fn burst_bytes(burst: Burst, cir: u64) -> u64 {
    match burst {
        Burst::Bytes(bytes) => bytes,
        Burst::Time { ns } => bytes_in(cir, ns),
    }
}

/// Bytes sent at `cir` bytes/s in `ns` nanoseconds, rounded down.
fn bytes_in(cir: u64, ns: u64) -> u64 {
    let bytes = cir as u128 * ns as u128 / NANOS_PER_SEC as u128;
    u64::try_from(bytes).unwrap_or(u64::MAX)
}

fn check_burst(name: &str, bytes: u64, max_frame: u64) -> Result<()> {
    // An excess burst of 0 is meaningful: a plain token bucket.
    let zero_allowed = name == "ebs";
    if bytes < max_frame && !(zero_allowed && bytes == 0) {
        return Err(Error::InvalidProfile(format!(
            "{name} of {bytes} bytes is below one maximum-size frame of the interface \
             ({max_frame} bytes): such a bucket could never pass a full frame{}",
            if zero_allowed { " (ebs 0 is allowed: it makes a plain token bucket)" } else { "" }
        )));
    }
    Ok(())
}

fn build(cir: u64, cbs: u64, ebs: u64, key: u8, yellow: u8, red: u8) -> Result<Profile> {
    Profile::new(cir, cbs, ebs, key, yellow, red).map_err(|e| match e {
        ProfileError::BurstTooLarge => Error::InvalidProfile(format!(
            "bursts are limited to {} (asked: cbs {}, ebs {})",
            units::format_size(policer_common::MAX_BURST_BYTES),
            units::format_size(cbs),
            units::format_size(ebs)
        )),
        other => profile_error(other),
    })
}

fn profile_error(e: ProfileError) -> Error {
    let why = match e {
        ProfileError::ZeroRate => "the rate must be greater than zero",
        ProfileError::RateTooHigh => "the rate is above the largest policer meters, 1Tbit",
        ProfileError::BurstTooLarge => "bursts are limited to 4 GiB",
        ProfileError::BadKeyMode => "unknown key mode",
        ProfileError::BadAction => "unknown action",
        ProfileError::BadMode => "unknown mode",
    };
    Error::InvalidProfile(why.into())
}

/// A burst in milliseconds of the profile's rate.
pub fn burst_ms(profile: &Profile, bytes: u64) -> f64 {
    bytes as f64 * 1000.0 / profile.cir_bytes_per_sec as f64
}

/// One line that says how a profile reads, tc-style.
pub fn describe(profile: &Profile) -> String {
    format!(
        "cir {} ({} bytes/s) cbs {}b ({:.1}ms) ebs {}b ({:.1}ms) mode {} key {} yellow {} red {}",
        units::format_rate(profile.cir_bytes_per_sec * 8),
        profile.cir_bytes_per_sec,
        profile.cbs_bytes,
        burst_ms(profile, profile.cbs_bytes),
        profile.ebs_bytes,
        burst_ms(profile, profile.ebs_bytes),
        mode::name(profile.mode),
        key_mode_name(profile.key_mode),
        action_name(profile.action_for(Colour::Yellow)),
        action_name(profile.action_for(Colour::Red)),
    )
}
