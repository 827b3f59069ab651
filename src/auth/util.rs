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
    let tok = match tok.find('%') {
        Some(i) => &tok[..i],
        None => tok,
    };
    // Cheap pre-check: every address starts with a hex digit or ':'.
    let first = *tok.as_bytes().first()?;
    if !(first.is_ascii_hexdigit() || first == b':') {
        return None;
    }
    tok.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
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
    match s.find(' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    }
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

/// Key info after `ssh2: ` is server-formatted: `TYPE FINGERPRINT`, or a certificate
/// description starting with `TYPE-CERT`.
fn valid_key_info(info: &str) -> bool {
    let mut it = info.split(' ');
    let first = it.next().unwrap_or("");
    if first.ends_with("-CERT") || first.ends_with("-cert") {
        return true;
    }
    matches!((it.next(), it.next()), (Some(fp), None) if !fp.is_empty())
}

/// A well-formed tail after ` from `: `<host>[ port <n>][ ssh2[: info]]` where `ssh2`
/// is required when `proto` is set.
fn parse_from_tail(tail: &str, proto: bool) -> Option<(&str, Option<u16>)> {
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
    let rest = if proto {
        let r = rest
            .strip_prefix("ssh2")
            .or_else(|| rest.strip_prefix("ssh1"))?;
        if r.is_empty() {
            r
        } else {
            let info = r.strip_prefix(": ")?;
            if !valid_key_info(info) {
                return None;
            }
            ""
        }
    } else {
        rest
    };
    if !rest.is_empty() {
        return None;
    }
    if parse_ip(host).is_none() && !is_hostname(host) {
        return None;
    }
    Some((host, port))
}

/// Splits `<user> from <host>[ port <n>][ ssh2[: info]]` at the *rightmost* ` from `
/// whose tail is well-formed: client-chosen text (the user) comes first, so an address
/// injected into a username is never taken as the source.
pub(crate) fn split_user_from(rest: &str, proto: bool) -> Option<(&str, &str, Option<u16>)> {
    for i in rfind_iter(rest, " from ") {
        if let Some((host, port)) = parse_from_tail(&rest[i + 6..], proto) {
            return Some((&rest[..i], host, port));
        }
    }
    // An empty user: "Invalid user  from 1.2.3.4" leaves "from ..." at the start.
    if let Some(tail) = rest.strip_prefix("from ") {
        if let Some((host, port)) = parse_from_tail(tail, proto) {
            return Some(("", host, port));
        }
    }
    None
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
    // auditd encodes argv-style values with NUL separators; show them as blanks.
    for c in out.iter_mut() {
        if *c == 0 {
            *c = b' ';
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
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
        let (u, h, p) =
            split_user_from("x from 1.2.3.4 port 22 from 5.6.7.8 port 1 ssh2", true).unwrap();
        assert_eq!((u, h, p), ("x from 1.2.3.4 port 22", "5.6.7.8", Some(1)));
        // Injected text that ends with a well-formed tail but is followed by more text
        // is not a tail.
        let (u, h, _) = split_user_from(
            "a from 6.6.6.6 port 2 ssh2 b from 7.7.7.7 port 3 ssh2",
            true,
        )
        .unwrap();
        assert_eq!((u, h), ("a from 6.6.6.6 port 2 ssh2 b", "7.7.7.7"));
        let (u, h, p) =
            split_user_from("bob from 1.2.3.4 port 5 ssh2: RSA SHA256:abc", true).unwrap();
        assert_eq!((u, h, p), ("bob", "1.2.3.4", Some(5)));
        // A key info with extra words is not server-formatted.
        assert!(split_user_from("bob from 1.2.3.4 port 5 ssh2: a b c", true).is_none());
        assert!(split_user_from("bob from 1.2.3.4 port x ssh2", true).is_none());
        assert_eq!(split_user_from(" from 1.2.3.4", false).unwrap().0, "");
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
