//! The HTTP endpoint that serves `/metrics` and `/status`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{render_metrics, Probe, StatusError};

/// Longest request head accepted.
const MAX_REQUEST: usize = 8 * 1024;
/// Time a client gets to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more wait in the accept queue.
const MAX_CONNECTIONS: usize = 16;

/// A running status endpoint.
pub struct StatusServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
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

    /// Stops accepting and waits for the accept loop to end.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn serve(listener: TcpListener, probe: Arc<Probe>, stop: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => return,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let conn = tokio::select! {
            _ = stop.cancelled() => return,
            c = listener.accept() => c,
        };
        match conn {
            Ok((stream, _peer)) => {
                let probe = probe.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(REQUEST_TIMEOUT, handle(stream, &probe)).await;
                    drop(permit);
                });
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "status endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle(mut stream: TcpStream, probe: &Probe) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            break Some(i);
        }
        if buf.len() >= MAX_REQUEST {
            break None;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let response = match head_end {
        None => reply(400, "text/plain", "bad request\n".into(), false),
        Some(end) => route(&buf[..end], probe),
    };
    stream.write_all(&response).await?;
    stream.shutdown().await
}

/// Builds the response for a request head (request line and headers).
fn route(head: &[u8], probe: &Probe) -> Vec<u8> {
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return reply(400, "text/plain", "bad request\n".into(), false);
    };
    if !version.starts_with("HTTP/1.") {
        return reply(400, "text/plain", "bad request\n".into(), false);
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return reply(405, "text/plain", "only GET and HEAD\n".into(), false),
    };
    let path = target.split('?').next().unwrap_or_default();
    match path {
        "/metrics" => reply(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            render_metrics(&probe.snapshot()),
            head_only,
        ),
        "/status" => {
            let body = serde_json::to_string_pretty(&probe.snapshot()).unwrap_or_default() + "\n";
            reply(200, "application/json", body, head_only)
        }
        "/" => reply(
            200,
            "text/plain; charset=utf-8",
            "sealtrail status endpoint: GET /metrics (Prometheus), GET /status (JSON)\n".into(),
            head_only,
        ),
        _ => reply(404, "text/plain", "not found\n".into(), head_only),
    }
}

fn reply(code: u16, content_type: &str, body: String, head_only: bool) -> Vec<u8> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Error",
    };
    let allow = if code == 405 {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}
