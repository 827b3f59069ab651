//! The detector as a journal consumer: it reads every record from its own cursor
//! (`detector`), feeds the authentication events to the [`Detector`], and appends each
//! alert to the journal as an alert record ([`crate::record::AlertRecord`]). The sealer
//! seals alerts into the chain and the forwarders send them on, each from its own
//! cursor, exactly like events; the alert's evidence ids name the events that raised it.
//!
//! Exactly once in the journal, across crashes: the detector's durable state is its
//! snapshot ([`super::persist`]): a journal position, the detector's state there, and
//! the alerts raised before it that were not yet known to be durable. After a restart it
//! lists the alert records already journalled from that position on, appends the
//! snapshot's pending alerts that are not among them, and reads on from the position;
//! an alert raised again for an event it reads a second time is recognised by its
//! identity (the event's position and the alert's index) and not journalled twice.
//!
//! Its cursor holds the journal from its last snapshot, taken every
//! [`SNAPSHOT_EVERY`] or 256 MiB of journal, and early while the journal is under
//! pressure. It never waits for
//! the journal writer (alerts go in with [`Journal::try_append`] and wait in memory and
//! in the snapshot while the queue is full), so the detector can never be what keeps a
//! full journal from being reclaimed.

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::feed::{self, FeedReceiver, Next, Seen};
use super::persist::{self, PendingAlert};
use super::{DetectConfig, Detector};
use crate::forward::webhook::Webhook;
use crate::journal::consumer::{ConsumerError, JournalConsumer, Stage};
use crate::journal::{Batch, Checkpoint, Journal, JournalError, Pressure, Reader};
use crate::normalise::{Decoded, Input, Normaliser};
use crate::record::{now_ns, AlertRecord, JournalRecord};

/// The detector's journal cursor.
pub const CURSOR_NAME: &str = "detector";
/// How often the state is saved when the journal is at ease (and always at stop).
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(30);
/// Also after reading this much: bounds what a restart reads twice (and lists for
/// alerts already journalled) when events come fast.
const SNAPSHOT_EVERY_BYTES: u64 = 256 << 20;
/// Under [`Pressure::Blocked`], snapshots at most this often (each one writes the
/// whole state).
const PRESSURE_SNAPSHOT_INTERVAL: Duration = Duration::from_millis(100);
/// At stop, how long the last alerts may take to become durable before the snapshot.
const FINAL_WAIT: Duration = Duration::from_secs(2);
/// Records read between looks at the clock, the pressure and the outbox.
const BATCH_RECORDS: usize = 4096;
/// How long one wait for the sealer's next batch lasts.
const FEED_WAIT: Duration = Duration::from_millis(200);

/// Alerts logged one by one per interval; the rest are counted (all are journalled).
const ALERT_LOG_BURST: u32 = 20;
const ALERT_LOG_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DetectRunError {
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    #[error("detector state: {0}")]
    Persist(#[from] persist::PersistError),
}

/// Live figures, for `status` and `/metrics`.
#[derive(Debug, Default)]
pub struct DetectorStats {
    /// Alerts raised since start (each journalled once).
    pub alerts: AtomicU64,
    /// Journal position read up to.
    pub position: AtomicU64,
    /// Alerts raised but not yet durable in the journal.
    pub pending: AtomicU64,
    /// Records taken from the sealer's decoding (see [`feed`]) instead of decoded again.
    pub fed: AtomicU64,
    /// Records the detector read from the journal and decoded itself: where the feed
    /// did not cover its position (after a restart, a batch dropped while it lagged, a
    /// sealer held by a full spool). Beside `fed`, it says how often that happens.
    pub decoded: AtomicU64,
    alerts_by_rule: Mutex<std::collections::BTreeMap<String, u64>>,
}

impl DetectorStats {
    pub fn note_alert(&self, rule: &str) {
        self.alerts.fetch_add(1, Ordering::Relaxed);
        let mut by_rule = self
            .alerts_by_rule
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match by_rule.get_mut(rule) {
            Some(n) => *n += 1,
            None => {
                by_rule.insert(rule.to_owned(), 1);
            }
        }
    }

    /// Alerts since start, by rule id.
    pub fn alerts_by_rule(&self) -> std::collections::BTreeMap<String, u64> {
        self.alerts_by_rule
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

/// The detector consumer, ready to run.
pub struct DetectorConsumer {
    pub journal: Journal,
    pub normaliser: Normaliser,
    pub stream: String,
    pub cfg: DetectConfig,
    pub snapshot_path: PathBuf,
    /// Alerts are also posted here, as they are raised.
    pub webhook: Option<Webhook>,
    pub stats: Arc<DetectorStats>,
    /// Under [`Pressure::Soft`], snapshot once this many journal bytes were read since.
    pub early_snapshot_bytes: u64,
    /// The sealer's decoding of the records (see [`feed`]); without it, the detector
    /// decodes every record itself.
    pub feed: Option<FeedReceiver>,
}

/// Alerts on their way into the journal.
#[derive(Default)]
struct Outbox {
    /// Not handed to the journal yet (its queue was full).
    waiting: Vec<PendingAlert>,
    /// Handed over, durable once the journal is durable up to the position.
    queued: VecDeque<(u64, Vec<PendingAlert>)>,
}

impl Outbox {
    fn len(&self) -> usize {
        self.waiting.len() + self.queued.iter().map(|(_, v)| v.len()).sum::<usize>()
    }
}

/// The running state.
struct Run {
    detector: Detector,
    /// Alerts already journalled from the snapshot's position on, by identity.
    journalled: HashSet<(u64, u16)>,
    /// Alerts of events before this position were sealed by an older version.
    sealed_before: u64,
    outbox: Outbox,
    snapshot_position: u64,
    last_snapshot: Instant,
    log: crate::throttle::BurstLog,
    snapshot_log: crate::throttle::Throttle,
    event_id: String,
    alert_id: String,
    line: Vec<u8>,
    time: crate::event::time::TimestampFormatter,
}

impl JournalConsumer for DetectorConsumer {
    fn name(&self) -> String {
        CURSOR_NAME.into()
    }
    fn stage(&self) -> Stage {
        Stage::Appends
    }
    fn essential(&self) -> bool {
        true
    }
    fn run(mut self: Box<Self>, stop: &Arc<AtomicBool>) -> Result<(), ConsumerError> {
        self.run_until(stop).map_err(Into::into)
    }
}

impl DetectorConsumer {
    fn run_until(&mut self, stop: &AtomicBool) -> Result<(), DetectRunError> {
        let (mut run, mut position) = self.open()?;
        let mut reader: Option<Reader> = None;
        let mut feed = self.feed.take();
        let mut stopping = false;
        loop {
            stopping |= stop.load(Ordering::Acquire);
            let mut records = 0;
            // Where the sealer's decoding covers the position, it is used; the journal is
            // read up to `read_to`. At stop too: the sealer stops only after the
            // detector (see `Stage`), so its batches keep coming.
            let mut read_to = u64::MAX;
            let mut waited = false;
            if let Some(f) = feed.as_mut() {
                match f.next(position, FEED_WAIT) {
                    Next::Batch(batch) => {
                        records = self.observe_batch(&mut run, position, &batch);
                        self.stats.fed.fetch_add(records as u64, Ordering::Relaxed);
                        position = batch.range().end;
                        read_to = position;
                        f.done(batch);
                    }
                    Next::ReadTo(start) => read_to = start,
                    Next::Wait => {
                        read_to = position;
                        waited = true;
                    }
                    Next::Read => {}
                }
            }
            if read_to > position {
                let r = match &mut reader {
                    Some(r) if r.position() == position => r,
                    _ => reader.insert(self.journal.reader(position)?),
                };
                let from_feed = records;
                while records < BATCH_RECORDS && r.position() < read_to {
                    let Some((pos, payload)) = r.next()? else {
                        break;
                    };
                    records += 1;
                    self.observe(&mut run, pos, payload);
                }
                let decoded = (records - from_feed) as u64;
                self.stats.decoded.fetch_add(decoded, Ordering::Relaxed);
                r.take_skipped(); // the sealer records them in the chain
                position = r.position();
            }
            self.stats.position.store(position, Ordering::Relaxed);
            self.flush(&mut run.outbox, false)?;
            if stopping && records == 0 && position >= self.journal.durable_position() {
                // Everything the sources handed over is read: what is raised goes in
                // now, waiting for room if it must (the sealer still frees it).
                self.flush(&mut run.outbox, true)?;
                match self.snapshot(&mut run, position) {
                    Ok(()) => {
                        let fed = self.stats.fed.load(Ordering::Relaxed);
                        let decoded = self.stats.decoded.load(Ordering::Relaxed);
                        tracing::info!(
                            position,
                            fed,
                            decoded,
                            "detector stopped; it resumes from its snapshot"
                        )
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "saving the detector state at stop failed; it reads again from its last snapshot (its alerts are not raised twice)")
                    }
                }
                return Ok(());
            }
            if self.snapshot_due(&run, position) {
                if let Err(e) = self.snapshot(&mut run, position) {
                    // A full disk, typically: the cursor stays, so nothing is lost, and
                    // the next attempt comes after the usual interval.
                    run.last_snapshot = Instant::now();
                    if let Some(n) = run.snapshot_log.hit(Instant::now()) {
                        tracing::warn!(error = %e, failures = n, "saving the detector state failed; retrying");
                    }
                }
            }
            if records == 0 && !waited {
                self.journal
                    .wait_durable_beyond(position, Duration::from_millis(200));
            }
        }
    }

    /// Loads the snapshot (or starts afresh), lists what is journalled already, and
    /// puts the snapshot's pending alerts that are not.
    fn open(&mut self) -> Result<(Run, u64), DetectRunError> {
        let sealer = crate::seal::sealed_position(&self.journal).unwrap_or(0);
        let end = self.journal.durable_position();
        let loaded = match persist::load(&self.snapshot_path, &self.cfg) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "detector state not restored; starting with an empty one");
                None
            }
        };
        let (detector, position, pending, sealed_before) = match loaded {
            Some(l) if l.position <= end && (!l.sealed_inline || l.position <= sealer) => {
                let before = if l.sealed_inline { sealer } else { 0 };
                (l.detector, l.position, l.pending, before)
            }
            Some(l) => {
                tracing::warn!(
                    snapshot = l.position,
                    journal_end = end,
                    "detector state is ahead of the journal; starting with an empty one"
                );
                (
                    Detector::new(self.cfg.clone()),
                    sealer.min(end),
                    Vec::new(),
                    0,
                )
            }
            None => (
                Detector::new(self.cfg.clone()),
                sealer.min(end),
                Vec::new(),
                0,
            ),
        };
        self.commit_cursor(position);
        let journalled = self.journalled_from(position)?;
        let mut run = Run {
            detector,
            sealed_before,
            outbox: Outbox::default(),
            snapshot_position: position,
            last_snapshot: Instant::now(),
            log: crate::throttle::BurstLog::new(ALERT_LOG_INTERVAL, ALERT_LOG_BURST),
            snapshot_log: crate::throttle::Throttle::new(ALERT_LOG_INTERVAL),
            event_id: String::new(),
            alert_id: String::new(),
            line: Vec::new(),
            time: Default::default(),
            journalled: HashSet::new(),
        };
        let (already, missing): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|p| journalled.contains(&p.key()));
        if !missing.is_empty() || !already.is_empty() {
            tracing::info!(
                journalled = missing.len(),
                already_journalled = already.len(),
                "alerts raised before the restart are in the journal"
            );
        }
        run.outbox.waiting = missing;
        run.journalled = journalled;
        self.flush(&mut run.outbox, false)?;
        tracing::info!(
            position,
            alerts_already_journalled = run.journalled.len(),
            "detector reading the journal"
        );
        Ok((run, position))
    }

    /// The identities of the alert records from `from` to the journal's end.
    fn journalled_from(&self, from: u64) -> Result<HashSet<(u64, u16)>, DetectRunError> {
        let mut seen = HashSet::new();
        let mut reader = self.journal.reader(from)?;
        while let Some((_, payload)) = reader.next()? {
            if !crate::record::is_alert(payload) {
                continue;
            }
            if let Ok(JournalRecord::Alert(a)) = JournalRecord::decode(payload) {
                seen.insert(a.key());
            }
        }
        Ok(seen)
    }

    /// Feeds one journal record, decoding it.
    fn observe(&mut self, run: &mut Run, pos: u64, payload: &[u8]) {
        let Ok(JournalRecord::Ingest(rec)) = JournalRecord::decode(payload) else {
            return; // alerts, and records only the sealer can keep (raw)
        };
        let input = Input::of(&rec);
        let decoded = self.normaliser.decode(&rec, &input);
        let t = decoded.detector_time_ns();
        let Decoded { event, auth } = decoded;
        // An authentication event goes to the login rules, an application's audit
        // event to the access rules; anything else to none.
        let seen = match (auth, event.audit) {
            (Some(auth), _) => Seen::Auth(auth),
            (None, Some(audit)) => Seen::Access(audit),
            (None, None) => Seen::Text(event.message),
        };
        self.observe_seen(run, pos, t, event.hostname, seen);
    }

    /// Feeds the records of a batch of the sealer's decoding from `from` on; returns
    /// the records it covers.
    fn observe_batch(&mut self, run: &mut Run, from: u64, batch: &feed::Batch) -> usize {
        for (pos, t, host, seen) in batch.seen_from(from) {
            self.observe_seen(run, pos, t, host, seen);
        }
        batch.records()
    }

    fn observe_seen(
        &mut self,
        run: &mut Run,
        pos: u64,
        t: i64,
        host: Option<&str>,
        seen: Seen<'_, '_>,
    ) {
        // auditd's file-watch records, only among the lines no other rule took.
        let watch = match &seen {
            Seen::Text(message) if run.detector.watches_files() => {
                match crate::auth::watch::recognise(message) {
                    Some(w) => Some(w),
                    None => return,
                }
            }
            Seen::Text(_) => return,
            _ => None,
        };
        let id = &mut run.event_id;
        id.clear();
        id.push_str(&self.stream);
        id.push(':');
        id.push_str(itoa::Buffer::new().format(pos));
        let alerts = match (&seen, watch) {
            (Seen::Auth(auth), _) => run.detector.observe(t, id, auth),
            (Seen::Access(audit), _) => run.detector.observe_access(t, id, audit),
            (Seen::Text(_), Some(w)) => run
                .detector
                .observe_watch(t, id, host.unwrap_or(""), &w)
                .into_iter()
                .collect(),
            (Seen::Text(_), None) => return,
        };
        for (i, alert) in alerts.iter().enumerate() {
            let index = u16::try_from(i).unwrap_or(u16::MAX);
            if pos < run.sealed_before || run.journalled.remove(&(pos, index)) {
                continue; // raised before the restart, and in the journal already
            }
            let alert_id = &mut run.alert_id;
            alert_id.clear();
            alert_id.push_str(id);
            alert_id.push_str(":alert:");
            alert_id.push_str(itoa::Buffer::new().format(i));
            run.line.clear();
            alert.render_json_with(&mut run.time, &self.stream, alert_id, &mut run.line);
            self.stats.note_alert(&alert.rule_id);
            let v = run.log.hit(Instant::now());
            if v.suppressed_before > 0 {
                tracing::info!(
                    alerts = v.suppressed_before,
                    "more alerts were raised in the last 10 s than were logged; every alert is sealed into the archive"
                );
            }
            if v.log {
                tracing::info!(rule = %alert.rule_id, key = %alert.key, id = %alert_id, "{}", alert.message);
            }
            if let Some(w) = &self.webhook {
                w.send(run.line.clone());
            }
            run.outbox.waiting.push(PendingAlert {
                trigger: pos,
                index,
                raised_ns: now_ns(),
                line: run.line.clone(),
            });
        }
    }

    /// Hands waiting alerts to the journal (waiting for room only if `block`), and
    /// forgets those that are durable.
    fn flush(&self, outbox: &mut Outbox, block: bool) -> Result<(), DetectRunError> {
        if !outbox.waiting.is_empty() {
            let mut batch =
                Batch::with_capacity(outbox.waiting.iter().map(|p| p.line.len() + 32).sum());
            for p in &outbox.waiting {
                batch.push_with(|out| {
                    AlertRecord {
                        raised_ns: p.raised_ns,
                        trigger: p.trigger,
                        index: p.index,
                        line: &p.line,
                    }
                    .encode_into(out)
                });
            }
            let end = if block {
                Some(self.journal.blocking_append(batch)?)
            } else {
                self.journal.try_append(batch)?.ok()
            };
            if let Some(end) = end {
                outbox
                    .queued
                    .push_back((end, std::mem::take(&mut outbox.waiting)));
            }
        }
        if block {
            // Briefly, for a short pending list: what is still queued is written when
            // the journal closes, and the snapshot keeps it meanwhile.
            if let Some(&(end, _)) = outbox.queued.back() {
                let deadline = Instant::now() + FINAL_WAIT;
                while self.journal.durable_position() < end && Instant::now() < deadline {
                    let d = self.journal.durable_position();
                    self.journal
                        .wait_durable_beyond(d, Duration::from_millis(100));
                }
            }
        }
        let durable = self.journal.durable_position();
        while outbox
            .queued
            .front()
            .is_some_and(|(end, _)| *end <= durable)
        {
            outbox.queued.pop_front();
        }
        self.stats
            .pending
            .store(outbox.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Whether to save the state now: on schedule, or early while the journal needs
    /// the space the detector's cursor holds.
    fn snapshot_due(&self, run: &Run, position: u64) -> bool {
        if position <= run.snapshot_position {
            return false;
        }
        let since = run.last_snapshot.elapsed();
        if position - run.snapshot_position >= SNAPSHOT_EVERY_BYTES {
            return true;
        }
        match self.journal.pressure() {
            Pressure::Blocked => since >= PRESSURE_SNAPSHOT_INTERVAL,
            Pressure::Soft => {
                position - run.snapshot_position >= self.early_snapshot_bytes
                    || since >= SNAPSHOT_EVERY
            }
            Pressure::None => since >= SNAPSHOT_EVERY,
        }
    }

    /// Saves the state at `position` with the alerts not yet durable, then moves the
    /// cursor there (never ahead of the snapshot) and lets the journal reclaim.
    fn snapshot(&self, run: &mut Run, position: u64) -> Result<(), DetectRunError> {
        run.detector.expire(run.detector.latest_ns());
        let pending: Vec<&PendingAlert> = run
            .outbox
            .queued
            .iter()
            .flat_map(|(_, v)| v)
            .chain(&run.outbox.waiting)
            .collect();
        persist::save(&self.snapshot_path, &run.detector, position, &pending)?;
        run.snapshot_position = position;
        run.last_snapshot = Instant::now();
        self.commit_cursor(position);
        if self.journal.pressure() != Pressure::None {
            if let Err(e) = self.journal.reclaim() {
                tracing::warn!(error = %e, "journal reclaim failed");
            }
        }
        Ok(())
    }

    fn commit_cursor(&self, position: u64) {
        let cp = Checkpoint {
            position,
            state: (),
        };
        if let Err(e) = self.journal.cursor(CURSOR_NAME).commit(&cp) {
            tracing::warn!(error = %e, "committing the detector's cursor failed");
        }
    }
}

/// A disabled detector must not hold the journal: its cursor and state are removed.
pub fn retire(journal: &Journal, snapshot_path: &std::path::Path) -> Result<(), JournalError> {
    journal.remove_cursor(CURSOR_NAME)?;
    match std::fs::remove_file(snapshot_path) {
        Ok(()) => tracing::info!("detector disabled: its saved state was removed"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(file = %snapshot_path.display(), error = %e, "removing the disabled detector's state failed")
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
