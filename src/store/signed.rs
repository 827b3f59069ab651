//! The S3 requests `object_store` cannot make: a put that carries Object Lock headers
//! under the signature, and the HEAD and bucket reads that return lock and encryption
//! state. Requests are built here, signed with `object_store`'s own SigV4
//! [`AwsAuthorizer`] and credential providers, and sent with its HTTP client.
//!
//! Every put is create-only (`If-None-Match: *`) and carries its SHA-256 (the
//! `x-amz-content-sha256` that is signed, and `x-amz-checksum-sha256` that S3 checks and
//! stores) and its MD5 (`Content-MD5`, which S3 wants on Object Lock puts without a
//! checksum and some S3-compatible servers want regardless).

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::aws::{AwsAuthorizer, AwsCredentialProvider};
use object_store::client::{HttpClient, HttpRequest, HttpRequestBody};
use object_store::path::Path as ObjectPath;
use sha2::Digest as _;

use crate::config::{EncryptionKind, EncryptionSection, LockMode};

/// Why a request failed, as logs and metrics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Credentials missing, wrong, expired, or not allowed to do this.
    Auth,
    /// The bucket (or the object, where it must exist) is not there.
    NotFound,
    /// The store asked us to slow down.
    Throttled,
    /// No answer: connection refused, reset, timed out, DNS.
    Network,
    /// A 5xx from the store.
    Server,
    /// Any other refusal of the request (a 4xx): configuration, not transient.
    Rejected,
    /// A local archive directory or the spool failed (disk, permissions).
    Local,
    /// The archive holds a different object at the key: never overwritten.
    Conflict,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 8] = [
        ErrorClass::Auth,
        ErrorClass::NotFound,
        ErrorClass::Throttled,
        ErrorClass::Network,
        ErrorClass::Server,
        ErrorClass::Rejected,
        ErrorClass::Local,
        ErrorClass::Conflict,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Auth => "auth",
            ErrorClass::NotFound => "not_found",
            ErrorClass::Throttled => "throttled",
            ErrorClass::Network => "network",
            ErrorClass::Server => "server",
            ErrorClass::Rejected => "rejected",
            ErrorClass::Local => "local",
            ErrorClass::Conflict => "conflict",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The class of a reply with this status and S3 error code.
    pub fn of_reply(status: u16, code: &str) -> ErrorClass {
        match code {
            "AccessDenied"
            | "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "InvalidToken"
            | "TokenRefreshRequired"
            | "AllAccessDisabled" => return ErrorClass::Auth,
            "NoSuchBucket" => return ErrorClass::NotFound,
            "SlowDown"
            | "Throttling"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "TooManyRequests" => return ErrorClass::Throttled,
            _ => {}
        }
        match status {
            401 | 403 => ErrorClass::Auth,
            404 => ErrorClass::NotFound,
            429 | 503 => ErrorClass::Throttled,
            500..=599 => ErrorClass::Server,
            _ => ErrorClass::Rejected,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("{what}: HTTP {status} {code}: {message}")]
    Reply {
        what: String,
        class: ErrorClass,
        status: u16,
        code: String,
        message: String,
    },
    #[error("{what}: {message}")]
    Network { what: String, message: String },
    #[error("{what}: credentials: {message}")]
    Credentials { what: String, message: String },
}

impl S3Error {
    pub fn class(&self) -> ErrorClass {
        match self {
            S3Error::Reply { class, .. } => *class,
            S3Error::Network { .. } => ErrorClass::Network,
            S3Error::Credentials { .. } => ErrorClass::Auth,
        }
    }
}

/// Object Lock asked of one put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    pub mode: LockMode,
    pub until: DateTime<Utc>,
}

/// How a create-only put ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored; the version id when the bucket is versioned (Object Lock implies it).
    Created { version_id: Option<String> },
    /// Something is already stored at the key (HTTP 412): the caller compares.
    Exists,
}

/// What a HEAD tells of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectHead {
    pub len: Option<u64>,
    pub version_id: Option<String>,
    /// `COMPLIANCE` or `GOVERNANCE`; `None`: no retention on this version.
    pub lock_mode: Option<String>,
    pub retain_until: Option<DateTime<Utc>>,
    /// The raw retain-until value, when it does not parse.
    pub retain_until_raw: Option<String>,
    pub legal_hold: bool,
    /// `AES256`, `aws:kms`, ...; `None`: the store said nothing.
    pub encryption: Option<String>,
    pub kms_key_id: Option<String>,
}

/// A bucket's Object Lock configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketLock {
    pub enabled: bool,
    /// The default retention, e.g. `COMPLIANCE 365 days`.
    pub default_retention: Option<String>,
}

/// Signs and sends requests to one bucket.
#[derive(Debug, Clone)]
pub struct S3Client {
    /// `https://s3.region.amazonaws.com/bucket` or `https://bucket.host`: the same
    /// rule as `object_store`'s, so both talk to the same place.
    pub bucket_endpoint: String,
    pub region: String,
    pub credentials: AwsCredentialProvider,
    pub client: HttpClient,
    pub encryption: Option<EncryptionSection>,
}

/// Characters of a key that go into a URL as they are; the daemon's keys use only
/// these, and a configured prefix is checked against them.
pub fn key_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '~')
}

fn md5_base64(body: &[u8]) -> String {
    use md5::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body))
}

impl S3Client {
    fn url(&self, key: &ObjectPath) -> String {
        // ObjectPath parts are never empty and never contain '/'; anything outside the
        // safe set is percent-encoded byte by byte.
        let mut url = format!("{}/", self.bucket_endpoint.trim_end_matches('/'));
        for c in key.as_ref().chars() {
            if key_char_ok(c) {
                url.push(c);
            } else {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    url.push_str(&format!("%{b:02X}"));
                }
            }
        }
        url
    }

    /// The request for a create-only put, unsigned (a unit test reads its headers).
    pub fn put_request(
        &self,
        key: &ObjectPath,
        body: Bytes,
        sha256: &[u8; 32],
        lock: Option<Lock>,
    ) -> Result<HttpRequest, S3Error> {
        self.build_put(key, body, sha256, lock, true, "application/zstd")
    }

    fn build_put(
        &self,
        key: &ObjectPath,
        body: Bytes,
        sha256: &[u8; 32],
        lock: Option<Lock>,
        create_only: bool,
        content_type: &str,
    ) -> Result<HttpRequest, S3Error> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut req = http::Request::builder()
            .method(http::Method::PUT)
            .uri(self.url(key))
            .header("content-type", content_type)
            .header("content-md5", md5_base64(&body))
            .header("x-amz-checksum-sha256", b64.encode(sha256))
            .header("x-amz-sdk-checksum-algorithm", "SHA256");
        if create_only {
            req = req.header("if-none-match", "*");
        }
        if let Some(lock) = lock {
            req = req
                .header("x-amz-object-lock-mode", lock.mode.as_s3())
                .header(
                    "x-amz-object-lock-retain-until-date",
                    lock.until.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                );
        }
        if let Some(enc) = &self.encryption {
            match enc.kind {
                EncryptionKind::S3 => req = req.header("x-amz-server-side-encryption", "AES256"),
                EncryptionKind::Kms => {
                    req = req.header("x-amz-server-side-encryption", "aws:kms");
                    if let Some(id) = &enc.kms_key_id {
                        req = req.header("x-amz-server-side-encryption-aws-kms-key-id", id);
                    }
                }
            }
        }
        req.body(HttpRequestBody::from(body))
            .map_err(|e| S3Error::Network {
                what: format!("put {key}"),
                message: format!("cannot build the request: {e}"),
            })
    }

    async fn sign(
        &self,
        req: &mut HttpRequest,
        digest: Option<&[u8]>,
        what: &str,
    ) -> Result<(), S3Error> {
        let cred = self
            .credentials
            .get_credential()
            .await
            .map_err(|e| S3Error::Credentials {
                what: what.to_string(),
                message: e.to_string(),
            })?;
        AwsAuthorizer::new(&cred, "s3", &self.region).authorize(req, digest);
        Ok(())
    }

    async fn send(
        &self,
        req: HttpRequest,
        what: &str,
    ) -> Result<(http::StatusCode, http::HeaderMap, Bytes), S3Error> {
        let net = |e: &dyn std::fmt::Display| S3Error::Network {
            what: what.to_string(),
            message: e.to_string(),
        };
        let resp = self.client.execute(req).await.map_err(|e| net(&e))?;
        let (parts, body) = resp.into_parts();
        let body = tokio::time::timeout(Duration::from_secs(60), body.bytes())
            .await
            .map_err(|_| net(&"timed out reading the reply"))?
            .map_err(|e| net(&e))?;
        Ok((parts.status, parts.headers, body))
    }

    /// Stores `body` at `key` unless something is there already.
    pub async fn put_new(
        &self,
        key: &ObjectPath,
        body: Bytes,
        lock: Option<Lock>,
    ) -> Result<PutOutcome, S3Error> {
        let what = format!("put {key}");
        let sha: [u8; 32] = sha2::Sha256::digest(&body).into();
        let mut req = self.put_request(key, body, &sha, lock)?;
        self.sign(&mut req, Some(&sha), &what).await?;
        let (status, headers, reply) = self.send(req, &what).await?;
        match status.as_u16() {
            200..=299 => Ok(PutOutcome::Created {
                version_id: header(&headers, "x-amz-version-id"),
            }),
            412 => Ok(PutOutcome::Exists),
            s => Err(reply_error(what, s, &reply)),
        }
    }

    /// Stores `body` at `key`, replacing what is there (a new version on a versioned
    /// bucket): for the chain-head anchor, never for segments.
    pub async fn put_replace(&self, key: &ObjectPath, body: Bytes) -> Result<(), S3Error> {
        let what = format!("put {key}");
        let sha: [u8; 32] = sha2::Sha256::digest(&body).into();
        let mut req = self.build_put(key, body, &sha, None, false, "application/json")?;
        self.sign(&mut req, Some(&sha), &what).await?;
        let (status, _, reply) = self.send(req, &what).await?;
        match status.as_u16() {
            200..=299 => Ok(()),
            s => Err(reply_error(what, s, &reply)),
        }
    }

    /// A signed request without a body.
    async fn call(
        &self,
        method: http::Method,
        url: String,
        what: &str,
    ) -> Result<(http::StatusCode, http::HeaderMap, Bytes), S3Error> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(url)
            .body(HttpRequestBody::empty())
            .map_err(|e| S3Error::Network {
                what: what.to_string(),
                message: e.to_string(),
            })?;
        self.sign(&mut req, None, what).await?;
        self.send(req, what).await
    }

    /// HEAD of an object: `None` when it does not exist.
    pub async fn head(&self, key: &ObjectPath) -> Result<Option<ObjectHead>, S3Error> {
        let what = format!("head {key}");
        let (status, headers, reply) = self.call(http::Method::HEAD, self.url(key), &what).await?;
        match status.as_u16() {
            200..=299 => Ok(Some(parse_head(&headers))),
            404 => Ok(None),
            s => Err(reply_error(what, s, &reply)),
        }
    }

    /// The bucket's Object Lock configuration (`GET ?object-lock`).
    pub async fn bucket_lock(&self) -> Result<BucketLock, S3Error> {
        let what = "bucket object-lock configuration".to_string();
        let url = format!("{}?object-lock", self.bucket_endpoint.trim_end_matches('/'));
        let (status, _, reply) = self.call(http::Method::GET, url, &what).await?;
        let text = String::from_utf8_lossy(&reply);
        match status.as_u16() {
            200..=299 => Ok(parse_bucket_lock(&text)),
            404 if xml_value(&text, "Code")
                .is_some_and(|c| c.contains("ObjectLockConfiguration")) =>
            {
                Ok(BucketLock {
                    enabled: false,
                    default_retention: None,
                })
            }
            s => Err(reply_error(what, s, &reply)),
        }
    }
}

fn header(h: &http::HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn parse_head(h: &http::HeaderMap) -> ObjectHead {
    let raw = header(h, "x-amz-object-lock-retain-until-date");
    let until = raw
        .as_deref()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc));
    ObjectHead {
        len: header(h, "content-length").and_then(|v| v.parse().ok()),
        version_id: header(h, "x-amz-version-id").filter(|v| v != "null"),
        lock_mode: header(h, "x-amz-object-lock-mode").map(|m| m.to_ascii_uppercase()),
        retain_until_raw: if until.is_none() { raw } else { None },
        retain_until: until,
        legal_hold: header(h, "x-amz-object-lock-legal-hold")
            .is_some_and(|v| v.eq_ignore_ascii_case("ON")),
        encryption: header(h, "x-amz-server-side-encryption"),
        kms_key_id: header(h, "x-amz-server-side-encryption-aws-kms-key-id"),
    }
}

fn parse_bucket_lock(xml: &str) -> BucketLock {
    let enabled = xml_value(xml, "ObjectLockEnabled").is_some_and(|v| v == "Enabled");
    let mode = xml_value(xml, "Mode");
    let span = xml_value(xml, "Days")
        .map(|d| format!("{d} days"))
        .or_else(|| xml_value(xml, "Years").map(|y| format!("{y} years")));
    BucketLock {
        enabled,
        default_retention: mode.map(|m| match span {
            Some(s) => format!("{m} {s}"),
            None => m,
        }),
    }
}

/// The text of the first `<tag>...</tag>` in an S3 XML reply (error replies and the
/// lock configuration are flat and small; nothing here needs a full XML parser).
pub fn xml_value(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    Some(xml[start..start + len].trim().to_string())
}

fn reply_error(what: String, status: u16, body: &[u8]) -> S3Error {
    let text = String::from_utf8_lossy(body);
    let code = xml_value(&text, "Code").unwrap_or_default();
    let mut message = xml_value(&text, "Message").unwrap_or_default();
    if message.is_empty() {
        message = text
            .chars()
            .take(200)
            .collect::<String>()
            .trim()
            .to_string();
    }
    S3Error::Reply {
        what,
        class: ErrorClass::of_reply(status, &code),
        status,
        code,
        message,
    }
}

#[cfg(test)]
mod tests;
