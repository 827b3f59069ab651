//! `sealtrail report`: a compliance evidence report, one self-contained HTML file
//! (inline CSS and SVG, no scripts, nothing fetched), optionally printed to PDF.
//!
//! Every figure comes from the verified archive: the verdict, streams, keys, downtime
//! and the timeline from the verifier's [`Report`]; event figures from the events of
//! the segments that verified ([`aggregate`], fed by the verified reader); the control
//! sections ([`controls`]) say which figure supports what, and what the archive cannot
//! show. Everything from the archive is escaped ([`html::esc`]).
//!
//! Parts: `aggregate` (figures from events, pure), `timeline` (the SVG), `controls`
//! (the control texts), `html` (the writer and its escaping), `page` (the page),
//! `pdf` (printing through headless Chromium).

pub mod aggregate;
pub mod controls;
pub mod fields;
pub mod html;
mod page;
pub mod pdf;
pub mod timeline;

use std::collections::BTreeMap;

pub use aggregate::{Aggregator, Figures};
pub use fields::{CompactFields, EventFields};
pub use page::render;

use crate::verify::{fmt_dur, fmt_ns, Report};

/// What can go wrong making the report (the verification itself has its own errors).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("no PDF converter found (looked for {looked}); install Chromium (Debian: apt-get install chromium) or name one with --chromium PATH")]
    NoConverter { looked: String },
    #[error("the PDF converter {program} failed: {detail}")]
    Converter { program: String, detail: String },
}

/// How the events were read: segments whose content verified, and those refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub segments_read: u64,
    pub segments_refused: u64,
    /// Events the refused segments' seals claim (not read, not counted).
    pub events_refused: u64,
    /// The refused objects' keys, with why.
    pub refused: Vec<(String, String)>,
}

/// Everything the page is made of.
#[derive(Debug, Clone)]
pub struct Input {
    pub verify: Report,
    pub figures: Figures,
    pub read: ReadStats,
    /// The command line that reproduces the report.
    pub command: String,
    pub generated_at_ns: i64,
}

/// Retention as read back, for the texts.
#[derive(Debug, Clone)]
pub struct RetentionFacts {
    pub objects: usize,
    pub modes: String,
    pub earliest: String,
    pub required_mode: String,
    pub retain_until: String,
}

/// The figures the texts quote, derived once from the input.
#[derive(Debug, Clone)]
pub struct Facts {
    pub valid: bool,
    pub problems: usize,
    pub problem_kinds: String,
    pub by_kind: BTreeMap<&'static str, usize>,
    pub objects: usize,
    pub key_ids: String,
    pub streams: usize,
    pub segments: u64,
    pub heartbeats: u64,
    pub period_start: String,
    pub period_end: String,
    pub period_ns: i128,
    pub period_len: String,
    pub down_planned: usize,
    pub down_planned_ns: i128,
    pub down_unplanned: usize,
    pub down_unplanned_ns: i128,
    pub gaps: usize,
    pub heartbeat_gaps: usize,
    pub tail_checked: bool,
    pub retention: Option<RetentionFacts>,
    pub segments_read: u64,
    pub segments_refused: u64,
    pub events_refused: u64,
    pub privilege_events: u64,
    pub figures: Figures,
}

impl Facts {
    pub fn new(input: &Input) -> Facts {
        let r = &input.verify;
        let mut by_kind: BTreeMap<&'static str, usize> = BTreeMap::new();
        for p in &r.problems {
            *by_kind.entry(p.kind.as_str()).or_default() += 1;
        }
        let problem_kinds = if by_kind.is_empty() {
            "none".to_string()
        } else {
            by_kind
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let covered_start = r.streams.iter().map(|s| s.period_start_ns).min();
        let covered_end = r.streams.iter().map(|s| s.period_end_ns).max();
        let period_ns = match (covered_start, covered_end) {
            (Some(a), Some(b)) => i128::from(b) - i128::from(a),
            _ => 0,
        };
        let downs = r.streams.iter().flat_map(|s| s.downtime.iter());
        let (mut dp, mut dpn, mut du, mut dun) = (0, 0i128, 0, 0i128);
        for d in downs {
            let len = i128::from(d.end_ns) - i128::from(d.start_ns);
            if d.planned {
                dp += 1;
                dpn += len;
            } else {
                du += 1;
                dun += len;
            }
        }
        let gaps = r
            .streams
            .iter()
            .map(|s| {
                timeline::stretches(s, r.since_ns, r.until_ns, &|loc| timeline::flagged(r, loc))
                    .iter()
                    .filter(|x| x.class == timeline::Class::Gap)
                    .count()
            })
            .sum();
        let tail_checked = !r.streams.is_empty()
            && r.streams
                .iter()
                .all(|s| crate::verify::tail_note(r, s).0 != "unchecked");
        let key_ids = if r.key_ids.is_empty() {
            "none".into()
        } else {
            r.key_ids
                .iter()
                .map(hex::encode)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let retention = r.retention.as_ref().map(|x| RetentionFacts {
            objects: x.objects,
            modes: if x.modes.is_empty() {
                "none".into()
            } else {
                x.modes
                    .iter()
                    .map(|(m, n)| format!("{n} {m}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            earliest: x.earliest_retain_until.map_or("none".into(), |u| {
                u.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            }),
            required_mode: x.required_mode.clone(),
            retain_until: x.retain_until.clone(),
        });
        let g = &input.figures;
        let privilege_events = g.sudo_commands
            + g.sudo_failure_events
            + g.sudo_refused
            + g.su_successes
            + g.su_failures;
        Facts {
            valid: r.is_valid(),
            problems: r.problems.len(),
            problem_kinds,
            heartbeat_gaps: by_kind.get("heartbeat_gap").copied().unwrap_or(0),
            by_kind,
            objects: r.objects,
            key_ids,
            streams: r.streams.len(),
            segments: r.streams.iter().map(|s| s.segments).sum(),
            heartbeats: r.streams.iter().map(|s| s.empty_segments).sum(),
            period_start: covered_start.map_or("-".into(), fmt_ns),
            period_end: covered_end.map_or("-".into(), fmt_ns),
            period_ns,
            period_len: fmt_dur(period_ns),
            down_planned: dp,
            down_planned_ns: dpn,
            down_unplanned: du,
            down_unplanned_ns: dun,
            gaps,
            tail_checked,
            retention,
            segments_read: input.read.segments_read,
            segments_refused: input.read.segments_refused,
            events_refused: input.read.events_refused,
            privilege_events,
            figures: input.figures.clone(),
        }
    }
}

/// Quotes one argument for a POSIX shell (for the reproducing command line).
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%".contains(&b));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_round_trips_through_sh() {
        assert_eq!(shell_quote("s3://bucket/pre"), "s3://bucket/pre");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        let nasty = "x'; rm -rf / #$(id)`<>";
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", shell_quote(nasty)))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), nasty);
    }
}
