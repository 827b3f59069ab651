//! `verify --check-retention`: reads each segment object's Object Lock and encryption
//! back from S3 (a signed HEAD per object) and reports every object that whoever holds
//! delete rights could remove before the date the auditor needs: unlocked, locked only
//! in GOVERNANCE mode (removable with `s3:BypassGovernanceRetention`) where COMPLIANCE
//! is required, or locked until too early. Each is its own problem kind, with the key.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::{StreamExt as _, TryStreamExt as _};
use object_store::path::Path as StorePath;

use super::{Problem, ProblemKind, Report, VerifyError, VerifyOptions};
use crate::config::LockMode;
use crate::segment;
use crate::store::{Archive, ObjectHead, S3Client};

/// HEADs in flight at once.
const CONCURRENCY: usize = 16;

#[derive(Debug, Clone, Copy)]
pub struct RetentionOptions {
    /// The weakest mode accepted.
    pub required_mode: LockMode,
    /// Every object must stay locked at least until then (default: now).
    pub retain_until: DateTime<Utc>,
}

/// What the retention check saw, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionSummary {
    pub objects: usize,
    /// Objects by lock mode (`none` for unlocked).
    pub modes: BTreeMap<String, usize>,
    /// Objects by server-side encryption (`none` when the store names none).
    pub encryption: BTreeMap<String, usize>,
    pub earliest_retain_until: Option<DateTime<Utc>>,
    pub required_mode: String,
    pub retain_until: String,
}

/// The problem, if any, with one object's lock.
pub fn judge(head: &ObjectHead, opts: &RetentionOptions) -> Option<(ProblemKind, String)> {
    let Some(mode) = head.lock_mode.as_deref() else {
        let hold = if head.legal_hold {
            " (a legal hold is on, but it has no date and can be lifted)"
        } else {
            ""
        };
        return Some((
            ProblemKind::Unlocked,
            format!("no Object Lock retention on this version{hold}"),
        ));
    };
    if mode != "COMPLIANCE" && opts.required_mode == LockMode::Compliance {
        return Some((
            ProblemKind::GovernanceLock,
            format!("locked in {mode} mode, which users with s3:BypassGovernanceRetention can remove; COMPLIANCE is required"),
        ));
    }
    match (head.retain_until, head.retain_until_raw.as_deref()) {
        (Some(until), _) if until < opts.retain_until => Some((
            ProblemKind::RetentionTooShort,
            format!(
                "locked only until {}, before the required {}",
                until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                opts.retain_until
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        )),
        (Some(_), _) => None,
        (None, Some(raw)) => Some((
            ProblemKind::RetentionTooShort,
            format!("the retain-until date `{raw}` does not parse"),
        )),
        (None, None) => Some((
            ProblemKind::RetentionTooShort,
            format!("{mode} lock without a retain-until date"),
        )),
    }
}

/// Checks every segment object under the verified prefix and adds its problems.
pub async fn check(
    archive: &Archive,
    verify: &VerifyOptions,
    opts: &RetentionOptions,
    report: &mut Report,
) -> Result<(), VerifyError> {
    let Some(s3) = &archive.s3 else {
        return Err(VerifyError::Retention(
            "--check-retention needs an s3:// archive (a local directory has no Object Lock)"
                .into(),
        ));
    };
    let mut keys: Vec<StorePath> = Vec::new();
    for prefix in super::list_prefixes(&archive.prefix, &verify.streams)? {
        let listed: Vec<StorePath> = archive
            .store
            .list(Some(&prefix))
            .map_ok(|m| m.location)
            .try_filter(|k| {
                std::future::ready(segment::parse_object_key_parts(k.as_ref()).is_some())
            })
            .try_collect()
            .await
            .map_err(|e| VerifyError::Retention(format!("listing {prefix}: {e}")))?;
        keys.extend(listed);
    }
    let heads: Vec<(StorePath, Result<Option<ObjectHead>, String>)> = futures::stream::iter(keys)
        .map(|k| head_one(s3, k))
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut summary = RetentionSummary {
        objects: heads.len(),
        required_mode: opts.required_mode.as_s3().to_string(),
        retain_until: opts
            .retain_until
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ..RetentionSummary::default()
    };
    for (key, head) in heads {
        let object = key.to_string();
        let head = match head {
            Ok(Some(h)) => h,
            Ok(None) => {
                report.problems.push(Problem {
                    object,
                    kind: ProblemKind::Unreadable,
                    detail: "listed, then gone when its lock was read".into(),
                });
                continue;
            }
            Err(e) => {
                report.problems.push(Problem {
                    object,
                    kind: ProblemKind::Unreadable,
                    detail: format!("cannot read its lock: {e}"),
                });
                continue;
            }
        };
        *summary
            .modes
            .entry(head.lock_mode.clone().unwrap_or_else(|| "none".into()))
            .or_default() += 1;
        let enc = match (&head.encryption, &head.kms_key_id) {
            (Some(e), Some(k)) => format!("{e} ({k})"),
            (Some(e), None) => e.clone(),
            (None, _) => "none".into(),
        };
        *summary.encryption.entry(enc).or_default() += 1;
        if let Some(u) = head.retain_until {
            summary.earliest_retain_until =
                Some(summary.earliest_retain_until.map_or(u, |e| e.min(u)));
        }
        if let Some((kind, detail)) = judge(&head, opts) {
            report.problems.push(Problem {
                object,
                kind,
                detail,
            });
        }
    }
    report.retention = Some(summary);
    Ok(())
}

async fn head_one(
    s3: &S3Client,
    key: StorePath,
) -> (StorePath, Result<Option<ObjectHead>, String>) {
    let r = s3.head(&key).await.map_err(|e| e.to_string());
    (key, r)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn opts(mode: LockMode) -> RetentionOptions {
        RetentionOptions {
            required_mode: mode,
            retain_until: Utc.with_ymd_and_hms(2027, 6, 1, 0, 0, 0).unwrap(),
        }
    }

    fn head(mode: Option<&str>, until: Option<DateTime<Utc>>) -> ObjectHead {
        ObjectHead {
            lock_mode: mode.map(str::to_string),
            retain_until: until,
            ..ObjectHead::default()
        }
    }

    #[test]
    fn each_weakness_is_its_own_kind() {
        let late = Utc.with_ymd_and_hms(2028, 1, 1, 0, 0, 0).unwrap();
        let early = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        let c = opts(LockMode::Compliance);
        assert_eq!(judge(&head(Some("COMPLIANCE"), Some(late)), &c), None);
        assert_eq!(
            judge(&head(None, None), &c).map(|p| p.0),
            Some(ProblemKind::Unlocked)
        );
        assert_eq!(
            judge(&head(Some("GOVERNANCE"), Some(late)), &c).map(|p| p.0),
            Some(ProblemKind::GovernanceLock)
        );
        let (kind, detail) = judge(&head(Some("COMPLIANCE"), Some(early)), &c).unwrap();
        assert_eq!(kind, ProblemKind::RetentionTooShort);
        assert!(
            detail.contains("2027-01-01T00:00:00Z") && detail.contains("2027-06-01"),
            "{detail}"
        );
        // GOVERNANCE is enough when asked for; its date still counts.
        let g = opts(LockMode::Governance);
        assert_eq!(judge(&head(Some("GOVERNANCE"), Some(late)), &g), None);
        assert_eq!(
            judge(&head(Some("GOVERNANCE"), Some(early)), &g).map(|p| p.0),
            Some(ProblemKind::RetentionTooShort)
        );
        let mut held = head(None, None);
        held.legal_hold = true;
        assert!(judge(&held, &c).unwrap().1.contains("legal hold"));
    }
}
