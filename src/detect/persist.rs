//! The detector consumer's durable state: one snapshot file holding the journal position
//! it stands for, the alerts raised before that position that are not yet known to be
//! durable in the journal, and the detector's windows and baselines.
//!
//! ```text
//! sealtrail-detector-snapshot v2 position=<P> pending=<N>
//! <trigger position> <alert index> <raised ns> <sealed alert line>      (N lines)
//! <the detector's state, Detector::save_to>
//! ```
//!
//! Keeping the pending alerts in the snapshot is what lets the detector move its cursor
//! (and so free journal space) without waiting for its own appends: while the journal
//! is full, its cursor may be the very thing the writer waits for. Written to a
//! temporary file, fsynced, renamed over the snapshot, directory fsynced: a crash
//! leaves the old snapshot or the new one, never a mix.
//!
//! Version 1 (written while the sealer ran the detector) has the same header without
//! `pending`, and the state after it.

use std::path::{Path, PathBuf};

use super::{DetectConfig, Detector};

const HEADER_V2: &str = "sealtrail-detector-snapshot v2 position=";
const HEADER_V1: &str = "sealtrail-detector-snapshot v1 position=";

/// An alert raised but not known to be durable in the journal yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAlert {
    pub trigger: u64,
    pub index: u16,
    pub raised_ns: i64,
    /// The sealed line (one JSON object, no newline).
    pub line: Vec<u8>,
}

impl PendingAlert {
    pub fn key(&self) -> (u64, u16) {
        (self.trigger, self.index)
    }
}

/// What a snapshot file held.
pub struct Loaded {
    pub detector: Detector,
    pub position: u64,
    pub pending: Vec<PendingAlert>,
    /// Written by a version whose sealer sealed alerts itself (v1): the alerts of the
    /// events up to the sealer's checkpoint are in the chain already.
    pub sealed_inline: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Reads the snapshot; `Ok(None)` when there is none.
pub fn load(path: &Path, cfg: &DetectConfig) -> Result<Option<Loaded>, PersistError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PersistError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let invalid = |message: &str| PersistError::Invalid {
        path: path.to_path_buf(),
        message: message.to_string(),
    };
    let (head, mut rest) = split_line(&bytes).ok_or_else(|| invalid("no header line"))?;
    let head = std::str::from_utf8(head).map_err(|_| invalid("header is not UTF-8"))?;
    let (position, count, sealed_inline) = if let Some(v2) = head.strip_prefix(HEADER_V2) {
        let (pos, pending) = v2
            .split_once(" pending=")
            .ok_or_else(|| invalid("header has no pending count"))?;
        (pos, pending, false)
    } else if let Some(v1) = head.strip_prefix(HEADER_V1) {
        (v1, "0", true)
    } else {
        return Err(invalid("unknown header"));
    };
    let position: u64 = position
        .parse()
        .map_err(|_| invalid("position is not a number"))?;
    let count: usize = count
        .parse()
        .map_err(|_| invalid("pending count is not a number"))?;
    let mut pending = Vec::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        let (line, after) = split_line(rest).ok_or_else(|| invalid("pending alert cut off"))?;
        pending.push(parse_pending(line).ok_or_else(|| invalid("pending alert unreadable"))?);
        rest = after;
    }
    let detector =
        Detector::restore(cfg.clone(), rest).map_err(|e| invalid(&format!("state: {e}")))?;
    Ok(Some(Loaded {
        detector,
        position,
        pending,
        sealed_inline,
    }))
}

fn split_line(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let nl = memchr::memchr(b'\n', b)?;
    Some((&b[..nl], &b[nl + 1..]))
}

fn parse_pending(line: &[u8]) -> Option<PendingAlert> {
    let mut parts = line.splitn(4, |&b| b == b' ');
    let mut num = || std::str::from_utf8(parts.next()?).ok();
    let trigger = num()?.parse().ok()?;
    let index = num()?.parse().ok()?;
    let raised_ns = num()?.parse().ok()?;
    let line = parts.next()?.to_vec();
    Some(PendingAlert {
        trigger,
        index,
        raised_ns,
        line,
    })
}

/// Writes the snapshot atomically (temporary file, fsync, rename, fsync directory),
/// streamed through a small buffer: never the whole state in memory at once.
pub fn save(
    path: &Path,
    detector: &Detector,
    position: u64,
    pending: &[&PendingAlert],
) -> Result<(), PersistError> {
    crate::journal::write_atomic_with(path, |w| {
        writeln!(w, "{HEADER_V2}{position} pending={}", pending.len())?;
        for p in pending {
            write!(w, "{} {} {} ", p.trigger, p.index, p.raised_ns)?;
            w.write_all(&p.line)?;
            w.write_all(b"\n")?;
        }
        detector.save_to(w).map_err(std::io::Error::other)
    })
    .map_err(|source| PersistError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_alerts_and_state_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("detector.snapshot");
        let cfg = DetectConfig::default();
        assert!(load(&path, &cfg).unwrap().is_none());
        let a = PendingAlert {
            trigger: 77,
            index: 1,
            raised_ns: -5,
            line: br#"{"message":"a b\\n c"}"#.to_vec(),
        };
        save(&path, &Detector::new(cfg.clone()), 1234, &[&a, &a]).unwrap();
        let l = load(&path, &cfg).unwrap().unwrap();
        assert_eq!((l.position, l.sealed_inline), (1234, false));
        assert_eq!(l.pending, vec![a.clone(), a]);

        // A version-1 file (the sealer's): no pending alerts, alerts sealed inline.
        let mut v1 = format!("{HEADER_V1}99\n").into_bytes();
        Detector::new(cfg.clone()).save_to(&mut v1).unwrap();
        std::fs::write(&path, v1).unwrap();
        let l = load(&path, &cfg).unwrap().unwrap();
        assert_eq!(
            (l.position, l.sealed_inline, l.pending.len()),
            (99, true, 0)
        );

        for bad in [
            &b"garbage\n"[..],
            b"sealtrail-detector-snapshot v2 position=1 pending=2\n1 0 0 {}\n",
            b"sealtrail-detector-snapshot v2 position=x pending=0\n{}",
        ] {
            std::fs::write(&path, bad).unwrap();
            assert!(
                matches!(load(&path, &cfg), Err(PersistError::Invalid { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
