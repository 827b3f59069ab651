//! `login` (util-linux and shadow) and systemd-logind.

use std::borrow::Cow;

use super::{pam, types, AuthEvent, Category, Outcome};

fn ev_login<'a>(ok: bool) -> AuthEvent<'a> {
    let mut ev = if ok {
        AuthEvent::new("login", Category::Login, types::START, Outcome::Success)
    } else {
        AuthEvent::new(
            "login",
            Category::Authentication,
            types::INFO,
            Outcome::Failure,
        )
    };
    ev.attempts = u32::from(!ok);
    ev
}

/// util-linux: `LOGIN ON tty1 BY bob[ FROM host]`, `ROOT LOGIN ON tty1[ FROM host]`,
/// `FAILED LOGIN 1 FROM tty1 FOR bob, Authentication failure`,
/// `FAILED LOGIN SESSION FROM host FOR bob, ...`; shadow:
/// `FAILED LOGIN (1) on '/dev/tty1'[ from 'host'] FOR 'bob', Authentication failure`,
/// `ROOT LOGIN  on '/dev/tty1'[ from 'host']`.
pub(super) fn login(msg: &str) -> Option<AuthEvent<'_>> {
    let m = msg.trim();
    if m.starts_with("pam_") {
        return pam::recognise(m);
    }
    if let Some(r) = m.strip_prefix("LOGIN ON ") {
        let (tty, r) = r.split_once(" BY ")?;
        let (user, from) = match r.rsplit_once(" FROM ") {
            Some((u, f)) => (u, Some(f)),
            None => (r, None),
        };
        let mut ev = ev_login(true);
        ev.user = Some(Cow::Borrowed(user));
        ev.tty = Some(Cow::Borrowed(tty));
        if let Some(f) = from {
            ev.set_host(f);
        }
        return Some(ev);
    }
    if let Some(r) = m.strip_prefix("ROOT LOGIN ON ") {
        let (tty, from) = match r.split_once(" FROM ") {
            Some((t, f)) => (t, Some(f)),
            None => (r, None),
        };
        let mut ev = ev_login(true);
        ev.user = Some(Cow::Borrowed("root"));
        ev.tty = Some(Cow::Borrowed(tty));
        if let Some(f) = from {
            ev.set_host(f);
        }
        return Some(ev);
    }
    if let Some(r) = m.strip_prefix("ROOT LOGIN  on '") {
        let (tty, r) = r.split_once('\'')?;
        let mut ev = ev_login(true);
        ev.user = Some(Cow::Borrowed("root"));
        ev.tty = Some(Cow::Borrowed(tty));
        if let Some(h) = r.strip_prefix(" from '").and_then(|h| h.strip_suffix('\'')) {
            ev.set_host(h);
        }
        return Some(ev);
    }
    let r = m.strip_prefix("FAILED LOGIN ")?;
    // The reason after the last ", " is pam_strerror text; the user precedes it.
    let (r, _reason) = r.rsplit_once(", ")?;
    if let Some(r) = r.strip_prefix('(') {
        // shadow
        let (_, r) = r.split_once(") on '")?;
        let (tty, r) = r.split_once('\'')?;
        let (from, user) = r.rsplit_once(" FOR '")?;
        let user = user.strip_suffix('\'')?;
        let mut ev = ev_login(false);
        ev.user = Some(Cow::Borrowed(user));
        ev.tty = Some(Cow::Borrowed(tty));
        if let Some(h) = from
            .strip_prefix(" from '")
            .and_then(|h| h.strip_suffix('\''))
        {
            ev.set_host(h);
        }
        return Some(ev);
    }
    let (head, user) = r.rsplit_once(" FOR ")?;
    let session = head.starts_with("SESSION ");
    let (_, from) = head.split_once("FROM ")?;
    let mut ev = ev_login(false);
    if session {
        // "too many tries": the individual failures were logged already.
        ev.attempts = 0;
        ev.reason = Some("too many tries");
    }
    ev.user = Some(Cow::Borrowed(user));
    if from.starts_with("tty") || from.starts_with("pts") || from.starts_with("/dev/") {
        ev.tty = Some(Cow::Borrowed(from));
    } else {
        ev.set_host(from);
    }
    Some(ev)
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or(s)
}

/// `New session 12 of user bob.` (newer systemd quotes the values and adds class and
/// type), `Removed session 12.`
pub(super) fn logind(msg: &str) -> Option<AuthEvent<'_>> {
    let m = msg.trim();
    if let Some(r) = m.strip_prefix("New session ") {
        let (id, r) = r.split_once(" of user ")?;
        let user = r.split([' ', '.']).next().filter(|u| !u.is_empty())?;
        let user = match r.strip_prefix('\'') {
            Some(q) => q.split('\'').next()?,
            None => user,
        };
        let mut ev = AuthEvent::new(
            "session_new",
            Category::Session,
            types::START,
            Outcome::Success,
        );
        ev.session_id = Some(Cow::Borrowed(unquote(id)));
        ev.user = Some(Cow::Borrowed(user));
        return Some(ev);
    }
    if let Some(r) = m.strip_prefix("Removed session ") {
        let id = unquote(r.strip_suffix('.')?);
        let mut ev = AuthEvent::new(
            "session_removed",
            Category::Session,
            types::END,
            Outcome::Success,
        );
        ev.session_id = Some(Cow::Borrowed(id));
        return Some(ev);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::{recognise, Outcome};
    use std::net::IpAddr;

    #[test]
    fn login_forms() {
        let ev = recognise("login", None, "ROOT LOGIN ON tty1").unwrap();
        assert_eq!(
            (ev.action, ev.outcome, ev.user_name()),
            ("login", Outcome::Success, Some("root"))
        );
        let ev = recognise("login", None, "LOGIN ON pts/1 BY bob FROM 192.0.2.5").unwrap();
        assert_eq!(
            (ev.user_name(), ev.source_ip),
            (Some("bob"), Some("192.0.2.5".parse::<IpAddr>().unwrap()))
        );
        let ev = recognise(
            "login",
            None,
            "FAILED LOGIN 1 FROM tty1 FOR bob, Authentication failure",
        )
        .unwrap();
        assert_eq!(
            (ev.outcome, ev.attempts, ev.user_name(), ev.tty.as_deref()),
            (Outcome::Failure, 1, Some("bob"), Some("tty1"))
        );
        let ev = recognise("login", None, "FAILED LOGIN (2) on '/dev/pts/3' from '198.51.100.3' FOR 'root', Authentication failure").unwrap();
        assert_eq!((ev.attempts, ev.user_name()), (1, Some("root")));
        assert_eq!(
            ev.source_ip,
            Some("198.51.100.3".parse::<IpAddr>().unwrap())
        );
        let ev = recognise(
            "login",
            None,
            "FAILED LOGIN SESSION FROM tty1 FOR bob, Authentication failure",
        )
        .unwrap();
        assert_eq!(ev.attempts, 0);
        let ev = recognise("login", None, "ROOT LOGIN  on '/dev/tty2'").unwrap();
        assert_eq!(ev.tty.as_deref(), Some("/dev/tty2"));
        assert!(recognise("login", None, "FAILED LOGIN somewhere").is_none());
        assert!(recognise("login", None, "LOGIN ON tty1").is_none());
    }

    #[test]
    fn logind_forms() {
        let ev = recognise("systemd-logind", None, "New session 12 of user bob.").unwrap();
        assert_eq!(
            (ev.action, ev.user_name(), ev.session_id.as_deref()),
            ("session_new", Some("bob"), Some("12"))
        );
        let ev = recognise(
            "systemd-logind",
            None,
            "New session 'c3' of user 'gdm' with class 'greeter' and type 'wayland'.",
        )
        .unwrap();
        assert_eq!(
            (ev.user_name(), ev.session_id.as_deref()),
            (Some("gdm"), Some("c3"))
        );
        let ev = recognise("systemd-logind", None, "Removed session 12.").unwrap();
        assert_eq!(
            (ev.action, ev.session_id.as_deref()),
            ("session_removed", Some("12"))
        );
        assert!(recognise(
            "systemd-logind",
            None,
            "Session 12 logged out. Waiting for processes to exit."
        )
        .is_none());
        assert!(recognise(
            "systemd-logind",
            None,
            "Watching system buttons on /dev/input/event0"
        )
        .is_none());
    }
}
