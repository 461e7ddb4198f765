//! Rate, size and time parsing for the `policer` CLI, following Linux tc.
//!
//! The unit tables mirror iproute2's `lib/utils_math.c` (`get_rate`,
//! `get_size`) and `tc(8)` (RATES, SIZES, TIMES); suffixes are matched
//! case-insensitively. Unlike tc, which goes through `strtod` and `double`,
//! numbers here are parsed as exact decimals (integer part plus fraction
//! digits) and scaled with checked integer arithmetic, rounding half up to
//! the nearest unit. Only plain decimals are accepted: ASCII digits with at
//! most one `.` (so `1e5`, `0x10`, `nan`, `inf`, `+5` are rejected).
//! Leading and trailing whitespace is ignored.

use std::fmt;

use thiserror::Error;

/// Rate suffixes and their value in bits per second.
const RATE_UNITS: &[(&str, u64)] = &[
    ("bit", 1),
    ("kbit", 1_000),
    ("mbit", 1_000_000),
    ("gbit", 1_000_000_000),
    ("tbit", 1_000_000_000_000),
    ("kibit", 1 << 10),
    ("mibit", 1 << 20),
    ("gibit", 1 << 30),
    ("tibit", 1 << 40),
    ("bps", 8),
    ("kbps", 8_000),
    ("mbps", 8_000_000),
    ("gbps", 8_000_000_000),
    ("tbps", 8_000_000_000_000),
    ("kibps", 8 << 10),
    ("mibps", 8 << 20),
    ("gibps", 8 << 30),
    ("tibps", 8 << 40),
];

/// Size suffixes and their value in bytes.
const SIZE_UNITS: &[(&str, u64)] = &[
    ("b", 1),
    ("k", 1 << 10),
    ("kb", 1 << 10),
    ("m", 1 << 20),
    ("mb", 1 << 20),
    ("g", 1 << 30),
    ("gb", 1 << 30),
    ("kbit", (1 << 10) / 8),
    ("mbit", (1 << 20) / 8),
    ("gbit", (1 << 30) / 8),
];

/// Time suffixes and their value in nanoseconds.
const TIME_UNITS: &[(&str, u64)] = &[
    ("s", 1_000_000_000),
    ("sec", 1_000_000_000),
    ("secs", 1_000_000_000),
    ("ms", 1_000_000),
    ("msec", 1_000_000),
    ("msecs", 1_000_000),
    ("us", 1_000),
    ("usec", 1_000),
    ("usecs", 1_000),
    ("ns", 1),
];

/// The kind of value being parsed; used to word error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// A rate (`parse_rate`).
    Rate,
    /// A size (`parse_size`).
    Size,
    /// A duration (`parse_time`).
    Time,
    /// A burst, either a size or a duration (`parse_burst`).
    Burst,
}

impl Quantity {
    /// Comma-separated list of the suffixes accepted for this quantity.
    pub fn unit_list(self) -> String {
        let tables: &[&[(&str, u64)]] = match self {
            Self::Rate => &[RATE_UNITS],
            Self::Size => &[SIZE_UNITS],
            Self::Time => &[TIME_UNITS],
            Self::Burst => &[SIZE_UNITS, TIME_UNITS],
        };
        let names: Vec<&str> = tables.iter().flat_map(|t| t.iter().map(|&(n, _)| n)).collect();
        names.join(", ")
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rate => "rate",
            Self::Size => "size",
            Self::Time => "time",
            Self::Burst => "burst",
        })
    }
}

/// Why a rate, size, time or burst could not be parsed.
///
/// Every message quotes the original input, e.g.
/// `invalid rate "5xyz": unknown unit "xyz" (expected bit, kbit, ...)`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UnitError {
    /// The input was empty or whitespace only.
    #[error("invalid {quantity} {input:?}: empty")]
    Empty { quantity: Quantity, input: String },
    /// The input does not start with a plain decimal number.
    #[error("invalid {quantity} {input:?}: not a number")]
    NotANumber { quantity: Quantity, input: String },
    /// The input is a negative number.
    #[error("invalid {quantity} {input:?}: negative values are not allowed")]
    Negative { quantity: Quantity, input: String },
    /// The suffix after the number is not a known unit.
    #[error(
        "invalid {quantity} {input:?}: unknown unit {unit:?} (expected {units})",
        units = .quantity.unit_list()
    )]
    UnknownUnit { quantity: Quantity, input: String, unit: String },
    /// A unit is required but none was given (times only).
    #[error(
        "invalid {quantity} {input:?}: missing unit (expected {units})",
        units = .quantity.unit_list()
    )]
    MissingUnit { quantity: Quantity, input: String },
    /// The value does not fit in a `u64` of the target unit.
    #[error("invalid {quantity} {input:?}: too large")]
    TooLarge { quantity: Quantity, input: String },
    /// The value is (or rounds to) zero where zero is not allowed (rates).
    #[error("invalid {quantity} {input:?}: {quantity} must be greater than zero")]
    Zero { quantity: Quantity, input: String },
}

/// A burst given either as a byte count or as a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Burst {
    /// A size in bytes.
    Bytes(u64),
    /// A duration in nanoseconds.
    Time {
        /// Duration in nanoseconds.
        ns: u64,
    },
}

impl fmt::Display for Burst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Bytes(bytes) => f.write_str(&format_size(bytes)),
            Self::Time { ns } => f.write_str(&format_duration_ns(ns)),
        }
    }
}

/// Parses a tc-style rate into bits per second.
///
/// A bare number is bit/s; `bps`-family suffixes are *bytes* per second
/// (`1mbps` is 8,000,000 bit/s). Zero, or a value rounding to zero, is an
/// error.
pub fn parse_rate(input: &str) -> Result<u64, UnitError> {
    parse_with(input, Quantity::Rate, |text| {
        let number = lex(text)?;
        let bits = number.scale(unit_value(number.unit, RATE_UNITS, Some(1))?)?;
        if bits == 0 { Err(Fault::Zero) } else { Ok(bits) }
    })
}

/// Converts bits per second to whole bytes per second, truncating like tc.
pub fn rate_bytes_per_sec(bits_per_sec: u64) -> u64 {
    bits_per_sec / 8
}

/// Parses a tc-style size into bytes; a bare number is bytes. Zero is allowed.
pub fn parse_size(input: &str) -> Result<u64, UnitError> {
    parse_with(input, Quantity::Size, |text| {
        let number = lex(text)?;
        number.scale(unit_value(number.unit, SIZE_UNITS, Some(1))?)
    })
}

/// Parses a duration with an explicit unit (`s`, `ms`, `us`, `ns`, ...)
/// into nanoseconds. A bare number is an error. Zero is allowed.
pub fn parse_time(input: &str) -> Result<u64, UnitError> {
    parse_with(input, Quantity::Time, |text| {
        let number = lex(text)?;
        number.scale(unit_value(number.unit, TIME_UNITS, None)?)
    })
}

/// Parses a burst: a duration if it ends in a time suffix, else a size.
///
/// Suffixes are compared whole, so `ms` is milliseconds while `m`/`mb` are
/// mebibytes, `s` is seconds and `b` is bytes; a bare number is bytes.
pub fn parse_burst(input: &str) -> Result<Burst, UnitError> {
    parse_with(input, Quantity::Burst, |text| {
        let number = lex(text)?;
        match lookup(number.unit, TIME_UNITS) {
            Some(ns_per_unit) => number.scale(ns_per_unit).map(|ns| Burst::Time { ns }),
            None => number.scale(unit_value(number.unit, SIZE_UNITS, Some(1))?).map(Burst::Bytes),
        }
    })
}

/// Formats bits per second with 1000-based units (`bit`, `Kbit`, `Mbit`,
/// `Gbit`, `Tbit`) and up to three decimals, e.g. `1500` -> `"1.5Kbit"`.
pub fn format_rate(bits_per_sec: u64) -> String {
    format_scaled(bits_per_sec, 1000, &["bit", "Kbit", "Mbit", "Gbit", "Tbit"])
}

/// Formats bytes with 1024-based units (`b`, `Kb`, `Mb`) and up to three
/// decimals, e.g. `1536` -> `"1.5Kb"`.
pub fn format_size(bytes: u64) -> String {
    format_scaled(bytes, 1024, &["b", "Kb", "Mb"])
}

/// Formats nanoseconds with `ns`, `us`, `ms` or `s` and up to three
/// decimals, e.g. `1_500_000_000` -> `"1.5s"`.
pub fn format_duration_ns(ns: u64) -> String {
    format_scaled(ns, 1000, &["ns", "us", "ms", "s"])
}

/// What went wrong, before it is tied to the input and quantity.
enum Fault {
    Empty,
    NotANumber,
    Negative,
    UnknownUnit(String),
    MissingUnit,
    TooLarge,
    Zero,
}

impl Fault {
    /// Turns the fault into the public error for `input`.
    fn into_error(self, quantity: Quantity, input: &str) -> UnitError {
        let input = input.to_owned();
        match self {
            Self::Empty => UnitError::Empty { quantity, input },
            Self::NotANumber => UnitError::NotANumber { quantity, input },
            Self::Negative => UnitError::Negative { quantity, input },
            Self::UnknownUnit(unit) => UnitError::UnknownUnit { quantity, input, unit },
            Self::MissingUnit => UnitError::MissingUnit { quantity, input },
            Self::TooLarge => UnitError::TooLarge { quantity, input },
            Self::Zero => UnitError::Zero { quantity, input },
        }
    }
}

/// Runs `parse` on the trimmed input, reporting faults against the original.
fn parse_with<T>(
    input: &str,
    quantity: Quantity,
    parse: impl FnOnce(&str) -> Result<T, Fault>,
) -> Result<T, UnitError> {
    parse(input.trim()).map_err(|fault| fault.into_error(quantity, input))
}

/// A lexed input: the digits before and after the point, and the suffix.
struct Number<'a> {
    int: &'a str,
    frac: &'a str,
    unit: &'a str,
}

impl Number<'_> {
    /// Multiplies the number by a unit's value, exactly.
    fn scale(&self, multiplier: u64) -> Result<u64, Fault> {
        scale_decimal(self.int, self.frac, multiplier).ok_or(Fault::TooLarge)
    }
}

/// Splits (already trimmed) text into a plain decimal number and a suffix.
fn lex(text: &str) -> Result<Number<'_>, Fault> {
    if text.is_empty() {
        return Err(Fault::Empty);
    }
    if let Some(rest) = text.strip_prefix('-') {
        let is_number = split_number(rest).is_some();
        return Err(if is_number { Fault::Negative } else { Fault::NotANumber });
    }
    match split_number(text) {
        // A digit or point in the suffix means a malformed number ("1e5", "1.2.3").
        Some(number) if !number.unit.contains(|c: char| c.is_ascii_digit() || c == '.') => {
            Ok(number)
        }
        _ => Err(Fault::NotANumber),
    }
}

/// Splits `digits[.digits]` (at least one digit) from the rest of `s`.
fn split_number(s: &str) -> Option<Number<'_>> {
    let digits_end = |t: &str| t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (int, rest) = s.split_at(digits_end(s));
    let (frac, unit) = match rest.strip_prefix('.') {
        Some(after) => after.split_at(digits_end(after)),
        None => ("", rest),
    };
    (!int.is_empty() || !frac.is_empty()).then_some(Number { int, frac, unit })
}

/// Finds a suffix in a unit table, ignoring ASCII case.
fn lookup(unit: &str, table: &[(&str, u64)]) -> Option<u64> {
    table.iter().find(|(name, _)| name.eq_ignore_ascii_case(unit)).map(|&(_, value)| value)
}

/// Resolves a suffix to its multiplier; `bare` applies when there is none.
fn unit_value(unit: &str, table: &[(&str, u64)], bare: Option<u64>) -> Result<u64, Fault> {
    if unit.is_empty() {
        bare.ok_or(Fault::MissingUnit)
    } else {
        lookup(unit, table).ok_or_else(|| Fault::UnknownUnit(unit.to_owned()))
    }
}

/// Computes `int.frac * multiplier` exactly, rounding half up.
///
/// The fraction is multiplied digit by digit from the right (schoolbook
/// multiplication), so any number of fraction digits is handled exactly:
/// the final carry is the integer part of `0.frac * multiplier` and the
/// last digit produced is its first decimal, which decides the rounding.
/// Returns `None` if the result does not fit in a `u64`.
fn scale_decimal(int: &str, frac: &str, multiplier: u64) -> Option<u64> {
    let multiplier = u128::from(multiplier);
    let whole = int
        .bytes()
        .try_fold(0u128, |acc, d| acc.checked_mul(10)?.checked_add(u128::from(d - b'0')))?;
    let (mut carry, mut first_decimal) = (0u128, 0u128);
    for d in frac.bytes().rev() {
        let t = u128::from(d - b'0') * multiplier + carry;
        (carry, first_decimal) = (t / 10, t % 10);
    }
    let total = whole
        .checked_mul(multiplier)?
        .checked_add(carry)?
        .checked_add(u128::from(first_decimal >= 5))?;
    u64::try_from(total).ok()
}

/// Formats `value` in the largest fitting unit (each `base` times the
/// previous), with up to three decimals, trailing zeros trimmed.
fn format_scaled(value: u64, base: u64, units: &[&str]) -> String {
    let (value, base) = (u128::from(value), u128::from(base));
    let mut index = 0;
    let mut unit_size = 1u128;
    while index + 1 < units.len() && value >= unit_size * base {
        unit_size *= base;
        index += 1;
    }
    let mut thousandths = div_round(value * 1000, unit_size);
    // Rounding may reach the next unit: 999_999_600 bit is "1Gbit", not "1000Mbit".
    if index + 1 < units.len() && thousandths >= base * 1000 {
        unit_size *= base;
        index += 1;
        thousandths = div_round(value * 1000, unit_size);
    }
    let (whole, frac) = (thousandths / 1000, thousandths % 1000);
    if frac == 0 {
        format!("{whole}{}", units[index])
    } else {
        let decimals = format!("{frac:03}");
        format!("{whole}.{}{}", decimals.trim_end_matches('0'), units[index])
    }
}

/// Divides, rounding half up.
fn div_round(numerator: u128, denominator: u128) -> u128 {
    (numerator + denominator / 2) / denominator
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message of the error `parse_rate` gives for `input`.
    fn rate_err(input: &str) -> String {
        parse_rate(input).unwrap_err().to_string()
    }

    #[test]
    fn rate_every_suffix() {
        let cases: &[(&str, u64)] = &[
            ("1", 1),
            ("1bit", 1),
            ("1kbit", 1_000),
            ("1mbit", 1_000_000),
            ("1gbit", 1_000_000_000),
            ("1tbit", 1_000_000_000_000),
            ("1kibit", 1_024),
            ("1mibit", 1_048_576),
            ("1gibit", 1_073_741_824),
            ("1tibit", 1_099_511_627_776),
            ("1bps", 8),
            ("1kbps", 8_000),
            ("1mbps", 8_000_000),
            ("1gbps", 8_000_000_000),
            ("1tbps", 8_000_000_000_000),
            ("1kibps", 8_192),
            ("1mibps", 8_388_608),
            ("1gibps", 8_589_934_592),
            ("1tibps", 8_796_093_022_208),
        ];
        for &(input, bits) in cases {
            assert_eq!(parse_rate(input), Ok(bits), "{input}");
        }
    }

    #[test]
    fn unit_tables_have_expected_sizes() {
        assert_eq!(RATE_UNITS.len(), 18);
        assert_eq!(SIZE_UNITS.len(), 10);
        assert_eq!(TIME_UNITS.len(), 10);
    }

    #[test]
    fn rate_mbps_is_bytes_not_bits() {
        assert_eq!(parse_rate("1mbps"), Ok(8_000_000));
        assert_eq!(parse_rate("1mbit"), Ok(1_000_000));
        assert_eq!(parse_rate("100mbps"), Ok(800_000_000));
    }

    #[test]
    fn rate_case_insensitive() {
        assert_eq!(parse_rate("1MBit"), Ok(1_000_000));
        assert_eq!(parse_rate("1MBPS"), Ok(8_000_000));
        assert_eq!(parse_rate("1KiBps"), Ok(8_192));
        assert_eq!(parse_rate("2GBIT"), Ok(2_000_000_000));
        assert_eq!(parse_rate("3TiBit"), Ok(3 << 40));
        assert_eq!(parse_rate("10BIT"), Ok(10));
    }

    #[test]
    fn rate_fractions() {
        assert_eq!(parse_rate("1.5mbit"), Ok(1_500_000));
        assert_eq!(parse_rate("0.5kbit"), Ok(500));
        assert_eq!(parse_rate(".5kbit"), Ok(500));
        assert_eq!(parse_rate("5.kbit"), Ok(5_000));
        assert_eq!(parse_rate("1.5kibit"), Ok(1_536));
        assert_eq!(parse_rate("0.001mbps"), Ok(8_000));
        assert_eq!(parse_rate("2.5"), Ok(3)); // half rounds up
        assert_eq!(parse_rate("2.4999"), Ok(2));
        assert_eq!(parse_rate("0.1gbit"), Ok(100_000_000)); // no float error
        assert_eq!(parse_rate("1.0000000000000000000000000000000000000000001bit"), Ok(1));
        assert_eq!(parse_rate("0.50000000000000000000000000000000000000bit"), Ok(1));
        assert_eq!(parse_rate("000000000000000000000000000000000000000042bit"), Ok(42));
    }

    #[test]
    fn rate_whitespace_is_trimmed() {
        assert_eq!(parse_rate(" 1mbit\n"), Ok(1_000_000));
        assert!(matches!(parse_rate("1 mbit"), Err(UnitError::UnknownUnit { .. })));
    }

    #[test]
    fn rate_overflow() {
        assert_eq!(parse_rate("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            rate_err("18446744073709551616"),
            r#"invalid rate "18446744073709551616": too large"#
        );
        assert_eq!(rate_err("20000000tbit"), r#"invalid rate "20000000tbit": too large"#);
        assert_eq!(
            rate_err("99999999999999tbit"),
            r#"invalid rate "99999999999999tbit": too large"#
        );
        assert!(matches!(
            parse_rate("9999999999999999999999999999999999999999999999"),
            Err(UnitError::TooLarge { .. })
        ));
        assert!(matches!(parse_rate("3000000tibps"), Err(UnitError::TooLarge { .. })));
        assert_eq!(parse_rate("18446744.073709551615tbit"), Ok(u64::MAX));
    }

    #[test]
    fn rate_zero_is_rejected() {
        assert_eq!(rate_err("0"), r#"invalid rate "0": rate must be greater than zero"#);
        assert!(matches!(parse_rate("0mbit"), Err(UnitError::Zero { .. })));
        assert!(matches!(parse_rate("0.4bit"), Err(UnitError::Zero { .. })));
        assert_eq!(parse_rate("0.5bit"), Ok(1));
    }

    #[test]
    fn rate_error_messages() {
        assert_eq!(rate_err(""), r#"invalid rate "": empty"#);
        assert_eq!(rate_err("   "), r#"invalid rate "   ": empty"#);
        assert_eq!(rate_err("abc"), r#"invalid rate "abc": not a number"#);
        assert_eq!(rate_err("-5mbit"), r#"invalid rate "-5mbit": negative values are not allowed"#);
        assert_eq!(
            rate_err("5xyz"),
            "invalid rate \"5xyz\": unknown unit \"xyz\" (expected bit, kbit, mbit, gbit, \
             tbit, kibit, mibit, gibit, tibit, bps, kbps, mbps, gbps, tbps, kibps, mibps, \
             gibps, tibps)"
        );
    }

    #[test]
    fn rate_rejects_non_decimal_numbers() {
        for input in [
            "1e5", "1E5", "1e-3mbit", "0x10", "nan", "NaN", "inf", "infinity", "+5", ".", "1.2.3",
            "1..2", "mbit", "-", "-abc", "1,5mbit", "١",
        ] {
            assert!(
                matches!(parse_rate(input), Err(UnitError::NotANumber { .. })),
                "{input}: {:?}",
                parse_rate(input)
            );
        }
    }

    #[test]
    fn rate_unknown_units() {
        for (input, unit) in [
            ("5xyz", "xyz"),
            ("5k", "k"),
            ("5kb", "kb"),
            ("5mbits", "mbits"),
            ("5b", "b"),
            ("5s", "s"),
            ("5 mbit", " mbit"),
        ] {
            match parse_rate(input) {
                Err(UnitError::UnknownUnit { unit: got, .. }) => assert_eq!(got, unit),
                other => panic!("{input}: {other:?}"),
            }
        }
    }

    #[test]
    fn rate_negative_variants() {
        for input in ["-1", "-0", "-.5", "-5mbit", "-1xyz"] {
            assert!(matches!(parse_rate(input), Err(UnitError::Negative { .. })), "{input}");
        }
    }

    #[test]
    fn rate_bytes_conversion() {
        assert_eq!(rate_bytes_per_sec(8_000_000), 1_000_000);
        assert_eq!(rate_bytes_per_sec(15), 1);
        assert_eq!(rate_bytes_per_sec(parse_rate("1mbps").unwrap()), 1_000_000);
    }

    #[test]
    fn size_every_suffix() {
        let cases: &[(&str, u64)] = &[
            ("1", 1),
            ("1b", 1),
            ("1k", 1_024),
            ("1kb", 1_024),
            ("1m", 1_048_576),
            ("1mb", 1_048_576),
            ("1g", 1_073_741_824),
            ("1gb", 1_073_741_824),
            ("1kbit", 128),
            ("1mbit", 131_072),
            ("1gbit", 134_217_728),
        ];
        for &(input, bytes) in cases {
            assert_eq!(parse_size(input), Ok(bytes), "{input}");
        }
    }

    #[test]
    fn size_case_fractions_and_zero() {
        assert_eq!(parse_size("64K"), Ok(65_536));
        assert_eq!(parse_size("2MB"), Ok(2 << 20));
        assert_eq!(parse_size("1KBit"), Ok(128));
        assert_eq!(parse_size("1.5k"), Ok(1_536));
        assert_eq!(parse_size("0.5b"), Ok(1));
        assert_eq!(parse_size("0.0001k"), Ok(0));
        assert_eq!(parse_size("1.0001k"), Ok(1_024));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("0kb"), Ok(0));
        assert_eq!(parse_size("1500"), Ok(1_500));
    }

    #[test]
    fn size_errors() {
        let err = |s| parse_size(s).unwrap_err().to_string();
        assert_eq!(err(""), r#"invalid size "": empty"#);
        assert_eq!(err("x"), r#"invalid size "x": not a number"#);
        assert_eq!(err("-1k"), r#"invalid size "-1k": negative values are not allowed"#);
        assert_eq!(
            err("1t"),
            "invalid size \"1t\": unknown unit \"t\" \
             (expected b, k, kb, m, mb, g, gb, kbit, mbit, gbit)"
        );
        assert!(matches!(parse_size("1bps"), Err(UnitError::UnknownUnit { .. })));
        assert!(matches!(parse_size("1ms"), Err(UnitError::UnknownUnit { .. })));
        assert_eq!(
            err("18446744073709551616"),
            r#"invalid size "18446744073709551616": too large"#
        );
        assert!(matches!(parse_size("17179869184g"), Err(UnitError::TooLarge { .. })));
        assert_eq!(parse_size("17179869183g"), Ok(17_179_869_183 << 30));
    }

    #[test]
    fn time_suffixes() {
        let cases: &[(&str, u64)] = &[
            ("1s", 1_000_000_000),
            ("1sec", 1_000_000_000),
            ("1secs", 1_000_000_000),
            ("1ms", 1_000_000),
            ("1msec", 1_000_000),
            ("1msecs", 1_000_000),
            ("1us", 1_000),
            ("1usec", 1_000),
            ("1usecs", 1_000),
            ("1ns", 1),
            ("1.5S", 1_500_000_000),
            ("2.5MS", 2_500_000),
            ("0s", 0),
        ];
        for &(input, ns) in cases {
            assert_eq!(parse_time(input), Ok(ns), "{input}");
        }
    }

    #[test]
    fn time_requires_unit() {
        assert_eq!(
            parse_time("10").unwrap_err().to_string(),
            "invalid time \"10\": missing unit \
             (expected s, sec, secs, ms, msec, msecs, us, usec, usecs, ns)"
        );
        assert!(matches!(parse_time("10m"), Err(UnitError::UnknownUnit { .. })));
        assert!(matches!(parse_time("18446744074s"), Err(UnitError::TooLarge { .. })));
    }

    #[test]
    fn burst_times() {
        assert_eq!(parse_burst("200ms"), Ok(Burst::Time { ns: 200_000_000 }));
        assert_eq!(parse_burst("1.5s"), Ok(Burst::Time { ns: 1_500_000_000 }));
        assert_eq!(parse_burst("10ms"), Ok(Burst::Time { ns: 10_000_000 }));
        assert_eq!(parse_burst("10MS"), Ok(Burst::Time { ns: 10_000_000 }));
        assert_eq!(parse_burst("1s"), Ok(Burst::Time { ns: 1_000_000_000 }));
        assert_eq!(parse_burst("250us"), Ok(Burst::Time { ns: 250_000 }));
        assert_eq!(parse_burst("5usecs"), Ok(Burst::Time { ns: 5_000 }));
        assert_eq!(parse_burst("7ns"), Ok(Burst::Time { ns: 7 }));
    }

    #[test]
    fn burst_sizes() {
        assert_eq!(parse_burst("3000"), Ok(Burst::Bytes(3_000)));
        assert_eq!(parse_burst("64k"), Ok(Burst::Bytes(65_536)));
        assert_eq!(parse_burst("1mbit"), Ok(Burst::Bytes(131_072)));
        assert_eq!(parse_burst("1m"), Ok(Burst::Bytes(1_048_576)));
        assert_eq!(parse_burst("1mb"), Ok(Burst::Bytes(1_048_576)));
        assert_eq!(parse_burst("1b"), Ok(Burst::Bytes(1)));
        assert_eq!(parse_burst("0"), Ok(Burst::Bytes(0)));
        assert_eq!(parse_burst("1.5k"), Ok(Burst::Bytes(1_536)));
    }

    #[test]
    fn burst_errors() {
        let err = |s| parse_burst(s).unwrap_err().to_string();
        assert_eq!(err(""), r#"invalid burst "": empty"#);
        assert_eq!(err("fast"), r#"invalid burst "fast": not a number"#);
        assert_eq!(err("-10ms"), r#"invalid burst "-10ms": negative values are not allowed"#);
        assert_eq!(
            err("10min"),
            "invalid burst \"10min\": unknown unit \"min\" (expected b, k, kb, m, mb, g, gb, \
             kbit, mbit, gbit, s, sec, secs, ms, msec, msecs, us, usec, usecs, ns)"
        );
        assert_eq!(err("99999999999s"), r#"invalid burst "99999999999s": too large"#);
        assert!(matches!(parse_burst("1e3"), Err(UnitError::NotANumber { .. })));
    }

    #[test]
    fn format_rate_examples() {
        assert_eq!(format_rate(0), "0bit");
        assert_eq!(format_rate(100), "100bit");
        assert_eq!(format_rate(999), "999bit");
        assert_eq!(format_rate(1_000), "1Kbit");
        assert_eq!(format_rate(1_500), "1.5Kbit");
        assert_eq!(format_rate(1_000_000), "1Mbit");
        assert_eq!(format_rate(8_000_000), "8Mbit");
        assert_eq!(format_rate(1_234_567), "1.235Mbit");
        assert_eq!(format_rate(1_000_000_000), "1Gbit");
        assert_eq!(format_rate(2_500_000_000_000), "2.5Tbit");
        assert_eq!(format_rate(999_999_600), "1Gbit");
        assert_eq!(format_rate(u64::MAX), "18446744.074Tbit");
    }

    #[test]
    fn format_size_examples() {
        assert_eq!(format_size(0), "0b");
        assert_eq!(format_size(1_023), "1023b");
        assert_eq!(format_size(1_024), "1Kb");
        assert_eq!(format_size(1_536), "1.5Kb");
        assert_eq!(format_size(1_500), "1.465Kb");
        assert_eq!(format_size(65_536), "64Kb");
        assert_eq!(format_size(1_048_575), "1023.999Kb");
        assert_eq!(format_size(1_048_576), "1Mb");
        assert_eq!(format_size(1 << 30), "1024Mb");
    }

    #[test]
    fn format_duration_examples() {
        assert_eq!(format_duration_ns(0), "0ns");
        assert_eq!(format_duration_ns(250_000), "250us");
        assert_eq!(format_duration_ns(100_000_000), "100ms");
        assert_eq!(format_duration_ns(1_500_000_000), "1.5s");
        assert_eq!(format_duration_ns(3_600_000_000_000), "3600s");
        assert_eq!(Burst::Time { ns: 10_000_000 }.to_string(), "10ms");
        assert_eq!(Burst::Bytes(65_536).to_string(), "64Kb");
    }

    #[test]
    fn format_then_parse_round_trips() {
        for bits in [1, 999, 1_500, 8_000_000, 1_250_000_000, 40_000_000_000_000] {
            let text = format_rate(bits);
            assert_eq!(parse_rate(&text), Ok(bits), "{text}");
        }
        for bytes in [0, 1_023, 1_536, 65_536, 3 << 20] {
            let text = format_size(bytes);
            assert_eq!(parse_size(&text), Ok(bytes), "{text}");
        }
        for ns in [1, 250_000, 100_000_000, 1_500_000_000] {
            let text = format_duration_ns(ns);
            assert_eq!(parse_burst(&text), Ok(Burst::Time { ns }), "{text}");
        }
    }
}
