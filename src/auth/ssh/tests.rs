//! Fixtures for the sshd recognisers, written from OpenSSH's log formats.

use super::super::{recognise, AuthEvent, Link, Outcome};
use std::net::IpAddr;

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

fn ssh(msg: &str) -> AuthEvent<'_> {
    recognise("sshd", Some(42), msg).unwrap_or_else(|| panic!("not recognised: {msg}"))
}

#[test]
fn accepted_forms() {
    for (line, method) in [
        (
            "Accepted password for bob from 192.0.2.1 port 5022 ssh2",
            "password",
        ),
        (
            "Accepted publickey for bob from 192.0.2.1 port 5022 ssh2: ED25519 SHA256:AbCd+/x",
            "publickey",
        ),
        (
            "Accepted keyboard-interactive/pam for bob from 192.0.2.1 port 5022 ssh2",
            "keyboard-interactive",
        ),
    ] {
        let ev = ssh(line);
        assert_eq!(ev.action, "ssh_login");
        assert_eq!(ev.outcome, Outcome::Success);
        assert_eq!(ev.method, Some(method));
        assert_eq!(ev.user_name(), Some("bob"));
        assert_eq!(ev.source_ip, ip("192.0.2.1"));
        assert_eq!(ev.source_port, Some(5022));
        assert_eq!(ev.attempts, 0);
        assert_eq!(ev.link, Link::Succeeded);
        assert_eq!(ev.pid, Some(42));
        assert_eq!(ev.category.ecs(), &["authentication", "session"]);
    }
    let ev = recognise(
        "sshd-session",
        None,
        "Accepted publickey for alice from 2001:db8::7 port 40000 ssh2: RSA SHA256:q",
    )
    .unwrap();
    assert_eq!(ev.source_ip, ip("2001:db8::7"));
}

#[test]
fn failed_forms() {
    let ev = ssh("Failed password for root from 198.51.100.9 port 41234 ssh2");
    assert_eq!(
        (ev.action, ev.outcome, ev.attempts, ev.link),
        ("ssh_login", Outcome::Failure, 1, Link::Failed)
    );
    assert_eq!(ev.user_name(), Some("root"));
    assert_eq!(ev.reason, None);
    let ev = ssh("Failed password for invalid user admin from 2001:db8::1 port 22 ssh2");
    assert_eq!(ev.user_name(), Some("admin"));
    assert_eq!(ev.reason, Some("invalid user"));
    assert_eq!(ev.source_ip, ip("2001:db8::1"));
    let ev = ssh(
        "Failed keyboard-interactive/pam for invalid user x from 10.0.0.1 port 1 ssh2 [preauth]",
    );
    assert_eq!((ev.method, ev.attempts), (Some("keyboard-interactive"), 1));
    // Method probes and key offers are recognised but are not guesses.
    assert_eq!(
        ssh("Failed none for invalid user x from 10.0.0.1 port 1 ssh2").attempts,
        0
    );
    assert_eq!(
        ssh("Failed publickey for bob from 10.0.0.1 port 1 ssh2: RSA SHA256:zz").attempts,
        0
    );
    let ev =
        ssh("message repeated 4 times: [ Failed password for root from 10.0.0.2 port 22 ssh2]");
    assert_eq!((ev.attempts, ev.source_ip), (4, ip("10.0.0.2")));
}

#[test]
fn username_injection_never_becomes_the_source() {
    let ev =
        ssh("Failed password for invalid user x from 1.2.3.4 port 22 from 5.6.7.8 port 1 ssh2");
    assert_eq!(ev.source_ip, ip("5.6.7.8"));
    assert_eq!(ev.user_name(), Some("x from 1.2.3.4 port 22"));
    let ev = ssh("Failed password for x from 1.2.3.4 port 22 ssh2 from 5.6.7.8 port 9 ssh2");
    assert_eq!(ev.source_ip, ip("5.6.7.8"));
    let ev = ssh("Invalid user y from 6.6.6.6 port 7 from 10.1.1.1 port 8");
    assert_eq!((ev.source_ip, ev.source_port), (ip("10.1.1.1"), Some(8)));
    let ev = ssh("Connection closed by invalid user z 6.6.6.6 port 1 10.2.2.2 port 2 [preauth]");
    assert_eq!(ev.source_ip, ip("10.2.2.2"));
    assert_eq!(ev.user_name(), Some("z 6.6.6.6 port 1"));
    let ev =
        ssh("Disconnected from authenticating user a 6.6.6.6 port 1 10.3.3.3 port 3 [preauth]");
    assert_eq!(ev.source_ip, ip("10.3.3.3"));
    let ev = ssh("User u from 6.6.6.6 from 10.4.4.4 not allowed because not listed in AllowUsers");
    assert_eq!(ev.source_ip, ip("10.4.4.4"));
    let ev = ssh("error: maximum authentication attempts exceeded for invalid user m from 6.6.6.6 port 1 ssh2 from 10.5.5.5 port 5 ssh2 [preauth]");
    assert_eq!(ev.source_ip, ip("10.5.5.5"));
    // A trailing fake with garbage after it does not parse as the tail.
    assert!(recognise(
        "sshd",
        None,
        "Failed password for x from 1.2.3.4 port 22 ssh2 junk"
    )
    .is_none());
}

#[test]
fn invalid_and_not_allowed() {
    let ev = ssh("Invalid user support from 190.50.238.98 port 32836");
    assert_eq!(
        (ev.action, ev.attempts, ev.link),
        ("ssh_invalid_user", 1, Link::Opens)
    );
    assert_eq!(ev.user_name(), Some("support"));
    let ev = ssh("Invalid user inexu from 2001:db8::a11:beef:7ac0%abcdefgh1234567");
    assert_eq!(ev.source_ip, ip("2001:db8::a11:beef:7ac0"));
    let ev = ssh("Invalid user  from 192.0.2.4 port 4");
    assert_eq!((ev.user_name(), ev.source_ip), (None, ip("192.0.2.4")));
    let ev = ssh(
        "User mario from 2001:db8::a11:beef:7ac0%lo not allowed because not listed in AllowUsers",
    );
    assert_eq!(ev.action, "ssh_user_not_allowed");
    assert_eq!(ev.user_name(), Some("mario"));
    let ev = ssh("User root not allowed because account is locked");
    assert_eq!((ev.reason, ev.source_ip), (Some("account locked"), None));
    let ev = ssh("ROOT LOGIN REFUSED FROM 1.2.3.4 port 14423 [preauth]");
    assert_eq!(
        (ev.user_name(), ev.source_ip),
        (Some("root"), ip("1.2.3.4"))
    );
}

#[test]
fn closes_and_disconnects() {
    let ev = ssh("Connection closed by authenticating user root 192.168.7.7 port 42728 [preauth]");
    assert_eq!(
        (ev.action, ev.outcome, ev.attempts, ev.link),
        ("ssh_auth_abandoned", Outcome::Failure, 0, Link::Closes)
    );
    assert_eq!(ev.user_name(), Some("root"));
    let ev = ssh("Connection reset by invalid user username 1.2.3.4 port 55895 [preauth]");
    assert_eq!(ev.reason, Some("invalid user"));
    let ev = ssh("Disconnected from invalid user support 1.2.3.4 port 56636 [preauth]");
    assert_eq!(
        (ev.action, ev.source_port),
        ("ssh_auth_abandoned", Some(56636))
    );
    let ev = ssh("Disconnecting invalid user user 10.42.42.42 port 38987: Change of username or service not allowed: (user,ssh-connection) -> (manager,ssh-connection) [preauth]");
    assert_eq!(
        (ev.source_ip, ev.user_name()),
        (ip("10.42.42.42"), Some("user"))
    );
    let ev = ssh("Disconnecting authenticating user root 10.9.9.9 port 4: Too many authentication failures [preauth]");
    assert_eq!(ev.action, "ssh_max_auth_attempts");
    let ev = ssh("error: maximum authentication attempts exceeded for root from 117.81.26.226 port 4919 ssh2 [preauth]");
    assert_eq!(
        (ev.action, ev.attempts, ev.link),
        ("ssh_max_auth_attempts", 0, Link::Closes)
    );
    // Plain disconnects are connection events, not failures.
    let ev = ssh("Connection closed by 66.240.236.119 port 4 [preauth]");
    assert_eq!(
        (ev.action, ev.outcome),
        ("ssh_disconnect", Outcome::Unknown)
    );
    let ev = ssh("Disconnected from 1.2.3.4 port 30761 [preauth]");
    assert_eq!(ev.action, "ssh_disconnect");
    let ev = ssh("Disconnected from user bob 1.2.3.4 port 60058");
    assert_eq!(
        (ev.action, ev.outcome, ev.user_name()),
        ("ssh_disconnect", Outcome::Success, Some("bob"))
    );
    let ev = ssh("Received disconnect from 1.2.3.4 port 60058:11: disconnected by user");
    assert_eq!((ev.action, ev.source_port), ("ssh_disconnect", Some(60058)));
    // Client text never makes a failure.
    let ev = ssh("error: Received disconnect from 2001:db8::a11:beef:7ac0: 3: com.jcraft.jsch.JSchException: Auth fail [preauth]");
    assert_eq!(
        (ev.action, ev.outcome, ev.link),
        ("ssh_disconnect", Outcome::Unknown, Link::None)
    );
    assert_eq!(ev.source_ip, ip("2001:db8::a11:beef:7ac0"));
}

#[test]
fn pam_lines_from_sshd() {
    let ev = ssh("error: PAM: Authentication failure for illegal user plop from 10.11.12.13");
    assert_eq!(
        (ev.action, ev.attempts, ev.link),
        ("ssh_pam_failure", 1, Link::PamError)
    );
    assert_eq!(ev.user_name(), Some("plop"));
    let ev = ssh("error: PAM: User not known to the underlying authentication module for illegal user mario from 6.6.6.6");
    assert_eq!(ev.source_ip, ip("6.6.6.6"));
    let ev = ssh("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=5.33.63.160  user=workshop");
    assert_eq!((ev.action, ev.attempts), ("pam_auth_failure", 0));
    assert_eq!(ev.user_name(), Some("workshop"));
    let ev = ssh("PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root");
    assert_eq!(
        (ev.action, ev.attempts, ev.source_ip),
        ("pam_auth_failure", 0, ip("1.2.3.4"))
    );
    assert!(recognise("sshd", None, "PAM: password changed for bob from 1.2.3.4").is_none());
}

#[test]
fn preauth_noise() {
    for line in [
        "Did not receive identification string from 5.20.95.202 port 56452",
        "Bad protocol version identification 'GET / HTTP/1.1' from 5.20.95.202 port 4",
        "banner exchange: Connection from 5.20.95.202 port 65403: invalid format",
        "Unable to negotiate with 5.20.95.202 port 45626: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]",
        "fatal: Timeout before authentication for 5.20.95.202 port 47056",
        "ssh_dispatch_run_fatal: Connection from 5.20.95.202 port 48680: message authentication code incorrect [preauth]",
        "refused connect from example.com (5.20.95.202)",
        "drop connection #0 from [5.20.95.202]:48602 on [10.0.0.1]:22 penalty: exceeded LoginGraceTime",
        "Magic value check failed (4289475479) on obfuscated handshake from 5.20.95.202 port 62730",
    ] {
        let ev = ssh(line);
        assert_eq!(ev.action, "ssh_connection_failed", "{line}");
        assert_eq!(ev.source_ip, ip("5.20.95.202"), "{line}");
        assert_eq!(ev.attempts, 0);
    }
    // The offer is client text: an address in it is not the source.
    let ev = ssh("Unable to negotiate with 10.0.0.9 port 1: no matching MAC found. Their offer: from 6.6.6.6 port 2");
    assert_eq!(ev.source_ip, ip("10.0.0.9"));
}

#[test]
fn lookalikes_are_not_recognised() {
    for line in [
        "Close session: user ansible from 192.168.1.1 port 34928 id 0",
        "Starting session: shell on pts/0 for bob from 1.2.3.4 port 22 id 0",
        "Connection from 1.2.3.4 port 22 on 10.0.0.1 port 22 rdomain \"\"",
        "Postponed keyboard-interactive for bob from 1.2.3.4 port 2 ssh2 [preauth]",
        "Failed to load host key",
        "Failed password for root from nowhere!! port 22 ssh2",
        "Invalid user bob",
        "Disconnected from totobad user ftp 92.255.85.135 port 26138 [preauth]",
        "error: kex_exchange_identification: banner line too long",
        "Server listening on 0.0.0.0 port 22.",
        "User child is on pid 1234",
    ] {
        assert!(recognise("sshd", None, line).is_none(), "{line}");
    }
    // Not sshd: the same text from another program is not an SSH event.
    assert!(recognise(
        "cron",
        None,
        "Failed password for root from 1.2.3.4 port 22 ssh2"
    )
    .is_none());
}

#[test]
fn unknown_program_tries_sshd() {
    let ev = recognise("", None, "Invalid user admin from 192.168.2.1").unwrap();
    assert_eq!(ev.action, "ssh_invalid_user");
    assert_eq!(ev.pid, None);
}

/// OpenSSH's `auth_log()` over the versions: ssh1 and pre-6.x lines carry no `sshN`
/// (`"%s %s for %s%.100s from %.200s port %d%s"` with an empty or ` ruser %s` info),
/// 6.x+ lines end in `ssh2[: <auth_method_info>]`; some ports of sshd log no port.
#[test]
fn failed_without_trailer() {
    let ev = ssh("Failed password for root from 192.0.2.7 port 1022");
    assert_eq!(
        (ev.user_name(), ev.source_ip, ev.source_port),
        (Some("root"), ip("192.0.2.7"), Some(1022))
    );
    assert_eq!(
        (ev.outcome, ev.attempts, ev.link),
        (Outcome::Failure, 1, Link::Failed)
    );
    let ev = ssh("Failed password for invalid user oracle from 2001:db8::9");
    assert_eq!(
        (ev.user_name(), ev.source_ip, ev.source_port, ev.reason),
        (
            Some("oracle"),
            ip("2001:db8::9"),
            None,
            Some("invalid user")
        )
    );
    let ev = ssh("Accepted password for bob from 192.0.2.7 port 1022");
    assert_eq!(
        (ev.outcome, ev.user_name()),
        (Outcome::Success, Some("bob"))
    );
    // ssh1 rhosts: the client's user name after the port.
    let ev = ssh("Failed rhosts-rsa for bob from 192.0.2.8 port 1022 ruser alice");
    assert_eq!(
        (ev.user_name(), ev.source_ip, ev.attempts),
        (Some("bob"), ip("192.0.2.8"), 1)
    );
    let ev = ssh("Accepted rhosts-rsa for bob from 192.0.2.8 port 1022 ssh1: ruser alice");
    assert_eq!(
        (ev.user_name(), ev.source_ip),
        (Some("bob"), ip("192.0.2.8"))
    );
    let ev = ssh("message repeated 3 times: [ Failed password for root from 192.0.2.7 port 1022]");
    assert_eq!((ev.attempts, ev.source_ip), (3, ip("192.0.2.7")));
    let ev = ssh("message repeated 2 times: [ Failed password for root from 192.0.2.7]");
    assert_eq!(ev.attempts, 2);
}

/// `auth_method_info` that is not a bare key fingerprint: hostbased's client user and
/// host (`pubkey_auth_info(..., "client user \"%.100s\", client host \"%.100s\"")`)
/// and certificates (`TYPE-CERT FP ID <key id> (serial N) CA TYPE FP`).
#[test]
fn auth_info_forms() {
    let ev = ssh("Failed hostbased for bob from 192.0.2.9 port 40000 ssh2: RSA SHA256:Xy0, client user \"bob\", client host \"ws1.example.org\"");
    assert_eq!(
        (ev.user_name(), ev.source_ip, ev.source_port, ev.method),
        (Some("bob"), ip("192.0.2.9"), Some(40000), Some("hostbased"))
    );
    // A host key offered for a user is not a guessed secret.
    assert_eq!((ev.outcome, ev.attempts), (Outcome::Failure, 0));
    let ev = ssh("Accepted hostbased for bob from 192.0.2.9 port 40000 ssh2: client user \"bob\", client host \"ws1\"");
    assert_eq!(
        (ev.outcome, ev.source_ip),
        (Outcome::Success, ip("192.0.2.9"))
    );
    let ev = ssh("Accepted publickey for deploy from 192.0.2.10 port 50000 ssh2: ED25519-CERT SHA256:AbC ID deploy@ci (serial 42) CA ED25519 SHA256:DeF");
    assert_eq!(
        (ev.user_name(), ev.source_ip, ev.method),
        (Some("deploy"), ip("192.0.2.10"), Some("publickey"))
    );
    let ev = ssh("message repeated 2 times: [ Failed hostbased for bob from 192.0.2.9 port 40000 ssh2: RSA SHA256:Xy0, client user \"bob\", client host \"ws1\"]");
    assert_eq!((ev.attempts, ev.source_ip), (0, ip("192.0.2.9")));
}

/// Client text on both sides of the server's address: the user before it, a key id or
/// a client host after it. An address inside the auth-info is never the source.
#[test]
fn auth_info_injection_never_becomes_the_source() {
    // A fake tail in the client user that is not a complete line: one reading.
    let ev = ssh("Failed hostbased for root from 10.0.0.3 port 22 ssh2: RSA SHA256:aa, client user \"x from 6.6.6.6 port 1 ssh2\", client host \"h\"");
    assert_eq!(
        (ev.source_ip, ev.user_name()),
        (ip("10.0.0.3"), Some("root"))
    );
    // A complete fake line in the client host: two readings, so no source and no user.
    let ev = ssh("Failed hostbased for root from 10.0.0.2 port 22 ssh2: RSA SHA256:aa, client user \"u\", client host \"h from 6.6.6.6 port 1 ssh2: RSA SHA256:bb, client user \"a\", client host \"b\"");
    assert_eq!(
        (ev.source_ip, ev.source_domain.as_deref(), ev.user_name()),
        (None, None, None)
    );
    assert_eq!(
        (ev.outcome, ev.reason),
        (Outcome::Failure, Some("ambiguous source"))
    );
    // The same through a certificate's key id.
    let ev = ssh("Failed publickey for x from 10.0.0.1 port 22 ssh2: RSA-CERT SHA256:aa ID k (serial 1) CA RSA SHA256:q from 6.6.6.6 port 1 ssh2: RSA-CERT SHA256:bb ID j (serial 2) CA RSA SHA256:cc");
    assert_eq!((ev.source_ip, ev.user_name()), (None, None));
    // ... and through ssh1's ruser.
    let ev = ssh(
        "Failed rhosts-rsa for bob from 10.0.0.4 port 1022 ruser e from 6.6.6.6 port 2 ruser x",
    );
    assert_eq!(ev.source_ip, None);
    // Both readings agree: no harm in either.
    let ev = ssh("Failed hostbased for r from 10.0.0.7 port 22 ssh2: RSA SHA256:a, client user \"u\", client host \"h from 10.0.0.7 port 22 ssh2: RSA SHA256:b, client user \"a\", client host \"b\"");
    assert_eq!(ev.source_ip, ip("10.0.0.7"));
    // A fingerprint is fixed tokens: the rightmost tail is the only reading, whatever
    // the user holds.
    let ev = ssh("Failed publickey for a from 6.6.6.6 port 1 ssh2: RSA SHA256:x from 10.0.0.5 port 22 ssh2: RSA SHA256:y");
    assert_eq!(ev.source_ip, ip("10.0.0.5"));
    assert_eq!(
        ev.user_name(),
        Some("a from 6.6.6.6 port 1 ssh2: RSA SHA256:x")
    );
    // Without a trailer the host is the last token.
    let ev = ssh("Failed password for x from 6.6.6.6 from 10.0.0.6");
    assert_eq!(
        (ev.source_ip, ev.user_name()),
        (ip("10.0.0.6"), Some("x from 6.6.6.6"))
    );
    let ev = ssh("Failed password for x from 6.6.6.6 port 1 from 10.0.0.6 port 2");
    assert_eq!(ev.source_ip, ip("10.0.0.6"));
}

/// The reason code is the client's claim: named in `event.reason`, never an attempt.
#[test]
fn received_disconnect_codes() {
    for (line, reason, port) in [
        (
            "Received disconnect from 198.51.100.20 port 50022:11: disconnected by user",
            "by application",
            Some(50022),
        ),
        (
            "Received disconnect from 198.51.100.20 port 50022:14: No supported authentication methods available [preauth]",
            "no more auth methods available",
            Some(50022),
        ),
        (
            "error: Received disconnect from 198.51.100.20: 14: No more authentication methods available [preauth]",
            "no more auth methods available",
            None,
        ),
        (
            "Received disconnect from 198.51.100.20: 3: Auth fail [preauth]",
            "key exchange failed",
            None,
        ),
        (
            "Received disconnect from 198.51.100.20 port 50022:13: User canceled [preauth]",
            "auth cancelled by user",
            Some(50022),
        ),
        (
            "Received disconnect from 198.51.100.20 port 50022:2: Packet corrupt [preauth]",
            "protocol error",
            Some(50022),
        ),
        (
            "message repeated 5 times: [ Received disconnect from 198.51.100.20 port 50022:14: No supported authentication methods available [preauth]]",
            "no more auth methods available",
            Some(50022),
        ),
    ] {
        let ev = ssh(line);
        assert_eq!(
            (ev.action, ev.outcome, ev.attempts, ev.link),
            ("ssh_disconnect", Outcome::Unknown, 0, Link::None),
            "{line}"
        );
        assert_eq!((ev.reason, ev.source_port), (Some(reason), port), "{line}");
        assert_eq!(ev.source_ip, ip("198.51.100.20"), "{line}");
    }
    // An unknown code names no reason; an address in the client's text is not the source.
    let ev = ssh("Received disconnect from 2001:db8::20 port 1:99: from 6.6.6.6 port 2");
    assert_eq!((ev.reason, ev.source_ip), (None, ip("2001:db8::20")));
}

/// OpenSSH before 7.x: `packet_disconnect()` logged `Disconnecting: <reason>`, with
/// the user on 6.x's too-many-failures line; the address comes from the connection.
#[test]
fn disconnecting_colon_forms() {
    let ev = ssh("Disconnecting: Too many authentication failures [preauth]");
    assert_eq!(
        (
            ev.action,
            ev.outcome,
            ev.attempts,
            ev.user_name(),
            ev.source_ip
        ),
        ("ssh_max_auth_attempts", Outcome::Failure, 0, None, None)
    );
    let ev =
        ssh("Disconnecting: Too many authentication failures for invalid user admin [preauth]");
    assert_eq!(ev.user_name(), Some("admin"));
    let ev = ssh("message repeated 2 times: [ Disconnecting: Too many authentication failures for root [preauth]]");
    assert_eq!((ev.user_name(), ev.attempts), (Some("root"), 0));
    assert!(recognise(
        "sshd",
        None,
        "Disconnecting: Too many authentication failuresXYZ"
    )
    .is_none());
    assert!(recognise(
        "sshd",
        None,
        "Disconnecting: Corrupted MAC on input. [preauth]"
    )
    .is_none());
}
