//! What the detector keeps per source address, per user, and per user's baseline.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::evidence::Evidence;
use super::state::{Distinct, Weight, Window, NEVER};

/// Per-source state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct SourceState {
    pub(super) last: i64,
    /// Events seen while tracked: the eviction weight (cheap to read).
    pub(super) hits: u32,
    pub(super) brute: Window,
    pub(super) invalid: Window,
    pub(super) before_success: Window,
    pub(super) spray: Distinct<String>,
    pub(super) root: Window,
    pub(super) evidence: Evidence,
}

impl Weight for SourceState {
    fn reset(&mut self) {
        self.last = NEVER;
        self.hits = 0;
        self.brute.reset();
        self.invalid.reset();
        self.before_success.reset();
        self.spray.reset();
        self.root.reset();
        self.evidence.reset();
    }
    fn last(&self) -> i64 {
        self.last
    }
    fn events(&self) -> u32 {
        self.hits
    }
}

/// Per-user failure state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct UserState {
    pub(super) last: i64,
    pub(super) hits: u32,
    pub(super) sources: Distinct<IpAddr>,
    pub(super) sudo: Window,
    pub(super) denied: Window,
    pub(super) evidence: Evidence,
}

impl Weight for UserState {
    fn reset(&mut self) {
        self.last = NEVER;
        self.hits = 0;
        self.sources.reset();
        self.sudo.reset();
        self.denied.reset();
        self.evidence.reset();
    }
    fn last(&self) -> i64 {
        self.last
    }
    fn events(&self) -> u32 {
        self.hits
    }
}

/// What was learned about a user's successful logins.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Baseline {
    pub(super) last: i64,
    pub(super) logins: u32,
    /// Address blocks with the time last seen.
    pub(super) sources: Vec<(IpAddr, i64)>,
    pub(super) hours: [u32; 24],
    pub(super) hours_total: u32,
    /// De-duplicates console root logins (remote ones are per source).
    pub(super) root: Window,
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            last: NEVER,
            logins: 0,
            sources: Vec::new(),
            hours: [0; 24],
            hours_total: 0,
            root: Window::default(),
        }
    }
}

impl Weight for Baseline {
    fn reset(&mut self) {
        self.last = NEVER;
        self.logins = 0;
        self.sources.clear();
        self.hours = [0; 24];
        self.hours_total = 0;
        self.root.reset();
    }
    fn last(&self) -> i64 {
        self.last
    }
    fn events(&self) -> u32 {
        self.logins
    }
    /// Baselines never go stale: a user who logs in monthly keeps their history.
    fn weight(&self, _now: i64, _stale: i64) -> (u32, i64) {
        (self.logins, self.last)
    }
}
