//! `sealtrail verify`: arguments, opening the archive (a directory or S3), and the exit
//! code of the verdict.

use std::io::{IsTerminal as _, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::{parse_time, runtime};
use crate::config::{Addressing, ArchiveSection, CredentialsSection, LockMode};

/// What `verify --help` says about its limits and memory (FORMAT.md §8), kept equal to
/// the constants by a test.
pub const LIMITS_HELP: &str = "\
Limits: an object larger than 1 GiB is too_large and is not read. One whose content \
is larger than 1 GiB decompressed (as its seal's content_len or its data frame's \
header says) is content_too_large and is not decoded. A zstd window larger than \
16 MiB is corrupt_data and is not allocated.

Memory: at most 8 objects are checked at once, each with at most 16.6 MiB (its zstd \
window and fixed buffers), so 133 MiB in flight. Add about 2.6 KiB for each object \
listed. See docs/FORMAT.md §8.";

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    archive: ArchiveArg,
    #[command(flatten)]
    keys: KeyArgs,
    /// Only these streams, comma-separated or repeated (default: every stream found);
    /// each must have segments.
    #[arg(long, value_delimiter = ',')]
    stream: Vec<String>,
    /// Coverage must start at or before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Coverage must reach this time (RFC 3339); stopping early is tail truncation.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Machine-readable report.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    checks: ChecksArgs,
    #[command(flatten)]
    s3: S3Args,
}

/// The checks beyond the chain that `verify` and `report` both offer: Object Lock read
/// back, and a published chain head.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct ChecksArgs {
    /// S3: also read each segment object's Object Lock and encryption back, and
    /// report objects that are unlocked, too weakly locked, or locked too briefly.
    #[arg(long)]
    check_retention: bool,
    /// With --check-retention: every object must stay locked until this time
    /// (RFC 3339; default: now).
    #[arg(long, value_name = "TIME", requires = "check_retention")]
    retain_until: Option<String>,
    /// With --check-retention: accept GOVERNANCE locks (default: COMPLIANCE only).
    #[arg(long, requires = "check_retention")]
    allow_governance: bool,
    /// A chain head published out of band (`archive.anchor`): a file, an
    /// http(s):// URL or an s3://bucket/key object. The archive must reach it; a
    /// shorter chain is tail truncation, even without --until.
    #[arg(long, value_name = "FILE|URL")]
    anchor: Option<String>,
}

impl ChecksArgs {
    fn retention(&self) -> anyhow::Result<Option<crate::verify::retention::RetentionOptions>> {
        if !self.check_retention {
            return Ok(None);
        }
        Ok(Some(crate::verify::retention::RetentionOptions {
            required_mode: if self.allow_governance {
                LockMode::Governance
            } else {
                LockMode::Compliance
            },
            retain_until: match &self.retain_until {
                Some(t) => chrono::DateTime::from_timestamp_nanos(parse_time("--retain-until", t)?),
                None => chrono::Utc::now(),
            },
        }))
    }

    /// The flags that give these checks again (for a reproducing command line).
    pub(super) fn to_args(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(a) = &self.anchor {
            v.extend(["--anchor".to_owned(), a.clone()]);
        }
        if self.check_retention {
            v.push("--check-retention".into());
        }
        if let Some(t) = &self.retain_until {
            v.extend(["--retain-until".to_owned(), t.clone()]);
        }
        if self.allow_governance {
            v.push("--allow-governance".into());
        }
        v
    }
}

/// `verify_archive`, then the anchor and Object Lock checks asked for: the report that
/// `verify` prints.
pub(super) async fn verify_checked(
    archive: &crate::store::Archive,
    section: &ArchiveSection,
    opts: &crate::verify::VerifyOptions,
    checks: &ChecksArgs,
) -> anyhow::Result<crate::verify::Report> {
    let (report, ()) = checked(archive, section, opts, checks, async {
        Ok((crate::verify::verify_archive(archive, opts).await?, ()))
    })
    .await?;
    Ok(report)
}

/// The report `verify_archive` would give, made by `verify` (any pass that checks
/// every object as it does, such as `report`'s one read of the archive), then the
/// anchor and Object Lock checks asked for. The checks' arguments and the anchor are
/// read first, so a bad one is said before the archive is read.
pub(super) async fn checked<T>(
    archive: &crate::store::Archive,
    section: &ArchiveSection,
    opts: &crate::verify::VerifyOptions,
    checks: &ChecksArgs,
    verify: impl std::future::Future<Output = anyhow::Result<(crate::verify::Report, T)>>,
) -> anyhow::Result<(crate::verify::Report, T)> {
    let retention = checks.retention()?;
    let head = match &checks.anchor {
        Some(src) => Some((src, crate::verify::anchor::load(src, section).await?)),
        None => None,
    };
    let (mut report, with) = verify.await?;
    if let Some((src, head)) = &head {
        crate::verify::anchor::check(archive, opts, src, head, &mut report).await;
    }
    if let Some(r) = &retention {
        crate::verify::retention::check(archive, opts, r, &mut report).await?;
    }
    Ok((report, with))
}

/// How to reach an `s3://` archive. Credentials come from the environment, the AWS
/// shared files (`--profile`, `AWS_PROFILE`), web identity or instance metadata.
#[derive(clap::Args, Debug, Default)]
pub(super) struct S3Args {
    /// S3: endpoint of an S3-compatible service (default: AWS for the region).
    #[arg(long, value_name = "URL", help_heading = "S3 archive")]
    endpoint: Option<String>,
    /// S3: region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's, us-east-1).
    #[arg(long, help_heading = "S3 archive")]
    region: Option<String>,
    /// S3: bucket.endpoint/key addressing instead of endpoint/bucket/key.
    #[arg(long, help_heading = "S3 archive")]
    virtual_hosted: bool,
    /// S3: allow an http:// endpoint.
    #[arg(long, help_heading = "S3 archive")]
    allow_http: bool,
    /// S3: profile of the AWS shared credentials file.
    #[arg(long, help_heading = "S3 archive")]
    profile: Option<String>,
}

impl S3Args {
    /// The flags that give these settings again (for a reproducing command line).
    pub(super) fn to_args(&self) -> Vec<String> {
        let mut v = Vec::new();
        let mut opt = |flag: &str, val: &Option<String>| {
            if let Some(x) = val {
                v.push(flag.to_owned());
                v.push(x.clone());
            }
        };
        opt("--endpoint", &self.endpoint);
        opt("--region", &self.region);
        opt("--profile", &self.profile);
        if self.virtual_hosted {
            v.push("--virtual-hosted".into());
        }
        if self.allow_http {
            v.push("--allow-http".into());
        }
        v
    }

    pub(super) fn archive_section(&self, url: &str) -> ArchiveSection {
        ArchiveSection {
            url: url.to_string(),
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            addressing: if self.virtual_hosted {
                Addressing::Virtual
            } else {
                Addressing::Path
            },
            allow_http: self.allow_http,
            credentials: CredentialsSection {
                profile: self.profile.clone(),
                ..CredentialsSection::default()
            },
            ..ArchiveSection::default()
        }
    }
}

/// `--key`: the public keys an archive, a proof or a report is checked against.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct KeyArgs {
    /// Public key (PEM) obtained from outside the archive, or a keyring file (the
    /// daemon's `signing.keyring`: several PEM keys, oldest first). Repeat for several
    /// keys of one lineage, oldest first: each segment must be signed by the key its
    /// chain's rotation seals make valid for its seq.
    #[arg(
        short,
        long,
        visible_alias = "keyring",
        value_name = "PUBKEY|KEYRING",
        required = true
    )]
    pub key: Vec<PathBuf>,
}

/// The archive, as the argument or as `--archive`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct ArchiveArg {
    /// Archive: a directory, file:///absolute/path, or s3://bucket/prefix.
    #[arg(value_name = "ARCHIVE", required_unless_present = "archive_flag")]
    archive: Option<String>,
    /// The archive, as an option instead of the argument.
    #[arg(long = "archive", value_name = "ARCHIVE", conflicts_with = "archive")]
    archive_flag: Option<String>,
}

impl ArchiveArg {
    pub fn location(&self) -> &str {
        self.archive
            .as_deref()
            .or(self.archive_flag.as_deref())
            .unwrap_or_default()
    }
}

/// The keyring of every `--key` (a `.pub`, or a keyring file), in order: what verify,
/// search, export, prove, check-proof and report all trust.
pub(super) fn load_keyring(paths: &[std::path::PathBuf]) -> anyhow::Result<crate::verify::Keyring> {
    let mut keys = Vec::new();
    for path in paths {
        keys.extend(
            crate::keys::load_public_keys(path)
                .with_context(|| format!("reading public key {}", path.display()))?,
        );
    }
    Ok(crate::verify::Keyring::new(keys))
}

/// `--since` and `--until` as unix ns.
pub(super) fn window(
    since: Option<&str>,
    until: Option<&str>,
) -> anyhow::Result<(Option<i64>, Option<i64>)> {
    Ok((
        since.map(|s| parse_time("--since", s)).transpose()?,
        until.map(|s| parse_time("--until", s)).transpose()?,
    ))
}

pub fn run(a: VerifyArgs) -> i32 {
    let prepared = (|| -> anyhow::Result<_> {
        let key = super::verify::load_keyring(&a.keys.key)?;
        let (since_ns, until_ns) = super::verify::window(a.since.as_deref(), a.until.as_deref())?;
        let archive = crate::store::open(&a.s3.archive_section(a.archive.location()), false)?;
        Ok((key, since_ns, until_ns, archive))
    })();
    let (key, since_ns, until_ns, archive) = match prepared {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e:#}");
            return 2;
        }
    };
    // A bar on a terminal only: never in --json output or a log.
    let progress = (!a.json && std::io::stderr().is_terminal())
        .then(|| Arc::new(crate::verify::Progress::default()));
    let opts = crate::verify::VerifyOptions {
        keyring: key,
        streams: a.stream,
        since_ns,
        until_ns,
        progress: progress.clone(),
    };
    let bar = progress.map(|p| ProgressBar::start(p, "verifying"));
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return 2;
        }
    };
    let section = a.s3.archive_section(a.archive.location());
    let verified = rt.block_on(verify_checked(&archive, &section, &opts, &a.checks));
    if let Some(b) = bar {
        b.finish();
    }
    let mut report = match verified {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return 2;
        }
    };
    report.archive = a.archive.location().to_owned();
    let text = if a.json {
        report.to_json().to_string() + "\n"
    } else {
        report.render_text()
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if report.is_valid() {
        0
    } else {
        1
    }
}

/// Draws the verifier's [`crate::verify::Progress`] on stderr until finished.
pub(super) struct ProgressBar {
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl ProgressBar {
    /// `what` names the work: "verifying", "searching".
    pub(super) fn start(p: Arc<crate::verify::Progress>, what: &'static str) -> ProgressBar {
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let thread = std::thread::spawn(move || {
            let bar = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stderr(),
            );
            if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
                "{{spinner}} {what} [{{bar:30}}] {{pos}}/{{len}} objects, {{msg}} ({{elapsed}})"
            )) {
                bar.set_style(style.progress_chars("=> "));
            }
            while !stop.load(Ordering::Relaxed) {
                bar.set_length(p.objects.load(Ordering::Relaxed));
                bar.set_position(p.checked.load(Ordering::Relaxed));
                bar.set_message(indicatif::HumanBytes(p.bytes.load(Ordering::Relaxed)).to_string());
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        ProgressBar { done, thread }
    }

    pub(super) fn finish(self) {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::LIMITS_HELP;
    use crate::segment::MAX_WINDOW_LOG;
    use crate::verify::{CONCURRENCY, MAX_CONTENT_BYTES, MAX_OBJECT_BYTES};

    #[test]
    fn the_help_states_the_limits_the_verifier_has() {
        let has = |text: String| assert!(LIMITS_HELP.contains(&text), "{text:?}");
        has(format!(
            "larger than {} GiB is too_large",
            MAX_OBJECT_BYTES >> 30
        ));
        has(format!(
            "larger than {} GiB decompressed",
            MAX_CONTENT_BYTES >> 30
        ));
        let window = 1u64 << MAX_WINDOW_LOG;
        has(format!("larger than {} MiB is corrupt_data", window >> 20));
        has(format!("at most {CONCURRENCY} objects"));
        // The window, 478 KiB of decoder, 64 + 64 + 8 KiB of buffers, < 4 KiB of state.
        let per_object = window + (478 + 64 + 64 + 8 + 4) * 1024;
        has(format!("{:.1} MiB", per_object as f64 / f64::from(1 << 20)));
        let in_flight = per_object * CONCURRENCY as u64;
        has(format!("{} MiB in flight", (in_flight + (1 << 19)) >> 20));
    }
}
