//! The control sections: for each requirement, what evidence in this archive supports
//! it (a figure, and where it came from) and what the archive cannot show. The texts
//! are deliberately plain; a figure that was not measured is never implied (retention
//! is claimed only when Object Lock was read back, the tail only when `--until` or an
//! anchor bounded it).

use super::Facts;
use crate::verify::fmt_dur;

/// How far the archive supports a control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// The archive's evidence supports it (within what it can show).
    Supported,
    /// Some of it; the rest needs evidence from outside the archive.
    Partial,
    /// The archive contradicts it (problems found) or shows nothing for it.
    NotShown,
}

impl Standing {
    pub fn css(self) -> &'static str {
        match self {
            Standing::Supported => "supported",
            Standing::Partial => "partial",
            Standing::NotShown => "not-shown",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Standing::Supported => "evidence supports",
            Standing::Partial => "partly supported",
            Standing::NotShown => "not shown",
        }
    }
}

/// One control's section.
#[derive(Debug, Clone)]
pub struct Control {
    pub framework: &'static str,
    pub id: &'static str,
    pub title: &'static str,
    pub requirement: &'static str,
    pub standing: Standing,
    pub evidence: Vec<String>,
    pub cannot: Vec<String>,
}

const YEAR_NS: i128 = 365 * 86_400 * 1_000_000_000;

fn integrity(f: &Facts) -> String {
    if f.valid {
        format!(
            "Integrity: the verification found no problem in {} object(s): every segment's Ed25519 signature (key id(s) {}) and SHA-256 content hash, every Merkle root over its event lines, and the hash chain linking each segment to the one before (source: the verification, section 1).",
            f.objects, f.key_ids
        )
    } else {
        format!(
            "Integrity: verification found {} problem(s) ({}); the archive is NOT intact as a whole (source: the verification, section 1).",
            f.problems, f.problem_kinds
        )
    }
}

fn coverage(f: &Facts) -> String {
    format!(
        "Coverage: {} stream(s), {} segment(s) ({} heartbeat(s), i.e. empty segments sealed to show that nothing happened), from {} to {} ({}) (source: the chain's seals, section 2).",
        f.streams, f.segments, f.heartbeats, f.period_start, f.period_end, f.period_len
    )
}

fn read(f: &Facts) -> String {
    format!(
        "Events: {} event(s) read from the {} segment(s) whose content verified; {} segment(s) refused by the verifier, their {} event(s) not counted (source: the verified reader, section 3).",
        f.figures.events, f.segments_read, f.segments_refused, f.events_refused
    )
}

fn tail(f: &Facts) -> String {
    if f.tail_checked {
        "End of coverage: checked against --until or an anchor, so deleted newest segments would show as tail_truncated.".into()
    } else {
        "End of coverage: NOT checked (no --until, no anchor): deleting the newest segments cannot be detected from the archive alone.".into()
    }
}

fn retention(f: &Facts) -> Option<String> {
    f.retention.as_ref().map(|r| {
        format!(
            "Retention: Object Lock read back from {} object(s): lock modes {}; earliest retain-until {}; required {} until {} (source: verify --check-retention).",
            r.objects, r.modes, r.earliest, r.required_mode, r.retain_until
        )
    })
}

fn downtime(f: &Facts) -> String {
    format!(
        "Interruptions: {} planned downtime(s) (after a clean stop, {} in all) and {} unplanned (after a crash, kill or power cut, {} in all); {} gap(s) where segments are missing (source: resume and stop seals, section 2).",
        f.down_planned,
        fmt_dur(f.down_planned_ns),
        f.down_unplanned,
        fmt_dur(f.down_unplanned_ns),
        f.gaps
    )
}

/// Every control section, in the order of the report.
pub fn controls(f: &Facts) -> Vec<Control> {
    let g = &f.figures;
    let intact = f.valid && f.segments_refused == 0;
    let integrity_standing = if intact {
        Standing::Supported
    } else {
        Standing::NotShown
    };
    let mut out = Vec::new();

    out.push(Control {
        framework: "PCI DSS v4.0",
        id: "10.2",
        title: "Audit logs are implemented to support the detection of anomalies and suspicious activity",
        requirement: "Audit logs capture user access, actions by administrative accounts, invalid logical access attempts, and the initialisation, stopping or pausing of the audit logs (10.2.1.1–10.2.1.7), each with user, type, time, outcome, origin and affected resource (10.2.2).",
        standing: if f.figures.events > 0 { Standing::Partial } else { Standing::NotShown },
        evidence: vec![
            read(f),
            format!("User access (10.2.1.1 for the systems that log here): {} successful login(s) recorded (source: event.action ssh_login/login with event.outcome success, section 4).", g.login_successes),
            format!("Invalid logical access attempts (10.2.1.4): {} failed login event(s) standing for {} attempt(s), from {} source address(es) against {} user name(s) (source: authentication events with event.outcome failure, section 4).", g.login_failure_events, g.login_failed_attempts, g.failure_sources, g.failure_users),
            format!("Actions with administrative privileges (10.2.1.2): {} sudo command(s) run, {} sudo password failure(s), {} refused by policy, {} su switch(es) and {} failed su (source: sudo and su events, section 5).", g.sudo_commands, g.sudo_failure_events, g.sudo_refused, g.su_successes, g.su_failures),
            format!("Stopping and pausing of audit logging (10.2.1.6): {}", downtime(f)),
            "Each event keeps the original line verbatim (event.original) with user.name, event.action, @timestamp, event.outcome, source.ip and host.name where the line states them (10.2.2).".into(),
        ],
        cannot: vec![
            "That every system component in scope sends its logs here: the archive holds only what reached this daemon.".into(),
            "Access to cardholder data (10.2.1.1 in full), access to the audit logs themselves (10.2.1.3), changes to authentication mechanisms (10.2.1.5) and creation or deletion of system-level objects (10.2.1.7) appear only if the systems logged them; this report does not count them.".into(),
        ],
    });

    let mut ev = vec![integrity(f), coverage(f), tail(f)];
    if let Some(r) = retention(f) {
        ev.push(r);
    }
    out.push(Control {
        framework: "PCI DSS v4.0",
        id: "10.3",
        title: "Audit logs are protected from destruction and unauthorized modifications",
        requirement: "Audit log files are protected from modification (10.3.2), promptly backed up to secure, central storage that is difficult to modify (10.3.3), and monitored for changes (10.3.4).",
        standing: if intact && f.retention.is_some() { Standing::Supported } else if intact { Standing::Partial } else { Standing::NotShown },
        evidence: ev,
        cannot: {
            let mut c = vec![
                "Read access to the logs (10.3.1): who could read the archive is not recorded in it.".to_string(),
                "Signatures detect a modification; they do not prevent one. That the signing key was kept from whoever could alter the archive is outside the archive.".to_string(),
            ];
            if f.retention.is_none() {
                c.push("That the storage resists deletion (10.3.3): no Object Lock information was read (run with --check-retention on an S3 archive).".into());
            }
            c
        },
    });

    let covered = f.period_ns;
    let mut ev = vec![coverage(f)];
    if covered < YEAR_NS {
        ev.push(format!("The archive covers {}, less than the 12 months of history 10.5.1 asks for (it may be young, or older parts may be held elsewhere).", f.period_len));
    } else {
        ev.push(format!(
            "The archive covers {}, at least 12 months.",
            f.period_len
        ));
    }
    ev.push(
        "The whole covered period was immediately available: this report read it when it was made."
            .into(),
    );
    if let Some(r) = retention(f) {
        ev.push(r);
    }
    out.push(Control {
        framework: "PCI DSS v4.0",
        id: "10.5",
        title: "Audit log history is retained and available for analysis",
        requirement: "Retain audit log history for at least 12 months, with at least the most recent three months immediately available (10.5.1).",
        standing: match (&f.retention, covered >= YEAR_NS && intact) {
            (Some(_), true) => Standing::Supported,
            _ if intact => Standing::Partial,
            _ => Standing::NotShown,
        },
        evidence: ev,
        cannot: if f.retention.is_some() {
            vec!["That the logs will be kept after the retain-until date read back.".into()]
        } else {
            vec!["That the logs will be retained: no retention or Object Lock information was read, so nothing in this report shows that objects cannot be deleted before 12 months (run with --check-retention on an S3 archive).".into()]
        },
    });

    out.push(Control {
        framework: "PCI DSS v4.0",
        id: "10.7",
        title: "Failures of critical security control systems are detected, reported, and responded to promptly",
        requirement: "Failures of audit logging mechanisms are detected and alerted (10.7.1, 10.7.2), and responded to promptly (10.7.3).",
        standing: if f.valid { Standing::Partial } else { Standing::NotShown },
        evidence: vec![
            downtime(f),
            format!("Heartbeats: the sealer promises a segment at least every heartbeat period even when nothing happens; {} heartbeat segment(s) were sealed, and a missed promise is reported as heartbeat_gap ({} such problem(s) here).", f.heartbeats, f.heartbeat_gaps),
            tail(f),
        ],
        cannot: vec![
            "That a failure was alerted to someone and responded to promptly: alerting on the daemon's health (metrics, status endpoint, systemd) and the response to it are outside the archive.".into(),
            "Failures of sources feeding the daemon (a host that stopped sending) show only as fewer events, not as downtime.".into(),
        ],
    });

    out.push(Control {
        framework: "HIPAA Security Rule",
        id: "§164.312(b)",
        title: "Audit controls",
        requirement: "Implement hardware, software, and/or procedural mechanisms that record and examine activity in information systems that contain or use electronic protected health information.",
        standing: if f.figures.events > 0 && f.valid { Standing::Partial } else { Standing::NotShown },
        evidence: vec![
            read(f),
            format!("Examination: the detector examined authentication activity and raised {} alert(s), sealed into the archive (section 6); this report examines the rest.", g.alerts_total),
            integrity(f),
        ],
        cannot: vec![
            "Which of these systems contain or use ePHI, and whether every such system is covered.".into(),
            "Access to ePHI inside applications, unless those applications send audit events here.".into(),
        ],
    });

    out.push(Control {
        framework: "SOC 2 (2017 TSC)",
        id: "CC7.2",
        title: "Monitoring of system components for anomalies",
        requirement: "The entity monitors system components and the operation of those controls for anomalies indicative of malicious acts, natural disasters and errors, and analyzes anomalies to determine whether they represent security events.",
        standing: if f.valid { Standing::Partial } else { Standing::NotShown },
        evidence: vec![
            format!("Anomaly detection in operation: {} alert(s) by {} rule(s) ({}), each with the ids of the sealed events that raised it (section 6).", g.alerts_total, g.alerts_by_rule.len(), rules(f)),
            format!("Monitored activity: {} authentication event(s) and {} privilege-use event(s) (sections 4, 5).", g.auth_events, f.privilege_events),
            downtime(f),
        ],
        cannot: vec![
            "That alerts were analyzed and triaged, and what was decided: no case or ticket records are in the archive.".into(),
            "That the detector's thresholds suit the environment.".into(),
        ],
    });

    out.push(Control {
        framework: "ISO/IEC 27001:2022",
        id: "A.8.15",
        title: "Logging",
        requirement: "Logs that record activities, exceptions, faults and other relevant events should be produced, stored, protected and analysed.",
        standing: if intact && g.events > 0 { Standing::Partial } else { Standing::NotShown },
        evidence: vec![
            format!("Produced and stored: {}", read(f)),
            format!("Protected: {}", integrity(f)),
            format!("Faults: {}", downtime(f)),
            format!("Analysed: {} detector alert(s) (section 6) and this report.", g.alerts_total),
        ],
        cannot: vec![
            "The logging policy (what must be logged, by whom reviewed, how often).".into(),
            "Clock synchronisation of the logging hosts (A.8.17): times are as the hosts and the daemon stated them.".into(),
        ],
    });

    out.push(Control {
        framework: "ISO/IEC 27001:2022",
        id: "A.8.16",
        title: "Monitoring activities",
        requirement: "Networks, systems and applications should be monitored for anomalous behaviour and appropriate actions taken to evaluate potential information security incidents.",
        standing: if f.valid { Standing::Partial } else { Standing::NotShown },
        evidence: vec![
            format!("Monitoring for anomalous behaviour: {} alert(s) ({}); failed logins from {} source(s), {} successful login(s) (sections 4 to 6).", g.alerts_total, rules(f), g.failure_sources, g.login_successes),
        ],
        cannot: vec!["The actions taken to evaluate the alerts.".into()],
    });

    let mut ev = vec![integrity(f), tail(f)];
    if let Some(r) = retention(f) {
        ev.push(r);
    }
    out.push(Control {
        framework: "NIST SP 800-53 Rev. 5",
        id: "AU-9",
        title: "Protection of audit information",
        requirement: "Protect audit information and audit logging tools from unauthorized access, modification, and deletion; AU-9(3): cryptographic mechanisms protect the integrity of audit information.",
        standing: integrity_standing_partial(integrity_standing, f.retention.is_some()),
        evidence: ev,
        cannot: {
            let mut c = vec!["Unauthorized access (reading) and the protection of the logging tools themselves are not recorded in the archive.".to_string()];
            if f.retention.is_none() {
                c.push("Protection from deletion: without Object Lock information (--check-retention) the archive shows only that deletions are detected (gaps, tail with --until), not prevented.".into());
            }
            c
        },
    });

    out.push(Control {
        framework: "NIST SP 800-53 Rev. 5",
        id: "AU-10",
        title: "Non-repudiation",
        requirement: "Provide irrefutable evidence that an individual (or process acting on behalf of an individual) has performed the actions covered.",
        standing: if intact { Standing::Partial } else { Standing::NotShown },
        evidence: vec![
            format!("Every verified segment is signed with Ed25519 by key id(s) {}: the holder of that key sealed exactly these events, in this order, and cannot later deny or alter them without detection.", f.key_ids),
            "Each event names the user and source the logging system recorded (user.name, source.ip), with the original line kept verbatim.".into(),
        ],
        cannot: vec![
            "The signature binds the sealing daemon's key, not the individuals: who a user name really was rests on the logging host's authentication, and a host compromised before sealing could have logged false lines.".into(),
            "Custody of the signing key (that only the daemon held it).".into(),
        ],
    });
    out
}

fn integrity_standing_partial(s: Standing, retention: bool) -> Standing {
    match (s, retention) {
        (Standing::Supported, true) => Standing::Supported,
        (Standing::Supported, false) => Standing::Partial,
        (other, _) => other,
    }
}

fn rules(f: &Facts) -> String {
    if f.figures.alerts_by_rule.is_empty() {
        return "none".into();
    }
    f.figures
        .alerts_by_rule
        .iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
