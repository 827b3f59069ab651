//! `[[journald]]`: one systemd journal read through `journalctl`.
//!
//! The table lives here, beside the source, so that `config.rs` only lists it; the
//! rules that need the whole file (names unique among all sources, key and line in
//! errors) are applied there through [`JournaldSourceConfig::check`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Default `name`.
pub const DEFAULT_NAME: &str = "journald";
/// Default `journalctl`: found on `PATH`.
pub const DEFAULT_JOURNALCTL: &str = "journalctl";
/// Default `max_entry_bytes`. A journal entry in JSON carries a dozen trusted fields
/// besides its message (about 1.5 KiB), and journald accepts stdout lines of 48 KiB
/// whose control characters JSON escapes six-fold: 1 MiB keeps every ordinary entry
/// whole and bounds what one entry can cost.
pub const DEFAULT_MAX_ENTRY_BYTES: usize = 1024 * 1024;
/// Bounds of `max_entry_bytes`: below 4 KiB even a plain entry would be cut; the
/// journal takes records of up to 16 MiB of raw bytes.
pub const MAX_ENTRY_BYTES_RANGE: std::ops::RangeInclusive<usize> = 4096..=16 * 1024 * 1024;
/// Default `restart_backoff`: the longest pause before starting `journalctl` again.
pub const DEFAULT_RESTART_BACKOFF: Duration = Duration::from_secs(30);

/// Where a source without a checkpoint starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Since {
    /// Every entry the journal holds.
    Beginning,
    /// After the newest entry at the first start (history is not imported).
    End,
}

/// Which journal `journalctl` opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// The host's own journal (`/var/log/journal`, `/run/log/journal`).
    Host,
    /// `--directory=`: the journal files in one directory (offline import).
    Directory(PathBuf),
    /// `--file=`: these files or globs (offline import).
    Files(Vec<PathBuf>),
}

impl Selection {
    /// A short description for logs and the checkpoint (`host`, `directory /x`, …).
    pub fn describe(&self) -> String {
        match self {
            Selection::Host => "host".into(),
            Selection::Directory(d) => format!("directory {}", d.display()),
            Selection::Files(f) => {
                let list: Vec<String> = f.iter().map(|p| p.display().to_string()).collect();
                format!("files {}", list.join(", "))
            }
        }
    }
}

/// One `[[journald]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournaldSourceConfig {
    /// Shown as `observer.ingress.name`; also names the checkpoint, so two journald
    /// sources need two names.
    #[serde(default = "default_name")]
    pub name: String,
    /// The `journalctl` binary: a path, or a name looked up on `PATH`.
    #[serde(default = "default_journalctl")]
    pub journalctl: PathBuf,
    /// Read the journal files of this directory instead of the host's journal.
    #[serde(default)]
    pub directory: Option<PathBuf>,
    /// Read these journal files (globs allowed) instead of the host's journal.
    #[serde(default)]
    pub files: Option<Vec<PathBuf>>,
    /// Only entries of these units (`_SYSTEMD_UNIT=`).
    #[serde(default)]
    pub units: Vec<String>,
    /// Only entries with these syslog identifiers (`SYSLOG_IDENTIFIER=`).
    #[serde(default)]
    pub identifiers: Vec<String>,
    /// Only entries with these `FIELD=value` pairs.
    #[serde(default)]
    pub matches: Vec<String>,
    /// Where to start without a checkpoint; default `end` for the host's journal,
    /// `beginning` for `directory`/`files`.
    #[serde(default)]
    pub since: Option<Since>,
    /// Longer entries (in JSON) are cut to this many bytes and tagged `_truncated`.
    #[serde(
        default = "default_max_entry_bytes",
        deserialize_with = "crate::config::de_positive_usize"
    )]
    pub max_entry_bytes: usize,
    /// Longest pause before `journalctl` is started again after it ended or failed.
    #[serde(
        default = "default_restart_backoff",
        deserialize_with = "crate::config::de_duration"
    )]
    pub restart_backoff: Duration,
}

fn default_name() -> String {
    DEFAULT_NAME.into()
}
fn default_journalctl() -> PathBuf {
    PathBuf::from(DEFAULT_JOURNALCTL)
}
fn default_max_entry_bytes() -> usize {
    DEFAULT_MAX_ENTRY_BYTES
}
fn default_restart_backoff() -> Duration {
    DEFAULT_RESTART_BACKOFF
}

/// A journal field name as `journalctl` accepts it in a match: upper-case letters,
/// digits and `_`, not starting with a digit (`sd_journal_add_match`'s rule).
fn valid_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// A value that can go into one command-line argument unchanged: no NUL (it would
/// end the argument) and no other control character (none belongs in a unit name or
/// an identifier; it would only make the logs unreadable).
fn valid_value(v: &str) -> bool {
    !v.is_empty() && !v.chars().any(char::is_control)
}

impl JournaldSourceConfig {
    /// Which journal this source reads.
    pub fn selection(&self) -> Selection {
        match (&self.directory, &self.files) {
            (Some(d), _) => Selection::Directory(d.clone()),
            (None, Some(f)) => Selection::Files(f.clone()),
            (None, None) => Selection::Host,
        }
    }

    /// Where to start without a checkpoint. The host's journal starts at its end: its
    /// history (possibly gigabytes, long before this daemon was installed) is not what
    /// a new audit trail vouches for, and importing it would run the detector over old
    /// attacks. Files and directories are imports: they are read from the beginning.
    pub fn since(&self) -> Since {
        self.since.unwrap_or(match self.selection() {
            Selection::Host => Since::End,
            Selection::Directory(_) | Selection::Files(_) => Since::Beginning,
        })
    }

    /// The match arguments for `journalctl`, each its own alternative: an entry is read
    /// if it matches any of `units`, `identifiers` or `matches` (`+` between them; within
    /// one group journalctl would AND different fields, which nobody means here).
    pub fn match_args(&self) -> Vec<String> {
        let terms: Vec<String> = self
            .units
            .iter()
            .map(|u| format!("_SYSTEMD_UNIT={u}"))
            .chain(
                self.identifiers
                    .iter()
                    .map(|i| format!("SYSLOG_IDENTIFIER={i}")),
            )
            .chain(self.matches.iter().cloned())
            .collect();
        let mut args = Vec::with_capacity(terms.len() * 2);
        for (i, t) in terms.into_iter().enumerate() {
            if i > 0 {
                args.push("+".to_string());
            }
            args.push(t);
        }
        args
    }

    /// The rules of one table: `Err((key, message))` names the offending key (without
    /// the `journald[i].` prefix).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !valid_value(&self.name) {
            return Err((
                "name",
                "must not be empty nor contain control characters".into(),
            ));
        }
        if self.journalctl.as_os_str().is_empty() {
            return Err(("journalctl", "must not be empty".into()));
        }
        if self.directory.is_some() && self.files.is_some() {
            return Err((
                "files",
                "set either `directory` or `files`, not both".into(),
            ));
        }
        if let Some(d) = &self.directory {
            if d.as_os_str().is_empty() {
                return Err(("directory", "must not be empty".into()));
            }
        }
        if let Some(files) = &self.files {
            if files.is_empty() {
                return Err((
                    "files",
                    "lists no file (leave it out to read the host's journal)".into(),
                ));
            }
            if files.iter().any(|f| f.as_os_str().is_empty()) {
                return Err(("files", "a path is empty".into()));
            }
        }
        if let Some(u) = self.units.iter().find(|u| !valid_value(u)) {
            return Err((
                "units",
                format!("{u:?} is not a unit name (empty, or control characters)"),
            ));
        }
        if let Some(i) = self.identifiers.iter().find(|i| !valid_value(i)) {
            return Err((
                "identifiers",
                format!("{i:?} is not an identifier (empty, or control characters)"),
            ));
        }
        for m in &self.matches {
            let ok = m
                .split_once('=')
                .is_some_and(|(field, value)| valid_field_name(field) && !value.contains('\0'));
            if !ok {
                return Err((
                    "matches",
                    format!("{m:?} is not FIELD=value (FIELD: A-Z, 0-9 and _, not starting with a digit)"),
                ));
            }
        }
        if !MAX_ENTRY_BYTES_RANGE.contains(&self.max_entry_bytes) {
            return Err((
                "max_entry_bytes",
                format!(
                    "must be between {} and {}",
                    MAX_ENTRY_BYTES_RANGE.start(),
                    MAX_ENTRY_BYTES_RANGE.end()
                ),
            ));
        }
        Ok(())
    }
}

/// `path` made absolute against the working directory. journalctl 252 cannot follow a
/// `--file` given without a directory part ("Failed to get journal fd: Destination
/// address required"), and a relative path would change meaning with the directory
/// `journalctl` runs in.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(extra: &str) -> JournaldSourceConfig {
        toml::from_str(extra).unwrap()
    }

    #[test]
    fn defaults_and_since_by_selection() {
        let c = table("");
        assert_eq!(c.name, "journald");
        assert_eq!(c.journalctl, PathBuf::from("journalctl"));
        assert_eq!(c.selection(), Selection::Host);
        assert_eq!(c.since(), Since::End);
        assert_eq!(c.max_entry_bytes, DEFAULT_MAX_ENTRY_BYTES);
        assert_eq!(c.restart_backoff, Duration::from_secs(30));
        assert!(c.match_args().is_empty());
        assert!(c.check().is_ok());
        let c = table("directory = \"/srv/j\"");
        assert_eq!(c.since(), Since::Beginning);
        let c = table("files = [\"/srv/a.journal\"]\nsince = \"end\"");
        assert_eq!(c.since(), Since::End);
    }

    #[test]
    fn filters_are_alternatives() {
        let c = table(
            "units = [\"ssh.service\"]\nidentifiers = [\"sudo\", \"su\"]\nmatches = [\"_TRANSPORT=audit\"]",
        );
        assert_eq!(
            c.match_args(),
            [
                "_SYSTEMD_UNIT=ssh.service",
                "+",
                "SYSLOG_IDENTIFIER=sudo",
                "+",
                "SYSLOG_IDENTIFIER=su",
                "+",
                "_TRANSPORT=audit"
            ]
        );
        assert!(c.check().is_ok());
    }

    #[test]
    fn bad_tables_name_their_key() {
        for (text, key) in [
            ("name = \"\"", "name"),
            ("journalctl = \"\"", "journalctl"),
            ("directory = \"/a\"\nfiles = [\"/b\"]", "files"),
            ("files = []", "files"),
            ("directory = \"\"", "directory"),
            ("units = [\"\"]", "units"),
            ("identifiers = [\"a\\nb\"]", "identifiers"),
            ("matches = [\"lower=x\"]", "matches"),
            ("matches = [\"NOEQUALS\"]", "matches"),
            ("matches = [\"1X=y\"]", "matches"),
            ("max_entry_bytes = 100", "max_entry_bytes"),
        ] {
            let c = table(text);
            assert_eq!(c.check().map_err(|(k, _)| k), Err(key), "{text}");
        }
    }
}
