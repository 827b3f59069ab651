//! Where reading starts and what is recovered: resuming checkpointed files (also
//! rotated away while the daemon was stopped), generations created and rotated away
//! during a downtime, and the unread part of a truncated file from logrotate's copy.
//! See the parent module's "Restart" and "Rotation".

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, UNIX_EPOCH};

use super::{copy_note, open_nonblocking, Phase, Problem, Resume, Tailer};
use crate::source::file::config::StartAt;
use crate::source::file::discover::is_compressed;
use crate::source::file::state::{FileCheckpoint, FileId, Fingerprint};
use crate::source::file::tailed::{end_position, Tailed};
use crate::source::SourceError;

/// Offset, fingerprint, record path, copy to drain first.
pub(super) type Start = (u64, Fingerprint, Option<PathBuf>, Option<FileId>);

impl Tailer {
    /// A copy of the file that was at `path` with fingerprint `fp`, longer than
    /// `from`: logrotate's `copytruncate` copy, to be read from `from` to its end.
    pub(super) fn find_copy(
        &mut self,
        path: &Path,
        fp: Fingerprint,
        from: u64,
        now: Instant,
    ) -> Option<(Tailed, PathBuf)> {
        if fp.len == 0 {
            return None;
        }
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
        let mut best: Option<(std::time::SystemTime, PathBuf, File, Metadata)> = None;
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let p = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() || meta.len() <= from || is_compressed(&p) {
                continue;
            }
            if self.files.contains_key(&FileId::of(&meta)) {
                continue;
            }
            let Ok(file) = open_nonblocking(&p) else {
                continue;
            };
            if !matches!(fp.recheck(&file, meta.len()), Ok(Some(_))) {
                continue;
            }
            let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
            if best.as_ref().is_none_or(|(t, ..)| mtime > *t) {
                best = Some((mtime, p, file, meta));
            }
        }
        let (_, p, file, meta) = best?;
        let permit = self.budget.try_take()?;
        let fp = Fingerprint::read(&file, meta.len()).ok()?;
        let mut t = Tailed::new(
            file,
            Some(permit),
            path.to_path_buf(),
            FileId::of(&meta),
            fp,
            from,
            meta.len(),
            now,
        );
        t.copy = true;
        t.detached = Some(now);
        Some((t, p))
    }

    /// Where to start reading a file just opened, its fingerprint now, the path its
    /// records carry if not the one it was found at, and a copy to read first (its
    /// lines were written before the file's). It starts at its checkpoint, its start or
    /// its end: see the parent module's "Restart".
    pub(super) fn start_position(
        &mut self,
        path: &Path,
        id: FileId,
        file: &File,
        meta: &Metadata,
        phase: Phase,
        now: Instant,
    ) -> io::Result<Start> {
        let size = meta.len();
        Ok(match self.take_pending(id, file, size)? {
            Resume::At(offset, fp, was) => {
                tracing::info!(source = %self.name, path = %path.display(), offset, "resuming at the checkpoint");
                (offset, fp, Some(was), None)
            }
            Resume::Changed(entry) => {
                self.stats.file_truncations.fetch_add(1, Ordering::Relaxed);
                let copy = entry
                    .fingerprint()
                    .and_then(|fp| self.find_copy(&entry.path_buf(), fp, entry.offset, now));
                let note = copy.as_ref().map(|(t, p)| copy_note(t, p));
                tracing::warn!(source = %self.name, path = %path.display(), checkpoint = entry.offset, copy = ?note, "the file changed while sealtrail was stopped (truncated or replaced): reading it from its start");
                let copy_id = copy.as_ref().map(|(c, _)| c.id);
                if let Some((c, _)) = copy {
                    self.insert(c);
                }
                (0, Fingerprint::read(file, size)?, None, copy_id)
            }
            Resume::None => {
                let fp = Fingerprint::read(file, size)?;
                let from_start = match (phase, &self.loaded) {
                    (Phase::Running, _) => true,
                    (Phase::Startup, None) => self.s.start_at == StartAt::Beginning,
                    // After the first start, `start_at` no longer applies: a file
                    // without an entry that is older than the checkpoint was read and
                    // released before (or predates this pattern); a newer one appeared
                    // while the daemon was stopped and is read whole.
                    (Phase::Startup, Some(c)) => {
                        appeared_since(meta, c.written_ns, self.s.rescan_interval)
                    }
                };
                let pos = if from_start {
                    0
                } else {
                    end_position(file, size)?
                };
                (pos, fp, None, None)
            }
        })
    }

    /// The checkpoint entry of inode `id`, if any, taken out of the pending list.
    pub(super) fn take_pending(
        &mut self,
        id: FileId,
        file: &File,
        size: u64,
    ) -> io::Result<Resume> {
        let Some(i) = self.pending.iter().position(|e| e.id() == id) else {
            return Ok(Resume::None);
        };
        let entry = self.pending.swap_remove(i);
        Ok(match entry.matches(id, file, size)? {
            Some(fp) if entry.offset <= size => Resume::At(entry.offset, fp, entry.path_buf()),
            _ => Resume::Changed(entry),
        })
    }

    /// After the first scan: checkpointed files not found at an included path were
    /// rotated away (or deleted) while the daemon was stopped. Each one still in its
    /// directory under another name is read from its checkpoint to its end; the
    /// entries of the others expire.
    pub(super) fn resume_rotated(&mut self) -> Result<(), SourceError> {
        let now = Instant::now();
        let entries = std::mem::take(&mut self.pending);
        let siblings: Vec<PathBuf> = entries.iter().map(FileCheckpoint::path_buf).collect();
        for entry in entries {
            let id = entry.id();
            if self.paths.values().any(|p| *p == id) {
                self.pending.push(entry); // there, but could not be opened: kept
                continue;
            }
            let path = entry.path_buf();
            let Some((found, file, meta)) = find_inode(&path, id) else {
                tracing::info!(source = %self.name, path = %entry.path, offset = entry.offset, "a checkpointed file is gone (deleted, or compressed, while sealtrail was stopped): its entry expires");
                continue;
            };
            let size = meta.len();
            match entry.matches(id, &file, size) {
                Ok(Some(fp)) if entry.offset <= size => {
                    let Some(permit) = self.budget.try_take() else {
                        self.problem(
                            &found,
                            Problem::Budget,
                            &"the daemon's descriptor budget is spent",
                        );
                        continue;
                    };
                    tracing::info!(source = %self.name, path = %entry.path, now_at = %found.display(), offset = entry.offset, "rotated while sealtrail was stopped: reading the old file from its checkpoint to its end");
                    self.stats.file_rotations.fetch_add(1, Ordering::Relaxed);
                    let mut t =
                        Tailed::new(file, Some(permit), path, id, fp, entry.offset, size, now);
                    t.detached = Some(now);
                    self.insert(t);
                }
                _ => {
                    tracing::info!(source = %self.name, path = %entry.path, "a checkpointed file's inode now holds another file: its entry expires");
                }
            }
        }
        self.read_unseen_generations(&siblings, now);
        Ok(())
    }

    /// Generations that were created and rotated away while the daemon was stopped
    /// (several rotations during a downtime): never seen, never at an included path
    /// while it ran. They are the files in a checkpointed file's directory named like
    /// its rotations (`app.log.1`, `app.log-20241122`: its name and a separator),
    /// created since the checkpoint, not compressed, not excluded and not followed
    /// already. Each is read whole, under the checkpointed path it was written to, and
    /// released at its end.
    pub(super) fn read_unseen_generations(&mut self, siblings: &[PathBuf], now: Instant) {
        let Some(since) = self.loaded.as_ref().map(|c| c.written_ns) else {
            return;
        };
        let mut dirs: HashMap<PathBuf, Vec<(std::ffi::OsString, PathBuf)>> = HashMap::new();
        for p in siblings {
            if let (Some(dir), Some(name)) = (p.parent(), p.file_name()) {
                let list = dirs.entry(dir.to_path_buf()).or_default();
                if !list.iter().any(|(n, _)| n == name) {
                    list.push((name.to_os_string(), p.clone()));
                }
            }
        }
        for (dir, names) in dirs {
            let Ok(listing) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut found: Vec<(std::time::SystemTime, PathBuf, PathBuf)> = Vec::new();
            for entry in listing.flatten() {
                let p = entry.path();
                let Some(file_name) = p.file_name().map(|n| n.as_encoded_bytes().to_vec()) else {
                    continue;
                };
                let Some((_, origin)) = names.iter().find(|(n, _)| {
                    let n = n.as_encoded_bytes();
                    file_name.len() > n.len()
                        && file_name.starts_with(n)
                        && !file_name[n.len()].is_ascii_alphanumeric()
                }) else {
                    continue;
                };
                let Ok(meta) = entry.metadata() else { continue };
                if !meta.is_file()
                    || !self.globs.admits(&p)
                    || self.files.contains_key(&FileId::of(&meta))
                    || !appeared_since(&meta, since, self.s.rescan_interval)
                {
                    continue;
                }
                let created = meta.created().unwrap_or(UNIX_EPOCH);
                found.push((created, p, origin.clone()));
            }
            // Oldest first: the order they were written in.
            found.sort();
            for (_, p, origin) in found {
                let Ok(file) = open_nonblocking(&p) else {
                    continue;
                };
                let Ok(meta) = file.metadata() else { continue };
                let id = FileId::of(&meta);
                if self.files.contains_key(&id) {
                    continue;
                }
                let Ok(fp) = Fingerprint::read(&file, meta.len()) else {
                    continue;
                };
                let Some(permit) = self.budget.try_take() else {
                    self.problem(
                        &p,
                        Problem::Budget,
                        &"the daemon's descriptor budget is spent",
                    );
                    continue;
                };
                tracing::info!(source = %self.name, path = %origin.display(), now_at = %p.display(), "created and rotated while sealtrail was stopped: reading it whole");
                self.stats.file_rotations.fetch_add(1, Ordering::Relaxed);
                let mut t = Tailed::new(file, Some(permit), origin, id, fp, 0, meta.len(), now);
                t.detached = Some(now);
                self.insert(t);
            }
        }
    }
}

/// The file with inode `id` in `path`'s directory, opened.
pub(super) fn find_inode(path: &Path, id: FileId) -> Option<(PathBuf, File, Metadata)> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_file() && FileId::of(&meta) == id {
            let p = entry.path();
            let file = open_nonblocking(&p).ok()?;
            let meta = file.metadata().ok()?;
            return (FileId::of(&meta) == id).then_some((p, file, meta));
        }
    }
    None
}

/// Whether the file was created after `since_ns` (less `slack`: a file created just
/// before the checkpoint may not have been found yet). Unknown creation times count
/// as recent: reading a file again is better than skipping it.
pub(super) fn appeared_since(meta: &Metadata, since_ns: i64, slack: Duration) -> bool {
    let Ok(created) = meta.created() else {
        return true;
    };
    let created_ns = created
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let slack_ns = i64::try_from(slack.as_nanos()).unwrap_or(i64::MAX);
    created_ns
        .saturating_add(slack_ns)
        .saturating_add(2_000_000_000)
        >= since_ns
}
