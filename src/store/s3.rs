//! Opens an `s3://bucket/prefix` archive: the `object_store` client (listing, reading)
//! and the [`S3Client`] for signed requests, both from one set of options and one
//! credential provider.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{
    AmazonS3Builder, AmazonS3ConfigKey, AwsCredential, AwsCredentialProvider, S3ConditionalPut,
};
use object_store::client::HttpConnector as _;
use object_store::{ClientOptions, StaticCredentialProvider};

use super::signed::{key_char_ok, S3Client};
use super::{profile, StoreError};
use crate::config::{Addressing, ArchiveSection, CredentialsSection, EncryptionKind};

/// `s3://bucket/prefix` split; the prefix has no leading or trailing `/`.
pub fn parse_url(s: &str) -> Result<(String, String), StoreError> {
    let rest = s.strip_prefix("s3://").unwrap_or(s);
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'));
    if !bucket_ok {
        return Err(StoreError::BadS3Url(
            s.to_string(),
            "the bucket name must be 3-63 characters of a-z, 0-9, '-' and '.'".into(),
        ));
    }
    let prefix = prefix.trim_matches('/');
    if !prefix.chars().all(key_char_ok) || prefix.contains("//") {
        return Err(StoreError::BadS3Url(
            s.to_string(),
            "the prefix may hold only A-Z, a-z, 0-9 and - _ . ~ / (no empty parts)".into(),
        ));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

/// `archive.credentials.<what>`: the literal (key ids only), else its file or variable.
fn read_secret(
    what: &str,
    literal: Option<&String>,
    file: Option<&std::path::PathBuf>,
    env: Option<&String>,
) -> Result<Option<String>, StoreError> {
    if let Some(v) = literal {
        return Ok(Some(v.clone()));
    }
    crate::config::secret::read(
        &format!("archive.credentials.{what}"),
        file.map(|p| p.as_path()),
        env.map(|e| e.as_str()),
    )
    .map_err(StoreError::Credentials)
}

/// Explicit credentials (config entries, or a named or implied profile), or `None` to
/// let `object_store` find them (environment, web identity, container, instance).
fn credentials(
    c: &CredentialsSection,
) -> Result<(Option<AwsCredentialProvider>, Option<String>), StoreError> {
    let stat = |key_id: String, secret: String, token: Option<String>| -> AwsCredentialProvider {
        Arc::new(StaticCredentialProvider::new(AwsCredential {
            key_id,
            secret_key: secret,
            token,
        }))
    };
    if c.has_static_keys() {
        let id = read_secret(
            "access_key_id",
            c.access_key_id.as_ref(),
            c.access_key_id_file.as_ref(),
            c.access_key_id_env.as_ref(),
        )?;
        let secret = read_secret(
            "secret_access_key",
            None,
            c.secret_access_key_file.as_ref(),
            c.secret_access_key_env.as_ref(),
        )?;
        let token = read_secret(
            "session_token",
            None,
            c.session_token_file.as_ref(),
            c.session_token_env.as_ref(),
        )?;
        let (Some(id), Some(secret)) = (id, secret) else {
            return Err(StoreError::Credentials(
                "archive.credentials: set both the access key id and the secret access key (access_key_id[_file|_env] and secret_access_key_file or _env)".into(),
            ));
        };
        return Ok((Some(stat(id, secret, token)), None));
    }
    // A profile applies when named, or implied when the environment has no keys and no
    // web identity of its own (the order of the AWS SDKs).
    let env_has_own = ["AWS_ACCESS_KEY_ID", "AWS_WEB_IDENTITY_TOKEN_FILE"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    let name = match &c.profile {
        Some(p) => Some(p.clone()),
        None if !env_has_own => Some(profile::selected()),
        None => None,
    };
    let Some(name) = name else {
        return Ok((None, None));
    };
    let found = profile::load(&name)
        .map_err(|e| StoreError::Credentials(format!("AWS shared files: {e}")))?;
    match (found, c.profile.is_some()) {
        (Some(p), _) => match (p.access_key_id, p.secret_access_key) {
            (Some(id), Some(secret)) => Ok((Some(stat(id, secret, p.session_token)), p.region)),
            _ if c.profile.is_some() => Err(StoreError::Credentials(format!(
                "profile `{name}` has no aws_access_key_id and aws_secret_access_key (only static keys are read from the shared files)"
            ))),
            _ => Ok((None, p.region)),
        },
        (None, true) => Err(StoreError::Credentials(format!(
            "profile `{name}` is in neither ~/.aws/credentials nor ~/.aws/config (or AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE)"
        ))),
        (None, false) => Ok((None, None)),
    }
}

/// The store and the signed client for `bucket`, configured by `opts`.
pub fn open(
    bucket: &str,
    opts: &ArchiveSection,
) -> Result<(Arc<dyn object_store::ObjectStore>, S3Client), StoreError> {
    let (provider, profile_region) = credentials(&opts.credentials)?;
    let region = opts
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
        .or_else(|| {
            std::env::var("AWS_DEFAULT_REGION")
                .ok()
                .filter(|r| !r.is_empty())
        })
        .or(profile_region)
        .unwrap_or_else(|| "us-east-1".to_string());
    let client_options = ClientOptions::new()
        .with_allow_http(opts.allow_http)
        .with_connect_timeout(Duration::from_secs(10))
        .with_timeout(Duration::from_secs(120));
    let virtual_hosted = opts.addressing == Addressing::Virtual;
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_region(&region)
        .with_allow_http(opts.allow_http)
        .with_virtual_hosted_style_request(virtual_hosted)
        .with_conditional_put(S3ConditionalPut::ETagMatch)
        // The shipper retries for ever itself; a listing or read gives up after a few
        // tries instead of minutes of object_store's default.
        .with_retry(object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(20),
            ..object_store::RetryConfig::default()
        })
        .with_client_options(client_options.clone());
    if let Some(ep) = &opts.endpoint {
        b = b.with_endpoint(ep.trim_end_matches('/'));
    }
    if let Some(p) = &provider {
        b = b.with_credentials(p.clone());
    }
    if let Some(enc) = &opts.encryption {
        let kind = match enc.kind {
            EncryptionKind::S3 => "AES256",
            EncryptionKind::Kms => "aws:kms",
        };
        let key: AmazonS3ConfigKey =
            "aws_server_side_encryption"
                .parse()
                .map_err(|source| StoreError::Open {
                    location: format!("s3://{bucket}"),
                    source,
                })?;
        b = b.with_config(key, kind);
        if let Some(id) = &enc.kms_key_id {
            b = b.with_sse_kms_encryption(id);
        }
    }
    let location = format!("s3://{bucket}");
    let s3 = b.build().map_err(|source| StoreError::Open {
        location: location.clone(),
        source,
    })?;
    let bucket_endpoint = match (&opts.endpoint, virtual_hosted) {
        (Some(ep), true) => ep.trim_end_matches('/').to_string(),
        (Some(ep), false) => format!("{}/{bucket}", ep.trim_end_matches('/')),
        (None, true) => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        (None, false) => format!("https://s3.{region}.amazonaws.com/{bucket}"),
    };
    let client = object_store::client::ReqwestConnector::default()
        .connect(&client_options)
        .map_err(|source| StoreError::Open { location, source })?;
    let signed = S3Client {
        bucket_endpoint,
        region,
        credentials: s3.credentials().clone(),
        client,
        encryption: opts.encryption.clone(),
    };
    Ok((Arc::new(s3), signed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls() {
        assert_eq!(
            parse_url("s3://audit-logs/host/a/").unwrap(),
            ("audit-logs".into(), "host/a".into())
        );
        assert_eq!(
            parse_url("s3://b.c.d").unwrap(),
            ("b.c.d".into(), "".into())
        );
        assert!(parse_url("s3://UPPER/x").is_err());
        assert!(parse_url("s3://ab").is_err());
        assert!(parse_url("s3://bucket/a b").is_err());
        assert!(parse_url("s3://bucket/a//b").is_err());
    }

    #[test]
    fn static_keys_need_both_halves_and_name_what_is_missing() {
        let c = CredentialsSection {
            access_key_id: Some("AKIA".into()),
            ..Default::default()
        };
        let e = credentials(&c).unwrap_err().to_string();
        assert!(e.contains("secret access key"), "{e}");
        let c = CredentialsSection {
            access_key_id: Some("AKIA".into()),
            secret_access_key_env: Some("SEALTRAIL_TEST_SURELY_UNSET_VAR".into()),
            ..Default::default()
        };
        let e = credentials(&c).unwrap_err().to_string();
        assert!(e.contains("SEALTRAIL_TEST_SURELY_UNSET_VAR"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret");
        std::fs::write(&f, "  sekrit\n").unwrap();
        let c = CredentialsSection {
            access_key_id: Some("AKIA".into()),
            secret_access_key_file: Some(f),
            ..Default::default()
        };
        let (p, _) = credentials(&c).unwrap();
        let dbg = format!("{:?}", p.unwrap());
        assert!(!dbg.contains("sekrit"), "{dbg}");
    }
}
