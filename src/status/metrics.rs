//! Prometheus text rendering of a [`Snapshot`].

use std::fmt::Write as _;

use super::{Snapshot, SourceSnapshot};

/// Prometheus text exposition format 0.0.4. Each family is announced (`family`) before
/// its samples; a test checks that every sample line belongs to one announced above it.
pub fn render_metrics(s: &Snapshot) -> String {
    let mut m = Metrics::default();
    m.family(
        "component_received_events_total",
        "counter",
        "Events received by a source.",
    );
    per_source(&mut m, s, "component_received_events_total", |src| {
        src.received_events
    });
    m.family(
        "component_received_bytes_total",
        "counter",
        "Bytes received by a source, before framing.",
    );
    per_source(&mut m, s, "component_received_bytes_total", |src| {
        src.received_bytes
    });
    m.family(
        "component_discarded_events_total",
        "counter",
        "Events lost before they reached the journal: UDP datagrams the kernel dropped.",
    );
    for src in &s.sources {
        let [id, kind, ty] = source_labels(src);
        m.sample(
            "component_discarded_events_total",
            &[id, kind, ty, ("intentional", "false")],
            src.kernel_drops,
        );
    }
    m.family(
        "component_errors_total",
        "counter",
        "Errors by component (the log says which).",
    );
    per_source(&mut m, s, "component_errors_total", |src| src.errors);
    m.sample(
        "component_errors_total",
        &[
            ("component_id", "sealer"),
            ("component_kind", "transform"),
            ("component_type", "sealer"),
        ],
        s.sealer.errors,
    );
    m.sample(
        "component_errors_total",
        &archive_labels(),
        s.shipper.errors,
    );
    for f in &s.forwarders {
        m.sample(
            "component_errors_total",
            &sink_labels(f),
            f.errors + f.undecodable,
        );
    }
    m.family(
        "sealtrail_upload_errors_total",
        "counter",
        "Failed upload attempts by class (each is retried; nothing is dropped).",
    );
    for c in crate::store::ErrorClass::ALL {
        m.sample(
            "sealtrail_upload_errors_total",
            &[("class", c.as_str())],
            s.shipper
                .errors_by_class
                .get(c.as_str())
                .copied()
                .unwrap_or(0),
        );
    }
    m.family(
        "component_sent_events_total",
        "counter",
        "Events sealed into segments.",
    );
    m.sample(
        "component_sent_events_total",
        &[
            ("component_id", "sealer"),
            ("component_kind", "transform"),
            ("component_type", "sealer"),
        ],
        s.sealer.sealed_events,
    );
    for f in &s.forwarders {
        m.sample(
            "component_sent_events_total",
            &sink_labels(f),
            f.sent_events,
        );
    }
    m.family(
        "component_sent_bytes_total",
        "counter",
        "Segment bytes written to the archive; bytes sent by each forwarder.",
    );
    m.sample(
        "component_sent_bytes_total",
        &archive_labels(),
        s.shipper.shipped_bytes,
    );
    for f in &s.forwarders {
        m.sample("component_sent_bytes_total", &sink_labels(f), f.sent_bytes);
    }
    m.family(
        "sealtrail_alerts_total",
        "counter",
        "Detector alerts since start, by rule (each is sealed into the chain).",
    );
    for (rule, n) in s.detector.iter().flat_map(|d| &d.alerts_by_rule) {
        m.sample("sealtrail_alerts_total", &[("rule", rule.as_str())], *n);
    }
    m.family(
        "sealtrail_forward_dropped_events_total",
        "counter",
        "Events a forwarder skipped under policy = drop_oldest (sealed in the archive, never sent).",
    );
    for f in &s.forwarders {
        m.sample(
            "sealtrail_forward_dropped_events_total",
            &[("component_id", f.name.as_str())],
            f.dropped,
        );
    }
    m.family(
        "sealtrail_forward_resent_events_total",
        "counter",
        "Events a forwarder sent again after a failure (at least once: the receiver may have some twice).",
    );
    for f in &s.forwarders {
        m.sample(
            "sealtrail_forward_resent_events_total",
            &[("component_id", f.name.as_str())],
            f.resent_events,
        );
    }
    m.family(
        "connection_established_total",
        "counter",
        "TCP connections accepted by a source.",
    );
    per_source(&mut m, s, "connection_established_total", |src| {
        src.connections
    });
    m.family(
        "sealtrail_connections_active",
        "gauge",
        "TCP connections a source holds open now.",
    );
    per_source(&mut m, s, "sealtrail_connections_active", |src| {
        src.active_connections
    });
    m.family(
        "sealtrail_connections_refused_total",
        "counter",
        "TCP connections closed at once because a cap was reached, by cap.",
    );
    for src in &s.sources {
        let [id, kind, ty] = source_labels(src);
        let r = &src.refused_connections;
        for (cap, v) in [
            ("max_connections", r.max_connections),
            ("max_connections_per_peer", r.max_connections_per_peer),
            ("descriptor budget", r.descriptor_budget),
        ] {
            m.sample(
                "sealtrail_connections_refused_total",
                &[id, kind, ty, ("cap", cap)],
                v,
            );
        }
    }
    m.family(
        "sealtrail_connections_idle_closed_total",
        "counter",
        "TCP connections closed after idle_timeout without data.",
    );
    per_source(
        &mut m,
        s,
        "sealtrail_connections_idle_closed_total",
        |src| src.idle_closed,
    );
    let by_source: &[PerSource] = &[
        (
            "sealtrail_checkpoint_errors_total",
            "counter",
            "Failed checkpoint writes of a source (each logged; the previous checkpoint stays).",
            |s| s.checkpoint_errors,
        ),
        (
            "sealtrail_files_open",
            "gauge",
            "Files a file source is reading now.",
            |s| s.files_open,
        ),
        (
            "sealtrail_file_rotations_total",
            "counter",
            "Files a file source followed through a rotation (renamed or replaced).",
            |s| s.file_rotations,
        ),
        (
            "sealtrail_file_truncations_total",
            "counter",
            "Files found truncated in place (copytruncate) and read again from the start.",
            |s| s.file_truncations,
        ),
        (
            "sealtrail_source_restarts_total",
            "counter",
            "Times a source's helper process (journalctl) was restarted.",
            |s| s.restarts,
        ),
    ];
    for &(name, kind, help, value) in by_source {
        m.family(name, kind, help);
        per_source(&mut m, s, name, value);
    }
    m.family(
        "sealtrail_truncated_events_total",
        "counter",
        "Messages cut to max_message_bytes (tagged _truncated).",
    );
    per_source(&mut m, s, "sealtrail_truncated_events_total", |src| {
        src.truncated
    });
    m.family(
        "sealtrail_incomplete_events_total",
        "counter",
        "Frames cut off by a closing connection (tagged _incomplete).",
    );
    per_source(&mut m, s, "sealtrail_incomplete_events_total", |src| {
        src.incomplete
    });
    // Families of one unlabelled sample each: add a line here for a new figure.
    let plain: &[(&str, &str, &str, u64)] = &[
        (
            "sealtrail_sealed_segments_total",
            "counter",
            "Segments sealed since start.",
            s.sealer.sealed_segments,
        ),
        (
            "sealtrail_sealed_next_sequence",
            "gauge",
            "Sequence number the next sealed segment gets (chain length).",
            s.sealer.next_seq,
        ),
        (
            "sealtrail_shipped_next_sequence",
            "gauge",
            "One past the newest archived sequence number.",
            s.shipper.next_seq,
        ),
        (
            "sealtrail_shipped_segments_total",
            "counter",
            "Segments archived since start.",
            s.shipper.shipped_segments,
        ),
        (
            "sealtrail_upload_lag_segments",
            "gauge",
            "Sealed segments not yet archived.",
            s.sealer.next_seq.saturating_sub(s.shipper.next_seq),
        ),
        (
            "sealtrail_spool_segments",
            "gauge",
            "Segments waiting in the local spool.",
            s.shipper.spool_segments,
        ),
        (
            "sealtrail_spool_bytes",
            "gauge",
            "Bytes waiting in the local spool.",
            s.shipper.spool_bytes,
        ),
        (
            "sealtrail_spool_max_bytes",
            "gauge",
            "spool.max_bytes: at it, sealing pauses until the archive takes segments.",
            s.shipper.spool_max_bytes,
        ),
        (
            "sealtrail_spool_full",
            "gauge",
            "1 while the spool is full and sealing waits for the archive.",
            u64::from(s.shipper.spool_full),
        ),
        (
            "sealtrail_spool_oldest_unshipped_seconds",
            "gauge",
            "Age of the oldest segment waiting in the spool (0: none waits).",
            s.shipper.oldest_unshipped_seconds.unwrap_or(0),
        ),
        (
            "sealtrail_seconds_since_last_seal",
            "gauge",
            "Seconds since the newest segment was sealed; above seal.max_age the chain has a gap.",
            s.sealer.since_last_seal_ms / 1000,
        ),
        (
            "sealtrail_late_seals_total",
            "counter",
            "Segments sealed after their heartbeat was due (each carries an event saying why).",
            s.sealer.late_seals,
        ),
        (
            "sealtrail_seal_commit_failures_total",
            "counter",
            "Failed attempts to commit a sealed segment to the spool (each retried).",
            s.sealer.commit_failures,
        ),
        (
            "sealtrail_early_seals_total",
            "counter",
            "Segments sealed early so that journal files could be reclaimed.",
            s.journal.early_seals,
        ),
        (
            "sealtrail_journal_paused",
            "gauge",
            "1 while journal writes wait (cap, free-space reserve or failing writes), else 0.",
            u64::from(s.journal.paused.is_some()),
        ),
        (
            "sealtrail_journal_pauses_total",
            "counter",
            "Times journal writes had to wait.",
            s.journal.pauses_total,
        ),
        (
            "sealtrail_journal_write_errors_total",
            "counter",
            "Failed journal writes or syncs (each retried; nothing is dropped).",
            s.journal.write_errors_total,
        ),
        (
            "sealtrail_journal_gaps_total",
            "counter",
            "Journal ranges found damaged or missing (each sealed as a journal-gap event).",
            s.journal.gaps_total,
        ),
        (
            "sealtrail_journal_lost_bytes_total",
            "counter",
            "Bytes of those ranges.",
            s.journal.lost_bytes_total,
        ),
        (
            "sealtrail_journal_disk_bytes",
            "gauge",
            "Bytes of journal files on disk.",
            s.journal.disk_bytes,
        ),
        (
            "sealtrail_journal_durable_position_bytes",
            "counter",
            "Logical journal position up to which everything is durable.",
            s.journal.durable_position,
        ),
    ];
    for &(name, kind, help, v) in plain {
        m.family(name, kind, help);
        m.sample(name, &[], v);
    }
    if let Some(free) = s.journal.free_bytes {
        m.family(
            "sealtrail_state_free_bytes",
            "gauge",
            "Free space of the state file system at the journal's last look.",
        );
        m.sample("sealtrail_state_free_bytes", &[], free);
    }
    m.family(
        "sealtrail_journal_lag_bytes",
        "gauge",
        "Durable journal bytes a consumer has not committed yet.",
    );
    for c in &s.journal.consumers {
        m.sample(
            "sealtrail_journal_lag_bytes",
            &[("consumer", &c.name)],
            c.lag_bytes,
        );
    }
    m.family(
        "sealtrail_uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
    );
    m.sample("sealtrail_uptime_seconds", &[], s.uptime_seconds);
    m.family(
        "sealtrail_build_info",
        "gauge",
        "Constant 1, labelled with the version and stream.",
    );
    m.sample(
        "sealtrail_build_info",
        &[("version", &s.version), ("stream", &s.stream)],
        1,
    );
    m.out
}

/// A per-source family: name, type, help, and the figure.
type PerSource = (
    &'static str,
    &'static str,
    &'static str,
    fn(&SourceSnapshot) -> u64,
);

/// One sample per source of a family already announced.
fn per_source(m: &mut Metrics, s: &Snapshot, name: &str, value: impl Fn(&SourceSnapshot) -> u64) {
    for src in &s.sources {
        m.sample(name, &source_labels(src), value(src));
    }
}

fn source_labels(src: &SourceSnapshot) -> [(&str, &str); 3] {
    // Snapshots from an older daemon carry no type: they were all syslog listeners.
    let ty = if src.kind.is_empty() {
        "syslog"
    } else {
        src.kind.as_str()
    };
    [
        ("component_id", src.name.as_str()),
        ("component_kind", "source"),
        ("component_type", ty),
    ]
}

/// A forwarder's labels, Vector's way.
fn sink_labels(f: &super::forward::ForwarderSnapshot) -> [(&'static str, &str); 3] {
    [
        ("component_id", f.name.as_str()),
        ("component_kind", "sink"),
        ("component_type", f.kind.as_str()),
    ]
}

fn archive_labels() -> [(&'static str, &'static str); 3] {
    [
        ("component_id", "archive"),
        ("component_kind", "sink"),
        ("component_type", "archive"),
    ]
}

#[derive(Default)]
struct Metrics {
    out: String,
}

impl Metrics {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: u64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                for c in val.chars() {
                    match c {
                        '\\' => self.out.push_str("\\\\"),
                        '"' => self.out.push_str("\\\""),
                        '\n' => self.out.push_str("\\n"),
                        c => self.out.push(c),
                    }
                }
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {v}");
    }
}
