//! The client side: what `sealtrail status` uses to ask the endpoint, on ureq.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use super::{render_text, Snapshot, StatusError};

/// Blocking `GET path` against the endpoint; returns the body of a 200 response.
///
/// `timeout` bounds the whole exchange, connect included. Transport failures (refused,
/// reset, timed out) are [`StatusError::Connect`]: the daemon is not there or not
/// answering. Anything that arrived but is not a 200 with a UTF-8 body is
/// [`StatusError::Response`].
pub fn fetch(address: SocketAddr, path: &str, timeout: Duration) -> Result<String, StatusError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        // The endpoint is local: an `http_proxy` in the operator's environment must
        // not send the request elsewhere.
        .proxy(None)
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let bad = |message: String| StatusError::Response { address, message };
    let url = format!("http://{address}{path}");
    let mut response = agent.get(&url).call().map_err(|e| classify(address, e))?;
    if response.status() != ureq::http::StatusCode::OK {
        return Err(bad(format!(
            "unexpected response `{:?} {}`",
            response.version(),
            response.status()
        )));
    }
    let body = response
        .body_mut()
        .read_to_vec()
        .map_err(|e| classify(address, e))?;
    String::from_utf8(body).map_err(|_| bad("body is not UTF-8".into()))
}

/// Sorts a ureq error into "could not talk to it" and "it said something wrong".
fn classify(address: SocketAddr, e: ureq::Error) -> StatusError {
    use std::io::{Error, ErrorKind};
    let source = match e {
        ureq::Error::Io(e) => e,
        ureq::Error::Timeout(t) => Error::new(ErrorKind::TimedOut, format!("timed out ({t})")),
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => Error::other(e.to_string()),
        other => {
            return StatusError::Response {
                address,
                message: other.to_string(),
            }
        }
    };
    StatusError::Connect { address, source }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::Instant;

    /// A one-connection server that reads the request and answers `reply` (or nothing).
    fn one_shot(reply: Option<&'static [u8]>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            match reply {
                Some(r) => {
                    let _ = s.write_all(r);
                }
                None => std::thread::sleep(Duration::from_secs(3)),
            }
        });
        addr
    }

    #[test]
    fn a_silent_endpoint_is_a_connect_error_after_the_timeout() {
        let addr = one_shot(None);
        let t = Instant::now();
        let e = fetch(addr, "/status", Duration::from_millis(300)).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert!(matches!(e, StatusError::Connect { .. }), "{e}");
        assert!(e.to_string().contains("is sealtrail running"), "{e}");
    }

    #[test]
    fn what_is_not_a_200_with_text_is_a_response_error() {
        let addr = one_shot(Some(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        ));
        let e = fetch(addr, "/status", Duration::from_secs(5)).unwrap_err();
        assert!(matches!(e, StatusError::Response { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("unexpected response `HTTP/1.1 503 Service Unavailable`"),
            "{e}"
        );
        let addr = one_shot(Some(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n\xff\xfe",
        ));
        let e = fetch(addr, "/status", Duration::from_secs(5)).unwrap_err();
        assert!(e.to_string().contains("body is not UTF-8"), "{e}");
        let addr = one_shot(Some(b"SSH-2.0-OpenSSH_9.6\r\n"));
        let e = fetch(addr, "/status", Duration::from_secs(5)).unwrap_err();
        assert!(matches!(e, StatusError::Response { .. }), "{e}");
    }
}
