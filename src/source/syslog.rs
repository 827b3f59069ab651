//! syslog source
