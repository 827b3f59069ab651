//! Renders an event as an RFC 5424 syslog message for a SIEM: the header from the
//! normalised fields, the normalised fields again as structured data, and the original
//! line, verbatim, as MSG. Framed for TCP with octet counting (RFC 6587 §3.4.1).

use crate::detect::AlertView;
use crate::event::time::TimestampFormatter;
use crate::event::{ProcId, SealedEvent};

/// The SD-ID of sealtrail's structured data. 32473 is the private enterprise number
/// RFC 5612 reserves for documentation and examples.
pub const SD_ID: &str = "sealtrail@32473";

/// How the header is filled when the event does not say.
#[derive(Debug, Clone, Default)]
pub struct HeaderOptions {
    /// APP-NAME for every message; `None`: the event's own, else `sealtrail`.
    pub app_name: Option<String>,
    /// HOSTNAME for every message; `None`: the event's own, else the stream id.
    pub hostname: Option<String>,
    /// Facility (0-23) for every message; `None`: the event's own, else user (1).
    pub facility: Option<u8>,
}

/// Appends `s` as a header field: printable US-ASCII without spaces (RFC 5424 §6),
/// at most `max` characters; `-` when nothing is left.
fn push_field(out: &mut Vec<u8>, s: Option<&str>, max: usize) {
    let start = out.len();
    out.extend(
        s.unwrap_or("")
            .bytes()
            .filter(|b| b.is_ascii_graphic())
            .take(max),
    );
    if out.len() == start {
        out.push(b'-');
    }
}

/// Appends ` name="value"` with `"`, `\` and `]` escaped (RFC 5424 §6.3.3).
fn push_param(out: &mut Vec<u8>, name: &str, value: impl std::fmt::Display) {
    use std::io::Write as _;
    push_param_with(out, name, |out| {
        let _ = write!(out, "{value}");
    });
}

/// Like [`push_param`], the value's bytes written by `value`.
fn push_param_with(out: &mut Vec<u8>, name: &str, value: impl FnOnce(&mut Vec<u8>)) {
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    let from = out.len();
    value(out);
    // The escapes are ASCII, so escaping bytes keeps UTF-8 intact.
    if out[from..].iter().any(|b| matches!(b, b'"' | b'\\' | b']')) {
        let raw = out.split_off(from);
        for b in raw {
            if matches!(b, b'"' | b'\\' | b']') {
                out.push(b'\\');
            }
            out.push(b);
        }
    }
    out.push(b'"');
}

/// Writes the items with `,` between them.
fn write_list<'a>(out: &mut Vec<u8>, items: impl Iterator<Item = &'a str>) {
    for (i, x) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(x.as_bytes());
    }
}

/// Renders events as RFC 5424 messages, reusing its buffers and the formatted date of
/// the last second it wrote (events come in time order): no allocation per event.
#[derive(Default)]
pub struct Rfc5424Writer {
    message_time: TimestampFormatter,
    received_time: TimestampFormatter,
    scratch: Vec<u8>,
}

impl Rfc5424Writer {
    /// Appends the message `body` writes, octet-counted (RFC 6587 §3.4.1): built in the
    /// writer's scratch buffer, as its length goes first.
    pub fn framed(&mut self, out: &mut Vec<u8>, body: impl FnOnce(&mut Self, &mut Vec<u8>)) {
        let mut msg = std::mem::take(&mut self.scratch);
        msg.clear();
        body(self, &mut msg);
        out.extend_from_slice(itoa::Buffer::new().format(msg.len()).as_bytes());
        out.push(b' ');
        out.extend_from_slice(&msg);
        self.scratch = msg;
    }

    /// Appends the message itself, unframed (for UDP, one datagram each).
    pub fn write(
        &mut self,
        s: &mut Vec<u8>,
        ev: &SealedEvent<'_>,
        id: &str,
        stream: &str,
        opts: &HeaderOptions,
    ) {
        let severity = ev.priority.map_or(5, |p| p & 7);
        let facility = opts
            .facility
            .or(ev.priority.map(|p| p >> 3))
            .unwrap_or(1)
            .min(23);
        let mut pri = itoa::Buffer::new();
        s.push(b'<');
        s.extend_from_slice(
            pri.format(u16::from(facility) * 8 + u16::from(severity))
                .as_bytes(),
        );
        s.extend_from_slice(b">1 ");
        self.message_time
            .write_micros(ev.timestamp_ns.unwrap_or(ev.received_ns), s);
        s.push(b' ');
        push_field(
            s,
            opts.hostname
                .as_deref()
                .or(ev.hostname.as_deref())
                .or(Some(stream)),
            255,
        );
        s.push(b' ');
        push_field(
            s,
            opts.app_name
                .as_deref()
                .or(ev.appname.as_deref())
                .or(Some("sealtrail")),
            48,
        );
        s.push(b' ');
        let mut pid = itoa::Buffer::new();
        let procid = match &ev.procid {
            Some(ProcId::Pid(p)) => Some(pid.format(*p)),
            Some(ProcId::Name(n)) => Some(n.as_ref()),
            None => None,
        };
        push_field(s, procid, 128);
        s.push(b' ');
        push_field(s, ev.msgid.as_deref(), 32);
        s.extend_from_slice(b" [");
        s.extend_from_slice(SD_ID.as_bytes());
        push_param(s, "id", id);
        let received = &mut self.received_time;
        push_param_with(s, "received", |s| received.write_micros(ev.received_ns, s));
        if let Some(i) = &ev.ingress {
            push_param(s, "ingress", i);
        }
        if let Some(p) = ev.peer {
            push_param(s, "peer", p);
        }
        if let Some(c) = &ev.tls_client {
            push_param(s, "tls_client", c.split('\u{1f}').next().unwrap_or(""));
        }
        if let Some((path, offset)) = &ev.file {
            push_param(s, "file", path);
            push_param(s, "offset", offset);
        }
        if let Some(a) = &ev.auth {
            push_param_with(s, "category", |s| write_list(s, a.category.iter()));
            push_param(s, "action", &a.action);
            push_param(s, "outcome", &a.outcome);
            if let Some(u) = a.user.as_deref() {
                push_param(s, "user", u);
            }
            if let Some(ip) = a.source_ip {
                push_param(s, "source_ip", ip);
            }
            if let Some(r) = a.reason.as_deref() {
                push_param(s, "reason", r);
            }
        }
        if let Some(c) = ev.cred {
            push_param(s, "peer_pid", c.pid);
            push_param(s, "peer_uid", c.uid);
        }
        if let Some(a) = &ev.audit {
            push_param(s, "kind", "audit");
            if !a.category.is_empty() {
                push_param_with(s, "category", |s| {
                    write_list(s, a.category.iter().map(|c| c.as_ref()))
                });
            }
            push_param(s, "action", &a.action);
            push_param(s, "outcome", &a.outcome);
            push_param(s, "user", &a.actor);
            if let Some(r) = a.resource_id.as_deref() {
                push_param(s, "resource", r);
            }
            if let Some(ip) = a.source_ip {
                push_param(s, "source_ip", ip);
            }
            if let Some(r) = a.reason.as_deref() {
                push_param(s, "reason", r);
            }
        }
        if !ev.tags.is_empty() {
            let tags = crate::event::Tags::NAMES
                .iter()
                .filter(|(t, _)| ev.tags.contains(*t))
                .map(|(_, n)| *n);
            push_param_with(s, "tags", |s| write_list(s, tags));
        }
        s.extend_from_slice(b"] ");
        s.extend_from_slice(ev.original.as_bytes());
    }
}

/// A detector alert as an RFC 5424 message: facility security/authorization (4) unless
/// configured, the severity from the alert's ([`AlertView::syslog_severity`]), APP-NAME
/// `sealtrail` unless configured, MSGID `alert`; the structured data says what raised it
/// (`kind="alert"`, the rule, its key, the evidence ids separated by commas) and MSG is
/// the alert's message.
pub fn write_alert(s: &mut Vec<u8>, alert: &AlertView, stream: &str, opts: &HeaderOptions) {
    let facility = opts.facility.unwrap_or(4).min(23);
    let pri = u16::from(facility) * 8 + u16::from(alert.syslog_severity());
    s.push(b'<');
    s.extend_from_slice(itoa::Buffer::new().format(pri).as_bytes());
    s.extend_from_slice(b">1 ");
    push_field(s, Some(&alert.timestamp), 32);
    s.push(b' ');
    push_field(s, opts.hostname.as_deref().or(Some(stream)), 255);
    s.push(b' ');
    push_field(s, opts.app_name.as_deref().or(Some("sealtrail")), 48);
    s.extend_from_slice(b" - alert [");
    s.extend_from_slice(SD_ID.as_bytes());
    push_param(s, "id", &alert.event.id);
    push_param(s, "kind", "alert");
    push_param_with(s, "category", |s| {
        write_list(s, alert.event.category.iter().map(String::as_str))
    });
    push_param(s, "action", &alert.event.action);
    push_param(s, "rule", &alert.rule.id);
    push_param(s, "severity", alert.event.severity);
    push_param(s, "key", &alert.sealtrail.alert.key);
    if let Some(u) = &alert.user {
        push_param(s, "user", &u.name);
    }
    if let Some(src) = &alert.source {
        push_param(s, "source_ip", src.ip);
    }
    push_param_with(s, "evidence", |s| {
        write_list(s, alert.sealtrail.alert.evidence.iter().map(String::as_str))
    });
    s.extend_from_slice(b"] ");
    s.extend_from_slice(alert.message.as_bytes());
}

#[cfg(test)]
pub(crate) mod tests;
