//! Across the families: rsyslog's `message repeated N times: [ <line>]` stands for N
//! copies of the line, so it counts N times the line's attempts and says the same
//! otherwise.

use super::recognise;

#[test]
fn repeated_lines_count_n_times_in_every_family() {
    for (program, line, attempts) in [
        ("sshd", "Failed password for root from 192.0.2.1 port 22 ssh2", 1),
        ("sshd", "Failed password for root from 192.0.2.1 port 22", 1),
        ("sshd", "Failed publickey for root from 192.0.2.1 port 22 ssh2: ED25519 SHA256:x", 0),
        ("sshd", "Invalid user admin from 192.0.2.1 port 22", 1),
        ("sshd", "User bob from 192.0.2.1 not allowed because not listed in AllowUsers", 1),
        ("sshd", "ROOT LOGIN REFUSED FROM 192.0.2.1 port 22", 1),
        ("sshd", "error: PAM: Authentication failure for bob from 192.0.2.1", 1),
        ("sshd", "error: PAM: authentication error for bob from 192.0.2.1 via 192.0.2.254", 1),
        ("sshd", "error: maximum authentication attempts exceeded for root from 192.0.2.1 port 22 ssh2 [preauth]", 0),
        ("sshd", "Disconnecting: Too many authentication failures for root [preauth]", 0),
        ("sshd", "Connection closed by authenticating user root 192.0.2.1 port 22 [preauth]", 0),
        ("sshd", "Received disconnect from 192.0.2.1 port 22:14: No more authentication methods [preauth]", 0),
        ("sshd", "Did not receive identification string from 192.0.2.1 port 22", 0),
        ("sshd", "[ID 800047 auth.info] Failed password for root from 192.0.2.1 port 22 ssh2", 1),
        ("sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.1  user=root", 0),
        ("sshd(pam_unix)", "authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.1  user=root", 0),
        ("cockpit-session", "pam_unix(cockpit:auth): authentication failure; logname= uid=0 euid=0 tty= ruser= rhost=192.0.2.1  user=bob", 1),
        ("sudo", "bob : 2 incorrect password attempts ; TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/ls", 2),
        ("su", "FAILED SU (to root) bob on pts/0", 1),
        ("su", "BAD SU bob to root on /dev/ttyp0", 1),
        ("su(pam_unix)", "authentication failure; logname=bob uid=1000 euid=0 tty=pts/0 ruser=bob rhost=  user=root", 0),
        ("login", "FAILED LOGIN 1 FROM tty1 FOR bob, Authentication failure", 1),
        ("login", "FAILED LOGIN (1) on '/dev/tty1' FOR 'bob', Authentication failure", 1),
        ("", "2024-11-22T10:00:00.12345 auth.info: Failed password for root from 192.0.2.1 port 22 ssh2", 1),
        ("", "type=USER_AUTH msg=audit(1.0:1): pid=5 uid=0 auid=1000 ses=2 msg='op=PAM:authentication acct=\"bob\" exe=\"/usr/bin/su\" hostname=? addr=? terminal=pts/0 res=failed'", 1),
    ] {
        let one = recognise(program, Some(7), line).unwrap_or_else(|| panic!("{line}"));
        assert_eq!(one.attempts, attempts, "{line}");
        let rep = format!("message repeated 4 times: [ {line}]");
        let four = recognise(program, Some(7), &rep).unwrap_or_else(|| panic!("{rep}"));
        assert_eq!(four.attempts, 4 * attempts, "{rep}");
        assert_eq!(
            (four.action, four.outcome, four.user_name(), four.source_ip),
            (one.action, one.outcome, one.user_name(), one.source_ip),
            "{rep}"
        );
    }
}

/// `is_known_program` lists the programs `recognise` has a recogniser for: each of
/// them recognises its own kind of line, and none takes another system's header.
#[test]
fn known_programs_are_recognised() {
    let sshd = "Invalid user a from 192.0.2.1";
    let audit = "type=USER_AUTH msg=audit(1.0:1): pid=5 uid=0 auid=1000 ses=2 msg='op=PAM:authentication acct=\"bob\" exe=\"/usr/bin/su\" res=failed'";
    for (p, line) in [
        ("sshd", sshd),
        ("sshd-session", sshd),
        ("sshd-auth", sshd),
        (
            "sudo",
            "bob : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls",
        ),
        ("su", "FAILED SU (to root) bob on pts/0"),
        ("su-l", "FAILED SU (to root) bob on pts/0"),
        (
            "login",
            "FAILED LOGIN 1 FROM tty1 FOR bob, Authentication failure",
        ),
        ("systemd-logind", "New session 1 of user bob."),
        ("audit", audit),
        ("auditd", audit),
        ("kernel", audit),
        ("audispd", audit),
        ("audisp-syslog", audit),
        ("audit-syslog", audit),
    ] {
        assert!(super::is_known_program(p), "{p}");
        assert!(recognise(p, None, line).is_some(), "{p}");
        // A known program's message is its own, not a header to unwrap.
        assert!(
            recognise(p, None, &format!("sshd[1]: {sshd}")).is_none(),
            "{p}"
        );
    }
    for p in ["", "cron", "sshd2", "auth.info"] {
        assert!(!super::is_known_program(p), "{p}");
    }
}

/// Lines made of the pieces the recognisers split on, with multi-byte characters
/// between them: none may panic, whatever program they claim to be from (no unwrap on
/// input, no slicing inside a character).
#[test]
fn pieces_in_any_order_never_panic() {
    const PIECES: &[&str] = &[
        "[",
        "]",
        "] ",
        "[ID ",
        "12345.678",
        " auth.info",
        "sshd[",
        "sshd:",
        "su(pam_unix)",
        " from ",
        " port ",
        "22",
        " ssh2",
        ": ",
        "RSA-CERT ",
        " ID ",
        " CA ",
        "client user \"",
        "\", client host \"",
        "\"",
        " ruser ",
        " via ",
        "é",
        "✓",
        " ",
        "  ",
        "Failed ",
        "password",
        " for ",
        "invalid user ",
        "Accepted ",
        "Invalid user ",
        "User ",
        " not allowed because ",
        "Disconnecting: ",
        "Too many authentication failures",
        "Received disconnect from ",
        ":14: ",
        "BAD SU ",
        " to ",
        " on ",
        "pam_unix(su:auth): ",
        "authentication failure;",
        " logname=",
        " ruser=",
        " user=",
        " rhost=",
        " uid=",
        "192.0.2.1",
        "2001:db8::1",
        "message repeated 3 times: [ ",
        "0x1a",
        " Default ",
        "2024-11-22",
        "10:00:00.1+0100",
        ".123",
        "<4.6>",
        "type=",
        "audit: ",
        "SYSCALL ",
        "PATH ",
        "CWD ",
        "msg=audit(",
        "1.5:9",
        "): ",
        "name=",
        "key=",
        "6B6579",
        "\x01",
        "\x1d",
        "AUID=",
        "node=",
    ];
    const PROGRAMS: &[&str] = &[
        "", "sshd", "su", "sudo", "login", "kernel", "web1", "x(pam_y)",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for _ in 0..20_000 {
        let mut line = String::new();
        for _ in 0..next(14) {
            line.push_str(PIECES[next(PIECES.len())]);
        }
        let program = PROGRAMS[next(PROGRAMS.len())];
        let _ = recognise(program, Some(1), &line);
        let _ = super::watch::recognise(&line);
    }
}
