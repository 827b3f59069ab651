//! Calendar arithmetic and cached RFC 3339 formatting: rendering an event happens for
//! every line, so dates are plain integer arithmetic and the formatted
//! `YYYY-MM-DDTHH:MM:SS` prefix is cached per second.

pub(crate) const NS_PER_SEC: i64 = 1_000_000_000;
pub(crate) const SECS_PER_DAY: i64 = 86_400;

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
        self.write_digits(ns, 9, out);
    }

    /// With microseconds (`2024-01-02T03:04:05.123456Z`): RFC 5424 allows at most six
    /// fractional digits.
    pub(crate) fn write_micros(&mut self, ns: i64, out: &mut Vec<u8>) {
        self.write_digits(ns, 6, out);
    }

    fn write_digits(&mut self, ns: i64, n: usize, out: &mut Vec<u8>) {
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
        out.extend_from_slice(&digits[..n.min(9)]);
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
    use chrono::{DateTime, Datelike, NaiveDate};

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
