//! Real S3 emulators for the integration tests, each a child process on a free loopback
//! port, killed on drop, its output in a log file (printed when the test panics):
//! - moto's `moto_server` (on PATH): checks no signature, has no GetObjectRetention;
//! - ministack, started with `AUTH=true`: checks SigV4 signatures (of IAM users' keys
//!   only, so [`S3Server::ministack`] creates one and hands out its keys) and implements
//!   GetObjectRetention. Its pinned botocore conflicts with moto's, so it runs from its
//!   own venv (tests/run.sh creates it): `SEALTRAIL_MINISTACK` is the path of that venv's
//!   Python, run as `$SEALTRAIL_MINISTACK -m ministack`; default [`DEFAULT_MINISTACK_PYTHON`].
//!
//! The admin helpers speak path-style S3 (`{endpoint}/{bucket}/{key}`) with blocking
//! `ureq`, every request signed with AWS SigV4 (region `us-east-1`, service `s3`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};

pub const REGION: &str = "us-east-1";
/// How long an emulator may take to answer HTTP after it was spawned.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// ministack's interpreter when `SEALTRAIL_MINISTACK` is not set.
pub const DEFAULT_MINISTACK_PYTHON: &str = "/opt/sealtrail-test/ministack/bin/python";
/// ministack's root keys: accepted with ANY secret (it checks no root signature).
pub const MINISTACK_ROOT: (&str, &str) = ("test", "test");
/// For [`S3Server::request`] without extra headers.
pub const NO_HEADERS: &[(&str, &str)] = &[];
const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Moto,
    Ministack,
}

/// One HTTP answer; header names are lower case (several values joined by `,`).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The `<Code>` of an S3 error body.
    pub fn error_code(&self) -> Option<String> {
        xml_first(&self.text(), "Code")
    }
}

pub struct S3Server {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    pub kind: Kind,
    child: Child,
    /// (access key, secret key) that requests are signed with.
    keys: (String, String),
    log_path: PathBuf,
    agent: ureq::Agent,
    _dir: tempfile::TempDir,
}

impl S3Server {
    /// `moto_server -H 127.0.0.1 -p PORT`; any keys do (it checks no signature).
    #[track_caller]
    pub fn moto() -> S3Server {
        let port = super::free_port();
        let mut cmd = Command::new("moto_server");
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        Self::spawn(Kind::Moto, cmd, port, "/", ("testing", "testing"))
    }

    /// One moto server shared by every test of the binary that asks for it. A static is
    /// never dropped, so the server is tied to the process instead: it is started from
    /// a thread that lives until the process exits, under `setpriv --pdeathsig KILL`,
    /// and the kernel kills it when that thread (the process) ends.
    pub fn moto_shared() -> &'static S3Server {
        static SHARED: std::sync::OnceLock<S3Server> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            thread::spawn(move || {
                let port = super::free_port();
                let mut cmd = Command::new("setpriv");
                cmd.args([
                    "--pdeathsig",
                    "KILL",
                    "--",
                    "moto_server",
                    "-H",
                    "127.0.0.1",
                    "-p",
                ])
                .arg(port.to_string());
                let server = Self::spawn(Kind::Moto, cmd, port, "/", ("testing", "testing"));
                tx.send(server).expect("hand the shared moto server over");
                loop {
                    thread::park();
                }
            });
            rx.recv()
                .expect("the shared moto server did not start (see the panic above)")
        })
    }

    /// ministack from its venv (module doc), S3 and IAM only, signatures checked.
    #[track_caller]
    pub fn ministack() -> S3Server {
        let python = std::env::var("SEALTRAIL_MINISTACK")
            .unwrap_or_else(|_| DEFAULT_MINISTACK_PYTHON.to_string());
        assert!(
            !python.contains('/') || Path::new(&python).exists(),
            "ministack's Python {python} does not exist: run tests/run.sh (it creates the venv) \
             or point SEALTRAIL_MINISTACK at a venv's python that has `pip install ministack`"
        );
        let port = super::free_port();
        let mut cmd = Command::new(&python);
        cmd.args(["-m", "ministack"])
            .env("GATEWAY_PORT", port.to_string())
            .env("BIND_HOST", "127.0.0.1") // its default is 0.0.0.0
            .env("AUTH", "true") // else any well-formed signature passes
            .env("SERVICES", "s3,iam")
            .env("MINISTACK_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", MINISTACK_ROOT.0)
            .env("AWS_SECRET_ACCESS_KEY", MINISTACK_ROOT.1);
        for var in [
            "EDGE_PORT",
            "AWS_SESSION_TOKEN",
            "LOCALSTACK_PERSISTENCE",
            "S3_PERSIST",
        ] {
            cmd.env_remove(var);
        }
        let probe = "/_ministack/health";
        let mut server = Self::spawn(Kind::Ministack, cmd, port, probe, MINISTACK_ROOT);
        // Deviation: ministack never checks the signature of its root key, only those of
        // IAM users' keys: sign everything as an IAM user allowed s3:*.
        let user = ("UserName", "sealtrail-test");
        server.iam("CreateUser", &[user]);
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        let doc = [user, ("PolicyName", "s3-all"), ("PolicyDocument", policy)];
        server.iam("PutUserPolicy", &doc);
        let created = server.iam("CreateAccessKey", &[user]);
        let one = |tag| {
            xml_first(&created, tag)
                .unwrap_or_else(|| panic!("CreateAccessKey without {tag}: {created}"))
        };
        server.keys = (one("AccessKeyId"), one("SecretAccessKey"));
        server
    }

    /// One IAM query-API call as ministack's root; panics unless 2xx; the answer.
    #[track_caller]
    fn iam(&self, action: &str, params: &[(&str, &str)]) -> String {
        let mut form = format!("Action={action}&Version=2010-05-08");
        for (k, v) in params {
            form.push_str(&format!("&{k}={}", uri_encode(v, true)));
        }
        let ct = [("content-type", "application/x-www-form-urlencoded")];
        let auth = Some((MINISTACK_ROOT.0, MINISTACK_ROOT.1, "iam"));
        let r = self.send(auth, "POST", "/", &[], &ct, form.as_bytes());
        assert_ok(&r, &format!("IAM {action} on ministack"));
        r.text()
    }

    #[track_caller]
    fn spawn(kind: Kind, mut cmd: Command, port: u16, probe: &str, keys: (&str, &str)) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sealtrail-s3-")
            .tempdir()
            .expect("create temp dir for the S3 emulator");
        let log_path = dir.path().join("emulator.log");
        let log = fs::File::create(&log_path).expect("create emulator log");
        // ministack keeps its PID file under TMPDIR, and would keep data in these dirs.
        cmd.env("TMPDIR", dir.path())
            .env("S3_DATA_DIR", dir.path().join("s3"))
            .env("STATE_DIR", dir.path().join("state"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log file"))
            .stderr(log);
        let desc = format!("{cmd:?}");
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {kind:?}: {desc}: {e}"));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut server = S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            kind,
            child,
            keys: (keys.0.to_string(), keys.1.to_string()),
            log_path,
            agent,
            _dir: dir,
        };
        let url = format!("{}{probe}", server.endpoint);
        let start = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait().expect("try_wait emulator") {
                let log = server.log();
                panic!("{kind:?} exited ({status}) before answering HTTP: {desc}\n{log}");
            }
            if server.agent.get(&url).call().is_ok() {
                return server;
            }
            if start.elapsed() > START_TIMEOUT {
                let log = server.log();
                panic!("{kind:?} not answering {url} after {START_TIMEOUT:?}: {desc}\n{log}");
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Everything the emulator printed so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_else(|e| format!("<no log: {e}>"))
    }

    /// The keys to give the daemon (ministack: an IAM user's, whose signatures it checks).
    pub fn access_key(&self) -> &str {
        &self.keys.0
    }

    pub fn secret_key(&self) -> &str {
        &self.keys.1
    }

    /// One request signed with [`S3Server::access_key`]/[`S3Server::secret_key`].
    /// `path`: `""` (service), `bucket` or `bucket/key`, unencoded, as are `query` values.
    #[track_caller]
    pub fn request<S: AsRef<str>>(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, S)],
        body: &[u8],
    ) -> Response {
        self.request_as(Some(self.secret_key()), method, path, query, headers, body)
    }

    /// Like [`S3Server::request`], signed with `secret` (`None`: not signed at all).
    #[track_caller]
    pub fn request_as<S: AsRef<str>>(
        &self,
        secret: Option<&str>,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, S)],
        body: &[u8],
    ) -> Response {
        let auth = secret.map(|secret| (self.access_key(), secret, "s3"));
        let path = format!("/{}", uri_encode(path, false));
        self.send(auth, method, &path, query, headers, body)
    }

    /// `auth`: (access key, secret, service) to sign with; `path` is URI-encoded.
    #[track_caller]
    fn send<S: AsRef<str>>(
        &self,
        auth: Option<(&str, &str, &str)>,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, S)],
        body: &[u8],
    ) -> Response {
        let mut q: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", uri_encode(k, true), uri_encode(v, true)))
            .collect();
        q.sort();
        let query_str = q.join("&");
        let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let mut hdrs: BTreeMap<String, String> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_ref().trim().to_string()))
            .collect();
        hdrs.insert("host".into(), self.endpoint.replace("http://", ""));
        hdrs.insert("x-amz-date".into(), amz_date.clone());
        // A caller's own x-amz-content-sha256 (e.g. UNSIGNED-PAYLOAD) is signed as given.
        let payload = hdrs
            .entry("x-amz-content-sha256".into())
            .or_insert_with(|| hex::encode(Sha256::digest(body)))
            .clone();
        if let Some((access, secret, service)) = auth {
            let signed = hdrs.keys().cloned().collect::<Vec<_>>().join(";");
            let canon_headers: String = hdrs.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
            let canonical =
                format!("{method}\n{path}\n{query_str}\n{canon_headers}\n{signed}\n{payload}");
            let date = &amz_date[..8];
            let scope = format!("{date}/{REGION}/{service}/aws4_request");
            let digest = hex::encode(Sha256::digest(canonical.as_bytes()));
            let to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{digest}");
            let mut k = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
            for part in [REGION, service, "aws4_request"] {
                k = hmac_sha256(&k, part.as_bytes());
            }
            let sig = hex::encode(hmac_sha256(&k, to_sign.as_bytes()));
            let value = format!(
                "AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={signed}, Signature={sig}"
            );
            hdrs.insert("authorization".into(), value);
        }
        let sep = if query_str.is_empty() { "" } else { "?" };
        let url = format!("{}{path}{sep}{query_str}", self.endpoint);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        for (k, v) in &hdrs {
            builder = builder.header(k, v);
        }
        let what = format!("{method} {url} to {:?}", self.kind);
        let result = if body.is_empty() && method != "PUT" && method != "POST" {
            self.agent.run(builder.body(()).expect("build request"))
        } else {
            self.agent.run(builder.body(body).expect("build request"))
        };
        let mut resp = result.unwrap_or_else(|e| panic!("{what} failed: {e}\n{}", self.log()));
        let mut headers = BTreeMap::new();
        for (k, v) in resp.headers() {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            headers
                .entry(k.as_str().to_ascii_lowercase())
                .and_modify(|old: &mut String| *old = format!("{old},{v}"))
                .or_insert(v);
        }
        let body = (resp.body_mut().with_config().limit(256 << 20).read_to_vec())
            .unwrap_or_else(|e| panic!("{what}: reading the answer: {e}"));
        let status = resp.status().as_u16();
        Response {
            status,
            headers,
            body,
        }
    }

    /// PUT bucket (`x-amz-bucket-object-lock-enabled: true` when `object_lock`); panics
    /// unless created, or if a lock bucket is not versioned.
    #[track_caller]
    pub fn create_bucket(&self, bucket: &str, object_lock: bool) {
        let lock = [("x-amz-bucket-object-lock-enabled", "true")];
        let h = if object_lock { &lock[..] } else { NO_HEADERS };
        let r = self.request("PUT", bucket, &[], h, b"");
        assert_ok(&r, &format!("create bucket {bucket} on {:?}", self.kind));
        if object_lock {
            // As on S3, object lock turns versioning on in moto and ministack (no
            // PUT ?versioning needed); the archive tests count on that.
            let v = self.request("GET", bucket, &[("versioning", "")], NO_HEADERS, b"");
            let status = xml_first(&v.text(), "Status");
            assert_eq!(status.as_deref(), Some("Enabled"), "{bucket}: {}", v.text());
        }
    }

    /// PUT `?object-lock`: default retention `mode` (GOVERNANCE/COMPLIANCE) for `days`.
    #[track_caller]
    pub fn set_default_retention(&self, bucket: &str, mode: &str, days: u32) {
        let xml = format!(
            "<ObjectLockConfiguration xmlns=\"{S3_NS}\"><ObjectLockEnabled>Enabled</ObjectLockEnabled>\
             <Rule><DefaultRetention><Mode>{mode}</Mode><Days>{days}</Days></DefaultRetention></Rule>\
             </ObjectLockConfiguration>"
        );
        // S3 requires Content-MD5 here (moto and ministack take it without).
        let md5 = b64(&md5(xml.as_bytes()));
        let h = [
            ("content-md5", md5.as_str()),
            ("content-type", "application/xml"),
        ];
        let r = self.request("PUT", bucket, &[("object-lock", "")], &h, xml.as_bytes());
        assert_ok(&r, &format!("set default retention on {bucket}"));
    }

    /// GET `?object-lock`: (status, body).
    pub fn get_object_lock_configuration(&self, bucket: &str) -> (u16, String) {
        let r = self.request("GET", bucket, &[("object-lock", "")], NO_HEADERS, b"");
        (r.status, r.text())
    }

    /// Every key under `prefix` (ListObjectsV2, following continuation tokens).
    #[track_caller]
    pub fn list_keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.list_keys_paged(bucket, prefix, 1000)
    }

    /// [`S3Server::list_keys`] with `max_keys` per page.
    #[track_caller]
    pub fn list_keys_paged(&self, bucket: &str, prefix: &str, max_keys: u32) -> Vec<String> {
        let (mut keys, mut token, max) = (Vec::new(), None::<String>, max_keys.to_string());
        loop {
            let mut q = vec![("list-type", "2"), ("prefix", prefix), ("max-keys", &max)];
            if let Some(t) = &token {
                q.push(("continuation-token", t));
            }
            let r = self.request("GET", bucket, &q, NO_HEADERS, b"");
            assert_ok(&r, &format!("list {bucket}/{prefix}"));
            let text = r.text();
            keys.extend(xml_values(&text, "Key"));
            token = xml_first(&text, "NextContinuationToken");
            if !text.contains("<IsTruncated>true</IsTruncated>") || token.is_none() {
                return keys;
            }
        }
    }

    /// The HEAD answer's headers (lower-case names); `None` on 404.
    #[track_caller]
    pub fn head(&self, bucket: &str, key: &str) -> Option<BTreeMap<String, String>> {
        let r = self.request("HEAD", &format!("{bucket}/{key}"), &[], NO_HEADERS, b"");
        match r.status {
            404 => None,
            200 => Some(r.headers),
            s => panic!("HEAD {bucket}/{key} on {:?}: status {s}", self.kind),
        }
    }

    /// The object's bytes; `None` on 404.
    #[track_caller]
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let r = self.request("GET", &format!("{bucket}/{key}"), &[], NO_HEADERS, b"");
        match r.status {
            404 => None,
            200 => Some(r.body),
            s => panic!("GET {bucket}/{key} on {:?}: {s} {}", self.kind, r.text()),
        }
    }

    /// PutObject without lock headers (with [`checksum_headers`]); the status.
    pub fn put_plain(&self, bucket: &str, key: &str, body: &[u8]) -> u16 {
        let h = checksum_headers(body);
        self.request("PUT", &format!("{bucket}/{key}"), &[], &h, body)
            .status
    }

    /// PutObject locked in `mode` until `retain_until_rfc3339` (with [`checksum_headers`]).
    pub fn put_with_retention(
        &self,
        bucket: &str,
        key: &str,
        body: &[u8],
        mode: &str,
        retain_until_rfc3339: &str,
    ) -> u16 {
        let mut h = checksum_headers(body);
        h.push(("x-amz-object-lock-mode", mode.to_string()));
        h.push((
            "x-amz-object-lock-retain-until-date",
            retain_until_rfc3339.into(),
        ));
        self.request("PUT", &format!("{bucket}/{key}"), &[], &h, body)
            .status
    }

    /// (key, version id) of every object version under `prefix`, delete markers left out
    /// (GET `?versions`, following the markers).
    #[track_caller]
    pub fn list_versions(&self, bucket: &str, prefix: &str) -> Vec<(String, String)> {
        let (mut out, mut marker) = (Vec::new(), None::<(String, String)>);
        loop {
            let mut q = vec![("versions", ""), ("prefix", prefix)];
            if let Some((k, v)) = &marker {
                q.extend([
                    ("key-marker", k.as_str()),
                    ("version-id-marker", v.as_str()),
                ]);
            }
            let r = self.request("GET", bucket, &q, NO_HEADERS, b"");
            assert_ok(&r, &format!("list versions of {bucket}/{prefix}"));
            let text = r.text();
            for block in xml_blocks(&text, "Version") {
                match (xml_first(block, "Key"), xml_first(block, "VersionId")) {
                    (Some(k), Some(v)) => out.push((k, v)),
                    _ => panic!("a <Version> without Key or VersionId: {text}"),
                }
            }
            let next = (
                xml_first(&text, "NextKeyMarker"),
                xml_first(&text, "NextVersionIdMarker"),
            );
            match next {
                (Some(k), Some(v)) if text.contains("<IsTruncated>true</IsTruncated>") => {
                    marker = Some((k, v))
                }
                _ => return out,
            }
        }
    }

    /// DELETE of one version: (status, body).
    pub fn delete_version(&self, bucket: &str, key: &str, version_id: &str) -> (u16, String) {
        let q = [("versionId", version_id)];
        let r = self.request("DELETE", &format!("{bucket}/{key}"), &q, NO_HEADERS, b"");
        (r.status, r.text())
    }

    /// GET `?retention`: (mode, retain-until date); `None` when the emulator lacks the
    /// call or the object has no retention.
    pub fn get_retention(&self, bucket: &str, key: &str) -> Option<(String, String)> {
        let q = [("retention", "")];
        let r = self.request("GET", &format!("{bucket}/{key}"), &q, NO_HEADERS, b"");
        if r.status != 200 {
            return None;
        }
        // moto 5 ignores `?retention` and answers with the object itself: no <Mode>.
        let text = r.text();
        Some((
            xml_first(&text, "Mode")?,
            xml_first(&text, "RetainUntilDate")?,
        ))
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- {:?} output (killed on drop) ---\n{}",
                self.kind,
                self.log()
            );
        }
    }
}

#[track_caller]
fn assert_ok(r: &Response, what: &str) {
    assert!(
        (200..300).contains(&r.status),
        "{what}: {} {}",
        r.status,
        r.text()
    );
}

/// Content-MD5, x-amz-checksum-sha256 and x-amz-sdk-checksum-algorithm for `body`.
/// moto refuses (400 MissingUploadObjectWithObjectLockHeaders) a put with lock headers,
/// or into a bucket with default retention, that has neither Content-MD5 nor
/// x-amz-sdk-checksum-algorithm (x-amz-checksum-sha256 alone is not enough).
pub fn checksum_headers(body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("content-md5", b64(&md5(body))),
        ("x-amz-checksum-sha256", b64(&Sha256::digest(body))),
        ("x-amz-sdk-checksum-algorithm", "SHA256".to_string()),
    ]
}

/// `now + days` as RFC 3339 UTC, whole seconds (`2026-12-03T01:02:03Z`).
pub fn rfc3339_days_from_now(days: i64) -> String {
    let t = chrono::Utc::now() + chrono::TimeDelta::days(days);
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// SigV4 URI encoding: all but `A-Za-z0-9-._~`, and `/` too when `slash`.
pub fn uri_encode(s: &str, slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b'/' if !slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The raw inner text of every `<tag>…</tag>` (no attributes) in `xml`, in order.
pub fn xml_blocks<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let (mut out, mut rest) = (Vec::new(), xml);
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(j) = rest.find(&close) else { break };
        out.push(&rest[..j]);
        rest = &rest[j + close.len()..];
    }
    out
}

/// [`xml_blocks`] with the XML entities decoded.
pub fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    xml_blocks(xml, tag).into_iter().map(xml_unescape).collect()
}

pub fn xml_first(xml: &str, tag: &str) -> Option<String> {
    xml_values(xml, tag).into_iter().next()
}

/// The entities moto and ministack write (`&amp;` last, so `&amp;lt;` stays `&lt;`).
fn xml_unescape(s: &str) -> String {
    let s = s
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"");
    let s = s
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&#x27;", "'");
    s.replace("&#34;", "\"")
        .replace("&#13;", "\r")
        .replace("&amp;", "&")
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    use hmac::Mac as _;
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC key");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// MD5, for Content-MD5.
pub fn md5(data: &[u8]) -> [u8; 16] {
    use md5::Digest as _;
    md5::Md5::digest(data).into()
}
