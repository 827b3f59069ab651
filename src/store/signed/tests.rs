use std::sync::Arc;

use chrono::TimeZone as _;
use object_store::aws::{AwsAuthorizer, AwsCredential};
use object_store::client::HttpConnector as _;
use object_store::StaticCredentialProvider;

use super::*;

fn client(encryption: Option<EncryptionSection>) -> S3Client {
    S3Client {
        bucket_endpoint: "http://127.0.0.1:9/audit".into(),
        region: "eu-west-1".into(),
        credentials: Arc::new(StaticCredentialProvider::new(AwsCredential {
            key_id: "AKIDEXAMPLE".into(),
            secret_key: "secret".into(),
            token: None,
        })),
        client: object_store::client::ReqwestConnector::default()
            .connect(&object_store::ClientOptions::new().with_allow_http(true))
            .unwrap(),
        encryption,
    }
}

/// The lock, the checksums and the create-only condition are under the signature:
/// a proxy or a bug cannot drop them without the store refusing the request.
#[test]
fn locked_put_signs_its_lock_checksum_and_condition_headers() {
    let c = client(Some(EncryptionSection {
        kind: EncryptionKind::Kms,
        kms_key_id: Some("alias/audit".into()),
    }));
    let body = Bytes::from_static(b"segment bytes");
    let sha: [u8; 32] = sha2::Sha256::digest(&body).into();
    let until = Utc.with_ymd_and_hms(2027, 3, 1, 12, 0, 0).unwrap();
    let mut req = c
        .put_request(
            &ObjectPath::from("p/host/2026/12/02/000000000007.seg.zst"),
            body,
            &sha,
            Some(Lock {
                mode: LockMode::Compliance,
                until,
            }),
        )
        .unwrap();
    assert_eq!(
        req.uri().to_string(),
        "http://127.0.0.1:9/audit/p/host/2026/12/02/000000000007.seg.zst"
    );
    let cred = AwsCredential {
        key_id: "AKIDEXAMPLE".into(),
        secret_key: "secret".into(),
        token: None,
    };
    AwsAuthorizer::new(&cred, "s3", "eu-west-1").authorize(&mut req, Some(&sha));
    let h = req.headers();
    assert_eq!(h["x-amz-object-lock-mode"], "COMPLIANCE");
    assert_eq!(
        h["x-amz-object-lock-retain-until-date"],
        "2027-03-01T12:00:00.000Z"
    );
    assert_eq!(h["if-none-match"], "*");
    assert_eq!(h["x-amz-content-sha256"], hex::encode(sha));
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(h["x-amz-checksum-sha256"], b64.encode(sha).as_str());
    assert_eq!(h["x-amz-server-side-encryption"], "aws:kms");
    let auth = h["authorization"].to_str().unwrap();
    let signed = auth
        .split("SignedHeaders=")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap();
    let signed: Vec<&str> = signed.split(';').collect();
    for name in [
        "content-md5",
        "host",
        "if-none-match",
        "x-amz-checksum-sha256",
        "x-amz-content-sha256",
        "x-amz-date",
        "x-amz-object-lock-mode",
        "x-amz-object-lock-retain-until-date",
        "x-amz-sdk-checksum-algorithm",
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id",
    ] {
        assert!(signed.contains(&name), "{name} not signed: {auth}");
    }
    assert!(auth.contains("/eu-west-1/s3/aws4_request"), "{auth}");
}

#[test]
fn unlocked_put_has_no_lock_headers() {
    let c = client(None);
    let body = Bytes::from_static(b"x");
    let sha: [u8; 32] = sha2::Sha256::digest(&body).into();
    let req = c
        .put_request(&ObjectPath::from("k"), body, &sha, None)
        .unwrap();
    assert!(req.headers().get("x-amz-object-lock-mode").is_none());
    assert!(req.headers().get("x-amz-server-side-encryption").is_none());
    assert_eq!(req.headers()["if-none-match"], "*");
}

#[test]
fn keys_outside_the_safe_set_are_percent_encoded() {
    let c = client(None);
    // As object_store's own client does: the key as the store lists it, each byte
    // outside the safe set percent-encoded.
    assert_eq!(
        c.url(&ObjectPath::from("a b/c+d")),
        "http://127.0.0.1:9/audit/a%20b/c%2Bd"
    );
}

#[test]
fn error_classes() {
    assert_eq!(ErrorClass::of_reply(403, "AccessDenied"), ErrorClass::Auth);
    assert_eq!(
        ErrorClass::of_reply(400, "ExpiredToken"),
        ErrorClass::Auth,
        "the code wins over the status"
    );
    assert_eq!(
        ErrorClass::of_reply(404, "NoSuchBucket"),
        ErrorClass::NotFound
    );
    assert_eq!(ErrorClass::of_reply(503, "SlowDown"), ErrorClass::Throttled);
    assert_eq!(ErrorClass::of_reply(429, ""), ErrorClass::Throttled);
    assert_eq!(
        ErrorClass::of_reply(500, "InternalError"),
        ErrorClass::Server
    );
    assert_eq!(
        ErrorClass::of_reply(400, "InvalidRequest"),
        ErrorClass::Rejected
    );
    let e = reply_error(
        "put k".into(),
        403,
        b"<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>",
    );
    assert_eq!(e.class(), ErrorClass::Auth);
    assert_eq!(
        e.to_string(),
        "put k: HTTP 403 SignatureDoesNotMatch: The request signature we calculated does not match"
    );
    let e = reply_error("head k".into(), 502, b"");
    assert_eq!(e.class(), ErrorClass::Server);
}

#[test]
fn head_and_bucket_lock_parsing() {
    let mut h = http::HeaderMap::new();
    h.insert("x-amz-object-lock-mode", "compliance".parse().unwrap());
    h.insert(
        "x-amz-object-lock-retain-until-date",
        "2027-01-02T03:04:05.000Z".parse().unwrap(),
    );
    h.insert("x-amz-version-id", "v1".parse().unwrap());
    h.insert("x-amz-server-side-encryption", "AES256".parse().unwrap());
    h.insert("content-length", "42".parse().unwrap());
    let head = parse_head(&h);
    assert_eq!(head.lock_mode.as_deref(), Some("COMPLIANCE"));
    assert_eq!(
        head.retain_until,
        Some(Utc.with_ymd_and_hms(2027, 1, 2, 3, 4, 5).unwrap())
    );
    assert_eq!(head.version_id.as_deref(), Some("v1"));
    assert_eq!(head.encryption.as_deref(), Some("AES256"));
    assert_eq!(head.len, Some(42));
    assert!(!head.legal_hold);
    let mut bad = http::HeaderMap::new();
    bad.insert(
        "x-amz-object-lock-retain-until-date",
        "soon".parse().unwrap(),
    );
    let head = parse_head(&bad);
    assert_eq!(head.retain_until, None);
    assert_eq!(head.retain_until_raw.as_deref(), Some("soon"));

    let on = parse_bucket_lock(
        "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>30</Days></DefaultRetention></Rule></ObjectLockConfiguration>",
    );
    assert!(on.enabled);
    assert_eq!(on.default_retention.as_deref(), Some("COMPLIANCE 30 days"));
    let off = parse_bucket_lock("<ObjectLockConfiguration></ObjectLockConfiguration>");
    assert!(!off.enabled);
    assert_eq!(off.default_retention, None);
}
