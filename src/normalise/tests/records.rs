//! Decoding what is not a plain syslog line: the audit fields of authentication lines,
//! systemd journal entries, and lines of files.

use super::*;

#[test]
fn sshd_failure_gets_audit_fields() {
    let raw = b"<38>Oct 11 22:14:15 bastion sshd[4711]: Failed password for invalid user admin from 203.0.113.9 port 52113 ssh2";
    let v = render(raw, RECV);
    assert_eq!(v["event"]["category"], json!(["authentication"]));
    assert_eq!(v["event"]["action"], "ssh_login", "{v}");
    assert_eq!(v["event"]["reason"], "invalid user");
    assert_eq!(v["event"]["outcome"], "failure");
    assert_eq!(v["user"]["name"], "admin");
    assert_eq!(v["source"]["ip"], "203.0.113.9");
    assert_eq!(v["source"]["port"], 52113);
    assert_eq!(v["process"]["pid"], 4711);
    assert_eq!(v["sealtrail"]["auth"]["attempts"], 1);
    // The sending relay stays where it was: log.source.address, not source.ip.
    assert_eq!(v["log"]["source"]["address"], "192.0.2.10:51400");
}

#[test]
fn sudo_command_names_target_user_and_command() {
    let raw = b"<85>Oct 11 22:14:15 web sudo[99]:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx";
    let v = render(raw, RECV);
    assert_eq!(v["event"]["outcome"], "success", "{v}");
    assert_eq!(v["user"]["name"], "alice");
    assert_eq!(v["user"]["target"]["name"], "root");
    assert_eq!(
        v["sealtrail"]["auth"]["command"],
        "/usr/bin/systemctl restart nginx"
    );
    assert_eq!(v["sealtrail"]["auth"]["pwd"], "/home/alice");
}

#[test]
fn ordinary_lines_get_no_audit_fields() {
    let v = render(
        b"<30>Oct 11 22:14:15 web nginx[1]: GET / from 203.0.113.9 port 1",
        RECV,
    );
    assert!(v["event"].get("action").is_none(), "{v}");
    assert!(v.get("user").is_none() && v.get("source").is_none());
    assert!(v.get("sealtrail").is_none());
}

#[test]
fn a_journal_entry_renders_like_its_syslog_twin() {
    let entry = br#"{"__CURSOR":"s=7;i=2a","__REALTIME_TIMESTAMP":"1732269600000000","PRIORITY":"6","SYSLOG_FACILITY":"4","SYSLOG_IDENTIFIER":"sshd","SYSLOG_PID":"4242","_HOSTNAME":"web-1","_SYSTEMD_UNIT":"ssh.service","_UID":"0","_COMM":"sshd","_TRANSPORT":"syslog","MESSAGE":"Failed password for invalid user admin from 203.0.113.9 port 4711 ssh2"}"#;
    let rec = IngestRecord {
        received_ns: RECV,
        source: 0,
        origin: Origin::Journald,
        flags: RecordFlags::EMPTY,
        raw: entry,
    };
    let j = render_with(&mut normaliser(TimeZoneSpec::Utc), 7, &rec);
    let twin = record(
        b"<38>Nov 22 10:00:00 web-1 sshd[4242]: Failed password for invalid user admin from 203.0.113.9 port 4711 ssh2",
        RECV,
    );
    let s = render_with(&mut normaliser(TimeZoneSpec::Utc), 7, &twin);
    for path in [
        "/@timestamp",
        "/message",
        "/host/name",
        "/process/name",
        "/process/pid",
        "/log/syslog/priority",
        "/log/syslog/appname",
        "/event/action",
        "/event/outcome",
        "/user/name",
        "/source/ip",
        "/source/port",
    ] {
        assert_eq!(j.pointer(path), s.pointer(path), "{path}: {j}\n{s}");
        assert!(j.pointer(path).is_some(), "{path} present");
    }
    assert_eq!(
        j["event"]["original"],
        String::from_utf8_lossy(entry).as_ref()
    );
    assert_eq!(j["sealtrail"]["journald"]["cursor"], "s=7;i=2a");
    assert_eq!(j["sealtrail"]["journald"]["unit"], "ssh.service");
    assert_eq!(j["sealtrail"]["journald"]["uid"], 0);
    // Not an entry at all: a raw event, never a failure.
    let bad = IngestRecord {
        raw: b"{not json",
        ..rec
    };
    let v = render_with(&mut normaliser(TimeZoneSpec::Utc), 8, &bad);
    assert_eq!(v["tags"], json!(["_parse_failure"]));
    assert_eq!(v["event"]["original"], "{not json");
}

#[test]
fn a_file_line_names_its_file_and_offset_and_is_timed_by_itself() {
    let rec = IngestRecord {
        received_ns: RECV,
        source: 0,
        origin: Origin::File {
            path: b"/var/log/auth.log",
            offset: 4096,
        },
        flags: RecordFlags::EMPTY,
        raw: b"Nov 22 10:00:00 web-1 sshd[4242]: Failed password for root from 203.0.113.9 port 22 ssh2",
    };
    let v = render_with(&mut normaliser(TimeZoneSpec::Utc), 3, &rec);
    assert_eq!(v["log"]["file"]["path"], "/var/log/auth.log");
    assert_eq!(v["log"]["offset"], 4096);
    assert!(v["log"].get("source").is_none(), "no peer for a file line");
    let mut n = normaliser(TimeZoneSpec::Utc);
    let input = Input::of(&rec);
    let d = n.decode(&rec, &input);
    // The detector sees a local file's line at its own time, a syslog message at its
    // receive time (a sender's clock is not ours).
    assert_eq!(d.detector_time_ns(), utc_ns(2024, 11, 22, 10, 0, 0));
    let twin = record(rec.raw, RECV);
    let input = Input::of(&twin);
    assert_eq!(n.decode(&twin, &input).detector_time_ns(), RECV);
}

#[test]
fn journalctl_short_iso_offsets_without_a_colon_parse() {
    for (raw, want) in [
        (
            &b"2024-11-22T10:00:00+0000 web-1 sshd[42]: Failed password for root from 203.0.113.5 port 22 ssh2"[..],
            "2024-11-22T10:00:00.000000000Z",
        ),
        (
            b"2024-11-22T10:00:00.123456+0100 web-1 sshd[42]: Failed password for root from 203.0.113.5 port 22 ssh2",
            "2024-11-22T09:00:00.123456000Z",
        ),
        (
            b"<38>2024-11-22T10:00:00-0230 web-1 sshd[42]: Failed password for root from 203.0.113.5 port 22 ssh2",
            "2024-11-22T12:30:00.000000000Z",
        ),
    ] {
        let v = render(raw, RECV);
        assert_eq!(v["@timestamp"], want, "{v}");
        assert_eq!(v["host"]["name"], "web-1");
        assert_eq!(v["process"]["name"], "sshd");
        assert_eq!(v["process"]["pid"], 42);
        assert_eq!(v["event"]["action"], "ssh_login", "{v}");
        assert!(v.get("tags").is_none(), "{v}");
    }
}

#[test]
fn a_cut_journal_entry_and_a_binary_message_are_flagged_not_lost() {
    let entry = br#"{"_HOSTNAME":"web-1","SYSLOG_IDENTIFIER":"app","MESSAGE":"a very long message that the source cut"#;
    let rec = IngestRecord {
        received_ns: RECV,
        source: 0,
        origin: Origin::Journald,
        flags: RecordFlags::TRUNCATED,
        raw: entry,
    };
    let v = render_with(&mut normaliser(TimeZoneSpec::Utc), 1, &rec);
    assert_eq!(v["tags"], json!(["_truncated"]), "{v}");
    assert_eq!(v["host"]["name"], "web-1");
    assert_eq!(v["process"]["name"], "app");
    assert_eq!(v["message"], "a very long message that the source cut");
    assert_eq!(
        v["event"]["original"],
        String::from_utf8_lossy(entry).as_ref()
    );
    // "ok \xff" as bytes: the message is lossy and says so; the exact bytes are in the
    // original (which is valid UTF-8, so no base64 copy).
    let entry = br#"{"__CURSOR":"s=1","MESSAGE":[111,107,32,255],"_HOSTNAME":"h"}"#;
    let rec = IngestRecord {
        flags: RecordFlags::EMPTY,
        raw: entry,
        ..rec
    };
    let v = render_with(&mut normaliser(TimeZoneSpec::Utc), 2, &rec);
    assert_eq!(v["tags"], json!(["_invalid_utf8"]), "{v}");
    assert_eq!(v["message"], "ok \u{fffd}");
    assert!(v["sealtrail"].get("original_base64").is_none(), "{v}");
    assert_eq!(v["sealtrail"]["journald"]["cursor"], "s=1");
}

#[test]
fn an_audit_record_stored_by_journald_is_an_audit_event() {
    // journald's own form of a kernel audit record (journald-audit.c): identifier
    // `audit`, message `<TYPE_NAME> <fields>` without the `audit(…):` header.
    let entry = br#"{"__CURSOR":"s=9","_TRANSPORT":"audit","SYSLOG_IDENTIFIER":"audit","SYSLOG_FACILITY":"4","_AUDIT_TYPE":"1100","_AUDIT_TYPE_NAME":"USER_AUTH","_PID":"1234","__REALTIME_TIMESTAMP":"1732269600000000","MESSAGE":"USER_AUTH pid=1234 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication grantors=? acct=\"root\" exe=\"/usr/sbin/sshd\" hostname=203.0.113.9 addr=203.0.113.9 terminal=ssh res=failed'"}"#;
    let rec = IngestRecord {
        received_ns: RECV,
        source: 0,
        origin: Origin::Journald,
        flags: RecordFlags::EMPTY,
        raw: entry,
    };
    let v = render_with(&mut normaliser(TimeZoneSpec::Utc), 1, &rec);
    assert_eq!(v["event"]["action"], "authenticated", "{v}");
    assert_eq!(v["event"]["outcome"], "failure", "{v}");
    assert_eq!(v["user"]["name"], "root", "{v}");
    assert_eq!(v["source"]["ip"], "203.0.113.9", "{v}");
    assert_eq!(v["sealtrail"]["journald"]["transport"], "audit");
    assert_eq!(v["log"]["syslog"]["facility"]["code"], 4);
}
