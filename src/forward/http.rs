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
    /// The batch: each event's id and ECS line.
    batch: Vec<(String, Vec<u8>)>,
    dead: DeadLetter,
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
            dead,
        }
    }

    fn body(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.batch.iter().map(|(_, l)| l.len() + 80).sum());
        for (id, line) in &self.batch {
            match self.kind {
                ForwardKind::Elasticsearch => {
                    let action = serde_json::json!({"create": {"_index": self.index, "_id": id}});
                    body.extend_from_slice(action.to_string().as_bytes());
                    body.push(b'\n');
                    body.extend_from_slice(line);
                }
                ForwardKind::SplunkHec => {
                    // The HEC envelope: its time in epoch seconds, the ECS event inside.
                    let ev: serde_json::Value =
                        serde_json::from_slice(line).unwrap_or(serde_json::Value::Null);
                    let time = ev
                        .pointer("/@timestamp")
                        .and_then(|t| t.as_str())
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| t.timestamp_millis() as f64 / 1000.0);
                    let host = ev.pointer("/host/hostname").cloned();
                    let envelope = serde_json::json!({
                        "time": time,
                        "host": host,
                        "source": "sealtrail",
                        "sourcetype": "sealtrail:ecs",
                        "event": ev,
                    });
                    body.extend_from_slice(envelope.to_string().as_bytes());
                }
                _ => body.extend_from_slice(line),
            }
            body.push(b'\n');
        }
        body
    }

    fn post(&self, body: &[u8]) -> Result<(u16, String), String> {
        let content_type = match self.kind {
            ForwardKind::SplunkHec => "application/json",
            _ => "application/x-ndjson",
        };
        let mut req = self
            .agent
            .post(&self.url)
            .header("content-type", content_type);
        if let Some(a) = &self.authorization {
            req = req.header("authorization", a);
        }
        let resp = if self.gzip {
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
        let mut resp = resp.map_err(|e| format!("posting to {}: {e}", self.url))?;
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
        let mut line = Vec::with_capacity(ev.original.len() * 3 + 256);
        self.ecs.write(ev, &self.stream, &mut line);
        self.batch.push((id.to_string(), line));
    }

    fn flush(&mut self) -> Result<u64, String> {
        let body = self.body();
        let (status, reply) = match self.post(&body) {
            Ok(r) => r,
            Err(e) => {
                self.batch.clear();
                return Err(e);
            }
        };
        let result = match status {
            200..=299 if self.kind == ForwardKind::Elasticsearch => match self.bulk_items(&reply) {
                Ok(refused) => {
                    for (i, s, why) in refused {
                        let (id, line) = &self.batch[i];
                        self.dead.write(id, line, s, &why);
                    }
                    Ok(body.len() as u64)
                }
                Err(e) => Err(e),
            },
            200..=299 => Ok(body.len() as u64),
            s if transient(s) => Err(format!(
                "{} answered {s}: {}",
                self.url,
                reply.chars().take(200).collect::<String>()
            )),
            s => {
                let why: String = reply.chars().take(500).collect();
                for (id, line) in &self.batch {
                    self.dead.write(id, line, s, &why);
                }
                Ok(body.len() as u64)
            }
        };
        self.batch.clear();
        result
    }

    fn healthy(&mut self) -> bool {
        // Every batch was answered: what it delivered is known.
        true
    }
}
