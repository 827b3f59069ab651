//! The endpoint in-process on port 0 and on a unix socket, against a real journal,
//! with plain HTTP/1.1 written by hand (the requests are the test's subject). `curl`
//! and a Python client drive the daemon in `tests/audit_api.rs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_util::sync::CancellationToken;

use std::os::unix::fs::PermissionsExt as _;
use std::sync::atomic::Ordering;

use super::*;
use crate::journal::{Journal, JournalOptions};
use crate::record::{IngestRecord, Origin, RecordKind};
use crate::source::limits::{DescriptorBudget, ReadPool};
use crate::source::{CheckpointStore, Shared};

const TOKEN: &str = "t0ken-for-tests";

struct Api {
    dir: PathBuf,
    journal: Journal,
    stats: Arc<SourceStats>,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<Result<(), SourceError>>>,
    addr: Option<std::net::SocketAddr>,
    socket: Option<PathBuf>,
}

fn token_file(dir: &Path) -> PathBuf {
    let p = dir.join("token");
    std::fs::write(&p, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

impl Api {
    /// An endpoint with the TOML `table` (`{dir}` is replaced by its directory).
    fn start(table: &str, opts: JournalOptions) -> Api {
        let dir = tempfile::tempdir().unwrap().keep();
        token_file(&dir);
        let journal = Journal::open(&dir.join("journal"), opts).unwrap();
        let cfg: AuditApiConfig =
            toml::from_str(&table.replace("{dir}", &dir.display().to_string())).unwrap();
        let stats = Arc::new(SourceStats::default());
        let shutdown = CancellationToken::new();
        let cx = SourceContext {
            name: "apps".into(),
            index: 3,
            stream: "host1".into(),
            journal: journal.clone(),
            checkpoints: CheckpointStore::new(&dir.join("checkpoints"), "apps"),
            stats: stats.clone(),
            shutdown: shutdown.clone(),
            shared: Arc::new(Shared {
                budget: DescriptorBudget::new(16),
                pool: ReadPool::new(1),
            }),
        };
        let built = build(&cfg, cx).unwrap();
        Api {
            addr: built.local_addr,
            socket: cfg.path.clone(),
            task: Some(tokio::spawn(built.task)),
            dir,
            journal,
            stats,
            shutdown,
        }
    }

    fn tcp() -> Api {
        Api::start(
            "address = \"127.0.0.1:0\"\ntoken_file = \"{dir}/token\"\n",
            JournalOptions::default(),
        )
    }

    /// Sends one request (`Connection: close`) and returns the status and the body.
    async fn send(&self, head: &str, body: &[u8]) -> (u16, serde_json::Value, String) {
        let mut raw = format!(
            "{head}\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        let mut reply = Vec::new();
        match (&self.addr, &self.socket) {
            (Some(a), _) => {
                let mut s = tokio::net::TcpStream::connect(a).await.unwrap();
                s.write_all(&raw).await.unwrap();
                s.read_to_end(&mut reply).await.unwrap();
            }
            (None, Some(p)) => {
                let mut s = tokio::net::UnixStream::connect(p).await.unwrap();
                s.write_all(&raw).await.unwrap();
                s.read_to_end(&mut reply).await.unwrap();
            }
            _ => unreachable!(),
        }
        let text = String::from_utf8(reply).unwrap();
        let status: u16 = text[9..12].parse().unwrap();
        let (headers, body) = text.split_once("\r\n\r\n").unwrap();
        let json = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
        (status, json, headers.to_string())
    }

    async fn post(&self, body: &str) -> (u16, serde_json::Value, String) {
        self.send(
            &format!("POST /v1/events HTTP/1.1\r\nAuthorization: Bearer {TOKEN}"),
            body.as_bytes(),
        )
        .await
    }

    /// Every durable record: (position, sender, raw text), checking kind and index.
    fn records(&self) -> Vec<(u64, crate::record::Sender<'static>, String)> {
        let mut reader = self.journal.reader(0).unwrap();
        let mut out = Vec::new();
        while let Some((pos, p)) = reader.next().unwrap() {
            let r = IngestRecord::decode(p).unwrap();
            assert_eq!(r.kind(), RecordKind::App);
            assert_eq!(r.source, 3);
            let Origin::App(s) = r.origin else {
                unreachable!()
            };
            let sender = crate::record::Sender {
                peer: s.peer,
                client: s.client.map(|c| &*c.to_vec().leak()),
                cred: s.cred,
            };
            out.push((pos, sender, String::from_utf8(r.raw.to_vec()).unwrap()));
        }
        out
    }

    async fn stop(&mut self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.task.take().unwrap())
            .await
            .expect("the endpoint stops promptly")
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
async fn an_acknowledged_event_is_durable_and_its_id_names_its_record() {
    let mut api = Api::tcp();
    let one = r#"{"actor":"alice","action":"record.read","resource":"patient/1"}"#;
    let (status, body, _) = api.post(one).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 1);
    // The reply came only after the fsync: the record is readable now.
    let recs = api.records();
    assert_eq!(recs.len(), 1);
    assert_eq!(body["ids"][0], format!("host1:{}", recs[0].0));
    assert_eq!(recs[0].2, one, "the object verbatim");
    assert_eq!(
        recs[0].1.peer.map(|p| p.ip().to_string()).as_deref(),
        Some("127.0.0.1")
    );
    // A batch, as an array and as JSON lines: one id per event, in order.
    let array = r#"[{"actor":"a","action":"x"},
                    {"actor":"b","action":"y","outcome":"failure"}]"#;
    let (status, body, _) = api.post(array).await;
    assert_eq!(status, 200, "{body}");
    let lines = "{\"actor\":\"c\",\"action\":\"z\"}\n{\"actor\":\"d\",\"action\":\"z\"}\n{\"actor\":\"e\",\"action\":\"z\"}\n";
    let (status, body2, _) = api.post(lines).await;
    assert_eq!(status, 200, "{body2}");
    assert_eq!(body2["accepted"], 3);
    let recs = api.records();
    let raws: Vec<&str> = recs.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(
        raws,
        [
            one,
            r#"{"actor":"a","action":"x"}"#,
            r#"{"actor":"b","action":"y","outcome":"failure"}"#,
            r#"{"actor":"c","action":"z"}"#,
            r#"{"actor":"d","action":"z"}"#,
            r#"{"actor":"e","action":"z"}"#,
        ]
    );
    let ids: Vec<String> = recs.iter().map(|r| format!("host1:{}", r.0)).collect();
    assert_eq!(body["ids"], serde_json::json!(ids[1..3]));
    assert_eq!(body2["ids"], serde_json::json!(ids[3..]));
    assert_eq!(api.stats.received_events.load(Ordering::Relaxed), 6);
    api.stop().await;
}

#[tokio::test]
async fn a_bad_request_stores_nothing_and_says_why() {
    let mut api = Api::tcp();
    let cases: [(&str, u16, &str); 5] = [
        ("{\"actor\":", 400, "not JSON"),
        ("", 400, "no event"),
        (
            "[{\"actor\":\"a\",\"action\":\"x\"},{\"actor\":\"b\",\"action\":\"y\",\"outcome\":\"maybe\"}]",
            400,
            "event 1: outcome",
        ),
        ("{\"actor\":\"a\",\"action\":\"x\",\"usr\":1}", 400, "unknown field `usr`"),
        ("[1]", 400, "event 0: an audit event is a JSON object"),
    ];
    for (body, want, says) in cases {
        let (status, reply, _) = api.post(body).await;
        assert_eq!(status, want, "{body}: {reply}");
        assert!(
            reply["error"].as_str().unwrap().contains(says),
            "{body}: {reply}"
        );
    }
    assert_eq!(api.records().len(), 0, "nothing half-stored");
    // Not UTF-8.
    let (status, _, _) = api
        .send(
            &format!("POST /v1/events HTTP/1.1\r\nAuthorization: Bearer {TOKEN}"),
            b"{\"actor\":\"\xff\",\"action\":\"x\"}",
        )
        .await;
    assert_eq!(status, 400);
    // Wrong path and method.
    let (status, _, _) = api
        .send(
            &format!("POST /v2/x HTTP/1.1\r\nAuthorization: Bearer {TOKEN}"),
            b"",
        )
        .await;
    assert_eq!(status, 404);
    let (status, _, headers) = api
        .send(
            &format!("GET /v1/events HTTP/1.1\r\nAuthorization: Bearer {TOKEN}"),
            b"",
        )
        .await;
    assert_eq!(status, 405);
    assert!(
        headers.to_ascii_lowercase().contains("allow: post"),
        "{headers}"
    );
    assert_eq!(api.records().len(), 0);
    api.stop().await;
}

#[tokio::test]
async fn the_token_is_required_and_compared_whole() {
    let mut api = Api::tcp();
    let ev = br#"{"actor":"a","action":"x"}"#;
    for head in [
        "POST /v1/events HTTP/1.1".to_string(),
        "POST /v1/events HTTP/1.1\r\nAuthorization: Bearer wrong".to_string(),
        format!("POST /v1/events HTTP/1.1\r\nAuthorization: Bearer {TOKEN}x"),
        format!("POST /v1/events HTTP/1.1\r\nAuthorization: Basic {TOKEN}"),
    ] {
        let (status, body, headers) = api.send(&head, ev).await;
        assert_eq!(status, 401, "{head}: {body}");
        assert!(headers.contains("www-authenticate: Bearer"), "{headers}");
        assert!(
            !body.to_string().contains(TOKEN),
            "the token is never echoed"
        );
    }
    assert_eq!(api.records().len(), 0);
    api.stop().await;
}

#[tokio::test]
async fn bodies_and_batches_are_bounded() {
    let mut api = Api::start(
        "address = \"127.0.0.1:0\"\ntoken_file = \"{dir}/token\"\nmax_body_bytes = 1000\nmax_events = 3\n",
        JournalOptions::default(),
    );
    let big = format!(r#"{{"actor":"a","action":"{}"}}"#, "x".repeat(1000));
    let (status, body, _) = api.post(&big).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("max_body_bytes"));
    let four = "{\"actor\":\"a\",\"action\":\"x\"}\n".repeat(4);
    let (status, body, _) = api.post(&four).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("max_events"));
    // Chunked, without a length: the limit holds while reading.
    let mut s = tokio::net::TcpStream::connect(api.addr.unwrap())
        .await
        .unwrap();
    let chunk = "x".repeat(600);
    let req = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert_eq!(api.records().len(), 0);
    api.stop().await;
}

#[tokio::test]
async fn a_unix_socket_records_the_callers_credentials() {
    let mut api = Api::start(
        "path = \"{dir}/audit.sock\"\nmode = \"0600\"\n",
        JournalOptions::default(),
    );
    let sock = api.socket.clone().unwrap();
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // No token on this socket: its permissions are the authentication.
    let (status, body, _) = api
        .send(
            "POST /v1/events HTTP/1.1",
            br#"{"actor":"svc","action":"export"}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let recs = api.records();
    let cred = recs[0].1.cred.expect("the kernel's credentials");
    assert_eq!(cred.pid, std::process::id());
    assert_eq!(cred.uid, rustix::process::getuid().as_raw());
    assert_eq!(cred.gid, rustix::process::getgid().as_raw());
    assert!(recs[0].1.peer.is_none());
    api.stop().await;
    assert!(!sock.exists(), "the socket is removed at shutdown");
    // A stale socket is replaced; a regular file is left alone and refused.
    let stale = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    drop(stale);
    assert!(bind_unix(&sock, 0o660).is_ok());
    std::fs::remove_file(&sock).unwrap();
    std::fs::write(&sock, "keep me").unwrap();
    let e = bind_unix(&sock, 0o660).unwrap_err();
    assert!(e.to_string().contains("not a socket"), "{e}");
    assert_eq!(std::fs::read_to_string(&sock).unwrap(), "keep me");
    let _ = std::fs::remove_dir_all(&api.dir);
}

#[tokio::test]
async fn a_full_journal_answers_503_and_every_acknowledged_event_is_there() {
    // Nothing reclaims: the journal fills to its cap and the writer waits.
    let endpoint = Api::start(
        "address = \"127.0.0.1:0\"\ntoken_file = \"{dir}/token\"\nack_timeout = \"1s\"\n",
        JournalOptions {
            file_bytes: 64 * 1024,
            max_bytes: 128 * 1024,
            ..JournalOptions::default()
        },
    );
    let endpoint = Arc::new(endpoint);
    let mut clients = Vec::new();
    for c in 0..8 {
        let ep = endpoint.clone();
        clients.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut unavailable = 0;
            for i in 0..40 {
                let batch: String = (0..20)
                    .map(|j| {
                        format!(
                            "{{\"actor\":\"c{c}\",\"action\":\"a{i}-{j}\",\"reason\":\"{}\"}}\n",
                            "r".repeat(200)
                        )
                    })
                    .collect();
                let started = std::time::Instant::now();
                let (status, body, headers) = ep.post(&batch).await;
                assert!(started.elapsed() < Duration::from_secs(5), "no hang");
                match status {
                    200 => acked.extend(
                        body["ids"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|v| v.as_str().unwrap().to_string()),
                    ),
                    503 => {
                        assert!(headers.contains("retry-after: 1"), "{headers}");
                        unavailable += 1;
                    }
                    other => panic!("{other}: {body}"),
                }
            }
            (acked, unavailable)
        }));
    }
    let mut acked = Vec::new();
    let mut unavailable = 0;
    for c in clients {
        let (a, u) = c.await.unwrap();
        acked.extend(a);
        unavailable += u;
    }
    assert!(
        unavailable > 0,
        "the journal filled: some requests were refused"
    );
    assert!(!acked.is_empty(), "some were stored before it filled");
    let stored: std::collections::HashSet<String> = endpoint
        .records()
        .iter()
        .map(|r| format!("host1:{}", r.0))
        .collect();
    for id in &acked {
        assert!(
            stored.contains(id),
            "{id} was acknowledged but is not in the journal"
        );
    }
    let mut endpoint = Arc::try_unwrap(endpoint).ok().unwrap();
    endpoint.stop().await;
}
