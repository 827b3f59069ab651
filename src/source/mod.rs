//! Sources of events.
pub mod syslog;
