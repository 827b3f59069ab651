//! Access rules on a generated application audit stream with planted anomalies.

use super::*;
use crate::detect::{DetectConfig, Detector};

const S: i64 = 1_000_000_000;
const H: i64 = 3600 * S;
/// 2024-01-01T00:00:00Z (a Monday).
const T0: i64 = 1_704_067_200 * S;

fn audit(json: &str) -> AuditEvent<'_> {
    AuditEvent::parse(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn read(actor: &str, rtype: &str, id: u32, outcome: &str) -> String {
    format!(
        r#"{{"actor":"{actor}","action":"record.read","outcome":"{outcome}","resource":{{"type":"{rtype}","id":"{id}"}}}}"#
    )
}

struct Feed {
    d: Detector,
    n: u64,
}

impl Feed {
    fn new(cfg: DetectConfig) -> Feed {
        Feed {
            d: Detector::new(cfg),
            n: 0,
        }
    }
    fn at(&mut self, t: i64, json: &str) -> Vec<Alert> {
        self.n += 1;
        let ev = audit(json);
        self.d.observe_access(t, &format!("ev:{}", self.n), &ev)
    }
}

/// Business hours, 09:00 to 17:00 UTC, a steady 20 reads an hour per clerk, for a week.
fn a_normal_week(f: &mut Feed, actors: &[&str]) -> Vec<Alert> {
    let mut alerts = Vec::new();
    for day in 0..7 {
        for hour in 9..17 {
            for i in 0..20 {
                for a in actors {
                    let t = T0 + day * 24 * H + hour * H + i * 180 * S;
                    alerts.extend(f.at(t, &read(a, "invoice", i as u32, "success")));
                }
            }
        }
    }
    alerts
}

fn ids(alerts: &[Alert]) -> Vec<&str> {
    alerts.iter().map(|a| a.rule_id.as_ref()).collect()
}

#[test]
fn a_normal_week_raises_nothing_and_the_planted_anomalies_each_raise_their_rule() {
    let mut cfg = DetectConfig::default();
    cfg.access
        .allow
        .insert("patient".into(), vec!["dr_grey".into(), "dr_yang".into()]);
    cfg.validate().unwrap();
    let mut f = Feed::new(cfg);
    assert_eq!(
        ids(&a_normal_week(&mut f, &["carol", "dave"])),
        Vec::<&str>::new()
    );
    let day8 = T0 + 7 * 24 * H;

    // carol reads 400 invoices in one afternoon hour: 20× her mean.
    let mut alerts = Vec::new();
    for i in 0..400 {
        alerts.extend(f.at(
            day8 + 14 * H + i * 5 * S,
            &read("carol", "invoice", i as u32, "success"),
        ));
    }
    assert_eq!(ids(&alerts), vec!["access_volume"], "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a.user.as_deref(), Some("carol"));
    assert!(
        a.message.contains("over 7 earlier windows") || a.message.contains("earlier windows"),
        "{}",
        a.message
    );
    assert!(
        a.message.starts_with("101 accesses by carol"),
        "{}",
        a.message
    );
    assert_eq!(a.evidence.len(), 16, "max_evidence ids");

    // dave at 03:00: far outside his hours.
    let alerts = f.at(day8 + 3 * H, &read("dave", "invoice", 1, "success"));
    assert_eq!(ids(&alerts), vec!["access_off_hours"], "{alerts:#?}");
    assert!(
        alerts[0].message.contains("03:00 UTC"),
        "{}",
        alerts[0].message
    );

    // A clerk opening a patient record: not on its allow-list; once per hour.
    let alerts = f.at(day8 + 10 * H, &read("dave", "patient", 77, "success"));
    assert_eq!(ids(&alerts), vec!["access_not_allowed"], "{alerts:#?}");
    assert!(
        alerts[0].message.contains("patient 77"),
        "{}",
        alerts[0].message
    );
    assert!(f
        .at(
            day8 + 10 * H + 60 * S,
            &read("dave", "patient", 78, "success")
        )
        .is_empty());
    // The doctors may.
    assert!(f
        .at(day8 + 10 * H, &read("dr_grey", "patient", 77, "success"))
        .is_empty());

    // Five denied reads within five minutes.
    let mut alerts = Vec::new();
    for i in 0..5 {
        alerts.extend(f.at(
            day8 + 11 * H + i * 30 * S,
            &read("carol", "payroll", i as u32, "failure"),
        ));
    }
    assert_eq!(ids(&alerts), vec!["access_denied_burst"], "{alerts:#?}");
    assert!(
        alerts[0]
            .message
            .starts_with("5 denied accesses by carol within 5m"),
        "{}",
        alerts[0].message
    );
    assert_eq!(alerts[0].evidence.len(), 5);
}

#[test]
fn a_rule_users_write_sees_audit_events_too() {
    let mut cfg: DetectConfig = toml::from_str::<toml::Table>(
        r#"
[[rule]]
id = "export_burst"
where = { "event.action" = "record.export", "sealtrail.audit.resource.type" = "customer" }
group_by = ["user.name"]
threshold = 3
window = "10m"
message = "{count} customer exports by {user.name} within {window}"
"#,
    )
    .ok()
    .and_then(|t| t.try_into().ok())
    .expect("parses");
    cfg.access.enabled = false;
    cfg.validate().unwrap();
    let mut f = Feed::new(cfg);
    let export = |who: &str, id: u32| {
        format!(
            r#"{{"actor":"{who}","action":"record.export","resource":{{"type":"customer","id":"{id}"}}}}"#
        )
    };
    assert!(f.at(T0, &export("eve", 1)).is_empty());
    assert!(f
        .at(T0 + S, &read("eve", "customer", 2, "success"))
        .is_empty());
    assert!(f.at(T0 + 2 * S, &export("eve", 3)).is_empty());
    let a = f.at(T0 + 3 * S, &export("eve", 4));
    assert_eq!(ids(&a), vec!["export_burst"]);
    assert_eq!(a[0].message, "3 customer exports by eve within 10m");
}

#[test]
fn access_settings_are_checked() {
    let mut cfg = DetectConfig::default();
    cfg.access.volume_factor = 0.5;
    match cfg.validate() {
        Err(DetectError::Config { key, .. }) => assert_eq!(key, "access.volume_factor"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn actors_survive_a_snapshot() {
    let cfg = DetectConfig::default();
    let mut f = Feed::new(cfg.clone());
    for i in 0..4 {
        assert!(f
            .at(T0 + i * S, &read("zed", "payroll", i as u32, "failure"))
            .is_empty());
    }
    let snap = f.d.save().unwrap();
    f.d = Detector::restore(cfg, &snap).unwrap();
    let a = f.at(T0 + 5 * S, &read("zed", "payroll", 9, "failure"));
    assert_eq!(ids(&a), vec!["access_denied_burst"]);
}
