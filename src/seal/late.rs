//! Late seals: a segment sealed after its heartbeat was due says why.
//!
//! The heartbeat is a promise to the auditor: a normal segment never covers more than
//! `seal.max_age`, so a longer period means segments were deleted, or the daemon could
//! not seal. The second must never look like the first without an explanation. So when
//! a segment is late, the sealer puts an internal event into that very segment, saying
//! by how much and why (committing the previous segment failed, the committer was
//! still busy writing, or the sealer itself did not get to run), logs it, and keeps it
//! for `status` until it is old news.

use std::time::Duration;

/// Tolerance before a seal counts as late: scheduling and fsync jitter are not news.
pub const LATE_SLACK: Duration = Duration::from_secs(1);

/// The most recent late seal, for `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateSeal {
    pub seq: u64,
    /// Period beyond the heartbeat, in milliseconds.
    pub late_ms: u64,
    pub heartbeat_ms: u64,
    pub reason: String,
    /// When it was sealed (unix ns).
    pub sealed_ns: i64,
}

/// What the sealer knows about why it is late, gathered as it goes.
#[derive(Debug, Default)]
pub struct Causes {
    /// Time the last hand-over to the committer waited for it (ns).
    pub waited_for_committer_ns: u64,
    /// Commit failures seen at the previous seal, to tell new ones apart.
    pub failures_at_last_seal: u64,
    /// The sealer waited for room in a full spool (the store did not take segments).
    pub spool_was_full: bool,
}

/// Whether a normal segment covering `period_ns` breaks the heartbeat promise.
pub fn lateness(period_ns: i64, heartbeat: Duration) -> Option<Duration> {
    let period = Duration::from_nanos(u64::try_from(period_ns).ok()?);
    let over = period.checked_sub(heartbeat)?;
    (over > LATE_SLACK).then_some(over)
}

/// The reason, from the most specific cause to the least.
pub fn explain(failures_now: u64, causes: &Causes, last_failure: Option<&str>) -> String {
    let new_failures = failures_now.saturating_sub(causes.failures_at_last_seal);
    if new_failures > 0 {
        let err = last_failure.unwrap_or("unknown error");
        return format!(
            "committing the previous segment to the spool failed {new_failures} time(s) meanwhile (last error: {err})"
        );
    }
    if causes.spool_was_full {
        return "the spool was full (spool.max_bytes): the archive did not take segments, so sealing paused".into();
    }
    let waited = Duration::from_nanos(causes.waited_for_committer_ns);
    if waited > LATE_SLACK {
        return format!(
            "the committer was still compressing and writing the previous segment for {:.1} s (slow or overloaded state disk)",
            waited.as_secs_f64()
        );
    }
    "the sealer did not get to run in time (the machine was overloaded, or the process was suspended)".into()
}

/// The internal event sealed into a late segment: ECS-shaped, marked as sealtrail's own.
pub fn render_event(
    out: &mut Vec<u8>,
    stream: &str,
    late: &LateSeal,
    now_rfc3339: &str,
    verify_flags_it: bool,
) {
    let message = format!(
        "segment #{} sealed {:.1} s after its {:.1} s heartbeat was due: {}{}",
        late.seq,
        late.late_ms as f64 / 1000.0,
        late.heartbeat_ms as f64 / 1000.0,
        late.reason,
        if verify_flags_it {
            "; verify reports this segment as a heartbeat_gap, which this event explains"
        } else {
            ""
        }
    );
    super::internal::write(
        out,
        format!("{stream}:seal:{}:late", late.seq),
        "seal-late",
        now_rfc3339,
        message,
        Some(&late.reason),
        serde_json::json!({
            "seq": late.seq,
            "late_ms": late.late_ms,
            "heartbeat_ms": late.heartbeat_ms,
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_period_past_the_heartbeat_and_the_slack_is_late() {
        let hb = Duration::from_secs(5);
        assert_eq!(lateness(5_900_000_000, hb), None);
        assert_eq!(lateness(-1, hb), None);
        assert_eq!(lateness(8_000_000_000, hb), Some(Duration::from_secs(3)));
    }

    #[test]
    fn the_reason_names_the_most_specific_cause() {
        let mut c = Causes {
            failures_at_last_seal: 2,
            waited_for_committer_ns: 9_000_000_000,
            spool_was_full: false,
        };
        let r = explain(5, &c, Some("spool: Too many open files (os error 24)"));
        assert!(r.contains("failed 3 time(s)"), "{r}");
        assert!(r.contains("Too many open files"), "{r}");
        let r = explain(2, &c, None);
        assert!(
            r.contains("still compressing and writing the previous segment for 9.0 s"),
            "{r}"
        );
        c.spool_was_full = true;
        assert!(explain(2, &c, None).contains("the spool was full"));
        c.spool_was_full = false;
        c.waited_for_committer_ns = 0;
        assert!(explain(2, &c, None).contains("did not get to run"));
    }

    #[test]
    fn the_event_is_one_json_line_that_says_it_all() {
        let late = LateSeal {
            seq: 7,
            late_ms: 17_800,
            heartbeat_ms: 5_000,
            reason: "because".into(),
            sealed_ns: 0,
        };
        let mut out = Vec::new();
        render_event(&mut out, "host", &late, "2026-12-01T00:00:00Z", true);
        assert!(!out.contains(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["event"]["action"], "seal-late");
        assert_eq!(v["event"]["id"], "host:seal:7:late");
        assert_eq!(v["sealtrail"]["late_ms"], 17_800);
        let m = v["message"].as_str().unwrap();
        assert!(
            m.contains("17.8 s after its 5.0 s heartbeat") && m.contains("heartbeat_gap"),
            "{m}"
        );
    }
}
