//! The human rendering of a [`Snapshot`], for `sealtrail status`.

use std::fmt::Write as _;
use std::time::Duration;

use super::Snapshot;

/// Human summary for `sealtrail status`.
pub fn render_text(s: &Snapshot) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "sealtrail {}: stream `{}`, pid {}, up {}",
        s.version,
        s.stream,
        s.pid,
        humantime::format_duration(Duration::from_secs(s.uptime_seconds))
    );
    let _ = writeln!(o, "sources:");
    for src in &s.sources {
        let _ =
            writeln!(
            o,
            "  {:<16} {:<8} {} events ({}), {} truncated, {} incomplete, {} connections, {} errors",
            src.name,
            if src.kind.is_empty() { "syslog" } else { &src.kind },
            src.received_events,
            human_bytes(src.received_bytes),
            src.truncated,
            src.incomplete,
            src.connections,
            src.errors
        );
        if src.active_connections > 0
            || src.refused_connections.total() > 0
            || src.idle_closed > 0
            || src.tls_handshake_failures > 0
        {
            let r = &src.refused_connections;
            let _ = writeln!(
                o,
                "  {:<16} {} open, {} refused (listener cap {}, per peer {}, descriptor budget {}), {} closed idle, {} TLS handshakes failed",
                "",
                src.active_connections,
                r.total(),
                r.max_connections,
                r.max_connections_per_peer,
                r.descriptor_budget,
                src.idle_closed,
                src.tls_handshake_failures
            );
        }
        if src.files_open > 0 || src.file_rotations > 0 || src.file_truncations > 0 {
            let _ = writeln!(
                o,
                "  {:<16} {} files open, {} rotations followed, {} truncations (read again from the start)",
                "", src.files_open, src.file_rotations, src.file_truncations
            );
        }
        if src.checkpoint_errors > 0 || src.restarts > 0 {
            let _ = writeln!(
                o,
                "  {:<16} {} failed checkpoint writes, {} restarts of its helper process",
                "", src.checkpoint_errors, src.restarts
            );
        }
        if src.kernel_drops > 0 {
            let _ = writeln!(
                o,
                "  {:<16} {} datagrams dropped by the kernel (receive buffer full)",
                "", src.kernel_drops
            );
        }
    }
    let cap = if s.journal.max_bytes > 0 {
        format!(" of {}", human_bytes(s.journal.max_bytes))
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "journal: {}{cap} on disk, durable up to position {}",
        human_bytes(s.journal.disk_bytes),
        s.journal.durable_position
    );
    let j = &s.journal;
    if let Some(why) = &j.paused {
        let _ = writeln!(
            o,
            "  {:<16} writes paused {:.1} s: {why}",
            "",
            j.paused_ms as f64 / 1000.0
        );
    }
    if j.write_errors_total > 0 || j.gaps_total > 0 || j.early_seals > 0 {
        let _ = writeln!(
            o,
            "  {:<16} {} write errors, {} damaged ranges ({} lost), {} early seals, {} pauses",
            "",
            j.write_errors_total,
            j.gaps_total,
            human_bytes(j.lost_bytes_total),
            j.early_seals,
            j.pauses_total
        );
    }
    if let Some(free) = j.free_bytes {
        let _ = writeln!(
            o,
            "  {:<16} {} free on the state disk, {} kept for the spool",
            "",
            human_bytes(free),
            human_bytes(j.keep_free_bytes)
        );
    }
    for c in &s.journal.consumers {
        let _ = writeln!(
            o,
            "  {:<16} at {}, lag {}",
            c.name,
            c.position,
            human_bytes(c.lag_bytes)
        );
    }
    let _ = writeln!(
        o,
        "sealer: last sealed #{}, {} segments and {} events since start, {} errors",
        last_seq(s.sealer.next_seq),
        s.sealer.sealed_segments,
        s.sealer.sealed_events,
        s.sealer.errors
    );
    if s.sealer.late_seals > 0 || s.sealer.commit_failures > 0 {
        let _ = writeln!(
            o,
            "  {:<16} {} late seals, {} failed commit attempts, last seal {:.1} s ago (heartbeat {:.1} s)",
            "",
            s.sealer.late_seals,
            s.sealer.commit_failures,
            s.sealer.since_last_seal_ms as f64 / 1000.0,
            s.sealer.heartbeat_ms as f64 / 1000.0
        );
    }
    let _ = writeln!(
        o,
        "archive: last shipped #{}, {} segments ({}) since start, spool {} segments ({}), {} errors",
        last_seq(s.shipper.next_seq),
        s.shipper.shipped_segments,
        human_bytes(s.shipper.shipped_bytes),
        s.shipper.spool_segments,
        human_bytes(s.shipper.spool_bytes),
        s.shipper.errors
    );
    match &s.detector {
        Some(d) if d.alerts > 0 => {
            let rules: Vec<String> = d
                .alerts_by_rule
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            let _ = writeln!(
                o,
                "detector: {} alerts since start ({}), each sealed into the chain and forwarded; lag {}",
                d.alerts,
                rules.join(", "),
                human_bytes(d.lag_bytes)
            );
        }
        Some(d) => {
            let _ = writeln!(
                o,
                "detector: no alerts since start; lag {}",
                human_bytes(d.lag_bytes)
            );
        }
        None => {
            let _ = writeln!(o, "detector: disabled");
        }
    }
    for f in &s.forwarders {
        let _ = writeln!(
            o,
            "forward {}: {}, {} events ({}) sent, lag {}, {} resent, {} errors{}",
            f.name,
            if f.connected {
                "connected"
            } else {
                "not connected"
            },
            f.sent_events,
            human_bytes(f.sent_bytes),
            human_bytes(f.lag_bytes),
            f.resent_events,
            f.errors,
            f.last_error
                .as_deref()
                .map(|e| format!(" (last: {e})"))
                .unwrap_or_default()
        );
    }
    if let Some(age) = s.shipper.oldest_unshipped_seconds {
        let _ = writeln!(
            o,
            "  {:<16} oldest unshipped segment sealed {age} s ago",
            ""
        );
    }
    if !s.shipper.errors_by_class.is_empty() {
        let classes: Vec<String> = s
            .shipper
            .errors_by_class
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(o, "  {:<16} upload errors: {}", "", classes.join(", "));
    }
    if let Some(e) = &s.shipper.last_error {
        let _ = writeln!(o, "  {:<16} last error: {e}", "");
    }
    if s.alerts.is_empty() {
        let _ = writeln!(o, "alerts: none");
    } else {
        let _ = writeln!(o, "alerts:");
        for a in &s.alerts {
            let _ = writeln!(o, "  ! {a}");
        }
    }
    o
}

fn last_seq(next: u64) -> String {
    match next.checked_sub(1) {
        Some(n) => n.to_string(),
        None => "- (none yet)".into(),
    }
}

pub(super) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
