//! Durations written as operators write them (`30s`, `5m`, `100ms`), read at compile time.
//!
//! Every default duration of a setting is declared once, as the text the command line shows
//! (`default_value = CACHE_TTL`) and the README documents; the `Default` impls that need the
//! same value as a [`Duration`] read that text with [`parse`] instead of writing it a second time.

use std::time::Duration;

/// Reads `<whole number><unit>`, the unit one of `ms`, `s`, `m`, `min`, `h`, `d` (a subset of
/// what the command line's `humantime` accepts, with the same meaning).
///
/// # Panics
/// On any other text: in a `const` the build fails, which is where a mistyped default belongs.
pub const fn parse(text: &str) -> Duration {
    let bytes = text.as_bytes();
    let mut value: u64 = 0;
    let mut i = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        value = value * 10 + (bytes[i] - b'0') as u64;
        i += 1;
    }
    assert!(i > 0, "a duration starts with a number");
    let (_, unit) = bytes.split_at(i);
    let millis_per_unit: u64 = if same(unit, b"ms") {
        1
    } else if same(unit, b"s") {
        1_000
    } else if same(unit, b"m") || same(unit, b"min") {
        60_000
    } else if same(unit, b"h") {
        3_600_000
    } else if same(unit, b"d") {
        86_400_000
    } else {
        panic!("a duration ends with ms, s, m, min, h or d")
    };
    Duration::from_millis(value * millis_per_unit)
}

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_operators_write() {
        const FIVE_MINUTES: Duration = parse("5m");
        assert_eq!(FIVE_MINUTES, Duration::from_secs(300));
        for (text, expected) in [
            ("100ms", Duration::from_millis(100)),
            ("0s", Duration::ZERO),
            ("60s", Duration::from_secs(60)),
            ("10m", Duration::from_secs(600)),
            ("1min", Duration::from_secs(60)),
            ("6h", Duration::from_secs(6 * 3600)),
            ("24h", Duration::from_secs(86_400)),
            ("7d", Duration::from_secs(7 * 86_400)),
        ] {
            assert_eq!(parse(text), expected, "{text}");
        }
    }

    #[test]
    #[should_panic(expected = "ends with")]
    fn refuses_unknown_units() {
        let _ = parse("5y");
    }

    #[test]
    #[should_panic(expected = "starts with a number")]
    fn refuses_text_without_a_number() {
        let _ = parse("s");
    }
}
