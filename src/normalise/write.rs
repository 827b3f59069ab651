//! Rendering a decoded [`Event`] as one ECS JSON line, by hand: no per-event allocation,
//! strings escaped only where needed (see the event line in the `normalise` docs).

use std::io::Write as _;
use std::net::SocketAddr;

use base64::Engine as _;
use syslog_loose::StructuredElement;

use super::{facility_name, json, severity_name, Event, Normaliser, ProcId};
use crate::auth::AuthEvent;
use crate::record::RecordFlags;

impl Normaliser {
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
        let observer = match self.listeners.get(usize::from(event.source)) {
            Some(l) => &l.observer_json,
            None => &self.unknown_listener.observer_json,
        };
        out.extend_from_slice(observer);
        if let Some(a) = auth {
            write_auth_entities(a, out);
        }
        write_tags(event, out);
        if event.invalid_utf8 || auth.is_some() || event.journal.is_some() {
            out.extend_from_slice(b",\"sealtrail\":{");
            let mut first = true;
            if event.invalid_utf8 {
                out.extend_from_slice(b"\"original_base64\":\"");
                write_base64(event.raw, out);
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
            if let Some(j) = &event.journal {
                if !first {
                    out.push(b',');
                }
                write_journal_meta(j, out);
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

fn write_log(ev: &Event<'_>, out: &mut Vec<u8>) {
    let has_syslog = ev.priority.is_some()
        || ev.hostname.is_some()
        || ev.appname.is_some()
        || ev.procid.is_some()
        || ev.msgid.is_some()
        || ev.version.is_some()
        || !ev.structured_data.is_empty();
    if !has_syslog && ev.peer.is_none() && ev.file.is_none() {
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
    if let Some((path, offset)) = ev.file {
        if has_syslog || ev.peer.is_some() {
            out.push(b',');
        }
        out.extend_from_slice(b"\"file\":{\"path\":");
        json::write_str(out, &String::from_utf8_lossy(path));
        out.extend_from_slice(b"},\"offset\":");
        out.extend_from_slice(itoa::Buffer::new().format(offset).as_bytes());
    }
    out.push(b'}');
}

/// `sealtrail.journald.*`: what ECS has no field for in a journal entry.
fn write_journal_meta(j: &super::JournalMeta<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\"journald\":{");
    let mut first = true;
    let mut key = |out: &mut Vec<u8>, k: &[u8]| {
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(k);
    };
    for (k, v) in [
        (&b"\"cursor\":"[..], j.cursor),
        (b"\"unit\":", j.unit),
        (b"\"comm\":", j.comm),
        (b"\"transport\":", j.transport),
    ] {
        if let Some(v) = v {
            key(out, k);
            json::write_str(out, v);
        }
    }
    if let Some(uid) = j.uid {
        key(out, b"\"uid\":");
        out.extend_from_slice(itoa::Buffer::new().format(uid).as_bytes());
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
        (
            b"\"_invalid_utf8\"",
            ev.invalid_utf8 || ev.journal.as_ref().is_some_and(|j| j.lossy_message),
        ),
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
