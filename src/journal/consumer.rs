//! Journal consumers: whatever reads the journal from a durable cursor of its own (the
//! sealer, the detector, each forwarder), and the one runner that starts each on a
//! thread of its own and stops them in the order that loses nothing.
//!
//! Every consumer's cursor holds journal space: files are reclaimed only behind the
//! slowest committed cursor ([`super::Journal::reclaim`]). A consumer that must not
//! hold it for ever says so itself: a forwarder with `policy = "drop_oldest"` skips
//! ahead when the journal is full, and the detector snapshots early under pressure.
//!
//! Shutdown goes by [`Stage`]: consumers that append to the journal (the detector
//! journals its alerts) stop first, while the journal is open, after they have read
//! everything the sources handed over; then the journal closes; then the consumers that
//! only read drain what is durable (the sealer seals the last alerts too) and stop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What a consumer's run ends with when it fails.
pub type ConsumerError = Box<dyn std::error::Error + Send + Sync>;

/// When a consumer stops, relative to the journal's close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// It appends to the journal: stopped before the journal closes, once it has read
    /// everything durable, so what it appends last is durable and sealed.
    Appends,
    /// It only reads: stopped after the journal closed, once it has read (or, for a
    /// forwarder, delivered within its bound) everything durable.
    Reads,
}

/// A journal consumer, ready to run.
pub trait JournalConsumer: Send {
    /// Names its thread and its log lines.
    fn name(&self) -> String;
    fn stage(&self) -> Stage;
    /// Whether the daemon must stop when this consumer ends by itself: the chain (the
    /// sealer) or the alerts (the detector) would otherwise stop while events still
    /// come in, and its cursor would hold the journal until the sources stall.
    fn essential(&self) -> bool;
    /// Runs until `stop` is set, then finishes as its [`Stage`] says.
    fn run(self: Box<Self>, stop: &Arc<AtomicBool>) -> Result<(), ConsumerError>;
}

struct Running {
    name: String,
    stage: Stage,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<(), ConsumerError>>,
}

/// Runs every consumer on a thread of its own.
pub struct Runner {
    running: Vec<Running>,
    /// Signalled when an essential consumer's run returns (by itself or stopped).
    ended: Arc<tokio::sync::Notify>,
}

impl Runner {
    /// Starts each consumer; the threads are named after them.
    pub fn start(consumers: Vec<Box<dyn JournalConsumer>>) -> std::io::Result<Runner> {
        let ended = Arc::new(tokio::sync::Notify::new());
        let mut running = Vec::new();
        for c in consumers {
            let (name, stage, essential) = (c.name(), c.stage(), c.essential());
            let stop = Arc::new(AtomicBool::new(false));
            let (flag, ended) = (stop.clone(), ended.clone());
            let thread = std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || {
                    let r = c.run(&flag);
                    if essential {
                        ended.notify_one();
                    }
                    r
                })?;
            running.push(Running {
                name,
                stage,
                stop,
                thread,
            });
        }
        Ok(Runner { running, ended })
    }

    /// Resolves once an essential consumer has ended (it may have failed).
    pub async fn essential_ended(&self) {
        self.ended.notified().await;
    }

    /// Stops the consumers of `stage` and waits for them; the failures, by consumer.
    pub async fn stop(&mut self, stage: Stage) -> Vec<(String, ConsumerError)> {
        let (now, later): (Vec<_>, Vec<_>) = self.running.drain(..).partition(|r| r.stage == stage);
        self.running = later;
        for r in &now {
            r.stop.store(true, Ordering::Release);
        }
        let joined = tokio::task::spawn_blocking(move || {
            now.into_iter()
                .filter_map(|r| match r.thread.join() {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some((r.name, e)),
                    Err(_) => Some((r.name, "its thread panicked".into())),
                })
                .collect::<Vec<_>>()
        })
        .await;
        joined.unwrap_or_else(|e| vec![("consumers".into(), e.to_string().into())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Probe {
        name: &'static str,
        stage: Stage,
        essential: bool,
        fail: bool,
        order: Arc<std::sync::Mutex<Vec<&'static str>>>,
    }

    impl JournalConsumer for Probe {
        fn name(&self) -> String {
            self.name.into()
        }
        fn stage(&self) -> Stage {
            self.stage
        }
        fn essential(&self) -> bool {
            self.essential
        }
        fn run(self: Box<Self>, stop: &Arc<AtomicBool>) -> Result<(), ConsumerError> {
            if self.fail {
                return Err("broken".into());
            }
            while !stop.load(Ordering::Acquire) {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            self.order.lock().unwrap().push(self.name);
            Ok(())
        }
    }

    #[tokio::test]
    async fn stages_stop_in_turn_and_an_essential_end_is_signalled() {
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let probe = |name, stage, essential, fail| -> Box<dyn JournalConsumer> {
            Box::new(Probe {
                name,
                stage,
                essential,
                fail,
                order: order.clone(),
            })
        };
        let mut r = Runner::start(vec![
            probe("reader", Stage::Reads, false, false),
            probe("appender", Stage::Appends, false, false),
        ])
        .unwrap();
        assert!(r.stop(Stage::Appends).await.is_empty());
        assert_eq!(*order.lock().unwrap(), ["appender"], "readers still run");
        assert!(r.stop(Stage::Reads).await.is_empty());
        assert_eq!(*order.lock().unwrap(), ["appender", "reader"]);

        let mut r = Runner::start(vec![probe("sealer", Stage::Reads, true, true)]).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), r.essential_ended())
            .await
            .expect("an essential consumer that ends is reported");
        let failed = r.stop(Stage::Reads).await;
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, "sealer");
        assert_eq!(failed[0].1.to_string(), "broken");
    }
}
