//! The journald source end to end, with systemd's own tools: journal files are written
//! by `systemd-journal-remote` from Journal Export Format streams built here (there is
//! no running journald in CI), read by the real `journalctl` through `files` or
//! `directory`, and the archive is read back as an auditor would (`verify`, zstd).
//! Only where a test needs a misbehaving `journalctl` (dying on cue, printing a line
//! that is not JSON) does a bash script stand in for it.

mod common;
mod journald;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use journald::*;
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// Tests

#[test]
fn entries_of_a_journal_file_are_archived_once_with_their_fields() {
    let env = TestEnv::new();
    let file = env.path().join("host.journal");
    let mut entries = Vec::new();
    for i in 0..20u32 {
        let mut e = Entry::new(
            realtime_us(100.0 - f64::from(i)),
            ["sshd", "sudo", "cron", "kernel"][i as usize % 4],
            500 + i,
            &format!("message {i}: \"quoted\" caf\u{e9} \\ back"),
        );
        e.priority = (i % 8) as u8;
        e.facility = [4, 10, 9, 0][i as usize % 4];
        e.host = format!("web-{}", i % 3);
        entries.push(e);
    }
    write_journal(
        &file,
        &entries.iter().map(Entry::export).collect::<Vec<_>>(),
    );
    let reference = journalctl_json(&file);
    assert_eq!(reference.len(), 20);

    let port = free_port();
    let cfg = config("jd-fields", port, &file_table(&file, ""));
    let mut d = env.start(&cfg);
    wait_received(&mut d, port, "journald", 20);
    let stopped = d.stop();

    let events = journal_events(&env);
    assert_eq!(events.len(), 20, "every entry once: {events:#?}");
    for (i, (ev, e)) in events.iter().zip(&entries).enumerate() {
        let what = format!("entry {i}: {}", brief(ev));
        assert_eq!(
            field_str(ev, "message"),
            Some(String::from_utf8_lossy(&e.message).as_ref()),
            "{what}"
        );
        assert_eq!(field_str(ev, "host.name"), Some(e.host.as_str()), "{what}");
        assert_eq!(
            field_str(ev, "process.name"),
            Some(e.ident.as_str()),
            "{what}"
        );
        assert_eq!(
            field_u64(ev, "process.pid"),
            Some(u64::from(e.pid)),
            "{what}"
        );
        assert_eq!(
            field_u64(ev, "log.syslog.severity.code"),
            Some(u64::from(e.priority)),
            "{what}"
        );
        assert_eq!(
            field_u64(ev, "log.syslog.facility.code"),
            Some(u64::from(e.facility)),
            "{what}"
        );
        let ts = chrono::DateTime::from_timestamp_micros(e.time_us as i64)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        assert_eq!(field_str(ev, "@timestamp"), Some(ts.as_str()), "{what}");
        // The entry verbatim as journalctl prints it (its field order differs from one
        // run of journalctl to the next: compared as JSON).
        let original: Value = serde_json::from_str(field_str(ev, "event.original").unwrap())
            .expect("event.original is the JSON entry");
        let want: Value = serde_json::from_str(&reference[i]).unwrap();
        assert_eq!(original, want, "{what}");
        assert_eq!(field_str(ev, "observer.ingress.name"), Some("journald"));
        assert_eq!(
            field_str(ev, "sealtrail.journald.unit"),
            Some("test.service")
        );
        assert_eq!(
            field_str(ev, "sealtrail.journald.transport"),
            Some("syslog")
        );
        assert!(tags(ev).is_empty(), "{what}");
        let cursor = field_str(ev, "sealtrail.journald.cursor").unwrap();
        assert_eq!(seqnum(cursor), i as u64 + 1);
    }
    let cp = checkpoint(&env).expect("a checkpoint");
    assert_eq!(seqnum(cp["cursor"].as_str().unwrap()), 20, "{cp}");
    assert_verify_ok(
        &env.verify(&cfg, &["--until", &stopped.until]),
        "journald archive",
    );
}

#[test]
fn a_restart_reads_only_what_came_after_the_checkpoint() {
    let env = TestEnv::new();
    let dir = env.path().join("journal-dir");
    std::fs::create_dir(&dir).unwrap();
    let first = dir.join("a.journal");
    write_journal(&first, &numbered("run1", 0, 10));

    let port = free_port();
    let table = format!(
        "\n[[journald]]\ndirectory = {}\n",
        toml_str(&dir.to_string_lossy())
    );
    let cfg = config("jd-restart", port, &table);
    let mut d = env.start(&cfg);
    wait_received(&mut d, port, "journald", 10);
    d.stop();
    assert_eq!(
        seqnum(checkpoint(&env).unwrap()["cursor"].as_str().unwrap()),
        10
    );

    // More entries while it is down: appended to the file, and in a new file. More
    // than ten: `--follow` alone would show only ten after the cursor.
    write_journal(&first, &numbered("run2", 10, 30));
    write_journal(&dir.join("b.journal"), &numbered("run2b", 40, 30));
    let mut d = env.start(&cfg);
    let got = wait_received(&mut d, port, "journald", 60);
    // Give it a moment to read anything it should not.
    std::thread::sleep(Duration::from_millis(1500));
    let got_later = source_metric(port, "component_received_events_total", "journald") as u64;
    let stopped = d.stop();
    assert_eq!((got, got_later), (60, 60), "only the sixty new entries");

    let events = journal_events(&env);
    let c = counts(&events);
    assert_eq!(events.len(), 70, "{:?}", messages(&events));
    for (tag, from, n) in [("run1", 0, 10), ("run2", 10, 30), ("run2b", 40, 30)] {
        for i in from..from + n {
            assert_eq!(c.get(&format!("{tag} entry {i}")), Some(&1), "{tag} {i}");
        }
    }
    assert!(
        env.logs()
            .contains("resuming after the checkpointed cursor"),
        "the second start resumed"
    );
    assert_verify_ok(
        &env.verify(&cfg, &["--until", &stopped.until]),
        "after restart",
    );
}

#[test]
fn a_restart_after_a_reboot_reads_the_rest_of_the_previous_boot_too() {
    // A host's journal across a reboot: sealtrail stopped in boot 1, the rest of boot 1
    // (its shutdown) and boot 2 were written before it started again. journalctl 252's
    // --follow implies --boot (the last one): without --merge the rest of boot 1 after
    // the cursor would be skipped.
    let env = TestEnv::new();
    let file = env.path().join("reboot.journal");
    let t0 = realtime_us(60.0);
    let boot2 = ("0f1e2d3c4b5a69788796a5b4c3d2e1f0", t0 + 30_000_000);
    let entry = |i: u64, boot| {
        let mut e = Entry::new(
            t0 + i * 1_000_000,
            "app",
            100 + i as u32,
            &format!("reboot entry {i}"),
        );
        e.boot = boot;
        e.export()
    };
    write_journal(&file, &(0..5).map(|i| entry(i, BOOT1)).collect::<Vec<_>>());
    let port = free_port();
    let cfg = config("jd-reboot", port, &file_table(&file, ""));
    let mut d = env.start(&cfg);
    wait_received(&mut d, port, "journald", 5);
    d.stop();
    let mut more: Vec<Vec<u8>> = (5..8).map(|i| entry(i, BOOT1)).collect();
    more.extend((31..35).map(|i| entry(i, boot2)));
    write_journal(&file, &more);
    // And an import sees every boot, not the last one only.
    let mut d = env.start(&cfg);
    wait_received(&mut d, port, "journald", 7);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        source_metric(port, "component_received_events_total", "journald"),
        7.0
    );
    d.stop();
    let msgs = messages(&journal_events(&env));
    let want: Vec<String> = (0..8)
        .chain(31..35)
        .map(|i| format!("reboot entry {i}"))
        .collect();
    assert_eq!(msgs, want);
}

#[test]
fn an_import_reads_every_boot() {
    let env = TestEnv::new();
    let file = env.path().join("boots.journal");
    let t0 = realtime_us(100.0);
    let boots = [
        BOOT1,
        ("11111111111111111111111111111111", t0 + 9_000_000),
        ("22222222222222222222222222222222", t0 + 18_000_000),
    ];
    let entries: Vec<Vec<u8>> = (0..9u64)
        .map(|i| {
            let mut e = Entry::new(
                t0 + i * 3_000_000 + 1,
                "app",
                1,
                &format!("boot {} entry {i}", i / 3),
            );
            e.boot = boots[(i / 3) as usize];
            e.export()
        })
        .collect();
    write_journal(&file, &entries);
    let port = free_port();
    let cfg = config("jd-boots", port, &file_table(&file, ""));
    let mut d = env.start(&cfg);
    wait_received(&mut d, port, "journald", 9);
    d.stop();
    assert_eq!(messages(&journal_events(&env)).len(), 9);
}

#[test]
fn since_end_skips_the_history_and_reads_what_comes_next() {
    let env = TestEnv::new();
    let file = env.path().join("live.journal");
    write_journal(&file, &numbered("history", 0, 8));
    let port = free_port();
    let cfg = config("jd-end", port, &file_table(&file, "since = \"end\""));
    let mut d = env.start(&cfg);
    // The newest entry's cursor is checkpointed before anything new is read.
    let deadline = Instant::now() + IDLE_TIMEOUT;
    while checkpoint(&env).is_none() {
        d.wait_ready();
        assert!(
            Instant::now() < deadline,
            "no checkpoint at start\n{}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        seqnum(checkpoint(&env).unwrap()["cursor"].as_str().unwrap()),
        8
    );
    write_journal(&file, &numbered("live", 8, 3));
    wait_received(&mut d, port, "journald", 3);
    d.stop();
    let events = journal_events(&env);
    assert_eq!(
        messages(&events),
        ["live entry 8", "live entry 9", "live entry 10"]
    );
}

#[test]
fn kill_9_mid_import_loses_nothing_and_repeats_only_the_unchecked_tail() {
    const N: usize = 4000;
    let env = TestEnv::new();
    let file = env.path().join("import.journal");
    write_journal(&file, &numbered("bulk", 0, N));
    let slow = slow_journalctl(env.path());
    let port = free_port();
    let table = file_table(
        &file,
        &format!("journalctl = {}", toml_str(&slow.to_string_lossy())),
    );
    let cfg = config("jd-kill", port, &table);
    let mut d = env.start(&cfg);
    // Past the first checkpoint (one a second), well before the end.
    let seen = wait_received(&mut d, port, "journald", 1500);
    assert!(
        seen < N as u64 - 1000,
        "the import is not over yet ({seen})"
    );
    d.kill9();
    let restart_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    let k = checkpoint(&env).map_or(0, |cp| seqnum(cp["cursor"].as_str().unwrap()));
    assert!(k > 0, "at least one checkpoint was written before the kill");
    // The killed daemon's journalctl does not linger: its pipe closed.
    let deadline = Instant::now() + Duration::from_secs(15);
    let needle = file.to_string_lossy().into_owned();
    while !processes_with(&needle).is_empty() {
        assert!(
            Instant::now() < deadline,
            "journalctl outlived the daemon: {:?}",
            processes_with(&needle)
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut d = env.start(&cfg);
    let rest = N as u64 - k;
    wait_received(&mut d, port, "journald", rest);
    let stopped = d.stop();

    let events = journal_events(&env);
    let mut by_seq: HashMap<u64, Vec<&Value>> = HashMap::new();
    for e in &events {
        by_seq
            .entry(seqnum(field_str(e, "sealtrail.journald.cursor").unwrap()))
            .or_default()
            .push(e);
    }
    for i in 1..=N as u64 {
        assert!(by_seq.contains_key(&i), "entry {i} lost (checkpoint {k})");
    }
    // Duplicates: exactly the entries the first run journalled after its checkpoint.
    let first_run = |e: &Value| {
        let created = field_str(e, "event.created").unwrap();
        chrono::DateTime::parse_from_rfc3339(created)
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap()
            < restart_ns
    };
    let tail: Vec<u64> = events
        .iter()
        .filter(|e| first_run(e))
        .map(|e| seqnum(field_str(e, "sealtrail.journald.cursor").unwrap()))
        .filter(|&i| i > k)
        .collect();
    let dups: Vec<u64> = {
        let mut d: Vec<u64> = by_seq
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(i, v)| {
                assert_eq!(v.len(), 2, "entry {i} archived {} times", v.len());
                *i
            })
            .collect();
        d.sort_unstable();
        d
    };
    let mut tail_sorted = tail.clone();
    tail_sorted.sort_unstable();
    assert_eq!(dups, tail_sorted, "duplicates are the un-checkpointed tail");
    assert!(
        dups.iter().all(|&i| i > k),
        "nothing checkpointed was read twice"
    );
    eprintln!(
        "kill -9 mid-import: {N} entries, {seen} seen before the kill, checkpoint at {k}, {} read again, {} events archived",
        dups.len(),
        events.len()
    );
    assert_eq!(events.len(), N + dups.len());
    assert_verify_ok(
        &env.verify(&cfg, &["--until", &stopped.until]),
        "after kill -9",
    );
}

#[test]
fn a_killed_journalctl_is_restarted_and_nothing_is_lost_or_doubled() {
    let env = TestEnv::new();
    let file = env.path().join("j.journal");
    write_journal(&file, &numbered("a", 0, 5));
    let port = free_port();
    let cfg = config(
        "jd-child",
        port,
        &file_table(&file, "restart_backoff = \"1s\""),
    );
    let mut d = env.start(&cfg);
    wait_received(&mut d, port, "journald", 5);
    for round in 1..=2u64 {
        let kids = children(d.pid());
        assert_eq!(kids.len(), 1, "one journalctl child: {kids:?}");
        signal(kids[0], "KILL");
        // Entries written while it is down or starting again.
        write_journal(
            &file,
            &numbered(&format!("r{round}"), 5 * round as usize, 5),
        );
        wait_received(&mut d, port, "journald", 5 + 5 * round);
        let deadline = Instant::now() + IDLE_TIMEOUT;
        while (source_metric(port, "sealtrail_source_restarts_total", "journald") as u64) < round {
            assert!(Instant::now() < deadline, "restart not counted");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        source_metric(port, "sealtrail_source_restarts_total", "journald"),
        2.0
    );
    assert!(source_metric(port, "component_errors_total", "journald") >= 2.0);
    assert_eq!(
        source_metric(port, "component_received_events_total", "journald"),
        15.0
    );
    let stopped = d.stop();
    let events = journal_events(&env);
    assert_eq!(events.len(), 15, "{:?}", messages(&events));
    assert!(counts(&events).values().all(|&n| n == 1));
    assert!(
        env.logs().contains("journalctl ended"),
        "the child's end is logged"
    );
    assert_verify_ok(
        &env.verify(&cfg, &["--until", &stopped.until]),
        "after child kills",
    );
}

#[test]
fn a_journalctl_that_keeps_failing_is_restarted_with_backoff() {
    let env = TestEnv::new();
    let script = env.path().join("dying-journalctl");
    // Two entries per start, then exit 1 (after six it stays, like --follow).
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/bash
D={dir}
date +%s.%N >> "$D/starts"
n=$(cat "$D/count" 2>/dev/null || echo 0)
for k in 1 2; do n=$((n+1)); printf '{{"__CURSOR":"c%d","MESSAGE":"dying entry %d","_HOSTNAME":"h"}}\n' $n $n; done
echo $n > "$D/count"
if [ $n -ge 6 ]; then exec sleep 1000; fi
echo "dying-journalctl: exit 1 after two entries" >&2
exit 1
"#,
            dir = env.path().display()
        ),
    )
    .unwrap();
    make_executable(&script);
    let port = free_port();
    let table = format!(
        "\n[[journald]]\nname = \"dying\"\njournalctl = {}\nsince = \"beginning\"\nrestart_backoff = \"2s\"\n",
        toml_str(&script.to_string_lossy())
    );
    let cfg = config("jd-dying", port, &table);
    let mut d = env.start(&cfg);
    wait_received(&mut d, port, "dying", 6);
    assert_eq!(
        source_metric(port, "sealtrail_source_restarts_total", "dying"),
        2.0
    );
    let stopped = d.stop();
    let starts: Vec<f64> = std::fs::read_to_string(env.path().join("starts"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(starts.len(), 3);
    for w in starts.windows(2) {
        assert!(
            w[1] - w[0] >= 0.2,
            "a pause before each restart: {starts:?}"
        );
    }
    let events = journal_events(&env);
    let msgs = messages(&events);
    let want: Vec<String> = (1..=6).map(|i| format!("dying entry {i}")).collect();
    assert_eq!(msgs, want);
    assert!(
        env.logs()
            .contains("dying-journalctl: exit 1 after two entries"),
        "stderr logged"
    );
    assert_verify_ok(
        &env.verify(&cfg, &["--until", &stopped.until]),
        "dying journalctl",
    );
}

#[test]
fn bad_entries_are_kept_flagged_and_counted_and_the_daemon_keeps_serving() {
    let env = TestEnv::new();
    let file = env.path().join("bad.journal");
    let mut huge = Entry::new(realtime_us(3.0), "bigapp", 7, "");
    huge.message = format!("HUGE {}", "y".repeat(200_000)).into_bytes();
    let mut binary = Entry::new(realtime_us(2.0), "binapp", 8, "");
    binary.message = b"bin \xff\xfe tail".to_vec();
    write_journal(
        &file,
        &[
            huge.export(),
            binary.export(),
            Entry::new(realtime_us(1.0), "app", 9, "after the bad ones").export(),
        ],
    );
    // A second source: a journalctl that prints a line that is not JSON.
    let fake = env.path().join("fake-journalctl");
    std::fs::write(
        &fake,
        "#!/bin/bash\necho 'this is not json'\nprintf '{\"__CURSOR\":\"f1\",\"MESSAGE\":\"fake ok\"}\\n'\nexec sleep 1000\n",
    )
    .unwrap();
    make_executable(&fake);
    let port = free_port();
    let tables = format!(
        "{}\n[[journald]]\nname = \"fake\"\njournalctl = {}\nsince = \"beginning\"\n",
        file_table(&file, "max_entry_bytes = 65536"),
        toml_str(&fake.to_string_lossy())
    );
    let cfg = config("jd-bad", port, &tables);
    let mut d = env.start(&cfg);
    wait_received(&mut d, port, "journald", 3);
    wait_received(&mut d, port, "fake", 2);
    // Still serving: a later entry arrives.
    write_journal(
        &file,
        &[Entry::new(realtime_us(0.0), "app", 10, "later still").export()],
    );
    wait_received(&mut d, port, "journald", 4);
    assert_eq!(
        source_metric(port, "sealtrail_truncated_events_total", "journald"),
        1.0
    );
    assert_eq!(
        source_metric(port, "component_errors_total", "journald"),
        0.0
    );
    assert_eq!(source_metric(port, "component_errors_total", "fake"), 1.0);
    let stopped = d.stop();

    let events = journal_events(&env);
    let by_msg = |prefix: &str| -> &Value {
        events
            .iter()
            .find(|e| field_str(e, "message").is_some_and(|m| m.starts_with(prefix)))
            .unwrap_or_else(|| panic!("no event {prefix}: {:?}", messages(&events)))
    };
    let cut = by_msg("HUGE ");
    assert_eq!(tags(cut), ["_truncated"], "{}", brief(cut));
    let original = field_str(cut, "event.original").unwrap();
    assert!(
        original.len() <= 65536 && original.len() > 60_000,
        "{}",
        original.len()
    );
    assert!(field_str(cut, "message").unwrap().len() < 65536);
    let bin = by_msg("bin ");
    assert_eq!(tags(bin), ["_invalid_utf8"], "{}", brief(bin));
    assert_eq!(field_str(bin, "message"), Some("bin \u{fffd}\u{fffd} tail"));
    assert!(
        field_str(bin, "event.original")
            .unwrap()
            .contains("\"MESSAGE\":[98,105,110,32,255,254,"),
        "the exact bytes stay in the original: {}",
        brief(bin)
    );
    assert_eq!(field_str(bin, "process.name"), Some("binapp"));
    let raw = events
        .iter()
        .find(|e| field_str(e, "event.original") == Some("this is not json"))
        .expect("the non-JSON line is kept");
    assert_eq!(tags(raw), ["_parse_failure"]);
    assert_eq!(field_str(raw, "observer.ingress.name"), Some("fake"));
    for m in ["after the bad ones", "later still", "fake ok"] {
        by_msg(m);
    }
    assert_eq!(events.len(), 6, "{:?}", messages(&events));
    assert_verify_ok(
        &env.verify(&cfg, &["--until", &stopped.until]),
        "bad entries",
    );
}

#[test]
fn sshd_brute_force_in_a_journal_file_raises_the_alert() {
    let env = TestEnv::new();
    let file = env.path().join("auth.journal");
    let mut entries: Vec<Vec<u8>> = (0..6u32)
        .map(|i| {
            Entry::new(
                realtime_us(60.0 - f64::from(i) * 5.0),
                "sshd",
                3000 + i,
                &format!(
                    "Failed password for root from 198.51.100.23 port {} ssh2",
                    40000 + i
                ),
            )
            .export()
        })
        .collect();
    entries.push(
        Entry::new(
            realtime_us(10.0),
            "sudo",
            4000,
            "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
        )
        .export(),
    );
    write_journal(&file, &entries);
    let port = free_port();
    let cfg = config("jd-brute", port, &file_table(&file, ""));
    let mut d = env.start(&cfg);
    wait_received(&mut d, port, "journald", 7);
    let stopped = d.stop();

    let events = all_events(&read_archive(&env.archive_dir));
    let failures = audit_events(&events, "ssh_login", "failure");
    assert_eq!(failures.len(), 6, "six audit events: {events:#?}");
    for f in &failures {
        assert_eq!(field_str(f, "user.name"), Some("root"));
        assert_eq!(field_str(f, "source.ip"), Some("198.51.100.23"));
        assert_eq!(field_str(f, "process.name"), Some("sshd"));
    }
    let sudo = events
        .iter()
        .find(|e| field_str(e, "event.action") == Some("sudo_command"))
        .expect("the sudo entry is an audit event");
    assert_eq!(field_str(sudo, "user.name"), Some("alice"));
    let alerts = alerts(&events);
    assert_eq!(alerts.len(), 1, "one brute-force alert: {alerts:#?}");
    assert_eq!(field_str(alerts[0], "rule.id"), Some("brute_force"));
    assert_eq!(field_str(alerts[0], "source.ip"), Some("198.51.100.23"));
    let evidence = field(alerts[0], "sealtrail.alert.evidence")
        .and_then(Value::as_array)
        .expect("evidence ids");
    let ids: Vec<&str> = failures
        .iter()
        .filter_map(|f| field_str(f, "event.id"))
        .collect();
    assert_eq!(evidence.len(), 5);
    assert!(evidence.iter().all(|e| ids.contains(&e.as_str().unwrap())));
    assert_verify_ok(
        &env.verify(&cfg, &["--until", &stopped.until]),
        "brute force",
    );
}
