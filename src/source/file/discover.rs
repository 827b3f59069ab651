//! Finding the files to tail: the include and exclude globs, and inotify on the
//! directories they cover.
//!
//! Discovery is a full evaluation of the include patterns (the `glob` crate: `*`, `?`,
//! `[...]`, `**`), minus what an exclude pattern matches, minus compressed files:
//! a name ending in `.gz`, `.bz2`, `.xz`, `.zst`, `.lz4`, `.zip` or `.Z` is what
//! logrotate's `compress` leaves, holds no lines, and is never read (a pattern such
//! as `/var/log/syslog*` would otherwise archive binary garbage on every rotation).
//!
//! It runs at start, on inotify events that change a directory (create, rename,
//! delete), debounced, and every `rescan_interval`. inotify watches directories, not
//! files: one watch per pattern's fixed prefix (recursive when the pattern has a
//! wildcard in a directory part) reports new files and writes to every file in it,
//! within the kernel's watch limit. A queue overflow (`IN_Q_OVERFLOW`), a watcher
//! error, or a full event queue of our own is treated as "anything may have
//! changed": a full rescan and a look at every file. Where no watch can be set (a
//! directory that does not exist yet, the limit reached, a file system without
//! inotify), the periodic rescan and a look at every open file each second still
//! find everything, later.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use notify::{RecursiveMode, Watcher as _};

use super::state::FileId;

/// Extensions of compressed files, never read.
const COMPRESSED: [&str; 8] = ["gz", "bz2", "xz", "zst", "lz4", "zip", "Z", "lzma"];

/// Events the watcher may queue before it only sets the overflow flag.
pub const EVENT_QUEUE: usize = 4096;

/// Whether `path` names a compressed file (by its extension).
pub fn is_compressed(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| COMPRESSED.contains(&e))
}

const MATCH: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// The include and exclude patterns of a source.
#[derive(Debug)]
pub struct Globs {
    include: Vec<String>,
    exclude: Vec<glob::Pattern>,
}

/// A directory the patterns cover could not be read.
#[derive(Debug)]
pub struct ScanError {
    pub path: PathBuf,
    pub error: std::io::Error,
}

impl Globs {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Globs, glob::PatternError> {
        for p in include {
            glob::Pattern::new(p)?;
        }
        Ok(Globs {
            include: include.to_vec(),
            exclude: exclude
                .iter()
                .map(|p| glob::Pattern::new(p))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Whether a path the include patterns match is to be read.
    pub fn admits(&self, path: &Path) -> bool {
        !is_compressed(path)
            && !self
                .exclude
                .iter()
                .any(|p| p.matches_path_with(path, MATCH))
    }

    /// Every path the patterns match now, sorted, without duplicates; directories
    /// that could not be read are reported in `errors`.
    pub fn scan(&self, errors: &mut Vec<ScanError>) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for pattern in &self.include {
            let Ok(paths) = glob::glob_with(pattern, MATCH) else {
                continue; // checked in `new`
            };
            for entry in paths {
                match entry {
                    Ok(p) if self.admits(&p) => out.push(p),
                    Ok(_) => {}
                    Err(e) => {
                        let path = e.path().to_path_buf();
                        errors.push(ScanError {
                            path,
                            error: e.into(),
                        });
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The directories to watch, and whether each needs a recursive watch.
    pub fn watch_roots(&self) -> Vec<(PathBuf, RecursiveMode)> {
        let mut roots: Vec<(PathBuf, RecursiveMode)> = Vec::new();
        for pattern in &self.include {
            let (root, mode) = watch_root(Path::new(pattern));
            match roots.iter_mut().find(|(r, _)| *r == root) {
                Some((_, m)) if mode == RecursiveMode::Recursive => *m = mode,
                Some(_) => {}
                None => roots.push((root, mode)),
            }
        }
        roots
    }
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The fixed directory a pattern starts with, and whether a wildcard follows in a
/// directory part (then files can appear at any depth below it).
fn watch_root(pattern: &Path) -> (PathBuf, RecursiveMode) {
    let comps: Vec<Component<'_>> = pattern.components().collect();
    let first_wild = comps
        .iter()
        .position(|c| has_wildcard(&c.as_os_str().to_string_lossy()));
    let (fixed, mode) = match first_wild {
        // A literal path: watch its directory.
        None => (comps.len().saturating_sub(1), RecursiveMode::NonRecursive),
        Some(i) if i + 1 == comps.len() => (i, RecursiveMode::NonRecursive),
        Some(i) => (i, RecursiveMode::Recursive),
    };
    let root: PathBuf = comps[..fixed].iter().collect();
    let root = if root.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        root
    };
    (root, mode)
}

/// What wakes the tailer thread.
#[derive(Debug)]
pub enum Wake {
    /// A file system event (or the watcher's error).
    Fs(notify::Result<notify::Event>),
    /// The daemon is stopping.
    Stop,
}

/// The inotify watches of one source.
pub struct Watch {
    watcher: Option<notify::RecommendedWatcher>,
    /// Root → the directory's identity when its watch was set (`None`: not set yet).
    watched: HashMap<PathBuf, Option<FileId>>,
    /// Set when the event queue was full: events were lost.
    pub overflowed: Arc<AtomicBool>,
}

impl Watch {
    /// A watcher that sends to `tx` (without ever blocking the watcher's thread).
    pub fn new(tx: SyncSender<Wake>, name: &str) -> Watch {
        let overflowed = Arc::new(AtomicBool::new(false));
        let flag = overflowed.clone();
        let handler = move |res: notify::Result<notify::Event>| {
            if let Err(TrySendError::Full(_)) = tx.try_send(Wake::Fs(res)) {
                flag.store(true, Ordering::Relaxed);
            }
        };
        let watcher = match notify::recommended_watcher(handler) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(source = %name, error = %e, "inotify is not available: new files are found by the periodic rescan and open files are checked every second");
                None
            }
        };
        Watch {
            watcher,
            watched: HashMap::new(),
            overflowed,
        }
    }

    /// Sets the watches that are missing, and again those whose directory was
    /// replaced (a watch follows the inode, not the name).
    pub fn ensure(&mut self, roots: &[(PathBuf, RecursiveMode)], name: &str) {
        let Some(w) = self.watcher.as_mut() else {
            return;
        };
        for (root, mode) in roots {
            let now = std::fs::metadata(root).ok().map(|m| FileId::of(&m));
            let before = self.watched.get(root).copied().flatten();
            if now.is_none() || now == before {
                continue;
            }
            match w.watch(root, *mode) {
                Ok(()) => {
                    tracing::debug!(source = %name, dir = %root.display(), "watching");
                    self.watched.insert(root.clone(), now);
                }
                Err(e) => {
                    if !self.watched.contains_key(root) {
                        tracing::warn!(source = %name, dir = %root.display(), error = %e, "cannot watch the directory with inotify: files in it are found by the periodic rescan");
                    }
                    self.watched.insert(root.clone(), None);
                }
            }
        }
    }
}

/// Events drained from the queue: what they ask the tailer to do.
#[derive(Debug, Default)]
pub struct Changes {
    /// Names changed (created, renamed, deleted): evaluate the patterns again.
    pub rescan: bool,
    /// Events may have been lost: rescan and look at every file.
    pub everything: bool,
    /// Paths whose content changed.
    pub modified: Vec<PathBuf>,
    pub stop: bool,
}

impl Changes {
    /// Takes what `wake` says.
    pub fn add(&mut self, wake: Wake) {
        use notify::event::{EventKind, ModifyKind};
        match wake {
            Wake::Stop => self.stop = true,
            Wake::Fs(Err(e)) => {
                tracing::debug!(error = %e, "file watcher error: rescanning");
                self.everything = true;
            }
            Wake::Fs(Ok(ev)) => {
                if ev.need_rescan() {
                    self.everything = true;
                    return;
                }
                match ev.kind {
                    EventKind::Modify(ModifyKind::Data(_)) | EventKind::Modify(ModifyKind::Any) => {
                        self.modified.extend(ev.paths)
                    }
                    EventKind::Access(_) => {}
                    // Creations, renames, deletions, and metadata (a permission fixed).
                    _ => self.rescan = true,
                }
            }
        }
    }

    /// Drains every queued wake without waiting.
    pub fn drain(&mut self, rx: &Receiver<Wake>) {
        while let Ok(w) = rx.try_recv() {
            self.add(w);
            if self.modified.len() > EVENT_QUEUE {
                self.modified.clear();
                self.everything = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_roots_are_the_fixed_prefixes() {
        let r = |p: &str| watch_root(Path::new(p));
        assert_eq!(
            r("/var/log/auth.log"),
            ("/var/log".into(), RecursiveMode::NonRecursive)
        );
        assert_eq!(
            r("/var/log/*.log"),
            ("/var/log".into(), RecursiveMode::NonRecursive)
        );
        assert_eq!(
            r("/var/log/**/x.log"),
            ("/var/log".into(), RecursiveMode::Recursive)
        );
        assert_eq!(
            r("/srv/*/logs/a.log"),
            ("/srv".into(), RecursiveMode::Recursive)
        );
        assert_eq!(r("*.log"), (".".into(), RecursiveMode::NonRecursive));
        let g = Globs::new(&["/a/*.log".into(), "/a/**/b".into()], &[]).unwrap();
        assert_eq!(
            g.watch_roots(),
            vec![("/a".into(), RecursiveMode::Recursive)]
        );
    }

    #[test]
    fn scan_applies_excludes_and_skips_compressed_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for n in [
            "a.log",
            "a.log.1",
            "a.log.2.gz",
            "b.log",
            "skip.log",
            "c.txt",
        ] {
            std::fs::write(d.join(n), b"x\n").unwrap();
        }
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/deep.log"), b"x\n").unwrap();
        let inc = vec![
            format!("{}/*.log*", d.display()),
            format!("{}/**/deep.log", d.display()),
        ];
        let exc = vec![format!("{}/skip*", d.display())];
        let g = Globs::new(&inc, &exc).unwrap();
        let mut errors = Vec::new();
        let got: Vec<String> = g
            .scan(&mut errors)
            .iter()
            .map(|p| p.strip_prefix(d).unwrap().display().to_string())
            .collect();
        assert_eq!(got, ["a.log", "a.log.1", "b.log", "sub/deep.log"]);
        assert!(errors.is_empty());
        assert!(is_compressed(Path::new("/var/log/syslog.2.gz")));
        assert!(!is_compressed(Path::new("/var/log/syslog.1")));
    }

    #[test]
    fn events_sort_into_rescans_and_modified_paths() {
        use notify::event::{CreateKind, DataChange, EventKind, ModifyKind};
        let mut c = Changes::default();
        c.add(Wake::Fs(Ok(notify::Event::new(EventKind::Modify(
            ModifyKind::Data(DataChange::Any),
        ))
        .add_path("/x/a.log".into()))));
        assert!(!c.rescan && !c.everything);
        assert_eq!(c.modified, vec![PathBuf::from("/x/a.log")]);
        c.add(Wake::Fs(Ok(notify::Event::new(EventKind::Create(
            CreateKind::File,
        )))));
        assert!(c.rescan);
        c.add(Wake::Fs(Ok(
            notify::Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan)
        )));
        assert!(c.everything);
        c.add(Wake::Fs(Err(notify::Error::generic("boom"))));
        c.add(Wake::Stop);
        assert!(c.stop);
    }
}
