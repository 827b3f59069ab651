//! Connections written from OpenSSH's order of lines (auth2.c, auth.c, auth-pam.c,
//! packet.c): every line of one connection under the monitor's pid.

use std::net::IpAddr;

use super::super::{recognise, AuthEvent, Outcome};
use super::{Connections, FromConnection};

const SEC: i64 = 1_000_000_000;

fn ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

/// Runs `lines` (`(pid, message)`, one second apart) from host `h` through one table.
fn run(c: &mut Connections, h: &str, lines: &[(u32, &str)]) -> Vec<AuthEvent<'static>> {
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, &(pid, m))| {
            let mut ev = recognise("sshd", Some(pid), m)?.into_owned();
            c.apply(Some(h), i as i64 * SEC, &mut ev);
            Some(ev)
        })
        .collect()
}

#[test]
fn pam_line_of_an_invalid_user_gets_the_user() {
    let evs = run(
        &mut Connections::new(),
        "web1",
        &[
            (4100, "Invalid user oracle from 203.0.113.50 port 40100"),
            (4100, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.50"),
            (4100, "Failed password for invalid user oracle from 203.0.113.50 port 40100 ssh2"),
        ],
    );
    let pam = &evs[1];
    assert_eq!(pam.action, "pam_auth_failure");
    assert_eq!(
        (pam.user_name(), pam.source_ip),
        (Some("oracle"), ip("203.0.113.50"))
    );
    assert_eq!(
        pam.from_connection,
        FromConnection {
            source: false,
            user: true
        }
    );
    // Lines with their own facts are untouched.
    assert!(evs[0].from_connection.is_empty() && evs[2].from_connection.is_empty());
}

#[test]
fn too_many_failures_gets_the_source_and_user() {
    let mut lines = vec![
        (
            4200,
            "Failed password for root from 203.0.113.51 port 40200 ssh2"
        );
        3
    ];
    lines.push((4200, "error: maximum authentication attempts exceeded for root from 203.0.113.51 port 40200 ssh2 [preauth]"));
    lines.push((
        4200,
        "Disconnecting: Too many authentication failures [preauth]",
    ));
    let evs = run(&mut Connections::new(), "web1", &lines);
    let last = &evs[4];
    assert_eq!(last.action, "ssh_max_auth_attempts");
    assert_eq!(
        (last.user_name(), last.source_ip, last.source_port),
        (Some("root"), ip("203.0.113.51"), Some(40200))
    );
    assert_eq!(
        last.from_connection,
        FromConnection {
            source: true,
            user: true
        }
    );
    assert_eq!((last.outcome, last.attempts), (Outcome::Failure, 0));
    // The older form names the user itself: only the source is filled.
    let evs = run(
        &mut Connections::new(),
        "web1",
        &[
            (
                4201,
                "Failed password for admin from 203.0.113.52 port 1 ssh2",
            ),
            (
                4201,
                "Disconnecting: Too many authentication failures for admin [preauth]",
            ),
        ],
    );
    assert_eq!(
        evs[1].from_connection,
        FromConnection {
            source: true,
            user: false
        }
    );
    assert_eq!(evs[1].source_ip, ip("203.0.113.52"));
    // Repeated lines are filled as one.
    let evs = run(
        &mut Connections::new(),
        "web1",
        &[
            (4202, "Failed password for admin from 203.0.113.53 port 1 ssh2"),
            (4202, "message repeated 2 times: [ Disconnecting: Too many authentication failures [preauth]]"),
        ],
    );
    assert_eq!(evs[1].source_ip, ip("203.0.113.53"));
}

#[test]
fn locked_accounts_get_the_source() {
    let evs = run(
        &mut Connections::new(),
        "web1",
        &[
            (4300, "Failed password for root from 203.0.113.54 port 2 ssh2"),
            (4300, "pam_faillock(sshd:auth): Consecutive login failures for user root account temporarily locked"),
            (4300, "User root not allowed because account is locked"),
        ],
    );
    for ev in &evs[1..] {
        assert_eq!(ev.source_ip, ip("203.0.113.54"), "{}", ev.action);
        assert!(ev.from_connection.source);
        assert_eq!(ev.user_name(), Some("root"));
    }
    assert_eq!(evs[2].reason, Some("account locked"));
}

#[test]
fn an_ambiguous_line_gets_the_connections_source() {
    let evs = run(
        &mut Connections::new(),
        "web1",
        &[
            (4400, "Failed publickey for root from 10.0.0.2 port 22 ssh2: RSA SHA256:aa"),
            (4400, "Failed hostbased for root from 10.0.0.2 port 22 ssh2: RSA SHA256:aa, client user \"u\", client host \"h from 6.6.6.6 port 1 ssh2: RSA SHA256:bb, client user \"a\", client host \"b\""),
        ],
    );
    assert_eq!(
        (evs[1].source_ip, evs[1].user_name()),
        (ip("10.0.0.2"), Some("root"))
    );
    assert_eq!(
        evs[1].from_connection,
        FromConnection {
            source: true,
            user: true
        }
    );
}

#[test]
fn accepted_after_pam_failures_of_another_user() {
    let evs = run(
        &mut Connections::new(),
        "web1",
        &[
            (4500, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.55  user=alice"),
            (4500, "Accepted password for bob from 203.0.113.55 port 3 ssh2"),
            (4500, "Disconnecting: Too many authentication failures [preauth]"),
        ],
    );
    // The accepted line keeps its own user; the connection's user is now bob.
    assert_eq!(
        (evs[1].user_name(), evs[1].outcome),
        (Some("bob"), Outcome::Success)
    );
    assert!(evs[1].from_connection.is_empty());
    assert_eq!(evs[2].user_name(), Some("bob"));
}

#[test]
fn connections_are_kept_apart() {
    let mut c = Connections::new();
    // Another host, the same pid.
    run(
        &mut c,
        "web1",
        &[(4600, "Invalid user a from 203.0.113.56 port 4")],
    );
    let evs = run(
        &mut c,
        "web2",
        &[(
            4600,
            "Disconnecting: Too many authentication failures [preauth]",
        )],
    );
    assert_eq!((evs[0].source_ip, evs[0].user_name()), (None, None));
    // The end of a connection forgets it: a reused pid starts afresh.
    let evs = run(
        &mut c,
        "web1",
        &[
            (4601, "Invalid user b from 203.0.113.57 port 5"),
            (
                4601,
                "Disconnected from invalid user b 203.0.113.57 port 5 [preauth]",
            ),
            (
                4601,
                "Disconnecting: Too many authentication failures [preauth]",
            ),
        ],
    );
    assert_eq!(evs[2].source_ip, None);
    // A line with another address is another connection: the old user is not carried.
    let evs = run(
        &mut c,
        "web1",
        &[
            (4602, "Invalid user c from 203.0.113.58 port 6"),
            (4602, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.1"),
        ],
    );
    assert_eq!(
        (evs[1].user_name(), evs[1].source_ip),
        (None, ip("198.51.100.1"))
    );
    // Not sshd: no connection.
    let mut ev = recognise("sudo", Some(4602), "pam_unix(sudo:auth): authentication failure; logname=bob uid=1000 euid=0 tty=/dev/pts/0 ruser=bob rhost=  user=bob").unwrap();
    c.apply(Some("web1"), 0, &mut ev);
    assert!(ev.from_connection.is_empty() && ev.source_ip.is_none());
}

#[test]
fn quiet_connections_are_forgotten() {
    let mut c = Connections::new();
    let mut first = recognise(
        "sshd",
        Some(4700),
        "Invalid user d from 203.0.113.59 port 7",
    )
    .unwrap();
    c.apply(Some("web1"), 0, &mut first);
    let late = "Disconnecting: Too many authentication failures [preauth]";
    let mut ev = recognise("sshd", Some(4700), late).unwrap();
    c.apply(Some("web1"), Connections::TTL_NS + SEC, &mut ev);
    assert_eq!(ev.source_ip, None);
}

#[test]
fn memory_is_bounded_and_recent_connections_survive_a_flood() {
    let mut c = Connections::new();
    let flood = Connections::CAPACITY as u32 * 10;
    for pid in 0..flood {
        let msg = format!(
            "Invalid user u{pid} from 198.51.{}.{} port 9",
            pid / 256 % 256,
            pid % 256
        );
        let mut ev = recognise("sshd", Some(pid), &msg).unwrap().into_owned();
        c.apply(Some("web1"), i64::from(pid), &mut ev);
    }
    assert_eq!(c.slots.len(), Connections::CAPACITY);
    let mut ev = recognise(
        "sshd",
        Some(flood - 1),
        "Disconnecting: Too many authentication failures [preauth]",
    )
    .unwrap();
    c.apply(Some("web1"), i64::from(flood), &mut ev);
    assert_eq!(
        ev.user_name().map(str::to_string),
        Some(format!("u{}", flood - 1))
    );
    // A user name too long to keep is not remembered (never truncated).
    let long = "x".repeat(super::USER_MAX + 1);
    let msg = format!("Invalid user {long} from 203.0.113.60 port 8");
    let mut ev = recognise("sshd", Some(1), &msg).unwrap().into_owned();
    c.apply(Some("web9"), 0, &mut ev);
    let mut ev = recognise(
        "sshd",
        Some(1),
        "Disconnecting: Too many authentication failures [preauth]",
    )
    .unwrap();
    c.apply(Some("web9"), 1, &mut ev);
    assert_eq!((ev.user_name(), ev.source_ip), (None, ip("203.0.113.60")));
}
