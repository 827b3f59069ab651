//! Recognise authentication-related log messages (sshd, PAM, sudo, su, login,
//! systemd-logind, auditd) and turn them into [`AuthEvent`]s with ECS semantics.
//!
//! The recogniser is a pure function of the already-parsed program name, pid and
//! message text: no clock, no state, no allocation except where a field has to be
//! decoded (auditd hex). Matching is hand-written (`str` methods), anchored on the
//! fixed text the daemons print, and addresses are taken from the *right* end of
//! lines whose left part carries client-chosen text (usernames): a username such as
//! `x from 5.6.7.8 port 1` can never become the source address (the way sshguard's
//! grammar anchors the tail). Where client text stands on *both* sides of the server's
//! address (sshd's auth-info after `sshN: `: a certificate's key id, hostbased's client
//! user and host, ssh1's `ruser`), every reading is checked, and a line that reads two
//! ways with two addresses gives neither source nor user (`event.reason = "ambiguous
//! source"`): an address inside auth-info never becomes the source.
//!
//! Other systems' headers that the syslog parser leaves in the message (`journalctl -o
//! short-precise`, macOS `log show`, BusyBox and FreeBSD `syslogd -v`, socklog,
//! Solaris message ids, kernel uptime stamps) are unwrapped first (`banner`), and only
//! when they name a program recognised here.
//!
//! # Where the address comes from
//!
//! From the line itself, always. Some sshd lines have none (`Disconnecting: Too many
//! authentication failures`, `User U not allowed because account is locked`, an
//! ambiguous line) or no user (the PAM line of an unknown user): [`Connections`], a
//! bounded table of what each sshd process's (one connection's) earlier lines said,
//! fills those in the decode step and marks them in [`AuthEvent::from_connection`]. The
//! detector sees them; the sealed line does not carry them. The table holds 1024
//! connections (about 90 KiB, least recently used replaced), and forgets one at its end
//! or after 10 quiet minutes; a later line cannot change an event already made.
//!
//! # Counting attempts ("count it once")
//!
//! One failed SSH password attempt shows up as several lines (PAM, sshd, sometimes
//! auditd). [`AuthEvent::attempts`] says how many attempts a line stands for *on its
//! own*; [`AuthEvent::link`] says how it relates to the other lines of the same
//! connection so the detector can refine the count per connection (pid + address):
//!
//! | line | attempts | link |
//! |---|---|---|
//! | `Failed password/keyboard-interactive/... for [invalid user] U from A[ port P][ sshN]` | 1 | `Failed` |
//! | `Failed none` / `Failed publickey` / `Failed hostbased` (method probe, key offers; fail2ban normal mode) | 0 | `Failed` |
//! | `Invalid user U from A`, `User U [from A] not allowed because ...` | 1 | `Opens` |
//! | sshd `error: PAM: Authentication failure for U from A[ via L]` (keyboard-interactive) | 1 | `PamError` |
//! | `pam_unix(sshd:auth)`, `(sudo:auth)`, `(su:auth)`, `(login:auth)` failure, also the pre-0.99 `su(pam_unix)` form | 0 (the service logs its own line) | none |
//! | `pam_unix(<other service>:auth)` failure (cockpit, dovecot, ...) | 1 | none |
//! | `Connection closed/reset by`, `Disconnected from`/`Disconnecting` authenticating/invalid user, `maximum authentication attempts exceeded` | 0 | `Closes` (counts 1 if nothing else of that connection did) |
//! | `Disconnecting: Too many authentication failures [for U]` (OpenSSH < 7) | 0 (each failure was logged) | none |
//! | `Received disconnect from A[ port P]:N: text` (N and text are the client's: 3 "key exchange failed" from JSch's "Auth fail", 14 "no more auth methods available" when a client gives up, also after key offers only) | 0, the code's name in `event.reason` | none |
//! | sudo `N incorrect password attempts` | N | none |
//! | `FAILED SU`, BSD `BAD SU`, `FAILED su for`, `FAILED LOGIN` | 1 | none |
//! | auditd records | count if auditd were the only source (see [`Origin::Audit`]) | none |
//!
//! rsyslog's `message repeated N times: [ ... ]` multiplies the inner line's attempts by N.
//!
//! # Who is who
//!
//! `user.name` is who acted, `user.target.name` whom they became: for su (util-linux,
//! shadow, BSD) the caller and the target account; for `pam_unix(su:auth)` `ruser=`
//! (else `logname=`) and `user=`. `user.id` is the caller's `uid=` only where the
//! caller is `user.name` (su, sudo); sshd's and login's `uid=` is their own process's.
//!
//! # Action vocabulary (`event.action`, stable)
//!
//! sshd: `ssh_login` (Accepted/Failed), `ssh_invalid_user`, `ssh_user_not_allowed`,
//! `ssh_pam_failure`, `ssh_max_auth_attempts`, `ssh_auth_abandoned` (closed/disconnected
//! while authenticating), `ssh_disconnect`, `ssh_connection_failed` (pre-auth protocol
//! noise: no identification string, negotiation failure, banner, timeout, tcp wrappers,
//! penalty, obfuscated-handshake patch). PAM: `pam_auth_failure`, `pam_account_locked`, `session_opened`,
//! `session_closed`. sudo: `sudo_command`, `sudo_auth_failure`, `sudo_not_in_sudoers`,
//! `sudo_command_denied`. su: `su`. login: `login`. systemd-logind: `session_new`,
//! `session_removed`. auditd (Auditbeat's names): `authenticated`, `was-authorized`,
//! `acquired-credentials`, `disposed-credentials`, `refreshed-credentials`,
//! `started-session`, `ended-session`, `logged-in`, `logged-out`, `ran-command`,
//! `changed-login-id`, `error`.

use std::borrow::Cow;
use std::net::IpAddr;

pub use context::{Connections, FromConnection};

mod audit;
mod banner;
mod context;
mod login;
mod pam;
mod ssh;
mod sudo;
mod util;
pub mod watch;

/// ECS `event.category`: an enum so the detector can match on it, with the ECS array
/// it stands for from [`Category::ecs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// `["authentication"]`: credentials checked.
    Authentication,
    /// `["authentication", "session"]`: a login that opens a session (sshd Accepted).
    Login,
    /// `["session"]`: session bookkeeping (PAM session, logind).
    Session,
    /// `["process"]`: a command run with privileges (sudo, auditd USER_CMD).
    Process,
    /// `["network"]`: pre-authentication connection noise from sshd.
    Network,
}

impl Category {
    /// The ECS `event.category` array.
    pub fn ecs(self) -> &'static [&'static str] {
        match self {
            Category::Authentication => &["authentication"],
            Category::Login => &["authentication", "session"],
            Category::Session => &["session"],
            Category::Process => &["process"],
            Category::Network => &["network"],
        }
    }
}

/// ECS `event.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Unknown,
}

impl Outcome {
    /// The ECS `event.outcome` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Unknown => "unknown",
        }
    }
}

/// How a line relates to the other lines of the same SSH connection (same pid and
/// source address), so the detector counts one attempt once. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Not part of a per-connection sequence.
    None,
    /// Announces a doomed login (`Invalid user`, `not allowed`): counts one attempt; the
    /// connection's next failure line is that same attempt.
    Opens,
    /// sshd's own PAM error line, logged before the `Failed` line of the same attempt.
    PamError,
    /// A `Failed <method>` line.
    Failed,
    /// The connection ended while authenticating: one attempt if nothing else counted.
    Closes,
    /// A successful login ends the connection's failure bookkeeping.
    Succeeded,
}

/// Which kind of source the line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A daemon's own log line (syslog, journal, file).
    Log,
    /// A Linux audit record. These mirror what sshd/PAM also log, so by default the
    /// detector does not count them (see `DetectConfig::from_audit`); `attempts` is what
    /// the record would count if auditd were the only source.
    Audit,
}

/// One recognised authentication-related line. Borrowed from the message where
/// possible; [`AuthEvent::into_owned`] detaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEvent<'a> {
    /// ECS `event.category`.
    pub category: Category,
    /// ECS `event.type` (a static slice: no allocation per event).
    pub kind_type: &'static [&'static str],
    /// ECS `event.action`, from the documented vocabulary.
    pub action: &'static str,
    /// ECS `event.outcome`.
    pub outcome: Outcome,
    /// ECS `event.reason`: why, when the line says (e.g. `invalid user`).
    pub reason: Option<&'static str>,
    /// ECS `user.name`: the account authenticating or acting.
    pub user: Option<Cow<'a, str>>,
    /// ECS `user.target.name` (sudo `USER=`, su's target).
    pub target_user: Option<Cow<'a, str>>,
    /// ECS `user.id` where only a numeric id is known (auditd `auid`/`uid`).
    pub user_id: Option<u32>,
    /// ECS `source.ip` (IPv4-mapped IPv6 addresses are reported as IPv4).
    pub source_ip: Option<IpAddr>,
    /// ECS `source.port`.
    pub source_port: Option<u16>,
    /// ECS `source.domain` when the daemon logged a host name instead of an address.
    pub source_domain: Option<Cow<'a, str>>,
    /// Authentication method (`password`, `publickey`, `keyboard-interactive`, ...).
    pub method: Option<&'static str>,
    /// Attempts this line stands for on its own; see the module docs.
    pub attempts: u32,
    /// Relation to the other lines of the same connection.
    pub link: Link,
    /// ECS `process.pid` as given to [`recognise`] (or from the audit record).
    pub pid: Option<u32>,
    /// PAM service (`sshd`, `sudo`, ...) for PAM lines.
    pub service: Option<Cow<'a, str>>,
    /// Terminal (`pts/0`, `ssh`, `/dev/tty1`).
    pub tty: Option<Cow<'a, str>>,
    /// Working directory (sudo `PWD=`, auditd `cwd`).
    pub pwd: Option<Cow<'a, str>>,
    /// Command line (sudo `COMMAND=`, auditd `cmd`).
    pub command: Option<Cow<'a, str>>,
    /// Executable (auditd `exe`).
    pub exe: Option<Cow<'a, str>>,
    /// Session id (systemd-logind, auditd `ses`).
    pub session_id: Option<Cow<'a, str>>,
    /// Log line or audit record.
    pub origin: Origin,
    /// The facts that came from earlier lines of the same connection rather than this
    /// line ([`Connections`]); never set by [`recognise`] itself.
    pub from_connection: FromConnection,
}

impl<'a> AuthEvent<'a> {
    fn new(
        action: &'static str,
        category: Category,
        kind_type: &'static [&'static str],
        outcome: Outcome,
    ) -> Self {
        AuthEvent {
            category,
            kind_type,
            action,
            outcome,
            reason: None,
            user: None,
            target_user: None,
            user_id: None,
            source_ip: None,
            source_port: None,
            source_domain: None,
            method: None,
            attempts: 0,
            link: Link::None,
            pid: None,
            service: None,
            tty: None,
            pwd: None,
            command: None,
            exe: None,
            session_id: None,
            origin: Origin::Log,
            from_connection: FromConnection::default(),
        }
    }

    /// Copies the borrowed fields so the event outlives the message.
    pub fn into_owned(self) -> AuthEvent<'static> {
        fn own(c: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
            c.map(|c| Cow::Owned(c.into_owned()))
        }
        AuthEvent {
            category: self.category,
            kind_type: self.kind_type,
            action: self.action,
            outcome: self.outcome,
            reason: self.reason,
            user: own(self.user),
            target_user: own(self.target_user),
            user_id: self.user_id,
            source_ip: self.source_ip,
            source_port: self.source_port,
            source_domain: own(self.source_domain),
            method: self.method,
            attempts: self.attempts,
            link: self.link,
            pid: self.pid,
            service: own(self.service),
            tty: own(self.tty),
            pwd: own(self.pwd),
            command: own(self.command),
            exe: own(self.exe),
            session_id: own(self.session_id),
            origin: self.origin,
            from_connection: self.from_connection,
        }
    }

    /// `user.name` as `&str`, if any and not empty.
    pub fn user_name(&self) -> Option<&str> {
        self.user.as_deref().filter(|u| !u.is_empty())
    }

    /// Sets the source from a host token: an address goes to `source_ip`, a host name
    /// to `source_domain`.
    fn set_host(&mut self, host: &'a str) {
        if let Some(ip) = util::parse_ip(host) {
            self.source_ip = Some(ip);
        } else if util::is_hostname(host) {
            self.source_domain = Some(Cow::Borrowed(host));
        }
    }
}

/// ECS `event.type` values used by the recognisers.
pub(crate) mod types {
    pub const INFO: &[&str] = &["info"];
    pub const START: &[&str] = &["start"];
    pub const END: &[&str] = &["end"];
    pub const CONNECTION: &[&str] = &["connection"];
    pub const CONNECTION_END: &[&str] = &["connection", "end"];
}

/// Recognises one message. `program` is the syslog app name (`sshd`, `sshd-session`,
/// `sudo`, `su`, `login`, `systemd-logind`, `audit`, `kernel`, ... or empty when
/// unknown; a leading path is ignored), `pid` the process id if the line had one.
/// Returns `None` for lines that are not authentication-related.
pub fn recognise<'a>(program: &str, pid: Option<u32>, message: &'a str) -> Option<AuthEvent<'a>> {
    recognise_at(program, pid, message, 0)
}

fn recognise_at<'a>(
    program: &str,
    pid: Option<u32>,
    message: &'a str,
    depth: u8,
) -> Option<AuthEvent<'a>> {
    let (msg, times) = util::split_repeated(message);
    let msg = banner::strip_message_prefix(msg);
    let program = match memchr::memrchr(b'/', program.as_bytes()) {
        Some(i) => &program[i + 1..],
        None => program,
    };
    // `sshd[]:` (a tag with an empty pid) reaches us as the program `sshd[]`.
    let program = program.strip_suffix("[]").unwrap_or(program);
    // One `match` for every line; `is_known_program` lists the same programs.
    let mut ev = match program {
        "sshd" | "sshd-session" | "sshd-auth" => ssh::recognise(msg)?,
        "sudo" => sudo::sudo(msg)?,
        "su" | "su-l" => sudo::su(msg)?,
        "login" => login::login(msg)?,
        "systemd-logind" => login::logind(msg)?,
        "audit" | "auditd" | "kernel" | "audispd" | "audisp-syslog" | "audit-syslog" => {
            audit::recognise(msg)?
        }
        _ => {
            if let Some((svc, module)) = legacy_pam_ident(program) {
                pam::legacy(svc, module, msg)?
            } else if let Some((inner, inner_pid, rest)) =
                // Another system's header inside the message (see `banner`), once.
                banner::unwrap(program, msg).filter(|_| depth == 0)
            {
                return recognise_at(inner, inner_pid.or(pid), rest, 1).map(|mut ev| {
                    ev.attempts = ev.attempts.saturating_mul(times);
                    ev
                });
            } else if msg.starts_with("pam_") {
                pam::recognise(msg)?
            } else if program.is_empty() {
                unknown_program(msg)?
            } else {
                return None;
            }
        }
    };
    if ev.pid.is_none() {
        ev.pid = pid;
    }
    if times > 1 {
        ev.attempts = ev.attempts.saturating_mul(times);
    }
    Some(ev)
}

/// The programs `recognise` has a recogniser for (a syslog tag's name); keep the two
/// lists the same (a test checks them).
pub(crate) fn is_known_program(program: &str) -> bool {
    matches!(
        program,
        "sshd"
            | "sshd-session"
            | "sshd-auth"
            | "sudo"
            | "su"
            | "su-l"
            | "login"
            | "systemd-logind"
            | "audit"
            | "auditd"
            | "kernel"
            | "audispd"
            | "audisp-syslog"
            | "audit-syslog"
    )
}

/// Linux-PAM before 0.99 logged under the ident `<service>(<module>)`, e.g.
/// `su(pam_unix)[pid]: authentication failure; logname=...`.
fn legacy_pam_ident(program: &str) -> Option<(&str, &str)> {
    let (svc, module) = program.strip_suffix(')')?.split_once('(')?;
    (module.starts_with("pam_") && !svc.is_empty() && !svc.contains(['(', ' ']))
        .then_some((svc, module))
}

/// A message whose program is unknown (a raw line): auditd, PAM or sshd text.
fn unknown_program(msg: &str) -> Option<AuthEvent<'_>> {
    let m = msg.trim_start();
    if m.starts_with("type=") || m.starts_with("node=") || m.starts_with("audit") {
        audit::recognise(m)
    } else if m.starts_with("pam_") {
        pam::recognise(m)
    } else {
        ssh::recognise(m)
    }
}

#[cfg(test)]
mod tests;
