//! Printing the HTML report to PDF with headless Chromium (`--print-to-pdf`). The page
//! needs nothing from the network, and Chromium is run with a fresh profile and its
//! background services off, so printing fetches nothing either.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::ReportError;

/// Programs tried, in order, on `PATH`.
pub const CANDIDATES: [&str; 5] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "headless_shell",
];

/// How long printing may take.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The converter: `explicit` if given, else the first of [`CANDIDATES`] on `PATH`.
pub fn find(explicit: Option<&Path>) -> Result<PathBuf, ReportError> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(ReportError::NoConverter {
                looked: p.display().to_string(),
            })
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in CANDIDATES {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(ReportError::NoConverter {
        looked: format!("{} on PATH", CANDIDATES.join(", ")),
    })
}

/// The arguments for a headless run with a fresh profile in `profile` (root needs
/// `--no-sandbox`: Chromium refuses to run as root with its sandbox).
pub fn base_args(profile: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "--headless",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-default-browser-check",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if rustix::process::geteuid().is_root() {
        args.push("--no-sandbox".into());
    }
    args.push(format!("--user-data-dir={}", profile.display()));
    args
}

/// Prints `html` (a file) to `pdf` with `program`.
pub fn print(program: &Path, html: &Path, pdf: &Path) -> Result<(), ReportError> {
    let failed = |detail: String| ReportError::Converter {
        program: program.display().to_string(),
        detail,
    };
    let html = std::path::absolute(html).map_err(|e| failed(e.to_string()))?;
    let pdf_abs = std::path::absolute(pdf).map_err(|e| failed(e.to_string()))?;
    let profile = tempfile::Builder::new()
        .prefix("sealtrail-report-chromium-")
        .tempdir()
        .map_err(|e| failed(format!("cannot create a profile directory: {e}")))?;
    let _ = std::fs::remove_file(&pdf_abs);
    // Chromium's chatter goes to a file: a pipe nobody reads while it runs could fill.
    let log_path = profile.path().join("chromium.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| failed(format!("cannot create {}: {e}", log_path.display())))?;
    let mut cmd = Command::new(program);
    cmd.args(base_args(profile.path()))
        .arg("--no-pdf-header-footer")
        .arg("--print-to-pdf-no-header")
        .arg(format!("--print-to-pdf={}", pdf_abs.display()))
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    let mut child = cmd.spawn().map_err(|e| failed(e.to_string()))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!("did not finish within {TIMEOUT:?}")));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(failed(e.to_string())),
        }
    };
    let stderr = std::fs::read_to_string(&log_path).unwrap_or_default();
    let written = std::fs::metadata(&pdf_abs).map(|m| m.len()).unwrap_or(0);
    if !status.success() || written == 0 {
        let tail: String = stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        return Err(failed(format!(
            "exit {status}, {written} bytes written: {tail}"
        )));
    }
    Ok(())
}
