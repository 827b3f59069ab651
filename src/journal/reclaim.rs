//! Deleting journal files every consumer has committed past.

use std::io;
use std::sync::atomic::Ordering;

use super::{cursor, files, io_err, lock, Inner, JournalError};

impl Inner {
    /// Deletes journal files that lie wholly before the minimum committed position over
    /// all cursor files. Never deletes the newest file (it tells the end after a restart).
    /// Returns bytes freed, and wakes the writer if it freed any: it may be waiting for
    /// room. Called by consumers after a commit and by the writer itself when it must wait.
    pub(super) fn reclaim(&self) -> Result<u64, JournalError> {
        let _serial = lock(&self.reclaim_lock);
        let registered: Vec<String> = lock(&self.cursors).iter().cloned().collect();
        let Some(min) = cursor::min_position(&self.cursors_dir, &registered)? else {
            return Ok(0);
        };
        let list = files::list(&self.dir)?;
        let mut freed = 0u64;
        for pair in list.windows(2) {
            let ((_, path), (next_start, _)) = (&pair[0], &pair[1]);
            if *next_start > min {
                break;
            }
            let size = match std::fs::metadata(path) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(path, e)),
            };
            match std::fs::remove_file(path) {
                Ok(()) => freed += size,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(path, e)),
            }
        }
        if freed > 0 {
            files::sync_dir(&self.dir).map_err(|e| io_err(&self.dir, e))?;
            self.disk_bytes.fetch_sub(freed, Ordering::AcqRel);
            drop(lock(&self.queue));
            self.queue_cv.notify_all();
            tracing::debug!(freed, min, "journal reclaimed files");
        }
        Ok(freed)
    }
}
