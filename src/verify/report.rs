//! The report's two renderings: text for people and JSON for tools (schema in
//! `docs/VERIFY_REPORT.md`). Both say which tool checked what, when, with which keys,
//! list every problem (neither hides a kind), and state what the verdict cannot
//! conclude (an unchecked tail).

use std::collections::BTreeMap;

use super::{ProblemKind, Report, StreamSummary};

/// The JSON report's schema; raised when a member changes meaning or goes away.
pub const SCHEMA: &str = "sealtrail.verify.report/1";

pub(crate) fn fmt_ns(ns: i64) -> String {
    crate::segment::rfc3339(ns)
}

/// A duration for people: two units at most, rounded (`1h 30m`, `41.8s`, `250ms`).
pub(crate) fn fmt_dur(ns: i128) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let abs = ns.unsigned_abs();
    const S: u128 = 1_000_000_000;
    let text = match abs {
        0 => "0s".to_string(),
        n if n < 1_000_000 => format!("{}µs", n / 1_000),
        n if n < S => format!("{}ms", n / 1_000_000),
        n if n < 60 * S => {
            let tenths = (n + S / 20) / (S / 10);
            format!("{}.{}s", tenths / 10, tenths % 10)
        }
        n => {
            let secs = (n + S / 2) / S;
            let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
            match (d, h, m) {
                (0, 0, m) => format!("{m}m {s}s"),
                (0, h, m) => format!("{h}h {m}m"),
                (d, h, _) => format!("{d}d {h}h"),
            }
        }
    };
    format!("{sign}{text}")
}

/// `seq 4` or `seqs 4..=9`.
pub(super) fn fmt_seqs(a: u64, b: u64) -> String {
    if a == b {
        format!("seq {a}")
    } else {
        format!("seqs {a}..={b}")
    }
}

/// How far the end of a stream's coverage was checked.
pub(crate) fn tail(r: &Report, st: &StreamSummary) -> (&'static str, String) {
    let end = fmt_ns(st.period_end_ns);
    if r.anchor.as_ref().is_some_and(|a| a.stream == st.stream) {
        return (
            "anchor",
            format!("checked against the anchor: coverage ends at {end}"),
        );
    }
    match (r.until_ns, st.stopped_ns) {
        (Some(u), Some(stop)) if stop < u => (
            "stopped",
            format!(
                "the daemon stopped on purpose at {} (seq {}); nothing is sealed from then to --until {} ({}). Segments of a later run, if there was one, would be missing: only --anchor can tell",
                fmt_ns(stop),
                st.last_seq,
                fmt_ns(u),
                fmt_dur(i128::from(u) - i128::from(stop))
            ),
        ),
        (Some(u), _) => ("until", format!("checked: coverage reaches --until {}", fmt_ns(u))),
        (None, stop) => (
            "unchecked",
            format!(
                "not checked: without --until or --anchor, deleted newest segments cannot be detected; coverage ends at {end} (seq {}{})",
                st.last_seq,
                if stop.is_some() { ", a planned stop" } else { "" }
            ),
        ),
    }
}

/// A stream that begins (seq 0) after `--since`: not a missing head, since nothing
/// existed before its genesis, but the auditor should know where coverage starts.
pub(crate) fn head(r: &Report, st: &StreamSummary) -> Option<String> {
    let since = r.since_ns?;
    (st.first_seq == 0 && st.period_start_ns > since).then(|| {
        format!(
            "the stream begins (seq 0) at {}, after --since {}: nothing existed before it",
            fmt_ns(st.period_start_ns),
            fmt_ns(since)
        )
    })
}

fn human_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }

    /// Problems of one kind (convenient for callers and tests).
    pub fn count(&self, kind: ProblemKind) -> usize {
        self.problems.iter().filter(|p| p.kind == kind).count()
    }

    fn tool(&self) -> String {
        format!(
            "sealtrail {} (segment format {})",
            env!("CARGO_PKG_VERSION"),
            crate::segment::FORMAT_VERSION
        )
    }

    /// A header (tool, time, archive, keys, window), one line per problem
    /// (`<object>: <kind>: <detail>`), each stream, what was read, the verdict.
    pub fn render_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}, verified at {}",
            self.tool(),
            fmt_ns(self.verified_at_ns)
        );
        let _ = writeln!(
            s,
            "archive {}, {} {}, window {}",
            if self.archive.is_empty() {
                "-"
            } else {
                &self.archive
            },
            if self.key_ids.len() == 1 {
                "key id"
            } else {
                "keyring (oldest first)"
            },
            self.key_ids
                .iter()
                .map(hex::encode)
                .collect::<Vec<_>>()
                .join(", "),
            match (self.since_ns, self.until_ns) {
                (None, None) => "the whole archive".to_string(),
                (a, b) => format!(
                    "{} .. {}",
                    a.map_or("-".into(), fmt_ns),
                    b.map_or("-".into(), fmt_ns)
                ),
            }
        );
        for p in &self.problems {
            let _ = writeln!(s, "{}: {}: {}", p.object, p.kind, p.detail);
        }
        for st in &self.streams {
            let _ = writeln!(
                s,
                "stream {}: {} segments ({}), {} events, {} empty; covers {} .. {} ({})",
                st.stream,
                st.segments,
                fmt_seqs(st.first_seq, st.last_seq),
                st.events,
                st.empty_segments,
                fmt_ns(st.period_start_ns),
                fmt_ns(st.period_end_ns),
                fmt_dur(i128::from(st.period_end_ns) - i128::from(st.period_start_ns))
            );
            for d in &st.downtime {
                let _ = writeln!(
                    s,
                    "  down {} .. {} ({}), {}",
                    fmt_ns(d.start_ns),
                    fmt_ns(d.end_ns),
                    fmt_dur(i128::from(d.end_ns) - i128::from(d.start_ns)),
                    if d.planned {
                        "after a planned stop"
                    } else {
                        "not after a stop segment: a crash, a kill or a power cut (or the stop segment is outside the window)"
                    }
                );
            }
            for r in &st.rotations {
                let _ = writeln!(
                    s,
                    "  key rotation at seq {} ({}): {} -> {}{}",
                    r.seq,
                    fmt_ns(r.at_ns),
                    hex::encode(r.from),
                    hex::encode(r.to),
                    if r.known {
                        ""
                    } else {
                        " (not in the keyring: give its public key with --key)"
                    }
                );
            }
            if let Some(h) = head(self, st) {
                let _ = writeln!(s, "  head: {h}");
            }
            let _ = writeln!(s, "  tail: {}", tail(self, st).1);
        }
        let _ = writeln!(
            s,
            "checked {} objects ({} outside the window), {} read",
            self.objects,
            self.skipped,
            human_bytes(self.bytes)
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

    /// The JSON report (`docs/VERIFY_REPORT.md`). Times are RFC 3339 strings with
    /// nanoseconds; where the exact integer is kept too (`*_ns`) it is a string, so
    /// tools that read numbers as doubles lose nothing.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let ns = |v: i64| v.to_string();
        json!({
            "schema": SCHEMA,
            "tool": {
                "name": "sealtrail",
                "version": env!("CARGO_PKG_VERSION"),
                "segment_format": crate::segment::FORMAT_VERSION,
            },
            "verified_at": fmt_ns(self.verified_at_ns),
            "archive": self.archive,
            "key_ids": self.key_ids.iter().map(hex::encode).collect::<Vec<_>>(),
            "window": {
                "since": self.since_ns.map(fmt_ns),
                "until": self.until_ns.map(fmt_ns),
            },
            "valid": self.is_valid(),
            "verdict": if self.is_valid() { "valid" } else { "invalid" },
            "objects": self.objects,
            "skipped": self.skipped,
            "bytes": self.bytes,
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
            "streams": self.streams.iter().map(|s| {
                let (tail_state, tail_text) = tail(self, s);
                json!({
                    "stream": s.stream,
                    "segments": s.segments,
                    "events": s.events,
                    "empty_segments": s.empty_segments,
                    "first_seq": s.first_seq,
                    "last_seq": s.last_seq,
                    "period_start": fmt_ns(s.period_start_ns),
                    "period_end": fmt_ns(s.period_end_ns),
                    "period_start_ns": ns(s.period_start_ns),
                    "period_end_ns": ns(s.period_end_ns),
                    "duration": fmt_dur(i128::from(s.period_end_ns) - i128::from(s.period_start_ns)),
                    "stopped_at": s.stopped_ns.map(fmt_ns),
                    "head": head(self, s),
                    "tail": {"state": tail_state, "detail": tail_text},
                    "downtime": s.downtime.iter().map(|d| json!({
                        "start": fmt_ns(d.start_ns),
                        "end": fmt_ns(d.end_ns),
                        "start_ns": ns(d.start_ns),
                        "end_ns": ns(d.end_ns),
                        "duration": fmt_dur(i128::from(d.end_ns) - i128::from(d.start_ns)),
                        "planned": d.planned,
                    })).collect::<Vec<_>>(),
                    "rotations": s.rotations.iter().map(|r| json!({
                        "seq": r.seq,
                        "at": fmt_ns(r.at_ns),
                        "from_key_id": hex::encode(r.from),
                        "to_key_id": hex::encode(r.to),
                        "in_keyring": r.known,
                    })).collect::<Vec<_>>(),
                })
            }).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_render_for_people() {
        assert_eq!(fmt_ns(0), "1970-01-01T00:00:00Z");
        assert_eq!(fmt_dur(0), "0s");
        assert_eq!(fmt_dur(62), "0µs");
        assert_eq!(fmt_dur(250_000_000), "250ms");
        assert_eq!(fmt_dur(41_845_986_062), "41.8s");
        assert_eq!(fmt_dur(59_960_000_000), "60.0s");
        assert_eq!(fmt_dur(90_000_000_000), "1m 30s");
        assert_eq!(fmt_dur(5_400_000_000_000), "1h 30m");
        assert_eq!(fmt_dur(3 * 86_400_000_000_000 + 7_200_000_000_000), "3d 2h");
        assert_eq!(fmt_dur(-5_000_000_000), "-5.0s");
        assert_eq!(fmt_seqs(1, 1), "seq 1");
        assert_eq!(fmt_seqs(1, 4), "seqs 1..=4");
    }
}
