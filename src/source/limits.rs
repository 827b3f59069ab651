//! Admission for stream listeners: how many connections one listener, one peer address
//! and all listeners together may hold, and the pool of read buffers they share.
//!
//! Why three caps: a per-listener cap bounds what one port can cost; a per-peer cap
//! keeps one host (or one attacker) from taking every slot of a listener; and the
//! process-wide [`DescriptorBudget`] is what is left of the descriptor limit after the
//! descriptors the journal, sealer, spool, shipper and status endpoint need are set
//! aside, so no amount of connections can make sealing fail with `EMFILE` (which used to
//! delay a seal past its heartbeat and made `verify` report a gap: a false tamper
//! signal any host that can reach a collector could manufacture).
//!
//! Connections over a cap are accepted and closed at once (with a reset), and counted:
//! leaving them in the kernel's backlog would make legitimate senders wait behind them.
//!
//! Memory: an idle connection holds no read buffer and no batch. A connection takes a
//! [`ReadSlot`] (a 64 KiB buffer) from the shared [`ReadPool`] only while it reads and
//! appends, and gives it back before waiting again, so the memory of many quiet
//! connections stays small and is returned when they close.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Descriptors kept back from stream connections for everything else the daemon opens:
/// journal files and readers, cursor and checkpoint temp files, spool files, directory
/// handles for fsync, archive puts, the status endpoint's own connections, the webhook,
/// the runtime's epoll and event descriptors, and standard I/O.
pub const RESERVED_DESCRIPTORS: u64 = 128;

/// Read buffers in flight at once over all stream connections.
pub const READ_SLOTS: usize = 64;

/// Limits of one stream listener (config keys `max_connections`,
/// `max_connections_per_peer`, `idle_timeout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_per_peer: usize,
    pub idle_timeout: Duration,
}

/// Connections all stream listeners may hold together: the descriptor limit minus
/// [`RESERVED_DESCRIPTORS`] and the listeners themselves.
#[derive(Clone, Debug)]
pub struct DescriptorBudget {
    permits: Arc<Semaphore>,
    total: usize,
}

impl DescriptorBudget {
    /// A budget of exactly `total` connections.
    pub fn new(total: usize) -> DescriptorBudget {
        let total = total.min(Semaphore::MAX_PERMITS);
        DescriptorBudget {
            permits: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// The budget left by a descriptor limit of `nofile` with `listeners` listening
    /// sockets (at least one connection, so a tiny limit degrades instead of refusing
    /// everything).
    pub fn for_limit(nofile: u64, listeners: usize) -> DescriptorBudget {
        let left = nofile
            .saturating_sub(RESERVED_DESCRIPTORS)
            .saturating_sub(listeners as u64)
            .max(1);
        DescriptorBudget::new(usize::try_from(left).unwrap_or(usize::MAX))
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// Takes one descriptor without waiting (a file source's open file), or `None`
    /// when the budget is spent: files held open count against it like connections.
    pub fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Connections holding a descriptor of the budget now.
    pub fn in_use(&self) -> usize {
        self.total - self.permits.available_permits().min(self.total)
    }
}

/// Raises the soft descriptor limit to the hard one (daemons are expected to; systemd
/// leaves the soft limit at 1024 for `select()`'s sake, which we do not use) and
/// returns the soft limit in force.
///
/// The limits are read from `/proc/self/limits` rather than with `getrlimit`: under the
/// unit's seccomp filter a refused `prlimit64` must be an error we can handle, and
/// rustix's `getrlimit` treats it as impossible. When nothing can be read, 1024 (the
/// usual default) is assumed, which only makes the connection budget conservative.
pub fn raise_descriptor_limit() -> u64 {
    let Some((soft, hard)) = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| parse_nofile(&t))
    else {
        return 1024;
    };
    if soft < hard {
        let raised = rustix::process::Rlimit {
            current: (hard != u64::MAX).then_some(hard),
            maximum: (hard != u64::MAX).then_some(hard),
        };
        if rustix::process::setrlimit(rustix::process::Resource::Nofile, raised).is_ok() {
            return hard;
        }
    }
    soft
}

/// `(soft, hard)` of the "Max open files" row of `/proc/<pid>/limits` ("unlimited" is
/// `u64::MAX`).
fn parse_nofile(text: &str) -> Option<(u64, u64)> {
    let row = text.lines().find(|l| l.starts_with("Max open files"))?;
    let mut cols = row["Max open files".len()..].split_whitespace();
    let value = |s: &str| match s {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    };
    Some((value(cols.next()?)?, value(cols.next()?)?))
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The listener holds `max_connections`.
    Listener,
    /// This peer address holds `max_connections_per_peer`.
    Peer,
    /// All listeners together hold the descriptor budget.
    Descriptors,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Listener => "max_connections",
            Refusal::Peer => "max_connections_per_peer",
            Refusal::Descriptors => "descriptor budget",
        }
    }
}

/// Admission control of one listener.
#[derive(Debug)]
pub struct Gate {
    limits: ConnectionLimits,
    slots: Arc<Semaphore>,
    peers: Arc<Mutex<HashMap<IpAddr, usize>>>,
    budget: DescriptorBudget,
}

/// A connection's place; released when dropped.
#[derive(Debug)]
pub struct Admission {
    _slot: OwnedSemaphorePermit,
    _budget: OwnedSemaphorePermit,
    peer: IpAddr,
    peers: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = peers.get_mut(&self.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                peers.remove(&self.peer);
            }
        }
    }
}

impl Gate {
    pub fn new(limits: ConnectionLimits, budget: DescriptorBudget) -> Gate {
        Gate {
            slots: Arc::new(Semaphore::new(
                limits.max_connections.min(Semaphore::MAX_PERMITS),
            )),
            limits,
            peers: Arc::new(Mutex::new(HashMap::new())),
            budget,
        }
    }

    pub fn limits(&self) -> ConnectionLimits {
        self.limits
    }

    /// Admits a connection from `peer`, or says which cap it hits. Never waits.
    pub fn admit(&self, peer: IpAddr) -> Result<Admission, Refusal> {
        let slot = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Listener)?;
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        let held = peers.get(&peer).copied().unwrap_or(0);
        if held >= self.limits.max_per_peer {
            return Err(Refusal::Peer);
        }
        let budget = self
            .budget
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Descriptors)?;
        peers.insert(peer, held + 1);
        drop(peers);
        Ok(Admission {
            _slot: slot,
            _budget: budget,
            peer,
            peers: self.peers.clone(),
        })
    }
}

/// Bytes of one read buffer (a UDP datagram never exceeds it either).
pub const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Read buffers shared by every stream connection: at most [`READ_SLOTS`] are in use at
/// once, which bounds the memory of reading however many connections are open.
#[derive(Debug)]
pub struct ReadPool {
    slots: Arc<Semaphore>,
    free: Mutex<Vec<Box<[u8]>>>,
}

/// A read buffer lent by the pool; returned on drop.
#[derive(Debug)]
pub struct ReadSlot {
    _permit: OwnedSemaphorePermit,
    buf: Option<Box<[u8]>>,
    pool: Arc<ReadPool>,
}

impl ReadSlot {
    pub fn buf(&mut self) -> &mut [u8] {
        self.buf.get_or_insert_with(new_buffer)
    }
}

fn new_buffer() -> Box<[u8]> {
    vec![0u8; READ_BUFFER_BYTES].into_boxed_slice()
}

impl Drop for ReadSlot {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            let mut free = self
                .pool
                .free
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            free.push(buf);
        }
    }
}

impl ReadPool {
    pub fn new(slots: usize) -> Arc<ReadPool> {
        Arc::new(ReadPool {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            free: Mutex::new(Vec::new()),
        })
    }

    /// Waits for a free slot. Fails only if the pool was closed (never, today).
    pub async fn acquire(self: &Arc<Self>) -> Option<ReadSlot> {
        let permit = self.slots.clone().acquire_owned().await.ok()?;
        let buf = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        Some(ReadSlot {
            _permit: permit,
            buf,
            pool: self.clone(),
        })
    }

    /// Buffers allocated and idle in the pool (for tests and metrics).
    pub fn idle_buffers(&self) -> usize {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_peer: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: max,
            max_per_peer: per_peer,
            idle_timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn each_cap_refuses_and_releases() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let c: IpAddr = "192.0.2.3".parse().unwrap();
        let budget = DescriptorBudget::new(4);
        let gate = Gate::new(limits(3, 2), budget.clone());
        let a1 = gate.admit(a).unwrap();
        let a2 = gate.admit(a).unwrap();
        assert_eq!(gate.admit(a).unwrap_err(), Refusal::Peer);
        let b1 = gate.admit(b).unwrap();
        assert_eq!(gate.admit(c).unwrap_err(), Refusal::Listener);
        // Another listener shares the budget: 3 of 4 are taken.
        let other = Gate::new(limits(10, 10), budget.clone());
        let o1 = other.admit(c).unwrap();
        assert_eq!(other.admit(c).unwrap_err(), Refusal::Descriptors);
        assert_eq!(budget.in_use(), 4);
        drop(a1);
        let o2 = other.admit(c).unwrap();
        assert_eq!(gate.admit(a).unwrap_err(), Refusal::Descriptors);
        drop(o2);
        let a3 = gate.admit(a).unwrap();
        drop((a2, a3, b1, o1));
        assert_eq!(budget.in_use(), 0);
        assert!(
            gate.peers.lock().unwrap().is_empty(),
            "peer counts return to zero"
        );
        // A refusal by the peer cap must not leak a listener slot.
        let _x = [gate.admit(a).unwrap(), gate.admit(a).unwrap()];
        for _ in 0..10 {
            assert_eq!(gate.admit(a).unwrap_err(), Refusal::Peer);
        }
        assert!(gate.admit(b).is_ok());
    }

    #[test]
    fn the_descriptor_limit_is_read_from_proc() {
        let text =
            "Limit                     Soft Limit           Hard Limit           Units     \n\
Max cpu time              unlimited            unlimited            seconds   \n\
Max open files            1024                 524288               files     \n";
        assert_eq!(parse_nofile(text), Some((1024, 524_288)));
        assert_eq!(
            parse_nofile(
                "Max open files            unlimited            unlimited            files"
            ),
            Some((u64::MAX, u64::MAX))
        );
        assert_eq!(parse_nofile("garbage"), None);
        let here = std::fs::read_to_string("/proc/self/limits").unwrap();
        assert!(parse_nofile(&here).is_some(), "{here}");
    }

    #[test]
    fn budget_leaves_the_reserve() {
        assert_eq!(DescriptorBudget::for_limit(1024, 2).total(), 1024 - 128 - 2);
        assert_eq!(DescriptorBudget::for_limit(100, 2).total(), 1);
    }

    #[tokio::test]
    async fn read_slots_are_bounded_and_recycled() {
        let pool = ReadPool::new(2);
        let mut s1 = pool.acquire().await.unwrap();
        let mut s2 = pool.acquire().await.unwrap();
        assert_eq!(s1.buf().len(), READ_BUFFER_BYTES);
        s2.buf()[0] = 7;
        let third = tokio::time::timeout(Duration::from_millis(50), pool.acquire()).await;
        assert!(third.is_err(), "a third slot must wait");
        drop(s2);
        assert_eq!(pool.idle_buffers(), 1);
        let s3 = pool.acquire().await.unwrap();
        assert_eq!(pool.idle_buffers(), 0, "the freed buffer is reused");
        drop((s1, s3));
        assert_eq!(pool.idle_buffers(), 2);
    }
}
