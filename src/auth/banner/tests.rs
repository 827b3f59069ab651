//! Headers of other systems, written from their documentation: Solaris syslog(3C)
//! message ids, printk times, macOS `log show` styles, BusyBox/FreeBSD `syslogd`
//! options, socklog, journalctl's output modes.

use std::net::IpAddr;

use super::super::recognise;
use super::{strip_message_prefix, strip_uptime_before_audit, unwrap};

fn ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

#[test]
fn message_prefixes() {
    assert_eq!(
        strip_message_prefix("[ID 800047 auth.info] Failed password"),
        "Failed password"
    );
    assert_eq!(strip_message_prefix("[ID 702911 authpriv.notice] x"), "x");
    assert_eq!(
        strip_uptime_before_audit("[12345.678901] audit: x"),
        "audit: x"
    );
    assert_eq!(
        strip_uptime_before_audit("[    1.000001] type=1100 x"),
        "type=1100 x"
    );
    // Anything else in brackets is message text.
    for m in [
        "[ID x auth.info] y",
        "[ID 1 nope] y",
        "[preauth] y",
        "[12345.678901] y",
    ] {
        assert_eq!(strip_message_prefix(m), m);
    }
    for m in [
        "[preauth] audit: y",
        "[1.2.3] audit: y",
        "[12345.678901] EXT4-fs (sda2): re-mounted",
        "[12345.678901] [UFW BLOCK] IN=eth0",
        "[UFW BLOCK] IN=eth0",
    ] {
        assert_eq!(strip_uptime_before_audit(m), m);
    }
}

#[test]
fn headers_inside_the_message() {
    // journalctl -o short-precise, cut at the fraction by the syslog parser.
    assert_eq!(
        unwrap("", ".123456 web1 sshd[2206]: Failed password"),
        Some(("sshd", Some(2206), "Failed password"))
    );
    // macOS log show --style syslog, and the default style's columns.
    assert_eq!(
        unwrap(
            "",
            "2024-11-22 10:00:00.123456+0100 mac01 sshd[2203]: Invalid user x"
        ),
        Some(("sshd", Some(2203), "Invalid user x"))
    );
    assert_eq!(
        unwrap("", "2024-11-22 10:00:00.123456+0100 0x1a2b3c   Default     0x0   2204   0    sshd: Invalid user x"),
        Some(("sshd", Some(2204), "Invalid user x"))
    );
    // BusyBox's facility.level before the tag, FreeBSD -v's <facility.level>.
    assert_eq!(
        unwrap("auth.info", "sshd[2209]: Invalid user x"),
        Some(("sshd", Some(2209), "Invalid user x"))
    );
    assert_eq!(
        unwrap("", "<4.6> web1 sshd[2210]: Invalid user x"),
        Some(("sshd", Some(2210), "Invalid user x"))
    );
    // socklog: an ISO time and facility.level, then a second header or the message.
    assert_eq!(
        unwrap(
            "",
            "2024-11-22T10:00:00.12345 auth.info: Nov 22 10:00:00 sshd[2211]: Invalid user x"
        ),
        Some(("sshd", Some(2211), "Invalid user x"))
    );
    assert_eq!(
        unwrap("", "2024-11-22T10:00:00.12345 auth.info: Invalid user x"),
        Some(("", None, "Invalid user x"))
    );
    // rsyslog templates that drop the colon after the pid.
    assert_eq!(
        unwrap(
            "",
            "2024-11-22T10:00:00.1+01:00 web1 sshd[2212] error: PAM: x"
        ),
        Some(("sshd", Some(2212), "error: PAM: x"))
    );
    // Only known programs, and no skipping of words.
    assert_eq!(unwrap("", "web1 cron[1]: Failed password for root"), None);
    assert_eq!(unwrap("", "Failed password for root from 1.2.3.4"), None);
    assert_eq!(
        unwrap("", "the sshd[1]: Failed"),
        Some(("sshd", Some(1), "Failed"))
    );
    assert_eq!(unwrap("", "one two sshd[1]: Failed"), None);
    // With a program already found, only a tag at the very start counts.
    assert_eq!(unwrap("web1", "sshd[3]: x"), Some(("sshd", Some(3), "x")));
    assert_eq!(unwrap("CRON", "(root) CMD (sshd[3]: x)"), None);
    assert_eq!(unwrap("web1", "2024-11-22 sshd[3]: x"), None);
}

/// The recogniser as the normaliser calls it for such lines: with the program it found
/// (none, a host name, a facility) and the rest as the message.
#[test]
fn recognised_behind_foreign_headers() {
    for (program, pid, msg, src) in [
        ("sshd", Some(2201), "[ID 800047 auth.info] Failed password for root from 192.0.2.31 port 50100 ssh2", "192.0.2.31"),
        ("", None, "[12345.678901] sshd[2202]: Failed password for root from 192.0.2.32 port 50100 ssh2", "192.0.2.32"),
        ("", None, "2024-11-22 10:00:00.123456+0100 mac01 sshd[2203]: Failed password for root from 192.0.2.33 port 50100 ssh2", "192.0.2.33"),
        ("", None, "2024-11-22 10:00:00.123456+0100 0x1a2b3c   Default     0x0                  2204   0    sshd: Failed password for root from 192.0.2.34 port 50100 ssh2", "192.0.2.34"),
        ("", None, ".123456 web1 sshd[2206]: Failed password for root from 192.0.2.36 port 50100 ssh2", "192.0.2.36"),
        ("sshd[]", None, "Failed password for root from 192.0.2.40 port 50100 ssh2", "192.0.2.40"),
        ("auth.info", None, "sshd[2209]: Failed password for root from 192.0.2.41 port 50100 ssh2", "192.0.2.41"),
        ("web1", None, "sshd[2210]: Failed password for root from 192.0.2.42 port 50100 ssh2", "192.0.2.42"),
        ("", None, "2024-11-22T10:00:00.12345 auth.info: Failed password for root from 192.0.2.43 port 50100 ssh2", "192.0.2.43"),
        ("", None, "2024-11-22 10:00:00.123456 Failed password for root from 192.0.2.46 port 50100 ssh2", "192.0.2.46"),
    ] {
        let ev = recognise(program, pid, msg).unwrap_or_else(|| panic!("{program:?} {msg}"));
        assert_eq!(ev.action, "ssh_login", "{msg}");
        assert_eq!((ev.source_ip, ev.user_name()), (ip(src), Some("root")), "{msg}");
        assert_eq!(ev.attempts, 1, "{msg}");
        // The inner header's pid is the connection's.
        if msg.contains("[2202]") {
            assert_eq!(ev.pid, Some(2202));
        }
        if msg.contains(" 2204 ") {
            assert_eq!(ev.pid, Some(2204));
        }
    }
    // macOS's PAM error names the local address last.
    let ev = recognise("", None, "2024-11-22 10:00:00.123456+0100 0x1a2b3c   Error       0x0                  2205   0    sshd: error: PAM: authentication error for root from 192.0.2.35 via 192.0.2.1").unwrap();
    assert_eq!(
        (ev.action, ev.source_ip, ev.user_name(), ev.pid),
        (
            "ssh_pam_failure",
            ip("192.0.2.35"),
            Some("root"),
            Some(2205)
        )
    );
    let ev = recognise(
        "sshd",
        Some(9),
        "error: PAM: authentication error for illegal user x from 192.0.2.35 via 192.0.2.1",
    )
    .unwrap();
    assert_eq!(
        (ev.user_name(), ev.reason),
        (Some("x"), Some("invalid user"))
    );
    // The user cannot forge the address through " via ".
    let ev = recognise("sshd", Some(9), "error: PAM: authentication error for x from 6.6.6.6 via 1.1.1.1 from 192.0.2.35 via 192.0.2.1").unwrap();
    assert_eq!(ev.source_ip, ip("192.0.2.35"));
    // Kernel audit records behind a printk time.
    let ev = recognise("kernel", None, "[12345.678901] audit: type=1100 audit(1700000000.2:8): pid=5 uid=0 auid=1000 ses=2 msg='op=PAM:authentication grantors=? acct=\"bob\" exe=\"/usr/bin/sudo\" hostname=? addr=? terminal=/dev/pts/0 res=failed'").unwrap();
    assert_eq!((ev.action, ev.user_name()), ("authenticated", Some("bob")));
    // Repetitions count through a foreign header.
    let ev = recognise("auth.info", None, "message repeated 3 times: [ sshd[2209]: Failed password for root from 192.0.2.41 port 50100 ssh2]").unwrap();
    assert_eq!(ev.attempts, 3);
    // Another program behind a foreign header is not an sshd line.
    assert!(recognise(
        "web1",
        None,
        "cron[7]: Failed password for root from 192.0.2.1 port 1 ssh2"
    )
    .is_none());
}
