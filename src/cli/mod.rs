//! Command-line interface: the only place where `anyhow` and process exit codes live.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config, ConfigError, EX_CONFIG};

mod prove;
mod report;
mod rotate;
mod search;
mod verify;

/// Version line: the crate version and the segment format it writes.
pub const LONG_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (segment format 1)");

#[derive(Parser, Debug)]
#[command(
    name = "sealtrail",
    version = LONG_VERSION,
    about = "Audit-log daemon: receives syslog, seals every event into signed, hash-chained zstd segments, archives them",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon in the foreground (SIGTERM/SIGINT drain, seal and stop).
    Run {
        /// Configuration file. Without it: /etc/sealtrail/sealtrail.toml if present,
        /// else the embedded default (syslog on 127.0.0.1:5514, ./sealtrail-data).
        #[arg(short, long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Check a configuration file and exit: 0 valid, 78 invalid.
    CheckConfig {
        #[arg(short, long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Create an Ed25519 signing key (mode 0600) and its public key (`.pub`) beside it.
    Keygen {
        /// Where to write the secret key; default: the configured key path.
        #[arg(short, long, value_name = "PATH")]
        out: Option<PathBuf>,
        #[arg(short, long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Keep an existing key (and print its paths) instead of failing.
        #[arg(long)]
        if_missing: bool,
    },
    /// Rotate the signing key: write the next key pair beside it and add it to the
    /// keyring file; the daemon seals the hand-over (a rotation seal signed by the old
    /// key naming the new one) and moves the new key into place.
    RotateKey(rotate::RotateArgs),
    /// Verify an archive: exit 0 valid, 1 invalid, 2 usage or I/O error.
    #[command(after_help = verify::LIMITS_HELP)]
    Verify(verify::VerifyArgs),
    /// Write a proof that one event is in the archive, checkable with the public key
    /// alone: its line, audit path and signed seal (docs/FORMAT.md §12).
    #[command(long_about = prove::PROVE_ABOUT)]
    Prove(prove::ProveArgs),
    /// Check an event proof with the public key alone: exit 0 valid, 1 invalid, 2 usage
    /// or read error.
    #[command(long_about = prove::CHECK_ABOUT)]
    CheckProof(prove::CheckProofArgs),
    /// Write a compliance evidence report of an archive (HTML; PDF with --pdf).
    ///
    /// One self-contained HTML file (and a PDF with --pdf): the verdict, a coverage timeline, authentication and
    /// privilege activity, the detector's alerts, and what the evidence shows for
    /// PCI DSS 10, HIPAA §164.312(b), SOC 2 CC7.2, ISO 27001 A.8.15/A.8.16 and NIST
    /// AU-9/AU-10. Exit 0 valid, 1 invalid, 2 usage or I/O error.
    Report(report::ReportArgs),
    /// Search an archive's verified events: filters by time, host, stream, user,
    /// source address, kind, category, action, outcome, rule and text; a table on a
    /// terminal, else JSON lines (or CSV); a summary of what was verified. Exit 0
    /// verified, 1 not (refused segments, chain problems), 2 usage or I/O error.
    #[command(after_help = search::AFTER_HELP)]
    Search(search::SearchArgs),
    /// Export an archive's verified events, filtered as `search` does: JSON lines (full
    /// ECS, as `inspect` renders them) by default, or CSV with chosen columns.
    #[command(after_help = search::AFTER_HELP)]
    Export(search::SearchArgs),
    /// Run log lines through normalisation and the detector offline (no journal, no
    /// archive) and print events, alerts and a summary, like fail2ban-regex.
    Replay {
        /// A log file (auth.log, syslog lines with or without PRI), or `-` for stdin.
        input: PathBuf,
        /// Take the [detect] rules from this configuration (default: built-in rules).
        #[arg(short, long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// What to print before the summary.
        #[arg(long, value_enum, default_value = "auth")]
        show: ShowArg,
        /// Time zone of timestamps without one: "local", "UTC", "+02:00".
        #[arg(long, default_value = "local")]
        timezone: String,
    },
    /// Print one segment's seal (first line, JSON) and its events as ECS JSON lines.
    Inspect {
        /// A segment file (`.seg.zst`).
        segment: PathBuf,
        /// Print the seal only (nothing is decoded, so the content is not checked; the
        /// signature is, with `--key`).
        #[arg(long)]
        seal_only: bool,
        /// Print the event lines as sealed (compact lines, see docs/FORMAT.md §10)
        /// instead of their ECS rendering.
        #[arg(long, conflicts_with = "seal_only")]
        sealed: bool,
        /// Also check the seal's signature with this public key (or keyring file).
        /// Without it the content is still checked against the seal (hashes, Merkle
        /// root, counts).
        #[arg(long, value_name = "PUB|KEYRING")]
        key: Option<PathBuf>,
    },
    /// Show a running daemon's sources, journal lag, spool, sealed and shipped
    /// sequence and alerts, from its status endpoint. Exit 0, or 3 if unreachable.
    Status {
        #[arg(short, long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Endpoint address; default: `[status] address` of the configuration.
        #[arg(long, value_name = "ADDR")]
        address: Option<std::net::SocketAddr>,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write man pages and shell completions into a directory (for packaging).
    #[command(hide = true)]
    GenerateAssets {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ShowArg {
    /// every event and every alert
    All,
    /// authentication events and alerts
    Auth,
    /// alerts only
    Alerts,
    /// the lines not recognised as authentication events, verbatim (like fail2ban-regex's missed lines)
    Unmatched,
    /// the summary only
    None,
}

/// Parses arguments, runs the subcommand, returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    init_logging();
    match cli.command {
        Command::Run { config } => run(config.as_deref()),
        Command::CheckConfig { config } => check_config(config.as_deref()),
        Command::Keygen {
            out,
            config,
            if_missing,
        } => report(keygen(out, config.as_deref(), if_missing), 1),
        Command::Verify(args) => verify::run(args),
        Command::Report(args) => report::run(args),
        Command::Search(args) => search::run(args, false),
        Command::Export(args) => search::run(args, true),
        Command::RotateKey(args) => report(rotate::run(args), 1),
        Command::Prove(args) => prove::prove(args),
        Command::CheckProof(args) => prove::check_proof(args),
        Command::Inspect {
            segment,
            seal_only,
            sealed,
            key,
        } => match inspect(&segment, seal_only, sealed, key.as_deref()) {
            Ok(Checked::Intact) => 0,
            Ok(Checked::Tampered) => 1,
            Err(e) => {
                eprintln!("error: {e:#}");
                2
            }
        },
        Command::Replay {
            input,
            config,
            show,
            timezone,
        } => replay(&input, config.as_deref(), show, &timezone),
        Command::Status {
            config,
            address,
            json,
        } => status(config.as_deref(), address, json),
        Command::GenerateAssets { out } => report(
            crate::assets::generate(&out)
                .map(|files| files.iter().for_each(|f| println!("{}", f.display())))
                .map_err(Into::into),
            1,
        ),
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only on a terminal; under systemd, journald stamps each line itself.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
}

fn report(r: anyhow::Result<()>, code: i32) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            code
        }
    }
}

/// Loads the configuration the way `run` does; `None` inside means "embedded default".
fn load_config(path: Option<&Path>) -> Result<(Config, Option<PathBuf>), ConfigError> {
    match path {
        Some(p) => Ok((Config::load(p)?, Some(p.to_path_buf()))),
        None => {
            let default = Path::new(config::DEFAULT_PATH);
            if default.exists() {
                Ok((Config::load(default)?, Some(default.to_path_buf())))
            } else {
                Ok((Config::embedded(), None))
            }
        }
    }
}

fn run(config: Option<&Path>) -> i32 {
    let (cfg, origin) = match load_config(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return EX_CONFIG;
        }
    };
    match &origin {
        Some(p) => tracing::info!(config = %p.display(), "configuration loaded"),
        None => tracing::info!(
            "no configuration file ({} absent): using the embedded default",
            config::DEFAULT_PATH
        ),
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return 1;
        }
    };
    let result = rt.block_on(async move {
        let daemon = crate::daemon::Daemon::start(cfg.clone()).await?;
        let service = crate::service::Service::start(daemon.status_probe(), cfg, origin).await;
        let shutdown = CancellationToken::new();
        spawn_signal_handler(shutdown.clone(), service)?;
        daemon.run(shutdown).await?;
        anyhow::Ok(())
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e:#}");
            let config = e
                .downcast_ref::<crate::daemon::DaemonError>()
                .is_some_and(crate::daemon::DaemonError::is_configuration);
            if config {
                EX_CONFIG
            } else {
                1
            }
        }
    }
}

/// Two workers: the sealer has its own thread, so two cores are used in full.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

fn spawn_signal_handler(
    shutdown: CancellationToken,
    mut service: crate::service::Service,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM received"); break; }
                _ = int.recv() => { tracing::info!("SIGINT received"); break; }
                _ = hup.recv() => {
                    tracing::info!("SIGHUP received: reloading the configuration");
                    service.reload().await;
                }
            }
        }
        crate::service::stopping();
        shutdown.cancel();
    });
    Ok(())
}

fn check_config(config: Option<&Path>) -> i32 {
    match load_config(config) {
        Ok((cfg, origin)) => {
            let what = origin
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "embedded default".into());
            println!(
                "{what}: OK ({} source(s), stream `{}`, archive {})",
                cfg.sources().len(),
                cfg.stream_id(),
                cfg.archive.url
            );
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            EX_CONFIG
        }
    }
}

fn keygen(out: Option<PathBuf>, config: Option<&Path>, if_missing: bool) -> anyhow::Result<()> {
    let (path, chain) = match out {
        Some(p) => (p, None),
        None => {
            let cfg = load_config(config)?.0;
            let chain = crate::seal::chain_in(&cfg.state_dir)
                .with_context(|| format!("reading the chain in {}", cfg.state_dir.display()))?;
            (cfg.key_path(), chain)
        }
    };
    // The configured key of a state directory that holds a chain is never created anew
    // (the package runs `keygen --if-missing` on every upgrade): the chain needs the key
    // it was signed with, and the daemon would refuse a new one anyway.
    if let Some(chain) = chain {
        let (key, _) = crate::keys::load_for_chain(&path, Some(&chain.chain_key()))?;
        if !if_missing {
            anyhow::bail!(crate::keys::KeyError::Exists { path });
        }
        println!(
            "secret key: {}\npublic key: {}\nkey id: {}",
            path.display(),
            crate::keys::public_path_for(&path).display(),
            hex::encode(crate::keys::key_id(&key.verifying_key()))
        );
        return Ok(());
    }
    let public = if if_missing {
        crate::keys::ensure(&path)
            .with_context(|| format!("loading or creating {}", path.display()))?
            .0
            .verifying_key()
    } else {
        crate::keys::generate(&path).with_context(|| format!("creating {}", path.display()))?
    };
    println!(
        "secret key: {}\npublic key: {}\nkey id: {}",
        path.display(),
        crate::keys::public_path_for(&path).display(),
        hex::encode(crate::keys::key_id(&public))
    );
    Ok(())
}

fn status(config: Option<&Path>, address: Option<std::net::SocketAddr>, json: bool) -> i32 {
    let address = match address {
        Some(a) => a,
        None => match load_config(config) {
            Ok((cfg, _)) if cfg.status.enabled => cfg.status.address,
            Ok(_) => {
                eprintln!("error: the status endpoint is disabled in the configuration ([status] enabled = false)");
                return 3;
            }
            Err(e) => {
                eprintln!("error: {e}");
                return EX_CONFIG;
            }
        },
    };
    match crate::status::print_status(address, json, &mut std::io::stdout().lock()) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            3
        }
    }
}

fn parse_time(flag: &str, s: &str) -> anyhow::Result<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(s).with_context(|| {
        format!("{flag}: `{s}` is not an RFC 3339 time (e.g. 2026-11-22T18:00:00Z)")
    })?;
    t.timestamp_nanos_opt()
        .with_context(|| format!("{flag}: `{s}` is out of range"))
}

fn replay(input: &Path, config: Option<&Path>, show: ShowArg, timezone: &str) -> i32 {
    let detect = match config {
        Some(p) => match Config::load(p) {
            Ok(c) => c.detect,
            Err(e) => {
                eprintln!("error: {e}");
                return EX_CONFIG;
            }
        },
        None => crate::detect::DetectConfig::default(),
    };
    let tz = match timezone.parse::<crate::normalise::TimeZoneSpec>() {
        Ok(tz) => tz,
        Err(e) => {
            eprintln!("error: --timezone: {e}");
            return 2;
        }
    };
    let show = match show {
        ShowArg::All => crate::replay::Show::All,
        ShowArg::Auth => crate::replay::Show::Auth,
        ShowArg::Alerts => crate::replay::Show::Alerts,
        ShowArg::Unmatched => crate::replay::Show::Unmatched,
        ShowArg::None => crate::replay::Show::None,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let now = crate::record::now_ns();
    let result = if input == Path::new("-") {
        let stdin = std::io::stdin();
        crate::replay::replay(stdin.lock(), "-", detect, tz, now, show, &mut out)
    } else {
        match std::fs::File::open(input) {
            Ok(f) => crate::replay::replay(
                std::io::BufReader::with_capacity(1 << 20, f),
                &input.to_string_lossy(),
                detect,
                tz,
                now,
                show,
                &mut out,
            ),
            Err(e) => {
                eprintln!("error: {}: {e}", input.display());
                return 2;
            }
        }
    };
    let result = result.and_then(|summary| out.flush().map(|()| summary));
    match result {
        Ok(summary) => {
            eprint!("{}", summary.render());
            0
        }
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// What `inspect` found when it checked the segment against its seal.
enum Checked {
    Intact,
    /// Printed, but the content (or with `--key` the signature) does not match the
    /// seal: exit 1, like `verify` on a tampered archive.
    Tampered,
}

/// Prints the seal, then the events (rendered as ECS unless `sealed`), then checks the
/// content against the seal (and the signature with `key`), reporting any mismatch on
/// stderr. Nothing is sized from the file: the seal is read from the file's end and the
/// data frame is decoded through a fixed buffer straight to stdout, so a corrupt frame
/// prints the lines before the damage, then fails.
fn inspect(
    path: &Path,
    seal_only: bool,
    sealed: bool,
    key: Option<&Path>,
) -> anyhow::Result<Checked> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let found = crate::segment::read_seal(&mut file)
        .with_context(|| format!("parsing {}", path.display()))?;
    print_segment(path, &mut file, &found, seal_only, sealed)?;
    // `--seal-only` is the quick look that decodes nothing; only the signature (with a
    // key) is checked then.
    let mut problems = Vec::new();
    if !seal_only {
        file.seek(std::io::SeekFrom::Start(0))
            .with_context(|| format!("reading {}", path.display()))?;
        problems = crate::verify::check_content(&mut file, &found)
            .with_context(|| format!("checking {}", path.display()))?
            .into_iter()
            .map(|(kind, detail)| format!("{kind}: {detail}"))
            .collect();
    }
    if let Some(k) = key {
        // A `.pub` or a keyring: the key the seal names must be there and verify it.
        let ring = crate::verify::Keyring::new(crate::keys::load_public_keys(k)?);
        match ring.signer(&found.seal) {
            Ok(_) => {}
            Err(Some(_)) => problems.push("bad_signature: signature does not verify".into()),
            Err(None) => problems.push(format!(
                "wrong_key: the seal names key id {}, not in {} ({})",
                hex::encode(found.seal.key_id),
                k.display(),
                ring.list()
            )),
        }
    }
    if problems.is_empty() {
        return Ok(Checked::Intact);
    }
    eprintln!(
        "{}: does not match its seal (tampered or damaged): {}",
        path.display(),
        problems.join("; ")
    );
    Ok(Checked::Tampered)
}

fn print_segment(
    path: &Path,
    file: &mut std::fs::File,
    found: &crate::segment::Located,
    seal_only: bool,
    sealed: bool,
) -> anyhow::Result<()> {
    use crate::segment::SegmentError;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let printed = (|| {
        writeln!(out, "{}", found.seal.to_json()).map_err(SegmentError::Io)?;
        if !seal_only {
            file.seek(std::io::SeekFrom::Start(0))
                .map_err(SegmentError::Io)?;
            if sealed {
                crate::segment::copy_content(
                    &mut *file,
                    found.seal_start,
                    &mut out,
                    found.seal.content_len,
                )?;
            } else {
                let mut ecs = crate::event::EcsLines::new(&mut out, &found.seal.stream);
                crate::segment::copy_content(
                    &mut *file,
                    found.seal_start,
                    &mut ecs,
                    found.seal.content_len,
                )?;
                ecs.finish().map_err(SegmentError::Io)?;
            }
        }
        out.flush().map_err(SegmentError::Io)
    })();
    match printed {
        Ok(()) => Ok(()),
        // `inspect … | head` is a normal way to look at a segment.
        Err(SegmentError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e).with_context(|| format!("decompressing {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn version_names_the_format_version() {
        assert!(LONG_VERSION.contains(&format!(
            "segment format {}",
            crate::segment::FORMAT_VERSION
        )));
    }

    #[test]
    fn times_parse_or_explain() {
        assert_eq!(
            parse_time("--until", "1970-01-01T00:00:01Z").unwrap(),
            1_000_000_000
        );
        let e = parse_time("--until", "yesterday").unwrap_err();
        assert!(format!("{e:#}").contains("--until"));
    }
}
