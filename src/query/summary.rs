//! What a query verified: the segments read, verified and refused, the events, the
//! keys, the window, and the chain's problems over it (the verifier's own analysis).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::segment::rfc3339;
use crate::verify::{ObjectCheck, Problem, ProblemKind, Report};

use super::ReadOptions;

/// Schema name of [`Summary::to_json`].
pub const SCHEMA: &str = "sealtrail.query.summary/1";

/// A segment that failed its checks.
#[derive(Debug, Clone)]
pub struct Refused {
    pub location: String,
    pub problems: Vec<(ProblemKind, String)>,
    /// Its events were handed on anyway, marked unverified (`include_unverified`).
    pub included: bool,
}

impl Refused {
    pub(super) fn of(check: &ObjectCheck, included: bool) -> Refused {
        Refused {
            location: check.location().to_owned(),
            problems: check.problems().cloned().collect(),
            included,
        }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Entries listed.
    pub objects: usize,
    /// Left unread: the key's date lies before the window ...
    pub skipped_by_key: usize,
    /// ... or the (authentic) seal's period and event times lie outside it.
    pub skipped_by_seal: usize,
    /// Not read either: the (authentic) seal's period is in the window, so it takes
    /// part in the chain analysis, but it holds no event received in the window.
    pub seal_only: usize,
    /// Objects read whole and checked (refused ones included).
    pub read: usize,
    pub verified: usize,
    pub refused: Vec<Refused>,
    /// Lines of the segments handed on.
    pub events_scanned: u64,
    /// Events the caller kept (set by the caller; a search's matches).
    pub events_matched: u64,
    pub include_unverified: bool,
    pub since_ns: Option<i64>,
    pub until_ns: Option<i64>,
    /// The verifier's report over the same objects and window: chain problems, each
    /// stream's coverage, key ids, bytes read.
    pub report: Report,
}

impl Summary {
    pub(super) fn new(opts: &ReadOptions, objects: usize, skipped_by_key: usize) -> Summary {
        Summary {
            objects,
            skipped_by_key,
            skipped_by_seal: 0,
            seal_only: 0,
            read: 0,
            verified: 0,
            refused: Vec::new(),
            events_scanned: 0,
            events_matched: 0,
            include_unverified: opts.include_unverified,
            since_ns: opts.since_ns,
            until_ns: opts.until_ns,
            report: Report {
                problems: Vec::new(),
                streams: Vec::new(),
                objects,
                skipped: skipped_by_key,
                bytes: 0,
                key_ids: opts.keyring.ids().to_vec(),
                since_ns: opts.since_ns,
                until_ns: opts.until_ns,
                retention: None,
                anchor: None,
                archive: String::new(),
                verified_at_ns: 0,
            },
        }
    }

    /// The verifier's problems that are not those of a refused segment: gaps, breaks,
    /// forks, the key schedule, head and tail.
    pub fn chain_problems(&self) -> Vec<&Problem> {
        let refused: BTreeSet<&str> = self.refused.iter().map(|r| r.location.as_str()).collect();
        self.report
            .problems
            .iter()
            .filter(|p| !refused.contains(p.object.as_str()))
            .collect()
    }

    /// Every segment read verified and the chain over the window has no problem.
    pub fn is_clean(&self) -> bool {
        self.refused.is_empty() && self.chain_problems().is_empty()
    }

    /// What the exit status says: no chain problem, and no refused segment unless
    /// the caller asked for unverified events (then they are in the output, marked).
    pub fn is_ok(&self) -> bool {
        self.chain_problems().is_empty() && (self.refused.is_empty() || self.include_unverified)
    }

    fn window_text(&self) -> String {
        let t = |n: Option<i64>, open: &str| n.map_or(open.to_owned(), rfc3339);
        format!(
            "[{}, {})",
            t(self.since_ns, "-inf"),
            t(self.until_ns, "+inf")
        )
    }

    /// Human-readable, a few lines: what was read and verified, then each problem.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let keys: Vec<String> = self.report.key_ids.iter().map(hex::encode).collect();
        let _ = writeln!(
            s,
            "sealtrail {}: {} window {} (event.created), key ids {}",
            env!("CARGO_PKG_VERSION"),
            self.report.archive,
            self.window_text(),
            keys.join(", ")
        );
        let _ = writeln!(
            s,
            "segments: {} listed, {} read, {} verified, {} refused, {} skipped outside the window ({} by key date, {} by seal), {} with no event in the window (seal checked for the chain, not read)",
            self.objects,
            self.read,
            self.verified,
            self.refused.len(),
            self.skipped_by_key + self.skipped_by_seal,
            self.skipped_by_key,
            self.skipped_by_seal,
            self.seal_only
        );
        let _ = writeln!(
            s,
            "events: {} scanned, {} matched; {} read",
            self.events_scanned,
            self.events_matched,
            indicatif::HumanBytes(self.report.bytes)
        );
        for st in &self.report.streams {
            let _ = writeln!(
                s,
                "stream {}: seq {}..{}, {} segments, {} events, {} .. {}",
                st.stream,
                st.first_seq,
                st.last_seq,
                st.segments,
                st.events,
                rfc3339(st.period_start_ns),
                rfc3339(st.period_end_ns)
            );
        }
        for r in &self.refused {
            let what = if r.included {
                "refused (its events included, marked sealtrail.verified=false)"
            } else {
                "refused (its events left out)"
            };
            let kinds: Vec<String> = r
                .problems
                .iter()
                .map(|(k, d)| format!("{k}: {d}"))
                .collect();
            let _ = writeln!(s, "{}: {what}: {}", r.location, kinds.join("; "));
        }
        for p in self.chain_problems() {
            let _ = writeln!(s, "{}: {}: {}", p.object, p.kind, p.detail);
        }
        let verdict = if self.is_clean() {
            "every segment read verified; the chain over the window has no problems"
        } else if self.is_ok() {
            "NOT VERIFIED: some events come from refused segments (marked)"
        } else {
            "NOT VERIFIED: see the problems above"
        };
        let _ = writeln!(s, "{verdict}");
        s
    }

    pub fn to_json(&self) -> Value {
        let problem =
            |p: &Problem| json!({"object": p.object, "kind": p.kind.as_str(), "detail": p.detail});
        json!({
            "schema": SCHEMA,
            "archive": self.report.archive,
            "since": self.since_ns.map(rfc3339),
            "until": self.until_ns.map(rfc3339),
            "key_ids": self.report.key_ids.iter().map(hex::encode).collect::<Vec<_>>(),
            "segments": {
                "listed": self.objects,
                "read": self.read,
                "verified": self.verified,
                "refused": self.refused.len(),
                "skipped_by_key": self.skipped_by_key,
                "skipped_by_seal": self.skipped_by_seal,
                "seal_only": self.seal_only,
            },
            "events": {"scanned": self.events_scanned, "matched": self.events_matched},
            "bytes": self.report.bytes,
            "streams": self.report.streams.iter().map(|st| json!({
                "stream": st.stream,
                "first_seq": st.first_seq,
                "last_seq": st.last_seq,
                "segments": st.segments,
                "events": st.events,
                "period_start": rfc3339(st.period_start_ns),
                "period_end": rfc3339(st.period_end_ns),
            })).collect::<Vec<_>>(),
            "refused": self.refused.iter().map(|r| json!({
                "object": r.location,
                "included": r.included,
                "problems": r.problems.iter().map(|(k, d)| json!({"kind": k.as_str(), "detail": d})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "chain_problems": self.chain_problems().into_iter().map(problem).collect::<Vec<_>>(),
            "verified": self.is_clean(),
        })
    }
}
