//! The file source against a real journal and real files: rotation by rename,
//! deletion, lines in pieces, restart from the checkpoint, and a truncation while
//! stopped recovered from logrotate's copy.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::state::Checkpoint;
use super::FileSourceConfig;
use crate::journal::{Batch, Journal, JournalOptions};
use crate::record::{IngestRecord, Origin, RecordFlags};
use crate::source::limits::{DescriptorBudget, ReadPool};
use crate::source::{CheckpointStore, Shared, SourceContext, SourceStats};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    path: PathBuf,
    offset: u64,
    flags: RecordFlags,
    raw: String,
}

struct Run {
    stats: Arc<SourceStats>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), crate::source::SourceError>>,
}

impl Run {
    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

fn config(extra: &str, include: &str) -> FileSourceConfig {
    toml::from_str(&format!(
        "include = [\"{include}\"]\nline_timeout = \"600ms\"\nrescan_interval = \"1s\"\nrelease_deleted_after = \"1s\"\ncheckpoint_interval = \"100ms\"\n{extra}"
    ))
    .unwrap()
}

fn start(cfg: &FileSourceConfig, state: &Path, journal: &Journal) -> Run {
    let stats = Arc::new(SourceStats::default());
    let shutdown = CancellationToken::new();
    let cx = SourceContext {
        name: "files".into(),
        index: 2,
        stream: "test".into(),
        journal: journal.clone(),
        checkpoints: CheckpointStore::new(state, "files"),
        stats: stats.clone(),
        shutdown: shutdown.clone(),
        shared: Arc::new(Shared {
            budget: DescriptorBudget::new(1000),
            pool: ReadPool::new(1),
        }),
    };
    let built = super::build(cfg, cx).unwrap();
    Run {
        stats,
        shutdown,
        task: tokio::spawn(built.task),
    }
}

async fn lines(journal: &Journal) -> Vec<Line> {
    let end = journal.append(Batch::default()).await.unwrap();
    journal.wait_durable(end).await.unwrap();
    let mut reader = journal.reader(0).unwrap();
    let mut out = Vec::new();
    while let Some((_, p)) = reader.next().unwrap() {
        let r = IngestRecord::decode(p).unwrap();
        assert_eq!(r.source, 2);
        let Origin::File { path, offset } = r.origin else {
            panic!("not a file line: {r:?}");
        };
        use std::os::unix::ffi::OsStrExt;
        out.push(Line {
            path: PathBuf::from(std::ffi::OsStr::from_bytes(path)),
            offset,
            flags: r.flags,
            raw: String::from_utf8_lossy(r.raw).into_owned(),
        });
    }
    out
}

async fn wait_lines(journal: &Journal, n: usize) -> Vec<Line> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = lines(journal).await;
        if got.len() >= n || tokio::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn append(path: &Path, data: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(data.as_bytes()).unwrap();
}

fn raws(got: &[Line]) -> Vec<&str> {
    got.iter().map(|l| l.raw.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_rename_rotation_deletion_and_lines_in_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let log = logs.join("app.log");
    let old = "old line, before the first start\n";
    append(&log, old);
    let base = old.len() as u64;
    let journal = Journal::open(&dir.path().join("journal"), JournalOptions::default()).unwrap();
    let cfg = config("", &format!("{}/*.log", logs.display()));
    let run = start(&cfg, &dir.path().join("ckpt"), &journal);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // start_at = end: the old line is not read; new ones are, also in pieces.
    append(&log, "one\ntw");
    tokio::time::sleep(Duration::from_millis(100)).await;
    append(&log, "o\n");
    let got = wait_lines(&journal, 2).await;
    assert_eq!(raws(&got), ["one", "two"]);
    assert_eq!(got[0].offset, base);
    assert_eq!(got[1].offset, base + 4);
    assert_eq!(got[0].path, log);

    // rename + create: the old file is read to its end, the new one from its start.
    std::fs::rename(&log, logs.join("app.log.1")).unwrap();
    append(
        &logs.join("app.log.1"),
        "three, late into the rotated file\n",
    );
    append(&log, "four, first of the new file\n");
    let got = wait_lines(&journal, 4).await;
    assert_eq!(
        raws(&got[2..])
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        [
            "three, late into the rotated file",
            "four, first of the new file"
        ]
        .into()
    );
    let four = got.iter().find(|l| l.raw.starts_with("four")).unwrap();
    assert_eq!((four.path.as_path(), four.offset), (log.as_path(), 0));
    let three = got.iter().find(|l| l.raw.starts_with("three")).unwrap();
    assert_eq!(
        three.path, log,
        "a rotated file's lines keep the path it was read under"
    );
    assert_eq!(run.stats.file_rotations.load(Ordering::Relaxed), 1);

    // The rotated file is released after release_deleted_after (1 s) without growth.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while run.stats.files_open.load(Ordering::Relaxed) != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the rotated file was never released"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A partial last line is archived after line_timeout, flagged incomplete.
    append(&log, "no newline");
    let got = wait_lines(&journal, 5).await;
    let last = got.last().unwrap();
    assert_eq!(
        (last.raw.as_str(), last.flags),
        ("no newline", RecordFlags::INCOMPLETE)
    );
    assert_eq!(run.stats.incomplete.load(Ordering::Relaxed), 1);

    // A deleted file is drained and released; a new file is read from its start.
    let other = logs.join("other.log");
    append(&other, "x1\nx2\n");
    let got = wait_lines(&journal, 7).await;
    assert_eq!(raws(&got[5..]), ["x1", "x2"]);
    std::fs::remove_file(&other).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while run.stats.files_open.load(Ordering::Relaxed) != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the deleted file was never released"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_at_the_checkpoint_and_recovers_a_truncation_from_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let log = logs.join("auth.log");
    let state = dir.path().join("ckpt");
    let journal = Journal::open(&dir.path().join("journal"), JournalOptions::default()).unwrap();
    let cfg = config("start_at = \"beginning\"", &log.display().to_string());
    let first: String = (0..20)
        .map(|i| format!("line {i:03} of the first run\n"))
        .collect();
    append(&log, &first);

    let run = start(&cfg, &state, &journal);
    assert_eq!(wait_lines(&journal, 20).await.len(), 20);
    append(&log, "partial"); // not archived at shutdown: read again, whole, later
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.stop().await;
    let ckpt: Checkpoint = CheckpointStore::new(&state, "files")
        .load()
        .unwrap()
        .unwrap();
    assert_eq!(ckpt.files.len(), 1);
    assert_eq!(
        ckpt.files[0].offset,
        first.len() as u64,
        "the partial line is read again"
    );

    // While stopped: the line is finished, more follow, then logrotate's copytruncate
    // (copy, truncate) and the writer goes on in the truncated file.
    append(&log, " line, finished\nline 021\nline 022\n");
    std::fs::copy(&log, logs.join("auth.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .unwrap();
    append(&log, "after the truncation\n");

    let run = start(&cfg, &state, &journal);
    let got = wait_lines(&journal, 24).await;
    let tail: Vec<(&str, u64)> = got[20..]
        .iter()
        .map(|l| (l.raw.as_str(), l.offset))
        .collect();
    let base = first.len() as u64;
    assert!(tail.contains(&("partial line, finished", base)), "{tail:?}");
    assert!(tail.contains(&("line 021", base + 23)), "{tail:?}");
    assert!(tail.contains(&("line 022", base + 32)), "{tail:?}");
    assert!(tail.contains(&("after the truncation", 0)), "{tail:?}");
    assert_eq!(got.len(), 24, "nothing read twice: {got:?}");
    assert!(got.iter().all(|l| l.path == log));
    assert_eq!(run.stats.file_truncations.load(Ordering::Relaxed), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.stop().await;

    // A clean restart reads nothing again.
    let run = start(&cfg, &state, &journal);
    tokio::time::sleep(Duration::from_millis(800)).await;
    append(&log, "last\n");
    let got = wait_lines(&journal, 25).await;
    assert_eq!(got.len(), 25);
    assert_eq!(got[24].raw, "last");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_rotated_away_while_stopped_is_read_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let state = dir.path().join("ckpt");
    let journal = Journal::open(&dir.path().join("journal"), JournalOptions::default()).unwrap();
    let cfg = config("", &log.display().to_string());
    append(&log, "before\n");
    let run = start(&cfg, &state, &journal);
    tokio::time::sleep(Duration::from_millis(300)).await;
    append(&log, "a\n");
    assert_eq!(wait_lines(&journal, 1).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.stop().await;
    // Stopped: lines, then a rename rotation and a new file with its own lines.
    append(&log, "b\n");
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&log, "c\n");
    let run = start(&cfg, &state, &journal);
    let got = wait_lines(&journal, 3).await;
    let mut r = raws(&got);
    r.sort_unstable();
    assert_eq!(
        r,
        ["a", "b", "c"],
        "start_at = end applies to the first start only"
    );
    assert_eq!(run.stats.file_rotations.load(Ordering::Relaxed), 1);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_paths_are_counted_and_never_stop_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.log");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::create_dir(dir.path().join("dir.log")).unwrap();
    let good = dir.path().join("good.log");
    let journal = Journal::open(&dir.path().join("journal"), JournalOptions::default()).unwrap();
    let cfg = config(
        "start_at = \"beginning\"\nmax_line_bytes = 256",
        &format!("{}/*.log", dir.path().display()),
    );
    let mut long = "x".repeat(10_000);
    long.push('\n');
    append(&good, &format!("ok\0nul\n\u{fffd}\n{long}after\n"));
    std::fs::OpenOptions::new()
        .append(true)
        .open(&good)
        .unwrap()
        .write_all(b"\xff\xfe bad utf-8\n")
        .unwrap();
    let run = start(&cfg, &dir.path().join("ckpt"), &journal);
    let got = wait_lines(&journal, 5).await;
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!(got[2].flags, RecordFlags::TRUNCATED);
    assert_eq!(got[2].raw.len(), 256);
    assert_eq!(got[3].raw, "after");
    assert_eq!(run.stats.truncated.load(Ordering::Relaxed), 1);
    // The FIFO (never opened: it would block), and two lines that are not text.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(run.stats.errors.load(Ordering::Relaxed), 3);
    run.stop().await;
}
