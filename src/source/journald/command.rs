//! The `journalctl` command lines, and the one field read from each entry: its cursor.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::LazyLock;
use std::time::Duration;

use memchr::memmem::Finder;
use tokio::io::AsyncReadExt;

use super::config::{absolute, JournaldSourceConfig, Selection};

/// Longest cursor taken from an entry. journald's are about 130 bytes
/// (`s=<32 hex>;i=…;b=<32 hex>;m=…;t=…;x=…`); anything far longer is not one.
pub const MAX_CURSOR_BYTES: usize = 512;

/// The options of the following child (see [`Command::follow_args`]).
const FOLLOW: [&str; 6] = [
    "--follow",
    "--no-tail",
    "--merge",
    "--output=json",
    "--all",
    "--no-pager",
];

/// How long asking for the newest entry may take before it counts as a failure.
const NEWEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How `journalctl` is run for one source: the binary, which journal, which entries.
#[derive(Debug, Clone)]
pub struct Command {
    pub program: PathBuf,
    /// `--directory=`/`--file=` (absolute), or nothing for the host's journal.
    pub selection_args: Vec<OsString>,
    /// Match terms (`FIELD=value`, `+`), last on the command line.
    pub match_args: Vec<String>,
}

impl Command {
    pub fn new(cfg: &JournaldSourceConfig) -> Command {
        let selection_args = match cfg.selection() {
            Selection::Host => Vec::new(),
            Selection::Directory(d) => vec![flag("--directory=", &absolute(&d))],
            Selection::Files(files) => files
                .iter()
                .map(|f| flag("--file=", &absolute(f)))
                .collect(),
        };
        Command {
            program: cfg.journalctl.clone(),
            selection_args,
            match_args: cfg.match_args(),
        }
    }

    /// Arguments of the following child: every entry after `cursor`, or from the
    /// beginning without one, then waiting for new ones (`--follow`, files included).
    /// `--all` prints every field in full (without it, fields over 4 KiB become `null`).
    /// `--no-tail` always: `--follow` implies `--lines=10`, and journalctl 252 applies
    /// that after `--after-cursor` too: it prints the 10 entries after the cursor, then
    /// only entries written from then on, silently skipping the rest of the backlog.
    /// `--merge` always: since systemd 251 `--follow` also implies `--boot` (the
    /// current boot; for files the last boot in them), so after a reboot the entries
    /// of the previous boot after the cursor (its shutdown) would be skipped, an import
    /// would read only its last boot, and where the sandbox shows another boot id than
    /// the journal's (a container under `ProtectProc=`) nothing at all. `--merge` is
    /// what turns that off in 252 and later; it also reads the journals of other
    /// machines kept on this host (containers' linked journals, journal-remote's).
    pub fn follow_args(&self, cursor: Option<&str>) -> Vec<OsString> {
        let mut args: Vec<OsString> = FOLLOW.iter().map(OsString::from).collect();
        if let Some(c) = cursor {
            args.push(format!("--after-cursor={c}").into());
        }
        args.extend(self.selection_args.iter().cloned());
        args.extend(self.match_args.iter().map(OsString::from));
        args
    }

    /// Arguments asking for the newest entry (of the selection and matches) only. No
    /// `--all`: its fields are cut to 4 KiB, which bounds the answer; the cursor is
    /// never cut.
    pub fn newest_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = ["--lines=1", "--merge", "--output=json", "--no-pager"]
            .into_iter()
            .map(OsString::from)
            .collect();
        args.extend(self.selection_args.iter().cloned());
        args.extend(self.match_args.iter().map(OsString::from));
        args
    }

    /// A `tokio` command for `args`: no stdin, stdout and stderr piped, killed if
    /// dropped (a source that stops must not leave a reader of the journal behind).
    pub fn tokio(&self, args: &[OsString]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.program);
        c.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    /// The cursor of the newest entry, `Ok(None)` if the journal has none: where a
    /// source that starts at the end begins.
    pub async fn newest_cursor(&self) -> Result<Option<String>, NewestError> {
        let mut child = self
            .tokio(&self.newest_args())
            .spawn()
            .map_err(NewestError::Spawn)?;
        let mut stdout = child.stdout.take().ok_or(NewestError::NoPipe)?;
        let mut stderr = child.stderr.take().ok_or(NewestError::NoPipe)?;
        let read = async {
            // Bounded: fields are cut to 4 KiB, but a fake or broken journalctl could
            // print without end.
            let mut out = Vec::new();
            let mut err = Vec::new();
            let mut out_pipe = (&mut stdout).take(64 << 20);
            let mut err_pipe = (&mut stderr).take(64 << 10);
            let (a, b) = tokio::join!(
                out_pipe.read_to_end(&mut out),
                err_pipe.read_to_end(&mut err)
            );
            a.and(b).map_err(NewestError::Read)?;
            let status = child.wait().await.map_err(NewestError::Read)?;
            Ok::<_, NewestError>((status, out, err))
        };
        let (status, out, err) = tokio::time::timeout(NEWEST_TIMEOUT, read)
            .await
            .map_err(|_| NewestError::Timeout(NEWEST_TIMEOUT))??;
        if !status.success() {
            return Err(NewestError::Failed {
                status: status.to_string(),
                stderr: String::from_utf8_lossy(&err).trim().to_string(),
            });
        }
        let last = out
            .split(|&b| b == b'\n')
            .rev()
            .find(|l| !l.is_empty() && l.first() == Some(&b'{'));
        match last {
            None => Ok(None),
            Some(entry) => match cursor_of(entry) {
                Some(c) => Ok(Some(c.to_string())),
                None => Err(NewestError::NoCursor),
            },
        }
    }
}

/// Why the newest entry could not be found.
#[derive(Debug, thiserror::Error)]
pub enum NewestError {
    #[error("cannot start journalctl: {0}")]
    Spawn(std::io::Error),
    #[error("journalctl gave no pipe")]
    NoPipe,
    #[error("reading journalctl: {0}")]
    Read(std::io::Error),
    #[error("journalctl did not answer within {0:?}")]
    Timeout(Duration),
    #[error("journalctl failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("the newest entry has no usable __CURSOR")]
    NoCursor,
}

fn flag(name: &str, path: &std::path::Path) -> OsString {
    let mut s = OsString::from(name);
    s.push(path.as_os_str());
    s
}

/// `"__CURSOR":"` as journalctl writes the key (compact JSON, no spaces).
static CURSOR_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"__CURSOR\":\""));

/// The entry's `__CURSOR`, found without parsing the entry: the key's bytes, preceded by
/// `{` or `,` (so it is a key, not text inside a value: a quote inside a JSON string is
/// always escaped), up to the closing quote. A cursor has no quote or backslash; one that
/// is empty, too long, or has anything but printable ASCII is not used (it goes on a
/// command line as `--after-cursor=`).
pub fn cursor_of(entry: &[u8]) -> Option<&str> {
    let mut from = 0;
    while let Some(i) = CURSOR_KEY.find(&entry[from..]) {
        let at = from + i;
        from = at + 1;
        if at == 0 || !matches!(entry[at - 1], b'{' | b',') {
            continue;
        }
        let value = &entry[at + CURSOR_KEY.needle().len()..];
        let end = memchr::memchr2(b'"', b'\\', value)?;
        if value.get(end) != Some(&b'"') {
            return None;
        }
        let c = &value[..end];
        if c.is_empty() || c.len() > MAX_CURSOR_BYTES || !c.iter().all(u8::is_ascii_graphic) {
            return None;
        }
        return std::str::from_utf8(c).ok();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_is_found_only_as_a_key() {
        let e = br#"{"MESSAGE":"x","__CURSOR":"s=ab;i=1;b=cd;m=2;t=3;x=4","PRIORITY":"6"}"#;
        assert_eq!(cursor_of(e), Some("s=ab;i=1;b=cd;m=2;t=3;x=4"));
        let first = br#"{"__CURSOR":"s=1","A":"b"}"#;
        assert_eq!(cursor_of(first), Some("s=1"));
        // The key's text inside a message is escaped, so it is never taken for the key.
        let fake = br#"{"MESSAGE":"a\",\"__CURSOR\":\"evil","__CURSOR":"s=real"}"#;
        assert_eq!(cursor_of(fake), Some("s=real"));
        assert_eq!(cursor_of(br#"{"MESSAGE":"no cursor"}"#), None);
        assert_eq!(cursor_of(br#"{"__CURSOR":""}"#), None);
        assert_eq!(cursor_of(br#"{"__CURSOR":"has space"}"#), None);
        assert_eq!(cursor_of(br#"{"__CURSOR":"cut off"#), None);
        assert_eq!(cursor_of(br#"{"__CURSOR":"a\"b"}"#), None);
        let long = format!(r#"{{"__CURSOR":"{}"}}"#, "a".repeat(MAX_CURSOR_BYTES + 1));
        assert_eq!(cursor_of(long.as_bytes()), None);
        assert_eq!(cursor_of(b"not json at all"), None);
    }

    #[test]
    fn command_lines() {
        let cfg: JournaldSourceConfig = toml::from_str(
            "journalctl = \"/usr/bin/journalctl\"\nfiles = [\"/srv/a.journal\", \"rel/b.journal\"]\nidentifiers = [\"sshd\", \"sudo\"]",
        )
        .unwrap();
        let c = Command::new(&cfg);
        let args = c.follow_args(Some("s=1;i=2"));
        let text: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            text,
            [
                "--follow".to_string(),
                "--no-tail".into(),
                "--merge".into(),
                "--output=json".into(),
                "--all".into(),
                "--no-pager".into(),
                "--after-cursor=s=1;i=2".into(),
                "--file=/srv/a.journal".into(),
                format!("--file={}", cwd.join("rel/b.journal").display()),
                "SYSLOG_IDENTIFIER=sshd".into(),
                "+".into(),
                "SYSLOG_IDENTIFIER=sudo".into(),
            ]
        );
        let fresh = c.follow_args(None);
        assert!(fresh.contains(&OsString::from("--no-tail")));
        assert!(!fresh.iter().any(|a| a.to_string_lossy().contains("cursor")));
        let newest = c.newest_args();
        assert!(newest.contains(&OsString::from("--lines=1")));
        assert!(!newest.contains(&OsString::from("--follow")));
    }
}
