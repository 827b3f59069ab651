//! Running under a service manager: readiness, watchdog, the status endpoint, and
//! configuration reload on `SIGHUP`.
//!
//! Reload is deliberately modest. The file the daemon was started with is read and
//! validated again; if it is invalid the error (key and line) is logged and nothing
//! changes. If it is valid, what can change live is applied (today: the `[status]`
//! endpoint) and every other changed key is named in the log as needing a restart.
//! Listeners, state and the sealer's parameters are tied to open sockets, the journal
//! and the hash chain, so pretending to swap them live would be dishonest.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Config, ConfigError, StatusSection};
use crate::notify;
use crate::status::{Probe, Snapshot, StatusServer};

/// Top-level configuration keys whose changes [`Service::reload`] applies live.
const LIVE_KEYS: &[&str] = &["status"];

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("status endpoint: {0}")]
    Status(#[from] crate::status::StatusError),
}

/// What a reload did.
#[derive(Debug)]
pub enum ReloadOutcome {
    /// Started without a configuration file: there is nothing to re-read.
    NoFile,
    /// The file is unreadable or invalid; the running configuration stays.
    Invalid(ConfigError),
    /// The file is valid.
    Reloaded {
        /// Changed keys now in effect.
        applied: Vec<String>,
        /// Changed keys that could not be applied live (with the reason logged).
        failed: Vec<String>,
        /// Changed keys that take effect at the next restart.
        restart_needed: Vec<String>,
    },
}

pub struct Service {
    config_path: Option<PathBuf>,
    /// The configuration the process started with: restart-only keys compare to it.
    started: Config,
    started_raw: toml::Value,
    /// The `[status]` section in force (it changes live).
    status_cfg: StatusSection,
    status: Option<StatusServer>,
    probe: Arc<Probe>,
}

impl Service {
    /// Starts the status endpoint (a failure to bind is logged, not fatal: losing the
    /// metrics must not stop the audit trail), the watchdog, and tells systemd
    /// `READY=1`. Call once the daemon's listeners are bound.
    pub async fn start(mut probe: Probe, cfg: Config, config_path: Option<PathBuf>) -> Service {
        probe.journal_max_bytes = cfg.journal.max_bytes;
        probe.spool_max_bytes = cfg.spool.max_bytes;
        let probe = Arc::new(probe);
        let started_raw = config_path
            .as_deref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| t.parse::<toml::Value>().ok())
            .unwrap_or_else(empty_table);
        let status = if cfg.status.enabled {
            start_status(cfg.status.address, &probe).await.ok()
        } else {
            None
        };
        spawn_supervisor(probe.clone(), stall_limit(&cfg));
        notify::send(&format!(
            "READY=1\n{}",
            notify::status_line(&summary(&probe.snapshot()))
        ));
        Service {
            config_path,
            status_cfg: cfg.status.clone(),
            started: cfg,
            started_raw,
            status,
            probe,
        }
    }

    /// Where the status endpoint listens, if it runs.
    pub fn status_addr(&self) -> Option<std::net::SocketAddr> {
        self.status.as_ref().map(StatusServer::local_addr)
    }

    /// Re-reads the configuration file, applies what can be applied live, logs the rest.
    pub async fn reload(&mut self) -> ReloadOutcome {
        notify::send("RELOADING=1");
        let outcome = self.reload_inner().await;
        let note = match &outcome {
            ReloadOutcome::NoFile => {
                tracing::warn!("reload: started without a configuration file (embedded default): nothing to reload");
                "reload: no configuration file".to_string()
            }
            ReloadOutcome::Invalid(e) => {
                tracing::error!("reload failed, still running on the previous configuration: {e}");
                format!("reload failed: {e}")
            }
            ReloadOutcome::Reloaded {
                applied,
                failed,
                restart_needed,
            } => {
                if applied.is_empty() && failed.is_empty() && restart_needed.is_empty() {
                    tracing::info!("reload: configuration unchanged");
                }
                if !applied.is_empty() {
                    tracing::info!(keys = %applied.join(", "), "reload: applied");
                }
                if !failed.is_empty() {
                    tracing::error!(keys = %failed.join(", "), "reload: could not apply these keys; the previous values stay in effect");
                }
                if !restart_needed.is_empty() {
                    tracing::warn!(keys = %restart_needed.join(", "), "reload: these changed keys take effect only after a restart (systemctl restart sealtrail)");
                }
                if restart_needed.is_empty() {
                    "reloaded".to_string()
                } else {
                    format!("reloaded; restart needed for {}", restart_needed.join(", "))
                }
            }
        };
        notify::send(&format!(
            "READY=1\n{}",
            notify::status_line(&format!("{note}; {}", summary(&self.probe.snapshot())))
        ));
        outcome
    }

    async fn reload_inner(&mut self) -> ReloadOutcome {
        let Some(path) = self.config_path.clone() else {
            return ReloadOutcome::NoFile;
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(source) => return ReloadOutcome::Invalid(ConfigError::Read { path, source }),
        };
        let new = match Config::parse(&text, &path) {
            Ok(c) => c,
            Err(e) => return ReloadOutcome::Invalid(e),
        };
        let raw = text
            .parse::<toml::Value>()
            .unwrap_or_else(|_| empty_table());
        let changed = changed_keys(&self.started_raw, &raw);
        let is_live = |k: &String| {
            LIVE_KEYS
                .iter()
                .any(|l| k == l || k.starts_with(&format!("{l}.")))
        };

        // Restart-only keys: only those whose effect differs from what runs now
        // (`max_age = "60s"` -> `"1m"` is no change).
        let mut same_live = self.started.clone();
        same_live.status = new.status.clone();
        let mut restart_needed = Vec::new();
        if format!("{same_live:?}") != format!("{new:?}") {
            restart_needed = changed.iter().filter(|k| !is_live(k)).cloned().collect();
            if restart_needed.is_empty() {
                restart_needed.push("(configuration)".into());
            }
        }

        let mut applied = Vec::new();
        let mut failed = Vec::new();
        if new.status != self.status_cfg {
            // Named against what is in force, not the start-up file: `[status]` moves.
            let mut keys = Vec::new();
            if new.status.enabled != self.status_cfg.enabled {
                keys.push("status.enabled".to_string());
            }
            if new.status.address != self.status_cfg.address {
                keys.push("status.address".to_string());
            }
            match self.apply_status(&new.status).await {
                Ok(()) => applied.extend(keys),
                Err(_) => failed.extend(keys),
            }
        }
        ReloadOutcome::Reloaded {
            applied,
            failed,
            restart_needed,
        }
    }

    /// Moves the status endpoint: the new one is bound before the old one stops, so a
    /// bad address leaves the old endpoint serving.
    async fn apply_status(&mut self, new: &StatusSection) -> Result<(), ServiceError> {
        let replacement = if new.enabled {
            let same_addr = self.status_cfg.enabled && self.status_cfg.address == new.address;
            if same_addr {
                self.status_cfg = new.clone();
                return Ok(());
            }
            Some(start_status(new.address, &self.probe).await?)
        } else {
            None
        };
        if let Some(old) = std::mem::replace(&mut self.status, replacement) {
            old.stop().await;
        }
        self.status_cfg = new.clone();
        Ok(())
    }
}

/// Tells systemd the daemon is stopping (it drains, seals and archives before exit).
pub fn stopping() {
    notify::send(&format!(
        "STOPPING=1\n{}",
        notify::status_line("stopping: draining sources, sealing the last segment")
    ));
}

async fn start_status(
    address: std::net::SocketAddr,
    probe: &Arc<Probe>,
) -> Result<StatusServer, ServiceError> {
    match StatusServer::start(address, probe.clone()).await {
        Ok(s) => {
            if !s.local_addr().ip().is_loopback() {
                tracing::warn!(address = %s.local_addr(), "status endpoint is not on loopback and has no authentication");
            }
            tracing::info!(address = %s.local_addr(), "status endpoint: GET /metrics, GET /status");
            Ok(s)
        }
        Err(e) => {
            tracing::error!("{e}; running without it");
            Err(e.into())
        }
    }
}

fn empty_table() -> toml::Value {
    toml::Value::Table(toml::map::Map::new())
}

/// Dotted keys whose values differ between two TOML documents. Arrays (such as the
/// `[[syslog]]` listeners) count as one key.
pub fn changed_keys(old: &toml::Value, new: &toml::Value) -> Vec<String> {
    let mut out = Vec::new();
    diff(old, new, "", &mut out);
    out
}

fn diff(old: &toml::Value, new: &toml::Value, prefix: &str, out: &mut Vec<String>) {
    match (old, new) {
        (toml::Value::Table(a), toml::Value::Table(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff(x, y, &path, out),
                    _ => out.push(path),
                }
            }
        }
        (a, b) if a != b => out.push(prefix.to_string()),
        _ => {}
    }
}

/// One line for `systemctl status`.
fn summary(s: &Snapshot) -> String {
    let received: u64 = s.sources.iter().map(|x| x.received_events).sum();
    let mut line = format!(
        "{received} events received, {} segments sealed, spool {}",
        s.sealer.sealed_segments, s.shipper.spool_segments
    );
    if let Some(a) = s.alerts.first() {
        line.push_str("; ALERT: ");
        line.push_str(a);
    }
    line
}

/// The sealer seals at least every `seal.max_age` (heartbeat): a sealer that has not
/// done so for twice that plus a minute is stuck, and the watchdog should say so.
fn stall_limit(cfg: &Config) -> Duration {
    cfg.seal
        .max_age
        .saturating_mul(2)
        .saturating_add(Duration::from_secs(60))
}

/// Tracks whether a monotonically growing counter moved within `limit`.
struct Progress {
    last: u64,
    since: Instant,
    limit: Duration,
    reported: bool,
}

impl Progress {
    fn new(limit: Duration, now: Instant) -> Progress {
        Progress {
            last: 0,
            since: now,
            limit,
            reported: false,
        }
    }

    /// True while healthy.
    fn observe(&mut self, value: u64, now: Instant) -> bool {
        if value != self.last {
            self.last = value;
            self.since = now;
            self.reported = false;
        }
        now.duration_since(self.since) <= self.limit
    }
}

/// Pings the watchdog while the runtime runs and the sealer makes progress, and keeps
/// `systemctl status` current. Does nothing outside systemd.
fn spawn_supervisor(probe: Arc<Probe>, limit: Duration) {
    if !notify::global().is_enabled() {
        return;
    }
    let watchdog = notify::watchdog_interval();
    let tick = watchdog
        .map(|w| w / 2)
        .unwrap_or(Duration::from_secs(10))
        .clamp(Duration::from_millis(100), Duration::from_secs(10));
    tokio::spawn(async move {
        let mut progress = Progress::new(limit, Instant::now());
        let mut last_line = String::new();
        loop {
            tokio::time::sleep(tick).await;
            let snap = probe.snapshot();
            let healthy = progress.observe(snap.sealer.sealed_segments, Instant::now());
            let mut msg = String::new();
            if watchdog.is_some() {
                if healthy {
                    msg.push_str("WATCHDOG=1\n");
                } else if !progress.reported {
                    progress.reported = true;
                    tracing::error!(
                        "the sealer has not sealed a segment for {:?}: withholding the watchdog ping so systemd restarts the service",
                        progress.limit
                    );
                }
            }
            let line = summary(&snap);
            if line != last_line {
                msg.push_str(&notify::status_line(&line));
                last_line = line;
            }
            if !msg.is_empty() {
                notify::send(msg.trim_end());
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::Stats;
    use crate::journal::{Journal, JournalOptions};
    use std::path::Path;

    fn probe(dir: &Path) -> Probe {
        let journal = Journal::open(
            dir,
            JournalOptions {
                file_bytes: 1 << 20,
                max_bytes: 1 << 30,
                fsync: false,
                ..JournalOptions::default()
            },
        )
        .unwrap();
        Probe::new("t", &Stats::default(), journal)
    }

    fn toml(s: &str) -> toml::Value {
        s.parse().unwrap()
    }

    #[test]
    fn changed_keys_are_dotted_and_arrays_are_whole() {
        let a = toml(
            "state_dir = \"a\"\n[seal]\nmax_age = \"60s\"\nzstd_level = 1\n[[syslog]]\naddress = \"127.0.0.1:1\"\n",
        );
        let b = toml(
            "state_dir = \"a\"\n[seal]\nmax_age = \"5s\"\n[status]\nenabled = false\n[[syslog]]\naddress = \"127.0.0.1:2\"\n",
        );
        assert_eq!(
            changed_keys(&a, &b),
            vec!["seal.max_age", "seal.zstd_level", "status", "syslog"]
        );
        assert!(changed_keys(&a, &a).is_empty());
    }

    #[test]
    fn progress_detects_a_stall_and_recovers() {
        let t0 = Instant::now();
        let mut p = Progress::new(Duration::from_secs(10), t0);
        assert!(p.observe(0, t0 + Duration::from_secs(5)));
        assert!(!p.observe(0, t0 + Duration::from_secs(11)));
        assert!(p.observe(1, t0 + Duration::from_secs(12)));
        assert!(p.observe(1, t0 + Duration::from_secs(21)));
        assert!(!p.observe(1, t0 + Duration::from_secs(23)));
    }

    const BASE: &str = "state_dir = \"st\"\n[[syslog]]\ntransport = \"udp\"\naddress = \"127.0.0.1:5514\"\n[seal]\nmax_age = \"60s\"\n";

    fn with_status(extra: &str, enabled: bool) -> String {
        format!("{BASE}{extra}[status]\nenabled = {enabled}\naddress = \"127.0.0.1:0\"\n")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reload_applies_status_live_and_names_restart_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sealtrail.toml");
        std::fs::write(&path, with_status("", true)).unwrap();
        let cfg = Config::load(&path).unwrap();
        let mut svc = Service::start(probe(&dir.path().join("j")), cfg, Some(path.clone())).await;
        let first = svc.status_addr().expect("status endpoint runs");

        // Invalid: error names key and line, the endpoint keeps serving.
        std::fs::write(&path, format!("{BASE}bogus = 1\n")).unwrap();
        match svc.reload().await {
            ReloadOutcome::Invalid(e) => {
                let m = e.to_string();
                assert!(m.contains(":7:") && m.contains("bogus"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(svc.status_addr(), Some(first));

        // Same meaning, other spelling: nothing to restart.
        std::fs::write(&path, with_status("", true).replace("60s", "1m")).unwrap();
        match svc.reload().await {
            ReloadOutcome::Reloaded {
                applied,
                restart_needed,
                failed,
            } => {
                assert!(restart_needed.is_empty(), "{restart_needed:?}");
                assert!(applied.is_empty() && failed.is_empty(), "{applied:?}");
            }
            other => panic!("{other:?}"),
        }

        // A real change plus switching the endpoint off.
        let text = with_status("", false).replace("60s", "5s");
        std::fs::write(&path, text).unwrap();
        match svc.reload().await {
            ReloadOutcome::Reloaded {
                applied,
                restart_needed,
                failed,
            } => {
                assert_eq!(applied, vec!["status.enabled"]);
                assert_eq!(restart_needed, vec!["seal.max_age"]);
                assert!(failed.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(svc.status_addr(), None);
        let refused = tokio::task::spawn_blocking(move || {
            crate::status::fetch(first, "/status", Duration::from_secs(5)).is_err()
        })
        .await
        .unwrap();
        assert!(refused, "old endpoint closed");

        // And on again: still reports the pending restart key.
        std::fs::write(&path, with_status("", true).replace("60s", "5s")).unwrap();
        match svc.reload().await {
            ReloadOutcome::Reloaded {
                applied,
                restart_needed,
                ..
            } => {
                assert_eq!(applied, vec!["status.enabled"]);
                assert_eq!(restart_needed, vec!["seal.max_age"]);
            }
            other => panic!("{other:?}"),
        }
        let addr = svc.status_addr().expect("endpoint back");
        let ok = tokio::task::spawn_blocking(move || {
            crate::status::fetch(addr, "/status", Duration::from_secs(5))
        })
        .await
        .unwrap()
        .unwrap();
        assert!(ok.contains("\"stream\": \"t\""), "{ok}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reload_without_a_file_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::embedded();
        cfg.status.enabled = false;
        let mut svc = Service::start(probe(dir.path()), cfg, None).await;
        assert!(matches!(svc.reload().await, ReloadOutcome::NoFile));
        assert_eq!(svc.status_addr(), None);
    }

    #[test]
    fn status_section_defaults_and_errors() {
        let base = "[[syslog]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:5514\"\n";
        let cfg = Config::parse(base, Path::new("t.toml")).unwrap();
        assert!(cfg.status.enabled);
        assert_eq!(cfg.status.address.to_string(), "127.0.0.1:9514");
        let e = Config::parse(
            &format!("{base}[status]\naddress = \"nowhere\"\n"),
            Path::new("t.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("t.toml:5: key `status.address`"), "{e}");
    }
}
