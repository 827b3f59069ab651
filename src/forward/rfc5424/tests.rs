use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use super::*;
use crate::event::{Message, SealedAuth, StructuredData, Tags};

fn event<'a>(original: &'a str) -> SealedEvent<'a> {
    SealedEvent {
        position: 7,
        received_ns: 1_764_640_800_000_000_000,
        ingress: Some(Cow::Borrowed("tcp")),
        peer: Some(SocketAddr::from(([192, 0, 2, 1], 5140))),
        file: None,
        original: Cow::Borrowed(original),
        original_bytes: None,
        timestamp_ns: Some(1_764_640_799_123_456_000),
        priority: Some(38),
        version: None,
        hostname: Some(Cow::Borrowed("web 1")),
        appname: Some(Cow::Borrowed("sshd")),
        procid: Some(ProcId::Pid(42)),
        msgid: None,
        structured_data: StructuredData::None,
        message: Message::Span(0, original.len()),
        tags: Tags::default(),
        auth: None,
        journal: None,
        audit: None,
        tls_client: None,
        cred: None,
    }
}

fn render(ev: &SealedEvent<'_>, id: &str, stream: &str, opts: &HeaderOptions) -> String {
    let mut out = Vec::new();
    Rfc5424Writer::default().write(&mut out, ev, id, stream, opts);
    String::from_utf8(out).unwrap()
}

#[test]
fn header_fields_and_the_original_line() {
    let line = "<38>Dec  2 03:59:59 web1 sshd[42]: Accepted password for bob";
    let ev = event(line);
    let msg = render(&ev, "h1:7", "h1", &HeaderOptions::default());
    assert_eq!(
        msg,
        format!("<38>1 2025-12-02T01:59:59.123456Z web1 sshd 42 - [sealtrail@32473 id=\"h1:7\" received=\"2025-12-02T02:00:00.000000Z\" ingress=\"tcp\" peer=\"192.0.2.1:5140\"] {line}")
    );
    let forced = HeaderOptions {
        app_name: Some("audit".into()),
        hostname: Some("collector".into()),
        facility: Some(13),
    };
    let msg = render(&ev, "h1:7", "h1", &forced);
    assert!(
        msg.starts_with("<110>1 2025-12-02T01:59:59.123456Z collector audit 42 - "),
        "{msg}"
    );
}

#[test]
fn auth_fields_tags_and_escaping_in_structured_data() {
    let line = "x";
    let mut ev = event(line);
    ev.hostname = None;
    ev.appname = None;
    ev.procid = None;
    ev.priority = None;
    ev.tags.set(Tags::TRUNCATED, true);
    ev.auth = Some(SealedAuth {
        reason: Some(Cow::Borrowed("bad \"pw\" ]\\")),
        user: Some(Cow::Borrowed("root")),
        source_ip: Some(IpAddr::from([203, 0, 113, 9])),
        ..crate::forward::sample_auth("failure")
    });
    let msg = render(&ev, "h1:7", "h1", &HeaderOptions::default());
    assert!(
        msg.starts_with("<13>1 2025-12-02T01:59:59.123456Z h1 sealtrail - - ["),
        "{msg}"
    );
    assert!(msg.contains(" category=\"authentication\" action=\"ssh_login\" outcome=\"failure\" user=\"root\" source_ip=\"203.0.113.9\" reason=\"bad \\\"pw\\\" \\]\\\\\""), "{msg}");
    assert!(msg.contains(" tags=\"_truncated\"]"), "{msg}");
    let mut framed = Vec::new();
    let mut w = Rfc5424Writer::default();
    let opts = HeaderOptions::default();
    w.framed(&mut framed, |w, m| w.write(m, &ev, "h1:7", "h1", &opts));
    // A second frame from the same writer: its scratch and dates are reused.
    w.framed(&mut framed, |w, m| w.write(m, &ev, "h1:8", "h1", &opts));
    let text = String::from_utf8(framed).unwrap();
    let (len, rest) = text.split_once(' ').unwrap();
    let len: usize = len.parse().unwrap();
    let (first, second) = rest.split_at(len);
    assert_eq!(
        first,
        render(&ev, "h1:7", "h1", &HeaderOptions::default()),
        "octet count"
    );
    let (len2, rest2) = second.split_once(' ').unwrap();
    assert_eq!(len2.parse::<usize>().unwrap(), rest2.len());
    assert!(rest2.contains("id=\"h1:8\""), "{rest2}");
}

/// A sealed alert line, read back as the forwarders see it.
pub(crate) fn sample_alert() -> AlertView {
    let a = crate::detect::Alert {
        rule_id: Cow::Borrowed("brute_force"),
        rule_name: Cow::Borrowed("Brute force from one source"),
        severity: 47,
        time_ns: 1_764_640_799_123_456_789,
        key: "ip:203.0.113.9".into(),
        user: Some("ro\"ot".into()),
        source_ip: Some(IpAddr::from([203, 0, 113, 9])),
        related_users: vec![],
        evidence: vec!["h1:10".into(), "h1:20".into()],
        message: "5 failed attempts from 203.0.113.9".into(),
    };
    let mut line = Vec::new();
    a.render_json("h1", "h1:20:alert:0", &mut line);
    AlertView::parse(&line).unwrap()
}

#[test]
fn an_alert_names_its_rule_key_and_evidence() {
    let a = sample_alert();
    let mut out = Vec::new();
    write_alert(&mut out, &a, "h1", &HeaderOptions::default());
    let msg = String::from_utf8(out).unwrap();
    // Security/authorization (4) * 8 + warning (4): a medium alert.
    assert!(
        msg.starts_with("<36>1 2025-12-02T01:59:59.123456Z h1 sealtrail - alert [sealtrail@32473 id=\"h1:20:alert:0\" kind=\"alert\" category=\"intrusion_detection\" action=\"brute_force\" rule=\"brute_force\" severity=\"47\" key=\"ip:203.0.113.9\" user=\"ro\\\"ot\" source_ip=\"203.0.113.9\" evidence=\"h1:10,h1:20\"] 5 failed attempts"),
        "{msg}"
    );
    let opts = HeaderOptions {
        app_name: Some("audit".into()),
        hostname: Some("collector".into()),
        facility: Some(13),
    };
    let mut framed = Vec::new();
    Rfc5424Writer::default().framed(&mut framed, |_, m| write_alert(m, &a, "h1", &opts));
    let text = String::from_utf8(framed).unwrap();
    let (len, rest) = text.split_once(' ').unwrap();
    assert_eq!(len.parse::<usize>().unwrap(), rest.len(), "octet count");
    assert!(rest.starts_with("<108>1 "), "facility 13: {rest}");
    assert!(rest.contains(" collector audit - alert ["), "{rest}");
}

#[test]
fn an_audit_event_carries_its_fields_and_the_callers_credentials() {
    let object = r#"{"actor":"alice","action":"record.read","outcome":"failure","resource":"patient/1","reason":"no \"consent\""}"#;
    let mut ev = event(object);
    ev.audit = Some(crate::event::audit::AuditEvent::parse(object).unwrap());
    ev.cred = Some(crate::record::PeerCred {
        pid: 4242,
        uid: 1000,
        gid: 100,
    });
    let msg = render(&ev, "h1:7", "h1", &HeaderOptions::default());
    assert!(
        msg.contains(r#" peer_pid="4242" peer_uid="1000" kind="audit" action="record.read" outcome="failure" user="alice" resource="patient/1" reason="no \"consent\"""#),
        "{msg}"
    );
    assert!(
        msg.ends_with(&format!("] {object}")),
        "the object is the message: {msg}"
    );
}
