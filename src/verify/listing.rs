//! Enumerating the archive's objects, where an entry that cannot be read is a finding,
//! not the end of the listing.
//!
//! Why local archives are walked here rather than through `object_store`: its
//! `LocalFileSystem` follows symlinks (walkdir), and under a tokio runtime its list
//! stream *ends* at the first walkdir error (a symlink loop, an unreadable directory),
//! dropping every entry not yet returned, while a dangling symlink is silently left
//! out. A verifier must neither stop at one bad entry nor hide one, so for a directory
//! the same walk (same crate, same symlink following, same hidden in-progress uploads)
//! is done here, and each error becomes an `unreadable` entry while the walk goes on.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use object_store::path::Path as StorePath;
use object_store::ObjectStore;

use super::VerifyError;

/// How a listed object is read.
#[derive(Debug, Clone)]
pub enum At {
    /// A file found by walking a local archive.
    File(PathBuf),
    /// An object of the store.
    Store(StorePath),
}

/// One entry of the listing.
#[derive(Debug)]
pub enum Listed {
    Object {
        location: String,
        size: u64,
        at: At,
    },
    /// An entry that could not be listed or is not an object: reported, not read.
    Unreadable {
        location: String,
        detail: String,
    },
}

impl Listed {
    pub fn location(&self) -> &str {
        match self {
            Listed::Object { location, .. } | Listed::Unreadable { location, .. } => location,
        }
    }
}

/// Lists through the store. An error item is reported as unreadable and the stream is
/// polled on (a store may go on after one); an error with nothing listed at all means
/// the store cannot be listed, which fails verification.
pub(super) async fn list_store(
    store: &dyn ObjectStore,
    prefix: &StorePath,
) -> Result<Vec<Listed>, VerifyError> {
    let arg = if prefix.as_ref().is_empty() {
        None
    } else {
        Some(prefix)
    };
    let mut stream = store.list(arg);
    let mut out = Vec::new();
    let mut listed_any = false;
    let mut first_error = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(meta) => {
                listed_any = true;
                out.push(Listed::Object {
                    location: meta.location.to_string(),
                    size: meta.size,
                    at: At::Store(meta.location),
                });
            }
            Err(e) => {
                out.push(Listed::Unreadable {
                    location: dir_object(prefix.as_ref()),
                    detail: format!("listing failed: {e}; entries after this point may be missing"),
                });
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) if !listed_any => Err(VerifyError::Store(e)),
        _ => Ok(out),
    }
}

/// `<prefix>/` as the report names a prefix (empty for the archive's root).
fn dir_object(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    }
}

/// `LocalFileSystem` hides `<name>#<digits>`: a staged upload not yet renamed into place
/// (a `kill -9` in the middle of an upload to a directory archive leaves one behind).
pub fn is_staged_upload(name: &str) -> bool {
    name.split_once('#')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The report's name for `path` below `root`: its components joined by `/`.
fn location_of(root: &Path, path: &Path) -> Result<String, String> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut parts = Vec::new();
    for c in rel.components() {
        let s = c.as_os_str();
        match s.to_str() {
            Some(s) => parts.push(s.to_owned()),
            None => parts.push(s.to_string_lossy().into_owned()),
        }
    }
    let joined = parts.join("/");
    if rel.to_str().is_some() {
        Ok(joined)
    } else {
        Err(joined)
    }
}

fn file_kind(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "a fifo"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_char_device() {
        "a character device"
    } else {
        "not a regular file"
    }
}

/// Why walkdir could not list `err.path()`, in the auditor's terms.
fn walk_error_detail(root: &Path, err: &walkdir::Error) -> String {
    if let Some(ancestor) = err.loop_ancestor() {
        let to = location_of(root, ancestor).unwrap_or_else(|l| l);
        return format!("symlink loop: it leads back to its ancestor {to}/");
    }
    let Some(io) = err.io_error() else {
        return err.to_string();
    };
    if io.kind() == std::io::ErrorKind::NotFound {
        if let Some(path) = err.path() {
            if let Ok(target) = std::fs::read_link(path) {
                return format!("dangling symlink to {}: {io}", target.display());
            }
        }
        return format!("vanished while the archive was listed: {io}");
    }
    io.to_string()
}

/// Walks `root/<prefix>` (blocking). Only an error on that directory itself fails the
/// walk (it cannot be listed at all); a missing one lists nothing, as the store does.
pub(super) fn walk_dir(root: &Path, prefix: &StorePath) -> Result<Vec<Listed>, VerifyError> {
    let start = prefix
        .parts()
        .fold(root.to_path_buf(), |p, part| p.join(part.as_ref()));
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&start).follow_links(true) {
        let entry = match entry {
            Ok(e) => e,
            Err(err) if err.depth() == 0 => {
                if err
                    .io_error()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound)
                {
                    return Ok(Vec::new());
                }
                return Err(VerifyError::List {
                    path: start,
                    source: err,
                });
            }
            Err(err) => {
                let path = err.path().unwrap_or(&start);
                out.push(Listed::Unreadable {
                    location: location_of(root, path).unwrap_or_else(|l| l),
                    detail: walk_error_detail(root, &err),
                });
                continue;
            }
        };
        let ft = entry.file_type();
        if entry.depth() == 0 || ft.is_dir() {
            continue;
        }
        let location = match location_of(root, entry.path()) {
            Ok(l) => l,
            Err(lossy) => {
                out.push(Listed::Unreadable {
                    location: lossy,
                    detail: "the name is not UTF-8, so it cannot be an object key".into(),
                });
                continue;
            }
        };
        if !ft.is_file() {
            out.push(Listed::Unreadable {
                location,
                detail: format!("{}, not an object", file_kind(ft)),
            });
            continue;
        }
        if is_staged_upload(entry.file_name().to_str().unwrap_or_default()) {
            continue;
        }
        match entry.metadata() {
            Ok(m) => out.push(Listed::Object {
                location,
                size: m.len(),
                at: At::File(entry.path().to_path_buf()),
            }),
            Err(err) => out.push(Listed::Unreadable {
                detail: walk_error_detail(root, &err),
                location,
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names(v: &[Listed]) -> Vec<(bool, String)> {
        let mut n: Vec<(bool, String)> = v
            .iter()
            .map(|l| (matches!(l, Listed::Object { .. }), l.location().to_owned()))
            .collect();
        n.sort();
        n
    }

    #[test]
    fn walk_reports_bad_entries_and_lists_the_rest() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for f in ["s/2024/05/01/a", "s/2024/05/01/b", "t/x", "s/up#12"] {
            std::fs::create_dir_all(r.join(f).parent().unwrap()).unwrap();
            std::fs::write(r.join(f), b"x").unwrap();
        }
        symlink("loop", r.join("s/loop")).unwrap();
        symlink(".", r.join("s/2024/again")).unwrap();
        symlink("nowhere", r.join("t/dangling")).unwrap();
        symlink("x", r.join("t/alias")).unwrap();
        let v = walk_dir(r, &StorePath::default()).unwrap();
        assert_eq!(
            names(&v),
            vec![
                (false, "s/2024/again".to_string()),
                (false, "s/loop".to_string()),
                (false, "t/dangling".to_string()),
                (true, "s/2024/05/01/a".to_string()),
                (true, "s/2024/05/01/b".to_string()),
                (true, "t/alias".to_string()),
                (true, "t/x".to_string()),
            ]
        );
        let detail = |loc: &str| {
            v.iter()
                .find_map(|l| match l {
                    Listed::Unreadable { location, detail } if location == loc => {
                        Some(detail.clone())
                    }
                    _ => None,
                })
                .unwrap()
        };
        assert!(
            detail("s/loop").contains("symbolic links"),
            "{}",
            detail("s/loop")
        );
        assert!(
            detail("s/2024/again").contains("s/2024/"),
            "{}",
            detail("s/2024/again")
        );
        assert!(detail("t/dangling").starts_with("dangling symlink to nowhere"));
        // Under a prefix, and a prefix that does not exist.
        let v = walk_dir(r, &StorePath::from("t")).unwrap();
        assert_eq!(names(&v).len(), 3);
        assert!(walk_dir(r, &StorePath::from("nobody")).unwrap().is_empty());
    }

    #[test]
    fn staged_uploads_are_hidden_like_the_store_hides_them() {
        assert!(is_staged_upload("000000000001.seg.zst#3"));
        assert!(!is_staged_upload("000000000001.seg.zst"));
        assert!(!is_staged_upload("a#b"));
        assert!(!is_staged_upload("a#"));
    }
}
