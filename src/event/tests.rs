use base64::Engine as _;
use serde_json::Value;

use super::*;
use crate::normalise::{Input, Normaliser, TimeZoneSpec};
use crate::record::{IngestRecord, Origin, RecordFlags};

const GOLDEN: &str = include_str!("testdata/ecs_v1.jsonl");
/// The version-2 compact line of every golden case, as the build before version 3
/// wrote it (in the order of `GOLDEN`): archives sealed then hold such lines.
const GOLDEN_V2: &str = include_str!("testdata/compact_v2.jsonl");

fn golden_normaliser() -> Normaliser {
    Normaliser::new(
        "golden",
        vec![
            ("tcp".into(), TimeZoneSpec::Utc),
            ("files".into(), "+02:00".parse().unwrap()),
            ("journal".into(), TimeZoneSpec::Utc),
        ],
    )
}

/// A golden case: the record's parts, owned.
struct Case {
    kind: String,
    source: u16,
    peer: Option<SocketAddr>,
    path: Vec<u8>,
    offset: u64,
    flags: RecordFlags,
    received_ns: i64,
    raw: Vec<u8>,
    position: u64,
    ecs: Value,
}

fn cases() -> Vec<Case> {
    let b64 = base64::engine::general_purpose::STANDARD;
    GOLDEN
        .lines()
        .map(|line| {
            let r: Value = serde_json::from_str(line).unwrap();
            let path = match (r.get("path_b64"), &r["path"]) {
                (Some(p), _) => b64.decode(p.as_str().unwrap()).unwrap(),
                (None, Value::String(p)) => p.as_bytes().to_vec(),
                _ => Vec::new(),
            };
            let mut flags = RecordFlags::EMPTY;
            for f in r["flags"].as_array().unwrap() {
                flags.insert(match f.as_str().unwrap() {
                    "truncated" => RecordFlags::TRUNCATED,
                    "incomplete" => RecordFlags::INCOMPLETE,
                    other => panic!("flag {other}"),
                });
            }
            Case {
                kind: r["kind"].as_str().unwrap().to_string(),
                source: u16::try_from(r["source"].as_u64().unwrap()).unwrap(),
                peer: r["peer"].as_str().map(|p| p.parse().unwrap()),
                path,
                offset: r["offset"].as_u64().unwrap_or(0),
                flags,
                received_ns: r["received_ns"].as_i64().unwrap(),
                raw: b64.decode(r["raw_b64"].as_str().unwrap()).unwrap(),
                position: r["position"].as_u64().unwrap(),
                ecs: r["ecs"].clone(),
            }
        })
        .collect()
}

impl Case {
    fn record(&self) -> IngestRecord<'_> {
        IngestRecord {
            received_ns: self.received_ns,
            source: self.source,
            origin: match self.kind.as_str() {
                "syslog" => Origin::Syslog(crate::record::Sender {
                    peer: self.peer,
                    client: None,
                    cred: None,
                }),
                "file" => Origin::File {
                    path: &self.path,
                    offset: self.offset,
                },
                "journald" => Origin::Journald,
                other => panic!("kind {other}"),
            },
            flags: self.flags,
            raw: &self.raw,
        }
    }
}

/// The compact line and the ECS line the normaliser writes for a case.
fn lines(n: &mut Normaliser, c: &Case) -> (Vec<u8>, Vec<u8>) {
    let rec = c.record();
    let input = Input::of(&rec);
    let d = n.decode(&rec, &input);
    let mut compact = Vec::new();
    n.write_compact(c.position, &d.event, d.auth.as_ref(), &mut compact);
    let mut direct = Vec::new();
    n.write(c.position, &d.event, d.auth.as_ref(), &mut direct);
    (compact, direct)
}

/// The compact line of every golden case (sshd, sudo, PAM, journal entries, file lines,
/// RFC 5424, bad bytes, ...): a corpus for the readers of compact lines elsewhere.
pub(crate) fn golden_compact_lines() -> Vec<Vec<u8>> {
    let mut n = golden_normaliser();
    cases().iter().map(|c| lines(&mut n, c).0).collect()
}

/// Names the first differing field, for a readable failure.
fn diff(path: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                if let Some(d) = diff(&format!("{path}.{k}"), va, vb) {
                    return Some(d);
                }
            }
            None
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a} != {b}")),
    }
}

#[test]
fn ecs_from_the_compact_line_equals_the_format_1_event() {
    let mut n = golden_normaliser();
    let cases = cases();
    assert!(cases.len() > 200, "golden file has {} cases", cases.len());
    let (mut compact_bytes, mut ecs_bytes) = (0usize, 0usize);
    for c in &cases {
        let (compact, direct) = lines(&mut n, c);
        assert!(compact.starts_with(COMPACT_PREFIX));
        assert!(!compact.contains(&b'\n'));
        let mut rendered = Vec::new();
        render_ecs(&compact, "golden", &mut rendered)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&compact)));
        let got: Value = serde_json::from_slice(&rendered).unwrap();
        if let Some(d) = diff("", &got, &c.ecs) {
            panic!(
                "rendered ECS differs at {d}\ncompact: {}\nrendered: {got}\nwant: {}",
                String::from_utf8_lossy(&compact),
                c.ecs
            );
        }
        // The normaliser's own ECS line is the same as the rendering, byte for byte.
        assert_eq!(rendered, direct, "{}", String::from_utf8_lossy(&compact));
        compact_bytes += compact.len();
        ecs_bytes += direct.len();
    }
    // Sanity on what the format is for: the compact line is far smaller.
    assert!(
        compact_bytes * 2 < ecs_bytes,
        "compact {compact_bytes} B vs ECS {ecs_bytes} B"
    );
}

#[test]
fn a_compact_line_reads_back_to_the_same_line() {
    let mut n = golden_normaliser();
    for c in &cases() {
        let (compact, _) = lines(&mut n, c);
        let ev = compact::parse(&compact)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&compact)));
        let mut again = Vec::new();
        compact::write(&ev, &mut again);
        if matches!(ev.original, Cow::Borrowed(_)) {
            assert_eq!(
                String::from_utf8_lossy(&again),
                String::from_utf8_lossy(&compact)
            );
        } else {
            // An original that held escapes was decoded into a string of its own, so
            // a header field read from a range of it is a copy: written again, it is
            // a string. The event is the same.
            let (mut a, mut b) = (Vec::new(), Vec::new());
            render_ecs(&again, "golden", &mut a).unwrap();
            render_ecs(&compact, "golden", &mut b).unwrap();
            assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
        }
        assert_eq!(ev.position, c.position);
        assert_eq!(ev.received_ns, c.received_ns);
        // The exact bytes come back: verbatim text, or base64 when not UTF-8.
        let bytes: &[u8] = match &ev.original_bytes {
            Some(b) => b,
            None => ev.original.as_bytes(),
        };
        assert_eq!(bytes, &c.raw[..]);
    }
}

fn line_of(raw: &[u8], flags: RecordFlags) -> Vec<u8> {
    let n = golden_normaliser();
    let mut n = n;
    let rec = IngestRecord {
        received_ns: 1_764_237_600_000_000_000,
        source: 0,
        origin: Origin::Syslog(crate::record::Sender {
            peer: Some("192.0.2.1:514".parse().unwrap()),
            client: None,
            cred: None,
        }),
        flags,
        raw,
    };
    let input = Input::of(&rec);
    let d = n.decode(&rec, &input);
    let mut out = Vec::new();
    n.write_compact(7, &d.event, d.auth.as_ref(), &mut out);
    out
}

#[test]
fn the_message_is_an_offset_into_the_original() {
    let line = line_of(
        b"<38>Nov 27 09:59:58 web1 sshd[42]: Accepted password for bob from 192.0.2.9 port 22 ssh2",
        RecordFlags::EMPTY,
    );
    let v: Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(v["m"], 35, "{v}");
    assert_eq!(v["host"], "web1");
    assert_eq!(v["pid"], 42);
    assert_eq!(v["auth"]["user"], "bob");
    let ev = compact::parse(&line).unwrap();
    assert!(ev.message().starts_with("Accepted password"));
    // A raw line is its own message: no `m` at all.
    let raw = line_of(b"no header at all", RecordFlags::EMPTY);
    let v: Value = serde_json::from_slice(&raw).unwrap();
    assert!(v.get("m").is_none(), "{v}");
    assert_eq!(v["tags"], serde_json::json!(["_parse_failure"]));
}

#[test]
fn escapes_and_bad_bytes_survive() {
    let raw = b"<13>Nov 27 10:00:00 host app: q\"uote \\ tab\t nl\n ctl\x01 bad\xff\xfe end";
    let line = line_of(raw, RecordFlags::TRUNCATED | RecordFlags::INCOMPLETE);
    assert!(!line.contains(&b'\n'));
    let ev = compact::parse(&line).unwrap();
    assert_eq!(ev.original_bytes.as_deref(), Some(&raw[..]));
    assert!(ev.tags.contains(Tags::INVALID_UTF8));
    assert!(ev.tags.contains(Tags::TRUNCATED) && ev.tags.contains(Tags::INCOMPLETE));
    assert!(
        ev.message().starts_with("q\"uote \\ tab\t nl\n"),
        "{}",
        ev.message()
    );
    let mut ecs_line = Vec::new();
    render_ecs(&line, "s", &mut ecs_line).unwrap();
    let v: Value = serde_json::from_slice(&ecs_line).unwrap();
    assert_eq!(
        v["tags"],
        serde_json::json!(["_truncated", "_incomplete", "_invalid_utf8"])
    );
    assert_eq!(v["event"]["id"], "s:7");
}

#[test]
fn other_lines_pass_through_unchanged() {
    for line in [
        &br#"{"@timestamp":"2026-01-01T00:00:00.000000000Z","event":{"kind":"alert"}}"#[..],
        br#"{"event":{"id":"x:1","kind":"event"},"tags":["_record_corrupt"]}"#,
        b"not even json",
    ] {
        let mut out = Vec::new();
        render_ecs(line, "s", &mut out).unwrap();
        assert_eq!(out, line);
    }
}

#[test]
fn broken_compact_lines_are_errors_not_guesses() {
    let good = line_of(b"<13>Nov 27 10:00:00 host app: hello", RecordFlags::EMPTY);
    let good = String::from_utf8(good).unwrap();
    assert!(compact::parse(good.as_bytes()).is_ok());
    let cases: Vec<(String, &str)> = vec![
        (good.replacen("{\"v\":3,", "{\"v\":4,", 1), "version 4"),
        (
            good.replacen("\"host\":\"host\"", "\"host\":[0,99]", 1),
            "host range past the end",
        ),
        (
            good.replacen("\"host\":\"host\"", "\"host\":[9,3]", 1),
            "host range backwards",
        ),
        (good.replacen("\"dt\":", "\"ts\":5,\"dt\":", 1), "ts and dt"),
        (
            good.replacen("\"dt\":0", "\"dt\":9223372036854775807", 1),
            "dt out of range",
        ),
        (
            good.replacen("{\"v\":3,", "{\"v\":2,", 1),
            "a version 2 line with dt",
        ),
        (
            good.replacen("\"m\":", "\"m\":999,\"x\":", 1),
            "unknown member",
        ),
        (
            good.replacen("\"m\":", "\"m\":[5,2],\"q\":", 1),
            "bad range",
        ),
        (
            good.replacen("\"pos\":7", "\"pos\":-7", 1),
            "negative position",
        ),
        (
            good.replacen("\"peer\":\"192.0.2.1:514\"", "\"peer\":\"nowhere\"", 1),
            "bad peer",
        ),
        (
            good.replacen("\"o\":", "\"tags\":[\"_nope\"],\"o\":", 1),
            "unknown tag",
        ),
        (
            good.replacen("\"pri\":13", "\"pri\":192", 1),
            "PRI above 191",
        ),
        (good[..good.len() - 5].to_string(), "truncated line"),
        ("{\"v\":3,\"pos\":1,\"rcv\":1}".to_string(), "no original"),
        (
            r#"{"v":3,"pos":1,"rcv":1,"auth":{"act":"x_new","out":"success"},"o":"x"}"#.into(),
            "keywords left out for an action the table does not hold",
        ),
        (
            r#"{"v":3,"pos":1,"rcv":1,"auth":{"act":"su","out":"failure","cat":["a"]},"o":"x"}"#
                .into(),
            "cat without type",
        ),
        (
            r#"{"v":2,"pos":1,"rcv":1,"auth":{"act":"su","out":"failure","n":1},"o":"x"}"#.into(),
            "a version 2 line without keywords",
        ),
        (
            r#"{"v":2,"pos":1,"rcv":1,"host":[0,1],"o":"x"}"#.into(),
            "a version 2 line with a range",
        ),
    ];
    for (line, what) in cases {
        assert!(compact::parse(line.as_bytes()).is_err(), "{what}: {line}");
        let mut out = Vec::new();
        assert!(
            render_ecs(line.as_bytes(), "s", &mut out).is_err(),
            "{what}"
        );
    }
    // A range inside a multi-byte character is refused too.
    let utf = line_of(
        "<13>Nov 27 10:00:00 host app: äöü".as_bytes(),
        RecordFlags::EMPTY,
    );
    let utf = String::from_utf8(utf).unwrap();
    let v: Value = serde_json::from_str(&utf).unwrap();
    let m = v["m"].as_u64().unwrap();
    let bad = utf.replacen(&format!("\"m\":{m}"), &format!("\"m\":{}", m + 1), 1);
    assert!(compact::parse(bad.as_bytes()).is_err(), "{bad}");
    let m = m as usize;
    let bad = utf.replacen("\"host\":\"host\"", &format!("\"host\":[{m},{}]", m + 1), 1);
    assert!(compact::parse(bad.as_bytes()).is_err(), "{bad}");
    let good = utf.replacen("\"host\":\"host\"", &format!("\"host\":[{m},{}]", m + 2), 1);
    assert_eq!(
        compact::parse(good.as_bytes()).unwrap().hostname.as_deref(),
        Some("ä")
    );
}

#[test]
fn version_2_lines_render_the_same_ecs_as_version_3() {
    let cases = cases();
    let v2: Vec<&str> = GOLDEN_V2.lines().collect();
    assert_eq!(v2.len(), cases.len());
    let mut n = golden_normaliser();
    let (mut bytes2, mut bytes3) = (0, 0);
    for (c, old) in cases.iter().zip(v2) {
        assert!(old.starts_with(r#"{"v":2,"#), "{old}");
        let (new, direct) = lines(&mut n, c);
        let mut rendered = Vec::new();
        render_ecs(old.as_bytes(), "golden", &mut rendered)
            .unwrap_or_else(|e| panic!("{e}: {old}"));
        // The same event, byte for byte, as the version 3 line and the normaliser.
        assert_eq!(
            String::from_utf8_lossy(&rendered),
            String::from_utf8_lossy(&direct),
            "{old}"
        );
        let (a, b) = (
            compact::parse(old.as_bytes()).unwrap(),
            compact::parse(&new).unwrap(),
        );
        let keywords = |e: &SealedEvent<'_>| {
            e.auth.as_ref().map(|x| {
                let c: Vec<String> = x.category.iter().map(str::to_owned).collect();
                let t: Vec<String> = x.kind_type.iter().map(str::to_owned).collect();
                (c, t, x.attempts)
            })
        };
        assert_eq!(
            (
                a.position,
                a.received_ns,
                a.timestamp_ns,
                &a.hostname,
                &a.appname
            ),
            (
                b.position,
                b.received_ns,
                b.timestamp_ns,
                &b.hostname,
                &b.appname
            )
        );
        assert_eq!(keywords(&a), keywords(&b), "{old}");
        bytes2 += old.len();
        bytes3 += new.len();
    }
    // What version 3 is for: fewer bytes to compress and hash.
    assert!(bytes3 < bytes2, "v3 {bytes3} B, v2 {bytes2} B");
}

#[test]
fn version_3_leaves_out_what_the_original_or_the_table_says() {
    let line = line_of(
        b"<38>Nov 27 09:59:58 bastion-01 systemd-logind[42]: New session 7 of user alice.",
        RecordFlags::EMPTY,
    );
    let text = String::from_utf8(line.clone()).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    // Host and program as ranges of the original, where that is shorter.
    assert_eq!(v["host"], serde_json::json!([20, 30]), "{text}");
    assert_eq!(v["app"], serde_json::json!([31, 45]), "{text}");
    assert!(v.get("ts").is_none() && v["dt"].is_i64(), "{text}");
    // session_new/success is in the table: no keywords, and no attempts.
    let auth = &v["auth"];
    assert_eq!(auth["act"], "session_new", "{text}");
    assert!(auth.get("cat").is_none() && auth.get("type").is_none() && auth.get("n").is_none());
    let ev = compact::parse(&line).unwrap();
    assert_eq!(ev.hostname.as_deref(), Some("bastion-01"));
    assert_eq!(ev.appname.as_deref(), Some("systemd-logind"));
    let a = ev.auth.unwrap();
    assert_eq!(a.category.iter().collect::<Vec<_>>(), ["session"]);
    assert_eq!(a.kind_type.iter().collect::<Vec<_>>(), ["start"]);
    assert_eq!(a.attempts, 0);
    // Over the golden cases: keywords are left out exactly where the table gives them.
    let mut n = golden_normaliser();
    let (mut left_out, mut written) = (0, 0);
    for c in &cases() {
        let (line, _) = lines(&mut n, c);
        let v: Value = serde_json::from_slice(&line).unwrap();
        let Some(auth) = v.get("auth") else { continue };
        let want: Vec<&str> = c.ecs["event"]["category"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let implied =
            compact::implied_keywords(auth["act"].as_str().unwrap(), auth["out"].as_str().unwrap());
        if implied.is_some_and(|(cat, _)| cat == want.as_slice()) {
            assert!(auth.get("cat").is_none(), "{v}");
            left_out += 1;
        } else {
            assert!(auth.get("cat").is_some(), "{v}");
            written += 1;
        }
    }
    assert!(
        left_out > 50 && written > 0,
        "{left_out} left out, {written} written"
    );
}

#[test]
fn a_tls_client_identity_goes_through_the_compact_line_into_ecs() {
    let mut n = golden_normaliser();
    let rec = IngestRecord {
        received_ns: 1_764_237_600_000_000_000,
        source: 0,
        origin: Origin::Syslog(crate::record::Sender {
            peer: Some("192.0.2.1:6514".parse().unwrap()),
            client: Some("O=Test, CN=web1\u{1f}DNS:web1.example\u{1f}IP:192.0.2.5".as_bytes()),
            cred: None,
        }),
        flags: RecordFlags::EMPTY,
        raw: b"<13>Dec  2 03:00:00 spoofed-name app: hello",
    };
    let input = Input::of(&rec);
    let d = n.decode(&rec, &input);
    let mut compact = Vec::new();
    n.write_compact(7, &d.event, d.auth.as_ref(), &mut compact);
    let mut direct = Vec::new();
    n.write(7, &d.event, d.auth.as_ref(), &mut direct);
    let mut via_compact = Vec::new();
    crate::event::render_ecs(&compact, "golden", &mut via_compact).unwrap();
    let a: Value = serde_json::from_slice(&direct).unwrap();
    let b: Value = serde_json::from_slice(&via_compact).unwrap();
    assert_eq!(diff("", &a, &b), None);
    assert_eq!(a["tls"]["established"], true);
    assert_eq!(a["tls"]["client"]["subject"], "O=Test, CN=web1");
    assert_eq!(
        a["tls"]["client"]["x509"]["alternative_names"],
        serde_json::json!(["DNS:web1.example", "IP:192.0.2.5"])
    );
    // The message's own hostname stays what it claims; the certificate is beside it.
    assert_eq!(a["host"]["name"], "spoofed-name");
}

/// The compact line of `rec` at position 9, and its ECS rendered directly and from that
/// line, which must agree.
fn compact_and_ecs(rec: &IngestRecord<'_>) -> (Value, Value) {
    compact_and_ecs_with(&mut golden_normaliser(), rec)
}

fn compact_and_ecs_with(n: &mut Normaliser, rec: &IngestRecord<'_>) -> (Value, Value) {
    let input = Input::of(rec);
    let d = n.decode(rec, &input);
    let mut compact = Vec::new();
    n.write_compact(9, &d.event, d.auth.as_ref(), &mut compact);
    let mut direct = Vec::new();
    n.write(9, &d.event, d.auth.as_ref(), &mut direct);
    let mut via_compact = Vec::new();
    crate::event::render_ecs(&compact, "golden", &mut via_compact).unwrap();
    let a: Value = serde_json::from_slice(&direct).unwrap();
    let b: Value = serde_json::from_slice(&via_compact).unwrap();
    assert_eq!(diff("", &a, &b), None);
    (serde_json::from_slice(&compact).unwrap(), a)
}

#[test]
fn local_socket_credentials_go_through_the_compact_line_into_ecs() {
    let rec = IngestRecord {
        received_ns: 1_764_237_600_000_000_000,
        source: 0,
        origin: Origin::Syslog(crate::record::Sender {
            peer: None,
            client: None,
            cred: Some(crate::record::PeerCred {
                pid: 4242,
                uid: 1000,
                gid: 100,
            }),
        }),
        flags: RecordFlags::EMPTY,
        raw: b"<13>Dec  2 03:00:00 app[1]: hello",
    };
    let (compact, ecs) = compact_and_ecs(&rec);
    assert_eq!(compact["cred"], serde_json::json!([4242, 1000, 100]));
    assert_eq!(
        ecs["sealtrail"]["peer"],
        serde_json::json!({"pid": 4242, "uid": 1000, "gid": 100})
    );
    // The message's own claim stays what it is: the process name and pid it gave.
    assert_eq!(ecs["process"]["pid"], 1);
}

#[test]
fn a_local_socket_message_without_a_hostname_is_sealed_with_the_local_host_name() {
    let mut n = golden_normaliser().with_local_host("here.example", &[0, 99]);
    let rec = |source, raw: &'static [u8]| IngestRecord {
        received_ns: 1_764_237_600_000_000_000,
        source,
        origin: Origin::Syslog(crate::record::Sender {
            peer: None,
            client: None,
            cred: Some(crate::record::PeerCred {
                pid: 7,
                uid: 0,
                gid: 0,
            }),
        }),
        flags: RecordFlags::EMPTY,
        raw,
    };
    // glibc's /dev/log form (no hostname), and a PRI-only line (Python's handler).
    for raw in [&b"<13>Dec  2 03:00:00 app[1]: hello"[..], b"<14>pyapp: hi"] {
        let (compact, ecs) = compact_and_ecs_with(&mut n, &rec(0, raw));
        assert_eq!(compact["host"], "here.example", "sealed: {compact}");
        assert_eq!(ecs["host"]["name"], "here.example");
    }
    // A message that names its host keeps it.
    let (compact, ecs) =
        compact_and_ecs_with(&mut n, &rec(0, b"<13>Dec  2 03:00:00 web1 app[1]: hello"));
    assert_eq!(compact["host"], "web1");
    assert_eq!(ecs["host"]["name"], "web1");
    // Other sources are not local sockets: no host is made up for them.
    let (compact, ecs) = compact_and_ecs_with(&mut n, &rec(1, b"<13>Dec  2 03:00:00 app[1]: x"));
    assert!(
        compact.get("host").is_none() && ecs.get("host").is_none(),
        "{ecs}"
    );
}

#[test]
fn an_audit_event_is_sealed_verbatim_and_rendered_as_ecs() {
    let object = r#"{"actor":{"name":"alice","id":"u-1"},"action":"record.read","outcome":"failure","resource":{"type":"patient","id":"12"},"reason":"not on the care team","time":"2026-12-02T07:00:00Z","source_ip":"198.51.100.7","category":["database"],"type":["access","denied"],"context":{"ticket":"T-9","rows":3}}"#;
    let rec = IngestRecord {
        received_ns: 1_764_660_000_000_000_000,
        source: 0,
        origin: Origin::App(crate::record::Sender::peer(Some(
            "127.0.0.1:40000".parse().unwrap(),
        ))),
        flags: RecordFlags::EMPTY,
        raw: object.as_bytes(),
    };
    let (compact, ecs) = compact_and_ecs(&rec);
    assert_eq!(compact["kind"], "audit");
    assert_eq!(compact["o"], object, "the object is sealed verbatim");
    assert!(compact.get("auth").is_none() && compact.get("m").is_none());
    assert_eq!(ecs["@timestamp"], "2026-12-02T07:00:00.000000000Z");
    assert_eq!(ecs["event"]["original"], object);
    assert_eq!(ecs["event"]["action"], "record.read");
    assert_eq!(ecs["event"]["outcome"], "failure");
    assert_eq!(ecs["event"]["reason"], "not on the care team");
    assert_eq!(ecs["event"]["category"], serde_json::json!(["database"]));
    assert_eq!(
        ecs["event"]["type"],
        serde_json::json!(["access", "denied"])
    );
    assert_eq!(
        ecs["user"],
        serde_json::json!({"name": "alice", "id": "u-1"})
    );
    assert_eq!(ecs["source"]["ip"], "198.51.100.7");
    assert_eq!(ecs["message"], "alice record.read patient/12: failure");
    assert_eq!(
        ecs["sealtrail"]["audit"],
        serde_json::json!({"resource": {"type": "patient", "id": "12"},
                           "context": {"ticket": "T-9", "rows": 3}})
    );
    assert_eq!(ecs["log"]["source"]["address"], "127.0.0.1:40000");
    // Its own message, with an escape, is taken as it is.
    let object =
        r#"{"actor":"bob","action":"login","outcome":"success","message":"bob \"logged\" in"}"#;
    let rec = IngestRecord {
        raw: object.as_bytes(),
        ..rec
    };
    let (_, ecs) = compact_and_ecs(&rec);
    assert_eq!(ecs["message"], "bob \"logged\" in");
    assert_eq!(ecs["@timestamp"], "2025-12-02T07:20:00.000000000Z");
    assert!(ecs["event"].get("category").is_none());
    // An object that is not a valid audit event (never journalled by the API) is a raw
    // event, not a failure.
    let rec = IngestRecord {
        raw: br#"{"actor":"bob"}"#,
        ..rec
    };
    let (compact, ecs) = compact_and_ecs(&rec);
    assert!(compact.get("kind").is_none());
    assert_eq!(ecs["tags"], serde_json::json!(["_parse_failure"]));
}

#[test]
fn the_audit_example_of_format_md_renders_as_it_says() {
    let doc = include_str!("../../docs/FORMAT.md");
    let section = &doc[doc.find("### 10.4").unwrap()..];
    let line = section
        .split_once("```json\n")
        .and_then(|(_, rest)| rest.split_once('\n'))
        .map(|(line, _)| line)
        .unwrap();
    let mut out = Vec::new();
    crate::event::render_ecs(line.as_bytes(), "host1", &mut out).unwrap();
    let ecs: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(ecs["user"]["name"], "alice");
    assert_eq!(ecs["event"]["action"], "record.read");
    assert_eq!(ecs["event"]["outcome"], "success");
    assert_eq!(
        ecs["sealtrail"]["audit"]["resource"],
        serde_json::json!({"type": "patient", "id": "12"})
    );
    assert_eq!(ecs["message"], "alice record.read patient/12: success");
    assert_eq!(ecs["event"]["id"], "host1:96");
}

#[test]
fn the_table_of_implied_keywords_in_format_md_is_the_code() {
    let doc = include_str!("../../docs/FORMAT.md");
    let begin = "<!-- implied keywords: begin -->";
    let block = &doc[doc.find(begin).unwrap() + begin.len()
        ..doc.find("<!-- implied keywords: end -->").unwrap()];
    // `| out | act, act | cat | type |` rows, after the header and its rule.
    let cell = |c: &str| -> Vec<String> {
        c.split(',')
            .map(|w| w.trim().trim_matches(|ch| "`[]\"".contains(ch)).to_string())
            .filter(|w| !w.is_empty())
            .collect()
    };
    let mut rows = Vec::new();
    for line in block.lines().filter(|l| l.starts_with('|')).skip(2) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
        assert_eq!(cells.len(), 4, "{line}");
        let out = cell(cells[0]).remove(0);
        rows.push((out, cell(cells[1]), cell(cells[2]), cell(cells[3])));
    }
    assert_eq!(rows.len(), 6);
    let from_doc = |act: &str, out: &str| {
        rows.iter()
            .find(|(o, acts, _, _)| o == out && acts.iter().any(|a| a == act || a == "any"))
            .map(|(_, _, c, t)| (c.clone(), t.clone()))
    };
    let mut acts: Vec<String> = rows.iter().flat_map(|r| r.1.clone()).collect();
    acts.extend(
        [
            "su",
            "sudo_auth_failure",
            "ssh_invalid_user",
            "nobody_knows",
        ]
        .map(String::from),
    );
    for act in &acts {
        for out in ["success", "failure", "unknown", "other"] {
            let code = compact::implied_keywords(act, out).map(|(c, t)| {
                let own = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
                (own(c), own(t))
            });
            assert_eq!(code, from_doc(act, out), "{act} {out}");
        }
    }
}
