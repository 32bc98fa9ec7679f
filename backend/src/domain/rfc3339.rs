//! Times as the API writes them: RFC 3339 in UTC, as chrono's own serializer writes
//! them (`2026-12-01T19:02:03.120500Z`: seconds, then 3, 6 or 9 digits of fraction
//! when there is one), but written straight into a small buffer. chrono writes
//! through `fmt`, and serde_json takes that a character at a time through its string
//! escaper: a page of 50 orders holds some 200 times, and writing them was a sixth of
//! the page's work.
//!
//! For fields: `#[serde(serialize_with = "rfc3339::time")]`, or `rfc3339::optional`.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::Serializer;

/// The longest form: `YYYY-MM-DDTHH:MM:SS.fffffffffZ`.
const LONGEST: usize = 30;

/// `t` as chrono would write it, into `buf`; `None` for what chrono writes in another
/// shape (a year outside 0–9999, a leap second), which is then left to chrono.
fn write(t: &DateTime<Utc>, buf: &mut [u8; LONGEST]) -> Option<usize> {
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    fn digits(buf: &mut [u8], at: usize, value: u32, width: usize) {
        let mut value = value;
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    digits(buf, 0, year, 4);
    buf[4] = b'-';
    digits(buf, 5, t.month(), 2);
    buf[7] = b'-';
    digits(buf, 8, t.day(), 2);
    buf[10] = b'T';
    digits(buf, 11, t.hour(), 2);
    buf[13] = b':';
    digits(buf, 14, t.minute(), 2);
    buf[16] = b':';
    digits(buf, 17, t.second(), 2);
    let mut end = 19;
    let fraction = if nanos == 0 {
        None
    } else if nanos.is_multiple_of(1_000_000) {
        Some((nanos / 1_000_000, 3))
    } else if nanos.is_multiple_of(1_000) {
        Some((nanos / 1_000, 6))
    } else {
        Some((nanos, 9))
    };
    if let Some((value, width)) = fraction {
        buf[end] = b'.';
        digits(buf, end + 1, value, width);
        end += 1 + width;
    }
    buf[end] = b'Z';
    Some(end + 1)
}

/// Serializes a time as the API writes times.
pub fn time<S: Serializer>(t: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; LONGEST];
    match write(t, &mut buf) {
        Some(len) => {
            let text = std::str::from_utf8(&buf[..len]).expect("only ASCII digits and marks");
            serializer.serialize_str(text)
        }
        None => serializer.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

/// [`time`], for a time that may be missing (`null`).
pub fn optional<S: Serializer>(
    t: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => time(t, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[derive(serde::Serialize)]
    struct Ours {
        #[serde(serialize_with = "time")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "optional")]
        maybe: Option<DateTime<Utc>>,
    }

    #[derive(serde::Serialize)]
    struct Chronos {
        at: DateTime<Utc>,
        maybe: Option<DateTime<Utc>>,
    }

    fn same_as_chrono(at: DateTime<Utc>, maybe: Option<DateTime<Utc>>) {
        let ours = serde_json::to_string(&Ours { at, maybe }).unwrap();
        let chronos = serde_json::to_string(&Chronos { at, maybe }).unwrap();
        assert_eq!(ours, chronos);
    }

    #[test]
    fn times_are_written_as_chrono_writes_them() {
        let base = Utc.with_ymd_and_hms(2026, 12, 1, 9, 5, 7).unwrap();
        for nanos in [
            0,
            1,
            999,
            1_000,
            120_500_000,
            120_000,
            100_000_000,
            999_999_999,
            5_000,
            7,
        ] {
            let at = base + chrono::Duration::nanoseconds(nanos);
            same_as_chrono(at, Some(at));
            same_as_chrono(at, None);
        }
        for (y, mo, d, h, mi, s) in [
            (1, 1, 1, 0, 0, 0),
            (999, 2, 3, 4, 5, 6),
            (9999, 12, 31, 23, 59, 59),
            (2024, 2, 29, 12, 0, 0),
        ] {
            same_as_chrono(Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap(), None);
        }
        // The shapes left to chrono.
        same_as_chrono(Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap(), None);
        same_as_chrono(Utc.with_ymd_and_hms(-5, 1, 1, 0, 0, 0).unwrap(), None);
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        same_as_chrono(leap, Some(leap));
    }

    #[test]
    fn any_time_of_these_centuries_is_written_as_chrono_writes_it() {
        // A spread of instants, nanoseconds included, from 1900 to 2200.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let seconds = (state % 9_467_280_000) as i64 - 2_208_988_800;
            let nanos = match state % 4 {
                0 => 0,
                1 => (state >> 8) as u32 % 1_000 * 1_000_000,
                2 => (state >> 8) as u32 % 1_000_000 * 1_000,
                _ => (state >> 8) as u32 % 1_000_000_000,
            };
            let at = DateTime::from_timestamp(seconds, nanos).unwrap();
            same_as_chrono(at, Some(at));
        }
    }
}
