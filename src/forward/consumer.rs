//! A journal consumer with a durable cursor of its own: reads records from where it last
//! delivered, decodes them into events with the same normaliser the sealer uses, hands
//! them to a [`Sink`] in batches, and moves its cursor only over what the sink has
//! delivered. After a sink failure it starts again from the cursor.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::detect::AlertView;
use crate::event::SealedEvent;
use crate::journal::{Checkpoint, Journal};
use crate::normalise::{Input, Normaliser};
use crate::record::JournalRecord;
use crate::throttle::Backoff;

use super::{ForwardStats, StartAt};

/// A batch is sent once it holds this many bytes or events, or the journal has no more.
const BATCH_BYTES: usize = 256 * 1024;
const BATCH_EVENTS: usize = 2_000;
/// Written events count as delivered once the sink stayed healthy this long after.
pub const COMMIT_DELAY: Duration = Duration::from_secs(1);
/// At shutdown, how long the consumer may go on delivering what the journal holds.
const FINAL_DRAIN: Duration = Duration::from_secs(5);

/// Where events go.
pub trait Sink {
    /// Adds one event to the batch being built.
    fn push(&mut self, ev: &SealedEvent<'_>, id: &str);
    /// Adds one detector alert: read back from its sealed `line` (the ECS JSON).
    fn push_alert(&mut self, alert: &AlertView, line: &[u8]);
    /// Sends the batch; returns its bytes. A failure drops the connection: the
    /// consumer calls `push` again from its cursor.
    fn flush(&mut self) -> Result<u64, String>;
    /// How many of the oldest `due` batches sent (each sent at least
    /// [`COMMIT_DELAY`] ago) count as delivered, in order: all of them while the
    /// connection is up and the receiver has not closed it; for a receiver that
    /// acknowledges (Splunk HEC indexer acknowledgement), those acknowledged. An error
    /// sends everything not delivered again.
    fn confirm(&mut self, due: usize) -> Result<usize, String>;
    /// Forgets what was sent: the consumer sends it again from its cursor.
    fn restart(&mut self) {}
}

pub struct Consumer {
    pub name: String,
    pub cursor_name: String,
    pub journal: Journal,
    pub normaliser: Normaliser,
    pub stream: String,
    pub start_at: StartAt,
    pub policy: super::LagPolicy,
    pub filter: super::filter::Filter,
    pub stats: Arc<ForwardStats>,
}

/// Events written but not yet counted as delivered: up to `position`, `events` of them.
struct InFlight {
    position: u64,
    events: u64,
    at: Instant,
}

impl Consumer {
    /// Runs until `stop`, then delivers what is durable for at most [`FINAL_DRAIN`].
    pub fn run(mut self, sink: &mut dyn Sink, stop: &AtomicBool) {
        let cursor = self.journal.cursor(&self.cursor_name);
        let mut delivered = match cursor.load::<()>() {
            Ok(Some(cp)) => cp.position,
            Ok(None) => match self.start_at {
                StartAt::Beginning => 0,
                StartAt::End => self.journal.durable_position(),
            },
            Err(e) => {
                tracing::error!(forwarder = %self.name, error = %e, "the forwarder's cursor is unreadable; starting from the journal's end");
                self.journal.durable_position()
            }
        };
        let commit = |pos: u64| {
            if let Err(e) = cursor.commit(&Checkpoint {
                position: pos,
                state: (),
            }) {
                tracing::warn!(error = %e, "committing the forwarder's cursor failed");
            }
        };
        commit(delivered);
        self.stats
            .delivered_position
            .store(delivered, Ordering::Relaxed);
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let mut committed = delivered;
        let mut drain_until: Option<Instant> = None;
        let mut id = String::new();
        'restart: loop {
            let mut reader = match self.journal.reader(delivered) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(forwarder = %self.name, error = %e, "cannot read the journal; retrying");
                    if drain_until.is_some_and(|d| Instant::now() >= d) {
                        break 'restart;
                    }
                    self.pause(backoff.step(), stop, drain_until);
                    continue;
                }
            };
            in_flight.clear();
            sink.restart();
            loop {
                if stop.load(Ordering::Acquire) && drain_until.is_none() {
                    drain_until = Some(Instant::now() + FINAL_DRAIN);
                }
                if let Some(to) = self.drop_to(delivered) {
                    delivered = to;
                    commit(delivered);
                    committed = delivered;
                    self.stats
                        .delivered_position
                        .store(delivered, Ordering::Relaxed);
                    if let Err(e) = self.journal.reclaim() {
                        tracing::warn!(error = %e, "journal reclaim failed");
                    }
                    continue 'restart;
                }
                let mut records = 0u64;
                let mut events = 0u64;
                let mut bytes = 0usize;
                loop {
                    match reader.next() {
                        Ok(Some((pos, payload))) => {
                            bytes += payload.len();
                            records += 1;
                            events += u64::from(self.push(sink, pos, payload, &mut id));
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::error!(forwarder = %self.name, error = %e, "reading the journal failed");
                            break;
                        }
                    }
                    if bytes >= BATCH_BYTES || records >= BATCH_EVENTS as u64 {
                        break;
                    }
                }
                if records > 0 && events == 0 {
                    // Only filtered-out records: nothing to deliver, the cursor moves on
                    // (behind anything still in flight).
                    match in_flight.back_mut() {
                        Some(last) => last.position = reader.position(),
                        None => delivered = reader.position(),
                    }
                }
                if events > 0 {
                    match sink.flush() {
                        Ok(n) => {
                            self.stats.sent_events.fetch_add(events, Ordering::Relaxed);
                            self.stats.sent_bytes.fetch_add(n, Ordering::Relaxed);
                            self.stats.connected.store(true, Ordering::Relaxed);
                            in_flight.push_back(InFlight {
                                position: reader.position(),
                                events,
                                at: Instant::now(),
                            });
                        }
                        Err(e) => {
                            self.failed(&e, &in_flight, events);
                            if drain_until.is_some_and(|d| Instant::now() >= d) {
                                break 'restart;
                            }
                            self.pause(backoff.step(), stop, drain_until);
                            continue 'restart;
                        }
                    }
                }
                // What has been out long enough on a healthy connection (or was
                // acknowledged) is delivered.
                let due = in_flight
                    .iter()
                    .take_while(|f| f.at.elapsed() >= COMMIT_DELAY)
                    .count();
                if due > 0 {
                    match sink.confirm(due) {
                        Err(e) => {
                            self.failed(&e, &in_flight, 0);
                            if drain_until.is_some_and(|d| Instant::now() >= d) {
                                break 'restart;
                            }
                            self.pause(backoff.step(), stop, drain_until);
                            continue 'restart;
                        }
                        Ok(confirmed) => {
                            for f in in_flight.drain(..confirmed.min(due)) {
                                delivered = f.position;
                            }
                            if confirmed > 0 {
                                backoff.reset();
                                self.stats.set_error(None);
                            }
                        }
                    }
                }
                if delivered != committed {
                    commit(delivered);
                    committed = delivered;
                    self.stats
                        .delivered_position
                        .store(delivered, Ordering::Relaxed);
                }
                if let Some(deadline) = drain_until {
                    let caught_up =
                        events == 0 && reader.position() >= self.journal.durable_position();
                    if (caught_up && in_flight.is_empty()) || Instant::now() >= deadline {
                        break 'restart;
                    }
                    if caught_up {
                        // Wait out the commit delay of the last batch.
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                }
                if records == 0 {
                    self.journal
                        .wait_durable_beyond(reader.position(), Duration::from_millis(200));
                }
            }
        }
        if delivered != committed {
            commit(delivered);
            self.stats
                .delivered_position
                .store(delivered, Ordering::Relaxed);
        }
        tracing::info!(forwarder = %self.name, position = delivered, "forwarder stopped; it resumes from its cursor");
    }

    /// Under `drop_oldest`, with the journal full: the sealer's position, when this
    /// forwarder is behind it (what lies between is skipped, and counted).
    fn drop_to(&self, delivered: u64) -> Option<u64> {
        if self.policy != super::LagPolicy::DropOldest
            || self.journal.pressure() != crate::journal::Pressure::Blocked
        {
            return None;
        }
        let sealed = crate::seal::sealed_position(&self.journal)?;
        if sealed <= delivered {
            return None;
        }
        let mut skipped = 0u64;
        if let Ok(mut r) = self.journal.reader(delivered) {
            while r.position() < sealed {
                match r.next() {
                    Ok(Some(_)) => skipped += 1,
                    _ => break,
                }
            }
        }
        self.stats.dropped.fetch_add(skipped, Ordering::Relaxed);
        tracing::warn!(forwarder = %self.name, events = skipped, "the journal is full and this forwarder is behind: skipping to what is sealed (policy = \"drop_oldest\"); the skipped events are in the archive, not at the receiver");
        Some(sealed)
    }

    /// Decodes one record and hands it to the sink unless the filter leaves it out;
    /// whether it was handed over.
    fn push(&mut self, sink: &mut dyn Sink, pos: u64, payload: &[u8], id: &mut String) -> bool {
        let rec = match JournalRecord::decode(payload) {
            Ok(JournalRecord::Ingest(r)) => r,
            Ok(JournalRecord::Alert(a)) => return self.push_alert(sink, pos, a.line),
            Err(e) => {
                self.stats.undecodable.fetch_add(1, Ordering::Relaxed);
                tracing::error!(forwarder = %self.name, position = pos, error = %e, "undecodable journal record not forwarded (it is sealed raw)");
                return false;
            }
        };
        let input = Input::of(&rec);
        let d = self.normaliser.decode(&rec, &input);
        let ev = self.normaliser.sealed(pos, &d.event, d.auth.as_ref());
        if !self.filter.matches(&ev) {
            self.stats.filtered.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        id.clear();
        id.push_str(&self.stream);
        id.push(':');
        id.push_str(itoa::Buffer::new().format(pos));
        sink.push(&ev, id);
        true
    }

    /// Hands an alert record to the sink unless the filter leaves it out.
    fn push_alert(&mut self, sink: &mut dyn Sink, pos: u64, line: &[u8]) -> bool {
        let alert = match AlertView::parse(line) {
            Ok(a) => a,
            Err(e) => {
                self.stats.undecodable.fetch_add(1, Ordering::Relaxed);
                tracing::error!(forwarder = %self.name, position = pos, error = %e, "unreadable alert record not forwarded (it is sealed as it is)");
                return false;
            }
        };
        if !self.filter.matches_alert(&alert) {
            self.stats.filtered.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        sink.push_alert(&alert, line);
        true
    }

    fn failed(&self, e: &str, in_flight: &VecDeque<InFlight>, unsent: u64) {
        // What was written but not yet delivered goes out again: the resent events.
        let written: u64 = in_flight.iter().map(|f| f.events).sum();
        let resent = written + unsent;
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        self.stats
            .resent_events
            .fetch_add(written, Ordering::Relaxed);
        self.stats.connected.store(false, Ordering::Relaxed);
        self.stats.set_error(Some(e.to_string()));
        tracing::warn!(forwarder = %self.name, error = %e, events_to_send_again = resent, "forwarding failed; sending again from the last delivered position");
    }
}

impl Consumer {
    /// Sleeps `d`, but wakes when `stop` is newly set (the consumer then starts its
    /// final drain) or when `drop_oldest` has to let the journal go, and never sleeps
    /// past the drain's deadline.
    fn pause(&self, d: Duration, stop: &AtomicBool, drain_until: Option<Instant>) {
        let mut end = Instant::now() + d;
        if let Some(deadline) = drain_until {
            end = end.min(deadline);
        }
        let stopping_already = drain_until.is_some();
        while Instant::now() < end {
            // Sleep first: whatever wakes it, attempts stay at most 20 a second.
            std::thread::sleep(
                Duration::from_millis(50).min(end.saturating_duration_since(Instant::now())),
            );
            if !stopping_already && stop.load(Ordering::Acquire) {
                return;
            }
            if self.policy == super::LagPolicy::DropOldest
                && self.journal.pressure() == crate::journal::Pressure::Blocked
            {
                return;
            }
        }
    }
}
