//! Posts alerts to a webhook as JSON, off the sealing path.
//!
//! The webhook is a notification, not the record: every alert is sealed into the chain
//! before it is posted, so a slow or unreachable endpoint never slows sealing. Posts are
//! retried a few times with backoff; when the queue is full, the alert is counted as
//! not delivered (it is still in the archive and in the SIEM stream).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// Alerts waiting to be posted, at most.
const QUEUE: usize = 1024;
const ATTEMPTS: u32 = 4;

#[derive(Debug, Default)]
pub struct WebhookStats {
    pub posted: AtomicU64,
    pub failed: AtomicU64,
}

/// A handle to the posting thread; dropping every handle lets the thread finish the
/// queue and end.
#[derive(Clone)]
pub struct Webhook {
    tx: SyncSender<Vec<u8>>,
    pub stats: Arc<WebhookStats>,
}

impl Webhook {
    /// Starts the posting thread for `url` (http or https).
    pub fn start(url: String, timeout: Duration) -> std::io::Result<Webhook> {
        let (tx, rx) = sync_channel::<Vec<u8>>(QUEUE);
        let stats = Arc::new(WebhookStats::default());
        let st = stats.clone();
        std::thread::Builder::new()
            .name("webhook".into())
            .spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(timeout))
                    .http_status_as_error(true)
                    .build()
                    .into();
                for body in rx {
                    post_with_retries(&agent, &url, &body, &st);
                }
            })?;
        Ok(Webhook { tx, stats })
    }

    /// Queues one JSON document (an alert); never blocks.
    pub fn send(&self, body: Vec<u8>) {
        match self.tx.try_send(body) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "webhook queue full: alert not posted (it is sealed in the archive)"
                );
            }
        }
    }
}

fn post_with_retries(agent: &ureq::Agent, url: &str, body: &[u8], stats: &WebhookStats) {
    let mut backoff = Duration::from_millis(200);
    for attempt in 1..=ATTEMPTS {
        match agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body)
        {
            Ok(_) => {
                stats.posted.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, "posting an alert to the webhook failed");
                if attempt < ATTEMPTS {
                    std::thread::sleep(backoff);
                    backoff *= 2;
                }
            }
        }
    }
    stats.failed.fetch_add(1, Ordering::Relaxed);
}
