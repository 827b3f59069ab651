//! Headers and prefixes of other systems that reach the recogniser inside the message,
//! because the syslog parser did not take them as a header: the program is then empty
//! (a raw line) or something else (a host name, a facility), and the message starts
//! with what a standard header would have held.
//!
//! * `journalctl -o short-precise` (`Nov 22 10:00:00.123456 host sshd[1]: ...`): the
//!   parser stops at the fraction;
//! * macOS `log show --style syslog` (`2024-11-22 10:00:00.123456+0100 host sshd[1]:`)
//!   and the default style, whose columns are time, thread, type, activity, PID, TTL
//!   and `process: message`;
//! * BusyBox and FreeBSD `syslogd -v`, which put the facility and level before the tag
//!   (`host auth.info sshd[1]:`, `<4.6> host sshd[1]:`), socklog's `auth.info:` banner
//!   before a second header, a bare ISO time before a message, a tag whose pid is not
//!   followed by a colon (`sshd[1] error: ...`);
//! * in the message itself: Solaris's message id (`[ID 800047 auth.info] `) and a
//!   kernel-style uptime stamp before an audit record (`[12345.678901] audit: ...`).
//!
//! Only a tag naming a program the recogniser knows is taken, and only within the first
//! few tokens, after tokens that are times, levels, ids or a host name: nothing else
//! of the message is skipped, so a line is never read as another program's.

/// Strips a leading Solaris message id (`[ID 800047 auth.info] `) from a message: a
/// four-byte test for every other message.
pub(super) fn strip_message_prefix(msg: &str) -> &str {
    let Some(r) = msg.strip_prefix("[ID ") else {
        return msg;
    };
    // `[ID <n> <facility>.<level>]` (syslog(3C) with the msgid feature on Solaris).
    let Some((id, rest)) = super::util::split2(r, "] ") else {
        return msg;
    };
    let (n, level) = id.split_once(' ').unwrap_or((id, ""));
    if all_digits(n) && facility_level(level) {
        rest.trim_start()
    } else {
        msg
    }
}

/// Strips a kernel-style uptime stamp (`[ 1234.567890] `, as dmesg and some kernels'
/// syslog lines show it) before an audit record (`audit: ...`, `type=...`). Most kernel
/// lines carry such a stamp and are no audit record: for them this looks no further
/// than the stamp's end and the word after it.
pub(super) fn strip_uptime_before_audit(msg: &str) -> &str {
    let b = msg.as_bytes();
    if b.first() != Some(&b'[') {
        return msg;
    }
    let Some(close) = b.iter().take(24).position(|&c| c == b']') else {
        return msg;
    };
    let rest = msg[close + 1..].trim_start();
    if !(rest.starts_with("audit") || rest.starts_with("type=")) {
        return msg;
    }
    match msg[1..close].trim_start().split_once('.') {
        Some((s, f)) if all_digits(s) && all_digits(f) => rest,
        _ => msg,
    }
}

/// The program, pid and message of a header found inside `msg`; the program is empty
/// when only times and levels were found before the message. `None` when `msg` does
/// not start with such a header.
///
/// `program` is what the syslog parser took for the program. When it found one (a host
/// name, a facility, or simply another program: most lines of a busy host), only a tag
/// right at the start of the message is looked for, which costs one byte test for
/// ordinary messages; the whole banner is scanned only for lines it found no program
/// in.
pub(super) fn unwrap<'a>(program: &str, msg: &'a str) -> Option<(&'a str, Option<u32>, &'a str)> {
    if !program.is_empty() {
        // Known programs' names start with a lower-case letter and are short.
        let b = msg.as_bytes();
        if !b.first().is_some_and(u8::is_ascii_lowercase) {
            return None;
        }
        let end = b.iter().take(40).position(|&c| c == b' ')?;
        if !matches!(end.checked_sub(1).and_then(|i| b.get(i)), Some(b':' | b']')) {
            return None;
        }
        let (tok, after) = split_token(msg);
        return tag(tok).map(|(p, pid)| (p, pid, after));
    }
    let mut rest = msg.trim_start();
    let mut pid_column = None;
    let mut after_hex = false;
    for _ in 0..12 {
        let (tok, after) = split_token(rest);
        if tok.is_empty() {
            break;
        }
        if let Some((program, pid)) = tag(tok) {
            return Some((program, pid.or(pid_column), after));
        }
        if skippable(tok) {
            // macOS's default style: the PID column follows the activity id.
            if after_hex && pid_column.is_none() && all_digits(tok) {
                pid_column = tok.parse().ok();
            }
            after_hex = tok.starts_with("0x");
            rest = after;
            continue;
        }
        // A host name, then the tag.
        if tag(split_token(after).0).is_some() {
            rest = after;
            continue;
        }
        break;
    }
    (rest.len() < msg.trim_start().len()).then_some(("", None, rest))
}

/// The first token and what follows it (blanks skipped).
fn split_token(s: &str) -> (&str, &str) {
    match s.split_once(' ') {
        Some((t, r)) => (t, r.trim_start()),
        None => (s, ""),
    }
}

/// `prog[pid]:`, `prog:`, `prog[pid]` (rsyslog's template without the colon) or
/// `prog[]:`, for a program the recogniser knows.
fn tag(tok: &str) -> Option<(&str, Option<u32>)> {
    let t = tok.strip_suffix(':').unwrap_or(tok);
    let (program, pid) = match t.split_once('[') {
        Some((p, r)) => {
            let pid = r.strip_suffix(']')?;
            if pid.is_empty() {
                (p, None)
            } else {
                (p, Some(super::util::parse_u32(pid)?))
            }
        }
        None if t.len() < tok.len() => (t, None),
        None => return None,
    };
    super::is_known_program(program).then_some((program, pid))
}

/// Times, dates, levels, ids: what a header holds before its tag.
fn skippable(tok: &str) -> bool {
    let b = tok.as_bytes();
    let Some(&first) = b.first() else {
        return false;
    };
    match first {
        // 2024-11-22, 2024-11-22T10:00:00.123+0100, 10:00:00.123456, 12345.678901],
        // the PID and TTL columns, a day of the month.
        b'0'..=b'9' => {
            tok.starts_with("0x")
                || b.iter().all(|&c| {
                    c.is_ascii_digit()
                        || matches!(c, b'-' | b':' | b'.' | b'+' | b'T' | b'Z' | b']')
                })
        }
        // A fraction the syslog parser left behind (`.123456`).
        b'.' => b.len() > 1 && all_digits(&tok[1..]),
        // FreeBSD's `<facility.level>` / `<pri>`.
        b'<' => tok.ends_with('>'),
        // A kernel uptime stamp split at its blanks (`[  12.345678]`).
        b'[' => tok == "[" || all_digits(tok[1..].trim_end_matches(']').replace('.', "").as_str()),
        _ => {
            matches!(
                tok,
                "Jan" | "Feb" | "Mar" | "Apr" | "May" | "Jun" | "Jul" | "Aug" | "Sep" | "Oct"
                    | "Nov" | "Dec"
                    // macOS `log show` message types.
                    | "Default" | "Info" | "Debug" | "Error" | "Fault"
            ) || facility_level(tok.strip_suffix(':').unwrap_or(tok))
        }
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `auth.info`, `authpriv.notice`, `local3.err`: a syslog facility and level.
fn facility_level(s: &str) -> bool {
    let Some((f, l)) = s.split_once('.') else {
        return false;
    };
    let facility = matches!(
        f,
        "kern"
            | "user"
            | "mail"
            | "daemon"
            | "auth"
            | "syslog"
            | "lpr"
            | "news"
            | "uucp"
            | "cron"
            | "authpriv"
            | "ftp"
            | "security"
    ) || f
        .strip_prefix("local")
        .is_some_and(|n| matches!(n, "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7"));
    facility
        && matches!(
            l,
            "emerg"
                | "alert"
                | "crit"
                | "err"
                | "error"
                | "warn"
                | "warning"
                | "notice"
                | "info"
                | "debug"
        )
}

#[cfg(test)]
mod tests;
