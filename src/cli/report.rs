//! `sealtrail report`: verifies the archive (as `verify` does, with the same options),
//! reads the events of the segments that verified through the verified reader
//! (`crate::query`), and writes the evidence report as one HTML file, and as PDF with
//! `--pdf` where headless Chromium is installed.
//!
//! Exit: 0 written and the archive is valid, 1 written but the archive is invalid,
//! 2 usage or I/O error (also: `--pdf` asked and no converter found; the HTML is
//! written first).

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::runtime;
use super::verify::{ArchiveArg, ChecksArgs, KeyArgs, S3Args};
use crate::report::{shell_quote, Aggregator, Input, ReadStats};

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    archive: ArchiveArg,
    #[command(flatten)]
    keys: KeyArgs,
    /// Only these streams, comma-separated or repeated (default: every stream found);
    /// each must have segments.
    #[arg(long, value_delimiter = ',')]
    stream: Vec<String>,
    /// The report's period starts here (RFC 3339); coverage must start at or before it.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// The report's period ends here (RFC 3339); coverage stopping early is tail
    /// truncation. Give it: without it deleted newest segments cannot be detected.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Where to write the HTML report (one self-contained file).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Also print the report to this PDF file (needs Chromium or Chrome).
    #[arg(long, value_name = "FILE")]
    pdf: Option<PathBuf>,
    /// The browser that prints the PDF (default: chromium, chromium-browser,
    /// google-chrome, google-chrome-stable or headless_shell on PATH).
    #[arg(long, value_name = "PATH", requires = "pdf")]
    chromium: Option<PathBuf>,
    #[command(flatten)]
    checks: ChecksArgs,
    #[command(flatten)]
    s3: S3Args,
}

impl ReportArgs {
    fn archive(&self) -> &str {
        self.archive.location()
    }

    /// The command line that makes this report again, from the arguments as given.
    fn command_line(&self) -> String {
        let mut v: Vec<String> = vec!["sealtrail".into(), "report".into(), self.archive().into()];
        for k in &self.keys.key {
            v.push("--key".into());
            v.push(k.display().to_string());
        }
        let mut opt = |flag: &str, val: Option<&str>| {
            if let Some(x) = val {
                v.push(flag.into());
                v.push(x.into());
            }
        };
        let streams = self.stream.join(",");
        opt("--stream", Some(streams.as_str()).filter(|s| !s.is_empty()));
        opt("--since", self.since.as_deref());
        opt("--until", self.until.as_deref());
        v.extend(self.checks.to_args());
        v.extend(self.s3.to_args());
        v.push("-o".into());
        v.push(self.output.display().to_string());
        if let Some(p) = &self.pdf {
            v.push("--pdf".into());
            v.push(p.display().to_string());
        }
        v.iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub fn run(a: ReportArgs) -> i32 {
    match make(&a) {
        Ok(valid) => {
            if valid {
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}

/// Writes the report; returns whether the archive verified.
fn make(a: &ReportArgs) -> anyhow::Result<bool> {
    let keyring = super::verify::load_keyring(&a.keys.key)?;
    let (since_ns, until_ns) = super::verify::window(a.since.as_deref(), a.until.as_deref())?;
    // The converter is looked up before the work, so a missing one is said at once.
    let converter = a
        .pdf
        .as_ref()
        .map(|_| crate::report::pdf::find(a.chromium.as_deref()));
    let section = a.s3.archive_section(a.archive());
    let archive = crate::store::open(&section, false)?;
    let opts = crate::verify::VerifyOptions {
        keyring: keyring.clone(),
        streams: a.stream.clone(),
        since_ns,
        until_ns,
        progress: None,
    };
    let generated_at_ns = crate::record::now_ns();
    let rt = runtime().context("starting the runtime")?;
    // One read of the archive: the verified reader checks every object as `verify`
    // does, and its report is the one `verify` would print.
    let (mut report, (figures, mut read)) = rt.block_on(super::verify::checked(
        &archive,
        &section,
        &opts,
        &a.checks,
        read_events(&archive, &opts),
    ))?;
    report.archive = a.archive().to_owned();
    // What the refused segments' (authentic) seals say they held.
    read.events_refused = report
        .streams
        .iter()
        .flat_map(|s| s.spans.iter())
        .filter(|sp| read.refused.iter().any(|(loc, _)| *loc == sp.location))
        .map(|sp| sp.events)
        .sum();
    let valid = report.is_valid();
    let input = Input {
        verify: report,
        figures,
        read,
        command: a.command_line(),
        generated_at_ns,
    };
    let html = crate::report::render(&input);
    write_file(&a.output, html.as_bytes())?;
    eprintln!(
        "report written to {} (archive {})",
        a.output.display(),
        if valid { "valid" } else { "INVALID" }
    );
    if let (Some(pdf), Some(converter)) = (&a.pdf, converter) {
        let program = converter?;
        crate::report::pdf::print(&program, &a.output, pdf)?;
        eprintln!("PDF written to {}", pdf.display());
    }
    Ok(valid)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), crate::report::ReportError> {
    std::fs::write(path, bytes).map_err(|source| crate::report::ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The verification report and the event figures, from the verified reader: only
/// segments whose every check passed hand on their events; the others are counted as
/// refused.
async fn read_events(
    archive: &crate::store::Archive,
    opts: &crate::verify::VerifyOptions,
) -> anyhow::Result<(crate::verify::Report, (crate::report::Figures, ReadStats))> {
    let read_opts = crate::query::ReadOptions {
        keyring: opts.keyring.clone(),
        streams: opts.streams.clone(),
        since_ns: opts.since_ns,
        until_ns: opts.until_ns,
        include_unverified: false,
        progress: None,
    };
    // Each segment is counted on a worker into a part of its own (a few tables, not
    // its events), and the parts are merged in archive order.
    let mut agg = Aggregator::new();
    let summary = crate::query::read(
        archive,
        &read_opts,
        |seg: &crate::query::Segment| {
            let mut w = crate::event::ecs::EcsWriter::default();
            let mut part = Aggregator::new();
            for e in seg.events() {
                // A compact line is counted from its sealed event, an ECS line (an
                // alert) from the JSON the reader parsed; only an audit event (or an
                // unreadable line) is rendered as ECS for it.
                use crate::query::View;
                let fields = match &e.view {
                    View::Compact(c) => crate::report::CompactFields::new(c),
                    _ => None,
                };
                match (fields, &e.view) {
                    (Some(f), _) => part.add(&seg.stream, &f),
                    (None, View::Ecs(v)) => part.add(&seg.stream, v),
                    (None, _) => part.add(&seg.stream, &e.ecs(&mut w)),
                }
            }
            part
        },
        |part: Aggregator| {
            agg.merge(part);
            Ok(())
        },
    )
    .await?;
    let read = ReadStats {
        segments_read: summary.verified as u64,
        segments_refused: summary.refused.len() as u64,
        events_refused: 0,
        refused: summary
            .refused
            .iter()
            .map(|r| {
                (
                    r.location.clone(),
                    r.problems
                        .iter()
                        .map(|(k, d)| format!("{k}: {d}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })
            .collect(),
    };
    Ok((summary.report, (agg.finish(), read)))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::{Cli, Command};
    use super::ReportArgs;

    fn parse(args: &[&str]) -> ReportArgs {
        match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(Command::Report(a)) => a,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    /// The printed command line, split as a shell would, parses to the same report.
    #[test]
    fn the_reproducing_command_line_parses_back_to_the_same_arguments() {
        let a = parse(&[
            "sealtrail",
            "report",
            "--archive",
            "s3://bucket/my logs",
            "-k",
            "keys/it's.pub",
            "--key",
            "next.pub",
            "--since",
            "2026-10-01T00:00:00Z",
            "--until",
            "2027-01-01T00:00:00Z",
            "--check-retention",
            "--allow-governance",
            "--endpoint",
            "http://127.0.0.1:9000",
            "--allow-http",
            "-o",
            "out dir/r.html",
            "--pdf",
            "r.pdf",
        ]);
        let line = a.command_line();
        assert!(
            line.starts_with(
                "sealtrail report 's3://bucket/my logs' --key 'keys/it'\\''s.pub' --key next.pub"
            ),
            "{line}"
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("for a in {line}; do printf '%s\\0' \"$a\"; done"))
            .output()
            .unwrap();
        let words: Vec<String> = out
            .stdout
            .split(|&b| b == 0)
            .filter(|w| !w.is_empty())
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let b = parse(&words);
        assert_eq!(b.command_line(), line);
        assert_eq!(b.archive(), "s3://bucket/my logs");
        assert_eq!(b.keys, a.keys);
        assert_eq!((b.since, b.until), (a.since.clone(), a.until.clone()));
        assert_eq!(b.checks, a.checks);
        for flag in ["--check-retention", "--allow-governance"] {
            assert!(b.checks.to_args().contains(&flag.to_owned()), "{flag}");
        }
        assert_eq!(b.s3.to_args(), a.s3.to_args());
        assert_eq!((b.output, b.pdf), (a.output, a.pdf));
    }

    #[test]
    fn the_archive_is_given_once() {
        assert!(
            Cli::try_parse_from(["sealtrail", "report", "-k", "k.pub", "-o", "r.html"]).is_err()
        );
        assert!(Cli::try_parse_from([
            "sealtrail",
            "report",
            "a",
            "--archive",
            "b",
            "-k",
            "k.pub",
            "-o",
            "r.html"
        ])
        .is_err());
        assert_eq!(
            parse(&["sealtrail", "report", "a", "-k", "k", "-o", "r"]).archive(),
            "a"
        );
    }
}
