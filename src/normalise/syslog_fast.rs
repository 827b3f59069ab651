//! The common RFC 3164 line, read in one pass without `syslog_loose`:
//!
//! ```text
//! [<PRI>]Mmm dd hh:mm:ss HOST TAG[PID]: MSG      (or TAG: MSG)
//! ```
//!
//! This is most of what a syslog collector receives (rsyslog, syslog-ng and journald
//! forward it; `auth.log` holds it), and parsing it with the general parser costs more
//! than everything else the sealer does per event but compression and hashing. Anything
//! else, or anything unusual about one of these (a second space, a tab, a month in
//! capitals, a message starting with `[` or `-`, a name outside printable ASCII),
//! is declined and goes to the general path, so the event is always the one the
//! general path would make: `tests::the_fast_path_agrees_with_the_general_one` compares
//! them on generated and recorded lines.

use super::super::time::{days_in_month, nearest_year, ZoneCache, NS_PER_SEC, SECS_PER_DAY};
use super::super::{Event, ProcId};
use crate::event::time::days_from_civil;

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

fn two_digits(b: &[u8], at: usize) -> Option<u32> {
    match (b.get(at), b.get(at + 1)) {
        (Some(&x @ b'0'..=b'9'), Some(&y @ b'0'..=b'9')) => {
            Some(u32::from(x - b'0') * 10 + u32::from(y - b'0'))
        }
        _ => None,
    }
}

/// A header token: printable ASCII up to the next space (or `stop`), at least one byte.
fn token(b: &[u8], from: usize, stop: u8) -> Option<usize> {
    let mut i = from;
    while let Some(&c) = b.get(i) {
        if c == b' ' || c == stop {
            break;
        }
        if !(0x21..=0x7e).contains(&c) {
            return None;
        }
        i += 1;
    }
    (i > from).then_some(i)
}

/// Fills `ev` and returns true when `text` is the common form; else leaves `ev` as it
/// was and returns false.
pub(in crate::normalise) fn parse_3164<'a>(
    ev: &mut Event<'a>,
    text: &'a str,
    zone: &mut ZoneCache,
) -> bool {
    let t = text.trim();
    let b = t.as_bytes();
    // <PRI>
    let (priority, mut i) = if b.first() == Some(&b'<') {
        let Some(close) = b.iter().take(5).position(|&c| c == b'>') else {
            return false;
        };
        let digits = &b[1..close];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return false;
        }
        let v = digits
            .iter()
            .fold(0u32, |v, &d| v * 10 + u32::from(d - b'0'));
        if v > 191 {
            return false;
        }
        (Some(v as u8), close + 1)
    } else {
        (None, 0)
    };
    // Mmm
    let Some(mon) = b
        .get(i..i + 3)
        .and_then(|m| MONTHS.iter().position(|x| &x[..] == m))
    else {
        return false;
    };
    let mon = mon as u32 + 1;
    i += 3;
    // " dd" or "  d"
    let day = match (b.get(i), b.get(i + 1)) {
        (Some(b' '), Some(b' ')) => match b.get(i + 2) {
            Some(&d @ b'1'..=b'9') => {
                i += 3;
                u32::from(d - b'0')
            }
            _ => return false,
        },
        (Some(b' '), _) => match two_digits(b, i + 1) {
            Some(d) => {
                i += 3;
                d
            }
            None => return false,
        },
        _ => return false,
    };
    // " hh:mm:ss "
    if b.get(i) != Some(&b' ') || b.get(i + 3) != Some(&b':') || b.get(i + 6) != Some(&b':') {
        return false;
    }
    let (Some(h), Some(mi), Some(sec)) = (
        two_digits(b, i + 1),
        two_digits(b, i + 4),
        two_digits(b, i + 7),
    ) else {
        return false;
    };
    i += 9;
    if b.get(i) != Some(&b' ') {
        return false;
    }
    i += 1;
    // HOST
    let Some(host_end) = token(b, i, b' ') else {
        return false;
    };
    let host = &t[i..host_end];
    if host == "-" || host.ends_with(':') || b.get(host_end) != Some(&b' ') {
        return false;
    }
    i = host_end + 1;
    // TAG or TAG[PID], then ':'
    let Some(tag_end) = token(b, i, b':') else {
        return false;
    };
    if b.get(tag_end) != Some(&b':') {
        return false;
    }
    let tag = &t[i..tag_end];
    let (app, procid) = match tag.find(['[', ']']) {
        None => (tag, None),
        Some(open) => {
            let (app, rest) = tag.split_at(open);
            let Some(pid) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
                return false;
            };
            if app.is_empty() || pid.is_empty() || !pid.bytes().all(|c| c.is_ascii_digit()) {
                return false;
            }
            let Ok(pid) = pid.parse::<i32>() else {
                return false;
            };
            (app, Some(ProcId::Pid(pid)))
        }
    };
    if app == "-" {
        return false;
    }
    i = tag_end + 1;
    while matches!(b.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    // The general parser would read a leading `[…]` or `-` as structured data.
    if matches!(b.get(i), None | Some(b'[' | b'-')) {
        return false;
    }
    // The time, in the source's zone, in the year the general path would pick.
    if h >= 24 || mi >= 60 || sec >= 60 {
        return false;
    }
    let received_secs = ev.received_ns.div_euclid(NS_PER_SEC);
    let received_wall = received_secs + i64::from(zone.offset_for_utc(received_secs));
    let year = i64::from(nearest_year(received_wall, (mon, day, h, mi, sec)));
    if day == 0 || day > days_in_month(year, mon) {
        return false;
    }
    let wall = days_from_civil(year, mon, day) * SECS_PER_DAY
        + i64::from(h) * 3600
        + i64::from(mi) * 60
        + i64::from(sec);
    let off = i64::from(zone.offset_for_wall(wall));
    ev.priority = priority;
    ev.timestamp_ns = (wall - off).checked_mul(NS_PER_SEC);
    ev.hostname = Some(host);
    ev.appname = Some(app);
    ev.procid = procid;
    ev.message = &t[i..];
    true
}
