//! Key material made by the openssl CLI; handshakes with a rustls client in-process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;

use tokio::io::AsyncWriteExt as _;

use super::*;
use crate::source::limits::{DescriptorBudget, Gate, ReadPool};
use crate::source::syslog::tcp::StreamContext;
use crate::source::syslog::test_util::*;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl CLI");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, and a certificate it signed for `name` (with the SANs `san`), with its key.
fn issue(dir: &Path, name: &str, san: &str, days: &str) -> (PathBuf, PathBuf) {
    let (key, csr, crt, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    std::fs::write(dir.join(&ext), format!("subjectAltName={san}\n")).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/O=Test/CN={name}"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            days,
            "-extfile",
            &ext,
        ],
    );
    (dir.join(crt), dir.join(key))
}

struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    server: (PathBuf, PathBuf),
    client: (PathBuf, PathBuf),
    /// Signed by another CA.
    stranger: (PathBuf, PathBuf),
}

fn make_ca(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Test CA",
        ],
    );
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    make_ca(&other);
    let stranger = issue(&other, "stranger", "DNS:stranger.example", "2");
    make_ca(dir.path());
    let server = issue(dir.path(), "collector", "DNS:localhost,IP:127.0.0.1", "2");
    let client = issue(
        dir.path(),
        "web1",
        "DNS:web1.example,IP:192.0.2.5,email:ops@example.org",
        "2",
    );
    Pki {
        ca: dir.path().join("ca.pem"),
        _dir: dir,
        server,
        client,
        stranger,
    }
}

fn section(p: &Pki, mutual: bool) -> ListenerTls {
    ListenerTls {
        cert_file: p.server.0.clone(),
        key_file: p.server.1.clone(),
        client_ca_file: mutual.then(|| p.ca.clone()),
        handshake_timeout: Duration::from_millis(500),
    }
}

#[test]
fn key_material_is_checked_and_each_error_names_its_key() {
    let p = pki();
    assert!(section(&p, true).server().unwrap().mutual);
    assert!(!section(&p, false).server().unwrap().mutual);
    let key_of = |t: ListenerTls| t.server().err().map(|e| e.key);
    let mismatched = ListenerTls {
        key_file: p.client.1.clone(),
        ..section(&p, true)
    };
    assert_eq!(key_of(mismatched), Some("key_file"));
    let missing = ListenerTls {
        cert_file: "/nonexistent.pem".into(),
        ..section(&p, true)
    };
    assert_eq!(key_of(missing), Some("cert_file"));
    let no_ca = ListenerTls {
        client_ca_file: Some(p.server.1.clone()), // a key, no certificate in it
        ..section(&p, true)
    };
    assert_eq!(key_of(no_ca), Some("client_ca_file"));
    // openssl 3.0 cannot issue an expired certificate directly: one valid from
    // tomorrow (-days 0 starts now and ends now) stands for "not valid now".
    let dir = p.server.0.parent().unwrap();
    let (crt, key) = issue(dir, "expired", "DNS:expired.example", "0");
    std::thread::sleep(Duration::from_millis(1100));
    let Err(e) = (ListenerTls {
        cert_file: crt,
        key_file: key,
        ..section(&p, false)
    })
    .server() else {
        panic!("a certificate no longer valid is accepted");
    };
    assert_eq!(e.key, "cert_file");
    assert!(e.message.contains("expired"), "{e}");
}

#[test]
fn the_identity_is_the_subject_and_the_names() {
    let p = pki();
    let cert = crate::pem::certs("cert_file", &p.client.0).unwrap();
    let id = client_identity(&cert[0]).unwrap();
    let parts: Vec<&str> = id.split('\u{1f}').collect();
    assert!(
        parts[0].contains("CN=web1") && parts[0].contains("O=Test"),
        "{id}"
    );
    assert_eq!(
        &parts[1..],
        ["DNS:web1.example", "IP:192.0.2.5", "email:ops@example.org"]
    );
}

/// A rustls client for the test CA, presenting `cert` if given.
fn client(p: &Pki, cert: Option<&(PathBuf, PathBuf)>) -> tokio_rustls::TlsConnector {
    let roots = crate::pem::roots("ca", &p.ca).unwrap();
    let b = rustls::ClientConfig::builder_with_provider(crate::pem::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match cert {
        Some((c, k)) => b
            .with_client_auth_cert(
                crate::pem::certs("c", c).unwrap(),
                crate::pem::private_key("k", k).unwrap(),
            )
            .unwrap(),
        None => b.with_no_client_auth(),
    };
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn mutual_tls_records_the_client_and_refuses_the_others() {
    let p = pki();
    let cx = StreamContext {
        gate: Gate::new(
            limits(10, 10, Duration::from_secs(60)),
            DescriptorBudget::new(100),
        ),
        pool: ReadPool::new(4),
        tls: Some(section(&p, true).server().unwrap()),
    };
    let Running {
        addr,
        journal,
        stats,
        shutdown,
        task,
    } = running(1024, cx).await;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();

    // The client with its certificate: every frame arrives, with its identity. The
    // first frame goes with the end of the handshake (read before waiting).
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = client(&p, Some(&p.client))
        .connect(name.clone(), tcp)
        .await
        .unwrap();
    let mut sent = Vec::new();
    for i in 0..500 {
        let m = format!("<13>Dec  2 03:00:00 web1 app: line {i}");
        sent.extend_from_slice(format!("{} {m}", m.len()).as_bytes());
    }
    tls.write_all(&sent).await.unwrap();
    tls.shutdown().await.unwrap();
    let got = wait_for(&journal, 500).await;
    assert_eq!(got.len(), 500);
    assert_eq!(got[499].raw, b"<13>Dec  2 03:00:00 web1 app: line 499");
    for g in &got {
        let id = String::from_utf8(g.client.clone().unwrap()).unwrap();
        assert!(
            id.starts_with("O=Test, CN=web1") || id.contains("CN=web1"),
            "{id}"
        );
        assert!(id.ends_with("\u{1f}email:ops@example.org"), "{id}");
    }

    // No certificate, and one from another CA: refused, counted, nothing journalled.
    for cert in [None, Some(&p.stranger)] {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        if let Ok(mut t) = client(&p, cert).connect(name.clone(), tcp).await {
            // TLS 1.3: the client may finish before the server refuses it.
            let _ = t.write_all(b"5 <13>x").await;
            let _ = t.flush().await;
        }
    }
    // A client that never starts its handshake loses its slot after the timeout.
    let _silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    wait_until("three handshake failures", || {
        stats.tls_handshake_failures.load(Ordering::Relaxed) == 3
    })
    .await;
    assert_eq!(appended(&journal).await.len(), 500);
    shutdown.cancel();
    task.await.unwrap().unwrap();
}
