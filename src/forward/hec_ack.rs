//! Splunk HEC indexer acknowledgement: with it on for a token, Splunk answers each
//! request with an `ackId` on the request's channel and says later, on
//! `/services/collector/ack`, once the events are indexed; an answer of 200 alone only
//! means "received". A batch that carried an `ackId` counts as delivered once acked; one
//! not acked within `ack_timeout` is sent again from the forwarder's cursor. With the
//! feature off the reply has no `ackId` and the reply alone delivers, so the forwarder
//! needs no setting to follow what the server offers.
//!
//! Every request carries the channel header (a random GUID per forwarder start): Splunk
//! refuses requests without one when acknowledgement is on, and ignores it otherwise.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Ack queries at most this often: each one is a request to the indexer.
const QUERY_INTERVAL: Duration = Duration::from_secs(1);

/// One batch answered: its `ackId` (none: delivered by the reply), when it was sent.
struct Sent {
    ack: Option<u64>,
    at: Instant,
    acked: bool,
}

pub struct Acks {
    channel: String,
    url: String,
    timeout: Duration,
    sent: VecDeque<Sent>,
    last_query: Option<Instant>,
}

impl Acks {
    /// For the collector at `base` (the forwarder's `url`).
    pub fn new(base: &str, timeout: Duration) -> Acks {
        Acks {
            channel: new_channel(),
            url: format!("{}/services/collector/ack", base.trim_end_matches('/')),
            timeout,
            sent: VecDeque::new(),
            last_query: None,
        }
    }

    /// The value of `X-Splunk-Request-Channel`.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// A batch was answered, with `reply` when it was accepted (2xx): notes its
    /// `ackId`, if it has one. Every batch the forwarder counts as sent goes through
    /// here, so the queue stays in step with its batches.
    pub fn answered(&mut self, reply: Option<&str>) {
        let ack = reply
            .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok())
            .and_then(|v| v.get("ackId").and_then(serde_json::Value::as_u64));
        self.sent.push_back(Sent {
            ack,
            at: Instant::now(),
            acked: ack.is_none(),
        });
    }

    /// Forgets every batch: the forwarder sends them again.
    pub fn clear(&mut self) {
        self.sent.clear();
    }

    /// How many of the oldest `due` batches are delivered: acked, or answered without
    /// an `ackId`. Asks the indexer (with `post(url, body)`) about the ones still
    /// waiting, at most every [`QUERY_INTERVAL`]; an error when the oldest waited longer
    /// than the timeout.
    pub fn confirm(
        &mut self,
        due: usize,
        post: impl FnOnce(&str, &[u8]) -> Result<(u16, String), String>,
    ) -> Result<usize, String> {
        let due = due.min(self.sent.len());
        // The list of ids to ask about is only built when it is time to ask.
        let query_due = self
            .last_query
            .is_none_or(|t| t.elapsed() >= QUERY_INTERVAL);
        let waiting: Vec<u64> = if query_due {
            self.sent
                .iter()
                .take(due)
                .filter(|s| !s.acked)
                .filter_map(|s| s.ack)
                .collect()
        } else {
            Vec::new()
        };
        if !waiting.is_empty() {
            self.last_query = Some(Instant::now());
            let body = serde_json::json!({ "acks": waiting }).to_string();
            match post(&self.url, body.as_bytes()) {
                Ok((200, reply)) => self.mark(&reply),
                // Not now (busy, or a reply it cannot give): asked again later, and the
                // timeout sends the batch again if it never comes.
                Ok((status, reply)) => tracing::debug!(
                    status,
                    reply = %reply.chars().take(200).collect::<String>(),
                    "HEC ack query not answered"
                ),
                Err(e) => tracing::debug!(error = %e, "HEC ack query failed"),
            }
        }
        let confirmed = self.sent.iter().take(due).take_while(|s| s.acked).count();
        self.sent.drain(..confirmed);
        match self.sent.front() {
            Some(s) if !s.acked && s.at.elapsed() >= self.timeout => Err(format!(
                "the indexer did not acknowledge a batch (ackId {}) within {}: sending it again",
                s.ack.unwrap_or_default(),
                humantime::format_duration(self.timeout)
            )),
            _ => Ok(confirmed),
        }
    }

    /// Reads `{"acks": {"<id>": true|false, ...}}`.
    fn mark(&mut self, reply: &str) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(reply) else {
            return;
        };
        let Some(acks) = v.get("acks").and_then(serde_json::Value::as_object) else {
            return;
        };
        for s in self.sent.iter_mut().filter(|s| !s.acked) {
            if let Some(id) = s.ack {
                s.acked = acks
                    .get(&id.to_string())
                    .and_then(serde_json::Value::as_bool)
                    == Some(true);
            }
        }
    }
}

/// A random version-4 GUID, as HEC wants its channels.
fn new_channel() -> String {
    use rand_core::RngCore;
    let mut b = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_count_once_acked_in_order_and_time_out() {
        let mut a = Acks::new("http://x/", Duration::from_millis(500));
        assert_eq!(a.url, "http://x/services/collector/ack");
        let c = a.channel().to_string();
        assert_eq!(c.len(), 36);
        assert_eq!(&c[14..15], "4");
        a.answered(Some(r#"{"text":"Success","code":0}"#)); // acknowledgement off
        a.answered(Some(r#"{"text":"Success","code":0,"ackId":7}"#));
        a.answered(None); // refused, dead-lettered
        a.answered(Some(r#"{"text":"Success","code":0,"ackId":8}"#));
        // The indexer has 8 but not yet 7: only the batch before 7 is delivered.
        let n = a
            .confirm(4, |url, body| {
                assert!(url.ends_with("/ack"));
                assert_eq!(body, br#"{"acks":[7,8]}"#);
                Ok((200, r#"{"acks":{"7":false,"8":true}}"#.into()))
            })
            .unwrap();
        assert_eq!(n, 1);
        // Asked again within the interval: no request, nothing new.
        assert_eq!(a.confirm(3, |_, _| panic!("queried too often")).unwrap(), 0);
        std::thread::sleep(QUERY_INTERVAL);
        let n = a
            .confirm(3, |_, body| {
                assert_eq!(body, br#"{"acks":[7]}"#, "8 is known acked");
                Ok((200, r#"{"acks":{"7":true}}"#.into()))
            })
            .unwrap();
        assert_eq!(n, 3, "7, the refused batch and 8");
        // One that is never acked: an error once its timeout passed.
        a.answered(Some(r#"{"ackId":9}"#));
        std::thread::sleep(Duration::from_millis(600));
        let e = a
            .confirm(1, |_, _| Ok((200, r#"{"acks":{"9":false}}"#.into())))
            .unwrap_err();
        assert!(e.contains("ackId 9"), "{e}");
        a.clear();
        assert_eq!(a.confirm(1, |_, _| panic!("nothing to ask")).unwrap(), 0);
    }
}
