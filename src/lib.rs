//! sealtrail: an audit-log daemon that seals every event into signed, hash-chained
//! zstd segments and archives them to object storage. See `docs/ARCHITECTURE.md`.
#![forbid(unsafe_code)]

pub mod assets;
pub mod auth;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod detect;
pub mod event;
pub mod forward;
pub mod journal;
pub mod keys;
pub mod normalise;
pub mod notify;
pub mod pem;
pub mod proof;
pub mod query;
pub mod record;
pub mod replay;
pub mod report;
pub mod seal;
pub mod segment;
pub mod service;
pub mod ship;
pub mod source;
pub mod state_dir;
pub mod status;
pub mod store;
pub mod throttle;
pub mod verify;
