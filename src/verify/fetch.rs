//! Reading objects for the verifier. Each object is read once, as a stream, in chunks,
//! on a blocking thread (hashing and decoding are CPU work); only an authentic seal
//! whose content is longer than `DECODE_AHEAD` has its data frame read a second time,
//! as exactly `data_len` bytes. A failure to open or read an object is reported as
//! `unreadable` for that object; it never stops the others.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectStore};

use crate::segment::stream::{FrameDigester, ObjectScanner, Scanned};
use crate::segment::SegmentError;

use super::listing::{At, Listed};
use super::object::{check_scanned, Checked, Ctx, Outcome};
use super::{ProblemKind, VerifyError, MAX_OBJECT_BYTES};

/// Bytes read from a file at once.
const READ_CHUNK: usize = 64 * 1024;

/// An opened object (or range of one).
enum Body {
    /// A local file, positioned at the start of the range, and the range's length.
    File(std::fs::File, u64),
    Stream(BoxStream<'static, object_store::Result<Bytes>>),
}

/// How one read of an object ended.
enum ReadEnd {
    /// Everything was read (or enough to decide).
    Done,
    /// The object turned out longer than [`MAX_OBJECT_BYTES`] while being read.
    TooLarge,
    Failed(String),
}

async fn open(store: &dyn ObjectStore, at: &At, range: Option<u64>) -> Result<Body, String> {
    match at {
        At::File(path) => {
            let path = path.clone();
            let opened = tokio::task::spawn_blocking(move || -> std::io::Result<Body> {
                let mut f = std::fs::File::open(&path)?;
                f.seek(SeekFrom::Start(0))?;
                Ok(Body::File(f, range.unwrap_or(u64::MAX)))
            })
            .await
            .map_err(|e| e.to_string())?;
            opened.map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => format!("listed, then gone when read: {e}"),
                _ => format!("cannot open: {e}"),
            })
        }
        At::Store(location) => {
            let opts = GetOptions {
                range: range.map(|n| GetRange::Bounded(0..n)),
                ..GetOptions::default()
            };
            let got = store.get_opts(location, opts).await.map_err(|e| match e {
                object_store::Error::NotFound { .. } => {
                    format!("listed, then gone when read: {e}")
                }
                e => format!("cannot read: {e}"),
            })?;
            let len = got.range.end.saturating_sub(got.range.start);
            match got.payload {
                GetResultPayload::File(mut f, _) => {
                    let start = got.range.start;
                    tokio::task::spawn_blocking(move || {
                        f.seek(SeekFrom::Start(start)).map(|_| Body::File(f, len))
                    })
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("cannot read: {e}"))
                }
                GetResultPayload::Stream(s) => Ok(Body::Stream(s)),
            }
        }
    }
}

/// Feeds the body to `feed` in order until it ends, `feed` says stop, or more than
/// `max` bytes came. Returns the bytes read and the file (to read it again).
fn pump(
    body: Body,
    max: u64,
    handle: &tokio::runtime::Handle,
    mut feed: impl FnMut(&[u8]) -> bool,
) -> (ReadEnd, u64, Option<std::fs::File>) {
    let mut read = 0u64;
    match body {
        Body::File(f, len) => {
            let mut buf = vec![0u8; READ_CHUNK];
            let mut r = f.take(len.min(max.saturating_add(1)));
            loop {
                let n = match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let end = ReadEnd::Failed(format!("read failed after {read} bytes: {e}"));
                        return (end, read, None);
                    }
                };
                read += n as u64;
                if read > max {
                    return (ReadEnd::TooLarge, read, Some(r.into_inner()));
                }
                if !feed(&buf[..n]) {
                    break;
                }
            }
            (ReadEnd::Done, read, Some(r.into_inner()))
        }
        Body::Stream(mut s) => {
            while let Some(chunk) = handle.block_on(s.next()) {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        let end = ReadEnd::Failed(format!("read failed after {read} bytes: {e}"));
                        return (end, read, None);
                    }
                };
                read += chunk.len() as u64;
                if read > max {
                    return (ReadEnd::TooLarge, read, None);
                }
                if !feed(&chunk) {
                    break;
                }
            }
            (ReadEnd::Done, read, None)
        }
    }
}

/// What the first read of an object gave.
struct FirstRead {
    scanned: Result<Scanned, ReadEnd>,
    read: u64,
    /// The open file, for a second read of the same file.
    file: Option<std::fs::File>,
}

/// The first (usually only) read: the whole object through the scanner.
fn scan(
    body: Body,
    decode_ahead: u64,
    handle: &tokio::runtime::Handle,
) -> Result<FirstRead, SegmentError> {
    let mut scanner = ObjectScanner::new(decode_ahead)?;
    let (end, read, file) = pump(body, MAX_OBJECT_BYTES, handle, |chunk| {
        scanner.feed(chunk);
        !scanner.decided()
    });
    let scanned = match end {
        ReadEnd::Done => Ok(scanner.finish()),
        other => Err(other),
    };
    Ok(FirstRead {
        scanned,
        read,
        file,
    })
}

/// The second read: the data frame, decoded in full against the seal's limit.
fn digest_again(
    body: Body,
    data_len: u64,
    content_len: u64,
    outcome: &mut Outcome,
    handle: &tokio::runtime::Handle,
) -> Result<u64, SegmentError> {
    let mut digester = FrameDigester::new(content_len)?;
    let (end, read, _) = pump(body, data_len, handle, |chunk| {
        digester.feed(chunk);
        true
    });
    match end {
        ReadEnd::Done if read == data_len => {
            let (sha, decoded) = digester.finish();
            outcome.finish_content(sha, decoded);
        }
        ReadEnd::Done | ReadEnd::TooLarge => outcome.content_unreadable(format!(
            "read again for its content, the data frame gave {read} bytes, not {data_len}"
        )),
        ReadEnd::Failed(detail) => {
            outcome.content_unreadable(format!("reading the data frame again: {detail}"))
        }
    }
    Ok(read)
}

fn task_error(e: tokio::task::JoinError) -> VerifyError {
    VerifyError::Task(e.to_string())
}

fn resource_error(e: SegmentError) -> VerifyError {
    VerifyError::Task(e.to_string())
}

/// Checks one listed entry; returns its outcome and the bytes read for it.
pub(super) async fn check_listed(
    store: &dyn ObjectStore,
    item: Listed,
    ctx: Arc<Ctx>,
) -> Result<(Outcome, u64), VerifyError> {
    let (location, size, at) = match item {
        Listed::Unreadable { location, detail } => {
            return Ok((
                Outcome::reported(location, ProblemKind::Unreadable, detail),
                0,
            ))
        }
        Listed::Object { location, size, at } => (location, size, at),
    };
    if size > MAX_OBJECT_BYTES {
        let detail = format!("{size} bytes, limit {MAX_OBJECT_BYTES}");
        return Ok((
            Outcome::reported(location, ProblemKind::TooLarge, detail),
            0,
        ));
    }
    let body = match open(store, &at, None).await {
        Ok(b) => b,
        Err(detail) => {
            return Ok((
                Outcome::reported(location, ProblemKind::Unreadable, detail),
                0,
            ))
        }
    };
    let handle = tokio::runtime::Handle::current();
    let (checked, read, file) = tokio::task::spawn_blocking(move || {
        let FirstRead {
            scanned,
            read,
            file,
        } = scan(body, ctx.decode_ahead.min(ctx.max_content), &handle)?;
        let reported = |kind, detail| Checked {
            outcome: Outcome::reported(location.clone(), kind, detail),
            decode_again: false,
        };
        let checked = match scanned {
            Ok(s) => check_scanned(location.clone(), s, &ctx),
            Err(ReadEnd::TooLarge) => reported(
                ProblemKind::TooLarge,
                format!("more than {MAX_OBJECT_BYTES} bytes when read (listed as {size})"),
            ),
            Err(ReadEnd::Failed(detail)) => reported(ProblemKind::Unreadable, detail),
            Err(ReadEnd::Done) => reported(
                ProblemKind::Unreadable,
                "read ended without a result".into(),
            ),
        };
        Ok::<_, SegmentError>((checked, read, file))
    })
    .await
    .map_err(task_error)?
    .map_err(resource_error)?;
    let mut outcome = checked.outcome;
    let lengths = outcome.pending_seal().map(|s| (s.data_len, s.content_len));
    let Some((data_len, content_len)) = lengths.filter(|_| checked.decode_again) else {
        return Ok((outcome, read));
    };
    // The same open file when there is one (no second lookup by name; seeking never
    // blocks), else a ranged GET of exactly the data frame.
    let body = match file {
        Some(mut f) => match f.seek(SeekFrom::Start(0)) {
            Ok(_) => Ok(Body::File(f, data_len)),
            Err(e) => Err(format!("cannot read again: {e}")),
        },
        None => open(store, &at, Some(data_len)).await,
    };
    let body = match body {
        Ok(b) => b,
        Err(detail) => {
            outcome.content_unreadable(detail);
            return Ok((outcome, read));
        }
    };
    let handle = tokio::runtime::Handle::current();
    let (outcome, again) = tokio::task::spawn_blocking(move || {
        let again = digest_again(body, data_len, content_len, &mut outcome, &handle)?;
        Ok::<_, SegmentError>((outcome, again))
    })
    .await
    .map_err(task_error)?
    .map_err(resource_error)?;
    Ok((outcome, read + again))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{SealHeader, SealKind, SegmentBuilder};
    use ed25519_dalek::SigningKey;
    use object_store::path::Path as StorePath;
    use object_store::PutPayload;

    fn ctx(decode_ahead: u64) -> Arc<Ctx> {
        let vk = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        Arc::new(Ctx {
            prefix: String::new(),
            keyring: vk.into(),
            decode_ahead,
            max_content: crate::verify::MAX_CONTENT_BYTES,
        })
    }

    fn object() -> (String, Vec<u8>) {
        let mut b = SegmentBuilder::new(1).unwrap();
        for i in 0..500 {
            b.push_line(format!("{{\"line\":{i}}}").as_bytes(), 0);
        }
        let h = SealHeader {
            kind: SealKind::Normal,
            stream: "s".into(),
            seq: 0,
            prev_hash: [0; 32],
            period_start_ns: 0,
            period_end_ns: 1,
            heartbeat_ms: 60_000,
            next_key: None,
        };
        let s = b.finish(h, &SigningKey::from_bytes(&[8u8; 32])).unwrap();
        (crate::segment::object_key("s", 0, 1), s.bytes)
    }

    /// Every way an object arrives (a walked file, a store's file, a store's stream),
    /// with and without the second read, checks out the same.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_read_path_checks_the_object() {
        let (key, bytes) = object();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(&key);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &bytes).unwrap();
        let local = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let memory = object_store::memory::InMemory::new();
        memory
            .put(
                &StorePath::from(key.as_str()),
                PutPayload::from(bytes.clone()),
            )
            .await
            .unwrap();
        let len = bytes.len() as u64;
        for ahead in [u64::MAX, 10] {
            let reads = if ahead == 10 { 2 } else { 1 };
            let items = [
                (&local as &dyn ObjectStore, At::File(file.clone())),
                (
                    &local as &dyn ObjectStore,
                    At::Store(StorePath::from(key.as_str())),
                ),
                (
                    &memory as &dyn ObjectStore,
                    At::Store(StorePath::from(key.as_str())),
                ),
            ];
            for (store, at) in items {
                let what = format!("{at:?}, decode-ahead {ahead}");
                let item = Listed::Object {
                    location: key.clone(),
                    size: len,
                    at,
                };
                let (o, read) = check_listed(store, item, ctx(ahead)).await.unwrap();
                assert!(o.seal.is_some(), "{what}: {o:?}");
                assert!(
                    o.always.is_empty() && o.in_window.is_empty(),
                    "{what}: {o:?}"
                );
                let data_len = o.seal.as_ref().unwrap().data_len;
                let expected = if reads == 2 { len + data_len } else { len };
                assert_eq!(read, expected, "{what}");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn objects_that_cannot_be_read_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let local = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let gone = Listed::Object {
            location: "s/2024/05/01/000000000001.seg.zst".into(),
            size: 10,
            at: At::File(dir.path().join("gone")),
        };
        let (o, _) = check_listed(&local, gone, ctx(u64::MAX)).await.unwrap();
        assert_eq!(o.always.len(), 1);
        assert_eq!(o.always[0].0, ProblemKind::Unreadable);
        assert!(o.always[0].1.starts_with("listed, then gone"), "{o:?}");
        let gone = Listed::Object {
            location: "x".into(),
            size: 10,
            at: At::Store(StorePath::from("x")),
        };
        let (o, _) = check_listed(&local, gone, ctx(u64::MAX)).await.unwrap();
        assert_eq!(o.always[0].0, ProblemKind::Unreadable, "{o:?}");
        let big = Listed::Object {
            location: "y".into(),
            size: MAX_OBJECT_BYTES + 1,
            at: At::Store(StorePath::from("y")),
        };
        let (o, read) = check_listed(&local, big, ctx(u64::MAX)).await.unwrap();
        assert_eq!((o.always[0].0, read), (ProblemKind::TooLarge, 0));
    }
}
