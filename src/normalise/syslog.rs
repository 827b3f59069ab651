//! Syslog text (a network message or a file line) parsed into an [`Event`]: RFC 5424,
//! RFC 3164 and the forms around them (see the module docs of `normalise`).

use chrono::FixedOffset;
use syslog_loose::{Protocol, Variant};

#[path = "syslog_fast.rs"]
mod fast;
#[cfg(test)]
pub(super) use fast::parse_3164 as fast_parse_3164;

use super::time::{nearest_year, ZoneCache, NS_PER_SEC};
use super::{Event, ProcId};

/// UTC as the zone syslog_loose reads zone-less timestamps in: we then re-interpret the
/// wall time in the source's zone ourselves (with caching).
fn utc_fixed() -> Option<FixedOffset> {
    FixedOffset::east_opt(0)
}

/// Byte offset of `inner` within `outer`, when it is a slice of it.
fn offset_in(outer: &str, inner: &str) -> Option<usize> {
    let o = outer.as_ptr() as usize;
    let i = inner.as_ptr() as usize;
    (i >= o && i + inner.len() <= o + outer.len()).then(|| i - o)
}

/// `<PRI>` at the start of `s`: its value (when 0..=191) and the rest.
fn scan_pri(s: &str) -> Option<(u8, &str)> {
    let rest = s.strip_prefix('<')?;
    let end = rest.find('>')?;
    let digits = &rest[..end];
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: u16 = digits.parse().ok()?;
    let v = u8::try_from(v).ok().filter(|&v| v <= 191)?;
    Some((v, &rest[end + 1..]))
}

/// `journalctl -o short-iso` and `-o short-iso-precise` lines (and other tools') start
/// with an ISO 8601 time whose offset has no colon (`2024-11-22T10:00:00+0000 host
/// prog[1]: msg`), which `syslog_loose` does not take. Such a line is read here: time,
/// host, then the tag as in RFC 3164. True when it was one.
fn parse_iso_colonless<'a>(ev: &mut Event<'a>, text: &'a str) -> bool {
    let trimmed = text.trim();
    let (pri, body) = match scan_pri(trimmed) {
        Some((pri, rest)) => (Some(pri), rest),
        None => (None, trimmed),
    };
    let Some((stamp, rest)) = body.split_once(' ') else {
        return false;
    };
    let b = stamp.as_bytes();
    let looks_iso = b.len() >= 24
        && b[4] == b'-'
        && b[10] == b'T'
        && matches!(b[b.len() - 5], b'+' | b'-')
        && b[b.len() - 4..].iter().all(u8::is_ascii_digit);
    if !looks_iso {
        return false;
    }
    let Ok(t) = chrono::DateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%S%.f%z") else {
        return false;
    };
    ev.priority = pri;
    ev.timestamp_ns = t.timestamp_nanos_opt();
    let rest = rest.trim_start();
    let (host, after_host) = match rest.split_once(' ') {
        Some((h, r)) if !h.ends_with(':') => (Some(h), r.trim_start()),
        _ => (None, rest),
    };
    ev.hostname = host;
    let (app, procid, message) = split_tag(after_host);
    ev.appname = app;
    ev.procid = procid;
    ev.message = message;
    true
}

pub(super) fn parse_into<'a>(ev: &mut Event<'a>, text: &'a str, zone: &mut ZoneCache, depth: u8) {
    if fast::parse_3164(ev, text, zone) {
        return;
    }
    parse_general(ev, text, zone, depth);
}

/// Every form: `syslog_loose` with the fixes above. What [`fast::parse_3164`] takes
/// gives the same event here (a test compares them).
pub(super) fn parse_general<'a>(
    ev: &mut Event<'a>,
    text: &'a str,
    zone: &mut ZoneCache,
    depth: u8,
) {
    if depth == 0 && parse_iso_colonless(ev, text) {
        return;
    }
    let received_secs = ev.received_ns.div_euclid(NS_PER_SEC);
    let received_wall = received_secs + i64::from(zone.offset_for_utc(received_secs));
    let get_year = move |d| nearest_year(received_wall, d);
    match syslog_loose::parse_message_with_year_exact_tz(
        text,
        get_year,
        utc_fixed(),
        Variant::Either,
    ) {
        Ok(msg) => {
            let trimmed = text.trim();
            let after_pri = match scan_pri(trimmed) {
                Some((pri, rest)) => {
                    ev.priority = Some(pri);
                    rest
                }
                None => trimmed,
            };
            let rfc3164 = msg.protocol == Protocol::RFC3164;
            if let Protocol::RFC5424(v) = msg.protocol {
                ev.version = Some(v);
            }
            if let Some(ts) = msg.timestamp {
                let zoneless = rfc3164
                    && after_pri
                        .trim_start()
                        .as_bytes()
                        .first()
                        .is_some_and(u8::is_ascii_alphabetic);
                ev.timestamp_ns = if zoneless {
                    // syslog_loose read the wall time as UTC; apply the listener's zone.
                    let wall = ts.timestamp();
                    let off = i64::from(zone.offset_for_wall(wall));
                    (wall - off)
                        .checked_mul(NS_PER_SEC)
                        .and_then(|s| s.checked_add(i64::from(ts.timestamp_subsec_nanos())))
                } else {
                    ts.timestamp_nanos_opt()
                };
            }
            ev.hostname = msg.hostname;
            ev.appname = msg.appname;
            ev.procid = msg.procid.map(|p| match p {
                syslog_loose::ProcId::PID(p) => ProcId::Pid(p),
                syslog_loose::ProcId::Name(n) => ProcId::Name(n),
            });
            ev.msgid = msg.msgid;
            ev.message = msg.msg;
            if rfc3164 {
                // "host:" is a tag, not a hostname (the /dev/log form has none).
                if let (Some(h), None, None) = (ev.hostname, ev.appname, ev.procid) {
                    let colon = offset_in(text, h)
                        .and_then(|o| text.as_bytes().get(o + h.len()))
                        .is_some_and(|&b| b == b':');
                    if colon {
                        ev.appname = Some(h);
                        ev.hostname = None;
                    }
                }
                // RFC 3164 has no structured data: a leading "[...]" is message text.
                if let Some(first) = msg.structured_data.first() {
                    let start = offset_in(text, first.id).and_then(|o| o.checked_sub(1));
                    let end = offset_in(text, trimmed).map(|o| o + trimmed.len());
                    if let (Some(s), Some(e)) = (start, end) {
                        if text.as_bytes().get(s) == Some(&b'[') {
                            if let Some(m) = text.get(s..e) {
                                ev.message = m;
                            }
                        }
                    }
                }
            } else {
                ev.structured_data = msg.structured_data;
                if let Some(m) = ev.message.strip_prefix('\u{feff}') {
                    ev.message = m;
                }
            }
        }
        Err(_) => {
            let trimmed = text.trim();
            let Some((pri, rest)) = scan_pri(trimmed) else {
                ev.parse_failure = true;
                ev.message = text;
                return;
            };
            ev.priority = Some(pri);
            // A relay wrapped an already complete message in another PRI.
            if depth == 0 && scan_pri(rest).is_some() {
                parse_into(ev, rest, zone, depth + 1);
                ev.parse_failure = false;
                if ev.priority.is_none() {
                    ev.priority = Some(pri);
                }
                return;
            }
            let rest = rest.trim_start();
            let (app, procid, message) = split_tag(rest);
            ev.appname = app;
            ev.procid = procid;
            ev.message = message;
        }
    }
}

/// A leading `tag:` or `tag[pid]:` (the RFC 3164 TAG when no timestamp came before it).
fn split_tag(s: &str) -> (Option<&str>, Option<ProcId<'_>>, &str) {
    let token_end = s.find(char::is_whitespace).unwrap_or(s.len());
    let token = &s[..token_end];
    let Some(tag) = token.strip_suffix(':') else {
        return (None, None, s);
    };
    let message = s[token_end..].trim_start();
    let (app, procid) = match tag.split_once('[') {
        Some((app, pid)) => match pid.strip_suffix(']') {
            Some(pid) if !app.is_empty() && !pid.is_empty() && !pid.contains(['[', ']']) => {
                let procid = match pid.parse::<i32>() {
                    Ok(p) => ProcId::Pid(p),
                    Err(_) => ProcId::Name(pid),
                };
                (app, Some(procid))
            }
            _ => return (None, None, s),
        },
        None => (tag, None),
    };
    if app.is_empty() || app.contains(':') {
        return (None, None, s);
    }
    (Some(app), procid, message)
}
