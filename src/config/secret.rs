//! Secrets named by the configuration: read from a file (trimmed) or an environment
//! variable, never written in the configuration itself. One reader for every key of the
//! form `<name>_file` / `<name>_env`, so each says alike what is missing.

use std::path::Path;

/// The secret `key` names: from `file` if given, else from `env`; `None` when neither
/// is configured. An unreadable or empty file, or an unset variable, is an error that
/// names the key (`<key>_file` or `<key>_env`).
pub fn read(key: &str, file: Option<&Path>, env: Option<&str>) -> Result<Option<String>, String> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{key}_file {}: {e}", path.display()))?;
        let v = text.trim();
        if v.is_empty() {
            return Err(format!("{key}_file {} is empty", path.display()));
        }
        return Ok(Some(v.to_string()));
    }
    if let Some(name) = env {
        return match std::env::var(name) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_string())),
            _ => Err(format!(
                "{key}_env: the environment variable {name} is not set"
            )),
        };
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_env_and_neither() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("s");
        std::fs::write(&f, " v\n").unwrap();
        assert_eq!(
            read("k", Some(&f), Some("IGNORED")).unwrap().as_deref(),
            Some("v")
        );
        assert_eq!(read("k", None, None).unwrap(), None);
        let e = read("k", None, Some("SEALTRAIL_TEST_SURELY_UNSET_VAR")).unwrap_err();
        assert!(e.starts_with("k_env:"), "{e}");
        std::fs::write(&f, "\n").unwrap();
        assert!(read("k", Some(&f), None).unwrap_err().contains("is empty"));
    }
}
