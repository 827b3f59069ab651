//! One request to the audit API: authenticate, read the body within its bound, check
//! every event, journal them all as one batch, and answer only once they are durable.
//!
//! | reply | when |
//! |---|---|
//! | `200` `{"accepted":N,"ids":["<stream>:<position>",…]}` | every event is durable in the journal (fsync'd) |
//! | `400` `{"error":…,"event":i}` | the body is not JSON, or event `i` (from 0) is not a valid audit event: nothing is stored |
//! | `401` | the bearer token is missing or wrong (`WWW-Authenticate: Bearer`) |
//! | `404`, `405` | another path, another method than `POST /v1/events` |
//! | `413` | the body is over `max_body_bytes`, or holds over `max_events` events |
//! | `503` + `Retry-After` | the journal cannot take them now (full, or shutting down), or did not confirm them within `ack_timeout` |
//!
//! A 503 after the events were queued (the confirmation timed out) cannot take them
//! back: they may still become durable, so a client that retries may store them twice
//! (at least once, never lost: what was acknowledged is durable).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::value::RawValue;

use super::Endpoint;
use crate::event::audit::AuditEvent;
use crate::journal::{Batch, JournalError, Pressure};
use crate::record::{now_ns, IngestRecord, Origin, PeerCred, RecordFlags, Sender};

/// The one path.
pub const EVENTS_PATH: &str = "/v1/events";
/// What a client is told to wait before retrying after a 503.
const RETRY_AFTER_SECONDS: &str = "1";

/// Who is on the other end of a connection.
#[derive(Debug, Default)]
pub(super) struct Peer {
    pub addr: Option<std::net::SocketAddr>,
    /// The verified TLS client certificate's identity.
    pub client: Option<Vec<u8>>,
    /// The process's credentials, on a unix socket.
    pub cred: Option<PeerCred>,
}

type Reply = Response<Full<Bytes>>;

fn json_reply(status: StatusCode, body: serde_json::Value) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string() + "\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error(status: StatusCode, message: impl Into<String>) -> Reply {
    json_reply(status, serde_json::json!({ "error": message.into() }))
}

fn unavailable(message: impl Into<String>) -> Reply {
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, message);
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECONDS),
    );
    r
}

/// Compares without returning early, so the time taken says nothing about how much of
/// a guessed token was right.
fn same_token(given: &[u8], want: &[u8]) -> bool {
    let mut diff = given.len() ^ want.len();
    for (i, w) in want.iter().enumerate() {
        diff |= usize::from(given.get(i).copied().unwrap_or(0) ^ w);
    }
    diff == 0
}

/// Whether the request carries the endpoint's token (always true without one).
fn authorised(ep: &Endpoint, req: &Request<hyper::body::Incoming>) -> Result<(), Box<Reply>> {
    let Some(want) = &ep.token else {
        return Ok(());
    };
    let refuse = |message: &str| {
        let mut r = error(StatusCode::UNAUTHORIZED, message);
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"sealtrail\""),
        );
        Err(Box::new(r))
    };
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return refuse("missing bearer token (Authorization: Bearer <token>)");
    };
    let given = value.as_bytes();
    let token = given
        .strip_prefix(b"Bearer ")
        .or_else(|| given.strip_prefix(b"bearer "));
    match token {
        Some(t) if same_token(t.trim_ascii(), want.as_bytes()) => Ok(()),
        _ => refuse("invalid bearer token"),
    }
}

/// The events of a body: a JSON array of objects, or objects one after the other
/// (JSON lines, or one object), each as its exact text.
pub(super) fn split(body: &str) -> Result<Vec<&RawValue>, String> {
    if body.trim_start().starts_with('[') {
        return serde_json::from_str::<Vec<&RawValue>>(body)
            .map_err(|e| format!("the body is not a JSON array of events: {e}"));
    }
    serde_json::Deserializer::from_str(body)
        .into_iter::<&RawValue>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the body is not JSON (an object, an array, or JSON lines): {e}"))
}

/// Answers one request.
pub(super) async fn handle(
    ep: Arc<Endpoint>,
    peer: Arc<Peer>,
    req: Request<hyper::body::Incoming>,
) -> Reply {
    let reply = respond(&ep, &peer, req).await;
    if reply.status().is_client_error() {
        ep.stats.errors.fetch_add(1, Ordering::Relaxed);
    }
    reply
}

async fn respond(ep: &Endpoint, peer: &Peer, req: Request<hyper::body::Incoming>) -> Reply {
    if req.uri().path() != EVENTS_PATH {
        return error(
            StatusCode::NOT_FOUND,
            format!("no such path; events are POSTed to {EVENTS_PATH}"),
        );
    }
    if req.method() != Method::POST {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{EVENTS_PATH} takes POST"),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    if let Err(r) = authorised(ep, &req) {
        return *r;
    }
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is over max_body_bytes ({} bytes): send fewer events per request",
                ep.max_body_bytes
            ),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > ep.max_body_bytes as u64) {
        return too_large();
    }
    let body = match Limited::new(req.into_body(), ep.max_body_bytes)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("the body could not be read: {e}"),
            )
        }
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return error(StatusCode::BAD_REQUEST, "the body is not UTF-8 text");
    };
    let events = match split(text) {
        Ok(e) => e,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    if events.is_empty() {
        return error(StatusCode::BAD_REQUEST, "the body holds no event");
    }
    if events.len() > ep.max_events {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} events in one request, max_events is {}",
                events.len(),
                ep.max_events
            ),
        );
    }
    for (i, e) in events.iter().enumerate() {
        if let Err(err) = AuditEvent::parse(e.get()) {
            return json_reply(
                StatusCode::BAD_REQUEST,
                serde_json::json!({
                    "error": format!("event {i}: {err}; nothing was stored"),
                    "event": i,
                }),
            );
        }
    }
    store(ep, peer, &events, body.len()).await
}

/// Journals the events as one batch and waits until they are durable.
async fn store(ep: &Endpoint, peer: &Peer, events: &[&RawValue], body_bytes: usize) -> Reply {
    if ep.journal.pressure() == Pressure::Blocked {
        return unavailable("the journal is full: try again shortly");
    }
    let received_ns = now_ns();
    let sender = Sender {
        peer: peer.addr,
        client: peer.client.as_deref(),
        cred: peer.cred,
    };
    let mut batch = Batch::with_capacity(body_bytes + events.len() * 64);
    let mut offsets = Vec::with_capacity(events.len());
    for e in events {
        offsets.push(batch.bytes() as u64);
        let rec = IngestRecord {
            received_ns,
            source: ep.index,
            origin: Origin::App(sender),
            flags: RecordFlags::EMPTY,
            raw: e.get().as_bytes(),
        };
        batch.push_with(|out| rec.encode_into(out));
    }
    let len = batch.bytes() as u64;
    let end = match ep.journal.try_append(batch) {
        Ok(Ok(end)) => end,
        Ok(Err(_)) => return unavailable("the journal's queue is full: try again shortly"),
        Err(JournalError::Closed) => return unavailable("sealtrail is shutting down"),
        Err(e) => {
            tracing::error!(source = %ep.name, error = %e, "the journal refused a batch of audit events");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the journal refused the events; nothing was stored",
            );
        }
    };
    match tokio::time::timeout(ep.ack_timeout, ep.journal.wait_durable(end)).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => {
            return unavailable(
                "sealtrail stopped before the events were durable: send them again",
            )
        }
        Err(_) => {
            return unavailable(format!(
                "the events were not confirmed durable within {:?}: send them again (they may be stored twice)",
                ep.ack_timeout
            ))
        }
    }
    ep.stats
        .received_events
        .fetch_add(events.len() as u64, Ordering::Relaxed);
    ep.stats
        .received_bytes
        .fetch_add(body_bytes as u64, Ordering::Relaxed);
    let start = end - len;
    let ids: Vec<String> = offsets
        .iter()
        .map(|o| format!("{}:{}", ep.stream, start + o))
        .collect();
    json_reply(
        StatusCode::OK,
        serde_json::json!({ "accepted": events.len(), "ids": ids }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_split_into_their_events_verbatim() {
        let one = "{\n  \"actor\": \"a\",\n  \"action\": \"x\"\n}\n";
        let got = split(one).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].get(), one.trim_end());
        let lines = "{\"actor\":\"a\",\"action\":\"x\"}\n{\"actor\":\"b\", \"action\":\"y\"}\n";
        let got: Vec<&str> = split(lines).unwrap().iter().map(|r| r.get()).collect();
        assert_eq!(
            got,
            [
                "{\"actor\":\"a\",\"action\":\"x\"}",
                "{\"actor\":\"b\", \"action\":\"y\"}"
            ]
        );
        let array = " [ {\"actor\":\"a\",\"action\":\"x\"} , {\"actor\":\"b\",\"action\":\"y\"} ]";
        assert_eq!(split(array).unwrap().len(), 2);
        assert!(split("{\"actor\":").is_err());
        assert!(split("[{}").is_err());
        assert!(split("").unwrap().is_empty());
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token(b"s3cret", b"s3cret"));
        assert!(!same_token(b"s3cre", b"s3cret"));
        assert!(!same_token(b"s3cret!", b"s3cret"));
        assert!(!same_token(b"", b"s3cret"));
        assert!(!same_token(b"S3cret", b"s3cret"));
    }
}
