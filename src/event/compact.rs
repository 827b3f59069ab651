//! The compact event line (`docs/FORMAT.md` §10): written on the sealing hot path by
//! hand (no allocation, strings escaped only where needed), read back with serde.
//!
//! ```text
//! {"v":3,"pos":1234,"rcv":1764237600123456789,"in":"tcp","peer":"192.0.2.10:51514",
//!  "dt":-2123456789,"pri":38,"host":[20,24],"app":"sshd","pid":4242,"m":33,
//!  "auth":{"act":"ssh_login","out":"failure","user":"root","ip":"203.0.113.5",
//!  "port":52144,"n":1,"method":"password"},
//!  "o":"<38>Nov 27 09:59:58 web1 sshd[4242]: Failed password for root from …"}
//! ```
//!
//! Version 3 writes less of what the original already says than version 2 did: the
//! host and program as byte ranges of `o` where that is shorter, the message's time
//! relative to the received time (`dt`), `auth.cat` and `auth.type` only where they
//! differ from what §10.2's table gives the action, and `auth.n` only when it is not 0.
//! Both versions are read.

use std::borrow::Cow;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::json;
use super::{
    EventError, Keywords, Message, ProcId, SealedAuth, SealedEvent, SealedJournal, StructuredData,
    Tags, COMPACT_PREFIX,
};

/// Appends the compact line of `ev` (no `\n`; a JSON string never holds a raw one).
pub fn write(ev: &SealedEvent<'_>, out: &mut Vec<u8>) {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(COMPACT_PREFIX);
    out.extend_from_slice(b"\"pos\":");
    out.extend_from_slice(n.format(ev.position).as_bytes());
    out.extend_from_slice(b",\"rcv\":");
    out.extend_from_slice(n.format(ev.received_ns).as_bytes());
    if let Some(i) = &ev.ingress {
        out.extend_from_slice(b",\"in\":");
        json::write_str(out, i);
    }
    if let Some(p) = ev.peer {
        out.extend_from_slice(b",\"peer\":\"");
        write_addr(p, out);
        out.push(b'"');
    }
    str_member(out, b",\"tlsc\":", ev.tls_client.as_deref());
    if let Some(c) = ev.cred {
        out.extend_from_slice(b",\"cred\":[");
        out.extend_from_slice(n.format(c.pid).as_bytes());
        out.push(b',');
        out.extend_from_slice(n.format(c.uid).as_bytes());
        out.push(b',');
        out.extend_from_slice(n.format(c.gid).as_bytes());
        out.push(b']');
    }
    if ev.audit.is_some() {
        out.extend_from_slice(b",\"kind\":\"audit\"");
    }
    if let Some((path, offset)) = &ev.file {
        out.extend_from_slice(b",\"file\":");
        json::write_str(out, path);
        out.extend_from_slice(b",\"off\":");
        out.extend_from_slice(n.format(*offset).as_bytes());
    }
    if let Some(t) = ev.timestamp_ns {
        // Relative to the received time: a shorter number, the same information.
        match t.checked_sub(ev.received_ns) {
            Some(d) => {
                out.extend_from_slice(b",\"dt\":");
                out.extend_from_slice(n.format(d).as_bytes());
            }
            None => {
                out.extend_from_slice(b",\"ts\":");
                out.extend_from_slice(n.format(t).as_bytes());
            }
        }
    }
    if let Some(p) = ev.priority {
        out.extend_from_slice(b",\"pri\":");
        out.extend_from_slice(n.format(p).as_bytes());
    }
    if let Some(v) = ev.version {
        out.extend_from_slice(b",\"ver\":");
        out.extend_from_slice(n.format(v).as_bytes());
    }
    part_member(out, b",\"host\":", &ev.original, ev.hostname.as_deref());
    part_member(out, b",\"app\":", &ev.original, ev.appname.as_deref());
    match &ev.procid {
        Some(ProcId::Pid(p)) => {
            out.extend_from_slice(b",\"pid\":");
            out.extend_from_slice(n.format(*p).as_bytes());
        }
        Some(ProcId::Name(s)) => str_member(out, b",\"pid\":", Some(s)),
        None => {}
    }
    str_member(out, b",\"msgid\":", ev.msgid.as_deref());
    match &ev.structured_data {
        StructuredData::None => {}
        StructuredData::Parsed([]) => {}
        sd => {
            out.extend_from_slice(b",\"sd\":");
            super::ecs::write_structured_data(sd, out);
        }
    }
    match &ev.message {
        Message::Span(0, end) if *end == ev.original.len() => {}
        Message::Span(start, end) if *end == ev.original.len() => {
            out.extend_from_slice(b",\"m\":");
            out.extend_from_slice(n.format(*start).as_bytes());
        }
        Message::Span(start, end) => {
            out.extend_from_slice(b",\"m\":[");
            out.extend_from_slice(n.format(*start).as_bytes());
            out.push(b',');
            out.extend_from_slice(n.format(*end).as_bytes());
            out.push(b']');
        }
        Message::Text(t) => str_member(out, b",\"m\":", Some(t)),
    }
    if !ev.tags.is_empty() {
        out.extend_from_slice(b",\"tags\":");
        write_tags(ev.tags, out);
    }
    if let Some(a) = &ev.auth {
        write_auth(a, out);
    }
    if let Some(j) = &ev.journal {
        write_journal(j, out);
    }
    if let Some(b) = &ev.original_bytes {
        out.extend_from_slice(b",\"b64\":\"");
        write_base64(b, out);
        out.push(b'"');
    }
    out.extend_from_slice(b",\"o\":");
    json::write_str(out, &ev.original);
    out.push(b'}');
}

fn str_member(out: &mut Vec<u8>, key: &[u8], v: Option<&str>) {
    if let Some(v) = v {
        out.extend_from_slice(key);
        json::write_str(out, v);
    }
}

/// A header field as `[start,end]`, the byte range of the original it is a slice of,
/// when that is shorter to write than the string; else as the string.
fn part_member(out: &mut Vec<u8>, key: &[u8], original: &str, v: Option<&str>) {
    let Some(v) = v else {
        return;
    };
    out.extend_from_slice(key);
    match span_in(original, v) {
        Some((start, end)) if digits(start) + digits(end) + 3 < v.len() + 2 => {
            let mut n = itoa::Buffer::new();
            out.push(b'[');
            out.extend_from_slice(n.format(start).as_bytes());
            out.push(b',');
            out.extend_from_slice(n.format(end).as_bytes());
            out.push(b']');
        }
        _ => json::write_str(out, v),
    }
}

/// Where `part` lies in `whole`, when it is a slice of it: the parser's header fields
/// borrow from the line, so this is two subtractions, not a search. (A slice of a
/// `str` starts and ends on character boundaries of the `str` it was cut from.)
fn span_in(whole: &str, part: &str) -> Option<(usize, usize)> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= whole.len()).then_some((start, end))
}

/// Decimal digits of `n`.
fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// `auth.cat` and `auth.type` of an `act` and `out` when the line leaves them out
/// (§10.2's table; `docs/FORMAT.md` holds the same table, and a test compares them).
/// What the recognisers give these actions; a line whose keywords differ carries them.
pub(crate) fn implied_keywords(
    act: &str,
    out: &str,
) -> Option<(&'static [&'static str], &'static [&'static str])> {
    const START: &[&str] = &["start"];
    const END: &[&str] = &["end"];
    const SESSION: &[&str] = &["session"];
    Some(match (out, act) {
        ("failure", _) => (&["authentication"], &["info"]),
        ("success", "ssh_login" | "login" | "logged-in") => (&["authentication", "session"], START),
        ("success", "session_opened" | "session_new") => (SESSION, START),
        ("success", "session_closed" | "session_removed" | "ssh_disconnect") => (SESSION, END),
        ("success", "sudo_command" | "ran-command") => (&["process"], START),
        ("unknown", "ssh_disconnect") => (&["network"], &["connection", "end"]),
        _ => return None,
    })
}

/// `["a","b"]`: `event.category` and `event.type`, in the compact line and in ECS.
pub(super) fn write_keywords(k: &Keywords<'_>, out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, t) in k.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::write_str(out, t);
    }
    out.push(b']');
}

/// `["_parse_failure",…]` in ECS order.
pub(super) fn write_tags(tags: Tags, out: &mut Vec<u8>) {
    out.push(b'[');
    let mut first = true;
    for (t, name) in Tags::NAMES {
        if tags.contains(t) {
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.push(b'"');
        }
    }
    out.push(b']');
}

fn write_auth(a: &SealedAuth<'_>, out: &mut Vec<u8>) {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b",\"auth\":{\"act\":");
    json::write_str(out, &a.action);
    str_member(out, b",\"out\":", Some(&a.outcome));
    let implied = implied_keywords(&a.action, &a.outcome);
    let as_implied = implied.is_some_and(|(c, t)| {
        a.category.iter().eq(c.iter().copied()) && a.kind_type.iter().eq(t.iter().copied())
    });
    if !as_implied {
        out.extend_from_slice(b",\"cat\":");
        write_keywords(&a.category, out);
        out.extend_from_slice(b",\"type\":");
        write_keywords(&a.kind_type, out);
    }
    str_member(out, b",\"reason\":", a.reason.as_deref());
    str_member(out, b",\"user\":", a.user.as_deref());
    if let Some(id) = a.user_id {
        out.extend_from_slice(b",\"uid\":");
        out.extend_from_slice(n.format(id).as_bytes());
    }
    str_member(out, b",\"target\":", a.target_user.as_deref());
    if let Some(ip) = a.source_ip {
        out.extend_from_slice(b",\"ip\":\"");
        write_ip(ip, out);
        out.push(b'"');
    }
    if let Some(p) = a.source_port {
        out.extend_from_slice(b",\"port\":");
        out.extend_from_slice(n.format(p).as_bytes());
    }
    str_member(out, b",\"domain\":", a.source_domain.as_deref());
    if a.attempts != 0 {
        out.extend_from_slice(b",\"n\":");
        out.extend_from_slice(n.format(a.attempts).as_bytes());
    }
    str_member(out, b",\"method\":", a.method.as_deref());
    str_member(out, b",\"service\":", a.service.as_deref());
    str_member(out, b",\"tty\":", a.tty.as_deref());
    str_member(out, b",\"pwd\":", a.pwd.as_deref());
    str_member(out, b",\"cmd\":", a.command.as_deref());
    str_member(out, b",\"sid\":", a.session_id.as_deref());
    str_member(out, b",\"exe\":", a.exe.as_deref());
    out.push(b'}');
}

fn write_journal(j: &SealedJournal<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b",\"jd\":");
    super::ecs::write_journal_object(j, out);
}

/// `a.b.c.d:port` / `[v6]:port`, without the formatter for IPv4.
pub(super) fn write_addr(peer: SocketAddr, out: &mut Vec<u8>) {
    match peer {
        SocketAddr::V4(a) => {
            write_ip(IpAddr::V4(*a.ip()), out);
            out.push(b':');
            out.extend_from_slice(itoa::Buffer::new().format(a.port()).as_bytes());
        }
        // Rare enough for the formatter; writing to a Vec cannot fail.
        SocketAddr::V6(a) => {
            let _ = write!(out, "[{}]:{}", a.ip(), a.port());
        }
    }
}

pub(super) fn write_ip(ip: IpAddr, out: &mut Vec<u8>) {
    match ip {
        IpAddr::V4(a) => {
            let mut b = itoa::Buffer::new();
            for (i, o) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(b.format(o).as_bytes());
            }
        }
        IpAddr::V6(a) => {
            let _ = write!(out, "{a}");
        }
    }
}

pub(super) fn write_base64(raw: &[u8], out: &mut Vec<u8>) {
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

// ---------------------------------------------------------------------------------------
// Reading

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    v: u64,
    pos: u64,
    rcv: i64,
    #[serde(borrow, default, rename = "in")]
    ingress: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    peer: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tlsc: Option<Cow<'a, str>>,
    #[serde(default)]
    cred: Option<[u32; 3]>,
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    file: Option<Cow<'a, str>>,
    #[serde(default)]
    off: Option<u64>,
    #[serde(default)]
    ts: Option<i64>,
    #[serde(default)]
    dt: Option<i64>,
    #[serde(default)]
    pri: Option<u8>,
    #[serde(default)]
    ver: Option<u32>,
    #[serde(borrow, default)]
    host: Option<&'a RawValue>,
    #[serde(borrow, default)]
    app: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pid: Option<&'a RawValue>,
    #[serde(borrow, default)]
    msgid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    sd: Option<&'a RawValue>,
    #[serde(borrow, default)]
    m: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tags: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default)]
    auth: Option<AuthLine<'a>>,
    #[serde(borrow, default)]
    jd: Option<JournalLine<'a>>,
    #[serde(borrow, default)]
    b64: Option<Cow<'a, str>>,
    #[serde(borrow)]
    o: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthLine<'a> {
    #[serde(borrow, default)]
    cat: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default, rename = "type")]
    kind_type: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow)]
    act: Cow<'a, str>,
    #[serde(borrow)]
    out: Cow<'a, str>,
    #[serde(borrow, default)]
    reason: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user: Option<Cow<'a, str>>,
    #[serde(default)]
    uid: Option<u32>,
    #[serde(borrow, default)]
    target: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    ip: Option<Cow<'a, str>>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(borrow, default)]
    domain: Option<Cow<'a, str>>,
    #[serde(default)]
    n: Option<u32>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    service: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tty: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pwd: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    cmd: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    sid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    exe: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalLine<'a> {
    #[serde(borrow, default)]
    cursor: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    unit: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    comm: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    transport: Option<Cow<'a, str>>,
    #[serde(default)]
    uid: Option<u32>,
}

fn invalid(what: impl Into<String>) -> EventError {
    EventError::Invalid(what.into())
}

/// The version number a line beginning `{"v":` claims.
fn claimed_version(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"{\"v\":")?;
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// Reads one compact line (without its `\n`). Strings borrow from `line` where they
/// hold no escapes.
pub fn parse(line: &[u8]) -> Result<SealedEvent<'_>, EventError> {
    match claimed_version(line) {
        Some(2 | 3) => {}
        Some(v) => return Err(EventError::Version(v)),
        None => return Err(invalid("does not begin with {\"v\":3, or {\"v\":2,")),
    }
    let l: Line<'_> = serde_json::from_slice(line)?;
    if !(2..=3).contains(&l.v) {
        return Err(EventError::Version(l.v));
    }
    let v2 = l.v == 2;
    if v2 && l.dt.is_some() {
        return Err(invalid("dt is a member of version 3"));
    }
    let timestamp_ns = match (l.ts, l.dt) {
        (Some(_), Some(_)) => return Err(invalid("ts and dt do not come together")),
        (Some(t), None) => Some(t),
        (None, Some(d)) => Some(
            l.rcv
                .checked_add(d)
                .ok_or_else(|| invalid("rcv + dt is out of range"))?,
        ),
        (None, None) => None,
    };
    let hostname = read_part("host", l.host, &l.o, v2)?;
    let appname = read_part("app", l.app, &l.o, v2)?;
    let peer = match &l.peer {
        Some(p) => Some(
            p.parse::<SocketAddr>()
                .map_err(|_| invalid(format!("peer {p:?} is not an address:port")))?,
        ),
        None => None,
    };
    let file = match (l.file, l.off) {
        (Some(path), Some(off)) => Some((path, off)),
        (None, None) => None,
        _ => return Err(invalid("file and off come together")),
    };
    let procid = match l.pid {
        None => None,
        Some(raw) if raw.get().starts_with('"') => Some(ProcId::Name(serde_json::from_str::<
            Cow<'_, str>,
        >(raw.get())?)),
        Some(raw) => Some(ProcId::Pid(serde_json::from_str::<i32>(raw.get())?)),
    };
    if l.pri.is_some_and(|p| p > 191) {
        return Err(invalid("pri is above 191"));
    }
    let message = read_message(l.m, &l.o)?;
    let mut tags = Tags::default();
    for t in l.tags.iter().flatten() {
        let tag = Tags::from_name(t).ok_or_else(|| invalid(format!("unknown tag {t:?}")))?;
        tags.set(tag, true);
    }
    let original_bytes = match &l.b64 {
        Some(b) => Some(Cow::Owned(
            base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map_err(|e| invalid(format!("b64: {e}")))?,
        )),
        None => None,
    };
    let structured_data = match l.sd {
        Some(raw) if raw.get().starts_with('{') => StructuredData::Json(raw),
        Some(_) => return Err(invalid("sd is not an object")),
        None => StructuredData::None,
    };
    let auth = match l.auth {
        Some(a) => Some(read_auth(a, v2)?),
        None => None,
    };
    let audit = match l.kind.as_deref() {
        None => None,
        // The object is sealed verbatim; reading it is the one parse every stage uses.
        Some("audit") => Some(
            super::audit::AuditEvent::parse(&l.o)
                .map_err(|e| invalid(format!("an audit event's original: {e}")))?
                .into_owned(),
        ),
        Some(k) => return Err(invalid(format!("unknown kind {k:?}"))),
    };
    let journal = l.jd.map(|j| SealedJournal {
        cursor: j.cursor,
        unit: j.unit,
        comm: j.comm,
        transport: j.transport,
        uid: j.uid,
    });
    Ok(SealedEvent {
        position: l.pos,
        received_ns: l.rcv,
        ingress: l.ingress,
        peer,
        tls_client: l.tlsc,
        cred: l
            .cred
            .map(|[pid, uid, gid]| crate::record::PeerCred { pid, uid, gid }),
        file,
        original: l.o,
        original_bytes,
        timestamp_ns,
        priority: l.pri,
        version: l.ver,
        hostname,
        appname,
        procid,
        msgid: l.msgid,
        structured_data,
        message,
        tags,
        auth,
        journal,
        audit,
    })
}

/// `m`: absent (the whole original), a start offset (to the end), `[start,end]`, or a
/// string. Offsets are byte offsets into the original text and must fall on
/// character boundaries.
fn read_message<'a>(m: Option<&'a RawValue>, original: &str) -> Result<Message<'a>, EventError> {
    let Some(raw) = m else {
        return Ok(Message::Span(0, original.len()));
    };
    let text = raw.get();
    let (start, end) = if text.starts_with('"') {
        return Ok(Message::Text(serde_json::from_str(text)?));
    } else if text.starts_with('[') {
        let [a, b] = serde_json::from_str::<[usize; 2]>(text)?;
        (a, b)
    } else {
        (serde_json::from_str::<usize>(text)?, original.len())
    };
    if start > end || original.get(start..end).is_none() {
        return Err(invalid(format!(
            "m [{start},{end}] is not a range of the original's {} bytes on character boundaries",
            original.len()
        )));
    }
    Ok(Message::Span(start, end))
}

/// `host` or `app`: a string, or (version 3) `[start,end]`, a byte range of the
/// original on character boundaries.
fn read_part<'a>(
    name: &str,
    raw: Option<&'a RawValue>,
    original: &Cow<'a, str>,
    v2: bool,
) -> Result<Option<Cow<'a, str>>, EventError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let text = raw.get();
    if text.starts_with('"') {
        return Ok(Some(serde_json::from_str(text)?));
    }
    if v2 {
        return Err(invalid(format!("{name} is not a string")));
    }
    let [start, end] = serde_json::from_str::<[usize; 2]>(text)?;
    let bad = || {
        invalid(format!(
            "{name} [{start},{end}] is not a range of the original's {} bytes on character boundaries",
            original.len()
        ))
    };
    if start > end {
        return Err(bad());
    }
    Ok(Some(match original {
        Cow::Borrowed(o) => Cow::Borrowed(o.get(start..end).ok_or_else(bad)?),
        Cow::Owned(o) => Cow::Owned(o.get(start..end).ok_or_else(bad)?.to_owned()),
    }))
}

fn read_auth(a: AuthLine<'_>, v2: bool) -> Result<SealedAuth<'_>, EventError> {
    let source_ip = match &a.ip {
        Some(ip) => Some(
            ip.parse::<IpAddr>()
                .map_err(|_| invalid(format!("auth.ip {ip:?} is not an IP address")))?,
        ),
        None => None,
    };
    let (category, kind_type) = match (a.cat, a.kind_type) {
        (Some(c), Some(t)) => (Keywords::Parsed(c), Keywords::Parsed(t)),
        (None, None) if !v2 => match implied_keywords(&a.act, &a.out) {
            Some((c, t)) => (Keywords::Static(c), Keywords::Static(t)),
            None => {
                return Err(invalid(format!(
                    "auth.cat and auth.type are left out, and the table gives none for act {:?} out {:?}",
                    a.act, a.out
                )))
            }
        },
        _ => return Err(invalid("auth.cat and auth.type come together")),
    };
    if v2 && a.n.is_none() {
        return Err(invalid("auth.n is missing"));
    }
    Ok(SealedAuth {
        category,
        kind_type,
        action: a.act,
        outcome: a.out,
        reason: a.reason,
        user: a.user,
        user_id: a.uid,
        target_user: a.target,
        source_ip,
        source_port: a.port,
        source_domain: a.domain,
        attempts: a.n.unwrap_or(0),
        method: a.method,
        service: a.service,
        tty: a.tty,
        pwd: a.pwd,
        command: a.cmd,
        session_id: a.sid,
        exe: a.exe,
    })
}
