//! The AWS shared credentials and config files (`~/.aws/credentials`, `~/.aws/config`),
//! which `object_store` does not read: static keys and the region of one profile.
//!
//! The format is INI: `[name]` sections (in the config file `[profile name]`, except
//! `[default]`), `key = value` lines, `#` and `;` comments.

use std::path::{Path, PathBuf};

/// What one profile gives.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .field("region", &self.region)
            .finish()
    }
}

/// The profile to use: `AWS_PROFILE`, else `default`.
pub fn selected() -> String {
    std::env::var("AWS_PROFILE")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".to_string())
}

fn home_file(env: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| Path::new(&h).join(".aws").join(name))
}

/// Reads `profile` from the shared credentials file and the config file. `None` when
/// neither file names it. A file that exists but cannot be read is an error.
pub fn load(profile: &str) -> Result<Option<Profile>, std::io::Error> {
    let creds = read_optional(home_file("AWS_SHARED_CREDENTIALS_FILE", "credentials"))?;
    let config = read_optional(home_file("AWS_CONFIG_FILE", "config"))?;
    Ok(from_texts(profile, creds.as_deref(), config.as_deref()))
}

fn read_optional(path: Option<PathBuf>) -> Result<Option<String>, std::io::Error> {
    let Some(path) = path else { return Ok(None) };
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        )),
    }
}

/// The profile from the two files' texts; keys in the credentials file win.
pub fn from_texts(profile: &str, creds: Option<&str>, config: Option<&str>) -> Option<Profile> {
    let config_section = if profile == "default" {
        "default".to_string()
    } else {
        format!("profile {profile}")
    };
    let a = creds.and_then(|t| section(t, profile));
    let b = config.and_then(|t| section(t, &config_section));
    if a.is_none() && b.is_none() {
        return None;
    }
    let get = |key: &str| {
        a.as_ref()
            .and_then(|s| lookup(s, key))
            .or_else(|| b.as_ref().and_then(|s| lookup(s, key)))
    };
    Some(Profile {
        access_key_id: get("aws_access_key_id"),
        secret_access_key: get("aws_secret_access_key"),
        session_token: get("aws_session_token"),
        region: get("region"),
    })
}

fn lookup(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

/// The `key = value` pairs of `[name]`, or `None` when there is no such section.
fn section(text: &str, name: &str) -> Option<Vec<(String, String)>> {
    let mut found = false;
    let mut inside = false;
    let mut pairs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(head) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = head.trim() == name;
            found |= inside;
            continue;
        }
        if !inside {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            pairs.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    found.then_some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDS: &str = "\
# keys
[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = s3cr3t

[audit]
aws_access_key_id=AKIAAUDIT
aws_secret_access_key=other ; not a comment inside a value
aws_session_token = TOKVALUE
";
    const CONFIG: &str = "\
[default]
region = eu-west-1
[profile audit]
region = eu-central-1
aws_access_key_id = IGNORED_CREDS_WIN
";

    #[test]
    fn profile_from_both_files() {
        let p = from_texts("audit", Some(CREDS), Some(CONFIG)).unwrap();
        assert_eq!(p.access_key_id.as_deref(), Some("AKIAAUDIT"));
        assert_eq!(
            p.secret_access_key.as_deref(),
            Some("other ; not a comment inside a value")
        );
        assert_eq!(p.session_token.as_deref(), Some("TOKVALUE"));
        assert_eq!(p.region.as_deref(), Some("eu-central-1"));
        let d = from_texts("default", Some(CREDS), Some(CONFIG)).unwrap();
        assert_eq!(d.access_key_id.as_deref(), Some("AKIADEFAULT"));
        assert_eq!(d.region.as_deref(), Some("eu-west-1"));
        assert_eq!(d.session_token, None);
    }

    #[test]
    fn missing_profile_and_files() {
        assert_eq!(from_texts("nope", Some(CREDS), Some(CONFIG)), None);
        assert_eq!(from_texts("default", None, None), None);
        // "[audit]" in the config file is not "[profile audit]".
        assert_eq!(
            from_texts("audit", None, Some("[audit]\nregion = x\n")),
            None
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let p = from_texts("audit", Some(CREDS), None).unwrap();
        let s = format!("{p:?}");
        assert!(!s.contains("other") && !s.contains("TOKVALUE"), "{s}");
        assert!(s.contains("AKIAAUDIT"), "{s}");
    }
}
