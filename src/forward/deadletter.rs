//! The dead-letter file of a forwarder: events its receiver refused for good (a 4xx
//! for the request, or a bulk item refused for its content), one JSON line each, with
//! the status and the receiver's reason, appended and synced so they survive a restart.
//! They are never retried by themselves; `docs/OPERATIONS.md` shows how to send them
//! again once the cause is fixed.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::ForwardStats;

pub struct DeadLetter {
    pub path: PathBuf,
    pub forwarder: String,
    pub stats: Arc<ForwardStats>,
}

impl DeadLetter {
    /// Appends one refused event (its ECS line as `event`).
    pub fn write(&self, id: &str, ecs_line: &[u8], status: u16, reason: &str) {
        let event: serde_json::Value = serde_json::from_slice(ecs_line)
            .unwrap_or_else(|_| String::from_utf8_lossy(ecs_line).into_owned().into());
        let line = serde_json::json!({
            "dead_lettered_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "forwarder": self.forwarder,
            "id": id,
            "status": status,
            "reason": reason,
            "event": event,
        });
        let r = (|| -> std::io::Result<()> {
            if let Some(dir) = self.path.parent() {
                crate::state_dir::create_private(dir)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            f.write_all(format!("{line}\n").as_bytes())?;
            f.sync_data()
        })();
        self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
        match r {
            Ok(()) => {
                tracing::warn!(forwarder = %self.forwarder, %id, status, file = %self.path.display(), "the receiver refused an event for good; it is in the dead-letter file")
            }
            Err(e) => {
                tracing::error!(forwarder = %self.forwarder, %id, status, error = %e, event = %String::from_utf8_lossy(ecs_line), "the receiver refused an event and the dead-letter file cannot be written: the event is logged here (it is sealed in the archive)")
            }
        }
    }
}
