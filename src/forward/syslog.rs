//! The syslog forwarder: RFC 5424 messages ([`super::rfc5424`]) over TCP with octet
//! counting, or over UDP one datagram each. The TCP connection is opened when there is
//! something to send and reopened after any failure; the consumer then sends again from
//! its cursor, so a connection that dies with data in flight loses nothing.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use super::consumer::Sink;
use super::rfc5424::{HeaderOptions, Rfc5424Writer};
use super::tls::TlsClient;
use super::{ForwardConfig, ForwardTransport};
use crate::detect::AlertView;
use crate::event::SealedEvent;

/// A stalled receiver fails the write after this long (then the connection is redone).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An open stream connection, plain or TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.write_all(b),
            Conn::Tls(s) => s.write_all(b).and_then(|()| s.flush()),
        }
    }

    fn socket(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => &s.sock,
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

pub struct SyslogSink {
    address: String,
    transport: ForwardTransport,
    header: HeaderOptions,
    stream: String,
    tls: Option<TlsClient>,
    tcp: Option<Conn>,
    udp: Option<UdpSocket>,
    writer: Rfc5424Writer,
    /// The batch being built: octet-counted frames (TCP), or the messages back to back
    /// with where each ends (UDP: one datagram each).
    buf: Vec<u8>,
    datagram_ends: Vec<usize>,
}

impl SyslogSink {
    pub fn new(cfg: &ForwardConfig, stream: &str, tls: Option<TlsClient>) -> SyslogSink {
        SyslogSink {
            tls,
            address: cfg.address.clone().unwrap_or_default(),
            transport: cfg.transport,
            header: HeaderOptions {
                app_name: cfg.app_name.clone(),
                hostname: cfg.hostname.clone(),
                facility: cfg.facility,
            },
            stream: stream.to_string(),
            tcp: None,
            udp: None,
            writer: Rfc5424Writer::default(),
            buf: Vec::with_capacity(256 * 1024),
            datagram_ends: Vec::new(),
        }
    }

    fn connect(&self) -> Result<Conn, String> {
        let sock = self.connect_tcp()?;
        let Some(tls) = &self.tls else {
            return Ok(Conn::Plain(sock));
        };
        let conn = rustls::ClientConnection::new(tls.config.clone(), tls.server_name.clone())
            .map_err(|e| format!("TLS to {}: {e}", self.address))?;
        let mut s = rustls::StreamOwned::new(conn, sock);
        // Complete the handshake now, so a certificate problem is reported as such.
        while s.conn.is_handshaking() {
            s.conn
                .complete_io(&mut s.sock)
                .map_err(|e| format!("TLS handshake with {}: {e}", self.address))?;
        }
        Ok(Conn::Tls(Box::new(s)))
    }

    fn connect_tcp(&self) -> Result<TcpStream, String> {
        let addrs = self
            .address
            .to_socket_addrs()
            .map_err(|e| format!("resolving {}: {e}", self.address))?;
        let mut last = format!("{} resolves to no address", self.address);
        for a in addrs {
            match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
                Ok(s) => {
                    s.set_write_timeout(Some(WRITE_TIMEOUT))
                        .and_then(|()| s.set_nodelay(true))
                        .map_err(|e| e.to_string())?;
                    return Ok(s);
                }
                Err(e) => last = format!("connecting to {a}: {e}"),
            }
        }
        Err(last)
    }
}

impl SyslogSink {
    /// Adds the message `write` renders to the batch: octet-counted over TCP, one
    /// datagram over UDP.
    fn add(&mut self, write: impl FnOnce(&mut Rfc5424Writer, &mut Vec<u8>, &str, &HeaderOptions)) {
        let (stream, header) = (self.stream.as_str(), &self.header);
        match self.transport {
            ForwardTransport::Tcp => self
                .writer
                .framed(&mut self.buf, |w, msg| write(w, msg, stream, header)),
            ForwardTransport::Udp => {
                write(&mut self.writer, &mut self.buf, stream, header);
                self.datagram_ends.push(self.buf.len());
            }
        }
    }
}

impl Sink for SyslogSink {
    fn push(&mut self, ev: &SealedEvent<'_>, id: &str) {
        self.add(|w, out, stream, header| w.write(out, ev, id, stream, header));
    }

    fn push_alert(&mut self, alert: &AlertView, _line: &[u8]) {
        self.add(|_, out, stream, header| super::rfc5424::write_alert(out, alert, stream, header));
    }

    fn flush(&mut self) -> Result<u64, String> {
        match self.transport {
            ForwardTransport::Tcp => {
                let bytes = std::mem::take(&mut self.buf);
                let mut conn = match self.tcp.take() {
                    Some(c) => c,
                    None => self.connect()?,
                };
                let r = conn
                    .write_all(&bytes)
                    .map_err(|e| format!("writing to {}: {e}", self.address));
                let n = bytes.len() as u64;
                self.buf = bytes;
                self.buf.clear();
                r?;
                self.tcp = Some(conn);
                Ok(n)
            }
            ForwardTransport::Udp => {
                // Whatever happens, this batch is done: after a failure the consumer
                // pushes it again from its cursor.
                let ends = std::mem::take(&mut self.datagram_ends);
                let bytes = std::mem::take(&mut self.buf);
                let sock = match self.udp.take() {
                    Some(s) => s,
                    None => {
                        let target = self
                            .address
                            .to_socket_addrs()
                            .map_err(|e| format!("resolving {}: {e}", self.address))?
                            .next()
                            .ok_or_else(|| format!("{} resolves to no address", self.address))?;
                        let bind = if target.is_ipv6() {
                            "[::]:0"
                        } else {
                            "0.0.0.0:0"
                        };
                        let s = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
                        s.connect(target).map_err(|e| e.to_string())?;
                        s
                    }
                };
                let mut start = 0;
                let sent = ends.iter().try_for_each(|&end| {
                    // A datagram the network drops is gone: UDP says nothing either way.
                    let r = sock.send(&bytes[start..end]).map(|_| ());
                    start = end;
                    r
                });
                let n = bytes.len() as u64;
                (self.buf, self.datagram_ends) = (bytes, ends);
                self.buf.clear();
                self.datagram_ends.clear();
                sent.map_err(|e| format!("sending to {}: {e}", self.address))?;
                self.udp = Some(sock);
                Ok(n)
            }
        }
    }

    fn confirm(&mut self, due: usize) -> Result<usize, String> {
        if self.healthy() {
            Ok(due)
        } else {
            Err("the receiver closed the connection".into())
        }
    }
}

impl SyslogSink {
    fn healthy(&mut self) -> bool {
        if self.transport == ForwardTransport::Udp {
            return true;
        }
        let Some(conn) = &mut self.tcp else {
            return false;
        };
        // A receiver that closed (or reset) the connection shows as end-of-file (a TLS
        // close_notify too) or an error on a non-blocking read; a live one has nothing
        // to say (WouldBlock).
        if conn.socket().set_nonblocking(true).is_err() {
            return false;
        }
        let mut probe = [0u8; 512];
        let alive = match conn.read(&mut probe) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == ErrorKind::WouldBlock,
        };
        let reset = conn.socket().set_nonblocking(false).is_ok();
        if !(alive && reset) {
            self.tcp = None;
        }
        alive && reset
    }
}

impl SyslogSink {
    /// `tcp`, `tls` or `udp`, for logs.
    pub fn transport_name(&self) -> &'static str {
        match (self.transport, self.tls.is_some()) {
            (ForwardTransport::Tcp, true) => "tls",
            (t, _) => t.as_str(),
        }
    }
}
