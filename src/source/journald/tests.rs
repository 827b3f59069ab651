//! The source's loop against stand-in `journalctl` scripts (bash) and a real journal:
//! restarts resume after the newest appended cursor, bad lines are kept and counted,
//! a cut-off last line does not move the cursor, shutdown checkpoints, a damaged
//! checkpoint reads from the beginning, `since = "end"` starts after the newest entry.
//! The real `journalctl` on real journal files is driven by `tests/journald_source.rs`.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;
use crate::journal::{Journal, JournalOptions};
use crate::source::limits::{DescriptorBudget, ReadPool};
use crate::source::{CheckpointStore, Shared, SourceStats};

struct Fixture {
    dir: PathBuf,
    journal: Journal,
    stats: Arc<SourceStats>,
    shutdown: CancellationToken,
    checkpoints: CheckpointStore,
    task: Option<tokio::task::JoinHandle<Result<(), SourceError>>>,
}

/// Writes `script` as an executable stand-in for journalctl in a new directory; its
/// arguments are appended to `args.log` there (one start per line) by a prologue.
fn fake_journalctl(dir: &Path, script: &str) -> PathBuf {
    let path = dir.join("journalctl");
    let text = format!(
        "#!/bin/bash\nD={}\necho \"$*\" >> \"$D/args.log\"\n{script}\n",
        dir.display()
    );
    std::fs::write(&path, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with(JournalOptions::default())
    }

    fn with(opts: JournalOptions) -> Fixture {
        let dir = tempfile::tempdir().unwrap().keep();
        let journal = Journal::open(&dir.join("journal"), opts).unwrap();
        Fixture {
            checkpoints: CheckpointStore::new(&dir.join("checkpoints"), "jd"),
            dir,
            journal,
            stats: Arc::new(SourceStats::default()),
            shutdown: CancellationToken::new(),
            task: None,
        }
    }

    /// Starts the source with `journalctl = <script>` and the extra TOML keys.
    fn start(&mut self, script: &str, extra: &str) {
        let program = fake_journalctl(&self.dir, script);
        let cfg: JournaldSourceConfig = toml::from_str(&format!(
            "name = \"jd\"\njournalctl = \"{}\"\nrestart_backoff = \"300ms\"\n{extra}",
            program.display()
        ))
        .unwrap();
        self.shutdown = CancellationToken::new();
        self.stats = Arc::new(SourceStats::default());
        let cx = SourceContext {
            name: "jd".into(),
            index: 2,
            stream: "test".into(),
            journal: self.journal.clone(),
            checkpoints: self.checkpoints.clone(),
            stats: self.stats.clone(),
            shutdown: self.shutdown.clone(),
            shared: Arc::new(Shared {
                budget: DescriptorBudget::new(16),
                pool: ReadPool::new(1),
            }),
        };
        let built = build(&cfg, cx).unwrap();
        assert!(built.local_addr.is_none());
        self.task = Some(tokio::spawn(built.task));
    }

    async fn stop(&mut self) {
        self.shutdown.cancel();
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("the source stops promptly")
            .unwrap()
            .unwrap();
    }

    /// Every record journalled so far: (flags, raw text), checking kind and index.
    async fn records(&self) -> Vec<(RecordFlags, String)> {
        let end = self
            .journal
            .append(crate::journal::Batch::default())
            .await
            .unwrap();
        self.journal.wait_durable(end).await.unwrap();
        let mut reader = self.journal.reader(0).unwrap();
        let mut out = Vec::new();
        while let Some((_, p)) = reader.next().unwrap() {
            let r = IngestRecord::decode(p).unwrap();
            assert_eq!(r.origin, Origin::Journald);
            assert_eq!(r.source, 2);
            out.push((r.flags, String::from_utf8_lossy(r.raw).into_owned()));
        }
        out
    }

    async fn wait_records(&self, n: usize) -> Vec<(RecordFlags, String)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.records().await;
            if got.len() >= n || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn starts(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("args.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn checkpoint(&self) -> Option<State> {
        self.checkpoints.load().unwrap()
    }
}

fn entry(n: u32) -> String {
    format!(r#"{{"__CURSOR":"c{n}","MESSAGE":"entry {n}"}}"#)
}

/// Prints two new entries per start (numbered on from a counter file) and exits 1,
/// until six were printed; then it stays (as journalctl --follow does).
const TWO_THEN_DIE: &str = r#"
n=$(cat "$D/count" 2>/dev/null || echo 0)
for k in 1 2; do n=$((n+1)); printf '{"__CURSOR":"c%d","MESSAGE":"entry %d"}\n' $n $n; done
echo $n > "$D/count"
if [ $n -ge 6 ]; then exec sleep 1000; fi
echo "fake journalctl: giving up" >&2
exit 1
"#;

#[tokio::test]
async fn a_dying_child_is_restarted_after_the_newest_appended_cursor() {
    let mut f = Fixture::new();
    f.start(TWO_THEN_DIE, "since = \"beginning\"");
    let got = f.wait_records(6).await;
    let raws: Vec<&str> = got.iter().map(|(_, r)| r.as_str()).collect();
    let want: Vec<String> = (1..=6).map(entry).collect();
    assert_eq!(raws, want, "each entry once, in order");
    assert!(got.iter().all(|(fl, _)| fl.is_empty()));
    let starts = f.starts();
    assert_eq!(starts.len(), 3, "{starts:?}");
    assert!(starts[0].contains("--no-tail") && !starts[0].contains("cursor"));
    // The restarted child resumes after what was appended, not after the (older)
    // checkpoint on disk.
    assert!(starts[1].contains("--after-cursor=c2"), "{starts:?}");
    assert!(starts[2].contains("--after-cursor=c4"), "{starts:?}");
    assert!(starts
        .iter()
        .all(|s| s.contains("--follow --no-tail --merge --output=json --all --no-pager")));
    assert_eq!(f.stats.restarts.load(Ordering::Relaxed), 2);
    assert_eq!(f.stats.errors.load(Ordering::Relaxed), 2);
    assert_eq!(f.stats.received_events.load(Ordering::Relaxed), 6);
    f.stop().await;
    assert_eq!(
        f.checkpoint().unwrap().cursor,
        "c6",
        "checkpointed at shutdown"
    );

    // Started again: after the checkpoint, nothing twice.
    std::fs::write(f.dir.join("count"), "6").unwrap();
    f.start(TWO_THEN_DIE, "since = \"beginning\"");
    let got = f.wait_records(8).await;
    assert_eq!(got.len(), 8);
    assert_eq!(got[6].1, entry(7));
    assert!(f.starts()[3].contains("--after-cursor=c6"));
    f.stop().await;
}

#[tokio::test]
async fn bad_lines_are_kept_flagged_and_counted() {
    let mut f = Fixture::new();
    let huge = "x".repeat(10_000);
    let script = format!(
        r#"
if [ -e "$D/ran" ]; then exec sleep 1000; fi
touch "$D/ran"
echo 'this is not json'
printf '{{"__CURSOR":"c1","MESSAGE":"{huge}"}}\n'
printf '{{"MESSAGE":"no cursor"}}\n'
printf '{{"__CURSOR":"c2","MESSAGE":"ok"}}\n'
printf '{{"__CURSOR":"c3","MESSAGE":"cut off'
exit 3
"#
    );
    f.start(&script, "since = \"beginning\"\nmax_entry_bytes = 4096");
    let got = f.wait_records(5).await;
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!(got[0], (RecordFlags::EMPTY, "this is not json".into()));
    assert_eq!(got[1].0, RecordFlags::TRUNCATED);
    assert_eq!(got[1].1.len(), 4096);
    assert!(got[1].1.starts_with(r#"{"__CURSOR":"c1","MESSAGE":"xxx"#));
    assert_eq!(got[2].1, r#"{"MESSAGE":"no cursor"}"#);
    assert_eq!(got[3].1, r#"{"__CURSOR":"c2","MESSAGE":"ok"}"#);
    assert_eq!(got[4].0, RecordFlags::INCOMPLETE);
    // Keeps serving: the restarted child resumes after c2, not after the cut-off c3.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while f.starts().len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        f.starts()[1].contains("--after-cursor=c2"),
        "{:?}",
        f.starts()
    );
    assert_eq!(f.stats.truncated.load(Ordering::Relaxed), 1);
    assert_eq!(f.stats.incomplete.load(Ordering::Relaxed), 1);
    // The non-JSON line, and the child's end.
    assert_eq!(f.stats.errors.load(Ordering::Relaxed), 2);
    f.stop().await;
    assert_eq!(f.checkpoint().unwrap().cursor, "c2");
}

#[tokio::test]
async fn since_end_starts_after_the_newest_entry_and_checkpoints_it_at_once() {
    let mut f = Fixture::new();
    // Answers --lines=1 with the newest entry; follows with one new entry.
    let script = r#"
case "$*" in
  *--lines=1*) printf '{"__CURSOR":"old1","MESSAGE":"old"}\n{"__CURSOR":"old2","MESSAGE":"old"}\n'; exit 0;;
esac
printf '{"__CURSOR":"new1","MESSAGE":"new"}\n'
exec sleep 1000
"#;
    f.start(script, "");
    let got = f.wait_records(1).await;
    assert_eq!(got.len(), 1);
    assert!(got[0].1.contains("new1"));
    let starts = f.starts();
    assert!(starts[0].contains("--lines=1") && !starts[0].contains("--follow"));
    assert!(starts[1].contains("--after-cursor=old2"), "{starts:?}");
    f.stop().await;
    assert_eq!(f.checkpoint().unwrap().cursor, "new1");
}

#[tokio::test]
async fn an_empty_journal_at_the_end_means_from_the_beginning() {
    let mut f = Fixture::new();
    let script = r#"
case "$*" in *--lines=1*) exit 0;; esac
exec sleep 1000
"#;
    f.start(script, "");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while f.starts().len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let starts = f.starts();
    assert!(
        starts[1].contains("--follow") && !starts[1].contains("--after-cursor"),
        "{starts:?}"
    );
    f.stop().await;
    assert_eq!(f.checkpoint(), None, "nothing read, nothing to checkpoint");
}

#[tokio::test]
async fn a_damaged_checkpoint_reads_from_the_beginning() {
    let mut f = Fixture::new();
    std::fs::create_dir_all(f.dir.join("checkpoints")).unwrap();
    std::fs::write(f.checkpoints.path(), b"{broken").unwrap();
    f.start("exec sleep 1000", "");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while f.starts().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let starts = f.starts();
    assert_eq!(starts.len(), 1, "no --lines=1: not `end`, {starts:?}");
    assert!(starts[0].contains("--follow") && !starts[0].contains("--after-cursor"));
    assert_eq!(f.stats.checkpoint_errors.load(Ordering::Relaxed), 1);
    f.stop().await;
}

#[tokio::test]
async fn a_missing_binary_is_retried_and_shutdown_is_prompt() {
    let mut f = Fixture::new();
    f.start("", "since = \"beginning\"");
    // Replace the program with one that does not exist.
    std::fs::remove_file(f.dir.join("journalctl")).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let errors = f.stats.errors.load(Ordering::Relaxed);
    assert!(errors >= 2, "errors {errors}");
    assert!(f.stats.restarts.load(Ordering::Relaxed) >= 1);
    let t = std::time::Instant::now();
    f.stop().await;
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_journal_stops_the_reading_and_journalctl_waits_then_all_arrives() {
    use crate::journal::Checkpoint;
    const N: u64 = 30_000;
    // A small cap, and a consumer that pins every file until the test drains it.
    let mut f = Fixture::with(JournalOptions {
        file_bytes: 256 << 10,
        max_bytes: 512 << 10,
        fsync: false,
        ..JournalOptions::default()
    });
    let consumer = f.journal.cursor("consumer");
    consumer
        .commit(&Checkpoint {
            position: 0,
            state: (),
        })
        .unwrap();
    // ~21 MB of entries: more than the journal's 16 MiB queue, the pipe and the read
    // buffer together. The script notes how far it got.
    let script = format!(
        r#"
pad=$(printf 'p%.0s' $(seq 1 650))
for ((i = 1; i <= {N}; i++)); do
  printf '{{"__CURSOR":"c%d","MESSAGE":"%s"}}\n' $i "$pad"
  if (( i % 500 == 0 )); then echo $i > "$D/progress"; fi
done
exec sleep 1000
"#
    );
    f.start(&script, "since = \"beginning\"");
    let progress = |f: &Fixture| -> u64 {
        std::fs::read_to_string(f.dir.join("progress"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    // It stalls: journalctl cannot write on, the source appends nothing more.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = (u64::MAX, u64::MAX);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = (
            progress(&f),
            f.stats.received_events.load(Ordering::Relaxed),
        );
        if now == last && now.0 > 0 {
            break;
        }
        last = now;
        assert!(
            tokio::time::Instant::now() < deadline,
            "never stalled: {now:?}"
        );
    }
    assert!(
        last.0 < N,
        "journalctl is blocked on the full pipe ({} of {N})",
        last.0
    );
    assert!(last.1 < N, "the source waits ({} appended)", last.1);
    assert!(f.journal.disk_bytes() <= (512 + 300) << 10, "the cap holds");

    // A consumer drains and commits; reclaim frees room; everything arrives, in order.
    let mut reader = f.journal.reader(0).unwrap();
    let mut next = 1u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while next <= N {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stuck at entry {next}"
        );
        while let Some((_, p)) = reader.next().unwrap() {
            let r = IngestRecord::decode(p).unwrap();
            assert_eq!(cursor_of(r.raw), Some(format!("c{next}").as_str()));
            assert!(r.flags.is_empty());
            next += 1;
        }
        consumer
            .commit(&Checkpoint {
                position: reader.position(),
                state: (),
            })
            .unwrap();
        f.journal.reclaim().unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(progress(&f), N);
    f.stop().await;
    assert_eq!(f.checkpoint().unwrap().cursor, format!("c{N}"));
}
