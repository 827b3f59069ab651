//! The committer: compresses, signs and commits sealed segments on its own thread, in
//! sequence order (the commit protocol is in `docs/ARCHITECTURE.md`).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;

use super::{spool_err, spool_path, staged_path, sync_dir, ChainState, SealError, SealerStats};
use crate::journal::{Checkpoint, Cursor, Journal};
use crate::segment::{Content, SealHeader, SealKind, SegmentWriter};
use crate::throttle::{Backoff, Throttle};

/// Makes sealed segments durable (spool write, checkpoint, publish) on its own thread,
/// in order, so the fsyncs overlap with building the next segment instead of stalling
/// it. Crash safety is unchanged: each commit is the same three steps, one at a time.
pub(super) struct Committer {
    /// Hashes, compresses and signs, in sequence order, so it alone knows the previous
    /// hash.
    pub(super) writer: SegmentWriter,
    pub(super) key: SigningKey,
    /// Where the key lives, to move a rotated-to key into place (`None`: tests).
    pub(super) key_path: Option<PathBuf>,
    pub(super) prev_hash: [u8; 32],
    pub(super) stream: String,
    pub(super) heartbeat_ms: u64,
    pub(super) cursor: Cursor,
    pub(super) journal: Journal,
    pub(super) spool_dir: PathBuf,
    pub(super) stats: Arc<SealerStats>,
    /// Called with the segment's size after each publish into the spool (the spool
    /// counts it, the shipper wakes instead of polling).
    pub(super) on_publish: Box<dyn Fn(u64) + Send>,
    /// Set when the daemon stops (see [`FINAL_COMMIT_GRACE`]).
    pub(super) stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Content buffers go back to the sealer once compressed, to be filled again.
    pub(super) recycle: Option<std::sync::mpsc::Sender<Vec<u8>>>,
}

/// At shutdown, how long a failing commit is retried before the committer gives up
/// (the segment's events stay in the journal and are sealed at the next start).
const FINAL_COMMIT_GRACE: Duration = Duration::from_secs(20);

impl Committer {
    fn stopping(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Acquire))
    }

    pub(super) fn run(mut self, rx: std::sync::mpsc::Receiver<ToCommitter>) {
        for msg in rx {
            let pending = match msg {
                ToCommitter::Lines(chunk) => {
                    if let Err(e) = self.writer.feed(&chunk) {
                        // Only an allocation failure inside zstd gets here. The open
                        // segment cannot be completed, but its records are still in the
                        // journal: stop, and the sealer stops too; the next start seals
                        // them again.
                        self.stats.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(error = %e, "compressing a segment failed; sealing stops (the events stay in the journal and are sealed at the next start)");
                        return;
                    }
                    self.give_back(chunk);
                    continue;
                }
                ToCommitter::Seal(p) => *p,
            };
            let Some(staged) = self.seal(pending) else {
                return;
            };
            // Short pauses: a commit is local I/O, and when space or descriptors come
            // back the chain must resume at once, not after a long backoff.
            let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
            let mut log = Throttle::new(Duration::from_secs(10));
            let mut failed = 0u64;
            let mut stop_since: Option<std::time::Instant> = None;
            while let Err(e) = self.commit(&staged) {
                // The records are safe in the journal; waiting is safe, skipping is not.
                // Except at shutdown, and only after a grace period: an uncommitted
                // segment's events are still in the journal and are sealed again at the
                // next start, while a daemon that never exits is killed by its manager.
                if self.stopping()
                    && stop_since
                        .get_or_insert_with(std::time::Instant::now)
                        .elapsed()
                        >= FINAL_COMMIT_GRACE
                {
                    tracing::error!(error = %e, seq = staged.seq, "giving up committing the last segment at shutdown; its events stay in the journal and are sealed at the next start");
                    return;
                }
                failed += 1;
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                self.stats.commit_failures.fetch_add(1, Ordering::Relaxed);
                self.stats.commit_failing.store(true, Ordering::Relaxed);
                self.stats.note_commit_error(e.to_string());
                let pause = backoff.step();
                if let Some(n) = log.hit(std::time::Instant::now()) {
                    tracing::error!(error = %e, seq = staged.seq, failures = n, retry_in_ms = pause.as_millis() as u64, "committing a sealed segment failed; retrying (its events stay safe in the journal)");
                }
                std::thread::sleep(pause);
            }
            if let (Some(next), Some(path)) = (&staged.rotated_to, &self.key_path) {
                super::rotate::finish(path, next, staged.seq);
            }
            self.writer.recycle(staged.bytes);
            if failed > 0 {
                self.stats.commit_failing.store(false, Ordering::Relaxed);
                tracing::info!(
                    seq = staged.seq,
                    failed_attempts = failed,
                    "committed the segment after retrying"
                );
            }
        }
    }

    /// A content buffer goes back to the sealer to be filled again.
    fn give_back(&self, buf: Vec<u8>) {
        if let Some(r) = &self.recycle {
            // The sealer may have stopped; then the buffer is simply freed.
            let _ = r.send(buf);
        }
    }

    /// Feeds the segment's last lines, ends the frame and signs, chaining to the
    /// previous seal. `None` when zstd fails (see [`Committer::run`]).
    fn seal(&mut self, p: Pending) -> Option<Staged> {
        let header = SealHeader {
            kind: p.kind,
            stream: self.stream.clone(),
            seq: p.seq,
            prev_hash: self.prev_hash,
            period_start_ns: p.period_start_ns,
            period_end_ns: p.period_end_ns,
            heartbeat_ms: self.heartbeat_ms,
            next_key: p.rotate.as_ref().map(|k| k.verifying_key().to_bytes()),
        };
        let sealed = self.writer.feed(&p.content.lines).and_then(|()| {
            self.writer
                .finish(header, &self.key, p.content.count, p.content.times())
        });
        let sealed = match sealed {
            Ok(s) => s,
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, seq = p.seq, "sealing a segment failed; sealing stops (the events stay in the journal and are sealed at the next start)");
                return None;
            }
        };
        let hash = sealed.seal.hash();
        self.prev_hash = hash;
        // Signed by the retiring key; everything after it by the next one.
        if let Some(next) = &p.rotate {
            self.key = next.clone();
        }
        let events = p.content.count;
        self.give_back(p.content.lines);
        Some(Staged {
            rotated_to: p.rotate,
            seq: p.seq,
            bytes: sealed.bytes,
            events,
            end_position: p.end_position,
            state: ChainState {
                stream: self.stream.clone(),
                next_seq: p.seq + 1,
                prev_hash: hex::encode(hash),
                period_end_ns: p.period_end_ns,
                key_id: Some(hex::encode(crate::keys::key_id(&self.key.verifying_key()))),
            },
        })
    }

    /// Stage, commit the checkpoint (the commit point), publish.
    fn commit(&self, s: &Staged) -> Result<(), SealError> {
        let dir = &self.spool_dir;
        let tmp = staged_path(dir, s.seq);
        write_synced(&tmp, &s.bytes)?;
        self.cursor.commit(&Checkpoint {
            position: s.end_position,
            state: s.state.clone(),
        })?;
        // Committed. Publishing is idempotent and `recover_spool` redoes it after a
        // crash, so the directory needs no fsync of its own here.
        let published = spool_path(dir, s.seq);
        std::fs::rename(&tmp, &published).map_err(spool_err(&published))?;
        tracing::debug!(
            seq = s.seq,
            bytes = s.bytes.len(),
            events = s.events,
            "sealed segment"
        );
        self.stats.sealed_segments.fetch_add(1, Ordering::Relaxed);
        self.stats
            .sealed_events
            .fetch_add(s.events, Ordering::Relaxed);
        self.stats.next_seq.store(s.seq + 1, Ordering::Relaxed);
        self.stats
            .journal_position
            .store(s.end_position, Ordering::Relaxed);
        (self.on_publish)(s.bytes.len() as u64);
        if let Err(e) = self.journal.reclaim() {
            tracing::warn!(error = %e, "journal reclaim failed");
        }
        Ok(())
    }
}

/// A closed segment on its way to the committer.
/// What the sealer sends the committer, in order.
pub(super) enum ToCommitter {
    /// The next lines of the open segment.
    Lines(Vec<u8>),
    /// Its last lines and how to seal it.
    Seal(Box<Pending>),
}

pub(super) struct Pending {
    pub(super) seq: u64,
    pub(super) kind: SealKind,
    pub(super) period_start_ns: i64,
    pub(super) period_end_ns: i64,
    pub(super) content: Content,
    pub(super) end_position: u64,
    /// The next key: this segment is its rotation seal.
    pub(super) rotate: Option<SigningKey>,
}

/// A sealed segment on its way to the spool.
struct Staged {
    seq: u64,
    bytes: Vec<u8>,
    events: u64,
    /// Journal position just past its last record: the checkpoint's new position.
    end_position: u64,
    /// The chain state once it is committed.
    state: ChainState,
    /// A rotation seal's next key, moved into place once committed.
    rotated_to: Option<SigningKey>,
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), SealError> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(spool_err(path))?;
    f.write_all(bytes).map_err(spool_err(path))?;
    f.sync_all().map_err(spool_err(path))
}

/// Completes or discards a staged segment left by a crash (see the commit protocol).
pub(super) fn recover_spool(dir: &Path, next_seq: u64) -> Result<(), SealError> {
    let entries = std::fs::read_dir(dir).map_err(spool_err(dir))?;
    for entry in entries {
        let entry = entry.map_err(spool_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(seq) = name
            .strip_suffix(".seg.zst.tmp")
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        let path = entry.path();
        // Everything below `next_seq` was committed (its bytes were synced before the
        // checkpoint); only its publishing rename may have been lost.
        if seq < next_seq {
            let dest = spool_path(dir, seq);
            tracing::info!(seq, "completing segment committed before a crash");
            std::fs::rename(&path, &dest).map_err(spool_err(&dest))?;
        } else {
            tracing::info!(
                seq,
                "discarding segment staged but not committed before a crash"
            );
            std::fs::remove_file(&path).map_err(spool_err(&path))?;
        }
    }
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recover_spool_completes_committed_and_discards_uncommitted() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path();
        // seq 3 and 4 were committed (checkpoint says next_seq 5) but not renamed.
        std::fs::write(staged_path(dir, 3), b"committed 3").unwrap();
        std::fs::write(staged_path(dir, 4), b"committed").unwrap();
        // seq 5 was staged, the crash came before the checkpoint.
        std::fs::write(staged_path(dir, 5), b"not committed").unwrap();
        std::fs::write(spool_path(dir, 2), b"published").unwrap();
        recover_spool(dir, 5).unwrap();
        assert_eq!(std::fs::read(spool_path(dir, 3)).unwrap(), b"committed 3");
        assert_eq!(std::fs::read(spool_path(dir, 4)).unwrap(), b"committed");
        assert!(!staged_path(dir, 4).exists());
        assert!(!staged_path(dir, 5).exists());
        assert!(!spool_path(dir, 5).exists());
        assert_eq!(std::fs::read(spool_path(dir, 2)).unwrap(), b"published");
    }
}
