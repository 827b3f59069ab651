//! OpenSSH (`sshd`, `sshd-session`) messages.

use std::borrow::Cow;

use super::util::{
    first_token, host_port_exact, parse_ip, parse_port, rsplit2, split2, split_user_from,
    split_user_host_port, strip_preauth,
};
use super::{pam, types, AuthEvent, Category, Link, Outcome};

pub(super) fn recognise(msg: &str) -> Option<AuthEvent<'_>> {
    let m = msg.trim_start();
    let m = m
        .strip_prefix("error: ")
        .or_else(|| m.strip_prefix("fatal: "))
        .unwrap_or(m);
    let (word, rest) = first_token(m);
    match word {
        "Accepted" => login(rest, true),
        "Failed" => login(rest, false),
        "Invalid" | "Illegal" => invalid_user(rest.strip_prefix("user ")?),
        "User" => not_allowed(rest),
        "Connection" => connection(rest),
        "Disconnected" => disconnected(rest.strip_prefix("from ")?),
        "Disconnecting" => disconnecting(rest),
        "Received" => received_disconnect(rest.strip_prefix("disconnect from ")?),
        "maximum" => max_attempts(rest.strip_prefix("authentication attempts exceeded for ")?),
        "PAM:" => pam_error(rest),
        "PAM" => pam::more_failures(rest),
        "ROOT" => root_refused(rest.strip_prefix("LOGIN REFUSED FROM ")?),
        "Did" => noise_from_start(
            rest.strip_prefix("not receive identification string from ")?,
            "no identification string",
        ),
        "Bad" => bad_version(rest.strip_prefix("protocol version identification ")?),
        "banner" => noise_from_start(
            rest.strip_prefix("exchange: Connection from ")?,
            "invalid banner",
        ),
        "Unable" => noise_from_start(
            rest.strip_prefix("to negotiate with ")?,
            "key exchange negotiation failed",
        ),
        "Timeout" => timeout(rest.strip_prefix("before authentication for ")?),
        "ssh_dispatch_run_fatal:" => noise_from_start(
            rest.strip_prefix("Connection from ")?,
            "protocol error before authentication",
        ),
        "refused" => refused(rest.strip_prefix("connect from ")?),
        "drop" => drop_connection(rest.strip_prefix("connection #")?),
        "Magic" => {
            let (_, r) = rest.split_once(" handshake from ")?;
            noise_from_start(r, "obfuscated handshake failed")
        }
        _ if word.starts_with("pam_") => pam::recognise(m),
        _ => None,
    }
}

fn method_of(m: &str) -> Option<&'static str> {
    Some(match m {
        "password" => "password",
        "publickey" => "publickey",
        "keyboard-interactive" | "keyboard-interactive/pam" => "keyboard-interactive",
        "hostbased" => "hostbased",
        "gssapi-with-mic" => "gssapi-with-mic",
        "gssapi-keyex" => "gssapi-keyex",
        "none" => "none",
        _ => return None,
    })
}

fn strip_invalid(user: &str) -> (&str, bool) {
    match user
        .strip_prefix("invalid user ")
        .or_else(|| user.strip_prefix("illegal user "))
    {
        Some(u) => (u, true),
        None => (user, false),
    }
}

/// `Accepted|Failed <method> for [invalid user ]<user> from <host> port <n> ssh2[: info]`
fn login(rest: &str, ok: bool) -> Option<AuthEvent<'_>> {
    let (method, rest) = split2(rest, " for ")?;
    if method.contains(' ') {
        return None;
    }
    let (rest, _) = strip_preauth(rest);
    let (user, host, port) = split_user_from(rest, true)?;
    let (user, invalid) = strip_invalid(user);
    let mut ev = if ok {
        let mut ev = AuthEvent::new("ssh_login", Category::Login, types::START, Outcome::Success);
        ev.link = Link::Succeeded;
        ev
    } else {
        let mut ev = AuthEvent::new(
            "ssh_login",
            Category::Authentication,
            types::INFO,
            Outcome::Failure,
        );
        ev.link = Link::Failed;
        // `none` is the method probe; key offers fail routinely (fail2ban's normal mode
        // does not count them either).
        ev.attempts = u32::from(!matches!(method, "none" | "publickey"));
        if invalid {
            ev.reason = Some("invalid user");
        }
        ev
    };
    ev.method = method_of(method);
    ev.user = Some(Cow::Borrowed(user));
    ev.set_host(host);
    ev.source_port = port;
    Some(ev)
}

fn invalid_user(rest: &str) -> Option<AuthEvent<'_>> {
    let (rest, _) = strip_preauth(rest);
    let (user, host, port) = split_user_from(rest, false)?;
    let mut ev = AuthEvent::new(
        "ssh_invalid_user",
        Category::Authentication,
        types::INFO,
        Outcome::Failure,
    );
    ev.reason = Some("invalid user");
    ev.user = Some(Cow::Borrowed(user));
    ev.set_host(host);
    ev.source_port = port;
    ev.attempts = 1;
    ev.link = Link::Opens;
    Some(ev)
}

/// `User <user> from <host> not allowed because <reason>` (AllowUsers, DenyUsers,
/// groups, shell) and `User <user> not allowed because account is locked`.
fn not_allowed(rest: &str) -> Option<AuthEvent<'_>> {
    let (rest, _) = strip_preauth(rest);
    let (who, why) = rsplit2(rest, " not allowed because ")?;
    let mut ev = AuthEvent::new(
        "ssh_user_not_allowed",
        Category::Authentication,
        types::INFO,
        Outcome::Failure,
    );
    ev.reason = Some(if why.starts_with("account is locked") {
        "account locked"
    } else {
        "user not allowed"
    });
    match split_user_from(who, false) {
        Some((user, host, port)) => {
            ev.user = Some(Cow::Borrowed(user));
            ev.set_host(host);
            ev.source_port = port;
        }
        None => ev.user = Some(Cow::Borrowed(who)),
    }
    ev.attempts = 1;
    ev.link = Link::Opens;
    Some(ev)
}

fn root_refused(rest: &str) -> Option<AuthEvent<'_>> {
    let (rest, _) = strip_preauth(rest);
    let (host, port) = host_port_exact(rest)?;
    let mut ev = AuthEvent::new(
        "ssh_user_not_allowed",
        Category::Authentication,
        types::INFO,
        Outcome::Failure,
    );
    ev.reason = Some("root login refused");
    ev.user = Some(Cow::Borrowed("root"));
    ev.set_host(host);
    ev.source_port = port;
    ev.attempts = 1;
    ev.link = Link::Opens;
    Some(ev)
}

/// An authenticating (`authenticating user X` / `invalid user X`) connection that went
/// away, or a plain disconnect.
fn user_form(s: &str) -> Option<(&str, bool)> {
    if let Some(r) = s.strip_prefix("authenticating user ") {
        Some((r, false))
    } else {
        s.strip_prefix("invalid user ").map(|r| (r, true))
    }
}

fn abandoned<'a>(user: &'a str, host: &'a str, port: u16, invalid: bool) -> AuthEvent<'a> {
    let mut ev = AuthEvent::new(
        "ssh_auth_abandoned",
        Category::Authentication,
        types::INFO,
        Outcome::Failure,
    );
    if invalid {
        ev.reason = Some("invalid user");
    }
    ev.user = Some(Cow::Borrowed(user));
    ev.set_host(host);
    ev.source_port = Some(port);
    ev.link = Link::Closes;
    ev
}

fn plain_disconnect(host: &str, port: Option<u16>) -> Option<AuthEvent<'_>> {
    let mut ev = AuthEvent::new(
        "ssh_disconnect",
        Category::Network,
        types::CONNECTION_END,
        Outcome::Unknown,
    );
    ev.source_ip = Some(parse_ip(host)?);
    ev.source_port = port;
    Some(ev)
}

/// `Connection closed|reset by ...`, and `Connection from ... ` (not auth) → None.
fn connection(rest: &str) -> Option<AuthEvent<'_>> {
    let s = rest
        .strip_prefix("closed by ")
        .or_else(|| rest.strip_prefix("reset by "))?;
    let (s, _) = strip_preauth(s);
    if let Some((r, invalid)) = user_form(s) {
        let (user, host, port) = split_user_host_port(r)?;
        return Some(abandoned(user, host, port, invalid));
    }
    let (host, port) = host_port_exact(s)?;
    plain_disconnect(host, port)
}

/// `Disconnected from (authenticating|invalid) user X H port P [preauth]`,
/// `Disconnected from user X H port P` (end of a session), `Disconnected from H port P`.
fn disconnected(s: &str) -> Option<AuthEvent<'_>> {
    let (s, _) = strip_preauth(s);
    if let Some((r, invalid)) = user_form(s) {
        let (user, host, port) = split_user_host_port(r)?;
        return Some(abandoned(user, host, port, invalid));
    }
    if let Some(r) = s.strip_prefix("user ") {
        let (user, host, port) = split_user_host_port(r)?;
        let mut ev = AuthEvent::new(
            "ssh_disconnect",
            Category::Session,
            types::END,
            Outcome::Success,
        );
        ev.user = Some(Cow::Borrowed(user));
        ev.set_host(host);
        ev.source_port = Some(port);
        return Some(ev);
    }
    let (host, port) = host_port_exact(s)?;
    plain_disconnect(host, port)
}

/// `Disconnecting (authenticating|invalid) user X H port P: <reason> [preauth]` and the
/// older `Disconnecting: Too many authentication failures [for X] [preauth]`.
fn disconnecting(rest: &str) -> Option<AuthEvent<'_>> {
    let (rest, _) = strip_preauth(rest);
    if let Some(r) = rest.strip_prefix(": ") {
        if r.starts_with("Too many authentication failures") {
            let mut ev = AuthEvent::new(
                "ssh_max_auth_attempts",
                Category::Authentication,
                types::INFO,
                Outcome::Failure,
            );
            ev.reason = Some("too many authentication failures");
            if let Some(u) = r.strip_prefix("Too many authentication failures for ") {
                ev.user = Some(Cow::Borrowed(strip_invalid(u).0));
            }
            return Some(ev);
        }
        return None;
    }
    let (r, invalid) = user_form(rest)?;
    // The reason is server text, but may quote client-chosen names; take the rightmost
    // `port N: <known reason>` split.
    for (i, _) in r.rmatch_indices(": ") {
        let why = &r[i + 2..];
        let reason = if why.starts_with("Too many authentication failures") {
            "too many authentication failures"
        } else if why.starts_with("Change of username or service not allowed") {
            "change of username or service"
        } else {
            continue;
        };
        if let Some((user, host, port)) = split_user_host_port(&r[..i]) {
            let mut ev = abandoned(user, host, port, invalid);
            ev.reason = Some(reason);
            if reason == "too many authentication failures" {
                ev.action = "ssh_max_auth_attempts";
            }
            return Some(ev);
        }
    }
    None
}

/// `Received disconnect from H port P:11: text [preauth]`, older
/// `Received disconnect from H: 11: text`. The text is the client's (even "Auth fail"),
/// so this is a disconnect, never a failure (sshguard agrees); the `Disconnected from
/// authenticating user` line that follows on current OpenSSH is the failure.
fn received_disconnect(s: &str) -> Option<AuthEvent<'_>> {
    let (s, _) = strip_preauth(s);
    let (host, port) = match s.split_once(" port ") {
        Some((h, r)) if !h.contains(' ') => {
            let (p, _) = r.split_once(':')?;
            (h, Some(parse_port(p)?))
        }
        _ => (s.split_once(": ")?.0, None),
    };
    plain_disconnect(host, port)
}

/// `maximum authentication attempts exceeded for [invalid user ]X from H port P ssh2`
fn max_attempts(rest: &str) -> Option<AuthEvent<'_>> {
    let (rest, _) = strip_preauth(rest);
    let (user, host, port) = split_user_from(rest, true)?;
    let (user, invalid) = strip_invalid(user);
    let mut ev = AuthEvent::new(
        "ssh_max_auth_attempts",
        Category::Authentication,
        types::INFO,
        Outcome::Failure,
    );
    ev.reason = Some(if invalid {
        "invalid user"
    } else {
        "too many authentication failures"
    });
    ev.user = Some(Cow::Borrowed(user));
    ev.set_host(host);
    ev.source_port = port;
    ev.link = Link::Closes;
    Some(ev)
}

/// sshd's own PAM error: `PAM: Authentication failure for [illegal user ]X from H`,
/// `PAM: User not known to the underlying authentication module for illegal user X
/// from H`, `PAM: Authentication error for ...`.
fn pam_error(rest: &str) -> Option<AuthEvent<'_>> {
    let (text, who) = rest.split_once(" for ")?;
    let t = text.to_ascii_lowercase();
    if !(t.contains("fail")
        || t.contains("error")
        || t.contains("unknown")
        || t.contains("not known"))
    {
        return None;
    }
    let (who, _) = strip_preauth(who);
    let (user, host, port) = split_user_from(who, false)?;
    let (user, invalid) = strip_invalid(user);
    let mut ev = AuthEvent::new(
        "ssh_pam_failure",
        Category::Authentication,
        types::INFO,
        Outcome::Failure,
    );
    ev.reason = Some(if invalid {
        "invalid user"
    } else {
        "authentication failure"
    });
    ev.user = Some(Cow::Borrowed(user));
    ev.set_host(host);
    ev.source_port = port;
    ev.attempts = 1;
    ev.link = Link::PamError;
    Some(ev)
}

fn noise<'a>(reason: &'static str) -> AuthEvent<'a> {
    let mut ev = AuthEvent::new(
        "ssh_connection_failed",
        Category::Network,
        types::CONNECTION,
        Outcome::Failure,
    );
    ev.reason = Some(reason);
    ev
}

/// Pre-auth noise whose address comes first: `<host>[ port <n>][: text]`, client text
/// (offers, banners) following it.
fn noise_from_start<'a>(s: &'a str, reason: &'static str) -> Option<AuthEvent<'a>> {
    let (s, _) = strip_preauth(s);
    let (host, rest) = first_token(s);
    let host = host.strip_suffix(':').unwrap_or(host);
    let ip = parse_ip(host)?;
    let mut ev = noise(reason);
    ev.source_ip = Some(ip);
    if let Some(r) = rest.strip_prefix("port ") {
        let p = r.split([':', ' ']).next().unwrap_or("");
        ev.source_port = parse_port(p);
    }
    Some(ev)
}

/// `Bad protocol version identification '<client text>' [from ]H port P`
fn bad_version(rest: &str) -> Option<AuthEvent<'_>> {
    let (rest, _) = strip_preauth(rest);
    let (_, tail) = rest.rsplit_once(" from ").or_else(|| {
        let (l, r) = rest.rsplit_once(' ')?;
        // `... '<text>' H` without "from" (older): host is the last token.
        Some((l, r))
    })?;
    let (host, port) = host_port_exact(tail)?;
    let mut ev = noise("bad protocol version");
    ev.source_ip = Some(parse_ip(host)?);
    ev.source_port = port;
    Some(ev)
}

/// `Timeout before authentication for H port P`, and the FreeBSD form
/// `Timeout before authentication for connection from H to L, pid = N`.
fn timeout(rest: &str) -> Option<AuthEvent<'_>> {
    let rest = rest.strip_prefix("connection from ").unwrap_or(rest);
    noise_from_start(rest, "timeout before authentication")
}

/// tcp wrappers: `refused connect from <name> (<address>)`.
fn refused(rest: &str) -> Option<AuthEvent<'_>> {
    let inner = rest.trim_end().strip_suffix(')')?;
    let (_, addr) = inner.rsplit_once('(')?;
    let mut ev = noise("refused by tcp wrappers");
    ev.source_ip = Some(parse_ip(addr)?);
    Some(ev)
}

/// OpenSSH 9.8 `drop connection #0 from [H]:P on [L]:22 penalty: ...` / `past MaxStartups`.
fn drop_connection(rest: &str) -> Option<AuthEvent<'_>> {
    let (_, r) = rest.split_once(" from [")?;
    let (host, r) = r.split_once(']')?;
    let mut ev = noise(if r.contains("penalty") {
        "penalty"
    } else {
        "connection dropped"
    });
    ev.source_ip = Some(parse_ip(host)?);
    if let Some(r) = r.strip_prefix(':') {
        ev.source_port = parse_port(r.split(' ').next().unwrap_or(""));
    }
    Some(ev)
}

#[cfg(test)]
mod tests {
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
        let ev = ssh("Failed keyboard-interactive/pam for invalid user x from 10.0.0.1 port 1 ssh2 [preauth]");
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
        let ev =
            ssh("Connection closed by invalid user z 6.6.6.6 port 1 10.2.2.2 port 2 [preauth]");
        assert_eq!(ev.source_ip, ip("10.2.2.2"));
        assert_eq!(ev.user_name(), Some("z 6.6.6.6 port 1"));
        let ev =
            ssh("Disconnected from authenticating user a 6.6.6.6 port 1 10.3.3.3 port 3 [preauth]");
        assert_eq!(ev.source_ip, ip("10.3.3.3"));
        let ev =
            ssh("User u from 6.6.6.6 from 10.4.4.4 not allowed because not listed in AllowUsers");
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
        let ev = ssh("User mario from 2001:db8::a11:beef:7ac0%lo not allowed because not listed in AllowUsers");
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
        let ev =
            ssh("Connection closed by authenticating user root 192.168.7.7 port 42728 [preauth]");
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
            "Accepted password for bob from 1.2.3.4 port 22",
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
}
