//! Linux audit records (auditd's log, audisp-syslog, the kernel's printk form and the
//! journal's form), with auditd's hex-encoded fields decoded.

use std::borrow::Cow;

use super::util::{hex_decode, parse_ip, parse_u32};
use super::{types, AuthEvent, Category, Origin, Outcome};

/// auditd's "unset" id.
pub(super) const UNSET: u32 = u32::MAX;

fn type_name(t: &str) -> &str {
    match t {
        "1100" => "USER_AUTH",
        "1101" => "USER_ACCT",
        "1103" => "CRED_ACQ",
        "1104" => "CRED_DISP",
        "1105" => "USER_START",
        "1106" => "USER_END",
        "1109" => "USER_ERR",
        "1110" => "CRED_REFR",
        "1112" => "USER_LOGIN",
        "1113" => "USER_LOGOUT",
        "1123" => "USER_CMD",
        "1006" => "LOGIN",
        "1300" => "SYSCALL",
        "1302" => "PATH",
        "1307" => "CWD",
        other => other,
    }
}

/// Iterates `key=value` pairs where a value is `"quoted"`, `'quoted'` or a bare token.
/// Yields `(key, value, quoted)`.
pub(super) struct Fields<'a> {
    pub rest: &'a str,
}

impl<'a> Iterator for Fields<'a> {
    type Item = (&'a str, &'a str, bool);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let r = self.rest.trim_start_matches([' ', '\x1d']);
            if r.is_empty() {
                return None;
            }
            let Some(eq) = r.find('=') else {
                self.rest = "";
                return None;
            };
            let key = &r[..eq];
            let v = &r[eq + 1..];
            if key.contains(' ') {
                // Not a key: skip a word.
                self.rest = r.split_once(' ').map_or("", |(_, b)| b);
                continue;
            }
            for q in ['"', '\''] {
                if let Some(inner) = v.strip_prefix(q) {
                    let end = inner.find(q).unwrap_or(inner.len());
                    self.rest = inner.get(end + 1..).unwrap_or("");
                    return Some((key, &inner[..end], true));
                }
            }
            let end = v.find([' ', '\x1d']).unwrap_or(v.len());
            self.rest = &v[end..];
            return Some((key, &v[..end], false));
        }
    }
}

/// A value of a field auditd may hex-encode (unquoted means encoded).
pub(super) fn decoded(v: &str, quoted: bool) -> Option<Cow<'_, str>> {
    if v.is_empty() || v == "?" || v == "(null)" || v == "(none)" {
        return None;
    }
    if quoted {
        return Some(Cow::Borrowed(v));
    }
    match hex_decode(v) {
        Some(s) => Some(Cow::Owned(s)),
        None => Some(Cow::Borrowed(v)),
    }
}

/// An audit record's header read off: the node (`node=`), the record type as a name
/// (numeric types named), the `msg=audit(…)` stamp (`time:serial`) and what follows it.
pub(super) struct Header<'a> {
    pub node: Option<&'a str>,
    pub ty: &'a str,
    pub stamp: Option<&'a str>,
    pub rest: &'a str,
}

/// Reads the header of an auditd log line, audisp-syslog message, the kernel's printk
/// form (`audit: type=1300 audit(…): …`) or the journal's form (`SYSCALL arch=…`).
pub(super) fn header(msg: &str) -> Option<Header<'_>> {
    let mut m = msg.trim_start();
    // The kernel's printk time before `audit: ...`.
    m = super::banner::strip_uptime_before_audit(m);
    let mut node = None;
    if let Some(r) = m.strip_prefix("node=") {
        let (n, r) = r.split_once(' ')?;
        node = Some(n);
        m = r;
    }
    if let Some(r) = m.strip_prefix("audit: ") {
        m = r;
    }
    let (ty, rest) = match m.strip_prefix("type=") {
        Some(r) => r.split_once(' ')?,
        None => {
            // journald: "USER_LOGIN pid=... msg='...'"
            let (t, r) = m.split_once(' ')?;
            if !t.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
                return None;
            }
            (t, r)
        }
    };
    // "msg=audit(…): " / "audit(…): ".
    let (stamp, rest) = match rest.find("): ") {
        Some(i) if rest[..i].contains("audit(") => {
            let open = rest[..i].find("audit(").map_or(i, |o| o + 6);
            (rest.get(open..i), &rest[i + 3..])
        }
        _ => (None, rest),
    };
    Some(Header {
        node,
        ty: type_name(ty),
        stamp,
        rest,
    })
}

pub(super) fn recognise(msg: &str) -> Option<AuthEvent<'_>> {
    let Header { ty, rest, .. } = header(msg)?;
    let (action, category, kind): (&'static str, Category, &'static [&'static str]) = match ty {
        "USER_AUTH" => ("authenticated", Category::Authentication, types::INFO),
        "USER_ACCT" => ("was-authorized", Category::Authentication, types::INFO),
        "CRED_ACQ" => (
            "acquired-credentials",
            Category::Authentication,
            types::INFO,
        ),
        "CRED_DISP" => (
            "disposed-credentials",
            Category::Authentication,
            types::INFO,
        ),
        "CRED_REFR" => (
            "refreshed-credentials",
            Category::Authentication,
            types::INFO,
        ),
        "USER_START" => ("started-session", Category::Session, types::START),
        "USER_END" => ("ended-session", Category::Session, types::END),
        "USER_LOGIN" => ("logged-in", Category::Login, types::START),
        "USER_LOGOUT" => ("logged-out", Category::Session, types::END),
        "USER_CMD" => ("ran-command", Category::Process, types::START),
        "USER_ERR" => ("error", Category::Authentication, types::INFO),
        "LOGIN" => ("changed-login-id", Category::Authentication, types::START),
        _ => return None,
    };
    let (outer, inner, enriched) = match rest.find("msg='") {
        Some(i) => {
            let body = &rest[i + 5..];
            let end = body.rfind('\'')?;
            (&rest[..i], &body[..end], &body[end + 1..])
        }
        None => (rest, "", ""),
    };
    let mut ev = AuthEvent::new(action, category, kind, Outcome::Unknown);
    ev.origin = Origin::Audit;
    let mut auid = None;
    let mut uid = None;
    let mut res = None;
    for (k, v, _) in (Fields { rest: outer }) {
        match k {
            "pid" => ev.pid = parse_u32(v),
            "uid" => uid = parse_u32(v),
            "auid" => auid = parse_u32(v),
            "ses" if parse_u32(v).is_some_and(|s| s != UNSET) => {
                ev.session_id = Some(Cow::Borrowed(v));
            }
            "res" => res = Some(v),
            _ => {}
        }
    }
    let mut op = "";
    for (k, v, q) in (Fields { rest: inner }) {
        match k {
            "op" => op = v,
            "acct" => {
                ev.user = decoded(v, q).filter(|u| !u.starts_with('('));
            }
            "exe" => ev.exe = decoded(v, q),
            "cmd" => ev.command = decoded(v, q),
            "cwd" => ev.pwd = decoded(v, q),
            "terminal" => ev.tty = decoded(v, true),
            "addr" => ev.source_ip = parse_ip(v),
            "hostname" if ev.source_ip.is_none() => ev.source_ip = parse_ip(v),
            "res" => res = Some(v),
            _ => {}
        }
    }
    // ENRICHED format: `\x1dAUID="bob" UID="root"` after the closing quote.
    let mut auid_name = None;
    for (k, v, _) in (Fields { rest: enriched }) {
        if k == "AUID" && !v.is_empty() && v != "unset" {
            auid_name = Some(Cow::Borrowed(v));
        }
    }
    ev.user_id = auid.filter(|&a| a != UNSET).or(uid);
    if ev.user.is_none() {
        ev.user = auid_name;
    }
    ev.outcome = match res {
        Some("success" | "1" | "yes") => Outcome::Success,
        Some("failed" | "0" | "no") => Outcome::Failure,
        _ => Outcome::Unknown,
    };
    if ev.outcome == Outcome::Failure {
        if ev.category == Category::Login {
            ev.category = Category::Authentication;
            ev.kind_type = types::INFO;
        }
        let exe = ev.exe.as_deref().unwrap_or("");
        let by_login_daemon = exe.ends_with("/sshd") || exe.ends_with("/login");
        // If auditd were the only source: sshd/login write USER_LOGIN per failed
        // attempt; other PAM users (sudo, su) only USER_AUTH.
        ev.attempts = match ty {
            "USER_LOGIN" => 1,
            "USER_AUTH" if !by_login_daemon => 1,
            _ => 0,
        };
    }
    if op.starts_with("PAM:") {
        ev.method = Some("pam");
    }
    Some(ev)
}

#[cfg(test)]
mod tests {
    use super::super::{recognise, Category, Origin, Outcome};
    use std::net::IpAddr;

    #[test]
    fn user_login_failed_with_hex_acct() {
        let ev = recognise("", None, "type=USER_LOGIN msg=audit(1700000000.123:456): pid=1234 uid=0 auid=4294967295 ses=4294967295 subj=unconfined msg='op=login acct=726F6F74 exe=\"/usr/sbin/sshd\" hostname=? addr=203.0.113.7 terminal=ssh res=failed'").unwrap();
        assert_eq!(
            (ev.action, ev.outcome, ev.origin),
            ("logged-in", Outcome::Failure, Origin::Audit)
        );
        assert_eq!(ev.category, Category::Authentication);
        assert_eq!(ev.user_name(), Some("root"));
        assert_eq!(ev.source_ip, Some("203.0.113.7".parse::<IpAddr>().unwrap()));
        assert_eq!(
            (ev.pid, ev.attempts, ev.session_id.as_deref()),
            (Some(1234), 1, None)
        );
        assert_eq!(ev.exe.as_deref(), Some("/usr/sbin/sshd"));
    }

    #[test]
    fn user_login_success_and_forms() {
        let ev = recognise("audit", None, "node=web1 type=USER_LOGIN msg=audit(1700000000.1:7): pid=99 uid=0 auid=1000 ses=4 msg='op=login id=1000 exe=\"/usr/sbin/sshd\" hostname=2001:db8::5 addr=2001:db8::5 terminal=/dev/pts/1 res=success'").unwrap();
        assert_eq!(
            (ev.outcome, ev.category, ev.user_id),
            (Outcome::Success, Category::Login, Some(1000))
        );
        assert_eq!(ev.session_id.as_deref(), Some("4"));
        assert_eq!(ev.source_ip, Some("2001:db8::5".parse::<IpAddr>().unwrap()));
        // Kernel printk form with a numeric type, journald form without "type=".
        let ev = recognise("kernel", None, "audit: type=1100 audit(1700000000.2:8): pid=5 uid=0 auid=1000 ses=2 msg='op=PAM:authentication grantors=? acct=\"bob\" exe=\"/usr/bin/sudo\" hostname=? addr=? terminal=/dev/pts/0 res=failed'").unwrap();
        assert_eq!(
            (ev.action, ev.attempts, ev.method),
            ("authenticated", 1, Some("pam"))
        );
        assert_eq!(ev.user_name(), Some("bob"));
        let ev = recognise("audit", None, "USER_AUTH pid=5 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication grantors=? acct=\"root\" exe=\"/usr/sbin/sshd\" hostname=1.2.3.4 addr=1.2.3.4 terminal=ssh res=failed'").unwrap();
        // sshd also writes USER_LOGIN for the same attempt.
        assert_eq!((ev.attempts, ev.user_name()), (0, Some("root")));
    }

    #[test]
    fn other_records() {
        let ev = recognise("", None, "type=USER_CMD msg=audit(1700000000.3:9): pid=77 uid=1000 auid=1000 ses=3 msg='cwd=\"/home/bob\" cmd=2F7573722F62696E2F6964 exe=\"/usr/bin/sudo\" terminal=pts/0 res=success'\x1dUID=\"bob\" AUID=\"bob\"").unwrap();
        assert_eq!((ev.action, ev.category), ("ran-command", Category::Process));
        assert_eq!(ev.command.as_deref(), Some("/usr/bin/id"));
        assert_eq!(ev.pwd.as_deref(), Some("/home/bob"));
        assert_eq!(ev.user_name(), Some("bob"));
        for (ty, action) in [
            ("USER_ACCT", "was-authorized"),
            ("CRED_ACQ", "acquired-credentials"),
            ("CRED_DISP", "disposed-credentials"),
            ("CRED_REFR", "refreshed-credentials"),
            ("USER_START", "started-session"),
            ("USER_END", "ended-session"),
            ("USER_LOGOUT", "logged-out"),
            ("USER_ERR", "error"),
        ] {
            let line = format!("type={ty} msg=audit(1.0:1): pid=1 uid=0 auid=1000 ses=1 msg='op=PAM:session_open grantors=pam_unix acct=\"alice\" exe=\"/usr/sbin/sshd\" hostname=10.0.0.1 addr=10.0.0.1 terminal=ssh res=success'");
            let ev = recognise("", None, &line).unwrap();
            assert_eq!(ev.action, action);
            assert_eq!(ev.user_name(), Some("alice"));
            assert_eq!(ev.attempts, 0);
        }
        let ev = recognise("kernel", None, "audit: type=1006 audit(1.0:2): pid=1 uid=0 old-auid=4294967295 auid=1000 tty=(none) old-ses=4294967295 ses=3 res=1").unwrap();
        assert_eq!(
            (ev.action, ev.outcome, ev.user_id),
            ("changed-login-id", Outcome::Success, Some(1000))
        );
    }

    #[test]
    fn not_auth_records() {
        for line in [
            "type=SYSCALL msg=audit(1684329817.579:2995): arch=c000003e syscall=59 success=yes exit=0 comm=\"perl\" exe=\"/usr/bin/perl\" key=(null)",
            "type=EXECVE msg=audit(1696431255.037:8272): argc=1 a0=\"-bash\"",
            "type=PROCTITLE msg=audit(1696431282.553:8282): proctitle=2F7573722F62696E2F7375002D2D68656C70",
            "audit: backlog limit exceeded",
        ] {
            assert!(recognise("", None, line).is_none(), "{line}");
        }
    }
}
