//! The HTTP endpoint that serves `/metrics` and `/status`, on hyper.
//!
//! The endpoint must stay reachable when something on the host holds connections open
//! and says nothing, by mistake (a stuck health checker) or on purpose: a scraper that
//! cannot get through is indistinguishable from a dead daemon. So the connection policy
//! is ours, not the kernel's accept queue:
//!
//! * at most [`MAX_CONNECTIONS`] at once; a connection arriving at the cap closes the
//!   *oldest idle* one (accepted, but no request head yet). A scraper sends its request
//!   the moment it connects and is answered within a millisecond, so the oldest idle
//!   connection is the one holding a slot for nothing, and a flood of idle connections
//!   can never keep a scrape out: each new connection only ever displaces an older one.
//! * each connection has [`HEAD_TIMEOUT`] to deliver its request head, and
//!   [`CONNECTION_LIFETIME`] to live at all (a client that never reads its response);
//! * one request per connection (`Connection: close`), so a slot is held for one
//!   exchange and never by a kept-alive connection doing nothing between scrapes. The
//!   cost is one loopback handshake per scrape, which is nothing at scrape intervals;
//! * `accept` failures (`EMFILE` when the process is out of descriptors) back off
//!   exponentially and are logged at most once per [`ACCEPT_LOG_INTERVAL`], with a count.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{metrics, render_metrics, Probe, StatusError};
use crate::throttle::{Backoff, Throttle};

/// Connections held at once. A scrape needs one for about a millisecond; 32 leaves room
/// for several scrapers and operators at once while bounding what a flood can cost
/// (descriptors and memory) to a few dozen.
pub(super) const MAX_CONNECTIONS: usize = 32;
/// Time a connection gets to deliver its whole request head. Every legitimate client
/// sends it at once; this bounds what an idle connection holds when nothing evicts it.
pub(super) const HEAD_TIMEOUT: Duration = Duration::from_secs(2);
/// Upper bound on a connection's life from accept to close: the head deadline plus
/// generous time to take a response of a few kilobytes off the socket.
pub(super) const CONNECTION_LIFETIME: Duration = Duration::from_secs(10);
/// Longest request head: hyper's minimum read buffer, ample for a `GET`.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// At most one warning about failing `accept` calls per interval: a descriptor shortage
/// is when the journal can least afford one line per failure.
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(30);

const HELP: &str = "sealtrail status endpoint: GET /metrics (Prometheus), GET /status (JSON)\n";

/// A running status endpoint.
pub struct StatusServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl StatusServer {
    /// Binds `address` and serves `probe` until [`StatusServer::stop`].
    pub async fn start(
        address: SocketAddr,
        probe: Arc<Probe>,
    ) -> Result<StatusServer, StatusError> {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| StatusError::Bind { address, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StatusError::Bind { address, source })?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, probe, stop.clone()));
        Ok(StatusServer { addr, stop, task })
    }

    /// Where it listens (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes the open connections and waits until the port is free.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn serve(listener: TcpListener, probe: Arc<Probe>, stop: CancellationToken) {
    let mut conns = Connections::new(MAX_CONNECTIONS);
    // Retrying at once would spin a core on `EMFILE` (the pending connection stays
    // queued, so every retry fails until a descriptor is freed); a line per failure
    // would flood the log when it can least afford it.
    let mut backoff = Backoff::default();
    let mut log = Throttle::new(ACCEPT_LOG_INTERVAL);
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _peer)) => {
                backoff.reset();
                conns.admit(stream, &probe);
            }
            Err(e) => {
                let pause = backoff.step();
                if let Some(n) = log.hit(Instant::now()) {
                    tracing::warn!(
                        error = %e,
                        failures = n,
                        retry_in = ?pause,
                        "status endpoint: accept failed; backing off"
                    );
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
    conns.close_all();
}

/// The open connections, oldest first, so the cap can evict the right one.
struct Connections {
    live: VecDeque<Conn>,
    cap: usize,
}

struct Conn {
    task: JoinHandle<()>,
    /// Set once the request head is in: the connection is being answered, not idling.
    busy: Arc<AtomicBool>,
}

impl Connections {
    fn new(cap: usize) -> Connections {
        Connections {
            live: VecDeque::with_capacity(cap + 1),
            cap,
        }
    }

    /// Serves `stream`, first closing the oldest idle connection if it would exceed the
    /// cap (the oldest busy one if none is idle: a busy one is done within a moment, so
    /// that only happens under a flood of real requests, where dropping one is fair).
    fn admit(&mut self, stream: TcpStream, probe: &Arc<Probe>) {
        self.live.retain(|c| !c.task.is_finished());
        if self.live.len() >= self.cap {
            let victim = self
                .live
                .iter()
                .position(|c| !c.busy.load(Ordering::Relaxed))
                .unwrap_or(0);
            if let Some(old) = self.live.remove(victim) {
                old.task.abort();
            }
        }
        let busy = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(connection(stream, probe.clone(), busy.clone()));
        self.live.push_back(Conn { task, busy });
    }

    /// Aborting a connection's task drops its socket, which closes it.
    fn close_all(&mut self) {
        for c in self.live.drain(..) {
            c.task.abort();
        }
    }
}

/// One connection, one request; every way it can end is normal for a status endpoint
/// (a client that gave up, a head that never came), so it is only logged at debug.
async fn connection(stream: TcpStream, probe: Arc<Probe>, busy: Arc<AtomicBool>) {
    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
        busy.store(true, Ordering::Relaxed);
        let response = respond(req.method(), req.uri().path(), &probe);
        async move { Ok::<_, Infallible>(response) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .keep_alive(false)
        // A client may send its request and shut its write side (`nc -q`, scripts): it
        // still gets its answer.
        .half_close(true)
        .max_buf_size(MAX_HEAD_BYTES)
        .title_case_headers(true)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(CONNECTION_LIFETIME, conn).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "status endpoint: connection ended"),
        Err(_) => tracing::debug!("status endpoint: connection outlived its time; closed"),
    }
}

/// Routes one request. The snapshot is taken per request: a few atomic loads.
fn respond(method: &Method, path: &str, probe: &Probe) -> Response<Full<Bytes>> {
    // HEAD gets the same response; hyper sends its head and length but no body.
    if method != Method::GET && method != Method::HEAD {
        let mut r = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET and HEAD\n".into(),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match path {
        "/metrics" => match render_metrics(probe.snapshot()) {
            Ok(text) => reply(StatusCode::OK, metrics::CONTENT_TYPE, text),
            Err(e) => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                format!("cannot encode the metrics: {e}\n"),
            ),
        },
        "/status" => match serde_json::to_string_pretty(&probe.snapshot()) {
            Ok(json) => reply(StatusCode::OK, "application/json", json + "\n"),
            Err(e) => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                format!("cannot encode the snapshot: {e}\n"),
            ),
        },
        "/" => reply(StatusCode::OK, "text/plain; charset=utf-8", HELP.into()),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
