//! sshd's verdicts on a login: `Accepted`/`Failed <method>`, `Invalid user`, `User ...
//! not allowed`, `ROOT LOGIN REFUSED`, `maximum authentication attempts exceeded`, and
//! sshd's own `PAM: ...` error lines.

use std::borrow::Cow;

use super::super::util::{
    host_port_exact, rsplit2, split2, split_login, split_user_from, strip_preauth, LoginTail,
};
use super::super::{types, AuthEvent, Category, Link, Outcome};
use super::{method_of, strip_invalid};

/// `Accepted|Failed <method> for [invalid user ]<user> from <host>[ port <n>][ sshN[: info]]`
/// (OpenSSH's `auth_log()`; ssh1 and old lines have no `sshN`, ssh1 rhosts lines end in
/// `ruser <name>`). The user and the auth-info are client text; see
/// [`split_login`] for how the source is found between them.
pub(super) fn login(rest: &str, ok: bool) -> Option<AuthEvent<'_>> {
    let (method, rest) = split2(rest, " for ")?;
    if method.contains(' ') {
        return None;
    }
    let (rest, _) = strip_preauth(rest);
    let tail = split_login(rest)?;
    // "invalid user " is the server's, right after " for ": known even when the rest
    // is ambiguous.
    let invalid = strip_invalid(rest).1;
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
        // does not count them either), and a hostbased failure is the client's host key
        // offered for a user, not a guessed secret.
        ev.attempts = u32::from(!matches!(method, "none" | "publickey" | "hostbased"));
        if invalid {
            ev.reason = Some("invalid user");
        }
        ev
    };
    ev.method = method_of(method);
    if let LoginTail::One(user, host, port) = tail {
        ev.user = Some(Cow::Borrowed(strip_invalid(user).0));
        ev.set_host(host);
        ev.source_port = port;
    } else {
        ev.reason = Some("ambiguous source");
    }
    Some(ev)
}

pub(super) fn invalid_user(rest: &str) -> Option<AuthEvent<'_>> {
    let (rest, _) = strip_preauth(rest);
    let (user, host, port) = split_user_from(rest)?;
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
pub(super) fn not_allowed(rest: &str) -> Option<AuthEvent<'_>> {
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
    match split_user_from(who) {
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

pub(super) fn root_refused(rest: &str) -> Option<AuthEvent<'_>> {
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

/// `maximum authentication attempts exceeded for [invalid user ]X from H port P ssh2`
pub(super) fn max_attempts(rest: &str) -> Option<AuthEvent<'_>> {
    let (rest, _) = strip_preauth(rest);
    let LoginTail::One(user, host, port) = split_login(rest)? else {
        return None;
    };
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

/// sshd's own PAM error: `PAM: Authentication failure for [illegal user ]X from H[ via L]`,
/// `PAM: User not known to the underlying authentication module for illegal user X
/// from H`, `PAM: Authentication error for ...`.
pub(super) fn pam_error(rest: &str) -> Option<AuthEvent<'_>> {
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
    // macOS's sshd ends the line with the local address the connection came in on:
    // `PAM: authentication error for U from H via L`. L is the server's, the last token.
    let who = match rsplit2(who, " via ") {
        Some((w, local)) if !local.is_empty() && !local.contains(' ') => w,
        _ => who,
    };
    let (user, host, port) = split_user_from(who)?;
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
