//! Events the sealer writes about itself into the chain: a late seal, a stretch of
//! journal that could not be read. They are what keeps the archive honest about its
//! own gaps: an auditor finds, at the place of the gap, the daemon's account of it,
//! instead of a silent hole (journald, CloudTrail) or a tamper alarm with no story.
//!
//! ECS-shaped like every event, `event.module = "sealtrail"`, tagged
//! `_sealtrail_internal`, with an `event.id` that names the seal or the journal range.

use std::ops::Range;

/// Writes one internal event as a JSON line (no trailing newline).
pub fn write(
    out: &mut Vec<u8>,
    id: String,
    action: &str,
    at_rfc3339: &str,
    message: String,
    reason: Option<&str>,
    details: serde_json::Value,
) {
    let mut event = serde_json::json!({
        "id": id,
        "kind": "event",
        "module": "sealtrail",
        "dataset": "sealtrail.sealer",
        "action": action,
    });
    if let Some(r) = reason {
        event["reason"] = r.into();
    }
    let v = serde_json::json!({
        "@timestamp": at_rfc3339,
        "event": event,
        "message": message,
        "sealtrail": details,
        "tags": ["_sealtrail_internal"],
    });
    // serde_json never writes a raw newline, and writing to a Vec cannot fail.
    let _ = serde_json::to_writer(out, &v);
}

/// A journal range no reader could recover (damaged or truncated on disk): the records
/// in it are lost, and the segment that follows them says so.
pub fn journal_gap(out: &mut Vec<u8>, stream: &str, lost: &Range<u64>, at_rfc3339: &str) {
    let bytes = lost.end.saturating_sub(lost.start);
    write(
        out,
        format!("{stream}:journal-gap:{}-{}", lost.start, lost.end),
        "journal-gap",
        at_rfc3339,
        format!(
            "journal positions {}..{} ({bytes} bytes) were damaged or missing on disk and could not be read: the records in them are lost; every readable record around them is sealed",
            lost.start, lost.end
        ),
        Some("journal damage found on recovery or while reading"),
        serde_json::json!({ "journal": { "from": lost.start, "to": lost.end, "lost_bytes": bytes } }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_gap_is_one_line_naming_the_range() {
        let mut out = Vec::new();
        journal_gap(&mut out, "h", &(100..160), "2026-12-01T00:00:00Z");
        assert!(!out.contains(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["event"]["action"], "journal-gap");
        assert_eq!(v["event"]["id"], "h:journal-gap:100-160");
        assert_eq!(v["sealtrail"]["journal"]["lost_bytes"], 60);
        assert_eq!(v["tags"][0], "_sealtrail_internal");
    }
}
