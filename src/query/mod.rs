//! The auditor's queries over an archive: a reader of *verified* events, and on top of
//! it `sealtrail search` / `export` (filters and output formats).
//!
//! The reader ([`read`]) lists the archive as `verify` does, selects the segments whose
//! period (or event times) overlaps the `[since, until)` window from their seals alone
//! (the key's date first, then the seal read from the object's tail, trusted only if
//! its signature verifies), reads the selected objects whole, at most
//! [`crate::verify::CONCURRENCY`] at a time, checks each with the verifier's own steps
//! ([`crate::verify::Checker`]: signature, content hash, Merkle root, counts) and hands
//! a segment's events on only once it verified. A segment that fails is refused (its
//! problems go into the summary) or, with `include_unverified`, handed on marked as
//! unverified. The chain facts over the window (gaps, forks, key schedule, head and
//! tail) come from the verifier's chain analysis over the seals, in the [`Summary`].
//!
//! Verify-side only: nothing here starts or needs the daemon.
//!
//! Using the reader (what `search` does, and what a report needs):
//!
//! ```text
//! let opts = ReadOptions { keyring, stream: None, since_ns, until_ns,
//!                          include_unverified: false, progress: None };
//! let summary = query::read(&archive, &opts,
//!     // on a worker thread, once per segment that verified (in parallel):
//!     |seg: &Segment| {
//!         let mut ecs = EcsWriter::default();
//!         seg.events()                       // the events received in the window
//!             .map(|e| (e.id(), e.ecs(&mut ecs)))   // or e.view (parsed), e.line.bytes
//!             .collect::<Vec<_>>()
//!     },
//!     // in archive order (stream, then seq):
//!     |events| { tally(events); Ok(()) },
//! ).await?;
//! // summary: read/verified/refused/skipped counts, events scanned, and
//! // summary.report: the verifier's Report (streams, key ids, chain problems).
//! ```
//!
//! Parts: `fetch` (reading a seal or an object), `reader` (selection, checks, order),
//! `event` (a line and its parsed view), `filter` (search predicates), `summary`
//! (what was verified), `output` (JSON lines, CSV, table).

mod event;
mod fetch;
pub mod filter;
pub mod output;
mod reader;
mod summary;

pub use event::{Event, Line, View};
pub use reader::{read, ReadOptions, Segment};
pub use summary::{Refused, Summary};

/// Failures that stop a query. Problems with the archive's content are never errors:
/// they go into the [`Summary`].
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Verify(#[from] crate::verify::VerifyError),
    #[error("segment: {0}")]
    Segment(#[from] crate::segment::SegmentError),
    #[error("query task failed: {0}")]
    Task(String),
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    #[error("{0}")]
    Invalid(String),
}
#[cfg(test)]
mod tests;
