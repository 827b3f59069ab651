//! The coverage timeline: an inline SVG with one row per stream, drawn from the
//! verifier's chain (`StreamSummary::spans`, its downtime, and the window).
//!
//! What a row shows, left to right over the report's period:
//! * `events`: segments holding events; `heartbeat`: empty segments (FORMAT §7 rule 4);
//! * `down-planned` / `down-unplanned`: resume segments' periods, after a stop segment
//!   or not (a crash, a kill, a power cut);
//! * `gap`: time no present segment covers although the chain says one should
//!   (segments missing between two present ones, a missing head after `--since`, a
//!   tail that stops before `--until` without a stop segment);
//! * `problem`: a segment the verifier reported a problem for (its events are not
//!   counted when the problem is with its content);
//! * `idle`: outside the stream's life: before its genesis (seq 0) or after a planned
//!   stop. Nothing is missing there.
//!
//! Adjacent segments of the same class are drawn as one rectangle, so months of
//! heartbeats cost a handful of elements. Every rectangle carries `data-start` and
//! `data-end` (RFC 3339) and a `<title>`, so the picture can be read by tools too.

use std::fmt::Write as _;

use super::html::{esc, Trusted};
use crate::segment::SealKind;
use crate::verify::{fmt_dur, fmt_ns, Report, StreamSummary};

/// Width of the whole picture and of the label column, in SVG units (px).
pub const WIDTH: f64 = 960.0;
const LABEL: f64 = 150.0;
const RIGHT: f64 = 16.0;
const ROW: f64 = 30.0;
const BAR: f64 = 18.0;
const TOP: f64 = 34.0;

/// What a stretch of a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Events,
    Heartbeat,
    DownPlanned,
    DownUnplanned,
    Gap,
    Problem,
    Idle,
}

impl Class {
    pub fn css(self) -> &'static str {
        match self {
            Class::Events => "events",
            Class::Heartbeat => "heartbeat",
            Class::DownPlanned => "down-planned",
            Class::DownUnplanned => "down-unplanned",
            Class::Gap => "gap",
            Class::Problem => "problem",
            Class::Idle => "idle",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Class::Events => "segments with events",
            Class::Heartbeat => "heartbeats (empty segments)",
            Class::DownPlanned => "downtime after a planned stop",
            Class::DownUnplanned => "downtime after a crash or kill",
            Class::Gap => "GAP: segments missing",
            Class::Problem => "segment with a verification problem",
            Class::Idle => "not running (before the first segment, after a stop)",
        }
    }

    fn fill(self) -> &'static str {
        match self {
            Class::Events => "#2e7d32",
            Class::Heartbeat => "#a5d6a7",
            Class::DownPlanned => "#90a4ae",
            Class::DownUnplanned => "#ef6c00",
            Class::Gap => "url(#gap-hatch)",
            Class::Problem => "#6a1b9a",
            Class::Idle => "#eceff1",
        }
    }

    /// Drawn in this order, so gaps and problems lie on top of anything they touch.
    const ALL: [Class; 7] = [
        Class::Idle,
        Class::Heartbeat,
        Class::Events,
        Class::DownPlanned,
        Class::DownUnplanned,
        Class::Problem,
        Class::Gap,
    ];
}

/// One stretch of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stretch {
    pub class: Class,
    pub start_ns: i64,
    pub end_ns: i64,
    /// For people: seqs, counts.
    pub note: String,
}

/// Maps times to x: `[t0, t1]` onto `[x0, x0 + width]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub t0: i64,
    pub t1: i64,
    pub x0: f64,
    pub width: f64,
}

impl Scale {
    pub fn new(t0: i64, t1: i64) -> Scale {
        Scale {
            t0,
            t1: t1.max(t0.saturating_add(1)),
            x0: LABEL,
            width: WIDTH - LABEL - RIGHT,
        }
    }

    /// The x of time `t`, clamped to the plot.
    pub fn x(&self, t: i64) -> f64 {
        let span = (i128::from(self.t1) - i128::from(self.t0)) as f64;
        let off = (i128::from(t.clamp(self.t0, self.t1)) - i128::from(self.t0)) as f64;
        self.x0 + self.width * off / span
    }

    /// The x-range of `[a, b]`, at least `min` wide (centred), inside the plot.
    pub fn range(&self, a: i64, b: i64, min: f64) -> (f64, f64) {
        let (xa, xb) = (self.x(a), self.x(b.max(a)));
        if xb - xa >= min {
            return (xa, xb - xa);
        }
        let mid = (xa + xb) / 2.0;
        let start = (mid - min / 2.0).clamp(self.x0, self.x0 + self.width - min);
        (start, min)
    }
}

/// The stretches of one stream's row, in time order, adjacent ones of the same class
/// merged. `flagged(location)` says whether the verifier reported a problem for that
/// object.
pub fn stretches(
    st: &StreamSummary,
    since_ns: Option<i64>,
    until_ns: Option<i64>,
    flagged: &dyn Fn(&str) -> bool,
) -> Vec<Stretch> {
    let mut out: Vec<Stretch> = Vec::new();
    let mut push = |s: Stretch| match out.last_mut() {
        Some(last)
            if last.class == s.class
                && last.end_ns == s.start_ns
                && !matches!(s.class, Class::Gap | Class::Problem) =>
        {
            last.end_ns = s.end_ns;
        }
        _ => out.push(s),
    };
    let (Some(first), Some(_)) = (st.spans.first(), st.spans.last()) else {
        return out;
    };
    if let Some(since) = since_ns.filter(|s| *s < first.period_start_ns) {
        push(Stretch {
            class: if first.seq == 0 {
                Class::Idle
            } else {
                Class::Gap
            },
            start_ns: since,
            end_ns: first.period_start_ns,
            note: if first.seq == 0 {
                "before the stream's first segment (seq 0)".into()
            } else {
                format!("head missing: seqs before {} not found", first.seq)
            },
        });
    }
    let mut prev: Option<&crate::verify::SegmentSpan> = None;
    for sp in &st.spans {
        if let Some(p) = prev {
            let missing = sp.seq.saturating_sub(p.seq).saturating_sub(1);
            if sp.period_start_ns > p.period_end_ns || missing > 0 {
                let (a, b) = (
                    p.period_end_ns.min(sp.period_start_ns),
                    sp.period_start_ns.max(p.period_end_ns),
                );
                push(Stretch {
                    class: Class::Gap,
                    start_ns: a,
                    end_ns: b,
                    note: if missing > 0 {
                        format!(
                            "{missing} segment(s) missing (seqs {}..={}), {}",
                            p.seq + 1,
                            sp.seq - 1,
                            fmt_dur(i128::from(b) - i128::from(a))
                        )
                    } else {
                        format!(
                            "periods do not tile: nothing covers {}",
                            fmt_dur(i128::from(b) - i128::from(a))
                        )
                    },
                });
            }
        }
        let planned = st
            .downtime
            .iter()
            .any(|d| d.planned && d.start_ns == sp.period_start_ns && d.end_ns == sp.period_end_ns);
        let class = if flagged(&sp.location) {
            Class::Problem
        } else {
            match (sp.kind, sp.events) {
                (SealKind::Resume, _) if planned => Class::DownPlanned,
                (SealKind::Resume, _) => Class::DownUnplanned,
                (_, 0) => Class::Heartbeat,
                _ => Class::Events,
            }
        };
        let note = match class {
            Class::Problem => format!("seq {}: {} (see the problems)", sp.seq, sp.location),
            _ => String::new(),
        };
        push(Stretch {
            class,
            start_ns: sp.period_start_ns,
            end_ns: sp.period_end_ns,
            note,
        });
        prev = Some(sp);
    }
    if let (Some(until), Some(last)) = (until_ns, st.spans.last()) {
        if last.period_end_ns < until {
            let stopped = last.kind == SealKind::Stop;
            push(Stretch {
                class: if stopped { Class::Idle } else { Class::Gap },
                start_ns: last.period_end_ns,
                end_ns: until,
                note: if stopped {
                    "stopped on purpose: nothing sealed after the stop segment".into()
                } else {
                    format!("tail truncated: coverage ends at seq {}", last.seq)
                },
            });
        }
    }
    out
}

/// The report's period: the window where given, else what the streams cover.
pub fn period(r: &Report) -> Option<(i64, i64)> {
    let start = r.streams.iter().map(|s| s.period_start_ns).min();
    let end = r.streams.iter().map(|s| s.period_end_ns).max();
    let t0 = match (r.since_ns, start) {
        (Some(s), Some(a)) => s.min(a),
        (s, a) => s.or(a)?,
    };
    let t1 = match (r.until_ns, end) {
        (Some(u), Some(b)) => u.max(b),
        (u, b) => u.or(b)?,
    };
    Some((t0, t1.max(t0)))
}

/// A tick's label (UTC): months and days only when the period is longer than a day,
/// milliseconds when it is shorter than two minutes.
fn tick_label(ns: i64, span_ns: i128) -> String {
    let t = chrono::DateTime::from_timestamp_nanos(ns);
    let format = match span_ns {
        s if s > 86_400 * 1_000_000_000 => "%m-%d %H:%M",
        s if s > 120 * 1_000_000_000 => "%H:%M:%S",
        _ => "%H:%M:%S%.3f",
    };
    t.format(format).to_string()
}

/// Whether a problem of this kind says something is wrong with the segment it names
/// (drawn as `problem`), rather than that something next to it is missing (a gap,
/// drawn from the chain itself).
pub fn marks_segment(kind: crate::verify::ProblemKind) -> bool {
    use crate::verify::ProblemKind as K;
    !matches!(
        kind,
        K::SequenceGap | K::HeadMissing | K::TailTruncated | K::NoSegments
    )
}

/// Whether the verifier reported a problem with the segment at `location` itself.
pub fn flagged(r: &Report, location: &str) -> bool {
    r.problems
        .iter()
        .any(|p| p.object == location && marks_segment(p.kind))
}

/// The picture, and every stretch that is a gap (for the text beside it).
pub fn render(r: &Report) -> (Trusted, Vec<(String, Stretch)>) {
    let mut gaps = Vec::new();
    let Some((t0, t1)) = period(r) else {
        return (
            Trusted("<p class=\"none\">No stream has segments: nothing to draw.</p>".into()),
            gaps,
        );
    };
    let scale = Scale::new(t0, t1);
    let rows = r.streams.len() as f64;
    let height = TOP + rows * ROW + 10.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"coverage timeline\">"
    );
    s.push_str("<defs><pattern id=\"gap-hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#ffcdd2\"/><rect width=\"3\" height=\"6\" fill=\"#c62828\"/></pattern></defs>");
    // Axis: five ticks.
    let span = i128::from(t1) - i128::from(t0);
    let _ = write!(
        s,
        "<text x=\"4\" y=\"14\" font-size=\"10\" fill=\"#455a64\">UTC {}</text>",
        esc(&chrono::DateTime::from_timestamp_nanos(t0)
            .format("%Y-%m-%d")
            .to_string())
    );
    for i in 0..=4 {
        let t = t0.saturating_add((span * i / 4) as i64);
        let x = scale.x(t);
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            s,
            "<line x1=\"{x:.2}\" y1=\"{}\" x2=\"{x:.2}\" y2=\"{height}\" class=\"tick\" stroke=\"#cfd8dc\"/><text x=\"{x:.2}\" y=\"14\" font-size=\"10\" text-anchor=\"{anchor}\" fill=\"#455a64\">{}</text>",
            TOP - 10.0,
            esc(&tick_label(t, span))
        );
    }
    for (i, st) in r.streams.iter().enumerate() {
        let y = TOP + i as f64 * ROW;
        let _ = write!(
            s,
            "<g class=\"stream\" data-stream=\"{}\"><text x=\"4\" y=\"{:.1}\" font-size=\"12\" fill=\"#263238\">{}</text>",
            esc(&st.stream),
            y + BAR * 0.75,
            esc(&truncate(&st.stream, 22))
        );
        let _ = write!(
            s,
            "<rect x=\"{:.2}\" y=\"{y:.1}\" width=\"{:.2}\" height=\"{BAR}\" fill=\"#fafafa\" stroke=\"#b0bec5\" stroke-width=\"0.5\"/>",
            scale.x0, scale.width
        );
        let row = stretches(st, r.since_ns, r.until_ns, &|loc| flagged(r, loc));
        for class in Class::ALL {
            for x in row.iter().filter(|x| x.class == class) {
                let min = match class {
                    Class::Gap | Class::Problem => 4.0,
                    _ => 0.6,
                };
                let (rx, w) = scale.range(x.start_ns, x.end_ns, min);
                let (ry, h) = match class {
                    Class::Gap | Class::Problem => (y - 3.0, BAR + 6.0),
                    Class::Heartbeat | Class::Idle => (y + 4.0, BAR - 8.0),
                    _ => (y, BAR),
                };
                let title = format!(
                    "{}: {} .. {} ({}){}{}",
                    class.label(),
                    fmt_ns(x.start_ns),
                    fmt_ns(x.end_ns),
                    fmt_dur(i128::from(x.end_ns) - i128::from(x.start_ns)),
                    if x.note.is_empty() { "" } else { "; " },
                    x.note
                );
                let _ = write!(
                    s,
                    "<rect class=\"{}\" x=\"{rx:.2}\" y=\"{ry:.1}\" width=\"{w:.2}\" height=\"{h:.1}\" fill=\"{}\" data-start=\"{}\" data-end=\"{}\"{}><title>{}</title></rect>",
                    class.css(),
                    class.fill(),
                    fmt_ns(x.start_ns),
                    fmt_ns(x.end_ns),
                    if class == Class::Gap { " stroke=\"#b71c1c\" stroke-width=\"1\"" } else { "" },
                    esc(&title)
                );
                if class == Class::Gap {
                    gaps.push((st.stream.clone(), x.clone()));
                }
            }
        }
        s.push_str("</g>");
    }
    s.push_str("</svg>");
    (Trusted(s), gaps)
}

/// The legend: one swatch per class, as HTML beside the picture.
pub fn legend() -> Trusted {
    let mut s = String::from("<ul class=\"legend\">");
    for class in [
        Class::Events,
        Class::Heartbeat,
        Class::DownPlanned,
        Class::DownUnplanned,
        Class::Gap,
        Class::Problem,
        Class::Idle,
    ] {
        let _ = write!(
            s,
            "<li><svg width=\"22\" height=\"12\" xmlns=\"http://www.w3.org/2000/svg\"><defs><pattern id=\"lg-hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#ffcdd2\"/><rect width=\"3\" height=\"6\" fill=\"#c62828\"/></pattern></defs><rect width=\"22\" height=\"12\" fill=\"{}\" stroke=\"#607d8b\" stroke-width=\"0.5\"/></svg> {}</li>",
            if class == Class::Gap { "url(#lg-hatch)" } else { class.fill() },
            class.label()
        );
    }
    s.push_str("</ul>");
    Trusted(s)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{Downtime, SegmentSpan};

    const S: i64 = 1_000_000_000;

    fn span(seq: u64, kind: SealKind, a: i64, b: i64, events: u64) -> SegmentSpan {
        SegmentSpan {
            seq,
            kind,
            period_start_ns: a * S,
            period_end_ns: b * S,
            events,
            location: format!("h/2026/12/02/{seq:012}.seg.zst"),
        }
    }

    fn stream(spans: Vec<SegmentSpan>, downtime: Vec<Downtime>) -> StreamSummary {
        StreamSummary {
            stream: "h".into(),
            segments: spans.len() as u64,
            events: spans.iter().map(|s| s.events).sum(),
            empty_segments: 0,
            first_seq: spans.first().map_or(0, |s| s.seq),
            last_seq: spans.last().map_or(0, |s| s.seq),
            period_start_ns: spans.first().map_or(0, |s| s.period_start_ns),
            period_end_ns: spans.last().map_or(0, |s| s.period_end_ns),
            downtime,
            stopped_ns: None,
            rotations: Vec::new(),
            spans,
        }
    }

    #[test]
    fn a_missing_segment_is_a_gap_over_its_period_and_maps_to_its_x_range() {
        // Segments 0..=9, ten seconds each; seq 4 (40 s .. 50 s) is missing.
        let spans: Vec<SegmentSpan> = (0..10)
            .filter(|&i| i != 4)
            .map(|i| {
                span(
                    i,
                    SealKind::Normal,
                    i as i64 * 10,
                    i as i64 * 10 + 10,
                    i % 2,
                )
            })
            .collect();
        let st = stream(spans, Vec::new());
        let row = stretches(&st, None, None, &|_| false);
        let gaps: Vec<&Stretch> = row.iter().filter(|s| s.class == Class::Gap).collect();
        assert_eq!(gaps.len(), 1, "{row:#?}");
        assert_eq!((gaps[0].start_ns, gaps[0].end_ns), (40 * S, 50 * S));
        assert!(gaps[0].note.contains("seqs 4..=4"), "{}", gaps[0].note);
        // 0 .. 100 s onto the plot: 40 s .. 50 s is the fifth tenth of its width.
        let scale = Scale::new(0, 100 * S);
        let (x, w) = scale.range(40 * S, 50 * S, 4.0);
        let tenth = (WIDTH - LABEL - RIGHT) / 10.0;
        assert!((x - (LABEL + 4.0 * tenth)).abs() < 1e-9, "{x}");
        assert!((w - tenth).abs() < 1e-9, "{w}");
        // A tiny gap is widened to stay visible, centred on its place.
        let (x, w) = scale.range(50 * S, 50 * S + 1, 4.0);
        assert_eq!(w, 4.0);
        assert!((x + 2.0 - scale.x(50 * S)).abs() < 1e-6);
    }

    #[test]
    fn heartbeats_events_downtime_merge_and_classify() {
        let spans = vec![
            span(0, SealKind::Normal, 0, 10, 3),
            span(1, SealKind::Normal, 10, 20, 2),
            span(2, SealKind::Stop, 20, 30, 0),
            span(3, SealKind::Resume, 30, 60, 0),
            span(4, SealKind::Normal, 60, 70, 0),
            span(5, SealKind::Resume, 70, 90, 0),
            span(6, SealKind::Normal, 90, 100, 1),
        ];
        let down = vec![
            Downtime {
                start_ns: 30 * S,
                end_ns: 60 * S,
                planned: true,
            },
            Downtime {
                start_ns: 70 * S,
                end_ns: 90 * S,
                planned: false,
            },
        ];
        let st = stream(spans, down);
        let row = stretches(&st, Some(-10 * S), Some(100 * S), &|_| false);
        let got: Vec<(Class, i64, i64)> = row
            .iter()
            .map(|s| (s.class, s.start_ns / S, s.end_ns / S))
            .collect();
        assert_eq!(
            got,
            vec![
                (Class::Idle, -10, 0),
                (Class::Events, 0, 20),
                (Class::Heartbeat, 20, 30),
                (Class::DownPlanned, 30, 60),
                (Class::Heartbeat, 60, 70),
                (Class::DownUnplanned, 70, 90),
                (Class::Events, 90, 100),
            ]
        );
    }

    #[test]
    fn truncated_tail_missing_head_and_flagged_segments() {
        let spans = vec![
            span(3, SealKind::Normal, 30, 40, 1),
            span(4, SealKind::Normal, 40, 50, 1),
            span(5, SealKind::Normal, 50, 60, 1),
        ];
        let st = stream(spans, Vec::new());
        let bad = "h/2026/12/02/000000000004.seg.zst";
        let row = stretches(&st, Some(20 * S), Some(80 * S), &|l| l == bad);
        let got: Vec<(Class, i64, i64)> = row
            .iter()
            .map(|s| (s.class, s.start_ns / S, s.end_ns / S))
            .collect();
        assert_eq!(
            got,
            vec![
                (Class::Gap, 20, 30),
                (Class::Events, 30, 40),
                (Class::Problem, 40, 50),
                (Class::Events, 50, 60),
                (Class::Gap, 60, 80),
            ]
        );
        // A stop segment at the end: idle, not a gap.
        let mut stopped = st.clone();
        if let Some(l) = stopped.spans.last_mut() {
            l.kind = SealKind::Stop;
        }
        let row = stretches(&stopped, None, Some(80 * S), &|_| false);
        assert_eq!(row.last().map(|s| s.class), Some(Class::Idle));
    }

    #[test]
    fn the_svg_escapes_stream_names_and_marks_gaps() {
        let spans: Vec<SegmentSpan> = [0u64, 1, 3]
            .iter()
            .map(|&i| span(i, SealKind::Normal, i as i64 * 10, i as i64 * 10 + 10, 1))
            .collect();
        let mut st = stream(spans, Vec::new());
        st.stream = "<script>x</script>".into();
        // The verifier names the segment after a gap in its sequence_gap problem: that
        // segment is not itself at fault. A content problem marks its segment.
        let problem = |seq: u64, kind| crate::verify::Problem {
            object: format!("h/2026/12/02/{seq:012}.seg.zst"),
            kind,
            detail: String::new(),
        };
        let report = Report {
            problems: vec![
                problem(3, crate::verify::ProblemKind::SequenceGap),
                problem(0, crate::verify::ProblemKind::MerkleMismatch),
            ],
            streams: vec![st],
            objects: 3,
            skipped: 0,
            bytes: 0,
            key_ids: Vec::new(),
            since_ns: None,
            until_ns: None,
            retention: None,
            anchor: None,
            archive: String::new(),
            verified_at_ns: 0,
        };
        let (svg, gaps) = render(&report);
        let svg = svg.as_str();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
        assert_eq!(gaps.len(), 1);
        assert_eq!(svg.matches("<rect class=\"problem\"").count(), 1, "{svg}");
        assert!(
            svg.contains("<rect class=\"problem\" x=\"150.00\""),
            "seq 0 at the left: {svg}"
        );
        assert!(
            svg.contains("class=\"gap\"")
                && svg.contains(
                    "data-start=\"1970-01-01T00:00:20Z\" data-end=\"1970-01-01T00:00:30Z\""
                ),
            "{svg}"
        );
    }
}
