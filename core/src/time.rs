//! Timestamps as milliseconds since the Unix epoch.
//!
//! The core never reads a clock: every time comes in with an event or as a `now` argument, so the
//! same inputs always give the same state. Parsing and formatting live here (and not in a date
//! crate) because the browser half formats times too, and both halves must print the same text or
//! hydration would see a mismatch.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Millis(pub i64);

impl Millis {
    /// Parses RFC 3339 (`2026-11-27T08:46:02Z`, `2026-11-27T09:46:02.5+01:00`).
    pub fn parse_rfc3339(s: &str) -> Result<Millis, String> {
        let bad = |what: &str| format!("`{s}` is not an RFC 3339 time ({what})");
        let b = s.as_bytes();
        if b.len() < 20 {
            return Err(bad("too short"));
        }
        let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
            let part = &s[range];
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad("expected digits"));
            }
            part.parse::<i64>().map_err(|_| bad("expected digits"))
        };
        if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
            return Err(bad("expected YYYY-MM-DDTHH:MM:SS"));
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return Err(bad("no such date"));
        }
        if hour > 23 || minute > 59 || second > 60 {
            return Err(bad("no such time of day"));
        }
        let mut rest = &s[19..];
        let mut millis = 0i64;
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad("empty fraction"));
            }
            for (i, c) in frac[..digits].bytes().take(3).enumerate() {
                millis += i64::from(c - b'0') * [100, 10, 1][i];
            }
            rest = &frac[digits..];
        }
        let offset_minutes = match rest {
            "Z" | "z" => 0,
            _ if rest.len() == 6 && matches!(&rest[..1], "+" | "-") && &rest[3..4] == ":" => {
                let sign = if rest.starts_with('-') { -1 } else { 1 };
                let h: i64 = rest[1..3].parse().map_err(|_| bad("bad offset"))?;
                let m: i64 = rest[4..6].parse().map_err(|_| bad("bad offset"))?;
                sign * (h * 60 + m)
            }
            _ => return Err(bad("expected Z or an offset like +01:00")),
        };
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_minutes * 60;
        Ok(Millis(secs * 1000 + millis))
    }

    /// A timestamp as event logs write them: RFC 3339, or ISO 8601 with a space, an offset
    /// without its colon (`+0100`, `+01`), or none at all (then it is taken as UTC, as pandas and
    /// pm4py take a log that names no zone).
    pub fn parse_log_time(s: &str) -> Result<Millis, String> {
        let t = s.trim();
        let b = t.as_bytes();
        let date_only = b.len() == 10 && b.get(4) == Some(&b'-') && b.get(7) == Some(&b'-');
        let mut norm = if date_only { format!("{t}T00:00:00") } else { t.to_string() };
        // The zone starts after the seconds and their fraction.
        if let Some(rest) = norm.get(19..) {
            let at = norm.len() - rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit()).len();
            let zone = norm[at..].to_string();
            let fixed = match zone.as_str() {
                "" => "Z".to_string(),
                z if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => format!("{}:{}", &z[..3], &z[3..]),
                z if z.len() == 3 && (z.starts_with('+') || z.starts_with('-')) => format!("{z}:00"),
                z => z.to_string(),
            };
            norm.replace_range(at.., &fixed);
        }
        Millis::parse_rfc3339(&norm).map_err(|_| format!("`{s}` is not a time (expected ISO 8601, e.g. 2024-03-01T10:15:00+01:00)"))
    }

    /// `2026-11-27T08:46:02.123Z`
    pub fn to_rfc3339(self) -> String {
        let (date, h, m, s, ms) = self.split();
        format!("{date}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
    }

    /// `2026-11-27 08:46:02` (UTC), for people.
    pub fn to_display(self) -> String {
        let (date, h, m, s, _) = self.split();
        format!("{date} {h:02}:{m:02}:{s:02}")
    }

    /// How long before `now` this was, in words: `3 min ago`, `just now`, `in 2 min`.
    pub fn ago(self, now: Millis) -> String {
        let d = now.0 - self.0;
        let s = d.abs() / 1000;
        let words = match s {
            0 => return "just now".into(),
            s if s < 60 => format!("{s} s"),
            s if s < 3600 => format!("{} min", s / 60),
            s if s < 86_400 => format!("{} h", s / 3600),
            s if s < 2 * 86_400 => "1 day".into(),
            s => format!("{} days", s / 86_400),
        };
        if d > 0 {
            format!("{words} ago")
        } else {
            format!("in {words}")
        }
    }

    fn split(self) -> (String, i64, i64, i64, i64) {
        let ms = self.0.rem_euclid(1000);
        let secs = self.0.div_euclid(1000);
        let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, mo, d) = civil_from_days(days);
        (format!("{y:04}-{mo:02}-{d:02}"), sod / 3600, sod % 3600 / 60, sod % 60, ms)
    }
}

/// A zone's offset from UTC in minutes, as people write it: `UTC+01:00`, `UTC−05:30`, `UTC`.
pub fn offset_label(minutes: i64) -> String {
    if minutes == 0 {
        return "UTC".into();
    }
    let sign = if minutes < 0 { '−' } else { '+' };
    format!("UTC{sign}{:02}:{:02}", minutes.abs() / 60, minutes.abs() % 60)
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// A span of time, written in flow files as `90s`, `10m`, `4h`, `2d` or combined (`1h30m`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Span(pub i64);

impl Span {
    pub fn parse(s: &str) -> Result<Span, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty duration".into());
        }
        let mut total = 0i64;
        let mut digits = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit = match c {
                's' => 1_000,
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => 86_400_000,
                _ => return Err(format!("`{s}`: unknown unit `{c}` (use s, m, h or d)")),
            };
            let n: i64 = digits.parse().map_err(|_| format!("`{s}`: a number must come before `{c}`"))?;
            total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(|| format!("`{s}` is too long"))?;
            digits.clear();
        }
        if !digits.is_empty() {
            return Err(format!("`{s}`: `{digits}` needs a unit (s, m, h or d)"));
        }
        if total == 0 {
            return Err(format!("`{s}` is zero"));
        }
        Ok(Span(total))
    }

    /// Compact text for people: `9m 58s`, `3h 59m`, `42s`.
    pub fn human(self) -> String {
        let secs = self.0.max(0) / 1000;
        match secs {
            s if s < 60 => format!("{s}s"),
            s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
            s if s < 86_400 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
            s => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        }
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Days since 1970-01-01 for a proleptic Gregorian date; eras of 400 years keep it branch-free.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_ago_read_as_words() {
        assert_eq!(offset_label(60), "UTC+01:00");
        assert_eq!(offset_label(-330), "UTC−05:30");
        assert_eq!(offset_label(0), "UTC");
        assert_eq!(Millis(0).ago(Millis(180_000)), "3 min ago");
        assert_eq!(Millis(0).ago(Millis(500)), "just now");
        assert_eq!(Millis(0).ago(Millis(45_000)), "45 s ago");
        assert_eq!(Millis(0).ago(Millis(7_300_000)), "2 h ago");
        assert_eq!(Millis(0).ago(Millis(5 * 86_400_000)), "5 days ago");
        assert_eq!(Millis(120_000).ago(Millis(0)), "in 2 min");
    }

    #[test]
    fn parses_utc_offsets_and_fractions() {
        assert_eq!(Millis::parse_rfc3339("1970-01-01T00:00:00Z"), Ok(Millis(0)));
        assert_eq!(Millis::parse_rfc3339("1970-01-01T00:00:01.5Z"), Ok(Millis(1500)));
        assert_eq!(Millis::parse_rfc3339("1970-01-01T01:00:00+01:00"), Ok(Millis(0)));
        assert_eq!(Millis::parse_rfc3339("2026-11-27T08:46:02.123456Z").unwrap().to_rfc3339(), "2026-11-27T08:46:02.123Z");
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for bad in ["", "yesterday", "2026-02-30T00:00:00Z", "2026-11-27T25:00:00Z", "2026-11-27T08:46:02", "2026-11-27T08:46:02+0100"] {
            assert!(Millis::parse_rfc3339(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn reads_log_times_as_process_mining_tools_write_them() {
        let utc = Millis::parse_rfc3339("2024-03-01T10:15:00Z").unwrap();
        for s in ["2024-03-01T10:15:00Z", "2024-03-01 10:15:00", "2024-03-01T11:15:00+01:00", "2024-03-01 11:15:00+0100", "2024-03-01T11:15:00+01", "2024-03-01T10:15:00.000"] {
            assert_eq!(Millis::parse_log_time(s), Ok(utc), "{s}");
        }
        assert_eq!(Millis::parse_log_time("2024-03-01T05:15:00.250-05:00"), Ok(Millis(utc.0 + 250)));
        assert_eq!(Millis::parse_log_time("2024-03-01"), Ok(Millis(utc.0 - (10 * 60 + 15) * 60_000)));
        for bad in ["", "01/03/2024 10:15", "2024-03-01T10:15", "tomorrow"] {
            assert!(Millis::parse_log_time(bad).unwrap_err().contains("is not a time"), "{bad}");
        }
    }

    #[test]
    fn round_trips_across_centuries() {
        for ms in [-86_400_000_123i64, 0, 951_782_400_000, 4_102_444_800_000, 1_795_769_162_007] {
            let m = Millis(ms);
            assert_eq!(Millis::parse_rfc3339(&m.to_rfc3339()), Ok(m));
        }
    }

    #[test]
    fn spans() {
        assert_eq!(Span::parse("10m"), Ok(Span(600_000)));
        assert_eq!(Span::parse("1h30m"), Ok(Span(5_400_000)));
        assert!(Span::parse("10").is_err());
        assert!(Span::parse("10y").is_err());
        assert!(Span::parse("0s").is_err());
        assert_eq!(Span(598_000).human(), "9m 58s");
    }
}
