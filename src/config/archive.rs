//! `[archive]` and `[spool]`: where sealed segments go and how much may wait for the
//! store. A local directory needs only `url`; the rest is for `s3://bucket/prefix`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::de::{de_duration, de_positive, de_positive_usize};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSection {
    /// A directory path, `file:///absolute/path` or `s3://bucket/prefix`.
    #[serde(default = "default_archive_url")]
    pub url: String,
    /// Longest wait between retries while the store is unreachable.
    #[serde(default = "default_retry_max", deserialize_with = "de_duration")]
    pub retry_max: Duration,
    /// S3: endpoint of an S3-compatible service (MinIO, Ceph, a test server). Unset:
    /// AWS's endpoint for `region`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// S3: the bucket's region. Unset: `AWS_REGION`, `AWS_DEFAULT_REGION`, the
    /// profile's region, else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// S3: `path` (`endpoint/bucket/key`, what most S3-compatible servers want) or
    /// `virtual` (`bucket.endpoint/key`; with `endpoint` set, it must already name the
    /// bucket).
    #[serde(default)]
    pub addressing: Addressing,
    /// S3: allow an `http://` endpoint (test servers). Credentials then cross the
    /// network in the clear, so it is refused unless asked for.
    #[serde(default)]
    pub allow_http: bool,
    #[serde(default)]
    pub credentials: CredentialsSection,
    /// S3: server-side encryption of every object.
    #[serde(default)]
    pub encryption: Option<EncryptionSection>,
    /// S3: Object Lock retention set on every object. Unset: the bucket's default
    /// retention (if any) applies.
    #[serde(default)]
    pub retention: Option<RetentionSection>,
    /// Where to publish the chain head (the newest shipped seal) after segments are
    /// shipped: a file path, an `http(s)://` URL (PUT), or `s3://bucket/prefix` (with
    /// this section's S3 options). Keep it out of reach of whoever can delete archive
    /// objects; `verify --anchor` then detects deleted newest segments.
    #[serde(default)]
    pub anchor: Option<String>,
    /// Uploads in flight at once (started in sequence order).
    #[serde(default = "default_in_flight", deserialize_with = "de_positive_usize")]
    pub uploads_in_flight: usize,
}

impl Default for ArchiveSection {
    fn default() -> Self {
        ArchiveSection {
            url: default_archive_url(),
            retry_max: default_retry_max(),
            endpoint: None,
            region: None,
            addressing: Addressing::default(),
            allow_http: false,
            credentials: CredentialsSection::default(),
            encryption: None,
            retention: None,
            anchor: None,
            uploads_in_flight: default_in_flight(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Addressing {
    #[default]
    Path,
    Virtual,
}

/// `[archive.credentials]`. With none of these set, credentials come from where AWS
/// tools look: the `AWS_*` environment, the shared credentials file's profile
/// (`AWS_PROFILE`, else `default`), web identity, the container endpoint, then the
/// instance metadata service. Secrets are never written in this file: only the
/// file or the environment variable that holds them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsSection {
    /// A profile of the shared credentials file (`~/.aws/credentials`, or
    /// `AWS_SHARED_CREDENTIALS_FILE`).
    #[serde(default)]
    pub profile: Option<String>,
    /// The access key id itself (not a secret), or where to read it.
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub access_key_id_file: Option<PathBuf>,
    #[serde(default)]
    pub access_key_id_env: Option<String>,
    #[serde(default)]
    pub secret_access_key_file: Option<PathBuf>,
    #[serde(default)]
    pub secret_access_key_env: Option<String>,
    #[serde(default)]
    pub session_token_file: Option<PathBuf>,
    #[serde(default)]
    pub session_token_env: Option<String>,
}

impl CredentialsSection {
    /// Whether any explicit key source is configured (beside a profile).
    pub fn has_static_keys(&self) -> bool {
        self.access_key_id.is_some()
            || self.access_key_id_file.is_some()
            || self.access_key_id_env.is_some()
            || self.secret_access_key_file.is_some()
            || self.secret_access_key_env.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionSection {
    /// `s3` (SSE-S3, AES256) or `kms` (SSE-KMS).
    pub kind: EncryptionKind,
    /// SSE-KMS: the key id or ARN. Unset: the account's default KMS key.
    #[serde(default)]
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncryptionKind {
    S3,
    Kms,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    pub mode: LockMode,
    /// Days from the upload until the object may be deleted.
    #[serde(deserialize_with = "de_days")]
    pub days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    /// Nobody, the account's root included, can delete or shorten it before its date.
    Compliance,
    /// Users with `s3:BypassGovernanceRetention` can.
    Governance,
}

impl LockMode {
    /// The value S3 uses in `x-amz-object-lock-mode`.
    pub fn as_s3(self) -> &'static str {
        match self {
            LockMode::Compliance => "COMPLIANCE",
            LockMode::Governance => "GOVERNANCE",
        }
    }
}

/// `[spool]`: sealed segments waiting for the store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolSection {
    /// When the spool holds this much, the sealer stops taking from the journal until
    /// the store catches up: an outage turns into backpressure, never into loss.
    #[serde(default = "default_spool_max_bytes", deserialize_with = "de_positive")]
    pub max_bytes: u64,
}

impl Default for SpoolSection {
    fn default() -> Self {
        SpoolSection {
            max_bytes: default_spool_max_bytes(),
        }
    }
}

fn de_days<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if !(1..=36_500).contains(&v) {
        return Err(serde::de::Error::custom(
            "must be between 1 and 36500 days (S3's limit is 100 years)",
        ));
    }
    Ok(v)
}

pub(super) fn default_archive_url() -> String {
    "sealtrail-data/archive".to_string()
}
fn default_retry_max() -> Duration {
    Duration::from_secs(60)
}
fn default_in_flight() -> usize {
    4
}
fn default_spool_max_bytes() -> u64 {
    1024 * 1024 * 1024
}
