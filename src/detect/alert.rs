//! Alerts: what a rule raised, and its ECS rendering (an alert is an event that is
//! sealed and forwarded like any other).

use std::borrow::Cow;
use std::io::Write;
use std::net::IpAddr;

use crate::event::time::TimestampFormatter;

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Stable rule id (`brute_force`, `invalid_user`, ...; see `detect` docs).
    pub rule_id: Cow<'static, str>,
    /// Human rule name.
    pub rule_name: Cow<'static, str>,
    /// ECS `event.severity` (1..=100; 21 low, 47 medium, 73 high).
    pub severity: u8,
    /// Time of the event that raised it.
    pub time_ns: i64,
    /// What it is about: `ip:1.2.3.4`, `user:root`, `user:root,ip:1.2.3.4`.
    pub key: String,
    pub user: Option<String>,
    pub source_ip: Option<IpAddr>,
    /// Further users involved (password spraying), for ECS `related.user`.
    pub related_users: Vec<String>,
    /// Ids of the events that led to it, oldest first, bounded by `max_evidence`.
    pub evidence: Vec<String>,
    pub message: String,
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    // serde_json escapes exactly what JSON needs; writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

impl Alert {
    /// Appends the alert as one ECS JSON object (no trailing newline): `event.kind`
    /// `alert`, `rule.*`, `event.severity`, `message`, `user.name`, `source.ip`,
    /// `related.*`, and the evidence ids under `sealtrail.alert.evidence`. `stream` is
    /// the emitting stream (host/instance), `id` the alert's own `event.id`.
    pub fn render_json(&self, stream: &str, id: &str, out: &mut Vec<u8>) {
        self.render_json_with(&mut TimestampFormatter::default(), stream, id, out);
    }

    /// [`Alert::render_json`] with a formatter kept between calls (it caches the date
    /// of the last second it wrote), for the detector's hot path.
    pub(crate) fn render_json_with(
        &self,
        time: &mut TimestampFormatter,
        stream: &str,
        id: &str,
        out: &mut Vec<u8>,
    ) {
        out.extend_from_slice(b"{\"@timestamp\":\"");
        time.write_micros(self.time_ns, out);
        out.extend_from_slice(b"\",\"event\":{\"kind\":\"alert\",\"id\":");
        json_str(out, id);
        out.extend_from_slice(
            b",\"category\":[\"intrusion_detection\"],\"type\":[\"info\"],\"module\":\"sealtrail\",\"dataset\":\"sealtrail.alert\",\"action\":",
        );
        json_str(out, &self.rule_id);
        let _ = write!(
            out,
            ",\"severity\":{},\"risk_score\":{}}}",
            self.severity, self.severity
        );
        out.extend_from_slice(b",\"rule\":{\"id\":");
        json_str(out, &self.rule_id);
        out.extend_from_slice(b",\"name\":");
        json_str(out, &self.rule_name);
        out.extend_from_slice(b",\"ruleset\":\"sealtrail\"},\"message\":");
        json_str(out, &self.message);
        if let Some(u) = &self.user {
            out.extend_from_slice(b",\"user\":{\"name\":");
            json_str(out, u);
            out.push(b'}');
        }
        if let Some(ip) = self.source_ip {
            let _ = write!(out, ",\"source\":{{\"ip\":\"{ip}\"}}");
        }
        let users: Vec<&str> = self
            .user
            .iter()
            .map(String::as_str)
            .chain(self.related_users.iter().map(String::as_str))
            .collect();
        if !users.is_empty() || self.source_ip.is_some() {
            out.extend_from_slice(b",\"related\":{");
            let mut sep = "";
            if let Some(ip) = self.source_ip {
                let _ = write!(out, "\"ip\":[\"{ip}\"]");
                sep = ",";
            }
            if !users.is_empty() {
                out.extend_from_slice(sep.as_bytes());
                out.extend_from_slice(b"\"user\":[");
                for (i, u) in users.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    json_str(out, u);
                }
                out.push(b']');
            }
            out.push(b'}');
        }
        out.extend_from_slice(b",\"sealtrail\":{\"stream\":");
        json_str(out, stream);
        out.extend_from_slice(b",\"alert\":{\"key\":");
        json_str(out, &self.key);
        out.extend_from_slice(b",\"evidence\":[");
        for (i, e) in self.evidence.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(out, e);
        }
        out.extend_from_slice(b"]}}}");
    }
}

/// An alert read back from its sealed line, for outputs that render it otherwise (RFC
/// 5424) and for the forwarders' filters. Alerts are few, so parsing the line again
/// costs nothing that matters, and the output says exactly what was sealed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AlertView {
    /// RFC 3339 with microseconds, UTC: the time of the event that raised it.
    #[serde(rename = "@timestamp")]
    pub timestamp: String,
    pub event: AlertEvent,
    pub rule: AlertRule,
    pub message: String,
    #[serde(default)]
    pub user: Option<AlertUser>,
    #[serde(default)]
    pub source: Option<AlertSource>,
    pub sealtrail: AlertSealtrail,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AlertEvent {
    pub id: String,
    pub action: String,
    #[serde(default)]
    pub category: Vec<String>,
    /// ECS `event.severity`: 21 low, 47 medium, 73 high.
    pub severity: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AlertRule {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AlertUser {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AlertSource {
    pub ip: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AlertSealtrail {
    pub alert: AlertDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AlertDetail {
    pub key: String,
    #[serde(default)]
    pub evidence: Vec<String>,
}

impl AlertView {
    /// Parses a sealed alert line ([`Alert::render_json`]'s output).
    pub fn parse(line: &[u8]) -> Result<AlertView, serde_json::Error> {
        serde_json::from_slice(line)
    }

    /// The syslog severity an alert is sent with: high (73 and up) is 2 (critical),
    /// medium (47 and up) 4 (warning), anything lower 5 (notice).
    pub fn syslog_severity(&self) -> u8 {
        match self.event.severity {
            73.. => 2,
            47.. => 4,
            _ => 5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_valid_ecs_json() {
        let a = Alert {
            rule_id: Cow::Borrowed("brute_force"),
            rule_name: Cow::Borrowed("Brute force from one source"),
            severity: 47,
            time_ns: 1_700_000_000_123_456_789,
            key: "ip:192.0.2.1".into(),
            user: Some("ro\"ot".into()),
            source_ip: Some("192.0.2.1".parse().unwrap()),
            related_users: vec!["admin".into()],
            evidence: vec!["h:1".into(), "h:2".into()],
            message: "5 failed \n attempts".into(),
        };
        let mut out = Vec::new();
        a.render_json("host-a", "host-a:alert:9", &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["@timestamp"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(v["event"]["kind"], "alert");
        assert_eq!(v["event"]["id"], "host-a:alert:9");
        assert_eq!(v["event"]["severity"], 47);
        assert_eq!(v["rule"]["id"], "brute_force");
        assert_eq!(v["user"]["name"], "ro\"ot");
        assert_eq!(v["source"]["ip"], "192.0.2.1");
        assert_eq!(v["related"]["user"][1], "admin");
        assert_eq!(v["message"], "5 failed \n attempts");
        assert_eq!(v["sealtrail"]["alert"]["evidence"][1], "h:2");
        assert_eq!(v["sealtrail"]["stream"], "host-a");
        let b = Alert {
            user: None,
            source_ip: None,
            related_users: vec![],
            evidence: vec![],
            ..a
        };
        let mut out = Vec::new();
        b.render_json("s", "i", &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v.get("related").is_none() && v.get("user").is_none());
    }

    #[test]
    fn a_sealed_line_reads_back_as_a_view() {
        let a = Alert {
            rule_id: Cow::Borrowed("brute_force"),
            rule_name: Cow::Borrowed("Brute force from one source"),
            severity: 73,
            time_ns: 1_700_000_000_123_456_789,
            key: "ip:192.0.2.1".into(),
            user: Some("root".into()),
            source_ip: Some("192.0.2.1".parse().unwrap()),
            related_users: vec![],
            evidence: vec!["h:1".into(), "h:2".into()],
            message: "5 failed attempts".into(),
        };
        let mut out = Vec::new();
        a.render_json("h", "h:9:alert:0", &mut out);
        let v = AlertView::parse(&out).unwrap();
        assert_eq!(v.timestamp, "2023-11-14T22:13:20.123456Z");
        assert_eq!(v.event.id, "h:9:alert:0");
        assert_eq!(v.event.action, "brute_force");
        assert_eq!(v.event.category, ["intrusion_detection"]);
        assert_eq!(v.rule.name, "Brute force from one source");
        assert_eq!(v.user.as_ref().map(|u| u.name.as_str()), Some("root"));
        assert_eq!(
            v.source.as_ref().map(|s| s.ip.to_string()).as_deref(),
            Some("192.0.2.1")
        );
        assert_eq!(v.sealtrail.alert.evidence, ["h:1", "h:2"]);
        assert_eq!(v.syslog_severity(), 2);
        assert!(AlertView::parse(b"{}").is_err());
    }
}
