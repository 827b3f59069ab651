use super::*;
use crate::record::{IngestRecord, Origin};
use base64::Engine as _;
use chrono::{Local, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};

mod connection;
mod records;

/// ns since the epoch for a UTC date-time.
fn utc_ns(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap()
}

fn record(raw: &[u8], received_ns: i64) -> IngestRecord<'_> {
    IngestRecord::syslog(
        received_ns,
        0,
        Some("192.0.2.10:51400".parse().unwrap()),
        RecordFlags::EMPTY,
        raw,
    )
}

fn normaliser(tz: TimeZoneSpec) -> Normaliser {
    Normaliser::new("host-a", vec![("udp514".into(), tz)])
}

/// Renders and parses the line back: it must be valid JSON, one line, no null.
fn render_with(n: &mut Normaliser, position: u64, rec: &IngestRecord<'_>) -> Value {
    let mut out = b"previous".to_vec();
    n.render(position, rec, &mut out);
    assert!(out.starts_with(b"previous{"), "appends to the buffer");
    let line = &out[b"previous".len()..];
    assert!(
        !line.contains(&b'\n'),
        "one line: {}",
        String::from_utf8_lossy(line)
    );
    let v: Value = serde_json::from_slice(line)
        .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", String::from_utf8_lossy(line)));
    assert!(!line.windows(4).any(|w| w == b"null"), "no nulls");
    v
}

fn render(raw: &[u8], received_ns: i64) -> Value {
    render_with(
        &mut normaliser(TimeZoneSpec::Utc),
        42,
        &record(raw, received_ns),
    )
}

const RECV: i64 = 1_732_933_600_000_000_000; // 2024-11-30T02:26:40Z

#[test]
fn rfc5424_with_structured_data() {
    let raw = br#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] An application event"#;
    let v = render(raw, RECV);
    assert_eq!(
        v,
        json!({
            "@timestamp": "2003-10-11T22:14:15.003000000Z",
            "event": {
                "id": "host-a:42",
                "created": "2024-11-30T02:26:40.000000000Z",
                "kind": "event",
                "original": std::str::from_utf8(raw).unwrap(),
            },
            "message": "An application event",
            "host": {"name": "mymachine.example.com"},
            "log": {
                "syslog": {
                    "priority": 165,
                    "facility": {"code": 20, "name": "local4"},
                    "severity": {"code": 5, "name": "notice"},
                    "hostname": "mymachine.example.com",
                    "appname": "evntslog",
                    "procid": "1234",
                    "msgid": "ID47",
                    "version": 1,
                    "structured_data": {
                        "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
                        "examplePriority@32473": {"class": "high"},
                    },
                },
                "source": {"address": "192.0.2.10:51400"},
            },
            "process": {"name": "evntslog", "pid": 1234},
            "observer": {"ingress": {"name": "udp514"}},
        })
    );
}

#[test]
fn rfc5424_nilvalues_and_offsets() {
    let v = render(b"<13>1 - - - - - - just text", RECV);
    assert_eq!(v["@timestamp"], v["event"]["created"], "no message time");
    assert_eq!(v["message"], "just text");
    assert!(v.get("host").is_none());
    assert!(v.get("process").is_none());
    assert_eq!(
        v["log"]["syslog"],
        json!({"priority": 13, "facility": {"code": 1, "name": "user"},
               "severity": {"code": 5, "name": "notice"}, "version": 1})
    );
    // An explicit offset wins over the listener's zone; fraction digits are kept.
    let mut n = normaliser("+05:00".parse().unwrap());
    let v = render_with(
        &mut n,
        1,
        &record(
            b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% Its time",
            RECV,
        ),
    );
    assert_eq!(v["@timestamp"], "2003-08-24T12:14:15.000003000Z");
    assert_eq!(v["message"], "%% Its time");
    assert_eq!(v["log"]["syslog"]["procid"], "8710");
    assert_eq!(v["process"], json!({"name": "myproc", "pid": 8710}));
}

#[test]
fn rfc5424_bom_is_not_part_of_the_message() {
    let raw = "<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 - \u{feff}'su root' failed";
    let v = render(raw.as_bytes(), RECV);
    assert_eq!(v["message"], "'su root' failed");
    assert_eq!(v["event"]["original"], raw);
}

#[test]
fn structured_data_escapes_repeats_and_merges() {
    let raw = br#"<13>1 2024-01-01T00:00:00Z h a - - [x@1 q="a\"b" bs="c\\d" br="e\]f" other="g\h" ip="1" ip="2"][y@1 k="v"][x@1 ip="3" z=""] m"#;
    let v = render(raw, RECV);
    assert_eq!(
        v["log"]["syslog"]["structured_data"],
        json!({
            "x@1": {"q": "a\"b", "bs": "c\\d", "br": "e]f", "other": "g\\h", "ip": ["1", "2", "3"], "z": ""},
            "y@1": {"k": "v"},
        })
    );
    assert_eq!(v["message"], "m");
}

#[test]
fn rfc3164_with_hostname() {
    let v = render(
        b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick",
        RECV,
    );
    assert_eq!(v["@timestamp"], "2024-10-11T22:14:15.000000000Z");
    assert_eq!(v["host"]["name"], "mymachine");
    assert_eq!(v["process"], json!({"name": "su"}));
    assert_eq!(v["message"], "'su root' failed for lonvick");
    assert_eq!(
        v["log"]["syslog"]["severity"],
        json!({"code": 2, "name": "crit"})
    );
    assert_eq!(
        v["log"]["syslog"]["facility"],
        json!({"code": 4, "name": "auth"})
    );
    assert!(v["log"]["syslog"].get("version").is_none());
    assert!(v.get("tags").is_none());
}

#[test]
fn rfc3164_without_hostname_dev_log_form() {
    let v = render(b"<13>Nov 22 10:00:00 prog[12]: msg here", RECV);
    assert!(v.get("host").is_none());
    assert_eq!(v["process"], json!({"name": "prog", "pid": 12}));
    assert_eq!(v["message"], "msg here");
    assert_eq!(v["@timestamp"], "2024-11-22T10:00:00.000000000Z");

    let v = render(b"<13>Nov 22 10:00:00 prog: msg here", RECV);
    assert!(v.get("host").is_none(), "{v}");
    assert_eq!(v["process"], json!({"name": "prog"}));
    assert_eq!(v["log"]["syslog"]["appname"], "prog");
    assert_eq!(v["message"], "msg here");
}

#[test]
fn rfc3164_bracket_text_stays_in_message() {
    let v = render(b"<13>Nov 22 10:00:00 host app: [INFO] started", RECV);
    assert_eq!(v["message"], "[INFO] started");
    assert!(v["log"]["syslog"].get("structured_data").is_none());
}

#[test]
fn rfc3164_year_is_nearest_to_reception() {
    // Received just after New Year: "Dec 31" is last year's.
    let recv = utc_ns(2025, 1, 1, 0, 0, 30);
    let v = render(b"<13>Dec 31 23:59:50 h p: m", recv);
    assert_eq!(v["@timestamp"], "2024-12-31T23:59:50.000000000Z");
    assert_eq!(v["event"]["created"], "2025-01-01T00:00:30.000000000Z");
    // A sender slightly ahead across New Year: next year.
    let recv = utc_ns(2024, 12, 31, 23, 59, 50);
    let v = render(b"<13>Jan  1 00:00:10 h p: m", recv);
    assert_eq!(v["@timestamp"], "2025-01-01T00:00:10.000000000Z");
    // Rendering depends on the record only: the same record, same line, any time.
    let rec = record(b"<13>Dec 31 23:59:50 h p: m", utc_ns(2025, 1, 1, 0, 0, 30));
    let mut a = Vec::new();
    let mut b = Vec::new();
    normaliser(TimeZoneSpec::Utc).render(9, &rec, &mut a);
    normaliser(TimeZoneSpec::Utc).render(9, &rec, &mut b);
    assert_eq!(a, b);
}

#[test]
fn listener_time_zones() {
    let raw = b"<13>Jun 15 12:00:00 h p: m";
    let recv = utc_ns(2024, 6, 15, 10, 0, 5);
    let mut fixed = normaliser("+02:00".parse().unwrap());
    let v = render_with(&mut fixed, 1, &record(raw, recv));
    assert_eq!(v["@timestamp"], "2024-06-15T10:00:00.000000000Z");
    let mut west = normaliser("-05:30".parse().unwrap());
    let v = render_with(&mut west, 1, &record(raw, recv));
    assert_eq!(v["@timestamp"], "2024-06-15T17:30:00.000000000Z");
    // A timestamp with a year but no zone, too.
    let v = render_with(
        &mut fixed,
        1,
        &record(b"<13>Jun 15 2024 12:00:00 h p: m", recv),
    );
    assert_eq!(v["@timestamp"], "2024-06-15T10:00:00.000000000Z");
    // RFC 3339 timestamps in RFC 3164 messages carry their zone.
    let v = render_with(
        &mut fixed,
        1,
        &record(b"<14>2024-06-15T12:00:00Z X4711 AAAA", recv),
    );
    assert_eq!(v["@timestamp"], "2024-06-15T12:00:00.000000000Z");
    // Local: whatever this machine's zone is, the result matches chrono's.
    let mut local = normaliser(TimeZoneSpec::Local);
    let v = render_with(&mut local, 1, &record(raw, recv));
    let wall = NaiveDate::from_ymd_opt(2024, 6, 15)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap();
    let expect = Local
        .from_local_datetime(&wall)
        .earliest()
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(
        v["@timestamp"],
        expect.format("%Y-%m-%dT%H:%M:%S.%9fZ").to_string()
    );
}

#[test]
fn garbage_becomes_a_raw_event() {
    let v = render(b"This is a message!", RECV);
    assert_eq!(v["message"], "This is a message!");
    assert_eq!(v["event"]["original"], "This is a message!");
    assert_eq!(v["tags"], json!(["_parse_failure"]));
    assert_eq!(v["@timestamp"], v["event"]["created"]);
    assert!(v["log"].get("syslog").is_none());
    assert_eq!(v["log"]["source"]["address"], "192.0.2.10:51400");
    // Invalid PRI and no timestamp: raw as well.
    let v = render(b"<999>Nov 22 10:00:00 h p: m", RECV);
    assert_eq!(v["tags"], json!(["_parse_failure"]));
    // No peer and nothing parsed: no "log" object at all.
    let mut rec = record(b"\x01\x02 binary junk", RECV);
    rec.origin = Origin::Syslog(crate::record::Sender {
        peer: None,
        client: None,
        cred: None,
    });
    let v = render_with(&mut normaliser(TimeZoneSpec::Utc), 0, &rec);
    assert!(v.get("log").is_none());
    assert_eq!(v["message"], "\u{1}\u{2} binary junk");
}

#[test]
fn pri_without_timestamp_keeps_pri_and_tag() {
    let v = render(b"<27>xapi: [error|xen3] Connection to master died.", RECV);
    assert!(v.get("tags").is_none());
    assert_eq!(v["log"]["syslog"]["priority"], 27);
    assert_eq!(v["process"], json!({"name": "xapi"}));
    assert_eq!(v["message"], "[error|xen3] Connection to master died.");
    let v = render(b"<13>sshd[77]: hello", RECV);
    assert_eq!(v["process"], json!({"name": "sshd", "pid": 77}));
    assert_eq!(v["message"], "hello");
    let v = render(b"<13>no tag here", RECV);
    assert!(v.get("process").is_none());
    assert_eq!(v["message"], "no tag here");
    let v = render(b"<13>", RECV);
    assert_eq!(v["message"], "");
}

#[test]
fn pri_left_in_text_by_a_relay_is_unwrapped() {
    let v = render(b"<13><38>Nov 22 10:00:00 host sshd[5]: Accepted", RECV);
    assert_eq!(v["log"]["syslog"]["priority"], 38);
    assert_eq!(v["host"]["name"], "host");
    assert_eq!(v["process"], json!({"name": "sshd", "pid": 5}));
    assert_eq!(v["message"], "Accepted");
    assert!(v.get("tags").is_none());
}

#[test]
fn invalid_utf8_keeps_exact_bytes() {
    let raw = b"<13>Nov 22 10:00:00 h p: caf\xe9 \xff";
    let v = render(raw, RECV);
    assert_eq!(
        v["event"]["original"],
        "<13>Nov 22 10:00:00 h p: caf\u{fffd} \u{fffd}"
    );
    assert_eq!(v["tags"], json!(["_invalid_utf8"]));
    let b64 = v["sealtrail"]["original_base64"].as_str().unwrap();
    let back = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(back, raw);
    assert_eq!(v["message"], "caf\u{fffd} \u{fffd}");
}

#[test]
fn json_escaping() {
    let raw =
        "<13>Nov 22 10:00:00 h p: q\"uote back\\slash tab\t nl\n cr\r nul\u{0} esc\u{1b} äöü 😀";
    let v = render(raw.as_bytes(), RECV);
    assert_eq!(v["event"]["original"], raw);
    assert_eq!(
        v["message"],
        "q\"uote back\\slash tab\t nl\n cr\r nul\u{0} esc\u{1b} äöü 😀"
    );
    // Names from the config are escaped too.
    let mut n = Normaliser::new(
        "st\"ream\\",
        vec![("lis\u{7}tener ✓".into(), TimeZoneSpec::Utc)],
    );
    let v = render_with(&mut n, u64::MAX, &record(b"x", RECV));
    assert_eq!(v["event"]["id"], format!("st\"ream\\:{}", u64::MAX));
    assert_eq!(v["observer"]["ingress"]["name"], "lis\u{7}tener ✓");
}

#[test]
fn flags_become_tags() {
    let mut rec = record(b"<13>Nov 22 10:00:00 h p: cut", RECV);
    rec.flags = RecordFlags::TRUNCATED | RecordFlags::INCOMPLETE;
    let v = render_with(&mut normaliser(TimeZoneSpec::Utc), 1, &rec);
    assert_eq!(v["tags"], json!(["_truncated", "_incomplete"]));
    let mut rec = record(b"junk \xff", RECV);
    rec.flags = RecordFlags::TRUNCATED;
    let v = render_with(&mut normaliser(TimeZoneSpec::Utc), 1, &rec);
    assert_eq!(
        v["tags"],
        json!(["_parse_failure", "_truncated", "_invalid_utf8"])
    );
}

#[test]
fn peers_and_listeners() {
    let mut rec = record(b"<13>Nov 22 10:00:00 h p: m", RECV);
    rec.origin = Origin::Syslog(crate::record::Sender {
        peer: Some("[2001:db8::1]:514".parse().unwrap()),
        client: None,
        cred: None,
    });
    let v = render_with(&mut normaliser(TimeZoneSpec::Utc), 1, &rec);
    assert_eq!(v["log"]["source"]["address"], "[2001:db8::1]:514");
    // A listener index the config does not know: no observer name, UTC.
    rec.source = 9;
    let v = render_with(&mut normaliser("+02:00".parse().unwrap()), 1, &rec);
    assert!(v.get("observer").is_none());
    assert_eq!(v["@timestamp"], "2024-11-22T10:00:00.000000000Z");
}

#[test]
fn empty_and_short_messages() {
    let v = render(b"<14>Aug 30 23:00:05 X4711", RECV);
    assert_eq!(v["host"]["name"], "X4711");
    assert_eq!(v["message"], "");
    let v = render(b"<14>Aug 30 23:00:05", RECV);
    assert!(v.get("host").is_none());
    assert_eq!(v["@timestamp"], "2024-08-30T23:00:05.000000000Z");
    let v = render(b"", RECV);
    assert_eq!(v["tags"], json!(["_parse_failure"]));
}

#[test]
fn event_helpers() {
    let rec = record(
        b"<38>Nov 22 10:00:00 h sshd[42]: message repeated 3 times: [ Failed password for root]",
        RECV,
    );
    let mut n = normaliser(TimeZoneSpec::Utc);
    let input = Input::of(&rec);
    let ev = n.decode(&rec, &input).event;
    assert_eq!(ev.facility(), Some(4));
    assert_eq!(ev.severity(), Some(6));
    assert_eq!(ev.pid(), Some(42));
    assert_eq!(ev.appname, Some("sshd"));
    assert_eq!(ev.repeated(), Some((3, "Failed password for root")));
    assert!(!ev.invalid_utf8 && !ev.parse_failure);
    assert_eq!(ev.time_ns(), utc_ns(2024, 11, 22, 10, 0, 0));
    assert_eq!(facility_name(23), Some("local7"));
    assert_eq!(facility_name(24), None);
    assert_eq!(severity_name(7), Some("debug"));
}

#[test]
fn rendering_never_fails_on_arbitrary_bytes() {
    // A deterministic pseudo-random walk over syslog-ish fragments and raw bytes.
    let pieces: [&[u8]; 16] = [
        b"<13>",
        b"<191>",
        b"<999>",
        b"1 ",
        b"- ",
        b"Nov 22 10:00:00 ",
        b"2024-01-01T00:00:00Z ",
        b"host ",
        b"app[1]: ",
        b"[id k=\"v\\\"\"]",
        b"\xff\xfe",
        b"\"\\",
        b"\n\r\t\x00",
        b"]",
        b"\xe2\x82",
        b"text ",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut n = normaliser(TimeZoneSpec::Local);
    for _ in 0..3000 {
        let mut raw = Vec::new();
        for _ in 0..(seed % 7) {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            raw.extend_from_slice(pieces[(seed >> 60) as usize]);
        }
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let v = render_with(&mut n, seed, &record(&raw, RECV));
        assert_eq!(
            v["event"]["original"],
            String::from_utf8_lossy(&raw).as_ref()
        );
    }
}

/// The fast RFC 3164 path (`syslog::fast`) must give exactly the event the general
/// path gives, on every line it takes; it must take the common forms; and the lines it
/// declines still parse the general way.
#[test]
fn the_fast_path_agrees_with_the_general_one() {
    let pris = [
        "", "<38>", "<0>", "<191>", "<192>", "<038>", "<3a>", "< 38>", "<86>",
    ];
    let months = ["Nov", "Jan", "Feb", "Dec", "NOV", "nov", "Foo", "May"];
    let days = [
        " 22", "  1", " 01", " 31", " 29", " 30", " 32", " 0", "  10", "\t1", " 1",
    ];
    let times = [
        " 00:00:00",
        " 23:59:59",
        " 24:00:00",
        " 12:60:00",
        " 1:00:00",
        " 12:00:00:",
        " 09:05:07",
        " 12:00:60",
    ];
    let hosts = [
        " web1",
        "  web1",
        " 10.0.0.5",
        " host:",
        " -",
        " h\u{e9}st",
        " a:b",
        " 2024",
        "\tweb1",
        " app-06.lon2.corp",
    ];
    let tags = [
        " sshd[123]",
        " sshd",
        " postfix/smtpd[77]",
        " app[x]",
        " app[]",
        " [12]",
        " a[1]b",
        " app[99999999999]",
        " -",
        " app[1][2]",
        " su(pam_unix)[4]",
        " sudo",
        " app]",
        "  sshd[1]",
        " app[-5]",
    ];
    let colons = [": ", ":", ":  ", ":\t", " ", ": :", ":\t "];
    let msgs = [
        "Failed password for root from 203.0.113.4 port 22 ssh2",
        "[bracket] text",
        "- dash",
        "",
        "trailing space ",
        "unicode \u{2713} and \u{feff}bom",
        "message repeated 2 times: [ Failed password for bob from 1.2.3.4 port 2 ssh2]",
        "pam_unix(sudo:auth): authentication failure; logname=bob uid=1000 euid=0 tty=/dev/pts/0 ruser=bob rhost=  user=bob",
        "  leading spaces",
    ];
    let received = [
        utc_ns(2024, 11, 30, 2, 26, 40),
        utc_ns(2025, 1, 1, 0, 30, 0),
        utc_ns(2024, 12, 31, 23, 0, 0),
        utc_ns(2024, 3, 1, 0, 0, 0),
    ];
    let zones = [
        TimeZoneSpec::Utc,
        "+02:00".parse().unwrap(),
        "-05:30".parse().unwrap(),
        TimeZoneSpec::Local,
    ];
    let mut lines: Vec<String> = Vec::new();
    // Every piece varied against a canonical line, then random combinations.
    let canonical = [
        "<38>",
        "Nov",
        " 22",
        " 00:00:42",
        " web1",
        " sshd[123]",
        ": ",
        msgs[0],
    ];
    let choices: [&[&str]; 8] = [&pris, &months, &days, &times, &hosts, &tags, &colons, &msgs];
    for (k, opts) in choices.iter().enumerate() {
        for o in opts.iter() {
            let mut parts = canonical;
            parts[k] = o;
            lines.push(parts.concat());
        }
    }
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let variations = lines.len();
    for _ in 0..20_000 {
        // Each piece canonical half the time, so many lines are of the common form.
        let parts: Vec<&str> = choices
            .iter()
            .zip(canonical)
            .map(|(o, c)| if next(2) == 0 { c } else { o[next(o.len())] })
            .collect();
        lines.push(parts.concat());
    }
    lines.push("<13>Nov 22 10:00:00 host app: \r\n".into());
    lines.push("Nov 22 10:00:00 host app: a file line".into());
    lines.push("Feb 29 10:00:00 host app: leap day".into());
    let (mut fast, mut fast_variations) = (0usize, 0usize);
    for (i, line) in lines.iter().enumerate() {
        let recv = received[i % received.len()];
        for zone in &zones {
            let rec = record(line.as_bytes(), recv);
            let text = record_text(rec.raw);
            let mut zc = time::ZoneCache::new(*zone);
            let mut quick = decode::blank_event(&rec, &text);
            let took = syslog::fast_parse_3164(&mut quick, &text, &mut zc);
            let mut general = decode::blank_event(&rec, &text);
            syslog::parse_general(&mut general, &text, &mut zc, 0);
            if took {
                fast += 1;
                fast_variations += usize::from(i < variations);
                assert_eq!(quick, general, "{line:?} in {zone:?}");
            } else {
                assert_eq!(
                    quick,
                    decode::blank_event(&rec, &text),
                    "{line:?}: declined but changed"
                );
            }
        }
    }
    // Many variations of a single piece, and many random lines, go the fast way.
    assert!(
        fast_variations > variations * 4 / 3,
        "{fast_variations} of {} single variations took the fast path",
        variations * 4
    );
    assert!(
        fast > lines.len() / 2,
        "only {fast} of {} lines took the fast path",
        lines.len() * 4
    );
    let rec = record(b"<38>Nov 22 00:00:42 web1 sshd[123]: hello", received[0]);
    let text = record_text(rec.raw);
    let mut ev = decode::blank_event(&rec, &text);
    assert!(syslog::fast_parse_3164(
        &mut ev,
        &text,
        &mut time::ZoneCache::new(TimeZoneSpec::Utc)
    ));
    assert_eq!(
        (ev.hostname, ev.appname, ev.message),
        (Some("web1"), Some("sshd"), "hello")
    );
}
