//! The detector's state across restarts: [`Detector::save`] writes windows and
//! baselines as JSON, [`Detector::restore`] reads them back under a (possibly changed)
//! configuration.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{
    longest_window, Baseline, DetectConfig, DetectError, Detector, SourceState, UserState,
};

pub(super) const SNAPSHOT_VERSION: u32 = 1;

#[derive(Serialize)]
struct SnapshotRef<'a> {
    version: u32,
    now: i64,
    sources: Vec<(&'a IpAddr, &'a SourceState)>,
    users: Vec<(&'a String, &'a UserState)>,
    baselines: Vec<(&'a String, &'a Baseline)>,
    /// Groups of the rules users wrote, by rule id (added within version 1).
    custom: Vec<(&'a str, Vec<(&'a String, &'a super::custom::Group)>)>,
    /// The access rules' actors (added within version 1).
    actors: Vec<(&'a String, &'a super::access::Actor)>,
    /// The file-watch rule's (host, program, file) keys and last touches (added within
    /// version 1).
    watched: Vec<(&'a String, &'a i64)>,
}

#[derive(Deserialize)]
struct Snapshot {
    version: u32,
    now: i64,
    sources: Vec<(IpAddr, SourceState)>,
    users: Vec<(String, UserState)>,
    baselines: Vec<(String, Baseline)>,
    #[serde(default)]
    custom: Vec<(String, Vec<(String, super::custom::Group)>)>,
    #[serde(default)]
    actors: Vec<(String, super::access::Actor)>,
    #[serde(default)]
    watched: Vec<(String, i64)>,
}

impl Detector {
    /// Serialises windows and baselines (JSON). Entries whose windows have all expired
    /// at the newest observed time are left out.
    pub fn save(&self) -> Result<Vec<u8>, DetectError> {
        let mut out = Vec::new();
        self.save_to(&mut out)?;
        Ok(out)
    }

    /// [`Detector::save`] straight into `w`: a state of tens of thousands of sources is
    /// megabytes of JSON, which need not be held in memory on the way to a file.
    pub fn save_to(&self, w: impl std::io::Write) -> Result<(), DetectError> {
        let max_w = longest_window(&self.cfg);
        let live = |last: i64| self.now.saturating_sub(last) <= max_w;
        let snap = SnapshotRef {
            version: SNAPSHOT_VERSION,
            now: self.now,
            sources: self.sources.iter().filter(|e| live(e.1.last)).collect(),
            users: self.users.iter().filter(|e| live(e.1.last)).collect(),
            baselines: self.baselines.iter().collect(),
            custom: self
                .custom
                .iter()
                .map(|r| (r.id(), r.groups(self.now)))
                .collect(),
            actors: self.access.actors(),
            watched: self.watch.seen(),
        };
        Ok(serde_json::to_writer(w, &snap)?)
    }

    /// Rebuilds a detector from [`Detector::save`] output under `cfg` (rings are cut to
    /// the configured thresholds, tables to the configured caps).
    pub fn restore(cfg: DetectConfig, bytes: &[u8]) -> Result<Detector, DetectError> {
        let snap: Snapshot = serde_json::from_slice(bytes)?;
        if snap.version != SNAPSHOT_VERSION {
            return Err(DetectError::Version(snap.version));
        }
        let mut d = Detector::new(cfg);
        d.now = snap.now;
        let c = &d.cfg;
        let ev_max = c.max_evidence as usize;
        let now = d.now;
        for (ip, mut s) in snap.sources {
            s.brute.resize(c.brute_force.threshold as usize);
            s.invalid.resize(c.invalid_user.threshold as usize);
            s.before_success
                .resize(c.success_after_failures.threshold as usize);
            s.spray.resize(c.password_spray.threshold as usize);
            s.root.resize(1);
            s.evidence.resize(ev_max);
            d.sources.insert_restored(ip, s, now);
        }
        for (u, mut s) in snap.users {
            s.sources.resize(c.distributed_guessing.threshold as usize);
            s.sudo.resize(c.sudo_failure.threshold as usize);
            s.denied.resize(c.not_in_sudoers.threshold as usize);
            s.evidence.resize(ev_max);
            d.users.insert_restored(u, s, now);
        }
        let max_src = c.new_source.max_sources_per_user as usize;
        for (u, mut b) in snap.baselines {
            if b.sources.len() > max_src {
                b.sources.sort_by_key(|s| std::cmp::Reverse(s.1));
                b.sources.truncate(max_src);
            }
            b.root.resize(1);
            d.baselines.insert_restored(u, b, now);
        }
        // A rule that is gone, or renamed, starts empty; a changed one keeps its groups.
        for (id, groups) in snap.custom {
            if let Some(r) = d.custom.iter_mut().find(|r| r.id() == id) {
                for (k, g) in groups {
                    r.restore(k, g, now);
                }
            }
        }
        for (actor, a) in snap.actors {
            d.access.restore(actor, a, now);
        }
        for (key, last) in snap.watched {
            d.watch.restore(key, last);
        }
        Ok(d)
    }
}
