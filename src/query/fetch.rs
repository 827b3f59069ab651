//! Reading one listed object for the query reader: its seal alone (from its tail, to
//! select by period without reading the content), or the whole object into memory (so
//! that the events handed on come from exactly the bytes that were checked).

use std::io::{Read, Seek, SeekFrom};

use object_store::{GetOptions, GetRange, ObjectStore};

use crate::segment::{self, Located, TAIL_MAX};
use crate::verify::{At, ProblemKind, MAX_OBJECT_BYTES};

/// The seal of the object at `at` (`size` bytes as listed), read from its first bytes
/// and its last [`TAIL_MAX`]. An error means only that the seal could not be placed that
/// way; the caller then reads the whole object, whose check says exactly what is wrong.
pub(super) async fn read_seal(
    store: &dyn ObjectStore,
    at: &At,
    size: u64,
) -> Result<Located, String> {
    match at {
        At::File(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                let mut f = std::fs::File::open(&path).map_err(|e| e.to_string())?;
                segment::read_seal(&mut f).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())?
        }
        At::Store(location) => {
            let tail_len = size.min(TAIL_MAX as u64);
            let get = |range| GetOptions {
                range: Some(range),
                ..GetOptions::default()
            };
            let tail = store
                .get_opts(location, get(GetRange::Suffix(tail_len)))
                .await
                .map_err(|e| e.to_string())?
                .bytes()
                .await
                .map_err(|e| e.to_string())?;
            let head = if size <= tail_len {
                tail.slice(..tail.len().min(4))
            } else {
                store
                    .get_opts(location, get(GetRange::Bounded(0..4)))
                    .await
                    .map_err(|e| e.to_string())?
                    .bytes()
                    .await
                    .map_err(|e| e.to_string())?
            };
            // A store that answers with more than was asked (or an object that grew since
            // it was listed) must not make the arithmetic below wrap.
            let mut r = Sparse {
                len: size.max(tail.len() as u64),
                head: head.to_vec(),
                tail: tail.to_vec(),
                pos: 0,
            };
            segment::read_seal(&mut r).map_err(|e| e.to_string())
        }
    }
}

/// The whole object, at most [`MAX_OBJECT_BYTES`]; a failure is the problem to report.
pub(super) async fn read_all(
    store: &dyn ObjectStore,
    at: &At,
) -> Result<Vec<u8>, (ProblemKind, String)> {
    let too_large = || {
        (
            ProblemKind::TooLarge,
            format!("more than {MAX_OBJECT_BYTES} bytes when read"),
        )
    };
    let bytes = match at {
        At::File(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                let f = std::fs::File::open(&path)?;
                let mut buf = Vec::new();
                f.take(MAX_OBJECT_BYTES + 1).read_to_end(&mut buf)?;
                Ok::<_, std::io::Error>(buf)
            })
            .await
            .map_err(|e| (ProblemKind::Unreadable, e.to_string()))?
            .map_err(|e| (ProblemKind::Unreadable, format!("cannot read: {e}")))?
        }
        At::Store(location) => store
            .get(location)
            .await
            .map_err(|e| (ProblemKind::Unreadable, format!("cannot read: {e}")))?
            .bytes()
            .await
            .map_err(|e| (ProblemKind::Unreadable, format!("cannot read: {e}")))?
            .to_vec(),
    };
    if bytes.len() as u64 > MAX_OBJECT_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// An object of which only the first bytes and the tail are at hand, read as a file:
/// enough for [`segment::read_seal`]; a read anywhere else fails.
struct Sparse {
    len: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
    pos: u64,
}

impl Read for Sparse {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let tail_start = self.len.saturating_sub(self.tail.len() as u64);
        let (src, from) = if self.pos >= tail_start {
            (&self.tail, self.pos - tail_start)
        } else if self.pos < self.head.len() as u64 {
            (&self.head, self.pos)
        } else {
            return Err(std::io::Error::other(
                "only the object's head and tail were read",
            ));
        };
        let from = usize::try_from(from).map_err(std::io::Error::other)?;
        let rest = src.get(from..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Sparse {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| std::io::Error::other("seek out of range"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparse_object_serves_its_head_and_tail_only() {
        let mut r = Sparse {
            len: 100,
            head: b"abcd".to_vec(),
            tail: (90u8..100).collect(),
            pos: 0,
        };
        let mut b = [0u8; 4];
        r.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"abcd");
        r.seek(SeekFrom::End(-10)).unwrap();
        let mut t = Vec::new();
        r.read_to_end(&mut t).unwrap();
        assert_eq!(t, (90u8..100).collect::<Vec<_>>());
        r.seek(SeekFrom::Start(50)).unwrap();
        assert!(r.read(&mut b).is_err());
    }
}
