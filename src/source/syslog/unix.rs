//! The local syslog socket: a unix datagram socket like `/dev/log`, where glibc's
//! `syslog(3)`, `logger -u` and Python's `SysLogHandler` write, or
//! `/run/systemd/journal/syslog`, where journald forwards (`ForwardToSyslog=yes`).
//!
//! One datagram is one message. Its line end is the sender's, not the message's: one
//! trailing NUL (Python's `SysLogHandler` appends one; glibc sends none over a
//! datagram socket, only over a stream one), then one LF (or CRLF) are removed; an
//! empty datagram is skipped; a longer one than `max_message_bytes` is truncated and
//! flagged, like UDP.
//!
//! Every datagram is read with `recvmsg` and `SCM_CREDENTIALS` (`SO_PASSCRED` is set),
//! so each record carries the pid, uid and gid of the sending process as the kernel
//! reports them: unlike the tag or `[pid]` in the text, a sender cannot forge them
//! (journald, which may, sends those of the process that logged).
//!
//! Backpressure: unlike UDP, a unix datagram socket slows its senders. When the
//! kernel's queue is full (`net.unix.max_dgram_qlen` datagrams) a blocking sender
//! (`syslog(3)`, `logger`, Python) waits in `send` until the listener reads again; a
//! non-blocking one gets `EAGAIN` and the loss is its own (journald counts it: "Forwarding
//! to syslog missed N messages"). Nothing is dropped on this side.
//!
//! The socket file: an existing *socket* at the path that nobody receives on (left by a
//! crash) is replaced; one that a live process receives on, and anything else (a
//! regular file, a directory, a symbolic link such as systemd's `/dev/log`) is a start
//! error and left alone. Missing parent directories are created (mode 0755: who may
//! send is the socket's own mode). The socket gets `mode` (default 0666, like
//! rsyslog's imuxsock and journald's `/dev/log`) and, if set, `group`; it is removed at
//! shutdown, before the queue is drained, so that senders learn at once that nobody
//! listens, and only while it is still the file this listener created.

use std::fmt;
use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

use super::datagram::{drain, Datagram, From};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use tokio::io::Interest;
use tokio::net::UnixDatagram;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::sink::Sink;
use super::{ListenerSpec, SourceError, SourceStats, BURST_LIMIT, SHUTDOWN_DRAIN_LIMIT};
use crate::journal::Journal;
use crate::record::PeerCred;

/// `mode` when none is configured: every local process may log, as with `/dev/log`.
pub const DEFAULT_MODE: u32 = 0o666;
/// Where `group = "name"` is looked up (no NSS: a group only LDAP knows needs its gid).
const GROUP_FILE: &str = "/etc/group";
/// Room after `max_message_bytes` in the receive buffer for a line end (NUL, CR, LF)
/// that is removed, so a message of exactly the maximum size is not truncated.
const LINE_END_ROOM: usize = 3;
/// Pause after a failed receive, so a persistent error does not spin.
const ERROR_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);
/// `sun_path` holds 108 bytes with the terminating NUL.
pub const MAX_PATH_BYTES: usize = 107;

/// Why the socket could not be set up (the daemon does not start).
#[derive(Debug, thiserror::Error)]
pub enum UnixError {
    #[error("{}: {what} is there, not a socket; it is left as it is (remove it, or choose another path)", path.display())]
    NotASocket { path: PathBuf, what: &'static str },
    #[error("{}: another process receives on this socket (a syslog daemon, or systemd's syslog.socket?); stop it, or choose another path", path.display())]
    InUse { path: PathBuf },
    #[error("{}: {action}: {error}", path.display())]
    Io {
        path: PathBuf,
        action: String,
        error: io::Error,
    },
}

/// `mode = "0660"`: the socket file's permission bits, an octal string (a TOML integer
/// would be read in decimal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketMode(pub u32);

impl std::str::FromStr for SocketMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let digits = s.strip_prefix("0o").unwrap_or(s);
        let bad = || format!("`{s}` is not an octal mode of permission bits such as \"0660\"");
        if digits.is_empty()
            || digits.len() > 4
            || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
        {
            return Err(bad());
        }
        let mode = u32::from_str_radix(digits, 8).map_err(|_| bad())?;
        if mode > 0o777 {
            return Err(format!(
                "`{s}`: only permission bits (at most \"0777\") apply to a socket"
            ));
        }
        Ok(SocketMode(mode))
    }
}

impl fmt::Display for SocketMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl<'de> Deserialize<'de> for SocketMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SocketMode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an octal mode as a string, such as \"0660\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<SocketMode, E> {
                s.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SocketMode, E> {
                Err(E::custom(format!(
                    "write the mode as an octal string, such as mode = \"0660\" (the integer {v} is not read as octal)"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// `group = "adm"` or `group = 4`: the socket file's group, so that its members may
/// send when `mode` lets the group write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocketGroup {
    Id(u32),
    Name(String),
}

impl SocketGroup {
    /// The numeric gid: as given, or looked up in `/etc/group`.
    pub fn gid(&self) -> Result<u32, String> {
        match self {
            SocketGroup::Id(g) => Ok(*g),
            SocketGroup::Name(name) => {
                let text = std::fs::read_to_string(GROUP_FILE)
                    .map_err(|e| format!("cannot read {GROUP_FILE} to look up `{name}`: {e}"))?;
                group_in(&text, name).ok_or_else(|| {
                    format!("no group `{name}` in {GROUP_FILE} (give a numeric gid for a group only NSS knows)")
                })
            }
        }
    }
}

impl<'de> Deserialize<'de> for SocketGroup {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SocketGroup;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a group name or a numeric gid")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<SocketGroup, E> {
                if s.is_empty() || s.contains([':', '\n']) {
                    return Err(E::custom(format!("`{s}` is not a group name")));
                }
                Ok(match s.parse::<u32>() {
                    Ok(g) => SocketGroup::Id(g),
                    Err(_) => SocketGroup::Name(s.to_string()),
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SocketGroup, E> {
                u32::try_from(v)
                    .map(SocketGroup::Id)
                    .map_err(|_| E::custom(format!("{v} is not a gid")))
            }
        }
        d.deserialize_any(V)
    }
}

/// The gid of group `name` in the text of an `/etc/group` file.
fn group_in(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut cols = line.split(':');
        (cols.next()? == name).then_some(())?;
        cols.nth(1)?.trim().parse().ok()
    })
}

/// Checks a configured socket path: what `check-config` can know without touching it.
pub fn check_path(path: &Path) -> Result<(), String> {
    let bytes = path.as_os_str().len();
    if path.file_name().is_none() {
        return Err(format!("`{}` names no socket file", path.display()));
    }
    if bytes > MAX_PATH_BYTES {
        return Err(format!(
            "`{}` is {bytes} bytes long; a unix socket path has at most {MAX_PATH_BYTES}",
            path.display()
        ));
    }
    Ok(())
}

/// A bound socket and the file it owns.
pub struct UnixListener {
    socket: UnixDatagram,
    file: SocketFile,
}

impl UnixListener {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.file.path
    }
}

/// The socket file this listener created, removed when the listener ends (also on an
/// error or a dropped task), unless something else has taken the path since.
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
    removed: bool,
}

impl SocketFile {
    fn remove(&mut self) {
        if std::mem::replace(&mut self.removed, true) {
            return;
        }
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) if m.dev() == self.dev && m.ino() == self.ino => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    warn!(path = %self.path.display(), error = %e, "could not remove the socket file");
                }
            }
            Ok(_) => {
                debug!(path = %self.path.display(), "the socket file was replaced by another; left as it is");
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                warn!(path = %self.path.display(), error = %e, "could not look at the socket file")
            }
        }
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Binds the socket at `path` (replacing a stale socket file, see the module docs),
/// asks for the senders' credentials, and gives the file `mode` and `gid`.
pub fn bind(path: &Path, mode: u32, gid: Option<u32>) -> Result<UnixListener, UnixError> {
    let io_err = |action: &str| {
        let path = path.to_path_buf();
        let action = action.to_string();
        move |error| UnixError::Io {
            path,
            action,
            error,
        }
    };
    clear_path(path)?;
    let std = std::os::unix::net::UnixDatagram::bind(path).map_err(io_err("binding"))?;
    let meta = std::fs::symlink_metadata(path).map_err(io_err("reading the new socket file"))?;
    // From here on an error removes the file again.
    let file = SocketFile {
        path: path.to_path_buf(),
        dev: meta.dev(),
        ino: meta.ino(),
        removed: false,
    };
    std.set_nonblocking(true)
        .map_err(io_err("setting non-blocking mode"))?;
    rustix::net::sockopt::set_socket_passcred(&std, true)
        .map_err(|e| io_err("setting SO_PASSCRED")(e.into()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io_err(&format!("setting mode {mode:04o}")))?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(io_err(&format!(
            "setting group {gid} (a non-root daemon must be a member of it)"
        )))?;
    }
    let socket = UnixDatagram::from_std(std).map_err(io_err("registering the socket"))?;
    Ok(UnixListener { socket, file })
}

/// Makes room for the socket: creates missing parent directories, removes a stale
/// socket file, refuses anything else.
fn clear_path(path: &Path) -> Result<(), UnixError> {
    let io_err = |action: &str, error| UnixError::Io {
        path: path.to_path_buf(),
        action: action.to_string(),
        error,
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                create_parents(dir).map_err(|e| io_err("creating its directory", e))?;
            }
            return Ok(());
        }
        Err(e) => return Err(io_err("looking at the path", e)),
    };
    let t = meta.file_type();
    if !t.is_socket() {
        let what = if t.is_dir() {
            "a directory"
        } else if t.is_symlink() {
            "a symbolic link"
        } else if t.is_file() {
            "a regular file"
        } else if t.is_fifo() {
            "a FIFO"
        } else {
            "a device or other special file"
        };
        return Err(UnixError::NotASocket {
            path: path.to_path_buf(),
            what,
        });
    }
    // A socket file nobody is bound to refuses a connection: stale, from a crash.
    let probe =
        std::os::unix::net::UnixDatagram::unbound().map_err(|e| io_err("probing the socket", e))?;
    match probe.connect(path) {
        Ok(()) => Err(UnixError::InUse {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            debug!(path = %path.display(), "replacing a stale socket file");
            std::fs::remove_file(path).map_err(|e| io_err("removing the stale socket file", e))
        }
        // A stream socket someone listens on (EPROTOTYPE), or one we may not use.
        Err(e) => Err(io_err("checking whether another process receives on it", e)),
    }
}

/// Creates `dir` and its missing ancestors, each with mode 0755 whatever the umask.
fn create_parents(dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.as_os_str().is_empty() || std::fs::symlink_metadata(d).is_ok() {
            break;
        }
        missing.push(d);
        cur = d.parent();
    }
    for d in missing.into_iter().rev() {
        match std::fs::create_dir(d) {
            Ok(()) => std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Receives one datagram into `buf` with its sender's credentials.
fn recv_with_cred(fd: impl std::os::fd::AsFd, buf: &mut [u8]) -> io::Result<Datagram> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmCredentials(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = rustix::net::recvmsg(
        fd,
        &mut iov,
        &mut control,
        RecvFlags::TRUNC | RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut cred = None;
    // Anything else (descriptors someone passed) is dropped, which closes it.
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmCredentials(u) = m {
            cred = Some(PeerCred {
                pid: u32::try_from(u.pid.as_raw_pid()).unwrap_or(0),
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
            });
        }
    }
    Ok(Datagram {
        len: msg.bytes,
        from: From::Local(cred),
    })
}

/// Receives datagrams on `listener` until `shutdown`; then removes the socket file
/// and drains what is queued.
pub async fn run_unix(
    listener: UnixListener,
    spec: ListenerSpec,
    journal: Journal,
    stats: Arc<SourceStats>,
    shutdown: CancellationToken,
) -> Result<(), SourceError> {
    let UnixListener { socket, mut file } = listener;
    let max = spec.max_message_bytes.max(1);
    let mut buf = vec![0u8; max.saturating_add(LINE_END_ROOM)];
    let mut sink = Sink::new(&spec, journal, stats);
    let io_err = |source| SourceError::Io {
        source_name: spec.name.clone(),
        source,
    };
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            ready = socket.readable() => { ready.map_err(io_err)?; }
        }
        let failed = drain(
            |b| socket.try_io(Interest::READABLE, || recv_with_cred(&socket, b)),
            &mut buf,
            max,
            BURST_LIMIT,
            &mut sink,
            "unix socket",
        )
        .await?;
        sink.flush().await?;
        if failed {
            tokio::time::sleep(ERROR_PAUSE).await;
        }
    }
    file.remove();
    // Plain non-blocking syscalls: the reactor's readiness may lag behind the queue.
    let socket = socket.into_std().map_err(io_err)?;
    drain(
        |b| recv_with_cred(&socket, b),
        &mut buf,
        max,
        SHUTDOWN_DRAIN_LIMIT,
        &mut sink,
        "unix socket",
    )
    .await?;
    sink.flush().await
}

#[cfg(test)]
#[path = "unix_tests.rs"]
mod tests;
