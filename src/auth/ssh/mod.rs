//! OpenSSH (`sshd`, `sshd-session`) messages, by concept: the authentication verdicts
//! (`login`: Accepted/Failed, invalid and refused users, sshd's PAM errors), how a
//! connection ended (`disconnect`), and pre-authentication protocol noise (`noise`).

use super::util::first_token;
use super::{pam, AuthEvent};

mod disconnect;
mod login;
mod noise;
#[cfg(test)]
mod tests;

use disconnect::{
    connection, disconnected, disconnecting, disconnecting_colon, received_disconnect,
};
use login::{invalid_user, login, max_attempts, not_allowed, pam_error, root_refused};
use noise::{bad_version, drop_connection, noise_from_start, refused, timeout};

pub(super) fn recognise(msg: &str) -> Option<AuthEvent<'_>> {
    let m = msg.trim_start();
    let m = m
        .strip_prefix("error: ")
        .or_else(|| m.strip_prefix("fatal: "))
        .unwrap_or(m);
    let (word, rest) = first_token(m);
    match word {
        "Accepted" => login(rest, true),
        "Failed" => login(rest, false),
        "Invalid" | "Illegal" => invalid_user(rest.strip_prefix("user ")?),
        "User" => not_allowed(rest),
        "Connection" => connection(rest),
        "Disconnected" => disconnected(rest.strip_prefix("from ")?),
        "Disconnecting" => disconnecting(rest),
        // The older `Disconnecting: <reason>` (the word takes the colon).
        "Disconnecting:" => disconnecting_colon(rest),
        "Received" => received_disconnect(rest.strip_prefix("disconnect from ")?),
        "maximum" => max_attempts(rest.strip_prefix("authentication attempts exceeded for ")?),
        "PAM:" => pam_error(rest),
        "PAM" => pam::more_failures(rest),
        "ROOT" => root_refused(rest.strip_prefix("LOGIN REFUSED FROM ")?),
        "Did" => noise_from_start(
            rest.strip_prefix("not receive identification string from ")?,
            "no identification string",
        ),
        "Bad" => bad_version(rest.strip_prefix("protocol version identification ")?),
        "banner" => noise_from_start(
            rest.strip_prefix("exchange: Connection from ")?,
            "invalid banner",
        ),
        "Unable" => noise_from_start(
            rest.strip_prefix("to negotiate with ")?,
            "key exchange negotiation failed",
        ),
        "Timeout" => timeout(rest.strip_prefix("before authentication for ")?),
        "ssh_dispatch_run_fatal:" => noise_from_start(
            rest.strip_prefix("Connection from ")?,
            "protocol error before authentication",
        ),
        "refused" => refused(rest.strip_prefix("connect from ")?),
        "drop" => drop_connection(rest.strip_prefix("connection #")?),
        "Magic" => {
            let (_, r) = rest.split_once(" handshake from ")?;
            noise_from_start(r, "obfuscated handshake failed")
        }
        _ if word.starts_with("pam_") => pam::recognise(m),
        _ => None,
    }
}

fn method_of(m: &str) -> Option<&'static str> {
    Some(match m {
        "password" => "password",
        "publickey" => "publickey",
        "keyboard-interactive" | "keyboard-interactive/pam" => "keyboard-interactive",
        "hostbased" => "hostbased",
        "gssapi-with-mic" => "gssapi-with-mic",
        "gssapi-keyex" => "gssapi-keyex",
        "none" => "none",
        _ => return None,
    })
}

fn strip_invalid(user: &str) -> (&str, bool) {
    match user
        .strip_prefix("invalid user ")
        .or_else(|| user.strip_prefix("illegal user "))
    {
        Some(u) => (u, true),
        None => (user, false),
    }
}
