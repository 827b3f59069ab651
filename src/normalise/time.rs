//! Calendar arithmetic, time zones and cached RFC 3339 formatting for the normaliser.
//!
//! Rendering happens for every event, so nothing here calls into a time-zone database
//! or a date formatter per message: dates are plain integer arithmetic, the formatted
//! `YYYY-MM-DDTHH:MM:SS` prefix is cached per second, and a local offset is looked up
//! at most once per quarter-hour of wall time.

use std::str::FromStr;

use chrono::{DateTime, FixedOffset, Local, Offset, TimeZone};

pub(crate) const NS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;
/// Offsets change (DST, zone changes) on quarter-hour boundaries in every current zone,
/// so one offset per quarter-hour of wall time is exact.
const TZ_CACHE_SECS: i64 = 900;

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub(crate) fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// The year for a timestamp that has none (RFC 3164, most log files): the latest one
/// that does not put the line more than a day after it was received (read). A December
/// line read in January is last year's; last month's log replayed in December is this
/// year's, not next year's; a line a sender stamped a few hours ahead (clock skew, a
/// zone mix-up) stays in the current year. `received_wall` is the receive time as
/// seconds of wall time in the source's zone.
pub(crate) fn nearest_year(
    received_wall: i64,
    (mon, day, h, mi, s): (u32, u32, u32, u32, u32),
) -> i32 {
    let (ry, _, _) = civil_from_days(received_wall.div_euclid(SECS_PER_DAY));
    let mut found = None;
    if (1..=12).contains(&mon) && h < 24 && mi < 60 && s < 60 {
        // Newest first; February 29th may need to go back to the last leap year.
        for y in (ry - 8..=ry + 1).rev() {
            if day == 0 || day > days_in_month(y, mon) {
                continue;
            }
            let t = days_from_civil(y, mon, day) * SECS_PER_DAY
                + i64::from(h) * 3600
                + i64::from(mi) * 60
                + i64::from(s);
            if t <= received_wall + SECS_PER_DAY {
                found = Some(y);
                break;
            }
        }
    }
    // An impossible date gets the received year; the parser then rejects it.
    i32::try_from(found.unwrap_or(ry)).unwrap_or(1970)
}

/// Time zone for timestamps that carry none (RFC 3164), per listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeZoneSpec {
    /// Coordinated Universal Time.
    Utc,
    /// The host's zone (TZ / `/etc/localtime`), DST included.
    Local,
    /// A fixed offset from UTC.
    Fixed(FixedOffset),
}

/// Error for an unparsable time zone.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid time zone {0:?}: expected \"UTC\", \"local\" or an offset like \"+02:00\"")]
pub struct TimeZoneError(pub String);

impl FromStr for TimeZoneSpec {
    type Err = TimeZoneError;

    /// `UTC` (or `Z`), `local`, or `±HH:MM` / `±HHMM` / `±HH`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || TimeZoneError(s.to_string());
        if s.eq_ignore_ascii_case("utc") || s.eq_ignore_ascii_case("z") {
            return Ok(TimeZoneSpec::Utc);
        }
        if s.eq_ignore_ascii_case("local") {
            return Ok(TimeZoneSpec::Local);
        }
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'+') => (1, &s[1..]),
            Some(b'-') => (-1, &s[1..]),
            _ => return Err(err()),
        };
        let digits: &[u8] = rest.as_bytes();
        let (hh, mm) = match digits {
            [a, b] => ([*a, *b], [b'0', b'0']),
            [a, b, c, d] => ([*a, *b], [*c, *d]),
            [a, b, b':', c, d] => ([*a, *b], [*c, *d]),
            _ => return Err(err()),
        };
        let two = |p: [u8; 2]| -> Option<i32> {
            if p.iter().all(u8::is_ascii_digit) {
                Some(i32::from(p[0] - b'0') * 10 + i32::from(p[1] - b'0'))
            } else {
                None
            }
        };
        let (h, m) = (two(hh).ok_or_else(err)?, two(mm).ok_or_else(err)?);
        if h > 23 || m > 59 {
            return Err(err());
        }
        FixedOffset::east_opt(sign * (h * 3600 + m * 60))
            .map(TimeZoneSpec::Fixed)
            .ok_or_else(err)
    }
}

/// A listener's zone with one-entry caches, so `Local` costs a zone lookup only when
/// the quarter-hour changes.
#[derive(Clone, Debug)]
pub(crate) struct ZoneCache {
    spec: TimeZoneSpec,
    wall_key: i64,
    wall_offset: i32,
    utc_key: i64,
    utc_offset: i32,
}

impl ZoneCache {
    pub(crate) fn new(spec: TimeZoneSpec) -> ZoneCache {
        ZoneCache {
            spec,
            wall_key: i64::MIN,
            wall_offset: 0,
            utc_key: i64::MIN,
            utc_offset: 0,
        }
    }

    /// Offset (seconds east of UTC) in force at this wall-clock time (seconds, as if it
    /// were UTC). Ambiguous times take the earlier offset; times in a DST gap the
    /// offset in force just before.
    pub(crate) fn offset_for_wall(&mut self, wall: i64) -> i32 {
        match self.spec {
            TimeZoneSpec::Utc => 0,
            TimeZoneSpec::Fixed(o) => o.local_minus_utc(),
            TimeZoneSpec::Local => {
                let key = wall.div_euclid(TZ_CACHE_SECS);
                if key != self.wall_key {
                    self.wall_offset = local_offset_for_wall(wall);
                    self.wall_key = key;
                }
                self.wall_offset
            }
        }
    }

    /// Offset (seconds east of UTC) in force at this instant (Unix seconds).
    pub(crate) fn offset_for_utc(&mut self, utc: i64) -> i32 {
        match self.spec {
            TimeZoneSpec::Utc => 0,
            TimeZoneSpec::Fixed(o) => o.local_minus_utc(),
            TimeZoneSpec::Local => {
                let key = utc.div_euclid(TZ_CACHE_SECS);
                if key != self.utc_key {
                    self.utc_offset = DateTime::from_timestamp(utc, 0).map_or(0, |t| {
                        Local
                            .offset_from_utc_datetime(&t.naive_utc())
                            .fix()
                            .local_minus_utc()
                    });
                    self.utc_key = key;
                }
                self.utc_offset
            }
        }
    }
}

fn local_offset_for_wall(wall: i64) -> i32 {
    let Some(naive) = DateTime::from_timestamp(wall, 0).map(|t| t.naive_utc()) else {
        return 0;
    };
    match Local.offset_from_local_datetime(&naive).earliest() {
        Some(o) => o.fix().local_minus_utc(),
        // In a DST gap: the offset in force before it (gaps last at most a few hours).
        None => {
            let before = naive - chrono::Duration::hours(3);
            Local
                .offset_from_local_datetime(&before)
                .earliest()
                .map_or(0, |o| o.fix().local_minus_utc())
        }
    }
}

/// Writes RFC 3339 UTC timestamps with nanoseconds (`2024-01-02T03:04:05.123456789Z`,
/// fixed width, so they sort as text), formatting the date part once per second.
#[derive(Clone, Debug)]
pub(crate) struct TimestampFormatter {
    sec: i64,
    prefix: [u8; 19],
}

impl Default for TimestampFormatter {
    fn default() -> Self {
        TimestampFormatter {
            sec: i64::MIN,
            prefix: [b'0'; 19],
        }
    }
}

impl TimestampFormatter {
    pub(crate) fn write(&mut self, ns: i64, out: &mut Vec<u8>) {
        let sec = ns.div_euclid(NS_PER_SEC);
        let frac = ns.rem_euclid(NS_PER_SEC) as u32;
        if sec != self.sec {
            self.prefix = format_prefix(sec);
            self.sec = sec;
        }
        out.extend_from_slice(&self.prefix);
        out.push(b'.');
        let mut digits = [b'0'; 9];
        let mut f = frac;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (f % 10) as u8;
            f /= 10;
        }
        out.extend_from_slice(&digits);
        out.push(b'Z');
    }
}

fn format_prefix(sec: i64) -> [u8; 19] {
    let (y, m, d) = civil_from_days(sec.div_euclid(SECS_PER_DAY));
    let tod = sec.rem_euclid(SECS_PER_DAY);
    let mut p = *b"0000-00-00T00:00:00";
    // i64 nanoseconds span the years 1677..2262: always four digits.
    let y = y.clamp(0, 9999) as u32;
    p[0] = b'0' + (y / 1000) as u8;
    p[1] = b'0' + (y / 100 % 10) as u8;
    p[2] = b'0' + (y / 10 % 10) as u8;
    p[3] = b'0' + (y % 10) as u8;
    let two = |p: &mut [u8], v: u32| {
        p[0] = b'0' + (v / 10) as u8;
        p[1] = b'0' + (v % 10) as u8;
    };
    two(&mut p[5..7], m);
    two(&mut p[8..10], d);
    two(&mut p[11..13], (tod / 3600) as u32);
    two(&mut p[14..16], (tod / 60 % 60) as u32);
    two(&mut p[17..19], (tod % 60) as u32);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, NaiveDate, Utc};

    #[test]
    fn civil_roundtrip_matches_chrono() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            let expect =
                NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(days);
            assert_eq!(
                (y, m, d),
                (i64::from(expect.year()), expect.month(), expect.day())
            );
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2023, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
    }

    fn wall(y: i32, m: u32, d: u32, h: u32) -> i64 {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap().timestamp()
    }

    #[test]
    fn year_is_the_nearest_to_reception() {
        // Received Jan 1, message from Dec 31: last year.
        assert_eq!(
            nearest_year(wall(2025, 1, 1, 0), (12, 31, 23, 59, 59)),
            2024
        );
        // Received Dec 31, message from Jan 1 (sender's clock ahead): next year.
        assert_eq!(nearest_year(wall(2024, 12, 31, 23), (1, 1, 0, 0, 1)), 2025);
        // Ordinary case.
        assert_eq!(nearest_year(wall(2024, 6, 15, 12), (6, 15, 11, 0, 0)), 2024);
        assert_eq!(nearest_year(wall(2024, 6, 15, 12), (1, 2, 0, 0, 0)), 2024);
        // Feb 29 only exists in 2024 among 2024..2026.
        assert_eq!(nearest_year(wall(2025, 3, 1, 0), (2, 29, 0, 0, 0)), 2024);
        // Impossible date: received year (the parser rejects it afterwards).
        assert_eq!(nearest_year(wall(2025, 3, 1, 0), (2, 30, 0, 0, 0)), 2025);
        assert_eq!(nearest_year(wall(2025, 3, 1, 0), (13, 1, 0, 0, 0)), 2025);
        // Never more than a day in the future: December read on December 1st is last
        // year's, a line stamped a few hours ahead stays this year's.
        assert_eq!(
            nearest_year(wall(2026, 12, 1, 12), (12, 31, 23, 59, 0)),
            2025
        );
        assert_eq!(nearest_year(wall(2026, 12, 1, 12), (12, 2, 6, 0, 0)), 2026);
        assert_eq!(nearest_year(wall(2026, 12, 1, 12), (12, 2, 13, 0, 0)), 2025);
        // Last month's log replayed now is this year's.
        assert_eq!(nearest_year(wall(2026, 12, 1, 12), (11, 3, 0, 0, 0)), 2026);
        assert_eq!(nearest_year(wall(2026, 1, 5, 0), (6, 1, 0, 0, 0)), 2025);
        // February 29th goes back to the last leap year.
        assert_eq!(nearest_year(wall(2027, 3, 1, 0), (2, 29, 0, 0, 0)), 2024);
    }

    #[test]
    fn time_zone_specs_parse() {
        assert_eq!("UTC".parse(), Ok(TimeZoneSpec::Utc));
        assert_eq!("utc".parse(), Ok(TimeZoneSpec::Utc));
        assert_eq!("Z".parse(), Ok(TimeZoneSpec::Utc));
        assert_eq!("local".parse(), Ok(TimeZoneSpec::Local));
        assert_eq!("Local".parse(), Ok(TimeZoneSpec::Local));
        let fixed = |s: i32| Ok(TimeZoneSpec::Fixed(FixedOffset::east_opt(s).unwrap()));
        assert_eq!("+02:00".parse(), fixed(7200));
        assert_eq!("-05:30".parse(), fixed(-19800));
        assert_eq!("+0545".parse(), fixed(20700));
        assert_eq!("-03".parse(), fixed(-10800));
        for bad in [
            "",
            "+",
            "+2",
            "+24:00",
            "+02:60",
            "02:00",
            "+02:0x",
            "Europe/Paris",
            "+02:00:00",
        ] {
            assert_eq!(
                bad.parse::<TimeZoneSpec>(),
                Err(TimeZoneError(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn zone_cache_offsets() {
        let mut utc = ZoneCache::new(TimeZoneSpec::Utc);
        assert_eq!(utc.offset_for_wall(1_700_000_000), 0);
        let mut fixed = ZoneCache::new("+02:00".parse().unwrap());
        assert_eq!(fixed.offset_for_wall(1_700_000_000), 7200);
        assert_eq!(fixed.offset_for_utc(1_700_000_000), 7200);
        // Local: whatever this machine's zone is, the cache agrees with chrono, also
        // when asked again within the same quarter-hour and across a summer/winter pair.
        let mut local = ZoneCache::new(TimeZoneSpec::Local);
        for t in [
            1_700_000_000i64,
            1_700_000_100,
            1_720_000_000,
            1_720_000_001,
        ] {
            let naive = DateTime::from_timestamp(t, 0).unwrap().naive_utc();
            let expect = Local
                .offset_from_utc_datetime(&naive)
                .fix()
                .local_minus_utc();
            assert_eq!(local.offset_for_utc(t), expect);
            if let Some(o) = Local.offset_from_local_datetime(&naive).earliest() {
                assert_eq!(local.offset_for_wall(t), o.fix().local_minus_utc());
            }
        }
    }

    #[test]
    fn timestamps_format_as_rfc3339_utc_nanos() {
        let mut f = TimestampFormatter::default();
        let mut out = Vec::new();
        f.write(0, &mut out);
        assert_eq!(out, b"1970-01-01T00:00:00.000000000Z");
        for ns in [
            1_700_000_000_123_456_789i64,
            1_700_000_000_999_999_999,
            1_700_000_001_000_000_001,
            -1,
            951_782_400_000_000_000, // 2000-02-29
            i64::MAX,
            i64::MIN,
        ] {
            out.clear();
            f.write(ns, &mut out);
            let expect = DateTime::from_timestamp_nanos(ns)
                .format("%Y-%m-%dT%H:%M:%S.%9fZ")
                .to_string();
            assert_eq!(String::from_utf8(out.clone()).unwrap(), expect, "{ns}");
        }
    }
}
