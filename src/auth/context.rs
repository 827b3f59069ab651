//! What the other lines of the same SSH connection said: a bounded table from
//! (host, sshd pid) to the connection's source address and user.
//!
//! Some sshd lines name neither: `User root not allowed because account is locked`,
//! `Disconnecting: Too many authentication failures [for root]`, a
//! `pam_unix(sshd:auth)` failure whose `user=` is empty because the user is unknown, a
//! `Failed` line whose source was [ambiguous](super::util::LoginTail::Ambiguous).
//! OpenSSH logs every line of one connection under the pid of that connection's
//! monitor process (the unprivileged child's lines are relayed through it, hence
//! `[preauth]`), and the connection's earlier lines (`Invalid user U from A port P`,
//! `Failed password for U from A ...`, the PAM line's `rhost=`) did name them. So
//! [`Connections::apply`] fills what a line lacks from what that pid's earlier lines
//! said, and marks what it filled in [`AuthEvent::from_connection`].
//!
//! Only facts a line *lacks* are filled: a line's own address or user always wins, and
//! a line with its own address that differs from the remembered one starts a new
//! connection (the pid was reused). A connection is forgotten when its end is logged
//! (`Connection closed`, `Disconnected from`, `Received disconnect`) or when it has been
//! quiet for [`Connections::TTL_NS`] (pre-authentication lasts at most sshd's
//! `LoginGraceTime`, 2 minutes by default). Later lines cannot change an event already
//! made; the detector links them per connection itself (see [`super::Link`]).
//!
//! Memory is fixed: [`Connections::CAPACITY`] slots of about 90 bytes with their keys (a user name of
//! at most [`USER_MAX`] bytes is kept inline; a longer one is not remembered), in sets
//! of [`WAYS`]; a full set replaces its least recently used slot. A flood of
//! connections thus costs nothing more and only evicts old, quiet ones.

use std::borrow::Cow;
use std::net::IpAddr;

use super::{AuthEvent, Category, Link, Origin};

/// Longest user name remembered (Linux allows 32 bytes).
pub const USER_MAX: usize = 32;
/// Slots per set.
pub const WAYS: usize = 4;

/// Which facts of an event came from earlier lines of its connection, not its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FromConnection {
    /// `source.ip` (and `source.port` when the line had none).
    pub source: bool,
    /// `user.name`.
    pub user: bool,
}

impl FromConnection {
    /// Nothing was filled.
    pub fn is_empty(self) -> bool {
        !self.source && !self.user
    }

    /// The ECS names of the filled fields, for `sealtrail.auth.from_connection`.
    pub fn fields(self) -> impl Iterator<Item = &'static str> {
        [(self.source, "source.ip"), (self.user, "user.name")]
            .into_iter()
            .filter_map(|(set, name)| set.then_some(name))
    }
}

/// What is remembered of one connection. Its key and age live apart, in
/// [`Connections::keys`] and [`Connections::used`], so a lookup reads one cache line of
/// keys for a set and then only the slot it finds.
#[derive(Clone, Copy)]
struct Slot {
    /// When the connection last logged a line (the event's time).
    last_ns: i64,
    ip: Option<IpAddr>,
    port: Option<u16>,
    user_len: u8,
    user: [u8; USER_MAX],
}

const EMPTY: Slot = Slot {
    last_ns: 0,
    ip: None,
    port: None,
    user_len: 0,
    user: [0; USER_MAX],
};

impl Slot {
    /// Forgets the connection's facts (the user bytes are dead once `user_len` is 0).
    fn forget(&mut self) {
        self.ip = None;
        self.port = None;
        self.user_len = 0;
    }

    fn user(&self) -> Option<&str> {
        let u = self.user.get(..usize::from(self.user_len))?;
        std::str::from_utf8(u).ok().filter(|u| !u.is_empty())
    }

    fn set_user(&mut self, user: &str) {
        match u8::try_from(user.len()) {
            Ok(n) if user.len() <= USER_MAX => {
                self.user[..user.len()].copy_from_slice(user.as_bytes());
                self.user_len = n;
            }
            // Too long to keep inline: better unknown than a truncated name.
            _ => self.user_len = 0,
        }
    }
}

/// The per-connection table. See the module docs.
pub struct Connections {
    /// Hash of (host, pid) per slot; 0 is a free slot. Sets of [`WAYS`] in a row.
    keys: Box<[u64]>,
    /// When each slot was last used (a counter), for replacing the least recent.
    used: Box<[u32]>,
    slots: Box<[Slot]>,
    tick: u32,
}

impl Default for Connections {
    fn default() -> Self {
        Self::new()
    }
}

impl Connections {
    /// Connections remembered at once (1024 × ~76 bytes: about 76 KiB).
    pub const CAPACITY: usize = 1024;
    /// A connection quiet for this long is forgotten (10 minutes: five times sshd's
    /// default `LoginGraceTime`).
    pub const TTL_NS: i64 = 600 * 1_000_000_000;

    pub fn new() -> Self {
        Connections {
            keys: vec![0; Self::CAPACITY].into_boxed_slice(),
            used: vec![0; Self::CAPACITY].into_boxed_slice(),
            slots: vec![EMPTY; Self::CAPACITY].into_boxed_slice(),
            tick: 0,
        }
    }

    /// Fills what `ev` lacks from the earlier lines of its connection and remembers what
    /// it says. `host` is the line's host name (pids of different hosts are different
    /// processes), `time_ns` the event's time. Only sshd's own lines and the PAM lines
    /// of its `sshd` service take part, whatever program name the header gave.
    pub fn apply(&mut self, host: Option<&str>, time_ns: i64, ev: &mut AuthEvent<'_>) {
        let sshd = ev.action.starts_with("ssh_") || ev.service.as_deref() == Some("sshd");
        if !sshd || ev.origin != Origin::Log {
            return;
        }
        let Some(pid) = ev.pid else {
            return;
        };
        let key = key_of(host.unwrap_or(""), pid);
        let (i, found) = self.find(key);
        let mut known = found;
        let slot = &mut self.slots[i];
        if known && time_ns.saturating_sub(slot.last_ns) > Self::TTL_NS {
            known = false;
        }
        if known {
            if let (Some(mine), Some(was)) = (ev.source_ip, slot.ip) {
                // Another connection under a reused pid.
                known = mine == was;
            }
        }
        if !known {
            slot.forget();
        }
        let own_source = ev.source_ip.is_some() || ev.source_domain.is_some();
        if known && ev.category == Category::Authentication {
            if !own_source {
                if let Some(ip) = slot.ip {
                    ev.source_ip = Some(ip);
                    ev.source_port = ev.source_port.or(slot.port);
                    ev.from_connection.source = true;
                }
            }
            if ev.user_name().is_none() && ev.link != Link::Succeeded {
                if let Some(u) = slot.user() {
                    ev.user = Some(Cow::Owned(u.to_string()));
                    ev.from_connection.user = true;
                }
            }
        }
        if matches!(ev.action, "ssh_disconnect" | "ssh_auth_abandoned") {
            // The connection's end: forget it.
            if found {
                self.keys[i] = 0;
            }
            return;
        }
        if !known && !own_source && ev.user_name().is_none() {
            if found {
                self.keys[i] = 0;
            }
            return; // nothing to remember
        }
        self.tick = self.tick.wrapping_add(1);
        self.keys[i] = key;
        self.used[i] = self.tick;
        slot.last_ns = time_ns;
        if !ev.from_connection.source {
            if let Some(ip) = ev.source_ip {
                slot.ip = Some(ip);
                slot.port = ev.source_port;
            }
        }
        if !ev.from_connection.user {
            if let Some(u) = ev.user_name() {
                slot.set_user(u);
            }
        }
    }

    /// The slot for `key` and whether it holds `key`: its own if present, else a free
    /// one or the least recently used of its set.
    fn find(&self, key: u64) -> (usize, bool) {
        let sets = self.keys.len() / WAYS;
        let set = usize::try_from(key % sets as u64).unwrap_or(0) * WAYS;
        let (mut pick, mut best) = (set, None);
        for i in set..set + WAYS {
            let k = self.keys[i];
            if k == key {
                return (i, true);
            }
            // A free slot first, else the one unused for longest (ages wrap with the tick).
            let age = if k == 0 {
                u32::MAX
            } else {
                self.tick.wrapping_sub(self.used[i])
            };
            if best.is_none_or(|b| age > b) {
                (pick, best) = (i, Some(age));
            }
        }
        (pick, false)
    }
}

/// A hash of the host name and the pid, eight bytes at a time (this runs for every sshd
/// line); never 0 (the free slot's key). Not for adversaries: a collision only mixes
/// up two connections' context for a moment, and the pid and address checks catch most.
fn key_of(host: &str, pid: u32) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = u64::from(pid) ^ (host.len() as u64).rotate_left(32);
    let mut chunks = host.as_bytes().chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K);
        h ^= h >> 29;
    }
    let mut w = [0u8; 8];
    let rest = chunks.remainder();
    w[..rest.len()].copy_from_slice(rest);
    h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K);
    h ^= h >> 32;
    h.max(1)
}

#[cfg(test)]
mod tests;
