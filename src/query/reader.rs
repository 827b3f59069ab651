//! The reader of verified events: selection by seals, parallel reads and checks, and
//! the segments handed on in archive order (stream, then sequence).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::StreamExt;
use object_store::ObjectStore;

use crate::segment::{self, Seal, TAIL_MAX};
use crate::store::Archive;
use crate::verify::{
    self, Checker, Keyring, Listed, ObjectCheck, ProblemKind, Progress, VerifyOptions, CONCURRENCY,
    MAX_OBJECT_BYTES,
};

use super::event::{Event, Line, View};
use super::summary::{Refused, Summary};
use super::QueryError;

/// Content decoded from a segment whose seal cannot be trusted (`include_unverified`):
/// nothing authentic bounds it, so this does.
const UNTRUSTED_CONTENT: u64 = 64 << 20;

/// What to read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The public keys given from outside the archive, oldest first.
    pub keyring: Keyring,
    /// Only these streams (each must have segments); empty: every stream.
    pub streams: Vec<String>,
    /// Events received at or after this time (unix ns) ...
    pub since_ns: Option<i64>,
    /// ... and before this one.
    pub until_ns: Option<i64>,
    /// Hand on the events of segments that failed their checks, marked unverified
    /// (segments whose content cannot be decoded still give none).
    pub include_unverified: bool,
    /// Counters for a progress display: objects to read, read, bytes.
    pub progress: Option<Arc<Progress>>,
}

impl ReadOptions {
    /// Whether `[start, end]` overlaps the window `[since, until)`.
    fn overlaps(&self, start: i64, end: i64) -> bool {
        self.since_ns.is_none_or(|s| end >= s) && self.until_ns.is_none_or(|u| start < u)
    }

    fn contains(&self, t: i64) -> bool {
        self.since_ns.is_none_or(|s| t >= s) && self.until_ns.is_none_or(|u| t < u)
    }

    fn windowed(&self) -> bool {
        self.since_ns.is_some() || self.until_ns.is_some()
    }

    /// What a trusted seal says about the segment: whether its period overlaps the
    /// window (it takes part in the chain over it: verify's step 7), and whether its
    /// event times do (it may hold events of the window: it must be read).
    fn selects(&self, seal: &Seal) -> (bool, bool) {
        let period = self.since_ns.is_none_or(|s| seal.period_end_ns > s)
            && self.until_ns.is_none_or(|u| seal.period_start_ns < u);
        let events = seal.event_count > 0 && self.overlaps(seal.first_event_ns, seal.last_event_ns);
        (period, events)
    }
}

/// One segment that was read, with its decoded content.
#[derive(Debug)]
pub struct Segment {
    /// Object key.
    pub location: String,
    /// Its stream and seq (the seal's; the key's when the seal cannot be trusted).
    pub stream: String,
    pub seq: Option<u64>,
    /// Every check passed. False only with `include_unverified`.
    pub verified: bool,
    /// The problems that refused it (empty when verified).
    pub problems: Vec<(ProblemKind, String)>,
    content: Vec<u8>,
    /// The verified seal says every event was received inside the window.
    all_in_window: bool,
    window: (Option<i64>, Option<i64>),
}

impl Segment {
    /// Every line of the content, in order.
    pub fn lines(&self) -> impl Iterator<Item = Line<'_>> {
        self.content
            .split(|&b| b == b'\n')
            .take(self.line_count())
            .zip(0u64..)
            .map(|(bytes, index)| Line { bytes, index })
    }

    /// The lines at these byte ranges of the content (from [`super::filter::Probe`]),
    /// numbered.
    pub fn lines_at<'a>(
        &'a self,
        ranges: &'a [(usize, usize)],
    ) -> impl Iterator<Item = Line<'a>> + 'a {
        let mut counted = (0usize, 0u64);
        ranges.iter().filter_map(move |&(start, end)| {
            let bytes = self.content.get(start..end)?;
            let (at, n) = counted;
            let index = n + memchr::memchr_iter(b'\n', self.content.get(at..start)?).count() as u64;
            counted = (start, index);
            Some(Line { bytes, index })
        })
    }

    /// The decoded content (lines, each ending in `\n`).
    pub fn content(&self) -> &[u8] {
        &self.content
    }

    fn line_count(&self) -> usize {
        memchr::memchr_iter(b'\n', &self.content).count()
    }

    /// Whether the seal alone says every line is inside the window (no need to look at
    /// each event's time).
    pub fn all_in_window(&self) -> bool {
        self.all_in_window
    }

    /// Whether an event received at `received_ns` (its `event.created`) is inside the
    /// window; an event whose time cannot be read is inside only when the seal says
    /// all are.
    pub fn in_window(&self, received_ns: Option<i64>) -> bool {
        if self.all_in_window {
            return true;
        }
        let (since, until) = self.window;
        received_ns.is_some_and(|t| since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u))
    }

    /// The event of one line.
    pub fn event<'a>(&'a self, line: Line<'a>) -> Event<'a> {
        Event {
            line,
            view: View::of(line.bytes),
            stream: &self.stream,
            location: &self.location,
            verified: self.verified,
        }
    }

    /// The events received inside the window, in order, parsed.
    pub fn events(&self) -> impl Iterator<Item = Event<'_>> {
        self.lines()
            .map(|l| self.event(l))
            .filter(|e| self.in_window(e.view.received_ns()))
    }
}

/// What happened to one listed object.
enum Fate<T> {
    /// Left unread: its trusted seal lies outside the window.
    Skipped,
    /// Left unread: its trusted seal's period is in the window (so it joins the chain
    /// analysis) but none of its events can be (none, or all received outside it).
    SealOnly,
    /// Read and checked; `Some` when handed on.
    Read {
        verified: bool,
        mapped: Option<T>,
        lines: u64,
    },
    /// Could not be read, or is too large: refused without a check.
    Refused,
}

struct Done<T> {
    check: ObjectCheck,
    fate: Fate<T>,
    bytes: u64,
}

/// Reads the verified events of `archive` in the window: every selected segment is
/// read and checked (at most [`CONCURRENCY`] at once), `map` runs on each segment that
/// is handed on (verified, or unverified with `include_unverified`) on a worker thread,
/// and `sink` gets the results in archive order (stream, then sequence): the same order
/// whatever the timing. Memory: the objects in flight (each read whole, as the checks
/// and the events must come from the same bytes) and their decoded content.
pub async fn read<T, M, F>(
    archive: &Archive,
    opts: &ReadOptions,
    map: M,
    mut sink: F,
) -> Result<Summary, QueryError>
where
    T: Send + 'static,
    M: Fn(&Segment) -> T + Send + Sync + 'static,
    F: FnMut(T) -> Result<(), QueryError>,
{
    let mut listed = verify::list_archive(archive, &opts.streams).await?;
    listed.sort_by(|a, b| a.location().cmp(b.location()));
    let objects = listed.len();
    let before = listed.len();
    listed.retain(|l| !verify::before_window(l, opts.since_ns));
    let skipped_by_key = before - listed.len();
    if let Some(p) = &opts.progress {
        p.objects.store(listed.len() as u64, Ordering::Relaxed);
    }
    let checker = Checker::new(&archive.prefix, opts.keyring.clone());
    let map = Arc::new(map);
    let store = archive.store.as_ref();
    let mut done = futures::stream::iter(listed)
        .map(|item| one(store, item, &checker, opts, map.clone()))
        .buffered(CONCURRENCY);

    let mut summary = Summary::new(opts, objects, skipped_by_key);
    let mut checks = Vec::new();
    let mut bytes = 0u64;
    while let Some(d) = done.next().await {
        let d = d?;
        bytes += d.bytes;
        if let Some(p) = &opts.progress {
            p.checked.fetch_add(1, Ordering::Relaxed);
            p.bytes.fetch_add(d.bytes, Ordering::Relaxed);
        }
        match d.fate {
            Fate::Skipped => summary.skipped_by_seal += 1,
            Fate::SealOnly => summary.seal_only += 1,
            Fate::Read {
                verified,
                mapped,
                lines,
            } => {
                summary.read += 1;
                if verified {
                    summary.verified += 1;
                } else {
                    summary
                        .refused
                        .push(Refused::of(&d.check, mapped.is_some()));
                }
                if mapped.is_some() {
                    summary.events_scanned += lines;
                }
                if let Some(m) = mapped {
                    sink(m)?;
                }
            }
            Fate::Refused => {
                summary.read += 1;
                summary.refused.push(Refused::of(&d.check, false));
            }
        }
        checks.push(d.check);
    }
    drop(done);
    let vopts = VerifyOptions {
        keyring: opts.keyring.clone(),
        streams: opts.streams.clone(),
        since_ns: opts.since_ns,
        until_ns: opts.until_ns,
        progress: None,
    };
    summary.report = checker.analyse(checks, &vopts, objects, skipped_by_key, bytes);
    summary.report.archive = archive.display.clone();
    Ok(summary)
}

/// Selects, reads, checks and maps one listed object.
async fn one<T, M>(
    store: &dyn ObjectStore,
    item: Listed,
    checker: &Checker,
    opts: &ReadOptions,
    map: Arc<M>,
) -> Result<Done<T>, QueryError>
where
    T: Send + 'static,
    M: Fn(&Segment) -> T + Send + Sync + 'static,
{
    let refused = |check| Done {
        check,
        fate: Fate::Refused,
        bytes: 0,
    };
    let (location, size, at) = match item {
        Listed::Unreadable { location, detail } => {
            return Ok(refused(checker.reported(
                location,
                ProblemKind::Unreadable,
                detail,
            )))
        }
        Listed::Object { location, size, at } => (location, size, at),
    };
    if size > MAX_OBJECT_BYTES {
        let detail = format!("{size} bytes, limit {MAX_OBJECT_BYTES}");
        return Ok(refused(checker.reported(
            location,
            ProblemKind::TooLarge,
            detail,
        )));
    }
    let mut bytes = 0;
    if opts.windowed() {
        // The seal alone says whether the segment is needed; one that cannot be read
        // or trusted this way is read whole, and its check says what is wrong.
        bytes += size.min(TAIL_MAX as u64) + 4;
        if let Ok(found) = super::fetch::read_seal(store, &at, size).await {
            let check = checker.seal_only(location.clone(), &found);
            let fate = match check.seal().map(|s| opts.selects(s)) {
                Some((false, false)) => Some(Fate::Skipped),
                Some((true, false)) => Some(Fate::SealOnly),
                _ => None,
            };
            if let Some(fate) = fate {
                return Ok(Done { check, fate, bytes });
            }
        }
    }
    let object = match super::fetch::read_all(store, &at).await {
        Ok(o) => o,
        Err((kind, detail)) => return Ok(refused(checker.reported(location, kind, detail))),
    };
    bytes += object.len() as u64;
    let checker = checker.clone();
    let window = (opts.since_ns, opts.until_ns);
    let opts = opts.clone();
    tokio::task::spawn_blocking(move || {
        let check = checker.object(location.clone(), &object)?;
        let verified = check.is_verified();
        if !verified && !opts.include_unverified {
            let fate = Fate::Read {
                verified,
                mapped: None,
                lines: 0,
            };
            return Ok(Done { check, fate, bytes });
        }
        let key = segment::parse_object_key_parts(&location);
        let (stream, seq, content, all_in_window) = match check.seal() {
            Some(seal) if verified => {
                let data = usize::try_from(seal.data_len)
                    .ok()
                    .and_then(|n| object.get(..n))
                    .unwrap_or_default();
                let mut content = Vec::with_capacity(seal.content_len.min(1 << 26) as usize);
                segment::copy_content(data, seal.data_len, &mut content, seal.content_len)?;
                let all = seal.event_count == 0
                    || (opts.contains(seal.first_event_ns) && opts.contains(seal.last_event_ns));
                (seal.stream.clone(), Some(seal.seq), content, all)
            }
            _ => {
                let (stream, seq, content) = untrusted_content(&object, check.seal());
                let stream = stream
                    .or_else(|| key.as_ref().map(|k| k.stream.clone()))
                    .unwrap_or_default();
                (stream, seq.or(key.map(|k| k.seq)), content, false)
            }
        };
        let segment = Segment {
            problems: check.problems().cloned().collect(),
            location,
            stream,
            seq,
            verified,
            content,
            all_in_window,
            window,
        };
        let lines = segment.line_count() as u64;
        let mapped = Some(map(&segment));
        let fate = Fate::Read {
            verified,
            mapped,
            lines,
        };
        Ok::<_, QueryError>(Done { check, fate, bytes })
    })
    .await
    .map_err(|e| QueryError::Task(e.to_string()))?
}

/// What can be decoded of a segment that failed its checks: the lines before any
/// damage, whole lines only, bounded by [`UNTRUSTED_CONTENT`]. The stream and seq are
/// the (authentic) seal's if there is one, else what the unverified seal claims.
fn untrusted_content(
    object: &[u8],
    trusted: Option<&Seal>,
) -> (Option<String>, Option<u64>, Vec<u8>) {
    let Ok(view) = segment::parse(object) else {
        return (
            trusted.map(|s| s.stream.clone()),
            trusted.map(|s| s.seq),
            Vec::new(),
        );
    };
    let seal = trusted.unwrap_or(&view.seal);
    let mut content = Vec::new();
    // The content before the damage is kept; the error itself is in the check.
    let _ = segment::copy_content(
        view.data_frame,
        view.data_frame.len() as u64,
        &mut content,
        UNTRUSTED_CONTENT,
    );
    let whole = memchr::memrchr(b'\n', &content).map_or(0, |i| i + 1);
    content.truncate(whole);
    (Some(seal.stream.clone()), Some(seal.seq), content)
}
