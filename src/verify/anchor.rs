//! `verify --anchor`: the archive must reach a chain head published out of band (see
//! [`crate::segment::anchor`]). This catches the deletion of the newest segments
//! without `--until`: the remaining chain is intact, but it stops short of a seal the
//! key once signed.

use std::time::Duration;

use object_store::path::Path as StorePath;

use super::{Problem, ProblemKind, Report, VerifyError, VerifyOptions};
use crate::segment::{self, anchor, Seal};
use crate::store::Archive;

/// Longest an HTTP fetch of the anchor may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// An anchor document is a few hundred bytes; more is not an anchor.
const MAX_ANCHOR_BYTES: u64 = 64 * 1024;

/// What the anchor showed, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorSummary {
    pub source: String,
    pub stream: String,
    pub seq: u64,
    pub period_end_ns: i64,
    pub seal_hash: [u8; 32],
    /// The archive holds this very seal.
    pub reached: bool,
}

/// Reads the anchor document from a file, an `http(s)://` URL, or an `s3://bucket/key`
/// object (opened with `s3` options, the archive's own flags).
pub async fn load(source: &str, s3: &crate::config::ArchiveSection) -> Result<Seal, VerifyError> {
    let err = |m: String| VerifyError::Anchor(format!("{source}: {m}"));
    let bytes: Vec<u8> = if source.starts_with("http://") || source.starts_with("https://") {
        let url = source.to_string();
        tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(HTTP_TIMEOUT))
                .build()
                .into();
            let mut resp = agent.get(&url).call().map_err(|e| e.to_string())?;
            resp.body_mut()
                .with_config()
                .limit(MAX_ANCHOR_BYTES)
                .read_to_vec()
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| err(e.to_string()))?
        .map_err(err)?
    } else if let Some(rest) = source.strip_prefix("s3://") {
        let (bucket, key) = rest.split_once('/').ok_or_else(|| {
            err("name the object: s3://bucket/prefix/<stream>.anchor.json".into())
        })?;
        let opts = crate::config::ArchiveSection {
            url: format!("s3://{bucket}"),
            ..s3.clone()
        };
        let archive = crate::store::open(&opts, false).map_err(|e| err(e.to_string()))?;
        let got = archive
            .store
            .get(&StorePath::from(key))
            .await
            .map_err(|e| err(e.to_string()))?;
        if got.meta.size > MAX_ANCHOR_BYTES {
            return Err(err(format!(
                "{} bytes is too large for an anchor",
                got.meta.size
            )));
        }
        got.bytes().await.map_err(|e| err(e.to_string()))?.to_vec()
    } else {
        let path = source.strip_prefix("file://").unwrap_or(source).to_string();
        tokio::task::spawn_blocking(move || std::fs::read(path))
            .await
            .map_err(|e| err(e.to_string()))?
            .map_err(|e| err(e.to_string()))?
    };
    anchor::from_json(&bytes).map_err(|e| err(e.to_string()))
}

/// Checks the anchor's signature, then that the archive reaches it with the same seal.
pub async fn check(
    archive: &Archive,
    verify: &VerifyOptions,
    source: &str,
    head: &Seal,
    report: &mut Report,
) {
    let object = format!("anchor {source}");
    let mut problem = |kind, detail: String| {
        report.problems.push(Problem {
            object: object.clone(),
            kind,
            detail,
        })
    };
    match verify.keyring.signer(head) {
        Ok(_) => {}
        Err(None) => {
            problem(
                ProblemKind::WrongKey,
                format!(
                    "the anchor's seal names key {}, not a keyring key",
                    hex::encode(head.key_id)
                ),
            );
            return;
        }
        Err(Some(_)) => {
            problem(
                ProblemKind::BadSignature,
                "the anchor's seal signature does not verify: it is not a head this key signed"
                    .into(),
            );
            return;
        }
    }
    if !verify.streams.is_empty() && !verify.streams.contains(&head.stream) {
        problem(
            ProblemKind::ForeignStream,
            format!(
                "the anchor is of stream {}, not of a verified stream ({})",
                head.stream,
                verify.streams.join(", ")
            ),
        );
        return;
    }
    let when = segment::rfc3339(head.period_end_ns);
    let last = report
        .streams
        .iter()
        .find(|s| s.stream == head.stream)
        .map(|s| s.last_seq);
    let mut reached = false;
    match last {
        None => problem(
            ProblemKind::TailTruncated,
            format!(
                "the archive holds no segment of stream {}, but the signed anchor shows the chain reached seq {} (sealed until {when})",
                head.stream, head.seq
            ),
        ),
        Some(last) if last < head.seq => problem(
            ProblemKind::TailTruncated,
            format!(
                "stream {} ends at seq {last}, but the signed anchor shows it reached seq {} (sealed until {when}): {} missing",
                head.stream,
                head.seq,
                super::report::fmt_seqs(last + 1, head.seq)
            ),
        ),
        Some(_) => {
            let rel = segment::object_key(&head.stream, head.seq, head.period_end_ns);
            let key: StorePath = archive
                .prefix
                .parts()
                .chain(StorePath::from(rel.as_str()).parts())
                .collect();
            match read_seal(archive, &key).await {
                Ok(s) if s.hash() == head.hash() => reached = true,
                Ok(_) => problem(
                    ProblemKind::AnchorMismatch,
                    format!(
                        "{key} holds another seal for seq {} than the signed anchor: two different chains were signed",
                        head.seq
                    ),
                ),
                Err(e) => problem(
                    ProblemKind::AnchorMismatch,
                    format!("the anchor's segment {key} cannot be read: {e}"),
                ),
            }
        }
    }
    report.anchor = Some(AnchorSummary {
        source: source.to_string(),
        stream: head.stream.clone(),
        seq: head.seq,
        period_end_ns: head.period_end_ns,
        seal_hash: head.hash(),
        reached,
    });
}

async fn read_seal(archive: &Archive, key: &StorePath) -> Result<Seal, String> {
    let got = archive.store.get(key).await.map_err(|e| e.to_string())?;
    if got.meta.size > super::MAX_OBJECT_BYTES {
        return Err(format!(
            "{} bytes is over the verifier's cap",
            got.meta.size
        ));
    }
    let bytes = got.bytes().await.map_err(|e| e.to_string())?;
    segment::parse(&bytes)
        .map(|v| v.seal)
        .map_err(|e| e.to_string())
}
