//! PLACEHOLDER for the `wt-source` worktree only: the real journal is written in
//! parallel and replaces this file at merge. It has the real API's signatures and keeps
//! appended entries in memory so the source's tests can read them back.

use std::sync::{Arc, Mutex};

/// Placeholder journal error.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The in-memory store's lock was poisoned.
    #[error("journal placeholder poisoned")]
    Poisoned,
}

/// Placeholder journal: entries in memory.
#[derive(Clone, Default)]
pub struct Journal {
    entries: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// A group of entries appended together.
pub struct Batch {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Batch {
    /// A batch whose buffer can hold `bytes` without growing.
    pub fn with_capacity(bytes: usize) -> Batch {
        Batch {
            data: Vec::with_capacity(bytes),
            ends: Vec::new(),
        }
    }

    /// Adds one entry.
    pub fn push(&mut self, payload: &[u8]) {
        self.push_with(|out| out.extend_from_slice(payload));
    }

    /// Adds one entry written in place by `f`.
    pub fn push_with(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        f(&mut self.data);
        self.ends.push(self.data.len());
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when no entry was pushed.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Payload bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }
}

impl Journal {
    /// Placeholder only: an empty in-memory journal.
    pub fn in_memory() -> Journal {
        Journal::default()
    }

    /// Placeholder only: every entry appended so far, in order.
    pub fn entries(&self) -> Vec<Vec<u8>> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Appends a batch; returns the number of entries held afterwards.
    pub async fn append(&self, batch: Batch) -> Result<u64, JournalError> {
        let mut entries = self.entries.lock().map_err(|_| JournalError::Poisoned)?;
        let mut start = 0;
        for end in batch.ends {
            entries.push(batch.data[start..end].to_vec());
            start = end;
        }
        Ok(entries.len() as u64)
    }
}
