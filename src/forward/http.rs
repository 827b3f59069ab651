//! HTTP forwarders, on ureq (the HTTP client of every output): batched
//! newline-delimited ECS JSON to a URL (`type = "http"`), Elasticsearch/OpenSearch
//! `_bulk` (`type = "elasticsearch"`), or Splunk HEC (`type = "splunk_hec"`: one HEC
//! event object per event, the ECS event as its `event`, concatenated).
//!
//! The bulk request indexes each event with `create` and its event id as `_id`, so a
//! batch sent again after a failure never duplicates: what was already indexed answers
//! 409, which counts as delivered. A reply of 200 is read item by item: items refused
//! for their content (a 4xx other than 408/409/429) are written to the dead-letter file;
//! if any item failed for a transient reason (429, 5xx) the whole batch is sent again
//! (and nothing is dead-lettered until it has no transient failure left). A whole
//! request refused with a 4xx other than 408/429 is dead-lettered; 408, 429, 5xx and
//! network errors are retried.

use std::io::Write as _;
use std::time::Duration;

use super::consumer::Sink;
use super::deadletter::DeadLetter;
use super::{ForwardConfig, ForwardKind};
use crate::detect::AlertView;
use crate::event::ecs::EcsWriter;
use crate::event::SealedEvent;

const TIMEOUT: Duration = Duration::from_secs(30);

pub struct HttpSink {
    kind: ForwardKind,
    url: String,
    index: String,
    authorization: Option<String>,
    gzip: bool,
    stream: String,
    agent: ureq::Agent,
    ecs: EcsWriter,
    /// The batch: each event's id and the request lines it takes (for Elasticsearch
    /// the action and the document, for HEC the envelope), as they go into the body.
    batch: Vec<Pending>,
    /// The body being built.
    body: Vec<u8>,
    dead: DeadLetter,
    /// splunk_hec: the channel and the batches waiting for indexer acknowledgement.
    acks: Option<super::hec_ack::Acks>,
}

/// One event of the batch: its id, and where its ECS line lies in the body (for the
/// dead-letter file).
struct Pending {
    id: String,
    ecs: std::ops::Range<usize>,
}

/// A status worth trying again: the receiver is busy, down or timed out.
fn transient(status: u16) -> bool {
    status == 408 || status == 429 || status >= 500
}

impl HttpSink {
    pub fn new(
        cfg: &ForwardConfig,
        url: String,
        authorization: Option<String>,
        stream: &str,
        dead: DeadLetter,
    ) -> HttpSink {
        HttpSink {
            kind: cfg.kind,
            url,
            index: cfg.index.clone().unwrap_or_else(|| "sealtrail".into()),
            authorization,
            gzip: cfg.gzip,
            stream: stream.to_string(),
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(TIMEOUT))
                .http_status_as_error(false)
                .build()
                .into(),
            ecs: EcsWriter::default(),
            batch: Vec::new(),
            body: Vec::new(),
            dead,
            acks: (cfg.kind == ForwardKind::SplunkHec).then(|| {
                super::hec_ack::Acks::new(cfg.url.as_deref().unwrap_or_default(), cfg.ack_timeout)
            }),
        }
    }

    fn post(&self, body: &[u8]) -> Result<(u16, String), String> {
        let channel = self.acks.as_ref().map(|a| a.channel());
        self.post_to(&self.url, body, self.gzip, channel)
    }

    /// POSTs `body` to `url` with the forwarder's headers (and HEC's channel).
    fn post_to(
        &self,
        url: &str,
        body: &[u8],
        gzip: bool,
        channel: Option<&str>,
    ) -> Result<(u16, String), String> {
        let content_type = match self.kind {
            ForwardKind::SplunkHec => "application/json",
            _ => "application/x-ndjson",
        };
        let mut req = self.agent.post(url).header("content-type", content_type);
        if let Some(a) = &self.authorization {
            req = req.header("authorization", a);
        }
        if let Some(c) = channel {
            req = req.header("x-splunk-request-channel", c);
        }
        let resp = if gzip {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(body)
                .and_then(|()| gz.finish())
                .map_err(|e| e.to_string())
                .and_then(|zipped| {
                    req.header("content-encoding", "gzip")
                        .send(&zipped[..])
                        .map_err(|e| e.to_string())
                })
        } else {
            req.send(body).map_err(|e| e.to_string())
        };
        let mut resp = resp.map_err(|e| format!("posting to {url}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .unwrap_or_default();
        Ok((status, text))
    }

    /// Reads a bulk reply: Err when an item failed transiently (send the batch again),
    /// else the items refused for good, with their reason.
    fn bulk_items(&self, reply: &str) -> Result<Vec<(usize, u16, String)>, String> {
        let v: serde_json::Value = serde_json::from_str(reply)
            .map_err(|e| format!("bulk reply is not JSON ({e}): sending the batch again"))?;
        if v.get("errors").and_then(|e| e.as_bool()) == Some(false) {
            return Ok(Vec::new());
        }
        let items = v
            .get("items")
            .and_then(|i| i.as_array())
            .ok_or("bulk reply has errors but no items: sending the batch again")?;
        if items.len() != self.batch.len() {
            return Err(format!(
                "bulk reply has {} items for {} events: sending the batch again",
                items.len(),
                self.batch.len()
            ));
        }
        let mut refused = Vec::new();
        let mut retry = 0usize;
        for (i, item) in items.iter().enumerate() {
            let result = item
                .as_object()
                .and_then(|o| o.values().next())
                .cloned()
                .unwrap_or_default();
            let status = result.get("status").and_then(|s| s.as_u64()).unwrap_or(0) as u16;
            match status {
                200..=299 | 409 => {}
                s if transient(s) || s == 0 => retry += 1,
                s => refused.push((
                    i,
                    s,
                    result
                        .get("error")
                        .map(|e| e.to_string())
                        .unwrap_or_default(),
                )),
            }
        }
        if retry > 0 {
            return Err(format!(
                "{retry} of {} bulk items failed for now (429/5xx): sending the batch again (indexed ones answer 409)",
                items.len()
            ));
        }
        Ok(refused)
    }
}

impl Sink for HttpSink {
    fn push(&mut self, ev: &SealedEvent<'_>, id: &str) {
        let ms = ev
            .timestamp_ns
            .unwrap_or(ev.received_ns)
            .div_euclid(1_000_000);
        self.push_document(id, ms, ev.hostname.as_deref(), |ecs, stream, b| {
            ecs.write(ev, stream, b)
        });
    }

    fn push_alert(&mut self, alert: &AlertView, line: &[u8]) {
        let ms = chrono::DateTime::parse_from_rfc3339(&alert.timestamp)
            .map(|t| t.timestamp_millis())
            .unwrap_or(0);
        self.push_document(&alert.event.id, ms, None, |_, _, b| {
            b.extend_from_slice(line)
        });
    }

    fn flush(&mut self) -> Result<u64, String> {
        let body = std::mem::take(&mut self.body);
        let posted = self.post(&body);
        let result = posted.and_then(|(status, reply)| {
            let n = self.settle(&body, status, &reply)?;
            if let Some(acks) = self.acks.as_mut() {
                // A batch refused (dead-lettered) is done too: nothing to acknowledge.
                acks.answered((200..300).contains(&status).then_some(reply.as_str()));
            }
            Ok(n)
        });
        self.batch.clear();
        self.body = body;
        self.body.clear();
        result
    }

    fn confirm(&mut self, due: usize) -> Result<usize, String> {
        // Every batch was answered: what it delivered is known, unless the indexer
        // acknowledges (HEC) and has yet to.
        let Some(mut acks) = self.acks.take() else {
            return Ok(due);
        };
        let channel = acks.channel().to_string();
        let r = acks.confirm(due, |url, body| {
            self.post_to(url, body, false, Some(&channel))
        });
        self.acks = Some(acks);
        r
    }

    fn restart(&mut self) {
        if let Some(a) = &mut self.acks {
            a.clear();
        }
    }
}

impl HttpSink {
    /// Appends one document: the action line (Elasticsearch) or the envelope (HEC, its
    /// `host` the event's, else the stream) around the ECS line `ecs` writes, and notes
    /// where that line lies in the body.
    fn push_document(
        &mut self,
        id: &str,
        time_ms: i64,
        host: Option<&str>,
        ecs: impl FnOnce(&mut EcsWriter, &str, &mut Vec<u8>),
    ) {
        use crate::event::json::write_str;
        let (kind, index, b) = (self.kind, self.index.as_str(), &mut self.body);
        let host = host.unwrap_or(&self.stream);
        match kind {
            ForwardKind::Elasticsearch => {
                b.extend_from_slice(b"{\"create\":{\"_index\":");
                write_str(b, index);
                b.extend_from_slice(b",\"_id\":");
                write_str(b, id);
                b.extend_from_slice(b"}}\n");
            }
            ForwardKind::SplunkHec => {
                // The HEC envelope: the event's time in epoch seconds, the ECS event
                // inside as it is.
                b.extend_from_slice(b"{\"time\":");
                let frac = time_ms.rem_euclid(1000) as u16;
                b.extend_from_slice(
                    itoa::Buffer::new()
                        .format(time_ms.div_euclid(1000))
                        .as_bytes(),
                );
                b.extend_from_slice(&[
                    b'.',
                    b'0' + (frac / 100) as u8,
                    b'0' + (frac / 10 % 10) as u8,
                    b'0' + (frac % 10) as u8,
                ]);
                b.extend_from_slice(b",\"host\":");
                write_str(b, host);
                b.extend_from_slice(
                    b",\"source\":\"sealtrail\",\"sourcetype\":\"sealtrail:ecs\",\"event\":",
                );
            }
            _ => {}
        }
        let start = b.len();
        ecs(&mut self.ecs, &self.stream, b);
        let ecs = start..b.len();
        if kind == ForwardKind::SplunkHec {
            b.push(b'}');
        }
        b.push(b'\n');
        self.batch.push(Pending {
            id: id.to_string(),
            ecs,
        });
    }

    /// What the reply means for the batch: delivered (some items maybe dead-lettered),
    /// or an error to send it again.
    fn settle(&self, body: &[u8], status: u16, reply: &str) -> Result<u64, String> {
        let dead = |p: &Pending, status: u16, why: &str| {
            self.dead.write(&p.id, &body[p.ecs.clone()], status, why);
        };
        match status {
            200..=299 if self.kind == ForwardKind::Elasticsearch => {
                for (i, s, why) in self.bulk_items(reply)? {
                    dead(&self.batch[i], s, &why);
                }
                Ok(body.len() as u64)
            }
            200..=299 => Ok(body.len() as u64),
            s if transient(s) => Err(format!(
                "{} answered {s}: {}",
                self.url,
                reply.chars().take(200).collect::<String>()
            )),
            s => {
                let why: String = reply.chars().take(500).collect();
                for p in &self.batch {
                    dead(p, s, &why);
                }
                Ok(body.len() as u64)
            }
        }
    }
}
