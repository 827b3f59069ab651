//! sudo and su.

use std::borrow::Cow;

use super::util::{find, parse_u32, split2};
use super::{pam, types, AuthEvent, Category, Outcome};

/// Keys sudo logs after `PWD=`, in order; `COMMAND=` is last and takes the rest.
const AFTER_PWD: [&str; 5] = [
    " ; USER=",
    " ; GROUP=",
    " ; TSID=",
    " ; ENV=",
    " ; COMMAND=",
];

/// `bob : TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id`, optionally with
/// a status before the fields (`3 incorrect password attempts`, `user NOT in sudoers`,
/// `command not allowed`, `a password is required`).
pub(super) fn sudo(msg: &str) -> Option<AuthEvent<'_>> {
    let m = msg.trim_start();
    if m.starts_with("pam_") {
        return pam::recognise(m);
    }
    // The invoking user is a local account name: no blanks, so the first " : " splits.
    let (user, rest) = split2(m, " : ")?;
    if user.is_empty() || user.contains(' ') {
        return None;
    }
    let (status, fields) = match find(rest, "TTY=") {
        Some(0) => ("", rest),
        Some(i) => (
            rest[..i].trim_end().strip_suffix(';')?.trim_end(),
            &rest[i..],
        ),
        None => return None,
    };
    let mut ev = if status.is_empty() {
        AuthEvent::new(
            "sudo_command",
            Category::Process,
            types::START,
            Outcome::Success,
        )
    } else if let Some(n) = status
        .strip_suffix(" incorrect password attempts")
        .or_else(|| status.strip_suffix(" incorrect password attempt"))
    {
        let mut ev = AuthEvent::new(
            "sudo_auth_failure",
            Category::Authentication,
            types::INFO,
            Outcome::Failure,
        );
        ev.attempts = parse_u32(n)?;
        ev.reason = Some("incorrect password");
        ev
    } else if status == "a password is required" {
        let mut ev = AuthEvent::new(
            "sudo_auth_failure",
            Category::Authentication,
            types::INFO,
            Outcome::Failure,
        );
        ev.reason = Some("password required");
        ev
    } else if status == "user NOT in sudoers" || status == "user NOT authorized on host" {
        let mut ev = AuthEvent::new(
            "sudo_not_in_sudoers",
            Category::Authentication,
            types::INFO,
            Outcome::Failure,
        );
        ev.reason = Some(if status.ends_with("sudoers") {
            "not in sudoers"
        } else {
            "not authorized on host"
        });
        ev
    } else if status == "command not allowed" {
        let mut ev = AuthEvent::new(
            "sudo_command_denied",
            Category::Authentication,
            types::INFO,
            Outcome::Failure,
        );
        ev.reason = Some("command not allowed");
        ev
    } else {
        return None;
    };
    ev.user = Some(Cow::Borrowed(user));
    parse_fields(&mut ev, fields)?;
    Some(ev)
}

fn parse_fields<'a>(ev: &mut AuthEvent<'a>, fields: &'a str) -> Option<()> {
    let r = fields.strip_prefix("TTY=")?;
    let (tty, r) = split2(r, " ; ")?;
    ev.tty = Some(Cow::Borrowed(tty));
    let Some(r) = r.strip_prefix("PWD=") else {
        return Some(());
    };
    // PWD may contain anything; it ends at the first " ; <KEY>=" of the known keys.
    let end = AFTER_PWD
        .iter()
        .filter_map(|k| find(r, k))
        .min()
        .unwrap_or(r.len());
    ev.pwd = Some(Cow::Borrowed(&r[..end]));
    let mut r = &r[end..];
    while let Some(rest) = r.strip_prefix(" ; ") {
        if let Some(cmd) = rest.strip_prefix("COMMAND=") {
            ev.command = Some(Cow::Borrowed(cmd));
            break;
        }
        let (field, next) = match find(rest, " ; ") {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if let Some(u) = field.strip_prefix("USER=") {
            ev.target_user = Some(Cow::Borrowed(u));
        }
        r = next;
    }
    Some(())
}

/// util-linux `(to root) bob on pts/0` / `FAILED SU (to root) bob on pts/0`, and
/// shadow's `Successful su for root by bob` / `FAILED su for root by bob`
/// (its `+ tty bob:root` / `- tty bob:root` echo lines count 0).
pub(super) fn su(msg: &str) -> Option<AuthEvent<'_>> {
    let m = msg.trim_start();
    if m.starts_with("pam_") {
        return pam::recognise(m);
    }
    let new = su_event;
    if let Some(r) = m
        .strip_prefix("(to ")
        .or_else(|| m.strip_prefix("FAILED SU (to "))
    {
        let ok = m.starts_with('(');
        let (target, r) = r.split_once(") ")?;
        let (user, tty) = r.rsplit_once(" on ")?;
        let mut ev = new(ok);
        ev.user = Some(Cow::Borrowed(user));
        ev.target_user = Some(Cow::Borrowed(target));
        ev.tty = Some(Cow::Borrowed(tty));
        return Some(ev);
    }
    if let Some(r) = m
        .strip_prefix("Successful su for ")
        .or_else(|| m.strip_prefix("FAILED su for "))
    {
        let ok = m.starts_with('S');
        let (target, user) = r.rsplit_once(" by ")?;
        let mut ev = new(ok);
        ev.user = Some(Cow::Borrowed(user));
        ev.target_user = Some(Cow::Borrowed(target));
        return Some(ev);
    }
    // BSD su (FreeBSD, OpenBSD, NetBSD): `BAD SU bob to root on /dev/ttyp0` on a
    // failure, `bob to root on /dev/ttyp0` on a success (`"%s to %s%s"`, the last part
    // ` on <tty>` or empty).
    if let Some(r) = m.strip_prefix("BAD SU ") {
        return bsd_su(r, false);
    }
    if let Some(ev) = bsd_su(m, true) {
        return Some(ev);
    }
    if let Some(r) = m.strip_prefix("+ ").or_else(|| m.strip_prefix("- ")) {
        let ok = m.starts_with('+');
        let (tty, pair) = r.split_once(' ')?;
        let (user, target) = pair.split_once(':')?;
        let mut ev = new(ok);
        ev.attempts = 0;
        ev.user = Some(Cow::Borrowed(user));
        ev.target_user = Some(Cow::Borrowed(target));
        ev.tty = Some(Cow::Borrowed(tty));
        return Some(ev);
    }
    None
}

/// `<caller> to <target>[ on <tty>]`: account names have no blanks, so anything else
/// (a sentence that happens to hold " to ") is not this line.
fn bsd_su(r: &str, ok: bool) -> Option<AuthEvent<'_>> {
    let (user, r) = r.split_once(" to ")?;
    let (target, tty) = match r.split_once(" on ") {
        Some((t, tty)) => (t, Some(tty)),
        None => (r, None),
    };
    let name = |s: &str| !s.is_empty() && !s.contains(' ');
    if !name(user) || !name(target) || !tty.is_none_or(name) {
        return None;
    }
    let mut ev = su_event(ok);
    ev.user = Some(Cow::Borrowed(user));
    ev.target_user = Some(Cow::Borrowed(target));
    ev.tty = tty.map(Cow::Borrowed);
    Some(ev)
}

/// An `su` verdict: a failure is one password attempt, a success none.
fn su_event<'a>(ok: bool) -> AuthEvent<'a> {
    let mut ev = AuthEvent::new(
        "su",
        Category::Authentication,
        types::INFO,
        if ok {
            Outcome::Success
        } else {
            Outcome::Failure
        },
    );
    ev.attempts = u32::from(!ok);
    ev
}

#[cfg(test)]
mod tests {
    use super::super::{recognise, AuthEvent, Category, Outcome};

    #[test]
    fn sudo_command() {
        let ev = recognise(
            "sudo",
            Some(9),
            "    bob : TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/apt update",
        )
        .unwrap();
        assert_eq!(
            (ev.action, ev.outcome, ev.category),
            ("sudo_command", Outcome::Success, Category::Process)
        );
        assert_eq!(ev.user_name(), Some("bob"));
        assert_eq!(ev.target_user.as_deref(), Some("root"));
        assert_eq!(ev.tty.as_deref(), Some("pts/0"));
        assert_eq!(ev.pwd.as_deref(), Some("/home/bob"));
        assert_eq!(ev.command.as_deref(), Some("/usr/bin/apt update"));
        let ev = recognise("sudo", None, "bob : TTY=pts/1 ; PWD=/tmp ; USER=www-data ; GROUP=adm ; ENV=A=1 ; COMMAND=/bin/sh -c 'a ; USER=root'").unwrap();
        assert_eq!(ev.target_user.as_deref(), Some("www-data"));
        assert_eq!(ev.command.as_deref(), Some("/bin/sh -c 'a ; USER=root'"));
    }

    #[test]
    fn sudo_failures() {
        let ev = recognise("sudo", None, "bob : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id").unwrap();
        assert_eq!(
            (ev.action, ev.outcome, ev.attempts),
            ("sudo_auth_failure", Outcome::Failure, 3)
        );
        assert_eq!(ev.command.as_deref(), Some("/usr/bin/id"));
        let ev = recognise(
            "sudo",
            None,
            "bob : 1 incorrect password attempt ; TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls",
        )
        .unwrap();
        assert_eq!(ev.attempts, 1);
        let ev = recognise("sudo", None, "mallory : user NOT in sudoers ; TTY=pts/2 ; PWD=/home/m ; USER=root ; COMMAND=/bin/bash").unwrap();
        assert_eq!(
            (ev.action, ev.user_name(), ev.attempts),
            ("sudo_not_in_sudoers", Some("mallory"), 0)
        );
        let ev = recognise(
            "sudo",
            None,
            "eve : command not allowed ; TTY=pts/2 ; PWD=/ ; USER=root ; COMMAND=/bin/su",
        )
        .unwrap();
        assert_eq!(ev.action, "sudo_command_denied");
        let ev = recognise(
            "sudo",
            None,
            "eve : a password is required ; TTY=unknown ; PWD=/ ; USER=root ; COMMAND=/bin/true",
        )
        .unwrap();
        assert_eq!((ev.action, ev.attempts), ("sudo_auth_failure", 0));
    }

    #[test]
    fn sudo_pwd_injection_does_not_forge_target() {
        // A directory named "x ; USER=root" cannot fake the target user: PWD ends at the
        // first known key, and the later real USER= wins.
        let ev = recognise(
            "sudo",
            None,
            "bob : TTY=pts/0 ; PWD=/tmp/x ; USER=root ; USER=nobody ; COMMAND=/bin/true",
        )
        .unwrap();
        assert_eq!(ev.target_user.as_deref(), Some("nobody"));
        assert_eq!(ev.pwd.as_deref(), Some("/tmp/x"));
    }

    #[test]
    fn sudo_lookalikes() {
        for line in [
            "unable to resolve host web01: Name or service not known",
            "bob : something odd ; TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls",
            "bob : (command continued) /bin/ls -la",
            "pam_unix(sudo:auth): conversation failed",
            "a b : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls",
        ] {
            assert!(recognise("sudo", None, line).is_none(), "{line}");
        }
        // Not sudo.
        assert!(recognise(
            "cron",
            None,
            "bob : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls"
        )
        .is_none());
    }

    #[test]
    fn su_forms() {
        let ev = recognise("su", None, "(to root) bob on pts/0").unwrap();
        assert_eq!(
            (ev.action, ev.outcome, ev.attempts),
            ("su", Outcome::Success, 0)
        );
        assert_eq!(
            (ev.user_name(), ev.target_user.as_deref(), ev.tty.as_deref()),
            (Some("bob"), Some("root"), Some("pts/0"))
        );
        let ev = recognise("su", None, "FAILED SU (to root) bob on pts/0").unwrap();
        assert_eq!((ev.outcome, ev.attempts), (Outcome::Failure, 1));
        let ev = recognise("su", None, "FAILED su for root by bob").unwrap();
        assert_eq!(
            (ev.outcome, ev.attempts, ev.user_name()),
            (Outcome::Failure, 1, Some("bob"))
        );
        let ev = recognise("su", None, "Successful su for postgres by root").unwrap();
        assert_eq!(
            (ev.outcome, ev.target_user.as_deref()),
            (Outcome::Success, Some("postgres"))
        );
        let ev = recognise("su", None, "- /dev/pts/0 bob:root").unwrap();
        assert_eq!((ev.outcome, ev.attempts), (Outcome::Failure, 0));
        let ev = recognise("su", None, "pam_unix(su:auth): authentication failure; logname=bob uid=1000 euid=0 tty=/dev/pts/0 ruser=bob rhost=  user=root").unwrap();
        assert_eq!(ev.attempts, 0);
        assert!(recognise("su", None, "No passwd entry for user 'x'").is_none());
    }

    /// Who acted is `user.name`, whom they became `user.target.name`, and a `uid=` is
    /// the caller's: util-linux su, shadow su, BSD su, Linux-PAM's pam_unix (current and
    /// before 0.99, when it logged under `su(pam_unix)`).
    #[test]
    fn su_caller_and_target() {
        fn check(program: &str, line: &'static str, ok: bool, attempts: u32) -> AuthEvent<'static> {
            let ev = recognise(program, Some(7), line).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(
                (ev.user_name(), ev.target_user.as_deref()),
                (Some("bob"), Some("root")),
                "{line}"
            );
            let outcome = if ok {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            assert_eq!((ev.outcome, ev.attempts), (outcome, attempts), "{line}");
            // The same line repeated counts its attempts each time.
            let rep = format!("message repeated 3 times: [ {line}]");
            assert_eq!(
                recognise(program, Some(7), &rep).unwrap().attempts,
                attempts * 3
            );
            ev
        }
        check("su", "FAILED SU (to root) bob on pts/0", false, 1);
        check("su", "(to root) bob on pts/0", true, 0);
        check("su", "FAILED su for root by bob", false, 1);
        check("su", "- /dev/pts/0 bob:root", false, 0);
        let ev = check("su", "BAD SU bob to root on /dev/ttyp0", false, 1);
        assert_eq!(ev.tty.as_deref(), Some("/dev/ttyp0"));
        let ev = check("su", "BAD SU bob to root", false, 1);
        assert_eq!(ev.tty, None);
        check("su", "bob to root on /dev/ttyp0", true, 0);
        // su's own line counts; its PAM line is the same attempt.
        let ev = check("su", "pam_unix(su:auth): authentication failure; logname=bob uid=1000 euid=0 tty=/dev/pts/0 ruser=bob rhost=  user=root", false, 0);
        assert_eq!(
            (ev.user_id, ev.service.as_deref()),
            (Some(1000), Some("su"))
        );
        let ev = check("su-l", "pam_unix(su-l:auth): authentication failure; logname=bob uid=1000 euid=0 tty=pts/1 ruser= rhost=  user=root", false, 0);
        assert_eq!(ev.user_id, Some(1000));
        let ev = check("su(pam_unix)", "authentication failure; logname=bob uid=1000 euid=0 tty=pts/0 ruser=bob rhost=  user=root", false, 0);
        assert_eq!(
            (ev.action, ev.user_id, ev.service.as_deref()),
            ("pam_auth_failure", Some(1000), Some("su"))
        );
        let ev = recognise(
            "su(pam_unix)",
            Some(7),
            "session opened for user root by bob(uid=1000)",
        )
        .unwrap();
        assert_eq!(
            (ev.action, ev.user_name(), ev.target_user.as_deref()),
            ("session_opened", Some("bob"), Some("root"))
        );
        // Sentences with " to " are not BSD su lines.
        for line in ["switching to root now", "a to b on c d", "BAD SU  to root"] {
            assert!(recognise("su", None, line).is_none(), "{line}");
        }
    }
}
