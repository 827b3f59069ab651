//! The commit delay: many small appends share one sync, a lone append is not held, a
//! half-full queue and a close cut the wait short. Timings are asserted only from below
//! (a wait happened) or against a delay far longer than any sync (a wait did not).

use super::*;

fn delayed(commit_delay: Duration) -> JournalOptions {
    JournalOptions {
        commit_delay,
        ..opts(1 << 20)
    }
}

fn record(seq: usize, len: usize) -> Batch {
    let mut p = payload(7, seq);
    p.resize(len, b'c');
    one(&p)
}

#[test]
fn appends_inside_the_delay_share_one_sync() {
    let dir = tempfile::tempdir().unwrap();
    let delay = Duration::from_millis(400);
    let j = Journal::open(dir.path(), delayed(delay)).unwrap();
    let start = Instant::now();
    let first = j.blocking_append(record(0, 100)).unwrap();
    durable(&j, first);
    assert_eq!(
        j.health().commits_total,
        1,
        "the first append is committed alone"
    );
    // Twenty appends 5 ms apart: without the delay, each would be a commit of its own.
    let mut end = first;
    for seq in 1..=20 {
        end = j.blocking_append(record(seq, 100)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    durable(&j, end);
    let commits = j.health().commits_total;
    assert!(
        commits <= 3,
        "20 appends within the delay took {commits} commits"
    );
    // They became durable only once the delay since the first commit had passed.
    assert!(start.elapsed() >= delay, "{:?}", start.elapsed());
    let mut r = j.reader(0).unwrap();
    assert_eq!(read_all(&mut r).len(), 21);
}

#[test]
fn a_lone_append_is_not_held() {
    let dir = tempfile::tempdir().unwrap();
    let delay = Duration::from_secs(2);
    let j = Journal::open(dir.path(), delayed(delay)).unwrap();
    // The first append ever, and one after a spell longer than the delay: each is
    // committed at once (a sync takes milliseconds; holding them would take 2 s).
    let t = Instant::now();
    durable(&j, j.blocking_append(record(0, 100)).unwrap());
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    std::thread::sleep(delay + Duration::from_millis(100));
    let t = Instant::now();
    durable(&j, j.blocking_append(record(1, 100)).unwrap());
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(j.health().commits_total, 2);
}

#[test]
fn a_half_full_queue_is_committed_without_waiting_out_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let delay = Duration::from_secs(30);
    let j = Journal::open_with_queue(dir.path(), delayed(delay), 64 << 10).unwrap();
    durable(&j, j.blocking_append(record(0, 100)).unwrap());
    // Within the delay now; 40 KiB is past half of the 64 KiB queue.
    let t = Instant::now();
    let mut end = 0;
    for seq in 1..=4 {
        end = j.blocking_append(record(seq, 10 << 10)).unwrap();
    }
    durable(&j, end);
    assert!(t.elapsed() < delay / 2, "waited {:?}", t.elapsed());
}

#[test]
fn close_commits_what_waits_out_the_delay_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let delay = Duration::from_secs(30);
    let j = Journal::open(dir.path(), delayed(delay)).unwrap();
    durable(&j, j.blocking_append(record(0, 100)).unwrap());
    let end = j.blocking_append(record(1, 100)).unwrap();
    let t = Instant::now();
    j.close().unwrap();
    assert!(t.elapsed() < delay / 2, "close waited {:?}", t.elapsed());
    assert!(j.durable_position() >= end);
    drop(j);
    let j = Journal::open(dir.path(), delayed(delay)).unwrap();
    let mut r = j.reader(0).unwrap();
    assert_eq!(read_all(&mut r).len(), 2, "both records survive the close");
}

#[test]
fn without_fsync_nothing_waits() {
    let dir = tempfile::tempdir().unwrap();
    let delay = Duration::from_secs(30);
    let o = JournalOptions {
        fsync: false,
        ..delayed(delay)
    };
    let j = Journal::open(dir.path(), o).unwrap();
    let t = Instant::now();
    for seq in 0..3 {
        durable(&j, j.blocking_append(record(seq, 100)).unwrap());
    }
    assert!(t.elapsed() < delay / 2, "waited {:?}", t.elapsed());
    assert_eq!(j.health().commits_total, 3);
}
