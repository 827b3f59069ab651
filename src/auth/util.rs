//! Small parsing helpers shared by the recognisers.

use std::net::IpAddr;

/// Substring search for short needles: memchr on the first byte, then compare.
/// Cheaper than `str::find(&str)`, which builds a two-way searcher per call.
pub(crate) fn find(h: &str, n: &str) -> Option<usize> {
    let (hb, nb) = (h.as_bytes(), n.as_bytes());
    let first = *nb.first()?;
    memchr::memchr_iter(first, hb).find(|&i| hb[i..].starts_with(nb))
}

/// Start offsets of `n` in `h`, rightmost first.
pub(crate) fn rfind_iter<'h>(h: &'h str, n: &'h str) -> impl Iterator<Item = usize> + 'h {
    let (hb, nb) = (h.as_bytes(), n.as_bytes());
    let first = nb.first().copied().unwrap_or(0);
    memchr::memrchr_iter(first, hb).filter(move |&i| !nb.is_empty() && hb[i..].starts_with(nb))
}

/// `str::split_once` with [`find`].
pub(crate) fn split2<'h>(h: &'h str, n: &str) -> Option<(&'h str, &'h str)> {
    let i = find(h, n)?;
    Some((&h[..i], &h[i + n.len()..]))
}

/// `str::rsplit_once` with [`rfind_iter`].
pub(crate) fn rsplit2<'h>(h: &'h str, n: &str) -> Option<(&'h str, &'h str)> {
    let i = rfind_iter(h, n).next()?;
    Some((&h[..i], &h[i + n.len()..]))
}

/// Parses an address token: strips `[...]`, a `%zone` suffix, and maps IPv4-mapped
/// IPv6 (`::ffff:1.2.3.4`) to IPv4 so one host has one key.
pub(crate) fn parse_ip(tok: &str) -> Option<IpAddr> {
    let tok = tok
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(tok);
    let tok = split_at_byte(tok, b'%').map_or(tok, |(a, _)| a);
    // Cheap pre-check: every address starts with a hex digit or ':'.
    let first = *tok.as_bytes().first()?;
    if !(first.is_ascii_hexdigit() || first == b':') {
        return None;
    }
    if let Some(v4) = parse_ipv4(tok) {
        return Some(IpAddr::V4(v4));
    }
    tok.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// A dotted quad exactly as `Ipv4Addr::from_str` takes it (four decimal octets, no
/// leading zeros), in one pass; anything else is `None` and goes to the full parser.
fn parse_ipv4(tok: &str) -> Option<std::net::Ipv4Addr> {
    let b = tok.as_bytes();
    if b.len() < 7 || b.len() > 15 {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (n, octet) in octets.iter_mut().enumerate() {
        if n > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut v: u32 = 0;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            v = v * 10 + u32::from(d - b'0');
            i += 1;
            if i - start > 3 {
                return None;
            }
        }
        let len = i - start;
        if len == 0 || v > 255 || (len > 1 && b[start] == b'0') {
            return None;
        }
        *octet = v as u8;
    }
    (i == b.len()).then(|| std::net::Ipv4Addr::from(octets))
}

/// A plausible DNS host name (what sshd logs with `UseDNS yes`).
pub(crate) fn is_hostname(tok: &str) -> bool {
    !tok.is_empty()
        && tok.len() <= 253
        && tok
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
        && tok.bytes().any(|b| b.is_ascii_alphabetic())
}

pub(crate) fn parse_port(tok: &str) -> Option<u16> {
    if tok.is_empty() || tok.len() > 5 || !tok.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    tok.parse().ok()
}

pub(crate) fn parse_u32(tok: &str) -> Option<u32> {
    if tok.is_empty() || tok.len() > 10 || !tok.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    tok.parse().ok()
}

/// rsyslog's `message repeated N times: [ inner ]` → `(inner, N)`; anything else →
/// `(msg, 1)`.
pub(crate) fn split_repeated(msg: &str) -> (&str, u32) {
    let Some(rest) = msg.strip_prefix("message repeated ") else {
        return (msg, 1);
    };
    let Some((n, rest)) = rest.split_once(' ') else {
        return (msg, 1);
    };
    let (Some(n), Some(rest)) = (parse_u32(n), rest.strip_prefix("times: [")) else {
        return (msg, 1);
    };
    let inner = rest.trim_end();
    let inner = inner.strip_suffix(']').unwrap_or(inner);
    (inner.trim(), n.max(1))
}

/// Drops a trailing ` [preauth]` (and surrounding blanks).
pub(crate) fn strip_preauth(s: &str) -> (&str, bool) {
    let t = s.trim_end();
    match t.strip_suffix("[preauth]") {
        Some(t) => (t.trim_end(), true),
        None => (t, false),
    }
}

/// The host token at the start of `s` (up to a blank, or the end), and the rest.
pub(crate) fn first_token(s: &str) -> (&str, &str) {
    split_at_byte(s, b' ').unwrap_or((s, ""))
}

/// `s.split_once(c)` for an ASCII byte, by a plain scan: the tokens of log lines are
/// short, where `str::find`'s searcher costs more to set up than it saves.
pub(crate) fn split_at_byte(s: &str, c: u8) -> Option<(&str, &str)> {
    debug_assert!(c.is_ascii());
    let i = s.bytes().position(|b| b == c)?;
    // An ASCII byte is never inside a multi-byte character: both are boundaries.
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// Parses `<host> port <n>` or `<host>` exactly (the whole of `s`).
pub(crate) fn host_port_exact(s: &str) -> Option<(&str, Option<u16>)> {
    match split2(s, " port ") {
        Some((host, port)) => {
            if host.contains(' ') {
                return None;
            }
            Some((host, Some(parse_port(port)?)))
        }
        None => {
            if s.is_empty() || s.contains(' ') {
                None
            } else {
                Some((s, None))
            }
        }
    }
}

/// What follows `sshN: ` (OpenSSH's `authctxt->auth_method_info`, or the `ruser` of
/// old rhosts logins), by whether it can hold client-chosen text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Info {
    /// Server-formatted tokens without blanks (`TYPE FINGERPRINT`): a ` from ` in it
    /// cannot be, so the rightmost well-formed tail is the only one.
    Fixed,
    /// Holds text the client (or a certificate it presents) chose: a certificate's key
    /// id (`TYPE-CERT FP ID <key id> (serial N) CA TYPE FP`), hostbased's
    /// `client user "<cuser>", client host "<chost>"`, `ruser <name>`. Such text may
    /// itself look like a tail, so every candidate is checked (see [`split_login`]).
    Free,
}

fn classify_info(info: &str) -> Option<Info> {
    if let Some(r) = info.strip_prefix("ruser ") {
        return (!r.is_empty()).then_some(Info::Free);
    }
    let hostbased = |s: &str| {
        s.strip_prefix("client user \"")
            .and_then(|s| s.strip_suffix('"'))
            .is_some_and(|s| s.contains("\", client host \""))
    };
    if hostbased(info) {
        return Some(Info::Free);
    }
    let (kind, rest) = first_token(info);
    if kind.is_empty() {
        return None;
    }
    if kind.ends_with("-CERT") || kind.ends_with("-cert") {
        return (rest.contains(" ID ") || rest.contains(" CA ")).then_some(Info::Free);
    }
    let (fp, extra) = first_token(rest);
    if fp.is_empty() {
        return None;
    }
    if extra.is_empty() {
        return Some(Info::Fixed);
    }
    // `TYPE FP, client user "...", client host "..."` (hostbased with the key).
    (fp.ends_with(',') && hostbased(extra)).then_some(Info::Free)
}

/// A well-formed tail after ` from `: `<host>[ port <n>]` and, when `proto` is set (the
/// `Accepted`/`Failed` lines), optionally ` ssh1|ssh2[: <info>]` or the ssh1 form
/// ` ruser <name>`; old and ssh1 lines carry no `sshN`, some no port. Returns the host,
/// the port and the kind of info after it, if any.
fn parse_from_tail(tail: &str, proto: bool) -> Option<(&str, Option<u16>, Option<Info>)> {
    let (host, rest) = first_token(tail);
    if host.is_empty() {
        return None;
    }
    let (port, rest) = match rest.strip_prefix("port ") {
        Some(r) => {
            let (p, r) = first_token(r);
            (Some(parse_port(p)?), r)
        }
        None => (None, rest),
    };
    let info = if !proto || rest.is_empty() {
        None
    } else if let Some(r) = rest
        .strip_prefix("ssh2")
        .or_else(|| rest.strip_prefix("ssh1"))
    {
        if r.is_empty() {
            None
        } else {
            Some(classify_info(r.strip_prefix(": ")?)?)
        }
    } else if rest.starts_with("ruser ") && port.is_some() {
        Some(classify_info(rest)?)
    } else {
        return None;
    };
    if !proto && !rest.is_empty() {
        return None;
    }
    if parse_ip(host).is_none() && !is_hostname(host) {
        return None;
    }
    Some((host, port, info))
}

/// Splits `<user> from <host>[ port <n>]` at the *rightmost* ` from ` whose tail is
/// well-formed: client-chosen text (the user) comes first, so an address injected into
/// a username is never taken as the source.
pub(crate) fn split_user_from(rest: &str) -> Option<(&str, &str, Option<u16>)> {
    for i in rfind_iter(rest, " from ") {
        if let Some((host, port, _)) = parse_from_tail(&rest[i + 6..], false) {
            return Some((&rest[..i], host, port));
        }
    }
    // An empty user: "Invalid user  from 1.2.3.4" leaves "from ..." at the start.
    let (host, port, _) = parse_from_tail(rest.strip_prefix("from ")?, false)?;
    Some(("", host, port))
}

/// The user and source of an `Accepted`/`Failed` line's `<user> from <tail>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginTail<'a> {
    /// One reading: user, host, port.
    One(&'a str, &'a str, Option<u16>),
    /// Client-chosen text on both sides of the server's ` from <host> port <n> sshN: `
    /// (the user before it, a certificate's key id or hostbased's client user and host
    /// after it) can be made to read as two well-formed lines with two different
    /// sources. The server's own address cannot be told from the forged one, so the
    /// line gives neither source nor user; the connection's other lines may.
    Ambiguous,
}

/// Like [`split_user_from`] for `Accepted`/`Failed` lines, whose tail may end in
/// auth-info. When the rightmost well-formed tail's info is fixed tokens (a key
/// fingerprint) or absent, it is the only reading: no other ` from ` can be followed by
/// a complete tail that takes in this one. When it holds client text, every other
/// candidate is checked too, and two readings with different hosts are
/// [`LoginTail::Ambiguous`].
pub(crate) fn split_login(rest: &str) -> Option<LoginTail<'_>> {
    let mut found: Option<(&str, &str, Option<u16>)> = None;
    for i in rfind_iter(rest, " from ") {
        let Some((host, port, info)) = parse_from_tail(&rest[i + 6..], true) else {
            continue;
        };
        match found {
            None => {
                found = Some((&rest[..i], host, port));
                if info != Some(Info::Free) {
                    break;
                }
            }
            Some((_, h, _)) if h != host => return Some(LoginTail::Ambiguous),
            Some(_) => {}
        }
    }
    if let Some((user, host, port)) = found {
        return Some(LoginTail::One(user, host, port));
    }
    let (host, port, _) = parse_from_tail(rest.strip_prefix("from ")?, true)?;
    Some(LoginTail::One("", host, port))
}

/// Splits `<user> <host> port <n>` from the right (sshd's "authenticating user" form).
pub(crate) fn split_user_host_port(s: &str) -> Option<(&str, &str, u16)> {
    let (left, port) = rsplit2(s, " port ")?;
    let port = parse_port(port)?;
    let (user, host) = match left.rsplit_once(' ') {
        Some((u, h)) => (u, h),
        None => ("", left),
    };
    parse_ip(host)?;
    Some((user, host, port))
}

/// Decodes auditd's hex encoding of a field value (`726F6F74` → `root`).
pub(crate) fn hex_decode(s: &str) -> Option<String> {
    let mut out = hex_decode_raw(s)?;
    // auditd encodes argv-style values with NUL separators; show them as blanks.
    for c in out.iter_mut() {
        if *c == 0 {
            *c = b' ';
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The bytes of an even-length hex string, else `None`.
pub(crate) fn hex_decode_raw(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.is_empty() || !b.len().is_multiple_of(2) || !b.iter().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 2);
    for pair in b.chunks_exact(2) {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out.push((hi * 16 + lo) as u8);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_quick_ipv4_parse_agrees_with_the_standard_one() {
        let mut cases: Vec<String> = [
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.04",
            "1.2.3.0",
            "1..2.3",
            ".1.2.3",
            "1.2.3.",
            "1.2.3.4 ",
            "1.2.3.4a",
            "1234.1.1.1",
            "192.0.2.1",
            "10.0.0.255",
            "9.9.9.9",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut state: u32 = 0x9e37_79b9;
        for _ in 0..20_000 {
            let mut t = String::new();
            for _ in 0..(7 + state % 10) {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                t.push(b"0123456789...2"[(state % 14) as usize] as char);
            }
            cases.push(t);
        }
        for c in &cases {
            let std = c.parse::<std::net::Ipv4Addr>().ok();
            if let Some(quick) = parse_ipv4(c) {
                assert_eq!(Some(quick), std, "{c}");
            }
            assert_eq!(parse_ip(c), c.parse::<IpAddr>().ok(), "{c}");
        }
        assert!(parse_ipv4("203.0.113.7").is_some());
    }

    use super::*;

    #[test]
    fn ip_forms() {
        assert_eq!(parse_ip("1.2.3.4"), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(parse_ip("::ffff:1.2.3.4"), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(
            parse_ip("2001:db8::a11:beef:7ac0%eth0"),
            Some("2001:db8::a11:beef:7ac0".parse().unwrap())
        );
        assert_eq!(parse_ip("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(parse_ip("host.example"), None);
        assert_eq!(parse_ip("1.2.3.4.5"), None);
        assert_eq!(parse_ip(""), None);
    }

    #[test]
    fn repeated() {
        assert_eq!(
            split_repeated("message repeated 3 times: [ Failed password for x ]"),
            ("Failed password for x", 3)
        );
        assert_eq!(split_repeated("message repeated x times: [ a ]").1, 1);
        assert_eq!(split_repeated("Failed password").1, 1);
    }

    #[test]
    fn user_from_rightmost() {
        let one = |s| match split_login(s) {
            Some(LoginTail::One(u, h, p)) => Some((u, h, p)),
            _ => None,
        };
        assert_eq!(
            one("x from 1.2.3.4 port 22 from 5.6.7.8 port 1 ssh2"),
            Some(("x from 1.2.3.4 port 22", "5.6.7.8", Some(1)))
        );
        // Injected text that ends with a well-formed tail but is followed by more text
        // is not a tail.
        assert_eq!(
            one("a from 6.6.6.6 port 2 ssh2 b from 7.7.7.7 port 3 ssh2"),
            Some(("a from 6.6.6.6 port 2 ssh2 b", "7.7.7.7", Some(3)))
        );
        assert_eq!(
            one("bob from 1.2.3.4 port 5 ssh2: RSA SHA256:abc"),
            Some(("bob", "1.2.3.4", Some(5)))
        );
        // A key info with extra words is not server-formatted.
        assert_eq!(split_login("bob from 1.2.3.4 port 5 ssh2: a b c"), None);
        assert_eq!(split_login("bob from 1.2.3.4 port x ssh2"), None);
        // No trailer, no port (old and ssh1 lines).
        assert_eq!(
            one("bob from 1.2.3.4 port 5"),
            Some(("bob", "1.2.3.4", Some(5)))
        );
        assert_eq!(one("bob from 1.2.3.4"), Some(("bob", "1.2.3.4", None)));
        assert_eq!(split_user_from(" from 1.2.3.4").unwrap().0, "");
        assert_eq!(split_user_from("x from 1.2.3.4 ssh2"), None);
    }

    #[test]
    fn search_helpers() {
        assert_eq!(find("a for b for c", " for "), Some(1));
        assert_eq!(find("abc", " for "), None);
        assert_eq!(
            rfind_iter("a for b for c", " for ").collect::<Vec<_>>(),
            vec![7, 1]
        );
        assert_eq!(split2("x : y : z", " : "), Some(("x", "y : z")));
        assert_eq!(rsplit2("x : y : z", " : "), Some(("x : y", "z")));
        assert_eq!(rsplit2("xyz", " : "), None);
        assert_eq!(find("", "a"), None);
    }

    #[test]
    fn hex() {
        assert_eq!(hex_decode("726F6F74").as_deref(), Some("root"));
        assert_eq!(
            hex_decode("2F62696E2F6C73002D6C").as_deref(),
            Some("/bin/ls -l")
        );
        assert_eq!(hex_decode("72F"), None);
        assert_eq!(hex_decode("zz"), None);
    }
}
