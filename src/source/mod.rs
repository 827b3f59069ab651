//! Sources of events.
pub mod framing;
pub mod limits;
pub mod syslog;
