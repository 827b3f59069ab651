//! The `/metrics` exposition of a [`Snapshot`], encoded by `prometheus-client`.
//!
//! The project writes no exposition format by hand: the crate (the Prometheus project's
//! own Rust client) owns the syntax, the escaping of label values and HELP texts, and
//! the `_total` suffix of counters. This file only says which families a snapshot has.
//!
//! It is a pull model: the figures live in the daemon's atomics, [`Probe::snapshot`]
//! reads each of them once per scrape, and [`SnapshotCollector`] turns that one reading
//! into families. Encoding a reading rather than the atomics themselves keeps derived
//! figures (`sealtrail_upload_lag_segments` is sealed minus shipped) consistent with
//! the figures they come from, and `/metrics` with `/status`.
//!
//! The format is the Prometheus text format 0.0.4 ([`CONTENT_TYPE`]), which the crate
//! encodes as well as OpenMetrics: every scraper reads it, and it is what this endpoint
//! served before, line for line. OpenMetrics would add nothing these figures use
//! (exemplars, units, created timestamps) and would rename the `# TYPE` lines of every
//! counter family. The collector is the same for both: switching is the choice of
//! encoder in [`render_metrics`] and of the content type.
//!
//! [`Probe::snapshot`]: super::Probe::snapshot

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::{Snapshot, SourceSnapshot};

/// The `Content-Type` of what [`render_metrics`] returns: the crate's, so that the two
/// cannot disagree.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The exposition of `snapshot`. Fails only if an encoder reports an error: writing into
/// a `String` cannot, but the crate's API says it may, and the caller answers 500.
///
/// A registry per scrape, because a collector must own what it encodes (`'static`) and
/// what it encodes is this scrape's reading. It costs one small allocation per scrape.
pub fn render_metrics(snapshot: Snapshot) -> Result<String, fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(snapshot)));
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)?;
    Ok(out)
}

/// The families of one snapshot, encoded on each scrape. Families are announced before
/// their samples, and announced even with no sample (no forwarder configured, no
/// detector alert yet), so that a dashboard can tell "none" from "not exported".
#[derive(Debug)]
pub struct SnapshotCollector(pub Snapshot);

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        encode_snapshot(&self.0, &mut encoder)
    }
}

/// What a family is, for the encoder: it writes the `# TYPE` line from it and, for a
/// counter, the `_total` suffix of every sample.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

use Kind::{Counter, Gauge};

/// The samples of one family, once its HELP and TYPE are written.
struct Samples<'a> {
    metric: MetricEncoder<'a>,
    kind: Kind,
}

impl Samples<'_> {
    fn add(&mut self, labels: &[(&str, &str)], value: u64) -> fmt::Result {
        let sample = self.metric.encode_family(&labels)?;
        match self.kind {
            Counter => ConstCounter::new(value).encode(sample),
            Gauge => ConstGauge::new(value).encode(sample),
        }
    }
}

/// Announces a family. `name` is the sample name, as scraped and as the docs list it;
/// the crate wants a counter's family name without `_total` (it appends the suffix
/// itself), so it is taken off here. A counter named without `_total` would be exported
/// with one added: the recorded-exposition test would show it.
fn family<'a>(
    encoder: &'a mut DescriptorEncoder,
    name: &'a str,
    kind: Kind,
    help: &str,
) -> Result<Samples<'a>, fmt::Error> {
    let (name, ty) = match kind {
        Counter => (
            name.strip_suffix("_total").unwrap_or(name),
            MetricType::Counter,
        ),
        Gauge => (name, MetricType::Gauge),
    };
    let metric = encoder.encode_descriptor(name, help, None, ty)?;
    Ok(Samples { metric, kind })
}

/// A family with one sample per source.
fn per_source(
    encoder: &mut DescriptorEncoder,
    s: &Snapshot,
    (name, kind, help, value): PerSource,
) -> fmt::Result {
    let mut f = family(encoder, name, kind, help)?;
    for src in &s.sources {
        f.add(&source_labels(src), value(src))?;
    }
    Ok(())
}

/// A per-source family: sample name, type, help, and the figure.
type PerSource = (&'static str, Kind, &'static str, fn(&SourceSnapshot) -> u64);

fn encode_snapshot(s: &Snapshot, e: &mut DescriptorEncoder) -> fmt::Result {
    let sealer = [
        ("component_id", "sealer"),
        ("component_kind", "transform"),
        ("component_type", "sealer"),
    ];
    let archive = [
        ("component_id", "archive"),
        ("component_kind", "sink"),
        ("component_type", "archive"),
    ];
    per_source(
        e,
        s,
        (
            "component_received_events_total",
            Counter,
            "Events received by a source.",
            |src| src.received_events,
        ),
    )?;
    per_source(
        e,
        s,
        (
            "component_received_bytes_total",
            Counter,
            "Bytes received by a source, before framing.",
            |src| src.received_bytes,
        ),
    )?;
    let mut f = family(
        e,
        "component_discarded_events_total",
        Counter,
        "Events lost before they reached the journal: UDP datagrams the kernel dropped.",
    )?;
    for src in &s.sources {
        let [id, kind, ty] = source_labels(src);
        f.add(&[id, kind, ty, ("intentional", "false")], src.kernel_drops)?;
    }
    let mut f = family(
        e,
        "component_errors_total",
        Counter,
        "Errors by component (the log says which).",
    )?;
    for src in &s.sources {
        f.add(&source_labels(src), src.errors)?;
    }
    f.add(&sealer, s.sealer.errors)?;
    f.add(&archive, s.shipper.errors)?;
    for fw in &s.forwarders {
        f.add(&sink_labels(fw), fw.errors + fw.undecodable)?;
    }
    // Every class, with none as 0: a class that appears only once it happens cannot be
    // alerted on with `increase()`.
    let mut f = family(
        e,
        "sealtrail_upload_errors_total",
        Counter,
        "Failed upload attempts by class (each is retried; nothing is dropped).",
    )?;
    for c in crate::store::ErrorClass::ALL {
        let n = s.shipper.errors_by_class.get(c.as_str()).copied();
        f.add(&[("class", c.as_str())], n.unwrap_or(0))?;
    }
    let mut f = family(
        e,
        "component_sent_events_total",
        Counter,
        "Events sealed into segments.",
    )?;
    f.add(&sealer, s.sealer.sealed_events)?;
    for fw in &s.forwarders {
        f.add(&sink_labels(fw), fw.sent_events)?;
    }
    let mut f = family(
        e,
        "component_sent_bytes_total",
        Counter,
        "Segment bytes written to the archive; bytes sent by each forwarder.",
    )?;
    f.add(&archive, s.shipper.shipped_bytes)?;
    for fw in &s.forwarders {
        f.add(&sink_labels(fw), fw.sent_bytes)?;
    }
    let mut f = family(
        e,
        "sealtrail_alerts_total",
        Counter,
        "Detector alerts since start, by rule (each is sealed into the chain).",
    )?;
    for (rule, n) in s.detector.iter().flat_map(|d| &d.alerts_by_rule) {
        f.add(&[("rule", rule.as_str())], *n)?;
    }
    let mut f = family(
        e,
        "sealtrail_detector_fed_records_total",
        Counter,
        "Journal records the detector took from the sealer's decoding instead of decoding them again.",
    )?;
    if let Some(d) = &s.detector {
        f.add(&[], d.fed_records)?;
    }
    let mut f = family(
        e,
        "sealtrail_detector_decoded_records_total",
        Counter,
        "Journal records the detector read and decoded itself, where the sealer's decoding did not cover them.",
    )?;
    if let Some(d) = &s.detector {
        f.add(&[], d.decoded_records)?;
    }
    let mut f = family(
        e,
        "sealtrail_forward_dropped_events_total",
        Counter,
        "Events a forwarder skipped under policy = drop_oldest (sealed in the archive, never sent).",
    )?;
    for fw in &s.forwarders {
        f.add(&[("component_id", fw.name.as_str())], fw.dropped)?;
    }
    let mut f = family(
        e,
        "sealtrail_forward_resent_events_total",
        Counter,
        "Events a forwarder sent again after a failure (at least once: the receiver may have some twice).",
    )?;
    for fw in &s.forwarders {
        f.add(&[("component_id", fw.name.as_str())], fw.resent_events)?;
    }
    per_source(
        e,
        s,
        (
            "connection_established_total",
            Counter,
            "TCP connections accepted by a source.",
            |src| src.connections,
        ),
    )?;
    per_source(
        e,
        s,
        (
            "sealtrail_connections_active",
            Gauge,
            "TCP connections a source holds open now.",
            |src| src.active_connections,
        ),
    )?;
    let mut f = family(
        e,
        "sealtrail_connections_refused_total",
        Counter,
        "TCP connections closed at once because a cap was reached, by cap.",
    )?;
    for src in &s.sources {
        let [id, kind, ty] = source_labels(src);
        let r = &src.refused_connections;
        for (cap, v) in [
            ("max_connections", r.max_connections),
            ("max_connections_per_peer", r.max_connections_per_peer),
            ("descriptor budget", r.descriptor_budget),
        ] {
            f.add(&[id, kind, ty, ("cap", cap)], v)?;
        }
    }
    let by_source: [PerSource; 9] = [
        (
            "sealtrail_connections_idle_closed_total",
            Counter,
            "TCP connections closed after idle_timeout without data.",
            |s| s.idle_closed,
        ),
        (
            "sealtrail_tls_handshake_failures_total",
            Counter,
            "TLS connections closed because their handshake failed or timed out (no or a refused client certificate, a protocol error, a slow client).",
            |s| s.tls_handshake_failures,
        ),
        (
            "sealtrail_checkpoint_errors_total",
            Counter,
            "Failed checkpoint writes of a source (each logged; the previous checkpoint stays).",
            |s| s.checkpoint_errors,
        ),
        (
            "sealtrail_files_open",
            Gauge,
            "Files a file source is reading now.",
            |s| s.files_open,
        ),
        (
            "sealtrail_file_rotations_total",
            Counter,
            "Files a file source followed through a rotation (renamed or replaced).",
            |s| s.file_rotations,
        ),
        (
            "sealtrail_file_truncations_total",
            Counter,
            "Files found truncated in place (copytruncate) and read again from the start.",
            |s| s.file_truncations,
        ),
        (
            "sealtrail_source_restarts_total",
            Counter,
            "Times a source's helper process (journalctl) was restarted.",
            |s| s.restarts,
        ),
        (
            "sealtrail_truncated_events_total",
            Counter,
            "Messages cut to max_message_bytes (tagged _truncated).",
            |s| s.truncated,
        ),
        (
            "sealtrail_incomplete_events_total",
            Counter,
            "Frames cut off by a closing connection (tagged _incomplete).",
            |s| s.incomplete,
        ),
    ];
    for entry in by_source {
        per_source(e, s, entry)?;
    }
    for (name, kind, help, v) in plain(s) {
        family(e, name, kind, help)?.add(&[], v)?;
    }
    if let Some(free) = s.journal.free_bytes {
        family(
            e,
            "sealtrail_state_free_bytes",
            Gauge,
            "Free space of the state file system at the journal's last look.",
        )?
        .add(&[], free)?;
    }
    let mut f = family(
        e,
        "sealtrail_journal_lag_bytes",
        Gauge,
        "Durable journal bytes a consumer has not committed yet.",
    )?;
    for c in &s.journal.consumers {
        f.add(&[("consumer", c.name.as_str())], c.lag_bytes)?;
    }
    family(
        e,
        "sealtrail_uptime_seconds",
        Gauge,
        "Seconds since the daemon started.",
    )?
    .add(&[], s.uptime_seconds)?;
    // An info metric: the crate appends `_info` to the name and, in this format, types
    // it as a gauge of constant 1, as it was written before.
    let info = Info::new([
        ("version", s.version.as_str()),
        ("stream", s.stream.as_str()),
    ]);
    let metric = e.encode_descriptor(
        "sealtrail_build",
        "Constant 1, labelled with the version and stream.",
        None,
        info.metric_type(),
    )?;
    info.encode(metric)
}

/// Families of one unlabelled sample each: add a line here for a new figure.
fn plain(s: &Snapshot) -> [(&'static str, Kind, &'static str, u64); 22] {
    [
        (
            "sealtrail_sealed_segments_total",
            Counter,
            "Segments sealed since start.",
            s.sealer.sealed_segments,
        ),
        (
            "sealtrail_sealed_next_sequence",
            Gauge,
            "Sequence number the next sealed segment gets (chain length).",
            s.sealer.next_seq,
        ),
        (
            "sealtrail_shipped_next_sequence",
            Gauge,
            "One past the newest archived sequence number.",
            s.shipper.next_seq,
        ),
        (
            "sealtrail_shipped_segments_total",
            Counter,
            "Segments archived since start.",
            s.shipper.shipped_segments,
        ),
        (
            "sealtrail_upload_lag_segments",
            Gauge,
            "Sealed segments not yet archived.",
            s.sealer.next_seq.saturating_sub(s.shipper.next_seq),
        ),
        (
            "sealtrail_spool_segments",
            Gauge,
            "Segments waiting in the local spool.",
            s.shipper.spool_segments,
        ),
        (
            "sealtrail_spool_bytes",
            Gauge,
            "Bytes waiting in the local spool.",
            s.shipper.spool_bytes,
        ),
        (
            "sealtrail_spool_max_bytes",
            Gauge,
            "spool.max_bytes: at it, sealing pauses until the archive takes segments.",
            s.shipper.spool_max_bytes,
        ),
        (
            "sealtrail_spool_full",
            Gauge,
            "1 while the spool is full and sealing waits for the archive.",
            u64::from(s.shipper.spool_full),
        ),
        (
            "sealtrail_spool_oldest_unshipped_seconds",
            Gauge,
            "Age of the oldest segment waiting in the spool (0: none waits).",
            s.shipper.oldest_unshipped_seconds.unwrap_or(0),
        ),
        (
            "sealtrail_seconds_since_last_seal",
            Gauge,
            "Seconds since the newest segment was sealed; above seal.max_age the chain has a gap.",
            s.sealer.since_last_seal_ms / 1000,
        ),
        (
            "sealtrail_late_seals_total",
            Counter,
            "Segments sealed after their heartbeat was due (each carries an event saying why).",
            s.sealer.late_seals,
        ),
        (
            "sealtrail_seal_commit_failures_total",
            Counter,
            "Failed attempts to commit a sealed segment to the spool (each retried).",
            s.sealer.commit_failures,
        ),
        (
            "sealtrail_early_seals_total",
            Counter,
            "Segments sealed early so that journal files could be reclaimed.",
            s.journal.early_seals,
        ),
        (
            "sealtrail_journal_paused",
            Gauge,
            "1 while journal writes wait (cap, free-space reserve or failing writes), else 0.",
            u64::from(s.journal.paused.is_some()),
        ),
        (
            "sealtrail_journal_pauses_total",
            Counter,
            "Times journal writes had to wait.",
            s.journal.pauses_total,
        ),
        (
            "sealtrail_journal_commits_total",
            Counter,
            "Journal group commits (one write and, with fsync, one sync each).",
            s.journal.commits_total,
        ),
        (
            "sealtrail_journal_write_errors_total",
            Counter,
            "Failed journal writes or syncs (each retried; nothing is dropped).",
            s.journal.write_errors_total,
        ),
        (
            "sealtrail_journal_gaps_total",
            Counter,
            "Journal ranges found damaged or missing (each sealed as a journal-gap event).",
            s.journal.gaps_total,
        ),
        (
            "sealtrail_journal_lost_bytes_total",
            Counter,
            "Bytes of those ranges.",
            s.journal.lost_bytes_total,
        ),
        (
            "sealtrail_journal_disk_bytes",
            Gauge,
            "Bytes of journal files on disk.",
            s.journal.disk_bytes,
        ),
        // A gauge, though it only grows: it was typed a counter, but the crate exports
        // every counter as `<name>_total`, and this sample keeps its name. It is a
        // position kept across restarts, not a count since start, so a gauge it is.
        (
            "sealtrail_journal_durable_position_bytes",
            Gauge,
            "Logical journal position up to which everything is durable.",
            s.journal.durable_position,
        ),
    ]
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
fn sink_labels(f: &super::forward::ForwarderSnapshot) -> [(&str, &str); 3] {
    [
        ("component_id", f.name.as_str()),
        ("component_kind", "sink"),
        ("component_type", f.kind.as_str()),
    ]
}
