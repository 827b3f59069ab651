//! A systemd journal entry, as `journalctl --output=json` prints it, mapped into an
//! [`Event`] the way its syslog twin would be: `SYSLOG_IDENTIFIER` is the program
//! (`appname`), `SYSLOG_PID`/`_PID` its pid, `_HOSTNAME` the host, `PRIORITY` and
//! `SYSLOG_FACILITY` the priority, `__REALTIME_TIMESTAMP` the time, `MESSAGE` the
//! message; so sshd's and sudo's entries reach the authentication normalisers exactly
//! as their lines in `auth.log` do. The entry stays verbatim in `event.original`.
//!
//! `journalctl` writes a field that is not valid UTF-8 as an array of byte values, and a
//! field with several values as an array of those; both are understood (bytes
//! decoded lossily, the first of several values taken). A message that had to be
//! decoded lossily is tagged `_invalid_utf8`; its exact bytes are in `event.original`.
//!
//! An entry cut at the source's `max_entry_bytes` (tagged `_truncated`) is no longer
//! JSON: its fields are read up to the cut, and a string value cut in the middle keeps
//! what came of it, so a cut message still has its host, program and first part.

use serde_json::{Map, Value};

use super::{Event, ProcId};

/// Facility of an entry without `SYSLOG_FACILITY` (native journal messages): `user`,
/// as rsyslog's imjournal assumes.
const DEFAULT_FACILITY: u8 = 1;
/// Severity of an entry without `PRIORITY`: `notice`, as imjournal assumes.
const DEFAULT_SEVERITY: u8 = 5;

/// What a journal entry adds to an event beyond the syslog fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalMeta<'a> {
    /// `__CURSOR`: where the entry stands in the journal (its stable id).
    pub cursor: Option<&'a str>,
    /// `_SYSTEMD_UNIT`.
    pub unit: Option<&'a str>,
    /// `_UID` of the process that logged.
    pub uid: Option<u32>,
    /// `_COMM`: the process's command name.
    pub comm: Option<&'a str>,
    /// `_TRANSPORT`: `syslog`, `journal`, `stdout`, `kernel`, `audit`, …
    pub transport: Option<&'a str>,
    /// `MESSAGE` was bytes that are not UTF-8, decoded lossily.
    pub lossy_message: bool,
}

/// The fields of one entry that the event needs, read once from its JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalFields {
    message: Option<String>,
    identifier: Option<String>,
    comm: Option<String>,
    pid: Option<i32>,
    hostname: Option<String>,
    priority: Option<u8>,
    facility: Option<u8>,
    realtime_us: Option<i64>,
    cursor: Option<String>,
    unit: Option<String>,
    uid: Option<u32>,
    transport: Option<String>,
    lossy_message: bool,
}

/// Whether a field's value is bytes that are not UTF-8.
fn lossy(v: &Value) -> bool {
    match v {
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_u64) => {
            let bytes: Option<Vec<u8>> = items
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            bytes.is_none_or(|b| std::str::from_utf8(&b).is_err())
        }
        Value::Array(items) => items.first().is_some_and(lossy),
        _ => false,
    }
}

/// The fields of a cut entry, up to the cut: complete `"KEY":value` pairs, then the
/// part of a string value the cut left (after dropping an escape or a UTF-8 sequence
/// it split). `None` if not even the opening brace is there.
fn prefix_fields(raw: &[u8]) -> Option<Map<String, Value>> {
    let skip_ws = |b: &[u8]| -> usize { b.iter().take_while(|c| c.is_ascii_whitespace()).count() };
    let mut rest = raw.get(skip_ws(raw)..)?.strip_prefix(b"{")?;
    let mut map = Map::new();
    loop {
        rest = &rest[skip_ws(rest)..];
        let mut keys = serde_json::Deserializer::from_slice(rest).into_iter::<String>();
        let Some(Ok(key)) = keys.next() else { break };
        rest = &rest[keys.byte_offset()..];
        rest = &rest[skip_ws(rest)..];
        let Some(after_colon) = rest.strip_prefix(b":") else {
            break;
        };
        rest = &after_colon[skip_ws(after_colon)..];
        let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<Value>();
        match values.next() {
            Some(Ok(v)) => {
                map.insert(key, v);
                rest = &rest[values.byte_offset()..];
                rest = &rest[skip_ws(rest)..];
                match rest.first() {
                    Some(b',') => rest = &rest[1..],
                    _ => break,
                }
            }
            _ => {
                if rest.first() == Some(&b'"') {
                    if let Some(v) = cut_string(rest) {
                        map.insert(key, Value::String(v));
                    }
                }
                break;
            }
        }
    }
    Some(map)
}

/// A JSON string cut off before its closing quote (`"abc\u00` …): what it held up to
/// the cut. Up to 6 bytes are dropped from the end until it parses (a split `\uXXXX`
/// escape or a split UTF-8 sequence).
fn cut_string(quoted: &[u8]) -> Option<String> {
    for drop in 0..=6 {
        let end = quoted.len().checked_sub(drop)?;
        if end < 1 {
            return None;
        }
        let mut s = quoted[..end].to_vec();
        s.push(b'"');
        if let Ok(v) = serde_json::from_slice::<String>(&s) {
            return Some(v);
        }
    }
    None
}

/// A field's value as text: a string, bytes (an array of numbers) decoded lossily, or
/// the first of several values.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) if items.iter().all(Value::is_u64) => {
            let bytes: Vec<u8> = items
                .iter()
                .filter_map(Value::as_u64)
                .map(|b| u8::try_from(b).unwrap_or(b'?'))
                .collect();
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        Value::Array(items) => items.first().and_then(text),
        _ => None,
    }
}

fn number<T: std::str::FromStr>(m: &Map<String, Value>, key: &str) -> Option<T> {
    m.get(key)
        .and_then(text)
        .and_then(|t| t.trim().parse().ok())
}

impl JournalFields {
    /// Reads an entry; an error says why it is not one (then it is kept as a raw event).
    /// A `truncated` entry is read up to its cut.
    pub fn parse(raw: &[u8], truncated: bool) -> Result<JournalFields, String> {
        let m = match serde_json::from_slice::<Value>(raw) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err("a journal entry is a JSON object".into()),
            Err(e) => match prefix_fields(raw).filter(|_| truncated) {
                Some(m) if !m.is_empty() => m,
                _ => return Err(e.to_string()),
            },
        };
        Ok(JournalFields::from_map(&m))
    }

    fn from_map(m: &Map<String, Value>) -> JournalFields {
        let get = |k: &str| m.get(k).and_then(text);
        JournalFields {
            lossy_message: m.get("MESSAGE").is_some_and(lossy),
            message: get("MESSAGE"),
            identifier: get("SYSLOG_IDENTIFIER"),
            comm: get("_COMM"),
            pid: number(m, "SYSLOG_PID").or_else(|| number(m, "_PID")),
            hostname: get("_HOSTNAME"),
            priority: number::<u8>(m, "PRIORITY").filter(|&p| p <= 7),
            facility: number::<u8>(m, "SYSLOG_FACILITY").filter(|&f| f <= 23),
            realtime_us: number(m, "__REALTIME_TIMESTAMP"),
            cursor: get("__CURSOR"),
            unit: get("_SYSTEMD_UNIT"),
            uid: number(m, "_UID"),
            transport: get("_TRANSPORT"),
        }
    }

    /// Sets the event's fields from the entry.
    pub(super) fn fill<'a>(&'a self, ev: &mut Event<'a>) {
        let severity = self.priority.unwrap_or(DEFAULT_SEVERITY);
        let facility = self.facility.unwrap_or(DEFAULT_FACILITY);
        ev.priority = Some(facility * 8 + severity);
        ev.timestamp_ns = self.realtime_us.and_then(|us| us.checked_mul(1000));
        ev.hostname = self.hostname.as_deref();
        ev.appname = self.identifier.as_deref().or(self.comm.as_deref());
        ev.procid = self.pid.map(ProcId::Pid);
        match &self.message {
            Some(m) => ev.message = m,
            // An entry without a message says nothing a reader could use: keep it raw.
            None => ev.parse_failure = true,
        }
        ev.journal = Some(JournalMeta {
            cursor: self.cursor.as_deref(),
            unit: self.unit.as_deref(),
            uid: self.uid,
            comm: self.comm.as_deref(),
            transport: self.transport.as_deref(),
            lossy_message: self.lossy_message,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_of_an_sshd_entry() {
        let raw = br#"{"__CURSOR":"s=abc;i=1f","__REALTIME_TIMESTAMP":"1764584400123456","PRIORITY":"6","SYSLOG_FACILITY":"4","SYSLOG_IDENTIFIER":"sshd-session","SYSLOG_PID":"812","_PID":"812","_HOSTNAME":"web-1","_SYSTEMD_UNIT":"ssh.service","_UID":"0","_COMM":"sshd-session","_TRANSPORT":"syslog","MESSAGE":"Failed password for root from 203.0.113.9 port 4711 ssh2"}"#;
        let f = JournalFields::parse(raw, false).unwrap();
        assert_eq!(f.priority, Some(6));
        assert_eq!(f.facility, Some(4));
        assert_eq!(f.pid, Some(812));
        assert_eq!(f.realtime_us, Some(1_764_584_400_123_456));
        assert_eq!(f.uid, Some(0));
        assert_eq!(f.cursor.as_deref(), Some("s=abc;i=1f"));
    }

    #[test]
    fn binary_and_repeated_values_and_garbage() {
        // "h\xffi" as bytes; two values of one field.
        let raw = br#"{"MESSAGE":[104,255,105],"SYSLOG_IDENTIFIER":["first","second"]}"#;
        let f = JournalFields::parse(raw, false).unwrap();
        assert_eq!(f.message.as_deref(), Some("h\u{fffd}i"));
        assert!(f.lossy_message);
        assert_eq!(f.identifier.as_deref(), Some("first"));
        let f = JournalFields::parse(br#"{"MESSAGE":[104,105]}"#, false).unwrap();
        assert_eq!((f.message.as_deref(), f.lossy_message), (Some("hi"), false));
        assert!(JournalFields::parse(b"not json", false).is_err());
        assert!(JournalFields::parse(b"[1,2]", true).is_err());
        let f = JournalFields::parse(br#"{"PRIORITY":"99","_PID":"x"}"#, false).unwrap();
        assert_eq!(
            (f.priority, f.pid),
            (None, None),
            "out of range or not a number"
        );
    }

    #[test]
    fn a_cut_entry_keeps_its_fields_up_to_the_cut() {
        let whole = br#"{"_HOSTNAME":"web-1", "SYSLOG_IDENTIFIER":"app","_PID":"7","MESSAGE":"caf\u00e9 \"quoted\" and more text"}"#;
        for cut in 40..whole.len() - 2 {
            let raw = &whole[..cut];
            let Ok(f) = JournalFields::parse(raw, true) else {
                panic!("cut at {cut}: {}", String::from_utf8_lossy(raw));
            };
            assert_eq!(f.hostname.as_deref(), Some("web-1"), "cut at {cut}");
            let m = f.message.unwrap_or_default();
            assert!(
                "café \"quoted\" and more text".starts_with(&m),
                "cut at {cut}: {m:?}"
            );
            assert!(
                JournalFields::parse(raw, false).is_err(),
                "only a cut entry"
            );
        }
        // A multi-byte character split by the cut.
        let raw = "{\"MESSAGE\":\"ab\u{e9}".as_bytes();
        let f = JournalFields::parse(&raw[..raw.len() - 1], true).unwrap();
        assert_eq!(f.message.as_deref(), Some("ab"));
        // Nothing usable at all stays an error: a raw event.
        assert!(JournalFields::parse(b"{\"MESS", true).is_err());
        assert!(JournalFields::parse(b"garbage", true).is_err());
    }
}
