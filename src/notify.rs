//! The systemd notification protocol (`sd_notify(3)`) without libsystemd.
//!
//! A service of `Type=notify` tells systemd when it is ready (`READY=1`), reloading
//! (`RELOADING=1`), stopping (`STOPPING=1`), alive (`WATCHDOG=1`) and what it is doing
//! (`STATUS=...`) by sending one datagram per message to the Unix socket named in
//! `$NOTIFY_SOCKET`: a path, or an abstract name written `@name`. Outside systemd the
//! variable is absent and every call is a no-op, so the daemon needs no mode switch.

use std::ffi::OsStr;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NOTIFY_SOCKET `{0}` is neither an absolute path nor an abstract name (@name)")]
    BadAddress(String),
    #[error("NOTIFY_SOCKET {addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
}

/// Where notifications go; [`Notifier::disabled`] when not started by systemd.
#[derive(Debug)]
pub struct Notifier {
    target: Option<Target>,
}

#[derive(Debug)]
struct Target {
    socket: UnixDatagram,
    addr: SocketAddr,
    display: String,
}

impl Notifier {
    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier { target: None }
    }

    /// From `$NOTIFY_SOCKET`; disabled when the variable is unset or empty.
    pub fn from_env() -> Result<Notifier, NotifyError> {
        match std::env::var_os("NOTIFY_SOCKET") {
            Some(v) if !v.is_empty() => Notifier::for_socket(&v),
            _ => Ok(Notifier::disabled()),
        }
    }

    /// For an explicit socket name in `$NOTIFY_SOCKET` syntax.
    pub fn for_socket(name: &OsStr) -> Result<Notifier, NotifyError> {
        let display = name.to_string_lossy().into_owned();
        let addr = parse_address(name)?;
        let socket = UnixDatagram::unbound().map_err(|source| NotifyError::Io {
            addr: display.clone(),
            source,
        })?;
        Ok(Notifier {
            target: Some(Target {
                socket,
                addr,
                display,
            }),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends one notification (newline-separated `KEY=value` assignments).
    pub fn notify(&self, state: &str) -> Result<(), NotifyError> {
        let Some(t) = &self.target else {
            return Ok(());
        };
        t.socket
            .send_to_addr(state.as_bytes(), &t.addr)
            .map(|_| ())
            .map_err(|source| NotifyError::Io {
                addr: t.display.clone(),
                source,
            })
    }
}

fn parse_address(name: &OsStr) -> Result<SocketAddr, NotifyError> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = name.as_bytes();
    let bad = || NotifyError::BadAddress(name.to_string_lossy().into_owned());
    match bytes.first() {
        Some(b'/') => SocketAddr::from_pathname(std::path::Path::new(name)).map_err(|_| bad()),
        Some(b'@') if bytes.len() > 1 => abstract_address(&bytes[1..]).ok_or_else(bad),
        _ => Err(bad()),
    }
}

#[cfg(target_os = "linux")]
fn abstract_address(name: &[u8]) -> Option<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name).ok()
}

#[cfg(not(target_os = "linux"))]
fn abstract_address(_name: &[u8]) -> Option<SocketAddr> {
    None
}

/// The watchdog interval systemd expects pings within (`WatchdogSec=`), if it is meant
/// for this process: `$WATCHDOG_USEC`, unless `$WATCHDOG_PID` names another process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    parse_watchdog(usec.as_deref(), pid.as_deref(), std::process::id())
}

fn parse_watchdog(usec: Option<&str>, pid: Option<&str>, my_pid: u32) -> Option<Duration> {
    if let Some(p) = pid {
        if p.trim().parse::<u32>().ok() != Some(my_pid) {
            return None;
        }
    }
    let us: u64 = usec?.trim().parse().ok()?;
    (us > 0).then(|| Duration::from_micros(us))
}

static GLOBAL: OnceLock<Notifier> = OnceLock::new();
static WARNED: AtomicBool = AtomicBool::new(false);

/// The process-wide notifier, opened from the environment on first use.
pub fn global() -> &'static Notifier {
    GLOBAL.get_or_init(|| {
        Notifier::from_env().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "systemd notifications disabled");
            Notifier::disabled()
        })
    })
}

/// Sends through [`global`]; a failure is logged once, never fatal: losing a status
/// line must not stop an audit daemon (a missed `WATCHDOG=1` gets it restarted anyway).
pub fn send(state: &str) {
    if let Err(e) = global().notify(state) {
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %e, "cannot notify systemd");
        }
    }
}

/// `STATUS=` value: one line, as `systemctl status` shows it.
pub fn status_line(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c == '\n' { ' ' } else { c })
        .collect();
    format!("STATUS={one_line}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn sends_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::for_socket(path.as_os_str()).unwrap();
        assert!(n.is_enabled());
        n.notify("READY=1\nSTATUS=up").unwrap();
        assert_eq!(recv(&server), "READY=1\nSTATUS=up");
        n.notify("STOPPING=1").unwrap();
        assert_eq!(recv(&server), "STOPPING=1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("sealtrail-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        let n = Notifier::for_socket(OsStr::new(&format!("@{name}"))).unwrap();
        n.notify("WATCHDOG=1").unwrap();
        assert_eq!(recv(&server), "WATCHDOG=1");
    }

    #[test]
    fn bad_names_are_errors_and_disabled_is_silent() {
        for bad in ["relative/sock", "@", ""] {
            assert!(
                matches!(
                    Notifier::for_socket(OsStr::new(bad)),
                    Err(NotifyError::BadAddress(_))
                ),
                "{bad:?}"
            );
        }
        let d = Notifier::disabled();
        assert!(!d.is_enabled());
        d.notify("READY=1").unwrap();
    }

    #[test]
    fn missing_socket_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.sock");
        let n = Notifier::for_socket(path.as_os_str()).unwrap();
        let e = n.notify("READY=1").unwrap_err();
        assert!(e.to_string().contains("absent.sock"), "{e}");
    }

    #[test]
    fn watchdog_interval_honours_pid() {
        assert_eq!(
            parse_watchdog(Some("30000000"), None, 7),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_watchdog(Some("30000000"), Some("7"), 7),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_watchdog(Some("30000000"), Some("8"), 7), None);
        assert_eq!(parse_watchdog(Some("0"), None, 7), None);
        assert_eq!(parse_watchdog(Some("soon"), None, 7), None);
        assert_eq!(parse_watchdog(None, None, 7), None);
    }

    #[test]
    fn status_line_is_one_line() {
        assert_eq!(status_line("a\nb"), "STATUS=a b");
    }
}
