use super::*;
use crate::journal::JournalOptions;
use crate::source::SourceStats;

/// A probe with two sources (one with a name that needs escaping) and a journal cap.
pub(super) fn probe(dir: &std::path::Path) -> Probe {
    let journal = Journal::open(
        dir,
        JournalOptions {
            file_bytes: 1 << 20,
            max_bytes: 1 << 30,
            fsync: false,
            ..JournalOptions::default()
        },
    )
    .unwrap();
    let stats = Stats {
        sources: vec![
            SourceHandle {
                name: "udp".into(),
                kind: "syslog",
                stats: Arc::new(SourceStats::default()),
            },
            SourceHandle {
                name: "we\"ird".into(),
                kind: "syslog",
                stats: Arc::new(SourceStats::default()),
            },
        ],
        ..Stats::default()
    };
    let mut p = Probe::new("host-1", &stats, journal);
    p.journal_max_bytes = 1000;
    p
}

#[test]
fn metrics_carry_vector_names_and_live_values() {
    let dir = tempfile::tempdir().unwrap();
    let p = probe(dir.path());
    p.sources[0]
        .stats
        .received_events
        .store(42, Ordering::Relaxed);
    p.sources[0].stats.kernel_drops.store(7, Ordering::Relaxed);
    p.sources[1].stats.errors.store(3, Ordering::Relaxed);
    p.sealer.next_seq.store(7, Ordering::Relaxed);
    p.shipper.next_seq.store(5, Ordering::Relaxed);
    p.shipper.spool_bytes.store(1234, Ordering::Relaxed);
    p.shipper.errors_by_class[crate::store::ErrorClass::Auth.index()].store(4, Ordering::Relaxed);
    p.shipper.spool_full.store(true, Ordering::Relaxed);
    let text = render_metrics(p.snapshot()).unwrap();
    assert!(
        text.contains("\nsealtrail_upload_errors_total{class=\"auth\"} 4\n"),
        "{text}"
    );
    assert!(
        text.contains("\nsealtrail_upload_errors_total{class=\"throttled\"} 0\n"),
        "every class is exported: {text}"
    );
    assert!(text.contains("\nsealtrail_spool_full 1\n"), "{text}");
    assert!(text.contains(
        "component_received_events_total{component_id=\"udp\",component_kind=\"source\",component_type=\"syslog\"} 42\n"
    ), "{text}");
    assert!(
        text.contains("component_errors_total{component_id=\"we\\\"ird\""),
        "label escaping: {text}"
    );
    assert!(
        text.contains("\nsealtrail_upload_lag_segments 2\n"),
        "{text}"
    );
    assert!(text.contains("\nsealtrail_spool_bytes 1234\n"), "{text}");
    assert!(
        text.contains("component_discarded_events_total{component_id=\"udp\",component_kind=\"source\",component_type=\"syslog\",intentional=\"false\"} 7\n"),
        "{text}"
    );
    assert!(text.contains("sealtrail_journal_lag_bytes{consumer=\"sealer\"} 0\n"));
    // Every sample line belongs to a family announced before it.
    let mut declared = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            declared.insert(rest.split(' ').next().unwrap().to_string());
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(declared.contains(name), "{name} undeclared");
        }
    }
}

#[test]
fn alerts_name_current_conditions_only() {
    let dir = tempfile::tempdir().unwrap();
    let p = probe(dir.path());
    p.shipper.errors.store(9, Ordering::Relaxed);
    assert!(p.snapshot().alerts.is_empty(), "past errors are no alert");
    p.shipper.spool_segments.store(6, Ordering::Relaxed);
    let a = p.snapshot().alerts;
    assert_eq!(a.len(), 1);
    assert!(a[0].contains("6 sealed segments"), "{a:?}");
    let text = render_text(&p.snapshot());
    assert!(text.contains("  ! 6 sealed segments"), "{text}");
    assert!(text.contains("last sealed #- (none yet)"), "{text}");
}

#[test]
fn human_bytes_scales() {
    assert_eq!(human_bytes(512), "512 B");
    assert_eq!(human_bytes(1536), "1.5 KiB");
    assert_eq!(human_bytes(3 << 30), "3.0 GiB");
}

#[test]
fn a_sealer_behind_its_heartbeat_is_an_alert_that_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let p = probe(dir.path());
    p.sealer.heartbeat_ms.store(5_000, Ordering::Relaxed);
    p.sealer
        .last_sealed_ns
        .store(crate::record::now_ns(), Ordering::Relaxed);
    assert!(p.snapshot().alerts.is_empty(), "just sealed");
    p.sealer
        .last_sealed_ns
        .store(crate::record::now_ns() - 20_000_000_000, Ordering::Relaxed);
    p.sealer.commit_failing.store(true, Ordering::Relaxed);
    p.sealer
        .note_commit_error("spool: No space left on device".into());
    let a = p.snapshot().alerts;
    assert!(
        a[0].starts_with("sealing is late: no segment sealed for 20."),
        "{a:?}"
    );
    assert!(a[0].contains("No space left"), "{a:?}");
    assert!(a[1].contains("cannot commit segments"), "{a:?}");
    // Once sealing is back, the late seal stays visible for a while, with its reason.
    p.sealer.commit_failing.store(false, Ordering::Relaxed);
    p.sealer
        .last_sealed_ns
        .store(crate::record::now_ns(), Ordering::Relaxed);
    p.sealer.note_late(crate::seal::late::LateSeal {
        seq: 12,
        late_ms: 15_000,
        heartbeat_ms: 5_000,
        reason: "because".into(),
        sealed_ns: crate::record::now_ns(),
    });
    let a = p.snapshot().alerts;
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(
        a[0].contains("segment #12 was sealed 15.0 s after"),
        "{a:?}"
    );
    let text = render_metrics(p.snapshot()).unwrap();
    assert!(
        text.contains("\nsealtrail_seconds_since_last_seal 0\n"),
        "{text}"
    );
}

#[test]
fn connection_figures_reach_metrics_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let p = probe(dir.path());
    let s = &p.sources[0].stats;
    s.active_connections.store(3, Ordering::Relaxed);
    s.refused_connections[1].store(40, Ordering::Relaxed);
    s.refused_connections[2].store(2, Ordering::Relaxed);
    s.idle_closed.store(5, Ordering::Relaxed);
    let snap = p.snapshot();
    let text = render_metrics(snap.clone()).unwrap();
    assert!(text.contains("sealtrail_connections_active{component_id=\"udp\",component_kind=\"source\",component_type=\"syslog\"} 3\n"), "{text}");
    assert!(text.contains("sealtrail_connections_refused_total{component_id=\"udp\",component_kind=\"source\",component_type=\"syslog\",cap=\"max_connections_per_peer\"} 40\n"), "{text}");
    assert!(text.contains("cap=\"descriptor budget\"} 2\n"), "{text}");
    assert!(
        text.contains("sealtrail_connections_idle_closed_total{component_id=\"udp\""),
        "{text}"
    );
    let human = render_text(&snap);
    assert!(
        human.contains(
            "3 open, 42 refused (listener cap 0, per peer 40, descriptor budget 2), 5 closed idle"
        ),
        "{human}"
    );
    // The JSON round-trips for `sealtrail status`.
    let back: Snapshot = serde_json::from_str(&serde_json::to_string(&snap).unwrap()).unwrap();
    assert_eq!(back, snap);
}

/// A snapshot with every family populated: two forwarders, alerts by rule, a file source,
/// a source from an older daemon (no type), free space known. Fixed figures throughout,
/// so its exposition can be compared byte for byte.
fn full_snapshot() -> Snapshot {
    let dir = tempfile::tempdir().unwrap();
    let p = probe(dir.path());
    let mut s = p.snapshot();
    s.version = "9.9.9".into();
    s.uptime_seconds = 3605;
    for (i, src) in s.sources.iter_mut().enumerate() {
        let i = i as u64 + 1;
        src.received_events = 100 * i;
        src.received_bytes = 10_000 * i;
        src.truncated = i;
        src.incomplete = 2 * i;
        src.connections = 3 * i;
        src.errors = 4 * i;
        src.kernel_drops = 5 * i;
        src.active_connections = 6 * i;
        src.refused_connections = RefusedSnapshot {
            max_connections: 7 * i,
            max_connections_per_peer: 8 * i,
            descriptor_budget: 9 * i,
        };
        src.idle_closed = 10 * i;
        src.checkpoint_errors = 11 * i;
        src.files_open = 12 * i;
        src.file_rotations = 13 * i;
        src.file_truncations = 14 * i;
        src.restarts = 15 * i;
    }
    s.sources[1].kind = String::new();
    let mut file = s.sources[0].clone();
    file.name = "app\\logs\nnew".into();
    file.kind = "file".into();
    s.sources.push(file);
    s.journal.durable_position = 123_456;
    s.journal.disk_bytes = 200_000;
    s.journal.paused = Some("cap".into());
    s.journal.pauses_total = 3;
    s.journal.commits_total = 41;
    s.journal.write_errors_total = 2;
    s.journal.free_bytes = Some(1 << 40);
    s.journal.gaps_total = 1;
    s.journal.lost_bytes_total = 512;
    s.journal.early_seals = 4;
    s.sealer.sealed_segments = 70;
    s.sealer.sealed_events = 7000;
    s.detector = Some(super::DetectorSnapshot {
        alerts: 3,
        alerts_by_rule: [
            ("brute_force".to_string(), 2),
            ("root_login".to_string(), 1),
        ]
        .into_iter()
        .collect(),
        position: 120_000,
        lag_bytes: 3_456,
        pending_alerts: 0,
        fed_records: 900,
        decoded_records: 40,
    });
    s.sealer.next_seq = 71;
    s.sealer.errors = 1;
    s.sealer.since_last_seal_ms = 4_999;
    s.sealer.commit_failures = 5;
    s.sealer.late_seals = 6;
    s.shipper.shipped_segments = 60;
    s.shipper.shipped_bytes = 600_000;
    s.shipper.next_seq = 61;
    s.shipper.spool_segments = 10;
    s.shipper.spool_bytes = 100_000;
    s.shipper.spool_max_bytes = 1 << 30;
    s.shipper.spool_full = true;
    s.shipper.oldest_unshipped_seconds = Some(77);
    s.shipper.errors = 8;
    s.shipper.errors_by_class = [("auth".to_string(), 3), ("network".to_string(), 5)]
        .into_iter()
        .collect();
    s.forwarders = ["siem", "es"]
        .iter()
        .zip(["syslog", "elasticsearch"])
        .map(|(name, kind)| forward::ForwarderSnapshot {
            name: (*name).into(),
            kind: kind.into(),
            connected: true,
            sent_events: 900,
            sent_bytes: 90_000,
            resent_events: 9,
            undecodable: 1,
            filtered: 0,
            dead_lettered: 0,
            dropped: 12,
            errors: 2,
            last_error: None,
            delivered_position: 123_000,
            lag_bytes: 456,
        })
        .collect();
    s.journal.consumers = vec![
        ConsumerSnapshot {
            name: "sealer".into(),
            position: 123_400,
            lag_bytes: 56,
        },
        ConsumerSnapshot {
            name: "forward-siem".into(),
            position: 123_000,
            lag_bytes: 456,
        },
    ];
    s
}

/// A daemon with nothing configured beyond two listeners: no forwarder, no detector
/// alert, free space not looked at yet. Families with no samples are still announced.
fn bare_snapshot() -> Snapshot {
    let dir = tempfile::tempdir().unwrap();
    let mut s = probe(dir.path()).snapshot();
    s.version = "9.9.9".into();
    s.uptime_seconds = 1;
    s.sealer.since_last_seal_ms = 0;
    s.journal.free_bytes = None;
    s
}

/// Asserts `text` is `expected` line by line, naming the first line that differs (a
/// whole-text diff of 200 lines would bury it).
fn assert_same_lines(text: &str, expected: &str, what: &str) {
    for (n, (got, want)) in text.lines().zip(expected.lines()).enumerate() {
        assert_eq!(got, want, "{what}, line {}", n + 1);
    }
    assert_eq!(
        text.lines().count(),
        expected.lines().count(),
        "{what}: line count\n{text}"
    );
    assert_eq!(
        text.ends_with('\n'),
        expected.ends_with('\n'),
        "{what}: last newline"
    );
}

/// The whole exposition, byte for byte, against the one recorded in `testdata/`: any
/// renamed family, reordered label, changed HELP text or escaping shows up here, not in
/// a dashboard. Recorded from the hand-written renderer that prometheus-client replaced;
/// the crate's encoding differs from it in one line, the `# TYPE` of
/// `sealtrail_journal_durable_position_bytes` (a gauge now: `metrics.rs` says why).
#[test]
fn exposition_matches_the_recording() {
    // SEALTRAIL_RECORD_METRICS=1 writes the recordings anew (review the diff).
    if std::env::var_os("SEALTRAIL_RECORD_METRICS").is_some() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/status/testdata");
        std::fs::write(
            dir.join("metrics_full.prom"),
            render_metrics(full_snapshot()).unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.join("metrics_bare.prom"),
            render_metrics(bare_snapshot()).unwrap(),
        )
        .unwrap();
    }
    assert_same_lines(
        &render_metrics(full_snapshot()).unwrap(),
        include_str!("testdata/metrics_full.prom"),
        "every family populated",
    );
    assert_same_lines(
        &render_metrics(bare_snapshot()).unwrap(),
        include_str!("testdata/metrics_bare.prom"),
        "nothing beyond two listeners",
    );
}
