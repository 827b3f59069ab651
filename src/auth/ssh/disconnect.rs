//! How an SSH connection ended: closed, reset, disconnected (by either side), and what
//! that says about an authentication in progress.

use std::borrow::Cow;

use super::super::util::{
    host_port_exact, parse_ip, parse_port, parse_u32, split_user_host_port, strip_preauth,
};
use super::super::{types, AuthEvent, Category, Link, Outcome};
use super::strip_invalid;

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
pub(super) fn connection(rest: &str) -> Option<AuthEvent<'_>> {
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
pub(super) fn disconnected(s: &str) -> Option<AuthEvent<'_>> {
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

/// The older `Disconnecting: Too many authentication failures [for X] [preauth]`
/// (OpenSSH before 7.x: `packet_disconnect()` logged `"Disconnecting: %.100s"`): no
/// address, which the connection's earlier lines give ([`super::super::Connections`]).
/// Not an attempt of its own: the failures were each logged.
pub(super) fn disconnecting_colon(rest: &str) -> Option<AuthEvent<'_>> {
    let (r, _) = strip_preauth(rest);
    let r = r.strip_prefix("Too many authentication failures")?;
    let mut ev = AuthEvent::new(
        "ssh_max_auth_attempts",
        Category::Authentication,
        types::INFO,
        Outcome::Failure,
    );
    ev.reason = Some("too many authentication failures");
    if let Some(u) = r.strip_prefix(" for ") {
        let u = strip_invalid(u).0;
        if !u.is_empty() {
            ev.user = Some(Cow::Borrowed(u));
        }
    } else if !r.is_empty() {
        return None;
    }
    Some(ev)
}

/// `Disconnecting (authenticating|invalid) user X H port P: <reason> [preauth]`
/// (OpenSSH 7.x on).
pub(super) fn disconnecting(rest: &str) -> Option<AuthEvent<'_>> {
    let (rest, _) = strip_preauth(rest);
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

/// `Received disconnect from H port P:N: text [preauth]` (OpenSSH 7.x on: packet.c's
/// `"Received disconnect from %s port %d:%u: %.400s"`), older `Received disconnect
/// from H: N: text`. N is the SSH_MSG_DISCONNECT reason code the *client* sent (RFC
/// 4253 §11.1) and the text is the client's too: JSch sends 3 ("key exchange failed")
/// with "Auth fail", PuTTY and OpenSSH send 14 ("no more auth methods available") when
/// they give up, also when they only offered keys. So this is a disconnect with the
/// claimed reason in `event.reason`, never an attempt (sshguard agrees): the attempts
/// themselves were logged as `Failed ...`, and on current OpenSSH the `Disconnected
/// from authenticating user` line that follows closes the connection's count.
pub(super) fn received_disconnect(s: &str) -> Option<AuthEvent<'_>> {
    let (s, _) = strip_preauth(s);
    let (host, port, rest) = match s.split_once(" port ") {
        Some((h, r)) if !h.contains(' ') => {
            let (p, rest) = r.split_once(':')?;
            (h, Some(parse_port(p)?), rest)
        }
        _ => {
            let (h, rest) = s.split_once(": ")?;
            (h, None, rest)
        }
    };
    let code = rest.trim_start().split(':').next().and_then(parse_u32);
    let mut ev = plain_disconnect(host, port)?;
    ev.reason = code.and_then(disconnect_reason);
    Some(ev)
}

/// The names of RFC 4253's disconnect reason codes (OpenSSH's `ssh2.h`), as the client
/// claimed them.
fn disconnect_reason(code: u32) -> Option<&'static str> {
    Some(match code {
        1 => "host not allowed to connect",
        2 => "protocol error",
        3 => "key exchange failed",
        4 => "host authentication failed",
        5 => "mac error",
        6 => "compression error",
        7 => "service not available",
        8 => "protocol version not supported",
        9 => "host key not verifiable",
        10 => "connection lost",
        11 => "by application",
        12 => "too many connections",
        13 => "auth cancelled by user",
        14 => "no more auth methods available",
        15 => "illegal user name",
        _ => return None,
    })
}
