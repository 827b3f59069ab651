//! Sending to the daemon: raw TCP and UDP, the real `logger`, connections from chosen
//! loopback addresses; and waiting for a condition.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use super::{run_cmd, IDLE_TIMEOUT};
use std::process::Command;

/// One TCP connection: writes `data`, half-closes, and reads until the daemon closes,
/// so on return the daemon has read every byte.
#[track_caller]
pub fn send_tcp(port: u16, data: &[u8]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to daemon");
    s.set_write_timeout(Some(IDLE_TIMEOUT)).unwrap();
    s.write_all(data).expect("write to daemon");
    s.shutdown(Shutdown::Write).expect("shutdown(write)");
    wait_server_close(s);
}

/// Reads until EOF (or reset): the daemon closed the connection after our EOF.
#[track_caller]
pub fn wait_server_close(mut s: TcpStream) {
    s.set_read_timeout(Some(IDLE_TIMEOUT)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("daemon did not close the TCP connection after our EOF: {e}"),
        }
    }
}

#[track_caller]
pub fn send_udp(port: u16, datagram: &[u8]) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let n = s
        .send_to(datagram, ("127.0.0.1", port))
        .expect("send datagram");
    assert_eq!(n, datagram.len());
}

/// Waits (at most 60 s, polling every 100 ms) until `f` holds.
#[track_caller]
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// A TCP connection to 127.0.0.1:`port` from the loopback address `src` (127.0.0.0/8
/// gives a test as many distinct peers as it wants).
pub fn connect_from(src: &str, port: u16) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    let local: std::net::SocketAddr = format!("{src}:0").parse().expect("source address");
    s.bind(&local.into())?;
    let remote: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    s.connect_timeout(&remote.into(), Duration::from_secs(10))?;
    Ok(s.into())
}

/// One message through the real `logger` over TCP with octet counting (`args` add
/// `-t`, `-p`, `--id`, ...); panics if logger fails.
#[track_caller]
pub fn logger_tcp(port: u16, args: &[&str], msg: &str) {
    let send = || {
        run_cmd(
            Command::new("logger")
                .args([
                    "-n",
                    "127.0.0.1",
                    "-P",
                    &port.to_string(),
                    "-T",
                    "--octet-count",
                ])
                .args(args)
                .arg(msg),
            Duration::from_secs(30),
        )
    };
    let mut out = send();
    // Seen under loaded full runs: logger's connect refused although the daemon was
    // listening. A second try tells a passing hiccup from a dead listener.
    if out.code != Some(0) && out.stderr_str().contains("failed to connect") {
        eprintln!(
            "logger could not connect, retrying once: {}",
            out.describe()
        );
        thread::sleep(Duration::from_millis(200));
        out = send();
    }
    assert_eq!(out.code, Some(0), "logger failed: {}", out.describe());
}
