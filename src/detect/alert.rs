//! Alerts: what a rule raised, and its ECS rendering (an alert is an event that is
//! sealed and forwarded like any other).

use std::io::Write;
use std::net::IpAddr;

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Stable rule id (`brute_force`, `invalid_user`, ...; see `detect` docs).
    pub rule_id: &'static str,
    /// Human rule name.
    pub rule_name: &'static str,
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
        let ts = chrono::DateTime::from_timestamp_nanos(self.time_ns);
        out.extend_from_slice(b"{\"@timestamp\":\"");
        let _ = write!(out, "{}", ts.format("%Y-%m-%dT%H:%M:%S%.6fZ"));
        out.extend_from_slice(b"\",\"event\":{\"kind\":\"alert\",\"id\":");
        json_str(out, id);
        out.extend_from_slice(
            b",\"category\":[\"intrusion_detection\"],\"type\":[\"info\"],\"module\":\"sealtrail\",\"dataset\":\"sealtrail.alert\",\"action\":",
        );
        json_str(out, self.rule_id);
        let _ = write!(
            out,
            ",\"severity\":{},\"risk_score\":{}}}",
            self.severity, self.severity
        );
        out.extend_from_slice(b",\"rule\":{\"id\":");
        json_str(out, self.rule_id);
        out.extend_from_slice(b",\"name\":");
        json_str(out, self.rule_name);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_valid_ecs_json() {
        let a = Alert {
            rule_id: "brute_force",
            rule_name: "Brute force from one source",
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
}
