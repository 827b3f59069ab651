//! Time zones and the year rule for the normaliser (calendar arithmetic and RFC 3339
//! formatting are in `crate::event::time`).
//!
//! Rendering happens for every event, so nothing here calls into a time-zone database
//! or a date formatter per message: dates are plain integer arithmetic, the formatted
//! `YYYY-MM-DDTHH:MM:SS` prefix is cached per second, and a local offset is looked up
//! at most once per quarter-hour of wall time.

use std::str::FromStr;

use chrono::{DateTime, FixedOffset, Local, Offset, TimeZone};

pub(crate) use crate::event::time::{civil_from_days, days_from_civil, NS_PER_SEC, SECS_PER_DAY};
/// Offsets change (DST, zone changes) on quarter-hour boundaries in every current zone,
/// so one offset per quarter-hour of wall time is exact.
const TZ_CACHE_SECS: i64 = 900;

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
pub(crate) fn nearest_year(received_wall: i64, date: (u32, u32, u32, u32, u32)) -> i32 {
    // Lines come in runs with the same second and the same receive second: the last
    // answer is kept (per thread; the function stays pure).
    type Last = std::cell::Cell<Option<(i64, (u32, u32, u32, u32, u32), i32)>>;
    thread_local! {
        static LAST: Last = const { std::cell::Cell::new(None) };
    }
    LAST.with(|last| match last.get() {
        Some((w, d, y)) if w == received_wall && d == date => y,
        _ => {
            let y = nearest_year_uncached(received_wall, date);
            last.set(Some((received_wall, date, y)));
            y
        }
    })
}

fn nearest_year_uncached(
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn wall(y: i32, m: u32, d: u32, h: u32) -> i64 {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap().timestamp()
    }

    #[test]
    fn days_in_month_knows_leap_years() {
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2023, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
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
}
