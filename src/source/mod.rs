//! Sources of events.
pub mod framing;
pub mod syslog;
