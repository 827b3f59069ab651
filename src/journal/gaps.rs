//! The registry of journal ranges known to be lost, shared by recovery and every reader.
//!
//! Each gap is logged and counted once, however many readers run into it and whether
//! recovery or a reader found it first. Readers consult the registry only when a record
//! fails its checks, so reading valid records never takes this lock.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::lock;

/// Why a range of positions holds no readable record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cause {
    /// Bytes on disk that fail their checks (a damaged record).
    Damaged,
    /// No journal file holds these positions although later ones exist.
    Seam,
    /// The journal ends before the durable end it is known to have reached.
    Truncated,
}

impl Cause {
    fn message(self) -> &'static str {
        match self {
            Cause::Damaged => "journal records lost: damaged data skipped up to the next valid record",
            Cause::Seam => "journal records lost: no journal file holds these positions (files not contiguous)",
            Cause::Truncated => "journal records lost: the journal ends before the durable end it had reached (file truncated or deleted); new records start after the gap so no position is reused",
        }
    }
}

/// Disjoint, non-adjacent ranges `start → end` plus the totals for health and metrics.
#[derive(Debug, Default)]
pub(super) struct Gaps {
    map: Mutex<BTreeMap<u64, u64>>,
    count: AtomicU64,
    lost: AtomicU64,
}

impl Gaps {
    /// End of the registered gap holding `pos`, if any.
    pub fn covering(&self, pos: u64) -> Option<u64> {
        let map = lock(&self.map);
        map.range(..=pos)
            .next_back()
            .and_then(|(_, &end)| (end > pos).then_some(end))
    }

    /// Registers `[from, to)` without logging or counting it: a range nobody needs any
    /// more (every consumer committed past it) that must still be skipped, never reused.
    pub fn known(&self, from: u64, to: u64) {
        if to > from {
            self.merge(from, to);
        }
    }

    /// Merges `[from, to)` into the map; returns how many of its bytes were known before.
    fn merge(&self, from: u64, to: u64) -> u64 {
        let mut map = lock(&self.map);
        let (mut start, mut end) = (from, to);
        let mut known = 0;
        // Overlapping or adjacent gaps merge into one entry.
        let touching: Vec<(u64, u64)> = map
            .range(..=to)
            .rev()
            .take_while(|(_, &e)| e >= from)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in touching {
            known += e.min(to).saturating_sub(s.max(from));
            start = start.min(s);
            end = end.max(e);
            map.remove(&s);
        }
        map.insert(start, end);
        known
    }

    /// Registers `[from, to)`, found in `file` (which starts at position `file_start`).
    /// Logs and counts only the part not registered before; returns those bytes.
    pub fn record(&self, file: &Path, file_start: u64, from: u64, to: u64, cause: Cause) -> u64 {
        if to <= from {
            return 0;
        }
        let new = (to - from) - self.merge(from, to);
        if new > 0 {
            self.count.fetch_add(1, Ordering::Relaxed);
            self.lost.fetch_add(new, Ordering::Relaxed);
            tracing::error!(
                file = %file.display(),
                from,
                to,
                offset_in_file = from.saturating_sub(file_start),
                lost_bytes = new,
                "{}",
                cause.message()
            );
        }
        new
    }

    /// Every registered gap, in position order.
    pub fn list(&self) -> Vec<Range<u64>> {
        lock(&self.map).iter().map(|(&s, &e)| s..e).collect()
    }

    /// `(gaps, bytes lost)` since open.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.count.load(Ordering::Relaxed),
            self.lost.load(Ordering::Relaxed),
        )
    }
}
