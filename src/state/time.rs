//! RFC 3339 timestamps in UTC, written by hand: the state file needs one
//! format (`2026-04-14T10:11:12.345Z`) and reads back RFC 3339 with any
//! offset, which is less code than a date-time crate is worth here.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const MS_PER_DAY: i64 = 86_400_000;
/// 0000-01-01T00:00:00Z, the first instant RFC 3339's four-digit year can hold.
const MIN_MS: i64 = -719_528 * MS_PER_DAY;
/// 9999-12-31T23:59:59.999Z, the last.
const MAX_MS: i64 = 2_932_897 * MS_PER_DAY - 1;

/// A point in time with millisecond precision, written as RFC 3339 in UTC
/// (`2026-04-14T10:11:12.345Z`) and read from RFC 3339 with any offset.
///
/// ```
/// use chainctl_core::state::Timestamp;
///
/// let t: Timestamp = "2026-04-14T12:11:12.5+02:00".parse().unwrap();
/// assert_eq!(t.to_string(), "2026-04-14T10:11:12.500Z");
/// assert_eq!(Timestamp::from_unix_millis(0).to_string(), "1970-01-01T00:00:00.000Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    unix_ms: i64,
}

impl Timestamp {
    /// The current time from the system clock.
    ///
    /// ```
    /// use chainctl_core::state::Timestamp;
    /// assert!(Timestamp::now().unix_millis() > 1_700_000_000_000);
    /// ```
    pub fn now() -> Timestamp {
        Timestamp::from_system_time(SystemTime::now())
    }

    /// Converts a [`SystemTime`], truncating to milliseconds and clamping to
    /// the years 0000..=9999 that RFC 3339 can write.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use chainctl_core::state::Timestamp;
    /// let t = Timestamp::from_system_time(UNIX_EPOCH + Duration::from_millis(1500));
    /// assert_eq!(t.unix_millis(), 1500);
    /// ```
    pub fn from_system_time(t: SystemTime) -> Timestamp {
        let ms = match t.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            Err(before) => {
                let d = before.duration();
                // Round towards the past so that truncation is the same on
                // both sides of the epoch.
                let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
                let partial = d.subsec_nanos() % 1_000_000 != 0;
                -ms - i64::from(partial)
            }
        };
        Timestamp::from_unix_millis(ms)
    }

    /// Milliseconds since 1970-01-01T00:00:00Z, clamped to the years
    /// 0000..=9999.
    ///
    /// ```
    /// use chainctl_core::state::Timestamp;
    /// assert_eq!(Timestamp::from_unix_millis(86_400_000).to_string(), "1970-01-02T00:00:00.000Z");
    /// ```
    pub fn from_unix_millis(ms: i64) -> Timestamp {
        Timestamp {
            unix_ms: ms.clamp(MIN_MS, MAX_MS),
        }
    }

    /// Milliseconds since 1970-01-01T00:00:00Z (negative before it).
    ///
    /// ```
    /// use chainctl_core::state::Timestamp;
    /// let t: Timestamp = "1970-01-01T00:00:01Z".parse().unwrap();
    /// assert_eq!(t.unix_millis(), 1000);
    /// ```
    pub fn unix_millis(self) -> i64 {
        self.unix_ms
    }

    /// The same instant as a [`SystemTime`].
    ///
    /// ```
    /// use std::time::UNIX_EPOCH;
    /// use chainctl_core::state::Timestamp;
    /// assert_eq!(Timestamp::from_unix_millis(0).to_system_time(), UNIX_EPOCH);
    /// ```
    pub fn to_system_time(self) -> SystemTime {
        let d = Duration::from_millis(self.unix_ms.unsigned_abs());
        if self.unix_ms >= 0 {
            UNIX_EPOCH + d
        } else {
            UNIX_EPOCH - d
        }
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later
    /// (the wall clock can step backwards).
    ///
    /// ```
    /// use chainctl_core::state::Timestamp;
    /// let a = Timestamp::from_unix_millis(1_000);
    /// let b = Timestamp::from_unix_millis(1_250);
    /// assert_eq!(b.millis_since(a), 250);
    /// assert_eq!(a.millis_since(b), 0);
    /// ```
    pub fn millis_since(self, earlier: Timestamp) -> u64 {
        u64::try_from(self.unix_ms - earlier.unix_ms).unwrap_or(0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.unix_ms.div_euclid(MS_PER_DAY);
        let ms_of_day = self.unix_ms.rem_euclid(MS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let secs = ms_of_day / 1000;
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            ms_of_day % 1000
        )
    }
}

/// Why a string is not an RFC 3339 timestamp.
///
/// ```
/// use chainctl_core::state::Timestamp;
/// let err = "2026-02-30T00:00:00Z".parse::<Timestamp>().unwrap_err();
/// assert!(err.to_string().ends_with("day out of range"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampParseError(&'static str);

impl fmt::Display for TimestampParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not an RFC 3339 timestamp like 2026-04-14T10:11:12.345Z: {}",
            self.0
        )
    }
}

impl std::error::Error for TimestampParseError {}

impl FromStr for Timestamp {
    type Err = TimestampParseError;

    fn from_str(s: &str) -> Result<Timestamp, TimestampParseError> {
        let err = TimestampParseError;
        let b = s.as_bytes();
        if b.len() < 20 {
            return Err(err("too short"));
        }
        let num = |range: std::ops::Range<usize>, what: &'static str| -> Result<i64, _> {
            let part = &b[range];
            if part.iter().all(u8::is_ascii_digit) {
                Ok(part.iter().fold(0i64, |n, c| n * 10 + i64::from(c - b'0')))
            } else {
                Err(err(what))
            }
        };
        let sep = |i: usize, want: &[u8], what: &'static str| {
            if want.contains(&b[i]) {
                Ok(())
            } else {
                Err(err(what))
            }
        };
        let year = num(0..4, "bad year")?;
        sep(4, b"-", "expected '-' after the year")?;
        let month = num(5..7, "bad month")?;
        sep(7, b"-", "expected '-' after the month")?;
        let day = num(8..10, "bad day")?;
        sep(10, b"Tt ", "expected 'T' after the date")?;
        let hour = num(11..13, "bad hour")?;
        sep(13, b":", "expected ':' after the hour")?;
        let minute = num(14..16, "bad minute")?;
        sep(16, b":", "expected ':' after the minute")?;
        let second = num(17..19, "bad second")?;
        if !(1..=12).contains(&month) {
            return Err(err("month out of range"));
        }
        if day < 1 || day > days_in_month(year, month) {
            return Err(err("day out of range"));
        }
        if hour > 23 || minute > 59 || second > 60 {
            return Err(err("time of day out of range"));
        }
        let mut i = 19;
        let mut millis = 0;
        if b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 3 {
                    millis = millis * 10 + i64::from(b[i] - b'0');
                }
                i += 1;
            }
            if i == start {
                return Err(err("no digits after '.'"));
            }
            for _ in (i - start)..3 {
                millis *= 10;
            }
        }
        let offset_minutes = match b.get(i) {
            Some(b'Z' | b'z') if i + 1 == b.len() => 0,
            Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() => {
                sep(i + 3, b":", "expected ':' in the offset")?;
                let oh = num(i + 1..i + 3, "bad offset hour")?;
                let om = num(i + 4..i + 6, "bad offset minute")?;
                if oh > 23 || om > 59 {
                    return Err(err("offset out of range"));
                }
                let total = oh * 60 + om;
                if sign == b'-' { -total } else { total }
            }
            _ => return Err(err("expected 'Z' or an offset like +02:00 at the end")),
        };
        let ms = days_from_civil(year, month, day) * MS_PER_DAY
            + ((hour * 60 + minute - offset_minutes) * 60 + second) * 1000
            + millis;
        if !(MIN_MS..=MAX_MS).contains(&ms) {
            return Err(err("outside the years 0000 to 9999 in UTC"));
        }
        Ok(Timestamp { unix_ms: ms })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let s = Cow::<'de, str>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Timestamp {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339; written in UTC with milliseconds, e.g. 2026-04-14T10:11:12.345Z."
        })
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil calendar algorithms
// (https://howardhinnant.github.io/date_algorithms.html), proleptic Gregorian.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (1_776_161_472_345, "2026-04-14T10:11:12.345Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (MIN_MS, "0000-01-01T00:00:00.000Z"),
            (MAX_MS, "9999-12-31T23:59:59.999Z"),
        ];
        for (ms, text) in cases {
            let t = Timestamp::from_unix_millis(ms);
            assert_eq!(t.to_string(), text);
            assert_eq!(text.parse::<Timestamp>().unwrap(), t, "{text}");
        }
    }

    #[test]
    fn round_trips_every_day_of_four_centuries() {
        let start = days_from_civil(1900, 1, 1);
        for day in start..start + 146_097 {
            let t = Timestamp::from_unix_millis(day * MS_PER_DAY + 45_296_789);
            assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
        }
    }

    #[test]
    fn parses_offsets_and_fractions() {
        let utc: Timestamp = "2026-04-14T10:11:12.345Z".parse().unwrap();
        for text in [
            "2026-04-14T12:11:12.345+02:00",
            "2026-04-14T05:41:12.345-04:30",
            "2026-04-14t10:11:12.345999z",
            "2026-04-14 10:11:12.345Z",
        ] {
            assert_eq!(text.parse::<Timestamp>().unwrap(), utc, "{text}");
        }
        let whole: Timestamp = "2026-04-14T10:11:12Z".parse().unwrap();
        assert_eq!(whole.unix_millis() % 1000, 0);
        let tenth: Timestamp = "2026-04-14T10:11:12.3Z".parse().unwrap();
        assert_eq!(tenth.unix_millis() % 1000, 300);
    }

    #[test]
    fn rejects_malformed() {
        for text in [
            "",
            "2026-04-14",
            "2026-04-14T10:11:12",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-04-14T24:00:00Z",
            "2026-04-14T10:11:12.Z",
            "2026-04-14T10:11:12+0200",
            "2026-04-14T10:11:12Zjunk",
            "２０２６-04-14T10:11:12Z",
            "0000-01-01T00:00:00+00:01",
        ] {
            assert!(text.parse::<Timestamp>().is_err(), "{text:?} parsed");
        }
        assert!("2024-02-29T00:00:00Z".parse::<Timestamp>().is_ok());
    }

    #[test]
    fn system_time_before_epoch_truncates_towards_the_past() {
        let t = Timestamp::from_system_time(UNIX_EPOCH - Duration::from_micros(1500));
        assert_eq!(t.unix_millis(), -2);
        assert_eq!(
            Timestamp::from_unix_millis(-2).to_system_time(),
            UNIX_EPOCH - Duration::from_millis(2)
        );
    }
}
