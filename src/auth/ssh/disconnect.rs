//! How an SSH connection ended: closed, reset, disconnected (by either side), and what
//! that says about an authentication in progress.

use std::borrow::Cow;

use super::super::util::{
    host_port_exact, parse_ip, parse_port, split_user_host_port, strip_preauth,
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

/// `Disconnecting (authenticating|invalid) user X H port P: <reason> [preauth]` and the
/// older `Disconnecting: Too many authentication failures [for X] [preauth]`.
pub(super) fn disconnecting(rest: &str) -> Option<AuthEvent<'_>> {
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
pub(super) fn received_disconnect(s: &str) -> Option<AuthEvent<'_>> {
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
