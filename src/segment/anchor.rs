//! The chain head published out of band (an *anchor*): the newest shipped segment's
//! seal, signed as it is in the segment, in a small JSON document.
//!
//! Whoever can delete objects in the archive can delete the newest ones, and the chain
//! that is left still verifies: nothing inside the archive can prove it once went
//! further. A copy of the head kept where that person cannot reach (another account's
//! bucket, a write-once file, an HTTP endpoint of the audit team) can: `verify --anchor`
//! requires the archive to reach the anchor's sequence number with the same seal.
//! The anchor is authenticated by the seal's own signature, so where it is kept need
//! not be trusted for integrity, only for keeping it.

use base64::Engine as _;

use super::{Seal, SegmentError};

/// Version of the anchor document.
pub const ANCHOR_VERSION: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("not an anchor document: {0}")]
    Malformed(String),
    #[error("anchor version {0} is not supported (this build reads version 1)")]
    UnsupportedVersion(u64),
    #[error("the anchor's seal: {0}")]
    Seal(#[from] SegmentError),
}

/// The anchor document for `seal`: one JSON object, a line of its own.
///
/// `seal` (base64 of the seal payload, signature included) is what counts; the other
/// fields repeat it for people and tools.
pub fn to_json(seal: &Seal) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let doc = serde_json::json!({
        "sealtrail_anchor": ANCHOR_VERSION,
        "stream": seal.stream,
        "seq": seal.seq,
        "seal_hash": hex::encode(seal.hash()),
        "period_end": super::rfc3339(seal.period_end_ns),
        "key_id": hex::encode(seal.key_id),
        "seal": b64.encode(seal.to_bytes()),
    });
    doc.to_string() + "\n"
}

/// The seal an anchor document carries (structure only: the caller verifies its
/// signature against the key it trusts).
pub fn from_json(text: &[u8]) -> Result<Seal, AnchorError> {
    let v: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| AnchorError::Malformed(e.to_string()))?;
    let version = v
        .get("sealtrail_anchor")
        .and_then(|x| x.as_u64())
        .ok_or_else(|| AnchorError::Malformed("no `sealtrail_anchor` version field".into()))?;
    if version != ANCHOR_VERSION {
        return Err(AnchorError::UnsupportedVersion(version));
    }
    let seal = v
        .get("seal")
        .and_then(|x| x.as_str())
        .ok_or_else(|| AnchorError::Malformed("no `seal` field".into()))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(seal)
        .map_err(|e| AnchorError::Malformed(format!("`seal` is not base64: {e}")))?;
    Ok(Seal::from_bytes(&bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal() -> Seal {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let mut b = crate::segment::SegmentBuilder::new(1).unwrap();
        b.push_line(b"{\"v\":2}", 1_500);
        let header = crate::segment::SealHeader {
            kind: crate::segment::SealKind::Normal,
            stream: "host-a".into(),
            seq: 41,
            prev_hash: [3u8; 32],
            period_start_ns: 1_000,
            period_end_ns: 2_000,
            heartbeat_ms: 1_000,
            next_key: None,
        };
        let sealed = b.finish(header, &key).unwrap();
        sealed.seal
    }

    #[test]
    fn round_trip_and_fields() {
        let s = seal();
        let doc = to_json(&s);
        assert!(doc.ends_with('\n') && doc.matches('\n').count() == 1);
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(v["seq"], 41);
        assert_eq!(v["stream"], "host-a");
        assert_eq!(v["seal_hash"], hex::encode(s.hash()));
        let back = from_json(doc.as_bytes()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn bad_documents_say_what_is_wrong() {
        assert!(matches!(from_json(b"nope"), Err(AnchorError::Malformed(_))));
        assert!(matches!(
            from_json(br#"{"sealtrail_anchor":2,"seal":""}"#),
            Err(AnchorError::UnsupportedVersion(2))
        ));
        assert!(matches!(
            from_json(br#"{"sealtrail_anchor":1,"seal":"!!"}"#),
            Err(AnchorError::Malformed(_))
        ));
        assert!(matches!(
            from_json(br#"{"sealtrail_anchor":1,"seal":"AAAA"}"#),
            Err(AnchorError::Seal(_))
        ));
    }
}
