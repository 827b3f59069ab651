use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::journal::JournalOptions;
use crate::normalise::TimeZoneSpec;
use crate::record::{IngestRecord, RecordFlags};

struct Env {
    _dir: tempfile::TempDir,
    journal: Journal,
    snapshot: PathBuf,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("journal"), JournalOptions::default()).unwrap();
    let snapshot = dir.path().join("detector.snapshot");
    Env {
        _dir: dir,
        journal,
        snapshot,
    }
}

/// `n` failed sshd passwords from one source, one second apart: the brute-force rule
/// (5 attempts in 10 minutes) raises one alert, on the fifth.
fn append_failures(journal: &Journal, n: usize) -> u64 {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let first = NEXT.fetch_add(n, Ordering::Relaxed);
    let mut batch = Batch::default();
    for i in first..first + n {
        let line = format!(
            "<38>Nov 22 10:{:02}:{:02} web sshd[{}]: Failed password for root from 198.51.100.9 port {} ssh2",
            i / 60 % 60,
            i % 60,
            1000 + i,
            40000 + i
        );
        let t = 1_700_000_000_000_000_000 + i as i64 * 1_000_000_000;
        batch.push_with(|out| {
            IngestRecord::syslog(t, 0, None, RecordFlags::EMPTY, line.as_bytes()).encode_into(out)
        });
    }
    futures::executor::block_on(async {
        let end = journal.append(batch).await.unwrap();
        journal.wait_durable(end).await.unwrap();
        end
    })
}

fn consumer(e: &Env) -> DetectorConsumer {
    DetectorConsumer {
        journal: e.journal.clone(),
        normaliser: Normaliser::new("h", vec![("tcp".into(), TimeZoneSpec::Utc)]),
        stream: "h".into(),
        cfg: DetectConfig::default(),
        snapshot_path: e.snapshot.clone(),
        webhook: None,
        stats: Arc::new(DetectorStats::default()),
        early_snapshot_bytes: 1 << 20,
        feed: None,
    }
}

/// Runs the detector until it has read to the journal's end and stopped.
fn run_to_end(e: &Env) -> Arc<DetectorStats> {
    let c = consumer(e);
    let stats = c.stats.clone();
    let stop = Arc::new(AtomicBool::new(true)); // stop once everything is read
    Box::new(c).run(&stop).unwrap();
    stats
}

/// The alert records in the journal: (trigger, index, event.id).
fn journalled_alerts(journal: &Journal) -> Vec<(u64, u16, String)> {
    let mut out = Vec::new();
    let mut r = journal.reader(0).unwrap();
    while let Some((_, payload)) = r.next().unwrap() {
        if let Ok(JournalRecord::Alert(a)) = JournalRecord::decode(payload) {
            let v = crate::detect::AlertView::parse(a.line).unwrap();
            out.push((a.trigger, a.index, v.event.id));
        }
    }
    out
}

fn wait_durable(journal: &Journal) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let end = futures::executor::block_on(journal.append(Batch::default())).unwrap();
    while journal.durable_position() < end && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn an_alert_is_journalled_once_with_its_evidence() {
    let e = env();
    append_failures(&e.journal, 7);
    let stats = run_to_end(&e);
    wait_durable(&e.journal);
    let alerts = journalled_alerts(&e.journal);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let (trigger, index, id) = &alerts[0];
    assert_eq!(id, &format!("h:{trigger}:alert:{index}"));
    assert_eq!(stats.alerts.load(Ordering::Relaxed), 1);
    assert_eq!(stats.alerts_by_rule().get("brute_force"), Some(&1));
    // The cursor stands where the snapshot does: everything read.
    let cp = e.journal.cursor(CURSOR_NAME).load::<()>().unwrap().unwrap();
    let loaded = persist::load(&e.snapshot, &DetectConfig::default())
        .unwrap()
        .unwrap();
    assert_eq!(cp.position, loaded.position);
    assert!(loaded.position > *trigger);
}

#[test]
fn a_crash_before_the_snapshot_raises_no_alert_twice() {
    let e = env();
    append_failures(&e.journal, 7);
    run_to_end(&e);
    wait_durable(&e.journal);
    assert_eq!(journalled_alerts(&e.journal).len(), 1);
    // A crash that lost the snapshot written after the alert: the detector starts over
    // from an empty state at position 0, reads the same events and raises the same
    // alert, which is in the journal already.
    persist::save(&e.snapshot, &Detector::new(DetectConfig::default()), 0, &[]).unwrap();
    let again = run_to_end(&e);
    wait_durable(&e.journal);
    assert_eq!(
        journalled_alerts(&e.journal).len(),
        1,
        "the alert raised again is recognised"
    );
    assert_eq!(again.alerts.load(Ordering::Relaxed), 0);
    // New failures from the same source after the window's alert: de-duplicated by the
    // rule itself, so still one; the journal holds no copy either way.
    append_failures(&e.journal, 3);
    run_to_end(&e);
    wait_durable(&e.journal);
    assert_eq!(journalled_alerts(&e.journal).len(), 1);
}

#[test]
fn pending_alerts_of_the_snapshot_reach_the_journal_once() {
    let e = env();
    let end = append_failures(&e.journal, 7);
    let pending = PendingAlert {
        trigger: 3,
        index: 0,
        raised_ns: 11,
        line: br#"{"@timestamp":"2023-11-14T22:13:20.000000Z","event":{"kind":"alert","id":"h:3:alert:0","category":["intrusion_detection"],"action":"brute_force","severity":47},"rule":{"id":"brute_force","name":"b"},"message":"m","sealtrail":{"stream":"h","alert":{"key":"ip:198.51.100.9","evidence":[]}}}"#.to_vec(),
    };
    // The snapshot says: read up to the end, one alert raised that had not been
    // written yet when the process died.
    let restart_from_that_snapshot = || {
        persist::save(
            &e.snapshot,
            &Detector::new(DetectConfig::default()),
            end,
            &[&pending],
        )
        .unwrap();
        run_to_end(&e);
        wait_durable(&e.journal);
    };
    restart_from_that_snapshot();
    assert_eq!(
        journalled_alerts(&e.journal),
        vec![(3, 0, "h:3:alert:0".to_string())]
    );
    let loaded = persist::load(&e.snapshot, &DetectConfig::default())
        .unwrap()
        .unwrap();
    assert!(loaded.pending.is_empty(), "durable now: no longer pending");
    // Once more from the same (old) snapshot: it is in the journal, so not again.
    restart_from_that_snapshot();
    assert_eq!(journalled_alerts(&e.journal).len(), 1);
}

/// The state an older version left: its sealer sealed up to `sealed` (alerts inline),
/// its detector was saved (version 1) at 0.
fn upgrade_from_v1(e: &Env, sealed: u64) {
    e.journal
        .cursor(crate::seal::CURSOR_NAME)
        .commit(&Checkpoint {
            position: sealed,
            state: crate::seal::ChainState {
                stream: "h".into(),
                next_seq: 1,
                prev_hash: hex::encode([0u8; 32]),
                period_end_ns: 0,
                key_id: None,
            },
        })
        .unwrap();
    let mut v1 = b"sealtrail-detector-snapshot v1 position=0\n".to_vec();
    Detector::new(DetectConfig::default())
        .save_to(&mut v1)
        .unwrap();
    std::fs::write(&e.snapshot, v1).unwrap();
}

#[test]
fn a_version_1_snapshot_leaves_the_alerts_the_sealer_sealed() {
    // Its alert was sealed inline before the upgrade: not raised again.
    let e = env();
    let end = append_failures(&e.journal, 7);
    upgrade_from_v1(&e, end);
    run_to_end(&e);
    wait_durable(&e.journal);
    assert!(journalled_alerts(&e.journal).is_empty());

    // Its windows are brought back in step: 4 failures before the upgrade and one
    // after make the five of an alert.
    let e = env();
    let end = append_failures(&e.journal, 4);
    upgrade_from_v1(&e, end);
    append_failures(&e.journal, 1);
    let stats = run_to_end(&e);
    wait_durable(&e.journal);
    assert_eq!(stats.alerts.load(Ordering::Relaxed), 1);
    assert_eq!(journalled_alerts(&e.journal).len(), 1);
}

/// Plays the sealer's part of the feed: decodes the journal from `from` and sends the
/// batches.
fn feed_from(journal: &Journal, from: u64, tx: &mut feed::FeedSender) {
    let mut n = Normaliser::new("h", vec![("tcp".into(), TimeZoneSpec::Utc)]);
    let mut r = journal.reader(from).unwrap();
    while let Some((pos, payload)) = r.next().unwrap() {
        if let Ok(JournalRecord::Ingest(rec)) = JournalRecord::decode(payload) {
            let input = Input::of(&rec);
            let d = n.decode(&rec, &input);
            tx.decoded(pos, &d);
        }
        tx.covered(pos, r.position());
    }
    tx.flush();
}

#[test]
fn fed_by_the_sealer_the_detector_raises_the_same_alerts_and_reads_the_rest_itself() {
    // The same input twice: decoded by the detector alone, and fed for its second half.
    let (alone, fed) = (env(), env());
    for e in [&alone, &fed] {
        append_failures(&e.journal, 3);
        append_failures(&e.journal, 40);
    }
    run_to_end(&alone);
    wait_durable(&alone.journal);
    let want = journalled_alerts(&alone.journal);
    assert!(!want.is_empty());

    // The sealer started in the middle (as after a restart): the detector reads the
    // first part from the journal, then takes the batches.
    let mid = {
        let mut r = fed.journal.reader(0).unwrap();
        for _ in 0..10 {
            r.next().unwrap().unwrap();
        }
        r.position()
    };
    let (mut tx, rx) = feed::channel(false);
    feed_from(&fed.journal, mid, &mut tx);
    let mut c = consumer(&fed);
    c.feed = Some(rx);
    let stats = c.stats.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let end = fed.journal.durable_position();
    let t = {
        let stop = stop.clone();
        std::thread::spawn(move || Box::new(c).run(&stop).unwrap())
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.position.load(Ordering::Relaxed) < end && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Release);
    t.join().unwrap();
    drop(tx);
    wait_durable(&fed.journal);
    assert_eq!(journalled_alerts(&fed.journal), want);
    assert_eq!(
        stats.fed.load(Ordering::Relaxed),
        33,
        "the records after the tenth"
    );
    assert_eq!(
        stats.decoded.load(Ordering::Relaxed),
        10 + want.len() as u64,
        "the first ten, and the alerts it journalled after the last batch, read from the journal"
    );
}
