//! Renders an event as an RFC 5424 syslog message for a SIEM: the header from the
//! normalised fields, the normalised fields again as structured data, and the original
//! line, verbatim, as MSG. Framed for TCP with octet counting (RFC 6587 §3.4.1).

use std::fmt::Write as _;

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
fn push_field(out: &mut String, s: Option<&str>, max: usize) {
    let start = out.len();
    for c in s
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
    {
        out.push(c);
    }
    if out.len() == start {
        out.push('-');
    }
}

/// Appends an SD-PARAM value with `"`, `\` and `]` escaped (RFC 5424 §6.3.3).
fn push_param(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Appends one octet-counted RFC 5424 message for `ev` (`id` is its event id).
pub fn write_frame(
    out: &mut Vec<u8>,
    ev: &SealedEvent<'_>,
    id: &str,
    stream: &str,
    opts: &HeaderOptions,
) {
    let msg = render(ev, id, stream, opts);
    out.extend_from_slice(itoa::Buffer::new().format(msg.len()).as_bytes());
    out.push(b' ');
    out.extend_from_slice(msg.as_bytes());
}

/// The message itself, unframed (for UDP, one datagram each).
pub fn render(ev: &SealedEvent<'_>, id: &str, stream: &str, opts: &HeaderOptions) -> String {
    let mut s = String::with_capacity(ev.original.len() + 256);
    let severity = ev.priority.map_or(5, |p| p & 7);
    let facility = opts
        .facility
        .or(ev.priority.map(|p| p >> 3))
        .unwrap_or(1)
        .min(23);
    let _ = write!(s, "<{}>1 ", u16::from(facility) * 8 + u16::from(severity));
    let ts = ev.timestamp_ns.unwrap_or(ev.received_ns);
    s.push_str(
        &chrono::DateTime::from_timestamp_nanos(ts)
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    );
    s.push(' ');
    push_field(
        &mut s,
        opts.hostname
            .as_deref()
            .or(ev.hostname.as_deref())
            .or(Some(stream)),
        255,
    );
    s.push(' ');
    push_field(
        &mut s,
        opts.app_name
            .as_deref()
            .or(ev.appname.as_deref())
            .or(Some("sealtrail")),
        48,
    );
    s.push(' ');
    let pid;
    let procid = match &ev.procid {
        Some(ProcId::Pid(p)) => {
            pid = p.to_string();
            Some(pid.as_str())
        }
        Some(ProcId::Name(n)) => Some(n.as_ref()),
        None => None,
    };
    push_field(&mut s, procid, 128);
    s.push(' ');
    push_field(&mut s, ev.msgid.as_deref(), 32);
    s.push_str(" [");
    s.push_str(SD_ID);
    push_param(&mut s, "id", id);
    push_param(
        &mut s,
        "received",
        &chrono::DateTime::from_timestamp_nanos(ev.received_ns)
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    );
    if let Some(i) = &ev.ingress {
        push_param(&mut s, "ingress", i);
    }
    if let Some(p) = ev.peer {
        push_param(&mut s, "peer", &p.to_string());
    }
    if let Some((path, offset)) = &ev.file {
        push_param(&mut s, "file", path);
        push_param(&mut s, "offset", &offset.to_string());
    }
    if let Some(a) = &ev.auth {
        push_param(
            &mut s,
            "category",
            &a.category.iter().collect::<Vec<_>>().join(","),
        );
        push_param(&mut s, "action", &a.action);
        push_param(&mut s, "outcome", &a.outcome);
        if let Some(u) = a.user.as_deref() {
            push_param(&mut s, "user", u);
        }
        if let Some(ip) = a.source_ip {
            push_param(&mut s, "source_ip", &ip.to_string());
        }
        if let Some(r) = a.reason.as_deref() {
            push_param(&mut s, "reason", r);
        }
    }
    let flags: Vec<&str> = crate::event::Tags::NAMES
        .iter()
        .filter(|(t, _)| ev.tags.contains(*t))
        .map(|(_, n)| *n)
        .collect();
    if !flags.is_empty() {
        push_param(&mut s, "tags", &flags.join(","));
    }
    s.push_str("] ");
    s.push_str(&ev.original);
    s
}

#[cfg(test)]
mod tests;
