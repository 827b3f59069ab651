//! PAM module lines (`pam_unix(sshd:auth): ...`), from whichever program logs them.

use std::borrow::Cow;

use super::util::{parse_u32, split2};
use super::{types, AuthEvent, Category, Outcome};

/// Services that log their own line for each failed attempt (sshd `Failed ...`, sudo
/// `N incorrect password attempts`, su `FAILED SU`, login `FAILED LOGIN`): their PAM
/// failure line is recognised but counts 0 attempts.
fn service_logs_own_failures(svc: &str) -> bool {
    matches!(
        svc,
        "sshd" | "sudo" | "sudo-i" | "su" | "su-l" | "login" | "runuser" | "runuser-l"
    )
}

pub(super) fn recognise(msg: &str) -> Option<AuthEvent<'_>> {
    // pam_<module>(<service>:<kind>): <text>
    let (head, text) = split2(msg, "): ")?;
    let (module, svc_kind) = head.split_once('(')?;
    if !module.starts_with("pam_") || module.contains(' ') {
        return None;
    }
    let (svc, kind) = svc_kind.split_once(':')?;
    let mut ev = module_line(svc, module, kind, text)?;
    ev.service = Some(Cow::Borrowed(svc));
    Some(ev)
}

/// Linux-PAM before 0.99: the ident is `<service>(<module>)` and the message lacks the
/// `module(service:kind): ` prefix (`su(pam_unix)[7]: authentication failure; ...`,
/// `sshd(pam_unix)[8]: session opened for user bob by (uid=0)`). The kind is told by
/// the text.
pub(super) fn legacy<'a>(svc: &str, module: &str, msg: &'a str) -> Option<AuthEvent<'a>> {
    let text = msg.trim_start();
    let kind = if text.starts_with("session ") {
        "session"
    } else {
        "auth"
    };
    let mut ev = module_line(svc, module, kind, text)?;
    ev.service = Some(Cow::Owned(svc.to_string()));
    Some(ev)
}

/// A module's line; the caller sets the service.
fn module_line<'a>(svc: &str, module: &str, kind: &str, text: &'a str) -> Option<AuthEvent<'a>> {
    match kind {
        "auth" | "account" => {
            if let Some(kv) = text.strip_prefix("authentication failure;") {
                let mut ev = auth_failure(svc, kv);
                ev.attempts = u32::from(!service_logs_own_failures(svc));
                Some(ev)
            } else if module == "pam_tally2" || module == "pam_tally" {
                tally(text)
            } else if module == "pam_faillock" {
                let u = text
                    .strip_prefix("Consecutive login failures for user ")?
                    .strip_suffix(" account temporarily locked")?;
                Some(locked(u))
            } else {
                None
            }
        }
        "session" => session(text),
        _ => None,
    }
}

/// Whose the fields of a PAM failure line are, by service.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// su, runuser: `user=` is the account switched *to* (`user.target.name`); the
    /// caller is `ruser=` (else `logname=`), and `uid=` is the caller's id.
    Switch,
    /// sudo: `user=` is the caller itself (sudo asks for the invoking user's password),
    /// and `uid=` is its id.
    Caller,
    /// sshd, login and every other service: `user=` is the account logging in; `uid=`
    /// is the service process's own (0 for sshd), not that account's.
    Login,
}

fn role_of(svc: &str) -> Role {
    match svc {
        "su" | "su-l" | "runuser" | "runuser-l" | "ksu" => Role::Switch,
        "sudo" | "sudo-i" => Role::Caller,
        _ => Role::Login,
    }
}

fn locked(user: &str) -> AuthEvent<'_> {
    let mut ev = AuthEvent::new(
        "pam_account_locked",
        Category::Authentication,
        types::INFO,
        Outcome::Failure,
    );
    ev.reason = Some("account locked");
    ev.user = Some(Cow::Borrowed(user));
    ev
}

/// `pam_tally2(sudo:auth): user X (4001) tally 6, deny 5`
fn tally(text: &str) -> Option<AuthEvent<'_>> {
    let r = text.strip_prefix("user ")?;
    let (user, r) = r.split_once(" (")?;
    let (uid, r) = r.split_once(") tally ")?;
    let (n, deny) = r.split_once(", deny ")?;
    let (n, deny) = (parse_u32(n)?, parse_u32(deny.trim())?);
    if n < deny {
        return None;
    }
    let mut ev = locked(user);
    ev.user_id = parse_u32(uid);
    Some(ev)
}

/// `logname=L uid=U euid=E tty=T ruser=R rhost=H[  user=X]`: fields are read left to
/// right and `user=` (client-chosen for sshd) is last, so it cannot forge `rhost`.
/// Who is who depends on the service ([`Role`]).
fn auth_failure<'a>(svc: &str, kv: &'a str) -> AuthEvent<'a> {
    let mut ev = AuthEvent::new(
        "pam_auth_failure",
        Category::Authentication,
        types::INFO,
        Outcome::Failure,
    );
    ev.reason = Some("authentication failure");
    fill_kv(&mut ev, role_of(svc), kv);
    ev
}

fn fill_kv<'a>(ev: &mut AuthEvent<'a>, role: Role, kv: &'a str) {
    let mut rest = kv.trim_start();
    let (mut logname, mut ruser, mut user, mut uid) = ("", "", "", None);
    while !rest.is_empty() {
        if let Some(u) = rest.strip_prefix("user=") {
            user = u.trim();
            break;
        }
        let (tok, r) = super::util::split_at_byte(rest, b' ').unwrap_or((rest, ""));
        rest = r.trim_start();
        let Some((k, v)) = super::util::split_at_byte(tok, b'=') else {
            continue;
        };
        match k {
            "tty" if !v.is_empty() => ev.tty = Some(Cow::Borrowed(v)),
            "rhost" if !v.is_empty() => ev.set_host(v),
            "uid" => uid = parse_u32(v),
            "logname" => logname = v,
            "ruser" => ruser = v,
            _ => {}
        }
    }
    let some = |s: &'a str| (!s.is_empty()).then_some(Cow::Borrowed(s));
    match role {
        Role::Switch => {
            ev.user = some(ruser).or_else(|| some(logname));
            ev.target_user = some(user);
            ev.user_id = uid;
        }
        Role::Caller => {
            ev.user = some(user);
            ev.user_id = uid;
        }
        Role::Login => ev.user = some(user),
    }
}

/// sshd's summary `PAM N more authentication failures; logname= ... rhost=H  user=X`:
/// the attempts were each logged already.
pub(super) fn more_failures(rest: &str) -> Option<AuthEvent<'_>> {
    let (n, kv) = rest.split_once(" more authentication failure")?;
    parse_u32(n)?;
    let kv = kv.strip_prefix("s;").or_else(|| kv.strip_prefix(";"))?;
    let mut ev = auth_failure("sshd", kv);
    ev.reason = Some("more authentication failures");
    ev.service = Some(Cow::Borrowed("sshd"));
    Some(ev)
}

/// Strips `(uid=N)` from `name(uid=N)`.
fn name_of(s: &str) -> &str {
    match s.find("(uid=") {
        Some(i) => &s[..i],
        None => s,
    }
}

/// `session opened for user X(uid=N) by Y(uid=M)` / `session closed for user X`
fn session(text: &str) -> Option<AuthEvent<'_>> {
    let ev = if let Some(r) = text.strip_prefix("session opened for user ") {
        let mut ev = AuthEvent::new(
            "session_opened",
            Category::Session,
            types::START,
            Outcome::Success,
        );
        let (who, by) = match r.rsplit_once(" by ") {
            Some((w, b)) => (w, Some(b)),
            None => (r, None),
        };
        let who = name_of(who.trim());
        let by = by
            .map(|b| name_of(b.trim()))
            .filter(|b| !b.is_empty() && *b != "LOGIN");
        match by {
            // su/sudo: the invoking user opens a session as the target.
            Some(by) if by != who => {
                ev.user = Some(Cow::Borrowed(by));
                ev.target_user = Some(Cow::Borrowed(who));
            }
            _ => ev.user = Some(Cow::Borrowed(who)),
        }
        ev
    } else if let Some(r) = text.strip_prefix("session closed for user ") {
        let mut ev = AuthEvent::new(
            "session_closed",
            Category::Session,
            types::END,
            Outcome::Success,
        );
        ev.user = Some(Cow::Borrowed(name_of(r.trim())));
        ev
    } else {
        return None;
    };
    Some(ev)
}

#[cfg(test)]
mod tests {
    use super::super::{recognise, Outcome};
    use std::net::IpAddr;

    #[test]
    fn auth_failures_count_once() {
        let ev = recognise("sshd", None, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=2001:db8::a11:beef:7ac0 user=root").unwrap();
        assert_eq!(
            (ev.action, ev.outcome, ev.attempts),
            ("pam_auth_failure", Outcome::Failure, 0)
        );
        assert_eq!(
            ev.source_ip,
            Some("2001:db8::a11:beef:7ac0".parse::<IpAddr>().unwrap())
        );
        assert_eq!(ev.service.as_deref(), Some("sshd"));
        // sudo logs its own "N incorrect password attempts" line.
        let ev = recognise("sudo", None, "pam_unix(sudo:auth): authentication failure; logname=zbadguy uid=4001 euid=0 tty=/dev/pts/12 ruser=zbadguy rhost=  user=zbadguy").unwrap();
        assert_eq!(
            (ev.attempts, ev.user_name(), ev.source_ip),
            (0, Some("zbadguy"), None)
        );
        assert_eq!(
            (ev.tty.as_deref(), ev.user_id),
            (Some("/dev/pts/12"), Some(4001))
        );
        // Services that log nothing else: the PAM line is the attempt.
        let ev = recognise("cockpit-session", None, "pam_unix(cockpit:auth): authentication failure; logname= uid=0 euid=0 tty= ruser= rhost=172.22.10.15  user=jeff").unwrap();
        assert_eq!((ev.attempts, ev.user_name()), (1, Some("jeff")));
        let ev = recognise("", None, "pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=webmaster@x.eu rhost=80.94.95.229").unwrap();
        assert_eq!((ev.attempts, ev.user_name()), (1, None));
        assert_eq!(
            ev.source_ip,
            Some("80.94.95.229".parse::<IpAddr>().unwrap())
        );
    }

    /// `uid=` is the id of the process that called PAM: sshd's (0) is not the user's, so
    /// only services whose caller is `user.name` (su, sudo) give `user.id`.
    #[test]
    fn uid_is_the_callers() {
        let ev = recognise("sshd", None, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.5  user=alice").unwrap();
        assert_eq!(
            (ev.user_name(), ev.user_id, ev.target_user.as_deref()),
            (Some("alice"), None, None)
        );
        let ev = recognise("login", None, "pam_unix(login:auth): authentication failure; logname=LOGIN uid=0 euid=0 tty=tty1 ruser= rhost=  user=alice").unwrap();
        assert_eq!((ev.user_name(), ev.user_id), (Some("alice"), None));
        let ev = recognise("sudo", None, "pam_unix(sudo:auth): authentication failure; logname=alice uid=1001 euid=0 tty=/dev/pts/3 ruser=alice rhost=  user=alice").unwrap();
        assert_eq!((ev.user_name(), ev.user_id), (Some("alice"), Some(1001)));
    }

    /// Linux-PAM before 0.99 logged under `<service>(<module>)`, without the
    /// `module(service:kind): ` prefix.
    #[test]
    fn legacy_ident() {
        let ev = recognise("sshd(pam_unix)", Some(3), "authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=192.0.2.47  user=root").unwrap();
        assert_eq!(
            (
                ev.action,
                ev.attempts,
                ev.user_name(),
                ev.service.as_deref()
            ),
            ("pam_auth_failure", 0, Some("root"), Some("sshd"))
        );
        assert_eq!(ev.source_ip, Some("192.0.2.47".parse::<IpAddr>().unwrap()));
        // A service that logs nothing else: the PAM line is the attempt.
        let ev = recognise(
            "vsftpd(pam_unix)",
            None,
            "authentication failure; logname= uid=0 euid=0 tty= ruser= rhost=192.0.2.48  user=ftp",
        )
        .unwrap();
        assert_eq!((ev.attempts, ev.user_name()), (1, Some("ftp")));
        let rep = "message repeated 2 times: [ authentication failure; logname= uid=0 euid=0 tty= ruser= rhost=192.0.2.48  user=ftp]";
        assert_eq!(
            recognise("vsftpd(pam_unix)", None, rep).unwrap().attempts,
            2
        );
        let ev = recognise("sshd(pam_unix)", None, "session closed for user bob").unwrap();
        assert_eq!((ev.action, ev.user_name()), ("session_closed", Some("bob")));
        for program in ["sshd(pam_unix", "(pam_unix)", "sshd(unix)", "a b(pam_unix)"] {
            assert!(
                recognise(program, None, "authentication failure; rhost=1.2.3.4").is_none(),
                "{program}"
            );
        }
    }

    #[test]
    fn injected_user_cannot_forge_rhost() {
        let ev = recognise("sshd", None, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=10.0.0.1  user=x rhost=6.6.6.6").unwrap();
        assert_eq!(ev.source_ip, Some("10.0.0.1".parse::<IpAddr>().unwrap()));
        assert_eq!(ev.user_name(), Some("x rhost=6.6.6.6"));
    }

    #[test]
    fn sessions() {
        let ev = recognise(
            "sshd",
            None,
            "pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)",
        )
        .unwrap();
        assert_eq!(
            (ev.action, ev.user_name(), ev.target_user.as_deref()),
            ("session_opened", Some("alice"), None)
        );
        let ev = recognise(
            "sudo",
            None,
            "pam_unix(sudo:session): session opened for user root(uid=0) by bob(uid=1000)",
        )
        .unwrap();
        assert_eq!(
            (ev.user_name(), ev.target_user.as_deref()),
            (Some("bob"), Some("root"))
        );
        let ev = recognise(
            "login",
            None,
            "pam_unix(login:session): session opened for user root by LOGIN(uid=0)",
        )
        .unwrap();
        assert_eq!(ev.user_name(), Some("root"));
        let ev = recognise(
            "CRON",
            None,
            "pam_unix(cron:session): session closed for user root",
        )
        .unwrap();
        assert_eq!(
            (ev.action, ev.user_name()),
            ("session_closed", Some("root"))
        );
    }

    #[test]
    fn locks() {
        let ev = recognise(
            "sudo",
            None,
            "pam_tally2(sudo:auth): user zbadguy (4001) tally 6, deny 5",
        )
        .unwrap();
        assert_eq!(
            (ev.action, ev.user_name(), ev.user_id),
            ("pam_account_locked", Some("zbadguy"), Some(4001))
        );
        assert!(recognise(
            "sudo",
            None,
            "pam_tally2(sudo:auth): user z (4001) tally 2, deny 5"
        )
        .is_none());
        let ev = recognise("sshd", None, "pam_faillock(sshd:auth): Consecutive login failures for user root account temporarily locked").unwrap();
        assert_eq!(ev.user_name(), Some("root"));
    }

    #[test]
    fn lookalikes() {
        for line in [
            "pam_unix(sshd:auth): check pass; user unknown",
            "pam_unix(sudo:auth): conversation failed",
            "pam_systemd(sshd:session): Failed to create session: No such file",
            "pam_unix(sshd:password): password changed for bob",
            "pam_env(sshd:session): Unable to open env file",
            "pam_unix authentication failure; rhost=1.2.3.4",
        ] {
            assert!(recognise("sshd", None, line).is_none(), "{line}");
        }
    }
}
