//! What identifies a tailed file, and the checkpoint that remembers how far each one
//! was read.
//!
//! # Identity
//!
//! A file is its device and inode **plus** a fingerprint of its first bytes. While
//! the daemon holds a file open its inode cannot be reused, so device and inode alone
//! would do; across a restart they do not: a deleted file's inode is soon given to a
//! new file (ext4 does so at once), and resuming that file at the old one's offset
//! would skip its first lines. The fingerprint is a hash of the first
//! [`FINGERPRINT_BYTES`] bytes. A file shorter than that gets the hash of what it has
//! (its length is kept with the hash) and a longer one as it grows; a file matches a
//! fingerprint when its first `len` bytes hash to it. Unlike Vector's checksum of the
//! first line, a file is read at once, before it has a full line or 256 bytes.
//!
//! Paths are no identity at all: rotation gives an old file a new name (and the old
//! name to a new file); the path is kept for people, and for the records' `log.file.path`.
//!
//! # Checkpoint
//!
//! One JSON document per source (`<state>/checkpoints/<name>-<hash>.json`, written by
//! [`crate::source::CheckpointStore`] only once the journal holds every line before the
//! positions it names):
//!
//! ```json
//! {"version":1,"written_ns":1732269600000000000,"files":[
//!   {"path":"/var/log/auth.log","dev":2049,"ino":393231,"fp_len":256,
//!    "fp":"9f2c4e1a0b7d3c55","offset":48213}]}
//! ```
//!
//! `offset` is where the next line to journal starts (a partial last line is read
//! again). Entries exist only for files the source holds or may still resume, so the
//! state stays as small as the set of matched files: files that are gone expire.

use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bytes at the start of a file that its fingerprint covers.
pub const FINGERPRINT_BYTES: usize = 256;

/// The checkpoint format this build writes.
pub const CHECKPOINT_VERSION: u32 = 1;

/// Device and inode: who a file is while it exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(meta: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// A hash of a file's first `len` bytes (`len` up to [`FINGERPRINT_BYTES`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub len: u16,
    pub hash: u64,
}

fn hash(bytes: &[u8]) -> u64 {
    let d = Sha256::digest(bytes);
    let mut h = [0u8; 8];
    h.copy_from_slice(&d[..8]);
    u64::from_be_bytes(h)
}

impl Fingerprint {
    /// The fingerprint of `bytes` (at most [`FINGERPRINT_BYTES`] of them are used).
    pub fn of(bytes: &[u8]) -> Fingerprint {
        let bytes = &bytes[..bytes.len().min(FINGERPRINT_BYTES)];
        Fingerprint {
            len: bytes.len() as u16,
            hash: hash(bytes),
        }
    }

    /// Whether it covers all the bytes it ever will.
    pub fn complete(&self) -> bool {
        usize::from(self.len) >= FINGERPRINT_BYTES
    }

    /// Reads the first bytes of `file` (of `size` bytes) and fingerprints them.
    pub fn read(file: &File, size: u64) -> io::Result<Fingerprint> {
        let mut buf = [0u8; FINGERPRINT_BYTES];
        let want = usize::try_from(size)
            .unwrap_or(FINGERPRINT_BYTES)
            .min(FINGERPRINT_BYTES);
        let n = read_full_at(file, &mut buf[..want], 0)?;
        Ok(Fingerprint::of(&buf[..n]))
    }

    /// Whether the first `self.len` bytes of `file` still hash to this fingerprint;
    /// on success, the fingerprint over as many bytes as the file has now (up to
    /// [`FINGERPRINT_BYTES`]), which may be longer than `self`.
    pub fn recheck(&self, file: &File, size: u64) -> io::Result<Option<Fingerprint>> {
        if size < u64::from(self.len) {
            return Ok(None);
        }
        let mut buf = [0u8; FINGERPRINT_BYTES];
        let want = usize::try_from(size)
            .unwrap_or(FINGERPRINT_BYTES)
            .min(FINGERPRINT_BYTES);
        let n = read_full_at(file, &mut buf[..want], 0)?;
        let len = usize::from(self.len);
        if n < len || hash(&buf[..len]) != self.hash {
            return Ok(None);
        }
        Ok(Some(if n == len {
            *self
        } else {
            Fingerprint::of(&buf[..n])
        }))
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
pub fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// The checkpoint of one source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    /// When it was taken (ns since the Unix epoch): a file created after it appeared
    /// while the daemon was stopped, and is read from its start.
    pub written_ns: i64,
    pub files: Vec<FileCheckpoint>,
}

/// How far one file was journalled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    /// The path it was found at (its bytes as hex in `path_hex` when they are not
    /// UTF-8): for people, for the records, and where to look for it after a restart.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_hex: Option<String>,
    pub dev: u64,
    pub ino: u64,
    pub fp_len: u16,
    /// The fingerprint's hash, 16 hex digits.
    pub fp: String,
    /// Where the next line to journal starts.
    pub offset: u64,
}

impl FileCheckpoint {
    pub fn new(path: &std::path::Path, id: FileId, fp: Fingerprint, offset: u64) -> Self {
        let bytes = path.as_os_str().as_bytes();
        let (path, path_hex) = match std::str::from_utf8(bytes) {
            Ok(s) => (s.to_string(), None),
            Err(_) => (
                String::from_utf8_lossy(bytes).into_owned(),
                Some(hex::encode(bytes)),
            ),
        };
        FileCheckpoint {
            path,
            path_hex,
            dev: id.dev,
            ino: id.ino,
            fp_len: fp.len,
            fp: format!("{:016x}", fp.hash),
            offset,
        }
    }

    pub fn id(&self) -> FileId {
        FileId {
            dev: self.dev,
            ino: self.ino,
        }
    }

    /// The path, byte-exact.
    pub fn path_buf(&self) -> PathBuf {
        use std::os::unix::ffi::OsStringExt;
        match self.path_hex.as_deref().and_then(|h| hex::decode(h).ok()) {
            Some(bytes) => PathBuf::from(std::ffi::OsString::from_vec(bytes)),
            None => PathBuf::from(&self.path),
        }
    }

    /// The fingerprint, if the entry's one is well-formed.
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        let hash = u64::from_str_radix(&self.fp, 16).ok()?;
        (usize::from(self.fp_len) <= FINGERPRINT_BYTES).then_some(Fingerprint {
            len: self.fp_len,
            hash,
        })
    }

    /// Whether `file` (with id `id`, `size` bytes) is the file this entry describes:
    /// same device and inode, and its first bytes still hash to the fingerprint.
    /// Returns the (possibly longer) fingerprint of the file now.
    pub fn matches(&self, id: FileId, file: &File, size: u64) -> io::Result<Option<Fingerprint>> {
        if id != self.id() {
            return Ok(None);
        }
        match self.fingerprint() {
            Some(fp) => fp.recheck(file, size),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_short_file_grows_into_its_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        let mut w = std::fs::File::create(&p).unwrap();
        w.write_all(b"first li").unwrap();
        let f = File::open(&p).unwrap();
        let fp = Fingerprint::read(&f, 8).unwrap();
        assert_eq!(fp.len, 8);
        assert!(!fp.complete());
        // It grows: the old fingerprint still matches, and extends.
        w.write_all(&[b'x'; 400]).unwrap();
        let longer = fp.recheck(&f, 408).unwrap().unwrap();
        assert_eq!(longer.len, 256);
        assert!(longer.complete());
        assert_eq!(longer.recheck(&f, 408).unwrap(), Some(longer));
        // Rewritten in place (same inode, new content): no match.
        std::fs::write(&p, [b'y'; 300]).unwrap();
        assert_eq!(longer.recheck(&f, 300).unwrap(), None);
        assert_eq!(fp.recheck(&f, 300).unwrap(), None);
        // Shorter than the fingerprint: no match.
        std::fs::write(&p, b"first").unwrap();
        assert_eq!(fp.recheck(&f, 5).unwrap(), None);
        // An empty fingerprint matches any content.
        let empty = Fingerprint::of(b"");
        assert!(empty.recheck(&f, 5).unwrap().is_some());
    }

    #[test]
    fn checkpoint_entries_roundtrip_and_match_only_their_file() {
        use std::os::unix::ffi::OsStringExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.log");
        std::fs::write(&p, b"Nov 22 10:00:00 h sshd[1]: hello\n").unwrap();
        let f = File::open(&p).unwrap();
        let meta = f.metadata().unwrap();
        let id = FileId::of(&meta);
        let fp = Fingerprint::read(&f, meta.len()).unwrap();
        let e = FileCheckpoint::new(&p, id, fp, 33);
        let json = serde_json::to_string(&e).unwrap();
        let back: FileCheckpoint = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.path_buf(), p);
        assert_eq!(back.matches(id, &f, meta.len()).unwrap(), Some(fp));
        let other = FileId {
            dev: id.dev,
            ino: id.ino + 1,
        };
        assert_eq!(back.matches(other, &f, meta.len()).unwrap(), None);
        // A non-UTF-8 path survives byte for byte.
        let odd = PathBuf::from(std::ffi::OsString::from_vec(b"/var/log/\xffx.log".to_vec()));
        let e = FileCheckpoint::new(&odd, id, fp, 0);
        assert!(e.path_hex.is_some());
        assert_eq!(e.path_buf(), odd);
        // A damaged fingerprint matches nothing.
        let mut bad = back.clone();
        bad.fp = "zz".into();
        assert_eq!(bad.matches(id, &f, meta.len()).unwrap(), None);
    }
}
