//! The client side: what `sealtrail status` uses to ask the endpoint.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use super::{render_text, Snapshot, StatusError};

/// Blocking `GET path` against the endpoint; returns the body of a 200 response.
pub fn fetch(address: SocketAddr, path: &str, timeout: Duration) -> Result<String, StatusError> {
    let connect = |source| StatusError::Connect { address, source };
    let mut s = std::net::TcpStream::connect_timeout(&address, timeout).map_err(connect)?;
    s.set_read_timeout(Some(timeout)).map_err(connect)?;
    s.set_write_timeout(Some(timeout)).map_err(connect)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .map_err(connect)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(connect)?;
    let bad = |message: String| StatusError::Response { address, message };
    let end = memchr::memmem::find(&raw, b"\r\n\r\n")
        .ok_or_else(|| bad("incomplete HTTP response".into()))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status = head.lines().next().unwrap_or_default();
    if status.split(' ').nth(1) != Some("200") {
        return Err(bad(format!("unexpected response `{status}`")));
    }
    String::from_utf8(raw[end + 4..].to_vec()).map_err(|_| bad("body is not UTF-8".into()))
}

/// `sealtrail status`: fetches `/status` and prints it for a human (or raw JSON).
pub fn print_status(
    address: SocketAddr,
    json: bool,
    out: &mut dyn Write,
) -> Result<Snapshot, StatusError> {
    let body = fetch(address, "/status", Duration::from_secs(5))?;
    let snap: Snapshot = serde_json::from_str(&body).map_err(|e| StatusError::Response {
        address,
        message: format!("unreadable /status JSON: {e}"),
    })?;
    let text = if json { body } else { render_text(&snap) };
    let _ = out.write_all(text.as_bytes());
    Ok(snap)
}
