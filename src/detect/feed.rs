//! The sealer's decoding, lent to the detector: each journal record is parsed and
//! recognised once, not once per thread.
//!
//! The sealer decodes every record to seal it. It hands the detector, in batches, what
//! the detector would otherwise decode again: for each record of a journal range, its
//! authentication event, its application audit event, or (when `file_watch` is on) the
//! text of a line no other rule took. A batch names the range it covers, so records
//! with nothing for the detector cost nothing.
//!
//! The feed is only a shortcut, never a dependency. The detector still owns its cursor
//! and its snapshot, and reads the journal itself wherever the feed does not cover its
//! position: after a restart (its snapshot and the sealer's cursor differ), when a batch
//! was dropped (the queue was full: the sealer never waits for the detector), when the
//! sealer is far behind ([`MAX_BEHIND`]: a backlog after a restart), and when the
//! sealer is silent for [`TAKEOVER`] (a full spool holds it; detection must not wait
//! for the archive). So the detector sees the same events either way: the decoding
//! is the same function of the record (see `normalise::decode`), the connection context
//! included, since the sealer reads every record in order too. One difference remains:
//! in a range the detector reads itself after taking batches, its own connection
//! context has not seen the batched records, so a line there that names neither user
//! nor address gets none filled in from an earlier line of its connection (as after a
//! restart).
//!
//! Memory: the queue holds at most [`QUEUE_BATCHES`] batches, and the sealer and the
//! detector one more each; a batch has at most [`BATCH_RECORDS`] records and about
//! [`BATCH_TEXT`] bytes of strings. The detector hands each batch back when it is done,
//! so their buffers are reused, not allocated for every batch.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::mpsc::{
    sync_channel, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError,
};
use std::time::{Duration, Instant};

use crate::auth::AuthEvent;
use crate::event::audit::AuditEvent;
use crate::normalise::Decoded;

/// Records per batch (at most).
pub const BATCH_RECORDS: usize = 1024;
/// A batch is sent once its strings reach this many bytes (with `file_watch`, whole
/// lines travel as text).
pub const BATCH_TEXT: usize = 256 << 10;
/// Batches queued for the detector; when it lags further, batches are dropped and it
/// reads those ranges from the journal itself.
pub const QUEUE_BATCHES: usize = 4;
/// How long the detector waits for a silent sealer before it reads the journal itself.
pub const TAKEOVER: Duration = Duration::from_secs(1);
/// The detector waits for the sealer only when the sealer's last batch ended at most
/// this far (in journal bytes) behind the detector; from further behind it would take
/// the sealer too long to catch up (8 MiB is about 30,000 syslog lines).
pub const MAX_BEHIND: u64 = 8 << 20;

/// Creates the feed: the sealer's end and the detector's. `watch_text`: the detector
/// watches files, so lines no rule takes travel as text.
pub fn channel(watch_text: bool) -> (FeedSender, FeedReceiver) {
    let (tx, rx) = sync_channel(QUEUE_BATCHES);
    // Room for every batch there can be, so handing one back never waits.
    let (back_tx, back_rx) = sync_channel(QUEUE_BATCHES + 2);
    (
        FeedSender {
            tx: Some(tx),
            back: back_rx,
            batch: Batch::fresh(),
            watch_text,
            dropped: 0,
        },
        FeedReceiver {
            rx,
            back: back_tx,
            next: None,
            heard: Instant::now(),
            sealer_at: 0,
            gone: false,
        },
    )
}

/// A byte range of a batch's text.
type Span = (u32, u32);

/// Appends `s` to the batch text and returns where it is.
fn put(text: &mut String, s: &str) -> Span {
    let start = text.len();
    text.push_str(s);
    (span_index(start), span_index(text.len()))
}

/// Batches stay far below 4 GiB (a batch holds at most [`BATCH_RECORDS`] records).
fn span_index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

fn get(text: &str, (a, b): Span) -> &str {
    text.get(a as usize..b as usize).unwrap_or("")
}

/// What one record holds for the detector.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "items live in one Vec per batch: boxing would allocate per event"
)]
enum What {
    Auth(PackedAuth),
    Access(Box<AuditEvent<'static>>),
    /// A line no rule took, for `file_watch`.
    Text(Span),
}

#[derive(Debug)]
struct Item {
    pos: u64,
    time_ns: i64,
    host: Option<Span>,
    what: What,
}

/// The detector's share of the records in `range`, in position order.
#[derive(Debug, Default)]
pub struct Batch {
    range: Option<Range<u64>>,
    records: usize,
    text: String,
    items: Vec<Item>,
}

/// One record as the detector sees it: from a batch (borrowed from it) or from the
/// detector's own decoding.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one at a time, moved once: boxing would allocate per event"
)]
pub enum Seen<'e, 'a> {
    /// For the login rules.
    Auth(AuthEvent<'a>),
    /// For the access rules.
    Access(&'e AuditEvent<'a>),
    /// Neither: its message, for `file_watch`.
    Text(&'a str),
}

impl Batch {
    /// Empties it for reuse, keeping its buffers (a text grown past the usual size by
    /// a long line is let go).
    fn clear(&mut self) {
        self.range = None;
        self.records = 0;
        self.items.clear();
        self.text.clear();
        self.text.shrink_to(BATCH_TEXT * 2);
    }

    fn fresh() -> Batch {
        Batch {
            items: Vec::with_capacity(BATCH_RECORDS),
            text: String::with_capacity(BATCH_TEXT / 4),
            ..Batch::default()
        }
    }

    /// The records it covers.
    pub fn records(&self) -> usize {
        self.records
    }

    /// The journal range this batch covers: every record from its start to its end.
    pub fn range(&self) -> Range<u64> {
        self.range.clone().unwrap_or(0..0)
    }

    /// The records from `from` on that hold something: `(position, detector time,
    /// host, what)`.
    pub fn seen_from(
        &self,
        from: u64,
    ) -> impl Iterator<Item = (u64, i64, Option<&str>, Seen<'_, '_>)> {
        let text = self.text.as_str();
        self.items
            .iter()
            .filter(move |i| i.pos >= from)
            .map(move |i| {
                let seen = match &i.what {
                    What::Auth(p) => Seen::Auth(p.unpack(text)),
                    What::Access(a) => Seen::Access(a),
                    What::Text(s) => Seen::Text(get(text, *s)),
                };
                (i.pos, i.time_ns, i.host.map(|h| get(text, h)), seen)
            })
    }
}

/// The sealer's end.
#[derive(Debug)]
pub struct FeedSender {
    tx: Option<SyncSender<Batch>>,
    /// Batches the detector is done with, to fill again.
    back: Receiver<Batch>,
    batch: Batch,
    watch_text: bool,
    dropped: u64,
}

impl FeedSender {
    /// The record at `pos` was decoded as `decoded`: keeps what the detector needs.
    /// Call [`Self::covered`] after it, as after every record.
    pub fn decoded(&mut self, pos: u64, decoded: &Decoded<'_>) {
        if self.tx.is_none() {
            return;
        }
        let b = &mut self.batch;
        let what = match (&decoded.auth, decoded.event.audit) {
            (Some(auth), _) => What::Auth(PackedAuth::pack(auth, &mut b.text)),
            (None, Some(audit)) => What::Access(Box::new(audit.clone().into_owned())),
            (None, None) if self.watch_text => What::Text(put(&mut b.text, decoded.event.message)),
            (None, None) => return,
        };
        let host = decoded.event.hostname.map(|h| put(&mut b.text, h));
        b.items.push(Item {
            pos,
            time_ns: decoded.detector_time_ns(),
            host,
            what,
        });
    }

    /// The sealer has read the record at `pos`; the next one is at `next`. Sends the
    /// batch once it is full.
    pub fn covered(&mut self, pos: u64, next: u64) {
        if self.tx.is_none() {
            return;
        }
        let b = &mut self.batch;
        let start = b.range.as_ref().map_or(pos, |r| r.start);
        b.range = Some(start..next);
        b.records += 1;
        if b.records >= BATCH_RECORDS || b.text.len() >= BATCH_TEXT {
            self.flush();
        }
    }

    /// Sends what is batched (the sealer has caught up with the journal).
    pub fn flush(&mut self) {
        if self.batch.range.is_none() {
            return;
        }
        let next = match self.back.try_recv() {
            Ok(mut b) => {
                b.clear();
                b
            }
            Err(_) => Batch::fresh(),
        };
        let batch = std::mem::replace(&mut self.batch, next);
        if let Some(tx) = &self.tx {
            match tx.try_send(batch) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => self.dropped += 1,
                // The detector stopped (it stops before the sealer): nothing to feed.
                Err(TrySendError::Disconnected(_)) => self.tx = None,
            }
        }
    }

    /// Batches dropped because the detector was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// What the detector can do at its position.
#[derive(Debug)]
pub enum Next {
    /// A batch that covers the position.
    Batch(Batch),
    /// The next batch starts at this later position: read the journal up to it.
    ReadTo(u64),
    /// Nothing came in the wait, but the sealer was heard from lately: wait again.
    Wait,
    /// The sealer is silent (or gone): read the journal.
    Read,
}

/// The detector's end.
#[derive(Debug)]
pub struct FeedReceiver {
    rx: Receiver<Batch>,
    back: SyncSender<Batch>,
    /// A batch ahead of the detector's position, kept for when it gets there.
    next: Option<Batch>,
    /// When the sealer last sent anything.
    heard: Instant,
    /// Where the sealer's last batch ended.
    sealer_at: u64,
    gone: bool,
}

impl FeedReceiver {
    /// Hands a batch back for the sealer to fill again.
    pub fn done(&self, batch: Batch) {
        let _ = self.back.try_send(batch); // full (cannot be) or the sealer gone: freed
    }

    /// What to do at `position`, waiting up to `wait` for a batch. Batches wholly behind
    /// the position are dropped (the detector read that range itself).
    pub fn next(&mut self, position: u64, wait: Duration) -> Next {
        let deadline = Instant::now() + wait;
        loop {
            let batch = match self.next.take() {
                Some(b) => b,
                None if self.gone => return Next::Read,
                None => {
                    // Waiting is worth it only for a sealer that is working, and close:
                    // one far behind (a backlog after a restart) would hold detection
                    // back for as long as it takes to catch up.
                    let close = self.heard.elapsed() < TAKEOVER
                        && position.saturating_sub(self.sealer_at) <= MAX_BEHIND;
                    let got = if close {
                        self.rx
                            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    } else {
                        self.rx.try_recv().map_err(|e| match e {
                            TryRecvError::Empty => RecvTimeoutError::Timeout,
                            TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                        })
                    };
                    match got {
                        Ok(b) => {
                            self.heard = Instant::now();
                            self.sealer_at = b.range().end;
                            b
                        }
                        Err(RecvTimeoutError::Timeout) if close => return Next::Wait,
                        Err(RecvTimeoutError::Timeout) => return Next::Read,
                        Err(RecvTimeoutError::Disconnected) => {
                            self.gone = true;
                            return Next::Read;
                        }
                    }
                }
            };
            let range = batch.range();
            if range.end <= position {
                self.done(batch); // the detector read this range itself
                continue;
            }
            if range.start <= position {
                return Next::Batch(batch);
            }
            self.next = Some(batch);
            return Next::ReadTo(range.start);
        }
    }
}

/// An [`AuthEvent`] whose strings live in its batch's text.
#[derive(Debug)]
struct PackedAuth {
    /// The event without its strings.
    shell: AuthEvent<'static>,
    /// Where each of [`strings`] is, in that order.
    strings: [Option<Span>; STRINGS],
}

const STRINGS: usize = 9;

/// The string fields of an event, in one order for packing and unpacking.
fn strings<'x, 'a>(ev: &'x mut AuthEvent<'a>) -> [&'x mut Option<Cow<'a, str>>; STRINGS] {
    [
        &mut ev.user,
        &mut ev.target_user,
        &mut ev.source_domain,
        &mut ev.service,
        &mut ev.tty,
        &mut ev.pwd,
        &mut ev.command,
        &mut ev.exe,
        &mut ev.session_id,
    ]
}

impl PackedAuth {
    fn pack(ev: &AuthEvent<'_>, text: &mut String) -> PackedAuth {
        // Cloning copies pointers (an owned string, rare, is copied).
        let mut shell = ev.clone();
        let strings = strings(&mut shell).map(|f| f.take().map(|s| put(text, &s)));
        // With its strings out, owning the rest copies nothing (a string field added to
        // `AuthEvent` but not to `strings` would still arrive, owned).
        PackedAuth {
            shell: shell.into_owned(),
            strings,
        }
    }

    fn unpack<'b>(&self, text: &'b str) -> AuthEvent<'b> {
        let mut ev: AuthEvent<'b> = self.shell.clone();
        for (field, span) in strings(&mut ev).into_iter().zip(self.strings) {
            *field = span.map(|sp| Cow::Borrowed(get(text, sp)));
        }
        ev
    }
}

#[cfg(test)]
#[path = "feed_tests.rs"]
mod tests;
