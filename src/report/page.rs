//! The page: header, verdict, timeline, events read, authentication, privilege use,
//! alerts, controls, and how to reproduce it. All data goes through `Html`'s escaping
//! methods; literals are the only raw markup. Figures carry `data-figure` attributes
//! (names, never data), so tests and tools can read them from the rendered page.

use std::fmt::Write as _;

use super::aggregate::Top;
use super::controls::controls;
use super::html::Html;
use super::{timeline, Facts, Input};
use crate::verify::{fmt_dur, fmt_ns, head_note, tail_note};

const CSS: &str = r#"
:root { color-scheme: light; }
body { font: 13px/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #212121; margin: 24px auto; max-width: 1000px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; border-bottom: 2px solid #37474f; padding-bottom: 3px; margin-top: 28px; }
h3 { font-size: 14px; margin: 18px 0 6px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 12px; }
th, td { border: 1px solid #cfd8dc; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eceff1; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.none { color: #78909c; font-style: italic; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0 12px; }
dl.facts dt { color: #546e7a; }
dl.facts dd { margin: 0; word-break: break-all; }
.verdict { font-size: 20px; font-weight: bold; padding: 8px 14px; border-radius: 4px; display: inline-block; margin: 8px 0; }
.verdict.valid { background: #e8f5e9; color: #1b5e20; border: 2px solid #2e7d32; }
.verdict.invalid { background: #ffebee; color: #b71c1c; border: 2px solid #c62828; }
.figures { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.figure { border: 1px solid #cfd8dc; border-radius: 4px; padding: 6px 10px; min-width: 120px; }
.figure .n { font-size: 20px; font-weight: bold; display: block; }
.figure .l { color: #546e7a; font-size: 11px; }
pre, code { font-family: "DejaVu Sans Mono", monospace; font-size: 11.5px; }
pre.cmd { background: #263238; color: #eceff1; padding: 8px 10px; border-radius: 4px; white-space: pre-wrap; word-break: break-all; }
ul.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 11.5px; }
ul.legend svg { vertical-align: middle; }
svg.timeline { max-width: 100%; height: auto; }
.control { border: 1px solid #cfd8dc; border-left: 6px solid #90a4ae; padding: 6px 12px; margin: 12px 0; break-inside: avoid; }
.control.supported { border-left-color: #2e7d32; }
.control.partial { border-left-color: #f9a825; }
.control.not-shown { border-left-color: #c62828; }
.standing { font-weight: bold; font-size: 11px; text-transform: uppercase; padding: 1px 6px; border-radius: 3px; background: #eceff1; }
.control.supported .standing { background: #e8f5e9; color: #1b5e20; }
.control.partial .standing { background: #fff8e1; color: #8d6e00; }
.control.not-shown .standing { background: #ffebee; color: #b71c1c; }
.req { color: #455a64; font-style: italic; }
.muted { color: #607d8b; }
.warn { color: #8d6e00; background: #fff8e1; padding: 4px 8px; }
.problem-list td:nth-child(2) { white-space: nowrap; }
td.ids { font-family: "DejaVu Sans Mono", monospace; font-size: 11px; }
td.ids span.id { white-space: nowrap; display: inline-block; }
nav ol { columns: 2; font-size: 12px; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } a { color: inherit; text-decoration: none; } }
"#;

/// Problems listed one per row up to this many (all are counted by kind).
const MAX_PROBLEM_ROWS: usize = 500;

fn figure(h: &mut Html, name: &'static str, n: u64, label: &'static str) {
    h.raw("<div class=\"figure\" data-figure=\"")
        .raw(name)
        .raw("\"><span class=\"n\">")
        .text(&n.to_string())
        .raw("</span><span class=\"l\">")
        .raw(label)
        .raw("</span></div>");
}

/// The distinct-counterparts cell: a floor, marked `+`, once the count was capped.
fn distinct(t: &Top) -> String {
    format!(
        "#{}{}",
        t.distinct,
        if t.distinct_capped { "+" } else { "" }
    )
}

/// Rows of a table of successes: no attempts column.
fn success_rows(rows: &[Top]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|t| vec![t.name.clone(), format!("#{}", t.events), distinct(t)])
        .collect()
}

fn top_rows(rows: &[Top]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|t| {
            vec![
                t.name.clone(),
                format!("#{}", t.events),
                format!("#{}", t.attempts),
                distinct(t),
            ]
        })
        .collect()
}

/// The whole HTML document.
pub fn render(input: &Input) -> String {
    let facts = Facts::new(input);
    let r = &input.verify;
    let g = &input.figures;
    let mut h = Html::new();
    h.raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        .raw("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">")
        .raw("<meta name=\"generator\" content=\"sealtrail ")
        .text(env!("CARGO_PKG_VERSION"))
        .raw("\"><title>")
        .text(&format!("Audit evidence report: {}", r.archive))
        .raw("</title><style>")
        .raw(CSS)
        .raw("</style></head><body>");

    // Header.
    h.raw("<header><h1>Audit log evidence report</h1><p class=\"muted\">")
        .text(&format!(
            "Archive {} · made {} by sealtrail {} (segment format {})",
            r.archive,
            fmt_ns(input.generated_at_ns),
            env!("CARGO_PKG_VERSION"),
            crate::segment::FORMAT_VERSION
        ))
        .raw("</p>");
    if facts.valid {
        h.raw("<div class=\"verdict valid\" id=\"verdict\" data-verdict=\"valid\">Verdict: VALID</div>");
    } else {
        h.raw("<div class=\"verdict invalid\" id=\"verdict\" data-verdict=\"invalid\">Verdict: INVALID</div>");
    }
    h.raw("<p>").text(&verdict_sentence(&facts)).raw("</p>");
    h.raw("<div class=\"figures\">");
    figure(&mut h, "events", g.events, "events read (verified)");
    figure(&mut h, "segments", facts.segments, "segments");
    figure(
        &mut h,
        "refused",
        facts.segments_refused,
        "segments refused",
    );
    figure(&mut h, "problems", facts.problems as u64, "problems");
    figure(
        &mut h,
        "failures",
        g.login_failure_events,
        "failed login events",
    );
    figure(&mut h, "successes", g.login_successes, "successful logins");
    figure(&mut h, "alerts", g.alerts_total, "detector alerts");
    h.raw("</div>");
    h.raw("<h3>Reproduce this report</h3><pre class=\"cmd\" id=\"command\">")
        .text(&input.command)
        .raw("</pre>");
    if r.until_ns.is_none() {
        h.el_class(
            "p",
            "muted",
            &format!(
                "No --until was given: deleted newest segments cannot be detected, and the same command run later also covers segments sealed after this report. To fix the period, add --until {}.",
                facts.period_end
            ),
        );
    }
    h.raw("</header>");
    h.raw("<nav><ol><li><a href=\"#s-verify\">Verification</a></li><li><a href=\"#s-timeline\">Coverage timeline</a></li><li><a href=\"#s-events\">Events read</a></li><li><a href=\"#s-auth\">Authentication activity</a></li><li><a href=\"#s-priv\">Privilege use</a></li><li><a href=\"#s-alerts\">Detector alerts</a></li><li><a href=\"#s-controls\">Controls</a></li></ol></nav>");

    verification(&mut h, input, &facts);
    coverage(&mut h, input);
    events_read(&mut h, input);
    authentication(&mut h, input);
    privilege(&mut h, input);
    alerts(&mut h, input);

    h.heading(2, "s-controls", "7. Controls");
    h.raw("<p class=\"muted\">Each section says what evidence in this archive supports the requirement, with the figure and where it came from, and what the archive cannot show. An archive is one piece of evidence: policies, procedures and the other systems in scope are assessed elsewhere.</p>");
    for c in controls(&facts) {
        h.raw("<section class=\"control ")
            .raw(c.standing.css())
            .raw("\" data-control=\"")
            .text(&format!("{} {}", c.framework, c.id))
            .raw("\"><h3>")
            .text(&format!("{} {} — {}", c.framework, c.id, c.title))
            .raw(" <span class=\"standing\">")
            .raw(c.standing.label())
            .raw("</span></h3><p class=\"req\">")
            .text(c.requirement)
            .raw("</p><p><b>Evidence in this archive</b></p>");
        h.list("evidence", &c.evidence);
        h.raw("<p><b>What it cannot show</b></p>");
        h.list("cannot", &c.cannot);
        h.raw("</section>");
    }

    h.raw("<footer><h2 id=\"s-about\">About this report</h2><p>")
        .text(&format!(
            "Made {} by sealtrail {} from the archive {}, verified against key id(s) {}. The verdict and the figures in sections 1 and 2 come from the verification of every segment (signatures, hashes, Merkle roots, the hash chain, time tiling, heartbeats); the figures in sections 3 to 6 come only from the events of segments whose content verified. Everything shown from the archive is escaped text: nothing in a log line can add markup to this page.",
            fmt_ns(input.generated_at_ns),
            env!("CARGO_PKG_VERSION"),
            r.archive,
            facts.key_ids
        ))
        .raw("</p></footer></body></html>\n");
    h.finish()
}

fn verdict_sentence(f: &Facts) -> String {
    if f.valid {
        format!(
            "Every one of the {} object(s) verified: {} stream(s), {} segment(s), signed by key id(s) {}; no problem found.",
            f.objects, f.streams, f.segments, f.key_ids
        )
    } else {
        format!(
            "{} problem(s) found ({}) among {} object(s); figures below count only the segments that verified.",
            f.problems, f.problem_kinds, f.objects
        )
    }
}

fn verification(h: &mut Html, input: &Input, f: &Facts) {
    let r = &input.verify;
    h.heading(2, "s-verify", "1. Verification");
    h.facts(&[
        (
            "Verdict",
            if f.valid {
                "valid".into()
            } else {
                "invalid".into()
            },
        ),
        ("Archive", r.archive.clone()),
        ("Verified at", fmt_ns(r.verified_at_ns)),
        ("Key ids (oldest first)", f.key_ids.clone()),
        (
            "Window",
            match (r.since_ns, r.until_ns) {
                (None, None) => "the whole archive".into(),
                (a, b) => format!(
                    "{} .. {}",
                    a.map_or("-".into(), fmt_ns),
                    b.map_or("-".into(), fmt_ns)
                ),
            },
        ),
        (
            "Objects",
            format!(
                "{} listed, {} outside the window, {} read",
                r.objects,
                r.skipped,
                indicatif::HumanBytes(r.bytes)
            ),
        ),
        ("Problems", format!("{} ({})", f.problems, f.problem_kinds)),
    ]);
    h.el("h3", "Problems by kind");
    let kinds: Vec<Vec<String>> = f
        .by_kind
        .iter()
        .map(|(k, n)| vec![k.to_string(), format!("#{n}")])
        .collect();
    h.table("kinds", &["kind (docs/FORMAT.md §8)", "problems"], &kinds);
    if !r.problems.is_empty() {
        h.el("h3", "Problems");
        let rows: Vec<Vec<String>> = r
            .problems
            .iter()
            .take(MAX_PROBLEM_ROWS)
            .map(|p| vec![p.object.clone(), p.kind.as_str().into(), p.detail.clone()])
            .collect();
        h.table("problem-list", &["object", "kind", "detail"], &rows);
        if r.problems.len() > MAX_PROBLEM_ROWS {
            h.el_class(
                "p",
                "muted",
                &format!(
                    "{} more problem(s) not listed; sealtrail verify --json lists them all.",
                    r.problems.len() - MAX_PROBLEM_ROWS
                ),
            );
        }
    }
    h.el("h3", "Streams");
    let rows: Vec<Vec<String>> = r
        .streams
        .iter()
        .map(|s| {
            let (state, detail) = tail_note(r, s);
            let mut cover = format!(
                "{} .. {} ({})",
                fmt_ns(s.period_start_ns),
                fmt_ns(s.period_end_ns),
                fmt_dur(i128::from(s.period_end_ns) - i128::from(s.period_start_ns))
            );
            if let Some(head) = head_note(r, s) {
                let _ = write!(cover, "; {head}");
            }
            vec![
                s.stream.clone(),
                format!("#{}", s.segments),
                format!("{}..={}", s.first_seq, s.last_seq),
                format!("#{}", s.events),
                format!("#{}", s.empty_segments),
                cover,
                format!("{state}: {detail}"),
            ]
        })
        .collect();
    h.table(
        "streams",
        &[
            "stream",
            "segments",
            "seqs",
            "events",
            "heartbeats",
            "coverage",
            "tail",
        ],
        &rows,
    );
    h.el("h3", "Downtime");
    let rows: Vec<Vec<String>> = r
        .streams
        .iter()
        .flat_map(|s| {
            s.downtime.iter().map(|d| {
                vec![
                    s.stream.clone(),
                    fmt_ns(d.start_ns),
                    fmt_ns(d.end_ns),
                    fmt_dur(i128::from(d.end_ns) - i128::from(d.start_ns)),
                    if d.planned {
                        "planned (after a clean stop)".into()
                    } else {
                        "unplanned (crash, kill or power cut; or the stop segment is outside the window)".into()
                    },
                ]
            })
        })
        .collect();
    h.table(
        "downtime",
        &["stream", "from", "to", "duration", "kind"],
        &rows,
    );
    h.el("h3", "Key rotations");
    let rows: Vec<Vec<String>> = r
        .streams
        .iter()
        .flat_map(|s| {
            s.rotations.iter().map(|x| {
                vec![
                    s.stream.clone(),
                    format!("#{}", x.seq),
                    fmt_ns(x.at_ns),
                    hex::encode(x.from),
                    hex::encode(x.to),
                    if x.known {
                        "yes".into()
                    } else {
                        "no: its segments are wrong_key".into()
                    },
                ]
            })
        })
        .collect();
    h.table(
        "rotations",
        &[
            "stream",
            "seq",
            "at",
            "from key",
            "to key",
            "in the keyring",
        ],
        &rows,
    );
    h.el("h3", "Retention and anchor");
    let retention = match &f.retention {
        Some(x) => format!(
            "{} object(s) read back: lock {}; earliest retain-until {}; required {} until {}",
            x.objects, x.modes, x.earliest, x.required_mode, x.retain_until
        ),
        None => "not checked (no --check-retention): this report shows nothing about Object Lock or retention".into(),
    };
    let anchor = match &r.anchor {
        Some(a) => format!(
            "stream {} seq {} (sealed until {}) from {}: {}",
            a.stream,
            a.seq,
            fmt_ns(a.period_end_ns),
            a.source,
            if a.reached { "reached" } else { "NOT reached" }
        ),
        None => "none given (no --anchor)".into(),
    };
    h.facts(&[("Retention", retention), ("Anchor", anchor)]);
}

fn coverage(h: &mut Html, input: &Input) {
    h.heading(2, "s-timeline", "2. Coverage timeline");
    h.raw("<p class=\"muted\">One row per stream over the report's period (UTC). Segments tile time: where no segment covers a stretch that the chain says must be covered, it is a gap.</p>");
    let (svg, gaps) = timeline::render(&input.verify);
    h.trusted(&svg).trusted(&timeline::legend());
    h.el("h3", "Gaps");
    let rows: Vec<Vec<String>> = gaps
        .iter()
        .map(|(stream, g)| {
            vec![
                stream.clone(),
                fmt_ns(g.start_ns),
                fmt_ns(g.end_ns),
                fmt_dur(i128::from(g.end_ns) - i128::from(g.start_ns)),
                g.note.clone(),
            ]
        })
        .collect();
    h.table("gaps", &["stream", "from", "to", "duration", "what"], &rows);
}

fn events_read(h: &mut Html, input: &Input) {
    let g = &input.figures;
    let read = &input.read;
    h.heading(2, "s-events", "3. Events read");
    h.raw("<p>")
        .text(&format!(
            "{} event(s) read from {} segment(s) whose content verified{}. {} segment(s) refused (their {} event(s) are not counted).",
            g.events,
            read.segments_read,
            match (input.verify.since_ns, input.verify.until_ns) {
                (None, None) => String::new(),
                (a, b) => format!(
                    ", received (event.created) in [{}, {})",
                    a.map_or("-".into(), fmt_ns),
                    b.map_or("-".into(), fmt_ns)
                ),
            },
            read.segments_refused,
            read.events_refused
        ))
        .raw("</p>");
    h.facts(&[
        (
            "Event times",
            match (g.first_ns, g.last_ns) {
                (Some(a), Some(b)) => format!("{} .. {}", fmt_ns(a), fmt_ns(b)),
                _ => "-".into(),
            },
        ),
        ("Kept verbatim, not parsed", g.parse_failures.to_string()),
    ]);
    let rows: Vec<Vec<String>> = g
        .by_stream
        .iter()
        .map(|(s, n)| vec![s.clone(), format!("#{n}")])
        .collect();
    h.table("by-stream", &["stream", "events"], &rows);
    if !read.refused.is_empty() {
        h.el("h3", "Refused segments");
        let rows: Vec<Vec<String>> = read
            .refused
            .iter()
            .map(|(o, why)| vec![o.clone(), why.clone()])
            .collect();
        h.table("refused", &["object", "why"], &rows);
    }
}

fn authentication(h: &mut Html, input: &Input) {
    let g = &input.figures;
    h.heading(2, "s-auth", "4. Authentication activity");
    h.raw("<div class=\"figures\">");
    figure(h, "auth-events", g.auth_events, "authentication events");
    figure(h, "login-successes", g.login_successes, "successful logins");
    figure(
        h,
        "login-failures",
        g.login_failure_events,
        "failed login events",
    );
    figure(
        h,
        "failed-attempts",
        g.login_failed_attempts,
        "failed attempts",
    );
    figure(
        h,
        "failure-sources",
        g.failure_sources as u64,
        "sources with failures",
    );
    figure(
        h,
        "failure-users",
        g.failure_users as u64,
        "user names failing",
    );
    h.raw("</div><p class=\"muted\">Attempts are what each line stands for on its own (sealtrail.auth.attempts); one failed SSH password shows as several lines but one attempt. Top tables are sorted by events, then attempts, then name.</p>");
    if g.untracked_events > 0 {
        h.raw("<p class=\"warn\" data-figure=\"untracked-events\">")
            .text(&format!(
                "{} event(s) came from names first seen after a top table held {} names: they are in every total above, but in no ranking, and the distinct counts are floors.",
                g.untracked_events,
                super::aggregate::MAX_NAMES
            ))
            .raw("</p>");
    }
    h.el("h3", "Top sources of failures");
    h.table(
        "top-fail-src",
        &["source address", "events", "attempts", "users tried"],
        &top_rows(&g.failures_by_source),
    );
    h.el("h3", "Top users with failures");
    h.table(
        "top-fail-user",
        &["user", "events", "attempts", "sources"],
        &top_rows(&g.failures_by_user),
    );
    h.el("h3", "Top sources of successful logins");
    h.table(
        "top-ok-src",
        &["source address", "logins", "users"],
        &success_rows(&g.successes_by_source),
    );
    h.el("h3", "Top users with successful logins");
    h.table(
        "top-ok-user",
        &["user", "logins", "sources"],
        &success_rows(&g.successes_by_user),
    );
    h.el("h3", "By action and outcome");
    let rows: Vec<Vec<String>> = g
        .by_action
        .iter()
        .map(|((a, o), n)| vec![a.clone(), o.clone(), format!("#{n}")])
        .collect();
    h.table(
        "by-action",
        &["event.action", "event.outcome", "events"],
        &rows,
    );
}

fn privilege(h: &mut Html, input: &Input) {
    let g = &input.figures;
    h.heading(2, "s-priv", "5. Privilege use (sudo, su)");
    h.raw("<div class=\"figures\">");
    figure(h, "sudo-commands", g.sudo_commands, "sudo commands run");
    figure(
        h,
        "sudo-failures",
        g.sudo_failure_events,
        "sudo password failures",
    );
    figure(h, "sudo-refused", g.sudo_refused, "sudo refused by policy");
    figure(h, "su-successes", g.su_successes, "su switches");
    figure(h, "su-failures", g.su_failures, "failed su");
    h.raw("</div>");
    h.table(
        "priv-users",
        &["user", "events", "failed attempts", "target accounts"],
        &top_rows(&g.privilege_by_user),
    );
}

fn alerts(h: &mut Html, input: &Input) {
    let g = &input.figures;
    h.heading(2, "s-alerts", "6. Detector alerts");
    h.raw("<p>")
        .text(&format!(
            "{} alert(s), sealed into the archive by the detector ({}).",
            g.alerts_total,
            if g.alerts_by_rule.is_empty() {
                "no rule fired".to_string()
            } else {
                g.alerts_by_rule
                    .iter()
                    .map(|(r, n)| format!("{r}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ))
        .raw("</p>");
    if g.alerts_unlisted > 0 {
        h.raw("<p class=\"warn\" data-figure=\"alerts-unlisted\">")
            .text(&format!(
                "The table lists the first {} alerts of each rule in the archive, in time order; {} more are counted above but not listed. `sealtrail search <archive> --kind alert` (or `export --kind alert --format csv`) lists every one.",
                super::aggregate::MAX_ALERT_ROWS_PER_RULE,
                g.alerts_unlisted
            ))
            .raw("</p>");
    }
    h.raw("<table class=\"alerts\"><thead><tr><th>time</th><th>rule</th><th>severity</th><th>message</th><th>about</th><th>evidence (event ids)</th></tr></thead><tbody>");
    if g.alerts.is_empty() {
        h.raw("<tr><td colspan=\"6\" class=\"none\">none</td></tr>");
    }
    for a in &g.alerts {
        h.raw("<tr class=\"alert\" data-rule=\"")
            .text(&a.rule_id)
            .raw("\"><td>")
            .text(&a.time)
            .raw("<br><span class=\"muted\">alert id ")
            .text(&a.id)
            .raw("</span></td><td><b>")
            .text(&a.rule_id)
            .raw("</b><br>")
            .text(&a.rule_name)
            .raw("</td><td class=\"num\">")
            .text(&a.severity.map_or("-".into(), |s| s.to_string()))
            .raw("</td><td>")
            .text(&a.message)
            .raw("</td><td>")
            .text(&format!("{} ({})", a.key, a.stream))
            .raw("</td><td class=\"ids\">");
        for id in &a.evidence {
            h.raw("<span class=\"id\">").text(id).raw("</span> ");
        }
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Aggregator, ReadStats};
    use crate::segment::SealKind;
    use crate::verify::{Problem, ProblemKind, Report, SegmentSpan, StreamSummary};
    use serde_json::json;

    const EVIL: &str = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>'";

    fn input() -> Input {
        let span = |seq: u64, a: i64, b: i64| SegmentSpan {
            seq,
            kind: SealKind::Normal,
            period_start_ns: a,
            period_end_ns: b,
            events: 1,
            location: format!("{EVIL}/{seq}"),
        };
        let verify = Report {
            problems: vec![Problem {
                object: format!("{EVIL}/2"),
                kind: ProblemKind::SequenceGap,
                detail: EVIL.into(),
            }],
            streams: vec![StreamSummary {
                stream: EVIL.into(),
                segments: 2,
                events: 2,
                empty_segments: 0,
                first_seq: 0,
                last_seq: 2,
                period_start_ns: 0,
                period_end_ns: 30_000_000_000,
                downtime: Vec::new(),
                stopped_ns: None,
                rotations: Vec::new(),
                spans: vec![
                    span(0, 0, 10_000_000_000),
                    span(2, 20_000_000_000, 30_000_000_000),
                ],
            }],
            objects: 2,
            skipped: 0,
            bytes: 100,
            key_ids: vec![[0xab; 8]],
            since_ns: None,
            until_ns: None,
            retention: None,
            anchor: None,
            archive: EVIL.into(),
            verified_at_ns: 0,
        };
        let mut agg = Aggregator::new();
        agg.add(
            EVIL,
            &json!({"event":{"category":["authentication"],"action":"ssh_login","outcome":"failure"},
                "user":{"name":EVIL},"source":{"ip":EVIL},"sealtrail":{"auth":{"attempts":1}}}),
        );
        agg.add(
            EVIL,
            &json!({"@timestamp":EVIL,"event":{"kind":"alert","id":EVIL},
                "rule":{"id":EVIL,"name":EVIL},"message":EVIL,
                "sealtrail":{"stream":EVIL,"alert":{"key":EVIL,"evidence":[EVIL]}}}),
        );
        Input {
            verify,
            figures: agg.finish(),
            read: ReadStats {
                segments_read: 1,
                segments_refused: 1,
                events_refused: 1,
                refused: vec![(EVIL.into(), EVIL.into())],
            },
            command: format!("sealtrail report {EVIL}"),
            generated_at_ns: 0,
        }
    }

    #[test]
    fn nothing_from_the_archive_becomes_markup() {
        let page = render(&input());
        for bad in ["<script", "<img", "onerror=alert(2)>"] {
            assert!(!page.contains(bad), "{bad:?} in the page");
        }
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;&#39;"));
        // Attribute values too: the stream's data-stream and the alert's data-rule.
        assert!(page.contains("data-stream=\"&lt;script&gt;"));
        assert!(page.contains("data-rule=\"&lt;script&gt;"));
        // The only tags are the writer's own.
        let tags: std::collections::BTreeSet<&str> = page
            .split('<')
            .skip(1)
            .filter_map(|t| {
                t.split(|c: char| !c.is_ascii_alphanumeric() && c != '!')
                    .next()
            })
            .filter(|t| !t.is_empty())
            .collect();
        let allowed = [
            "!DOCTYPE", "a", "b", "body", "br", "dd", "defs", "div", "dl", "dt", "footer", "g",
            "h1", "h2", "h3", "head", "header", "html", "li", "line", "meta", "nav", "ol", "p",
            "pattern", "pre", "rect", "section", "span", "style", "svg", "table", "tbody", "td",
            "text", "th", "thead", "title", "tr", "ul",
        ];
        for t in &tags {
            assert!(allowed.contains(t), "unexpected element <{t}>");
        }
    }

    #[test]
    fn figures_and_verdict_are_on_the_page() {
        let page = render(&input());
        assert!(page.contains("data-verdict=\"invalid\""));
        assert!(page
            .contains("<div class=\"figure\" data-figure=\"failures\"><span class=\"n\">1</span>"));
        assert!(page
            .contains("<div class=\"figure\" data-figure=\"alerts\"><span class=\"n\">1</span>"));
        assert!(page
            .contains("<div class=\"figure\" data-figure=\"refused\"><span class=\"n\">1</span>"));
        assert!(page.contains("abababababababab"), "the key id");
        assert!(page.contains("No --until was given"));
        assert!(page.contains("<rect class=\"gap\""), "seq 1 is missing");
    }

    #[test]
    fn untracked_names_and_capped_counts_are_said() {
        let mut i = input();
        assert!(!render(&i).contains("untracked-events"));
        i.figures.untracked_events = 7;
        i.figures.failures_by_source[0].distinct_capped = true;
        let page = render(&i);
        assert!(page.contains(
            "data-figure=\"untracked-events\">7 event(s) came from names first seen after"
        ));
        let capped = format!(
            "<td class=\"num\">{}+</td>",
            i.figures.failures_by_source[0].distinct
        );
        assert!(page.contains(&capped), "{capped}");
    }
}
