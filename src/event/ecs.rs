//! The ECS event line of a [`SealedEvent`]: what SIEMs, `inspect` and exports see.
//!
//! Field names follow ECS; absent fields are omitted (never `null`).
//!
//! ```text
//! {"@timestamp":"<message time, else received>","event":{"id":"<stream>:<position>",
//!  "created":"<received>","kind":"event","original":"<raw line>"},"message":"…",
//!  "host":{"name":"…"},"log":{"syslog":{"priority":13,"facility":{"code":1,"name":"user"},
//!  "severity":{"code":5,"name":"notice"},"hostname":"…","appname":"…","procid":"…",
//!  "msgid":"…","version":1,"structured_data":{"id":{"k":"v"}}},"source":{"address":"ip:port"},
//!  "file":{"path":"…"},"offset":123},
//!  "process":{"name":"…","pid":123},"observer":{"ingress":{"name":"<source>"}},
//!  "tags":["_parse_failure","_truncated","_incomplete","_invalid_utf8"],
//!  "sealtrail":{"original_base64":"…","journald":{"cursor":"…","unit":"…","uid":0,
//!  "comm":"…","transport":"…"}}}
//! ```
//!
//! `log.file.path` and `log.offset` (the line's byte offset) come with file lines;
//! `sealtrail.journald.*` with journal entries (whose `event.original` is the entry as
//! `journalctl --output=json` prints it). Authentication events add `event.category`,
//! `event.type`, `event.action`, `event.outcome`, `event.reason`, `user.*`, `source.*`
//! and `sealtrail.auth.*`.
//!
//! Times are RFC 3339 UTC with nine fraction digits. `event.original` is the raw line;
//! when it is not valid UTF-8 it holds the lossy text (U+FFFD for bad bytes) and
//! `sealtrail.original_base64` keeps the exact bytes. Repeated structured-data
//! parameters (allowed by RFC 5424) become arrays; a repeated SD-ID is merged.

use syslog_loose::StructuredElement;

use super::audit::AuditEvent;
use super::compact::{write_addr, write_base64, write_ip, write_keywords, write_tags};
use super::json;
use super::time::TimestampFormatter;
use super::{Keywords, ProcId, SealedAuth, SealedEvent, SealedJournal, StructuredData};

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

/// Severity name of a syslog severity code (0..=7).
pub fn severity_name(code: u8) -> Option<&'static str> {
    SEVERITY_NAMES.get(usize::from(code)).copied()
}

/// Writes the `"name":` of each member of one JSON object, with commas between them.
#[derive(Default)]
struct Members {
    started: bool,
}

impl Members {
    fn key(&mut self, out: &mut Vec<u8>, name: &[u8]) {
        if self.started {
            out.push(b',');
        }
        self.started = true;
        out.extend_from_slice(name);
    }
}

/// Renders ECS lines, keeping the formatted date of the last second it wrote (events
/// come in time order, so most share it).
#[derive(Default)]
pub struct EcsWriter {
    message_time: TimestampFormatter,
    received_time: TimestampFormatter,
}

impl EcsWriter {
    /// [`super::render_ecs`], keeping this writer's formatted dates.
    pub fn render_line(
        &mut self,
        line: &[u8],
        stream: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), super::EventError> {
        if !super::is_compact(line) {
            out.extend_from_slice(line);
            return Ok(());
        }
        self.write(&super::compact::parse(line)?, stream, out);
        Ok(())
    }

    /// Appends the ECS line of `ev` (no `\n`); `stream` names the stream in `event.id`.
    pub fn write(&mut self, ev: &SealedEvent<'_>, stream: &str, out: &mut Vec<u8>) {
        let auth = ev.auth.as_ref();
        out.extend_from_slice(b"{\"@timestamp\":\"");
        self.message_time.write(ev.time_ns(), out);
        out.extend_from_slice(b"\",\"event\":{\"id\":\"");
        json::write_str_body(out, stream.as_bytes());
        out.push(b':');
        out.extend_from_slice(itoa::Buffer::new().format(ev.position).as_bytes());
        out.extend_from_slice(b"\",\"created\":\"");
        self.received_time.write(ev.received_ns, out);
        out.extend_from_slice(b"\",\"kind\":\"event\",\"original\":");
        json::write_str(out, &ev.original);
        if let Some(a) = auth {
            write_auth_event_fields(a, out);
        } else if let Some(a) = &ev.audit {
            write_audit_event_fields(a, out);
        }
        out.extend_from_slice(b"},\"message\":");
        json::write_str(out, &ev.message());
        if let Some(h) = &ev.hostname {
            out.extend_from_slice(b",\"host\":{\"name\":");
            json::write_str(out, h);
            out.push(b'}');
        }
        write_log(ev, out);
        write_process(ev, out);
        if let Some(name) = &ev.ingress {
            out.extend_from_slice(b",\"observer\":{\"ingress\":{\"name\":");
            json::write_str(out, name);
            out.extend_from_slice(b"}}");
        }
        if let Some(c) = &ev.tls_client {
            write_tls_client(c, out);
        }
        if let Some(a) = auth {
            write_auth_entities(a, out);
        } else if let Some(a) = &ev.audit {
            write_audit_entities(a, out);
        }
        if !ev.tags.is_empty() {
            out.extend_from_slice(b",\"tags\":");
            write_tags(ev.tags, out);
        }
        let audit_details = ev.audit.as_ref().filter(|a| {
            a.resource_type.is_some() || a.resource_id.is_some() || a.context.is_some()
        });
        if ev.original_bytes.is_some()
            || auth.is_some()
            || ev.journal.is_some()
            || audit_details.is_some()
            || ev.cred.is_some()
        {
            out.extend_from_slice(b",\"sealtrail\":{");
            let mut first = true;
            if let Some(b) = &ev.original_bytes {
                out.extend_from_slice(b"\"original_base64\":\"");
                write_base64(b, out);
                out.push(b'"');
                first = false;
            }
            if let Some(a) = auth {
                if !first {
                    out.push(b',');
                }
                write_auth_details(a, out);
                first = false;
            }
            if let Some(j) = &ev.journal {
                if !first {
                    out.push(b',');
                }
                write_journal_meta(j, out);
                first = false;
            }
            if let Some(a) = audit_details {
                if !first {
                    out.push(b',');
                }
                write_audit_details(a, out);
                first = false;
            }
            if let Some(c) = ev.cred {
                if !first {
                    out.push(b',');
                }
                let mut n = itoa::Buffer::new();
                out.extend_from_slice(b"\"peer\":{\"pid\":");
                out.extend_from_slice(n.format(c.pid).as_bytes());
                out.extend_from_slice(b",\"uid\":");
                out.extend_from_slice(n.format(c.uid).as_bytes());
                out.extend_from_slice(b",\"gid\":");
                out.extend_from_slice(n.format(c.gid).as_bytes());
                out.push(b'}');
            }
            out.push(b'}');
        }
        out.push(b'}');
    }
}

/// `event.category`, `event.type` (each when given), `event.action`, `event.outcome`,
/// `event.reason` of an application audit event (inside the `event` object).
fn write_audit_event_fields(a: &AuditEvent<'_>, out: &mut Vec<u8>) {
    for (key, list) in [
        (&b",\"category\":"[..], &a.category),
        (b",\"type\":", &a.kind_type),
    ] {
        if !list.is_empty() {
            out.extend_from_slice(key);
            write_keywords(&Keywords::Borrowed(list), out);
        }
    }
    write_action_outcome_reason(&a.action, &a.outcome, a.reason.as_deref(), out);
}

/// ECS `user.*` (the actor) and `source.ip` of an application audit event.
fn write_audit_entities(a: &AuditEvent<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b",\"user\":{\"name\":");
    json::write_str(out, &a.actor);
    if let Some(id) = &a.actor_id {
        out.extend_from_slice(b",\"id\":");
        json::write_str(out, id);
    }
    out.push(b'}');
    if let Some(ip) = a.source_ip {
        out.extend_from_slice(b",\"source\":{\"ip\":\"");
        write_ip(ip, out);
        out.extend_from_slice(b"\"}");
    }
}

/// `sealtrail.audit.resource.{type,id}` and `sealtrail.audit.context`.
fn write_audit_details(a: &AuditEvent<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\"audit\":{");
    let mut m = Members::default();
    if a.resource_type.is_some() || a.resource_id.is_some() {
        m.key(out, b"\"resource\":{");
        let mut r = Members::default();
        for (k, v) in [
            (&b"\"type\":"[..], &a.resource_type),
            (b"\"id\":", &a.resource_id),
        ] {
            if let Some(v) = v {
                r.key(out, k);
                json::write_str(out, v);
            }
        }
        out.push(b'}');
    }
    if let Some(c) = &a.context {
        m.key(out, b"\"context\":");
        out.extend_from_slice(c.as_bytes());
    }
    out.push(b'}');
}

/// `event.category`, `event.type`, `event.action`, `event.outcome`, `event.reason`
/// (inside the `event` object).
fn write_auth_event_fields(a: &SealedAuth<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b",\"category\":");
    write_keywords(&a.category, out);
    out.extend_from_slice(b",\"type\":");
    write_keywords(&a.kind_type, out);
    write_action_outcome_reason(&a.action, &a.outcome, a.reason.as_deref(), out);
}

/// `event.action`, `event.outcome`, `event.reason`: the same for an authentication
/// event and an application audit event.
fn write_action_outcome_reason(
    action: &str,
    outcome: &str,
    reason: Option<&str>,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b",\"action\":");
    json::write_str(out, action);
    out.extend_from_slice(b",\"outcome\":");
    json::write_str(out, outcome);
    if let Some(r) = reason {
        out.extend_from_slice(b",\"reason\":");
        json::write_str(out, r);
    }
}

/// ECS `user.*` and `source.*` of an authentication event.
fn write_auth_entities(a: &SealedAuth<'_>, out: &mut Vec<u8>) {
    let user = a.user.as_deref().filter(|u| !u.is_empty());
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
            out.extend_from_slice(b"\"ip\":\"");
            write_ip(ip, out);
            out.push(b'"');
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
fn write_auth_details(a: &SealedAuth<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\"auth\":{\"attempts\":");
    out.extend_from_slice(itoa::Buffer::new().format(a.attempts).as_bytes());
    let fields: [(&[u8], Option<&str>); 7] = [
        (b"method", a.method.as_deref()),
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

fn has_structured_data(sd: &StructuredData<'_>) -> bool {
    match sd {
        StructuredData::None => false,
        StructuredData::Parsed(s) => !s.is_empty(),
        StructuredData::Json(_) => true,
    }
}

fn write_log(ev: &SealedEvent<'_>, out: &mut Vec<u8>) {
    let has_syslog = ev.priority.is_some()
        || ev.hostname.is_some()
        || ev.appname.is_some()
        || ev.procid.is_some()
        || ev.msgid.is_some()
        || ev.version.is_some()
        || has_structured_data(&ev.structured_data);
    if !has_syslog && ev.peer.is_none() && ev.file.is_none() {
        return;
    }
    out.extend_from_slice(b",\"log\":{");
    if has_syslog {
        out.extend_from_slice(b"\"syslog\":{");
        let mut m = Members::default();
        if let Some(p) = ev.priority {
            let (f, s) = (p >> 3, p & 7);
            let mut b = itoa::Buffer::new();
            m.key(out, b"\"priority\":");
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
        if let Some(h) = &ev.hostname {
            m.key(out, b"\"hostname\":");
            json::write_str(out, h);
        }
        if let Some(a) = &ev.appname {
            m.key(out, b"\"appname\":");
            json::write_str(out, a);
        }
        match &ev.procid {
            Some(ProcId::Pid(p)) => {
                m.key(out, b"\"procid\":\"");
                out.extend_from_slice(itoa::Buffer::new().format(*p).as_bytes());
                out.push(b'"');
            }
            Some(ProcId::Name(n)) => {
                m.key(out, b"\"procid\":");
                json::write_str(out, n);
            }
            None => {}
        }
        if let Some(id) = &ev.msgid {
            m.key(out, b"\"msgid\":");
            json::write_str(out, id);
        }
        if let Some(v) = ev.version {
            m.key(out, b"\"version\":");
            out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        }
        if has_structured_data(&ev.structured_data) {
            m.key(out, b"\"structured_data\":");
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
    if let Some((path, offset)) = &ev.file {
        if has_syslog || ev.peer.is_some() {
            out.push(b',');
        }
        out.extend_from_slice(b"\"file\":{\"path\":");
        json::write_str(out, path);
        out.extend_from_slice(b"},\"offset\":");
        out.extend_from_slice(itoa::Buffer::new().format(*offset).as_bytes());
    }
    out.push(b'}');
}

/// `tls.*` of a message received over TLS from a verified client certificate.
fn write_tls_client(identity: &str, out: &mut Vec<u8>) {
    let mut parts = identity.split('\x1f');
    out.extend_from_slice(b",\"tls\":{\"established\":true,\"client\":{\"subject\":");
    json::write_str(out, parts.next().unwrap_or(""));
    let mut names = parts.peekable();
    if names.peek().is_some() {
        out.extend_from_slice(b",\"x509\":{\"alternative_names\":[");
        for (i, n) in names.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::write_str(out, n);
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"}}");
}

/// `sealtrail.journald.*`: what ECS has no field for in a journal entry.
fn write_journal_meta(j: &SealedJournal<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\"journald\":");
    write_journal_object(j, out);
}

/// `{"cursor":…,"unit":…,"comm":…,"transport":…,"uid":…}`: the same object in the
/// compact line (`jd`) and in ECS (`sealtrail.journald`).
pub(super) fn write_journal_object(j: &SealedJournal<'_>, out: &mut Vec<u8>) {
    out.push(b'{');
    let mut m = Members::default();
    for (k, v) in [
        (&b"\"cursor\":"[..], &j.cursor),
        (b"\"unit\":", &j.unit),
        (b"\"comm\":", &j.comm),
        (b"\"transport\":", &j.transport),
    ] {
        if let Some(v) = v {
            m.key(out, k);
            json::write_str(out, v);
        }
    }
    if let Some(uid) = j.uid {
        m.key(out, b"\"uid\":");
        out.extend_from_slice(itoa::Buffer::new().format(uid).as_bytes());
    }
    out.push(b'}');
}

/// `{"id":{"name":"value" | ["v1","v2"]}}`: elements with the same SD-ID are merged,
/// repeated parameter names become arrays. A compact line holds exactly this object.
pub(super) fn write_structured_data(sd: &StructuredData<'_>, out: &mut Vec<u8>) {
    match sd {
        StructuredData::None => out.extend_from_slice(b"{}"),
        StructuredData::Json(raw) => out.extend_from_slice(raw.get().as_bytes()),
        StructuredData::Parsed(sd) => write_parsed_sd(sd, out),
    }
}

/// No allocation: the lists are tiny.
fn write_parsed_sd(sd: &[StructuredElement<&str>], out: &mut Vec<u8>) {
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

fn write_process(ev: &SealedEvent<'_>, out: &mut Vec<u8>) {
    let pid = ev.pid();
    if ev.appname.is_none() && pid.is_none() {
        return;
    }
    out.extend_from_slice(b",\"process\":{");
    if let Some(a) = &ev.appname {
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
