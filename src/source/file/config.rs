//! `[[file]]`: what to tail and how, with its defaults and the checks `run` applies
//! (so that `check-config` applies them too).
//!
//! Defaults and why:
//!
//! * `start_at = "end"`: on the first start of a source, files that already exist are
//!   read from their end (Vector's `read_from`, rsyslog imfile's `freshStartTail`), so
//!   pointing a new source at years of `/var/log` does not archive them all again.
//!   Files that appear later, and files that appeared while the daemon was stopped,
//!   are read from their start: that is what keeps a rotation during downtime from
//!   losing the new file's first lines.
//! * `max_line_bytes = 65536`, like the syslog listeners.
//! * `line_timeout = "5s"`: a last line without its `\n` is held this long before it is
//!   archived flagged `_incomplete`. Writers that emit a line in several `write`s
//!   finish it within microseconds, and one that crashed mid-line never will: 5 s
//!   keeps the first from being split and does not hide the second for long.
//! * `rescan_interval = "10s"`: inotify reports new files at once; the rescan is the
//!   safety net for what it cannot see (NFS, a lost event, a directory created later).
//! * `release_deleted_after = "60s"`: a file deleted or rotated away stays open while a
//!   writer still appends to it, and is closed once it has had nothing new for this
//!   long. Long enough for a daemon that reopens its log lazily (after a `postrotate`
//!   signal, or at its next message), short enough that deleted files do not hold disk
//!   space for long.
//! * `checkpoint_interval = "1s"`: how often positions are written (each write is an
//!   fsync'd rename). A crash replays at most about this much of each file, plus what
//!   the journal had not yet made durable.

use std::time::Duration;

use serde::Deserialize;

use crate::normalise::TimeZoneSpec;

/// Where a file never seen before is read from, on a source's first start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    /// From its first byte.
    Beginning,
    /// From its end: only lines written from now on.
    #[default]
    End,
}

/// One `[[file]]` source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Shown as `observer.ingress.name`; names the checkpoint. Default
    /// `file:<first include pattern>`.
    #[serde(default)]
    pub name: Option<String>,
    /// Glob patterns (`*`, `?`, `[...]`, `**` for any depth) of the files to tail.
    pub include: Vec<String>,
    /// Glob patterns of paths not to tail, matched against the whole path.
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub start_at: StartAt,
    /// Longer lines are truncated to this many bytes and tagged `_truncated`; the rest
    /// of that line is skipped.
    #[serde(
        default = "default_max_line_bytes",
        deserialize_with = "de_max_line_bytes"
    )]
    pub max_line_bytes: usize,
    /// A last line without `\n` is archived, tagged `_incomplete`, after the file has
    /// had nothing new for this long.
    #[serde(
        default = "default_line_timeout",
        deserialize_with = "crate::config::de_duration"
    )]
    pub line_timeout: Duration,
    /// Full re-evaluation of the patterns, besides inotify.
    #[serde(
        default = "default_rescan_interval",
        deserialize_with = "crate::config::de_duration"
    )]
    pub rescan_interval: Duration,
    /// A file that is no longer at an included path (deleted, rotated away) is closed
    /// once it has been read to its end and had nothing new for this long.
    #[serde(
        default = "default_release_deleted_after",
        deserialize_with = "crate::config::de_duration"
    )]
    pub release_deleted_after: Duration,
    /// Positions are written at most this often.
    #[serde(
        default = "default_checkpoint_interval",
        deserialize_with = "crate::config::de_duration"
    )]
    pub checkpoint_interval: Duration,
    /// Time zone of timestamps that carry none (RFC 3164, `auth.log`).
    #[serde(
        default = "default_timezone",
        deserialize_with = "crate::config::de_from_str"
    )]
    pub timezone: TimeZoneSpec,
}

/// Smallest and largest `max_line_bytes`.
pub const MAX_LINE_BYTES_RANGE: std::ops::RangeInclusive<usize> = 256..=16 * 1024 * 1024;

fn default_max_line_bytes() -> usize {
    64 * 1024
}
fn default_line_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_rescan_interval() -> Duration {
    Duration::from_secs(10)
}
fn default_release_deleted_after() -> Duration {
    Duration::from_secs(60)
}
fn default_checkpoint_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_timezone() -> TimeZoneSpec {
    TimeZoneSpec::Local
}

fn de_max_line_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v = u64::deserialize(d)?;
    match usize::try_from(v) {
        Ok(v) if MAX_LINE_BYTES_RANGE.contains(&v) => Ok(v),
        _ => Err(serde::de::Error::custom(format!(
            "must be between {} and {}",
            MAX_LINE_BYTES_RANGE.start(),
            MAX_LINE_BYTES_RANGE.end()
        ))),
    }
}

impl FileSourceConfig {
    /// The configured name, else `file:<first include pattern>`.
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => format!(
                "file:{}",
                self.include.first().map(String::as_str).unwrap_or("")
            ),
        }
    }

    /// The rules the source relies on: at least one include pattern, every pattern a
    /// valid glob. On failure, the key at fault (within this table) and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.include.is_empty() {
            return Err(("include", "needs at least one glob pattern".into()));
        }
        for (key, patterns) in [("include", &self.include), ("exclude", &self.exclude)] {
            for p in patterns {
                if p.trim().is_empty() {
                    return Err((key, "a pattern must not be empty".into()));
                }
                if let Err(e) = glob::Pattern::new(p) {
                    return Err((key, format!("`{p}` is not a valid glob pattern: {e}")));
                }
            }
        }
        if let Some(dup) = self
            .include
            .iter()
            .enumerate()
            .find_map(|(i, p)| self.include[..i].contains(p).then_some(p))
        {
            return Err(("include", format!("`{dup}` is listed twice")));
        }
        if matches!(&self.name, Some(n) if n.trim().is_empty()) {
            return Err(("name", "must not be empty".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<FileSourceConfig, toml::de::Error> {
        toml::from_str(s)
    }

    #[test]
    fn defaults_are_as_documented() {
        let c = parse("include = [\"/var/log/auth.log\"]").unwrap();
        assert_eq!(c.display_name(), "file:/var/log/auth.log");
        assert_eq!(c.start_at, StartAt::End);
        assert_eq!(c.max_line_bytes, 65536);
        assert_eq!(c.line_timeout, Duration::from_secs(5));
        assert_eq!(c.rescan_interval, Duration::from_secs(10));
        assert_eq!(c.release_deleted_after, Duration::from_secs(60));
        assert_eq!(c.checkpoint_interval, Duration::from_secs(1));
        assert_eq!(c.timezone, TimeZoneSpec::Local);
        assert!(c.exclude.is_empty());
        assert!(c.check().is_ok());
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse("include = [\"/a\"]\nstart_at = \"middle\"").is_err());
        assert!(parse("include = [\"/a\"]\nmax_line_bytes = 10").is_err());
        assert!(parse("include = [\"/a\"]\nline_timeout = \"0s\"").is_err());
        assert!(parse("include = [\"/a\"]\nrescan = \"1s\"").is_err());
        assert!(parse("exclude = [\"/a\"]").is_err(), "include is required");
        let check = |s: &str| parse(s).unwrap().check().unwrap_err().0;
        assert_eq!(check("include = []"), "include");
        assert_eq!(check("include = [\"/var/log/[\"]"), "include");
        assert_eq!(check("include = [\"/a\"]\nexclude = [\"\"]"), "exclude");
        assert_eq!(check("include = [\"/a\", \"/a\"]"), "include");
        assert_eq!(check("include = [\"/a\"]\nname = \" \""), "name");
    }
}
