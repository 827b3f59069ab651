//! Man pages and shell completions, generated from the clap definitions so they can
//! never drift from the real command line. Packaging runs the hidden
//! `sealtrail generate-assets --out DIR` after the release build and ships the result.

use std::path::{Path, PathBuf};

use clap::{Command, CommandFactory};
use clap_complete::Shell;

use crate::cli::Cli;

#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes `man/sealtrail.1` (and one page per visible subcommand, `sealtrail-run.1`, ...)
/// and `completions/{sealtrail.bash,_sealtrail,sealtrail.fish}` under `out`.
/// Returns the files written.
pub fn generate(out: &Path) -> Result<Vec<PathBuf>, AssetError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AssetError::Io { path, source }
    };
    let man_dir = out.join("man");
    let comp_dir = out.join("completions");
    for d in [&man_dir, &comp_dir] {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    clap_mangen::generate_to(Cli::command(), &man_dir).map_err(io(&man_dir))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = public_command();
        clap_complete::generate_to(shell, &mut cmd, "sealtrail", &comp_dir)
            .map_err(io(&comp_dir))?;
    }
    let mut written = Vec::new();
    for d in [&man_dir, &comp_dir] {
        for entry in std::fs::read_dir(d).map_err(io(d))? {
            written.push(entry.map_err(io(d))?.path());
        }
    }
    written.sort();
    Ok(written)
}

/// The CLI without hidden subcommands: clap_complete would otherwise offer them
/// (clap_mangen already skips them).
fn public_command() -> Command {
    let full = Cli::command();
    let mut cmd = Command::new("sealtrail")
        .version(crate::cli::LONG_VERSION)
        .subcommand_required(true)
        .propagate_version(true);
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    for sub in full.get_subcommands().filter(|s| !s.is_hide_set()) {
        cmd = cmd.subcommand(sub.clone());
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_man_pages_and_completions_for_the_real_cli() {
        let dir = tempfile::tempdir().unwrap();
        let files = generate(dir.path()).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for want in [
            "sealtrail.1",
            "sealtrail-run.1",
            "sealtrail-verify.1",
            "sealtrail-search.1",
            "sealtrail-export.1",
            "sealtrail-report.1",
            "sealtrail-status.1",
            "sealtrail.bash",
            "_sealtrail",
            "sealtrail.fish",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
        }
        // The hidden generator itself is not advertised.
        assert!(
            !names.iter().any(|n| n.contains("generate-assets")),
            "{names:?}"
        );
        let man = std::fs::read_to_string(dir.path().join("man/sealtrail.1")).unwrap();
        assert!(
            man.starts_with(".ie") || man.contains(".TH"),
            "roff: {man:.80}"
        );
        assert!(man.contains("check\\-config"), "subcommands listed");
        let bash = std::fs::read_to_string(dir.path().join("completions/sealtrail.bash")).unwrap();
        assert!(
            bash.contains("verify") && bash.contains("--until"),
            "bash completion"
        );
        assert!(
            !bash.contains("generate-assets"),
            "hidden command not completed"
        );
    }
}
