//! The report's two renderings: text for people (one line per problem, then a summary
//! and the verdict) and JSON for tools. Both list every problem; neither hides a kind.

use std::collections::BTreeMap;

use super::{ProblemKind, Report};

pub(super) fn fmt_ns(ns: i64) -> String {
    crate::segment::rfc3339(ns)
}

pub(super) fn fmt_dur(ns: i128) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let abs = ns.unsigned_abs().min(u64::MAX as u128) as u64;
    format!(
        "{sign}{}",
        humantime::format_duration(std::time::Duration::from_nanos(abs))
    )
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }

    /// Problems of one kind (convenient for callers and tests).
    pub fn count(&self, kind: ProblemKind) -> usize {
        self.problems.iter().filter(|p| p.kind == kind).count()
    }

    /// One line per problem (`<object>: <kind>: <detail>`), then a summary.
    pub fn render_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        for p in &self.problems {
            let _ = writeln!(s, "{}: {}: {}", p.object, p.kind, p.detail);
        }
        for st in &self.streams {
            let _ = write!(
                s,
                "stream {}: {} segments (seq {}..={}), {} events, {} empty, covering {} .. {}",
                st.stream,
                st.segments,
                st.first_seq,
                st.last_seq,
                st.events,
                st.empty_segments,
                fmt_ns(st.period_start_ns),
                fmt_ns(st.period_end_ns)
            );
            if st.downtime.is_empty() {
                s.push('\n');
            } else {
                let _ = writeln!(s, ", {} downtime period(s):", st.downtime.len());
                for (a, b) in &st.downtime {
                    let _ = writeln!(
                        s,
                        "  down {} .. {} ({})",
                        fmt_ns(*a),
                        fmt_ns(*b),
                        fmt_dur(i128::from(*b) - i128::from(*a))
                    );
                }
            }
        }
        let window = match (self.since_ns, self.until_ns) {
            (None, None) => String::new(),
            (a, b) => format!(
                ", window {} .. {}",
                a.map_or("-".into(), fmt_ns),
                b.map_or("-".into(), fmt_ns)
            ),
        };
        let _ = writeln!(
            s,
            "checked {} objects ({} outside the window, {} bytes read), key id {}{window}",
            self.objects,
            self.skipped,
            self.bytes,
            hex::encode(self.key_id)
        );
        if let Some(r) = &self.retention {
            let list = |m: &BTreeMap<String, usize>| {
                m.iter()
                    .map(|(k, n)| format!("{n} {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(
                s,
                "retention: {} objects checked (required: {} until {}); lock: {}; earliest retain-until {}; encryption: {}",
                r.objects,
                r.required_mode,
                r.retain_until,
                if r.modes.is_empty() { "-".into() } else { list(&r.modes) },
                r.earliest_retain_until.map_or("-".into(), |u| u
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                if r.encryption.is_empty() { "-".into() } else { list(&r.encryption) },
            );
        }
        if let Some(a) = &self.anchor {
            let _ = writeln!(
                s,
                "anchor: stream {} seq {} (sealed until {}, seal {}) from {}: {}",
                a.stream,
                a.seq,
                fmt_ns(a.period_end_ns),
                hex::encode(&a.seal_hash[..8]),
                a.source,
                if a.reached { "reached" } else { "NOT reached" }
            );
        }
        if self.is_valid() {
            s.push_str("verdict: VALID\n");
        } else {
            let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
            for p in &self.problems {
                *by_kind.entry(p.kind.as_str()).or_default() += 1;
            }
            let kinds: Vec<String> = by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let _ = writeln!(
                s,
                "verdict: INVALID: {} problem(s) ({})",
                self.problems.len(),
                kinds.join(", ")
            );
        }
        s
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        json!({
            "valid": self.is_valid(),
            "objects": self.objects,
            "skipped": self.skipped,
            "bytes": self.bytes,
            "key_id": hex::encode(self.key_id),
            "since_ns": self.since_ns,
            "until_ns": self.until_ns,
            "problems": self.problems.iter().map(|p| json!({
                "object": p.object,
                "kind": p.kind.as_str(),
                "detail": p.detail,
            })).collect::<Vec<_>>(),
            "anchor": self.anchor.as_ref().map(|a| json!({
                "source": a.source,
                "stream": a.stream,
                "seq": a.seq,
                "period_end": fmt_ns(a.period_end_ns),
                "seal_hash": hex::encode(a.seal_hash),
                "reached": a.reached,
            })),
            "retention": self.retention.as_ref().map(|r| json!({
                "objects": r.objects,
                "required_mode": r.required_mode,
                "retain_until": r.retain_until,
                "modes": r.modes,
                "encryption": r.encryption,
                "earliest_retain_until": r.earliest_retain_until
                    .map(|u| u.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            })),
            "streams": self.streams.iter().map(|s| json!({
                "stream": s.stream,
                "segments": s.segments,
                "events": s.events,
                "empty_segments": s.empty_segments,
                "first_seq": s.first_seq,
                "last_seq": s.last_seq,
                "period_start_ns": s.period_start_ns,
                "period_end_ns": s.period_end_ns,
                "period_start": fmt_ns(s.period_start_ns),
                "period_end": fmt_ns(s.period_end_ns),
                "downtime": s.downtime.iter().map(|(a, b)| json!({
                    "start_ns": a, "end_ns": b, "start": fmt_ns(*a), "end": fmt_ns(*b),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_render() {
        assert_eq!(fmt_ns(0), "1970-01-01T00:00:00Z");
        assert_eq!(fmt_dur(90_000_000_000), "1m 30s");
        assert_eq!(fmt_dur(-5_000_000_000), "-5s");
    }
}
