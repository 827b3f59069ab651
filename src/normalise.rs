//! Normalisation: an ingest record becomes one ECS event, rendered as a JSON line.
//!
//! Parsing is a pure function of the record (and the configured listener zones): the
//! year of an RFC 3164 timestamp is the one nearest to the record's *received* time,
//! not to "now", so rendering the same journal record again after a crash gives the
//! very same line. [`Normaliser::parse`] yields an [`Event`] that later stages (auth
//! normalisers, the detector) build on; [`Normaliser::render`] is parse + write.
//!
//! Parsing uses `syslog_loose`, with fixes for what it gets wrong or cannot know:
//!
//! * it never fails on its own; with the exact API it reports input that has neither a
//!   valid RFC 5424 header nor an RFC 3164 timestamp. Such input with a PRI is kept as
//!   a PRI-only message (`<27>xapi: text`: PRI, tag, message; a second PRI from a relay,
//!   `<13><13>Nov …`, is unwrapped), and input without one is a raw event tagged
//!   `_parse_failure` whose message is the whole line;
//! * a hostname directly followed by `:` is a tag: the `/dev/log` form
//!   `<13>Nov 22 10:00:00 prog: msg` has no hostname (rsyslog reads it the same way);
//! * structured data does not exist in RFC 3164: a leading `[…]` stays in the message;
//! * time zones: timestamps that carry no zone (RFC 3164) are read in the listener's
//!   zone, through a per-listener offset cache (no zone lookup per message);
//! * a UTF-8 BOM at the start of an RFC 5424 message is dropped from `message`.
//!
//! # Event line
//!
//! Field names follow ECS. Absent fields are omitted (never `null`).
//!
//! ```text
//! {"@timestamp":"<message time, else received>","event":{"id":"<stream>:<position>",
//!  "created":"<received>","kind":"event","original":"<raw line>"},"message":"…",
//!  "host":{"name":"…"},"log":{"syslog":{"priority":13,"facility":{"code":1,"name":"user"},
//!  "severity":{"code":5,"name":"notice"},"hostname":"…","appname":"…","procid":"…",
//!  "msgid":"…","version":1,"structured_data":{"id":{"k":"v"}}},"source":{"address":"ip:port"}},
//!  "process":{"name":"…","pid":123},"observer":{"ingress":{"name":"<listener>"}},
//!  "tags":["_parse_failure","_truncated","_incomplete","_invalid_utf8"],
//!  "sealtrail":{"original_base64":"…"}}
//! ```
//!
//! Times are RFC 3339 UTC with nine fraction digits. `event.original` is the raw line;
//! when it is not valid UTF-8 it holds the lossy text (U+FFFD for bad bytes) and
//! `sealtrail.original_base64` keeps the exact bytes. Repeated structured-data
//! parameters (allowed by RFC 5424) become arrays; a repeated SD-ID is merged.

mod json;
mod time;

use std::borrow::Cow;
use std::io::Write as _;
use std::net::SocketAddr;

use base64::Engine as _;
use chrono::FixedOffset;
use syslog_loose::{Protocol, StructuredElement, Variant};

use crate::auth::AuthEvent;
use crate::record::{IngestRecord, RecordFlags};
use time::{nearest_year, TimestampFormatter, ZoneCache, NS_PER_SEC};
pub use time::{TimeZoneError, TimeZoneSpec};

/// Facility names by code, as rsyslog prints them.
const FACILITY_NAMES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// Severity names by code.
const SEVERITY_NAMES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Name of a syslog facility code (0..=23).
pub fn facility_name(code: u8) -> Option<&'static str> {
    FACILITY_NAMES.get(usize::from(code)).copied()
}

/// Name of a syslog severity code (0..=7).
pub fn severity_name(code: u8) -> Option<&'static str> {
    SEVERITY_NAMES.get(usize::from(code)).copied()
}

/// The PROCID / `[pid]` of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcId<'a> {
    /// Numeric.
    Pid(i32),
    /// Anything else.
    Name(&'a str),
}

/// A parsed record: what later stages work on. Borrows the record and its text.
#[derive(Clone, Debug, PartialEq)]
pub struct Event<'a> {
    /// When the record was received (ns since the Unix epoch).
    pub received_ns: i64,
    /// Listener index.
    pub listener: u16,
    /// Sender.
    pub peer: Option<SocketAddr>,
    /// Framing flags from the source.
    pub record_flags: RecordFlags,
    /// The raw bytes, verbatim.
    pub raw: &'a [u8],
    /// The raw bytes as text (lossy if `invalid_utf8`).
    pub original: &'a str,
    /// The raw bytes are not valid UTF-8.
    pub invalid_utf8: bool,
    /// Neither a syslog header nor a PRI was recognised: a raw event.
    pub parse_failure: bool,
    /// The message's own time, in UTC (ns since the epoch), when it has a usable one.
    pub timestamp_ns: Option<i64>,
    /// PRI (0..=191).
    pub priority: Option<u8>,
    /// RFC 5424 VERSION.
    pub version: Option<u32>,
    /// HOSTNAME.
    pub hostname: Option<&'a str>,
    /// APP-NAME / tag.
    pub appname: Option<&'a str>,
    /// PROCID / `[pid]`.
    pub procid: Option<ProcId<'a>>,
    /// RFC 5424 MSGID.
    pub msgid: Option<&'a str>,
    /// RFC 5424 structured data; parameter values still carry their RFC 5424 escapes.
    pub structured_data: Vec<StructuredElement<&'a str>>,
    /// The free-text message.
    pub message: &'a str,
}

impl<'a> Event<'a> {
    /// Facility code.
    pub fn facility(&self) -> Option<u8> {
        self.priority.map(|p| p >> 3)
    }

    /// Severity code.
    pub fn severity(&self) -> Option<u8> {
        self.priority.map(|p| p & 7)
    }

    /// Numeric process id, when the PROCID is one.
    pub fn pid(&self) -> Option<u32> {
        match self.procid {
            Some(ProcId::Pid(p)) => u32::try_from(p).ok(),
            _ => None,
        }
    }

    /// The event's time: the message's own, else when it was received.
    pub fn time_ns(&self) -> i64 {
        self.timestamp_ns.unwrap_or(self.received_ns)
    }

    /// The audit meaning of this line, when it is authentication-related (sshd, PAM,
    /// sudo, su, logind, auditd). Raw events are matched on their whole text so that
    /// auditd lines that arrive without a syslog header are still recognised.
    pub fn auth(&self) -> Option<AuthEvent<'a>> {
        crate::auth::recognise(self.appname.unwrap_or(""), self.pid(), self.message)
    }

    /// rsyslog's `message repeated N times: [ text]` (N and the repeated text), so a
    /// detector can count the repetitions.
    pub fn repeated(&self) -> Option<(u32, &'a str)> {
        let rest = self.message.strip_prefix("message repeated ")?;
        let (n, rest) = rest.split_once(' ')?;
        let n: u32 = n.parse().ok()?;
        let inner = rest.strip_prefix("times: [")?.strip_suffix(']')?;
        Some((n, inner.trim_start()))
    }
}

/// Per-listener rendering context.
struct ListenerCtx {
    zone: ZoneCache,
    /// `,"observer":{"ingress":{"name":"…"}}`, escaped once.
    observer_json: Vec<u8>,
}

/// Turns ingest records into ECS JSON lines. Holds caches, hence `&mut self`.
pub struct Normaliser {
    /// `"event":{"id":"<stream>:`, escaped once.
    event_id_prefix: Vec<u8>,
    listeners: Vec<ListenerCtx>,
    /// For records whose listener index is not configured (e.g. removed from the
    /// config since): UTC and no observer name.
    unknown_listener: ListenerCtx,
    message_time: TimestampFormatter,
    received_time: TimestampFormatter,
}

/// UTC as the zone syslog_loose reads zone-less timestamps in: we then re-interpret the
/// wall time in the listener's zone ourselves (with caching).
fn utc_fixed() -> Option<FixedOffset> {
    FixedOffset::east_opt(0)
}

impl Normaliser {
    /// `stream` names this event stream in `event.id`; `listeners` are indexed by the
    /// records' listener index (config order): name and zone for zone-less timestamps.
    pub fn new(stream: &str, listeners: Vec<(String, TimeZoneSpec)>) -> Self {
        let mut event_id_prefix = b"\"event\":{\"id\":\"".to_vec();
        json::write_str_body(&mut event_id_prefix, stream.as_bytes());
        event_id_prefix.push(b':');
        let listeners = listeners
            .into_iter()
            .map(|(name, tz)| {
                let mut observer_json = b",\"observer\":{\"ingress\":{\"name\":".to_vec();
                json::write_str(&mut observer_json, &name);
                observer_json.extend_from_slice(b"}}");
                ListenerCtx {
                    zone: ZoneCache::new(tz),
                    observer_json,
                }
            })
            .collect();
        Normaliser {
            event_id_prefix,
            listeners,
            unknown_listener: ListenerCtx {
                zone: ZoneCache::new(TimeZoneSpec::Utc),
                observer_json: Vec::new(),
            },
            message_time: TimestampFormatter::default(),
            received_time: TimestampFormatter::default(),
        }
    }

    fn listener_mut(&mut self, index: u16) -> &mut ListenerCtx {
        match self.listeners.get_mut(usize::from(index)) {
            Some(l) => l,
            None => &mut self.unknown_listener,
        }
    }

    /// Appends one JSON line (no `\n`) to `out`. Never fails: bad input becomes a raw
    /// event with flags.
    pub fn render(&mut self, position: u64, record: &IngestRecord<'_>, out: &mut Vec<u8>) {
        let text = record_text(record.raw);
        let event = self.parse(record, &text);
        let auth = event.auth();
        self.write(position, &event, auth.as_ref(), out);
    }

    /// Parses a record. `text` is [`record_text`] of its raw bytes.
    pub fn parse<'a>(&mut self, record: &IngestRecord<'a>, text: &'a str) -> Event<'a> {
        let invalid_utf8 =
            !std::ptr::eq(text.as_bytes(), record.raw) && text.as_bytes() != record.raw;
        let mut event = Event {
            received_ns: record.received_ns,
            listener: record.listener,
            peer: record.peer,
            record_flags: record.flags,
            raw: record.raw,
            original: text,
            invalid_utf8,
            parse_failure: false,
            timestamp_ns: None,
            priority: None,
            version: None,
            hostname: None,
            appname: None,
            procid: None,
            msgid: None,
            structured_data: Vec::new(),
            message: text,
        };
        let zone = &mut self.listener_mut(record.listener).zone;
        parse_into(&mut event, text, zone, 0);
        event
    }

    /// Writes a parsed event as one JSON line (no `\n`), with the audit fields of
    /// `auth` when the message was recognised as authentication-related.
    pub fn write(
        &mut self,
        position: u64,
        event: &Event<'_>,
        auth: Option<&AuthEvent<'_>>,
        out: &mut Vec<u8>,
    ) {
        out.extend_from_slice(b"{\"@timestamp\":\"");
        self.message_time.write(event.time_ns(), out);
        out.extend_from_slice(b"\",");
        out.extend_from_slice(&self.event_id_prefix);
        out.extend_from_slice(itoa::Buffer::new().format(position).as_bytes());
        out.extend_from_slice(b"\",\"created\":\"");
        self.received_time.write(event.received_ns, out);
        out.extend_from_slice(b"\",\"kind\":\"event\",\"original\":");
        json::write_str(out, event.original);
        if let Some(a) = auth {
            write_auth_event_fields(a, out);
        }
        out.extend_from_slice(b"},\"message\":");
        json::write_str(out, event.message);
        if let Some(h) = event.hostname {
            out.extend_from_slice(b",\"host\":{\"name\":");
            json::write_str(out, h);
            out.push(b'}');
        }
        write_log(event, out);
        write_process(event, out);
        let observer = match self.listeners.get(usize::from(event.listener)) {
            Some(l) => &l.observer_json,
            None => &self.unknown_listener.observer_json,
        };
        out.extend_from_slice(observer);
        if let Some(a) = auth {
            write_auth_entities(a, out);
        }
        write_tags(event, out);
        if event.invalid_utf8 || auth.is_some() {
            out.extend_from_slice(b",\"sealtrail\":{");
            if event.invalid_utf8 {
                out.extend_from_slice(b"\"original_base64\":\"");
                write_base64(event.raw, out);
                out.push(b'"');
            }
            if let Some(a) = auth {
                if event.invalid_utf8 {
                    out.push(b',');
                }
                write_auth_details(a, out);
            }
            out.push(b'}');
        }
        out.push(b'}');
    }
}

/// `event.category`, `event.type`, `event.action`, `event.outcome`, `event.reason`
/// (inside the `event` object).
fn write_auth_event_fields(a: &AuthEvent<'_>, out: &mut Vec<u8>) {
    let list = |out: &mut Vec<u8>, items: &[&str]| {
        out.push(b'[');
        for (i, t) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::write_str(out, t);
        }
        out.push(b']');
    };
    out.extend_from_slice(b",\"category\":");
    list(out, a.category.ecs());
    out.extend_from_slice(b",\"type\":");
    list(out, a.kind_type);
    out.extend_from_slice(b",\"action\":");
    json::write_str(out, a.action);
    out.extend_from_slice(b",\"outcome\":");
    json::write_str(out, a.outcome.as_str());
    if let Some(r) = a.reason {
        out.extend_from_slice(b",\"reason\":");
        json::write_str(out, r);
    }
}

/// ECS `user.*` and `source.*` of an authentication event.
fn write_auth_entities(a: &AuthEvent<'_>, out: &mut Vec<u8>) {
    let user = a.user_name();
    let target = a.target_user.as_deref().filter(|t| !t.is_empty());
    if user.is_some() || target.is_some() || a.user_id.is_some() {
        out.extend_from_slice(b",\"user\":{");
        let mut first = true;
        if let Some(u) = user {
            out.extend_from_slice(b"\"name\":");
            json::write_str(out, u);
            first = false;
        }
        if let Some(id) = a.user_id {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(b"\"id\":\"");
            out.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
            out.push(b'"');
            first = false;
        }
        if let Some(t) = target {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(b"\"target\":{\"name\":");
            json::write_str(out, t);
            out.push(b'}');
        }
        out.push(b'}');
    }
    if a.source_ip.is_some() || a.source_domain.is_some() {
        out.extend_from_slice(b",\"source\":{");
        let mut first = true;
        if let Some(ip) = a.source_ip {
            out.extend_from_slice(b"\"ip\":");
            json::write_str(out, &ip.to_string());
            first = false;
            if let Some(port) = a.source_port {
                out.extend_from_slice(b",\"port\":");
                out.extend_from_slice(itoa::Buffer::new().format(port).as_bytes());
            }
        }
        if let Some(d) = &a.source_domain {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(b"\"domain\":");
            json::write_str(out, d);
        }
        out.push(b'}');
    }
}

/// What ECS has no field for: `sealtrail.auth.{method,attempts,service,tty,pwd,command,session_id,exe}`.
fn write_auth_details(a: &AuthEvent<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\"auth\":{\"attempts\":");
    out.extend_from_slice(itoa::Buffer::new().format(a.attempts).as_bytes());
    let fields: [(&[u8], Option<&str>); 7] = [
        (b"method", a.method),
        (b"service", a.service.as_deref()),
        (b"tty", a.tty.as_deref()),
        (b"pwd", a.pwd.as_deref()),
        (b"command", a.command.as_deref()),
        (b"session_id", a.session_id.as_deref()),
        (b"exe", a.exe.as_deref()),
    ];
    for (k, v) in fields {
        if let Some(v) = v {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(k);
            out.extend_from_slice(b"\":");
            json::write_str(out, v);
        }
    }
    out.push(b'}');
}

/// The raw bytes as text: borrowed when valid UTF-8, else a lossy copy.
pub fn record_text(raw: &[u8]) -> Cow<'_, str> {
    // `from_utf8` has a fast ASCII path; `from_utf8_lossy` is several times slower on
    // valid input, so it is only used when the bytes are not UTF-8.
    match std::str::from_utf8(raw) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(raw),
    }
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

fn parse_into<'a>(ev: &mut Event<'a>, text: &'a str, zone: &mut ZoneCache, depth: u8) {
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

fn write_log(ev: &Event<'_>, out: &mut Vec<u8>) {
    let has_syslog = ev.priority.is_some()
        || ev.hostname.is_some()
        || ev.appname.is_some()
        || ev.procid.is_some()
        || ev.msgid.is_some()
        || ev.version.is_some()
        || !ev.structured_data.is_empty();
    if !has_syslog && ev.peer.is_none() {
        return;
    }
    out.extend_from_slice(b",\"log\":{");
    if has_syslog {
        out.extend_from_slice(b"\"syslog\":{");
        let mut first = true;
        let mut key = |out: &mut Vec<u8>, k: &[u8]| {
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(k);
        };
        if let Some(p) = ev.priority {
            let (f, s) = (p >> 3, p & 7);
            let mut b = itoa::Buffer::new();
            key(out, b"\"priority\":");
            out.extend_from_slice(b.format(p).as_bytes());
            out.extend_from_slice(b",\"facility\":{\"code\":");
            out.extend_from_slice(b.format(f).as_bytes());
            if let Some(name) = facility_name(f) {
                out.extend_from_slice(b",\"name\":\"");
                out.extend_from_slice(name.as_bytes());
                out.push(b'"');
            }
            out.extend_from_slice(b"},\"severity\":{\"code\":");
            out.extend_from_slice(b.format(s).as_bytes());
            if let Some(name) = severity_name(s) {
                out.extend_from_slice(b",\"name\":\"");
                out.extend_from_slice(name.as_bytes());
                out.push(b'"');
            }
            out.push(b'}');
        }
        if let Some(h) = ev.hostname {
            key(out, b"\"hostname\":");
            json::write_str(out, h);
        }
        if let Some(a) = ev.appname {
            key(out, b"\"appname\":");
            json::write_str(out, a);
        }
        match ev.procid {
            Some(ProcId::Pid(p)) => {
                key(out, b"\"procid\":\"");
                out.extend_from_slice(itoa::Buffer::new().format(p).as_bytes());
                out.push(b'"');
            }
            Some(ProcId::Name(n)) => {
                key(out, b"\"procid\":");
                json::write_str(out, n);
            }
            None => {}
        }
        if let Some(m) = ev.msgid {
            key(out, b"\"msgid\":");
            json::write_str(out, m);
        }
        if let Some(v) = ev.version {
            key(out, b"\"version\":");
            out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        }
        if !ev.structured_data.is_empty() {
            key(out, b"\"structured_data\":");
            write_structured_data(&ev.structured_data, out);
        }
        out.push(b'}');
    }
    if let Some(peer) = ev.peer {
        if has_syslog {
            out.push(b',');
        }
        out.extend_from_slice(b"\"source\":{\"address\":\"");
        write_addr(peer, out);
        out.extend_from_slice(b"\"}");
    }
    out.push(b'}');
}

/// `{"id":{"name":"value" | ["v1","v2"]}}`: elements with the same SD-ID are merged,
/// repeated parameter names become arrays (no allocation: the lists are tiny).
fn write_structured_data(sd: &[StructuredElement<&str>], out: &mut Vec<u8>) {
    out.push(b'{');
    let mut first_elem = true;
    for (i, elem) in sd.iter().enumerate() {
        if sd[..i].iter().any(|e| e.id == elem.id) {
            continue;
        }
        if !first_elem {
            out.push(b',');
        }
        first_elem = false;
        json::write_str(out, elem.id);
        out.extend_from_slice(b":{");
        let same_id = || sd[i..].iter().filter(|e| e.id == elem.id);
        let params = || same_id().flat_map(|e| e.params.iter());
        let mut first_param = true;
        for (j, (name, value)) in params().enumerate() {
            if params().take(j).any(|(n, _)| n == name) {
                continue;
            }
            if !first_param {
                out.push(b',');
            }
            first_param = false;
            json::write_str(out, name);
            out.push(b':');
            let count = params().filter(|(n, _)| n == name).count();
            if count == 1 {
                json::write_sd_value(out, value);
            } else {
                out.push(b'[');
                for (k, (_, v)) in params().filter(|(n, _)| n == name).enumerate() {
                    if k > 0 {
                        out.push(b',');
                    }
                    json::write_sd_value(out, v);
                }
                out.push(b']');
            }
        }
        out.push(b'}');
    }
    out.push(b'}');
}

fn write_addr(peer: SocketAddr, out: &mut Vec<u8>) {
    match peer {
        SocketAddr::V4(a) => {
            let mut b = itoa::Buffer::new();
            let [o1, o2, o3, o4] = a.ip().octets();
            for (i, o) in [o1, o2, o3, o4].into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(b.format(o).as_bytes());
            }
            out.push(b':');
            out.extend_from_slice(b.format(a.port()).as_bytes());
        }
        // Rare enough for the formatter; writing to a Vec cannot fail.
        SocketAddr::V6(a) => {
            let _ = write!(out, "[{}]:{}", a.ip(), a.port());
        }
    }
}

fn write_process(ev: &Event<'_>, out: &mut Vec<u8>) {
    let pid = ev.pid();
    if ev.appname.is_none() && pid.is_none() {
        return;
    }
    out.extend_from_slice(b",\"process\":{");
    if let Some(a) = ev.appname {
        out.extend_from_slice(b"\"name\":");
        json::write_str(out, a);
    }
    if let Some(p) = pid {
        if ev.appname.is_some() {
            out.push(b',');
        }
        out.extend_from_slice(b"\"pid\":");
        out.extend_from_slice(itoa::Buffer::new().format(p).as_bytes());
    }
    out.push(b'}');
}

fn write_tags(ev: &Event<'_>, out: &mut Vec<u8>) {
    let tags: [(&[u8], bool); 4] = [
        (b"\"_parse_failure\"", ev.parse_failure),
        (
            b"\"_truncated\"",
            ev.record_flags.contains(RecordFlags::TRUNCATED),
        ),
        (
            b"\"_incomplete\"",
            ev.record_flags.contains(RecordFlags::INCOMPLETE),
        ),
        (b"\"_invalid_utf8\"", ev.invalid_utf8),
    ];
    if !tags.iter().any(|(_, on)| *on) {
        return;
    }
    out.extend_from_slice(b",\"tags\":[");
    let mut first = true;
    for (tag, on) in tags {
        if on {
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(tag);
        }
    }
    out.push(b']');
}

fn write_base64(raw: &[u8], out: &mut Vec<u8>) {
    let engine = &base64::engine::general_purpose::STANDARD;
    let start = out.len();
    let Some(len) = base64::encoded_len(raw.len(), true) else {
        return;
    };
    out.resize(start + len, 0);
    match engine.encode_slice(raw, &mut out[start..]) {
        Ok(written) => out.truncate(start + written),
        Err(_) => out.truncate(start),
    }
}

#[cfg(test)]
mod tests;
