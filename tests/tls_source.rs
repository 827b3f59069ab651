//! TLS syslog listeners against real peers: rsyslog forwards over TLS with its GnuTLS
//! driver and a client certificate made by the test (openssl CLI); every line arrives
//! and carries the certificate's identity. Clients without a certificate, or with one
//! from another CA, are refused (openssl s_client) and counted; bad key material is a
//! configuration error naming the key.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::pki::Pki;
use common::{connect_from, free_port, wait_until, Config, Listener, TestEnv, Transport};

/// rsyslogd relaying what it receives over plain TCP on `in_port` to `out_port` over
/// TLS (gtls, octet counting), presenting the client certificate of `pki`.
struct Relay {
    dir: PathBuf,
    in_port: u16,
    child: Child,
}

impl Relay {
    fn start(dir: &Path, out_port: u16, pki: &Pki) -> Relay {
        std::fs::create_dir_all(dir).unwrap();
        let in_port = free_port();
        let conf = dir.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{d}" DefaultNetstreamDriverCAFile="{ca}" DefaultNetstreamDriverCertFile="{cert}" DefaultNetstreamDriverKeyFile="{key}")
module(load="imtcp")
ruleset(name="fwd") {{
  action(type="omfwd" target="127.0.0.1" port="{out_port}" protocol="tcp" TCP_Framing="octet-counted"
         StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost"
         template="RSYSLOG_SyslogProtocol23Format" action.resumeRetryCount="-1" action.resumeInterval="1")
}}
input(type="imtcp" address="127.0.0.1" port="{in_port}" ruleset="fwd")
"#,
                d = dir.display(),
                ca = pki.ca.display(),
                cert = pki.client_cert.display(),
                key = pki.client_key.display(),
            ),
        )
        .unwrap();
        let child = Command::new("rsyslogd")
            .args(["-n", "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslog.pid"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("rsyslog.stderr")).unwrap())
            .spawn()
            .expect("start rsyslogd (tests/run.sh installs rsyslog and rsyslog-gnutls)");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", in_port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "rsyslogd did not listen: {}",
                std::fs::read_to_string(dir.join("rsyslog.stderr")).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(50));
        }
        Relay {
            dir: dir.to_path_buf(),
            in_port,
            child,
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        common::signal(self.child.id(), "TERM");
        let _ = self.child.wait();
        let _ = std::fs::remove_file(self.dir.join("rsyslog.pid"));
    }
}

fn q(p: &Path) -> String {
    common::toml_str(&p.to_string_lossy())
}

/// A TLS listener requiring client certificates of `pki`'s CA, with a status endpoint.
fn config(pki: &Pki) -> (Config, u16, u16) {
    let port = free_port();
    let status = free_port();
    let mut l = Listener::new("tls", Transport::Tls, port);
    l.extra = format!(
        "tls = {{ cert_file = {}, key_file = {}, client_ca_file = {}, handshake_timeout = \"2s\" }}\n",
        q(&pki.server_cert),
        q(&pki.server_key),
        q(&pki.ca)
    );
    let mut cfg = Config::new("tls-host", vec![l]);
    cfg.extra_toml = format!("\n[status]\naddress = \"127.0.0.1:{status}\"\n");
    (cfg, port, status)
}

fn received(status: u16) -> f64 {
    let m = common::http_get(status, "/metrics");
    common::metric(
        &m,
        "component_received_events_total",
        &[("component_id", "tls")],
    )
    .unwrap_or(0.0)
}

fn handshake_failures(status: u16) -> f64 {
    let m = common::http_get(status, "/metrics");
    common::metric(
        &m,
        "sealtrail_tls_handshake_failures_total",
        &[("component_id", "tls")],
    )
    .unwrap_or(0.0)
}

/// `openssl s_client` sending one message, with the client certificate `cert` if any.
fn s_client(port: u16, ca: &Path, cert: Option<(&Path, &Path)>) {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-quiet",
        "-connect",
        &format!("127.0.0.1:{port}"),
        "-CAfile",
    ])
    .arg(ca);
    if let Some((c, k)) = cert {
        cmd.arg("-cert").arg(c).arg("-key").arg(k);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client");
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write as _;
        let _ = stdin.write_all(b"21 <13>Dec  2 03:00:00 x\n");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn rsyslog_over_mutual_tls_delivers_every_line_with_the_client_identity() {
    let env = TestEnv::new();
    let pki = Pki::make(&env.path().join("pki"));
    let (cfg, port, status) = config(&pki);
    let mut d = env.start(&cfg);
    let relay = Relay::start(&env.path().join("rsyslog"), port, &pki);
    let mut lines = Vec::new();
    for i in 0..300 {
        lines.extend_from_slice(
            format!("<13>Dec  2 03:00:00 web1 app[7]: over tls {i:04}\n").as_bytes(),
        );
    }
    common::send_tcp(relay.in_port, &lines);
    wait_until("300 events over TLS", || received(status) >= 300.0);
    assert_eq!(handshake_failures(status), 0.0);

    // Refused: no certificate, and one signed by another CA. Nothing of theirs is
    // journalled, and each refusal is counted.
    s_client(port, &pki.ca, None);
    let other = Pki::make(&env.path().join("other-pki"));
    s_client(port, &pki.ca, Some((&other.client_cert, &other.client_key)));
    wait_until("two refused handshakes", || {
        handshake_failures(status) >= 2.0
    });
    // A legitimate sender still gets through after them.
    common::send_tcp(
        relay.in_port,
        b"<13>Dec  2 03:00:01 web1 app[7]: over tls 0300\n",
    );
    wait_until("the 301st event", || received(status) >= 301.0);
    assert_eq!(received(status), 301.0, "nothing from the refused clients");
    drop(relay); // its connection stays open until rsyslog stops
    d.wait_idle();
    let stopped = d.stop();
    assert!(stopped.status.success());

    let events = common::all_events(&common::read_archive(&env.archive_dir));
    let tls: Vec<_> = events
        .iter()
        .filter(|e| {
            e["event"]["original"]
                .as_str()
                .is_some_and(|o| o.contains("over tls "))
        })
        .collect();
    assert_eq!(tls.len(), 301, "every line sealed once");
    for e in &tls {
        let subject = e["tls"]["client"]["subject"].as_str().unwrap_or_default();
        assert!(subject.contains("CN=client"), "{e}");
        assert_eq!(
            e["tls"]["client"]["x509"]["alternative_names"],
            serde_json::json!(["DNS:web1.example"]),
            "{e}"
        );
    }
    common::assert_verify_ok(
        &env.verify(&cfg, &["--until", &stopped.until]),
        "archive of a TLS listener",
    );
}

#[test]
fn bad_key_material_is_a_configuration_error_naming_the_key() {
    let env = TestEnv::new();
    let pki = Pki::make(&env.path().join("pki"));
    let (cfg, _, _) = config(&pki);
    for (what, from, to, key) in [
        (
            "missing",
            q(&pki.server_cert),
            "\"/nonexistent/server.pem\"".to_string(),
            "syslog[0].tls.cert_file",
        ),
        (
            "mismatched",
            q(&pki.server_key),
            q(&pki.client_key),
            "syslog[0].tls.key_file",
        ),
        (
            "not a CA file",
            q(&pki.ca),
            q(&pki.server_key),
            "syslog[0].tls.client_ca_file",
        ),
    ] {
        let mut bad = cfg.clone();
        bad.listeners[0].extra = bad.listeners[0].extra.replacen(&from, &to, 1);
        env.write_config(&bad);
        let out = common::sealtrail(&["check-config", "-c", env.config_path.to_str().unwrap()]);
        assert_eq!(out.code, Some(78), "{what}: {}", out.describe());
        assert!(out.stderr_str().contains(key), "{what}: {}", out.describe());
    }
    // transport = "tls" without its section is refused too.
    let mut bare = cfg.clone();
    bare.listeners[0].extra.clear();
    env.write_config(&bare);
    let out = common::sealtrail(&["check-config", "-c", env.config_path.to_str().unwrap()]);
    assert_eq!(out.code, Some(78), "{}", out.describe());
    assert!(
        out.stderr_str().contains("syslog[0].tls"),
        "{}",
        out.describe()
    );
}

#[test]
fn ten_thousand_idle_and_half_finished_handshakes_cannot_keep_a_sender_out() {
    let got = sealtrail::source::limits::raise_descriptor_limit();
    assert!(
        got >= 12_000,
        "this test needs 12,000 descriptors; the hard limit allows {got}"
    );
    let env = TestEnv::new();
    let pki = Pki::make(&env.path().join("pki"));
    let (mut cfg, port, status) = config(&pki);
    cfg.listeners[0].extra.push_str("max_connections = 20000\n");
    // 2,048 descriptors: what the daemon leaves for senders is far below 10,000.
    let d = env.start_wrapped(&cfg, &["prlimit", "--nofile=2048:2048"]);
    let pid = d.pid();
    let mut held = Vec::new();
    // 200 addresses × 50: every other connection sends the first bytes of a
    // ClientHello (a TLS record header announcing 512 bytes) and then nothing.
    for a in 0..200u32 {
        for c in 0..50 {
            let src = format!("127.0.{}.{}", 1 + a / 250, 2 + a % 250);
            if let Ok(mut s) = connect_from(&src, port) {
                if c % 2 == 0 {
                    use std::io::Write as _;
                    let _ = s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]);
                }
                held.push(s);
            }
        }
    }
    assert!(
        held.len() >= 9_000,
        "only {} connections opened",
        held.len()
    );
    let fds = common::open_fds(pid).expect("daemon alive");
    assert!(fds <= 2048, "{fds} descriptors open");
    // A legitimate sender (rsyslog with its certificate) gets through while the
    // flood holds its sockets: the half-finished handshakes lose their slots after
    // handshake_timeout (2 s), the rest were refused at once.
    let relay = Relay::start(&env.path().join("rsyslog"), port, &pki);
    common::send_tcp(
        relay.in_port,
        b"<13>Dec  2 03:00:00 web1 app[7]: over tls during the flood\n",
    );
    wait_until("the legitimate line", || received(status) >= 1.0);
    assert!(
        handshake_failures(status) >= 1000.0,
        "timed-out handshakes counted: {}",
        handshake_failures(status)
    );
    let fds = common::open_fds(pid).expect("daemon alive");
    assert!(fds <= 2048, "{fds} descriptors open");
    let m = common::http_get(status, "/metrics");
    eprintln!(
        "{} flood connections held by the test; daemon: {fds} descriptors, {} handshakes failed, {} refused at a cap",
        held.len(),
        handshake_failures(status),
        common::metric(&m, "sealtrail_connections_refused_total", &[("component_id", "tls")]).unwrap_or(0.0)
    );
    drop(held);
    drop(relay);
    let mut d = d;
    d.wait_idle();
    let stopped = d.stop();
    assert!(stopped.status.success());
    let events = common::all_events(&common::read_archive(&env.archive_dir));
    assert_eq!(
        common::events_with(&events, "over tls during the flood").len(),
        1
    );
    assert!(
        !env.logs().contains("Too many open files"),
        "the daemon never ran out of descriptors"
    );
}
