//! Pre-authentication protocol noise: no identification string, bad banners, failed
//! negotiation, timeouts, tcp wrappers, penalties. Never an authentication attempt.

use super::super::util::{first_token, host_port_exact, parse_ip, parse_port, strip_preauth};
use super::super::{types, AuthEvent, Category, Outcome};

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
pub(super) fn noise_from_start<'a>(s: &'a str, reason: &'static str) -> Option<AuthEvent<'a>> {
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
pub(super) fn bad_version(rest: &str) -> Option<AuthEvent<'_>> {
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
pub(super) fn timeout(rest: &str) -> Option<AuthEvent<'_>> {
    let rest = rest.strip_prefix("connection from ").unwrap_or(rest);
    noise_from_start(rest, "timeout before authentication")
}

/// tcp wrappers: `refused connect from <name> (<address>)`.
pub(super) fn refused(rest: &str) -> Option<AuthEvent<'_>> {
    let inner = rest.trim_end().strip_suffix(')')?;
    let (_, addr) = inner.rsplit_once('(')?;
    let mut ev = noise("refused by tcp wrappers");
    ev.source_ip = Some(parse_ip(addr)?);
    Some(ev)
}

/// OpenSSH 9.8 `drop connection #0 from [H]:P on [L]:22 penalty: ...` / `past MaxStartups`.
pub(super) fn drop_connection(rest: &str) -> Option<AuthEvent<'_>> {
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
