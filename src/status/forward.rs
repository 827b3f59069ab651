//! The forwarders in the status snapshot: what each has sent and delivered, how far it
//! lags behind the journal, and the alert when one cannot deliver.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use super::{human_bytes, ConsumerSnapshot, Snapshot};
use crate::forward::ForwardHandle;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwarderSnapshot {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub connected: bool,
    pub sent_events: u64,
    pub sent_bytes: u64,
    /// Sent again after a failure (the at-least-once window).
    pub resent_events: u64,
    pub undecodable: u64,
    /// Left out by the forwarder's `only` filter.
    #[serde(default)]
    pub filtered: u64,
    /// Refused by the receiver for good, in the dead-letter file.
    #[serde(default)]
    pub dead_lettered: u64,
    /// Skipped under `policy = "drop_oldest"`.
    #[serde(default)]
    pub dropped: u64,
    pub errors: u64,
    pub last_error: Option<String>,
    /// Journal position up to which everything is delivered.
    pub delivered_position: u64,
    /// Durable journal bytes not yet delivered.
    pub lag_bytes: u64,
}

pub(super) fn snapshot(handles: &[ForwardHandle], durable: u64) -> Vec<ForwarderSnapshot> {
    handles
        .iter()
        .map(|h| {
            let st = &h.stats;
            let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
            let delivered = ld(&st.delivered_position);
            ForwarderSnapshot {
                name: h.name.clone(),
                kind: h.kind.to_string(),
                connected: st.connected.load(Ordering::Relaxed),
                sent_events: ld(&st.sent_events),
                sent_bytes: ld(&st.sent_bytes),
                resent_events: ld(&st.resent_events),
                undecodable: ld(&st.undecodable),
                filtered: ld(&st.filtered),
                dead_lettered: ld(&st.dead_lettered),
                dropped: ld(&st.dropped),
                errors: ld(&st.errors),
                last_error: st.last_error(),
                delivered_position: delivered,
                lag_bytes: durable.saturating_sub(delivered),
            }
        })
        .collect()
}

/// The forwarders as journal consumers, beside the sealer.
pub(super) fn consumers(f: &[ForwarderSnapshot]) -> impl Iterator<Item = ConsumerSnapshot> + '_ {
    f.iter().map(|f| ConsumerSnapshot {
        name: format!("forward-{}", f.name),
        position: f.delivered_position,
        lag_bytes: f.lag_bytes,
    })
}

/// A forwarder that fails right now, with events waiting: the journal keeps them.
pub(super) fn failing(s: &Snapshot, out: &mut Vec<String>) {
    for f in &s.forwarders {
        if let (Some(e), true) = (&f.last_error, f.lag_bytes > 0) {
            out.push(format!(
                "forwarder {} cannot deliver ({e}); the journal keeps its {} of events until it can",
                f.name,
                human_bytes(f.lag_bytes)
            ));
        }
    }
}
