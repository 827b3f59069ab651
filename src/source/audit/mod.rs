//! The application audit API: applications POST their own audit events ("who did what
//! to which record, and was it allowed") and are answered only once the events are
//! durable in the journal, so an acknowledged event is never lost.
//!
//! A source component like the syslog listeners: [`build`] binds a TCP address (plain
//! on loopback, or HTTPS with rustls and optionally client certificates) or a unix
//! stream socket, and its task serves HTTP/1.1 on hyper until shutdown. Each valid
//! event is journalled as an *application audit event* record (kind 4, see
//! [`crate::record`]): the object's exact text, with the sender (peer address, TLS
//! client identity, or the unix peer's pid/uid/gid from `SO_PEERCRED`). The object is
//! read by [`crate::event::audit`] — here to refuse a bad request whole, later by the
//! normaliser and the ECS renderer. Requests are handled in [`request`].
//!
//! Authentication: the bearer token of `token_file`, compared in constant time and
//! never logged; on a unix socket the socket's permissions may stand instead.
//!
//! Bounds: `max_connections` open at once (more are closed on accept), a request head
//! within [`HEAD_TIMEOUT`] (also between requests on a kept-alive connection), a body
//! of `max_body_bytes`, a TLS handshake within `tls.handshake_timeout`. Shutdown: stop
//! accepting, let each connection finish its request in flight (at most
//! `ack_timeout`), then return.

pub mod config;
mod request;

use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::syslog::tls::{Stream, TlsServer};
use super::{BuildError, Built, SourceContext, SourceError, SourceStats};
use crate::journal::Journal;
use crate::record::PeerCred;
pub use config::AuditApiConfig;
use request::Peer;
pub use request::EVENTS_PATH;

/// Time a connection gets to send a request head, and to send the next one on a
/// kept-alive connection before it is closed.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// What every request of one endpoint needs.
pub(super) struct Endpoint {
    name: String,
    index: u16,
    /// Names the chain: event ids are `<stream>:<position>`.
    stream: String,
    journal: Journal,
    stats: Arc<SourceStats>,
    token: Option<String>,
    max_body_bytes: usize,
    max_events: usize,
    ack_timeout: Duration,
}

enum Bound {
    Tcp(TcpListener, Option<TlsServer>),
    Unix(UnixListener, PathBuf),
}

/// Binds an `[[audit_api]]` endpoint and returns its task.
pub fn build(cfg: &AuditApiConfig, cx: SourceContext) -> Result<Built, BuildError> {
    let setup = |message: String| BuildError::Setup {
        source_name: cx.name.clone(),
        message,
    };
    cfg.check()
        .map_err(|(key, message)| setup(format!("{key}: {message}")))?;
    let token = match &cfg.token_file {
        Some(p) => Some(config::read_token(p).map_err(|e| setup(format!("token_file: {e}")))?),
        None => None,
    };
    let (bound, local_addr) = match (cfg.address, &cfg.path) {
        (Some(address), _) => {
            let bind_err = |source| BuildError::Bind {
                transport: if cfg.tls.is_some() { "https" } else { "http" },
                address,
                source,
            };
            let tls = match &cfg.tls {
                Some(t) => Some(t.server().map_err(|e| setup(format!("tls.{e}")))?),
                None => None,
            };
            let listener = super::syslog::tcp::bind(address).map_err(bind_err)?;
            let local = listener.local_addr().map_err(bind_err)?;
            (Bound::Tcp(listener, tls), Some(local))
        }
        (None, Some(path)) => {
            let listener = bind_unix(path, cfg.socket_mode())
                .map_err(|e| setup(format!("path: {}: {e}", path.display())))?;
            (Bound::Unix(listener, path.clone()), None)
        }
        (None, None) => return Err(setup("set `address` or `path`".into())),
    };
    let ep = Arc::new(Endpoint {
        name: cx.name.clone(),
        index: cx.index,
        stream: cx.stream.clone(),
        journal: cx.journal.clone(),
        stats: cx.stats.clone(),
        token,
        max_body_bytes: cfg.max_body_bytes,
        max_events: cfg.max_events,
        ack_timeout: cfg.ack_timeout,
    });
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    Ok(Built {
        task: Box::pin(serve(bound, ep, slots, cx.shutdown)),
        local_addr,
    })
}

/// Binds the unix socket: a socket left at `path` by an earlier run is replaced;
/// anything else there is refused, never removed.
fn bind_unix(path: &Path, mode: u32) -> std::io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a socket; it is left alone",
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}

async fn serve(
    bound: Bound,
    ep: Arc<Endpoint>,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
) -> Result<(), SourceError> {
    let mut conns = JoinSet::new();
    loop {
        // Reap finished connections so the set stays as small as the open ones.
        while conns.try_join_next().is_some() {}
        let accepted = match &bound {
            Bound::Tcp(l, _) => tokio::select! {
                _ = shutdown.cancelled() => break,
                a = l.accept() => a.map(|(s, peer)| Accepted::Tcp(s, peer)),
            },
            Bound::Unix(l, _) => tokio::select! {
                _ = shutdown.cancelled() => break,
                a = l.accept() => a.map(|(s, _)| Accepted::Unix(s)),
            },
        };
        let accepted = match accepted {
            Ok(a) => a,
            Err(e) => {
                ep.stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(source = %ep.name, error = %e, "audit API: accept failed");
                // EMFILE and friends: the pending connection stays queued, so retrying
                // at once would spin.
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            ep.stats.refused_connections[0].fetch_add(1, Ordering::Relaxed);
            tracing::debug!(source = %ep.name, "audit API: max_connections reached; connection closed");
            continue;
        };
        ep.stats.connections.fetch_add(1, Ordering::Relaxed);
        let tls = match &bound {
            Bound::Tcp(_, tls) => tls.clone(),
            Bound::Unix(..) => None,
        };
        let (ep, stop) = (ep.clone(), shutdown.clone());
        conns.spawn(async move {
            ep.stats.active_connections.fetch_add(1, Ordering::Relaxed);
            connection(accepted, tls, &ep, stop).await;
            ep.stats.active_connections.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    // Requests in flight finish (their events become durable, their answers go out);
    // idle connections are closed by the graceful shutdown each connection starts.
    while conns.join_next().await.is_some() {}
    if let Bound::Unix(_, path) = &bound {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::debug!(source = %ep.name, error = %e, "audit API: could not remove the socket");
        }
    }
    Ok(())
}

enum Accepted {
    Tcp(tokio::net::TcpStream, std::net::SocketAddr),
    Unix(tokio::net::UnixStream),
}

/// One connection: the TLS handshake if any, then HTTP/1.1 until the client leaves,
/// a head times out, or shutdown.
async fn connection(
    accepted: Accepted,
    tls: Option<TlsServer>,
    ep: &Arc<Endpoint>,
    stop: CancellationToken,
) {
    match accepted {
        Accepted::Tcp(stream, addr) => {
            let peer = |client: Option<String>| Peer {
                addr: Some(addr),
                client: client.map(String::into_bytes),
                cred: None,
            };
            match tls {
                None => http(stream, peer(None), ep, stop).await,
                Some(tls) => match tls.accept(stream).await {
                    Ok((Stream::Tls(t), identity)) => http(*t, peer(identity), ep, stop).await,
                    Ok((Stream::Plain(s), _)) => http(s, peer(None), ep, stop).await,
                    Err(e) => {
                        ep.stats
                            .tls_handshake_failures
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(source = %ep.name, peer = %addr, error = %e, "audit API: TLS handshake failed");
                    }
                },
            }
        }
        Accepted::Unix(stream) => {
            let cred = stream.peer_cred().ok().map(|c| PeerCred {
                pid: c.pid().and_then(|p| u32::try_from(p).ok()).unwrap_or(0),
                uid: c.uid(),
                gid: c.gid(),
            });
            let peer = Peer {
                addr: None,
                client: None,
                cred,
            };
            http(stream, peer, ep, stop).await
        }
    }
}

async fn http<S>(io: S, peer: Peer, ep: &Arc<Endpoint>, stop: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = Arc::new(peer);
    let ep2 = ep.clone();
    let service = service_fn(move |req| {
        let (ep, peer) = (ep2.clone(), peer.clone());
        async move { Ok::<_, std::convert::Infallible>(request::handle(ep, peer, req).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(source = %ep.name, error = %e, "audit API: connection ended");
    }
}

#[cfg(test)]
mod tests;
