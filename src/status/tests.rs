use super::*;
use crate::journal::JournalOptions;

/// A probe with two sources (one with a name that needs escaping) and a journal cap.
pub(super) fn probe(dir: &std::path::Path) -> Probe {
    let journal = Journal::open(
        dir,
        JournalOptions {
            file_bytes: 1 << 20,
            max_bytes: 1 << 30,
            fsync: false,
        },
    )
    .unwrap();
    let stats = Stats {
        sources: vec![
            ("udp".into(), Arc::new(SourceStats::default())),
            ("we\"ird".into(), Arc::new(SourceStats::default())),
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
    p.sources[0].1.received_events.store(42, Ordering::Relaxed);
    p.sources[0].1.kernel_drops.store(7, Ordering::Relaxed);
    p.sources[1].1.errors.store(3, Ordering::Relaxed);
    p.sealer.next_seq.store(7, Ordering::Relaxed);
    p.shipper.next_seq.store(5, Ordering::Relaxed);
    p.shipper.spool_bytes.store(1234, Ordering::Relaxed);
    let text = render_metrics(&p.snapshot());
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
