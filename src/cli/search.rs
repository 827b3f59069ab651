//! `sealtrail search` and `sealtrail export`: the verified events of an archive that
//! pass the filters, as a table, JSON lines or CSV, and what was verified.

use std::io::{IsTerminal as _, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::runtime;
use super::verify::{ArchiveArg, KeyArgs, ProgressBar, S3Args};
use crate::query::filter::{Filter, Source};
use crate::query::output::{self, Format, Render, DEFAULT_COLUMNS, VERIFIED_COLUMN};
use crate::query::{QueryError, ReadOptions};

/// What `search --help` and `export --help` add after the options.
pub const AFTER_HELP: &str = "\
Only verified events are printed: each segment read is checked as `verify` checks it \
(seal signature by a key of the keyring, content hash, Merkle root, counts) before any \
of its events is output. Different filters AND together; a filter given several times \
(or with comma-separated values) ORs its values. --since/--until select by \
event.created (when the daemon received the event, the time its seals commit to), so \
only the segments whose seals overlap the window are read.

Output order: by stream, then by the position in the stream (segment sequence, then \
line), the same on every run. JSON lines are the full ECS events exactly as `sealtrail \
inspect` prints them. CSV (RFC 4180, header row, CRLF) takes --columns as ECS paths \
(e.g. @timestamp,user.name,source.ip,event.original); arrays are joined with `|`, \
objects written as JSON, absent fields empty.

The summary (segments read, verified, refused; events scanned and matched; key ids; \
the window; chain problems) goes to stderr with JSON lines and CSV, after the table \
otherwise. Exit status: 0 every segment read verified and the chain over the window \
has no problems; 1 a segment was refused (its events left out; with \
--include-unverified they are output, marked sealtrail.verified=false, and do not \
make the status 1) or the chain has problems (gaps, forks, truncation); 2 usage or \
I/O error.";

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    /// one ECS event (JSON) per line
    Jsonl,
    /// RFC 4180 CSV with a header row, the --columns
    Csv,
    /// a plain table of the --columns
    Table,
}

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    #[command(flatten)]
    archive: ArchiveArg,
    #[command(flatten)]
    keys: KeyArgs,
    /// Events received at or after this time (RFC 3339, e.g. 2026-11-22T18:00:00Z).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Events received before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only this stream (the daemon's stream id, the archive's first key level).
    #[arg(long, value_delimiter = ',', help_heading = "Filters")]
    stream: Vec<String>,
    /// host.name (ASCII case ignored).
    #[arg(long, value_delimiter = ',', help_heading = "Filters")]
    host: Vec<String>,
    /// user.name.
    #[arg(long, value_delimiter = ',', help_heading = "Filters")]
    user: Vec<String>,
    /// source.ip: an address or a CIDR block (203.0.113.0/24, 2001:db8::/32).
    #[arg(
        long,
        value_name = "IP|CIDR",
        value_delimiter = ',',
        help_heading = "Filters"
    )]
    source: Vec<Source>,
    /// event.kind: event, alert.
    #[arg(long, value_delimiter = ',', help_heading = "Filters")]
    kind: Vec<String>,
    /// event.category (one of its values): authentication, intrusion_detection, ...
    #[arg(long, value_delimiter = ',', help_heading = "Filters")]
    category: Vec<String>,
    /// event.action: ssh_login, sudo, ...
    #[arg(long, value_delimiter = ',', help_heading = "Filters")]
    action: Vec<String>,
    /// event.outcome: success, failure, unknown.
    #[arg(long, value_delimiter = ',', help_heading = "Filters")]
    outcome: Vec<String>,
    /// rule.id of a detector alert (e.g. ssh_brute_force).
    #[arg(
        long = "rule",
        value_name = "RULE_ID",
        value_delimiter = ',',
        help_heading = "Filters"
    )]
    rule: Vec<String>,
    /// A substring of the original line (event.original). Repeat to OR.
    #[arg(long, value_name = "TEXT", help_heading = "Filters")]
    text: Vec<String>,
    /// --text without regard to case.
    #[arg(short = 'i', long, help_heading = "Filters")]
    ignore_case: bool,
    /// Output format (default: a table when stdout is a terminal for `search`,
    /// JSON lines otherwise).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// CSV and table columns, ECS paths separated by commas (default:
    /// @timestamp,host.name,event.action,event.outcome,user.name,source.ip,message).
    #[arg(long, value_delimiter = ',', value_name = "PATHS")]
    columns: Vec<String>,
    /// Also output the events of segments that fail their checks (when their content
    /// decodes), marked sealtrail.verified=false (a CSV/table column of that name is
    /// added). Refused segments then do not make the exit status 1.
    #[arg(long)]
    include_unverified: bool,
    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "PATH")]
    summary_json: Option<PathBuf>,
    #[command(flatten)]
    s3: S3Args,
}

/// `search` (`export` = false) or `export`: exit 0, 1 or 2 (see [`AFTER_HELP`]).
pub fn run(a: SearchArgs, export: bool) -> i32 {
    match run_inner(a, export) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}

fn run_inner(a: SearchArgs, export: bool) -> anyhow::Result<i32> {
    let keyring = super::verify::load_keyring(&a.keys.key)?;
    let (since_ns, until_ns) = super::verify::window(a.since.as_deref(), a.until.as_deref())?;
    let archive = crate::store::open(&a.s3.archive_section(a.archive.location()), false)?;
    let stdout_tty = std::io::stdout().is_terminal();
    let format = match a.format {
        Some(FormatArg::Jsonl) => Format::Jsonl,
        Some(FormatArg::Csv) => Format::Csv,
        Some(FormatArg::Table) => Format::Table,
        None if !export && stdout_tty => Format::Table,
        None => Format::Jsonl,
    };
    let mut columns: Vec<String> = if a.columns.is_empty() {
        DEFAULT_COLUMNS.iter().map(|s| s.to_string()).collect()
    } else {
        a.columns.iter().map(|c| c.trim().to_owned()).collect()
    };
    if let Some(bad) = columns.iter().find(|c| c.is_empty()) {
        anyhow::bail!("--columns: an empty column name ({bad:?})");
    }
    if a.include_unverified && !columns.iter().any(|c| c == VERIFIED_COLUMN) {
        columns.push(VERIFIED_COLUMN.to_owned());
    }
    let filter = Filter {
        streams: a.stream.clone(),
        hosts: a.host,
        users: a.user,
        sources: a.source,
        kinds: a.kind,
        categories: a.category,
        actions: a.action,
        outcomes: a.outcome,
        rule_ids: a.rule,
        texts: a.text,
        ignore_case: a.ignore_case,
    };
    // A bar on a terminal only, and not over a table being printed there.
    let progress = (std::io::stderr().is_terminal() && !stdout_tty)
        .then(|| Arc::new(crate::verify::Progress::default()));
    let opts = ReadOptions {
        keyring,
        streams: a.stream.clone(),
        since_ns,
        until_ns,
        include_unverified: a.include_unverified,
        progress: progress.clone(),
    };
    let how = Render { format, columns };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match format {
        Format::Csv => out.write_all(&output::csv::header(&how.columns)?)?,
        Format::Table => out.write_all(&output::table::header(&how.columns))?,
        Format::Jsonl => {}
    }
    let rt = runtime().context("starting the runtime")?;
    let bar = progress.map(|p| ProgressBar::start(p, "searching"));
    let mut matched = 0u64;
    let map_how = how.clone();
    let result = rt.block_on(crate::query::read(
        &archive,
        &opts,
        move |seg| output::render(seg, &filter, &map_how),
        |rendered| {
            let (bytes, n) = rendered?;
            matched += n;
            out.write_all(&bytes)?;
            Ok(())
        },
    ));
    if let Some(b) = bar {
        b.finish();
    }
    let flushed = out.flush();
    let mut summary = match result.map_err(anyhow::Error::from).and_then(|s| {
        flushed?;
        Ok(s)
    }) {
        Ok(s) => s,
        // `search … | head` is a normal way to look.
        Err(e) if is_broken_pipe(&e) => return Ok(0),
        Err(e) => return Err(e),
    };
    drop(out);
    summary.events_matched = matched;
    summary.report.archive = a.archive.location().to_owned();
    if let Some(path) = &a.summary_json {
        std::fs::write(path, summary.to_json().to_string() + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let text = summary.render_text();
    if format == Format::Table {
        let _ = writeln!(std::io::stdout().lock(), "\n{text}");
    } else {
        eprint!("{text}");
    }
    Ok(if summary.is_ok() { 0 } else { 1 })
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let io =
            c.downcast_ref::<std::io::Error>()
                .or_else(|| match c.downcast_ref::<QueryError>() {
                    Some(QueryError::Output(io)) => Some(io),
                    _ => None,
                });
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
