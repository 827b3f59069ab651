//! Chain analysis: per stream, over the trusted segments ordered by the seal's seq,
//! duplicates, gaps, links, time tiling, heartbeat promises, and head and tail against
//! `--since`/`--until`. A slot already reported by its object (untrusted, foreign,
//! unreadable) is not reported again here, so one cause yields one problem. The step
//! numbers below are those of FORMAT.md §8 (steps 7 to 16).

use std::collections::{BTreeMap, BTreeSet};

use crate::segment::{Seal, SealKind};

use super::object::Outcome;
use super::report::{fmt_dur, fmt_ns, fmt_seqs};
use super::{Problem, ProblemKind, Report, StreamSummary, VerifyOptions};

/// Heartbeat slack: a normal segment may exceed its promise by 10 % plus this.
const HEARTBEAT_SLACK_NS: i128 = 5_000_000_000;

/// A trusted segment taking part in a chain.
#[derive(Debug, Clone)]
struct Entry {
    location: String,
    seal: Seal,
    hash: [u8; 32],
    key_ok: bool,
    /// The ring key that signed it.
    signer: usize,
}

struct Problems(Vec<Problem>);

impl Problems {
    fn push(&mut self, object: &str, kind: ProblemKind, detail: String) {
        self.0.push(Problem {
            object: object.to_owned(),
            kind,
            detail,
        });
    }
}

/// Slots `(stream, seq)` named by keys of objects already reported as untrusted or
/// foreign: chain checks do not report them again as missing.
struct Broken(BTreeSet<(String, u64)>);

impl Broken {
    /// Whether every seq in `lo..=hi` of `stream` is an already reported slot.
    fn covers(&self, stream: &str, lo: u64, hi: u64) -> bool {
        if lo > hi {
            return true;
        }
        let n = self
            .0
            .range((stream.to_owned(), lo)..=(stream.to_owned(), hi))
            .count() as u128;
        n == u128::from(hi) - u128::from(lo) + 1
    }
}

/// Chain analysis over the per-object outcomes.
pub(super) fn analyse(
    mut outcomes: Vec<Outcome>,
    prefix: &str,
    opts: &VerifyOptions,
    pre_skipped: usize,
) -> Report {
    outcomes.sort_by(|a, b| a.location.cmp(&b.location));
    let mut problems = Problems(Vec::new());
    let mut broken = Broken(BTreeSet::new());
    let mut skipped = 0usize;
    // stream -> entries inside the window / all trusted entries (for predecessor links)
    let mut kept: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    let mut all: BTreeMap<String, BTreeMap<u64, Entry>> = BTreeMap::new();

    for o in outcomes {
        let Some(seal) = o.seal else {
            if let Some(k) = &o.key {
                broken.0.insert((k.stream.clone(), k.seq));
            }
            for (kind, detail) in o.always {
                problems.push(&o.location, kind, detail);
            }
            continue;
        };
        if o.foreign {
            if let Some(k) = &o.key {
                broken.0.insert((k.stream.clone(), k.seq));
            }
        }
        // Step 7: the window.
        let in_window = opts.since_ns.is_none_or(|s| seal.period_end_ns > s)
            && opts.until_ns.is_none_or(|u| seal.period_start_ns < u);
        // Under the requested stream's prefix with an unparsable key, the seal may name
        // another stream: its key problem is reported, and it joins no chain here.
        let foreign =
            o.foreign || (!opts.streams.is_empty() && !opts.streams.contains(&seal.stream));
        let entry = Entry {
            location: o.location.clone(),
            seal,
            hash: o.hash,
            key_ok: o.key_ok,
            signer: o.signer,
        };
        if !foreign {
            all.entry(entry.seal.stream.clone())
                .or_default()
                .entry(entry.seal.seq)
                .or_insert_with(|| entry.clone());
        }
        if !in_window {
            skipped += 1;
            for (kind, detail) in o.always {
                problems.push(&o.location, kind, detail);
            }
            continue;
        }
        for (kind, detail) in o.always.into_iter().chain(o.in_window) {
            problems.push(&o.location, kind, detail);
        }
        if !foreign {
            kept.entry(entry.seal.stream.clone())
                .or_default()
                .push(entry);
        }
    }

    let mut streams: BTreeSet<String> = all.keys().cloned().collect();
    streams.extend(opts.streams.iter().cloned());
    let intro = super::keyring::introductions(
        &opts.keyring,
        all.values().flat_map(|m| m.values()).map(|e| &e.seal),
    );
    let mut summaries = Vec::new();
    for stream in streams {
        let stream_obj = if prefix.is_empty() {
            format!("{stream}/")
        } else {
            format!("{prefix}/{stream}/")
        };
        let entries = kept.remove(&stream).unwrap_or_default();
        let empty_map = BTreeMap::new();
        let all_of = all.get(&stream).unwrap_or(&empty_map);
        // Step 8: a stream with no segment in the window.
        if entries.is_empty() {
            if all_of.is_empty() {
                let any_broken = broken
                    .0
                    .range((stream.clone(), 0)..=(stream.clone(), u64::MAX))
                    .next()
                    .is_some();
                if !any_broken {
                    problems.push(
                        &stream_obj,
                        ProblemKind::NoSegments,
                        "no segments found for this stream".into(),
                    );
                }
            } else if let Some(since) = opts.since_ns {
                let first = all_of.values().next();
                let last = all_of.values().next_back();
                // A genesis (seq 0) at or after --since began after the window: nothing
                // existed before it, so nothing is missing (FORMAT.md §7).
                let genesis_after =
                    first.is_some_and(|f| f.seal.seq == 0 && f.seal.period_start_ns >= since);
                if let (Some(first), Some(last), false) = (first, last, genesis_after) {
                    problems.push(
                        &stream_obj,
                        ProblemKind::HeadMissing,
                        format!(
                            "no segment covers --since {}; segments found cover {} .. {}",
                            fmt_ns(since),
                            fmt_ns(first.seal.period_start_ns),
                            fmt_ns(last.seal.period_end_ns)
                        ),
                    );
                }
            }
            continue;
        }
        // Step 9: the key schedule.
        // Over every trusted copy in the window (forks included), before the chain
        // checks take them.
        let rotations = check_keys(opts, &intro, all_of, &entries, &mut problems);
        if let Some(mut summary) =
            check_chain(&stream, entries, all_of, &broken, opts, &mut problems)
        {
            summary.rotations = rotations;
            summaries.push(summary);
        }
    }
    // Step 16: nothing at all in the window.
    if summaries.is_empty() && problems.0.is_empty() {
        let object = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        problems.push(
            &object,
            ProblemKind::NoSegments,
            format!(
                "no segments to verify ({} outside the window)",
                skipped + pre_skipped
            ),
        );
    }
    let mut problems = problems.0;
    problems.sort_by(|a, b| (&a.object, a.kind).cmp(&(&b.object, b.kind)));
    Report {
        problems,
        streams: summaries,
        objects: 0,
        skipped,
        bytes: 0,
        key_ids: opts.keyring.ids().to_vec(),
        since_ns: opts.since_ns,
        until_ns: opts.until_ns,
        retention: None,
        anchor: None,
        archive: String::new(),
        verified_at_ns: 0,
    }
}

/// The key schedule of one stream (`keyring::check_schedule`): over its authentic
/// segments outside the window (read for their rotations, never reported) and every
/// copy inside it.
fn check_keys(
    opts: &VerifyOptions,
    intro: &BTreeMap<usize, i64>,
    all: &BTreeMap<u64, Entry>,
    window: &[Entry],
    problems: &mut Problems,
) -> Vec<super::Rotation> {
    use super::keyring::Signed;
    let inside: BTreeSet<u64> = window.iter().map(|e| e.seal.seq).collect();
    let mut segments: Vec<(&Entry, bool)> = all
        .values()
        .filter(|e| !inside.contains(&e.seal.seq))
        .map(|e| (e, false))
        .chain(window.iter().map(|e| (e, true)))
        .collect();
    segments.sort_by(|(a, _), (b, _)| {
        (a.seal.seq, !a.key_ok, &a.location).cmp(&(b.seal.seq, !b.key_ok, &b.location))
    });
    let signed: Vec<Signed<'_>> = segments
        .iter()
        .map(|(e, in_window)| Signed {
            seal: &e.seal,
            signer: e.signer,
            location: &e.location,
            in_window: *in_window,
        })
        .collect();
    let (rotations, found) = super::keyring::check_schedule(&opts.keyring, intro, &signed);
    for (location, kind, detail) in found {
        problems.push(&location, kind, detail);
    }
    rotations
}

/// Checks that `b` follows `a` (seq `a.seq + 1`): link first, then tiling.
fn check_link(a: &Entry, b: &Entry) -> Option<(ProblemKind, String)> {
    if b.seal.prev_hash != a.hash {
        return Some((
            ProblemKind::ChainBreak,
            format!(
                "prev_hash {} does not name seq {} ({}, seal hash {})",
                hex::encode(b.seal.prev_hash),
                a.seal.seq,
                a.location,
                hex::encode(a.hash)
            ),
        ));
    }
    if b.seal.period_start_ns != a.seal.period_end_ns {
        let d = i128::from(b.seal.period_start_ns) - i128::from(a.seal.period_end_ns);
        let what = if d > 0 { "gap" } else { "overlap" };
        return Some((
            ProblemKind::PeriodMismatch,
            format!(
                "period starts at {}, seq {} ended at {} ({what} of {})",
                fmt_ns(b.seal.period_start_ns),
                a.seal.seq,
                fmt_ns(a.seal.period_end_ns),
                fmt_dur(d.abs())
            ),
        ));
    }
    None
}

fn check_chain(
    stream: &str,
    mut entries: Vec<Entry>,
    all: &BTreeMap<u64, Entry>,
    broken: &Broken,
    opts: &VerifyOptions,
    problems: &mut Problems,
) -> Option<StreamSummary> {
    // Order by seal seq; among equal seqs the correctly named object comes first.
    entries.sort_by(|a, b| {
        (a.seal.seq, !a.key_ok, &a.location).cmp(&(b.seal.seq, !b.key_ok, &b.location))
    });
    // Step 10: copies of one seq (the first of each group is its primary).
    let mut groups: Vec<Vec<Entry>> = Vec::new();
    for e in entries {
        match groups.last_mut() {
            Some(g) if g[0].seal.seq == e.seal.seq => g.push(e),
            _ => groups.push(vec![e]),
        }
    }
    for g in &groups {
        for dup in &g[1..] {
            // An identical copy at a wrong key is only out_of_order/misplaced (reported
            // by its object); a different seal is a fork wherever it is stored.
            let same = dup.hash == g[0].hash;
            if dup.key_ok || !same {
                problems.push(
                    &dup.location,
                    ProblemKind::DuplicateSeq,
                    format!(
                        "seq {} also at {} ({})",
                        dup.seal.seq,
                        g[0].location,
                        if same {
                            "identical seal"
                        } else {
                            "different seal: the chain forks"
                        }
                    ),
                );
            }
        }
    }

    // Step 11: the head.
    let first = &groups.first()?[0];
    let first_seq = first.seal.seq;
    match opts.since_ns {
        Some(since) => {
            // Seq 0 is the stream's genesis: nothing can be missing before it.
            if first.seal.period_start_ns > since
                && first_seq > 0
                && !broken.covers(stream, first_seq - 1, first_seq - 1)
            {
                problems.push(
                    &first.location,
                    ProblemKind::HeadMissing,
                    format!(
                        "coverage starts at {} (seq {first_seq}), after --since {}",
                        fmt_ns(first.seal.period_start_ns),
                        fmt_ns(since)
                    ),
                );
            }
        }
        None => {
            if first_seq > 0 && !broken.covers(stream, 0, first_seq - 1) {
                problems.push(
                    &first.location,
                    ProblemKind::HeadMissing,
                    format!(
                        "chain starts at seq {first_seq}; {} missing",
                        fmt_seqs(0, first_seq - 1)
                    ),
                );
            }
        }
    }
    // Step 12: the first segment's link.
    if first_seq == 0 {
        if first.seal.prev_hash != [0; 32] {
            problems.push(
                &first.location,
                ProblemKind::ChainBreak,
                format!(
                    "seq 0 must have an all-zero prev_hash, has {}",
                    hex::encode(first.seal.prev_hash)
                ),
            );
        }
    } else if let Some(pred) = all.get(&(first_seq - 1)) {
        // The predecessor is outside the window but was read: check the link anyway.
        if let Some((kind, detail)) = check_link(pred, first) {
            problems.push(&first.location, kind, detail);
        }
    }

    // Step 13: consecutive seqs.
    for pair in groups.windows(2) {
        let (prev, next) = (&pair[0], &pair[1]);
        let (a, b) = (prev[0].seal.seq, next[0].seal.seq);
        if b == a + 1 {
            // Link to any of the candidates at seq a (a duplicate is reported once).
            let e = &next[0];
            let linked = prev
                .iter()
                .find(|p| p.hash == e.seal.prev_hash)
                .unwrap_or(&prev[0]);
            if let Some((kind, detail)) = check_link(linked, e) {
                problems.push(&e.location, kind, detail);
            }
        } else if !broken.covers(stream, a + 1, b - 1) {
            problems.push(
                &next[0].location,
                ProblemKind::SequenceGap,
                format!(
                    "{} missing ({} segment(s)); previous present is {}",
                    fmt_seqs(a + 1, b - 1),
                    b - a - 1,
                    prev[0].location
                ),
            );
        }
    }

    // Step 14, per seq: after a stop, heartbeat promise; downtime and totals.
    let mut summary = StreamSummary {
        stream: stream.to_owned(),
        segments: 0,
        events: 0,
        empty_segments: 0,
        first_seq,
        last_seq: first_seq,
        period_start_ns: first.seal.period_start_ns,
        period_end_ns: first.seal.period_end_ns,
        downtime: Vec::new(),
        stopped_ns: None,
        rotations: Vec::new(),
        spans: Vec::new(),
    };
    for (i, g) in groups.iter().enumerate() {
        let e = &g[0];
        let s = &e.seal;
        // The segment just before, in the window or not.
        let before = match i.checked_sub(1).map(|j| &groups[j][0]) {
            Some(p) if p.seal.seq + 1 == s.seq => Some(p),
            _ => s.seq.checked_sub(1).and_then(|q| all.get(&q)),
        };
        let after_stop = before.is_some_and(|p| p.seal.kind == SealKind::Stop);
        if after_stop && s.kind != SealKind::Resume {
            problems.push(
                &e.location,
                ProblemKind::AfterStop,
                format!(
                    "a {} segment follows the stop segment seq {}: after a planned stop the next segment is a resume",
                    s.kind.as_str(),
                    s.seq - 1
                ),
            );
        }
        summary.spans.push(super::SegmentSpan {
            seq: s.seq,
            kind: s.kind,
            period_start_ns: s.period_start_ns,
            period_end_ns: s.period_end_ns,
            events: s.event_count,
            location: e.location.clone(),
        });
        summary.segments += 1;
        summary.events = summary.events.saturating_add(s.event_count);
        summary.empty_segments += u64::from(s.event_count == 0);
        summary.last_seq = s.seq;
        summary.period_end_ns = s.period_end_ns;
        let span = i128::from(s.period_end_ns) - i128::from(s.period_start_ns);
        match s.kind {
            SealKind::Resume => summary.downtime.push(super::Downtime {
                start_ns: s.period_start_ns,
                end_ns: s.period_end_ns,
                planned: after_stop,
            }),
            SealKind::Normal | SealKind::Stop | SealKind::Rotate => {
                let promise = i128::from(s.heartbeat_ms) * 1_000_000;
                let allowed = promise + promise / 10 + HEARTBEAT_SLACK_NS;
                if span > allowed {
                    problems.push(
                        &e.location,
                        ProblemKind::HeartbeatGap,
                        format!(
                            "{} segment spans {} ({} .. {}), heartbeat promise is {} ms",
                            s.kind.as_str(),
                            fmt_dur(span),
                            fmt_ns(s.period_start_ns),
                            fmt_ns(s.period_end_ns),
                            s.heartbeat_ms
                        ),
                    );
                }
            }
        }
    }

    let last = &groups.last()?[0];
    if last.seal.kind == SealKind::Stop {
        summary.stopped_ns = Some(last.seal.period_end_ns);
    }
    // Step 15: the tail. A chain that ends with a stop segment ended on purpose: not a
    // truncation (the report says so, and that only `--anchor` can rule out later
    // segments).
    if let Some(until) = opts.until_ns {
        if last.seal.period_end_ns < until
            && last.seal.kind != SealKind::Stop
            && !broken.covers(
                stream,
                last.seal.seq.saturating_add(1),
                last.seal.seq.saturating_add(1),
            )
        {
            problems.push(
                &last.location,
                ProblemKind::TailTruncated,
                format!(
                    "coverage ends at {} (seq {}), before --until {} ({} missing)",
                    fmt_ns(last.seal.period_end_ns),
                    last.seal.seq,
                    fmt_ns(until),
                    fmt_dur(i128::from(until) - i128::from(last.seal.period_end_ns))
                ),
            );
        }
    }
    Some(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_slots_cover_ranges() {
        let mut b = Broken(BTreeSet::new());
        b.0.insert(("a".into(), 3));
        b.0.insert(("a".into(), 4));
        b.0.insert(("b".into(), 5));
        assert!(b.covers("a", 3, 4));
        assert!(b.covers("a", 4, 4));
        assert!(!b.covers("a", 3, 5));
        assert!(!b.covers("b", 4, 5));
        assert!(b.covers("a", 5, 4), "an empty range is covered");
        assert!(!b.covers("a", 0, u64::MAX));
    }
}
