//! RFC 3339 timestamps in UTC: the state file writes one format
//! (`2026-04-14T10:11:12.345Z`) and reads back RFC 3339 with any offset.
//! The calendar and the grammar are the `time` crate's.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

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
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(self.unix_ms);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
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
pub struct TimestampParseError(Cow<'static, str>);

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

impl From<time::error::Parse> for TimestampParseError {
    fn from(e: time::error::Parse) -> TimestampParseError {
        use time::error::{Parse, ParseFromDescription, TryFromParsed};
        TimestampParseError(match e {
            Parse::ParseFromDescription(ParseFromDescription::InvalidComponent(part)) => {
                format!("bad {part}").into()
            }
            Parse::ParseFromDescription(ParseFromDescription::InvalidLiteral { .. }) => {
                "expected '-' between the date's fields, ':' between the time's".into()
            }
            Parse::ParseFromDescription(ParseFromDescription::UnexpectedTrailingCharacters {
                ..
            }) => "expected 'Z' or an offset like +02:00 at the end".into(),
            Parse::TryFromParsed(TryFromParsed::ComponentRange(range)) => {
                format!("{} out of range", range.name()).into()
            }
            other => other.to_string().into(),
        })
    }
}

impl FromStr for Timestamp {
    type Err = TimestampParseError;

    fn from_str(s: &str) -> Result<Timestamp, TimestampParseError> {
        let err = |what: &'static str| TimestampParseError(what.into());
        // `time` takes any one byte between the date and the time; RFC 3339
        // names 'T' (either case) and allows a space, which is what loads.
        if !s.as_bytes().get(10).is_some_and(|c| b"Tt ".contains(c)) {
            return Err(err("expected 'T' after the date"));
        }
        // A leap second has always loaded as the next minute's first second
        // (23:59:60Z is 00:00:00Z of the next day). `time` reads it as
        // 23:59:59.999999999 and only at a month's end, so read :59 and add
        // the second back.
        let (text, leap_ms) = match s.get(17..19) {
            Some("60") => (Cow::Owned(format!("{}59{}", &s[..17], &s[19..])), 1000),
            _ => (Cow::Borrowed(s), 0),
        };
        let t = OffsetDateTime::parse(&text, &Rfc3339)?;
        let ms = t.unix_timestamp_nanos().div_euclid(1_000_000) + leap_ms;
        match i64::try_from(ms) {
            Ok(ms) if (MIN_MS..=MAX_MS).contains(&ms) => Ok(Timestamp { unix_ms: ms }),
            _ => Err(err("outside the years 0000 to 9999 in UTC")),
        }
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
        // 1900-01-01, 25 567 days before the epoch.
        let start = -25_567;
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
    fn reads_a_leap_second_as_the_next_minute_and_only_t_or_space_between() {
        let next = |a: &str, b: &str| {
            assert_eq!(a.parse::<Timestamp>().unwrap(), b.parse().unwrap(), "{a}");
        };
        next("2026-04-14T23:59:60Z", "2026-04-15T00:00:00.000Z");
        next("2026-04-14T10:11:60.25Z", "2026-04-14T10:12:00.250Z");
        next("2026-04-15T01:59:60+02:00", "2026-04-15T00:00:00.000Z");
        assert!("9999-12-31T23:59:60Z".parse::<Timestamp>().is_err());
        for text in ["2026-04-14x10:11:12Z", "2026-04-14é10:11:12Z", "2026-04-14"] {
            let err = text.parse::<Timestamp>().unwrap_err().to_string();
            assert!(
                err.ends_with("expected 'T' after the date"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn errors_name_the_part_that_is_wrong() {
        for (text, part) in [
            ("2026-13-01T00:00:00Z", "month out of range"),
            ("2026-04-14T24:00:00Z", "hour out of range"),
            ("2026-04-14T10:11:12.Z", "bad subsecond"),
            ("2026-04-14T10:11:12+24:00", "bad offset hour"),
            ("2026-04-14T10:11:12Zjunk", "at the end"),
            (
                "0000-01-01T00:00:00+00:01",
                "outside the years 0000 to 9999 in UTC",
            ),
        ] {
            let err = text.parse::<Timestamp>().unwrap_err().to_string();
            assert!(err.ends_with(part), "{text}: {err}");
        }
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
