//! Key rotation on disk: the pending next key, the keyring file, and finishing a
//! rotation.
//!
//! `sealtrail rotate-key` (or `[seal] rotate_key_every`) writes the next key pair
//! beside the current one (`signing.next.key`, `signing.next.pub`). The sealer picks it
//! up, adds its public key to the keyring file (`signing.keyring`: every public key of
//! this lineage, oldest first, for the auditors) and seals a rotation segment signed
//! by the current key that names the next one. Once that segment is committed,
//! [`finish`] moves the next key into place: the retired secret is gone, so nothing
//! can sign for the old range any more. A crash in between is finished at the next
//! start ([`finish_interrupted`]), guided by the key id the committed checkpoint names.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};

use super::{
    generate, io_err, key_id, load_signing_key, public_path_for, replace_file, sync_parent,
    write_public, KeyError,
};

/// The pending next secret key for `secret_path`: `signing.key` → `signing.next.key`.
pub fn next_path_for(secret_path: &Path) -> PathBuf {
    let stem = secret_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = secret_path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "key".into());
    secret_path.with_file_name(format!("{stem}.next.{ext}"))
}

/// The keyring file for `secret_path`: `signing.key` → `signing.keyring`.
pub fn keyring_path_for(secret_path: &Path) -> PathBuf {
    secret_path.with_extension("keyring")
}

/// Writes a new pending key pair. A pending key that is already there is an error
/// (`Exists`): one rotation at a time.
pub fn generate_next(secret_path: &Path) -> Result<VerifyingKey, KeyError> {
    generate(&next_path_for(secret_path))
}

/// The pending next key, if there is one (with the same checks as the current key).
pub fn load_next(secret_path: &Path) -> Result<Option<SigningKey>, KeyError> {
    let next = next_path_for(secret_path);
    match fs::symlink_metadata(&next) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&next)(e)),
        Ok(_) => load_signing_key(&next).map(Some),
    }
}

/// Moves the pending key into place once the rotation segment is committed: the
/// secret (rename over the retired one), its public key file, then a directory fsync.
pub fn finish(secret_path: &Path, next: &SigningKey) -> Result<(), KeyError> {
    // The public key first: until the rename, a crash leaves the pending secret, which
    // `finish_interrupted` moves in then (the checkpoint already names it).
    let next_path = next_path_for(secret_path);
    write_public(secret_path, &next.verifying_key())?;
    fs::rename(&next_path, secret_path).map_err(io_err(secret_path))?;
    remove_next_public(secret_path)?;
    sync_parent(secret_path)
}

fn remove_next_public(secret_path: &Path) -> Result<(), KeyError> {
    let next_pub = public_path_for(&next_path_for(secret_path));
    match fs::remove_file(&next_pub) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(&next_pub)(e)),
        _ => Ok(()),
    }
}

/// At start: a pending key whose id the committed chain already names was rotated to
/// before a crash, and is moved into place now. Returns whether it was.
pub fn finish_interrupted(
    secret_path: &Path,
    chain_key: Option<[u8; 8]>,
) -> Result<bool, KeyError> {
    let Some(expected) = chain_key else {
        return Ok(false);
    };
    let Some(next) = load_next(secret_path)? else {
        // Renamed, but its public file was left behind.
        if !next_path_for(secret_path).exists() {
            remove_next_public(secret_path)?;
        }
        return Ok(false);
    };
    if key_id(&next.verifying_key()) != expected {
        return Ok(false);
    }
    finish(secret_path, &next)?;
    Ok(true)
}

/// Adds `key` to the keyring file of `secret_path` unless it is there, rewriting the
/// file atomically (temp + fsync + rename, mode 0644). Returns whether it added.
pub fn keyring_add(secret_path: &Path, key: &VerifyingKey) -> Result<bool, KeyError> {
    let path = keyring_path_for(secret_path);
    let mut keys = match fs::read_to_string(&path) {
        Ok(text) => parse_public_keys(&path, &text)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err(&path)(e)),
    };
    if keys.contains(key) {
        return Ok(false);
    }
    keys.push(*key);
    let mut text = String::from(
        "# sealtrail keyring: every public key of this signing lineage, oldest first.\n\
         # Give this file to your auditors: sealtrail verify ARCHIVE --key THIS_FILE\n",
    );
    for (i, k) in keys.iter().enumerate() {
        let pem = k
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::Parse {
                path: path.clone(),
                what: "SPKI encoding",
                reason: e.to_string(),
            })?;
        text.push_str(&format!(
            "# key {}: id {}\n{pem}",
            i + 1,
            hex::encode(key_id(k))
        ));
    }
    replace_file(&path, "keyring.tmp", 0o644, text.as_bytes())?;
    Ok(true)
}

/// Every SPKI PEM public key in a file, in order: one `.pub` file, or a keyring (PEM
/// blocks with any text around them, like a CA bundle). None at all is an error.
pub fn load_public_keys(path: &Path) -> Result<Vec<VerifyingKey>, KeyError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    let keys = parse_public_keys(path, &text)?;
    if keys.is_empty() {
        return Err(KeyError::Parse {
            path: path.to_owned(),
            what: "public key file or keyring",
            reason: "no -----BEGIN PUBLIC KEY----- block".into(),
        });
    }
    Ok(keys)
}

fn parse_public_keys(path: &Path, text: &str) -> Result<Vec<VerifyingKey>, KeyError> {
    const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
    const END: &str = "-----END PUBLIC KEY-----";
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(BEGIN) {
        let block = &rest[at..];
        let Some(end) = block.find(END) else {
            return Err(KeyError::Parse {
                path: path.to_owned(),
                what: "SPKI PEM Ed25519 public key",
                reason: format!("key {} has no {END} line", keys.len() + 1),
            });
        };
        let pem = &block[..end + END.len()];
        let key = VerifyingKey::from_public_key_pem(pem).map_err(|e| KeyError::Parse {
            path: path.to_owned(),
            what: "SPKI PEM Ed25519 public key",
            reason: format!("key {}: {e}", keys.len() + 1),
        })?;
        keys.push(key);
        rest = &block[end + END.len()..];
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_beside_the_key() {
        let k = Path::new("/var/lib/sealtrail/signing.key");
        assert_eq!(
            next_path_for(k),
            Path::new("/var/lib/sealtrail/signing.next.key")
        );
        assert_eq!(
            public_path_for(&next_path_for(k)),
            Path::new("/var/lib/sealtrail/signing.next.pub")
        );
        assert_eq!(
            keyring_path_for(k),
            Path::new("/var/lib/sealtrail/signing.keyring")
        );
    }

    #[test]
    fn keyring_keeps_order_and_each_key_once_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("signing.key");
        let a = generate(&secret).unwrap();
        let b = generate_next(&secret).unwrap();
        assert!(keyring_add(&secret, &a).unwrap());
        assert!(keyring_add(&secret, &b).unwrap());
        assert!(!keyring_add(&secret, &a).unwrap(), "already there");
        let ring = load_public_keys(&keyring_path_for(&secret)).unwrap();
        assert_eq!(ring, vec![a, b]);
        // A single .pub file is a ring of one.
        assert_eq!(
            load_public_keys(&public_path_for(&secret)).unwrap(),
            vec![a]
        );
        let empty = dir.path().join("empty");
        fs::write(&empty, "# nothing\n").unwrap();
        assert!(matches!(
            load_public_keys(&empty),
            Err(KeyError::Parse { .. })
        ));
    }

    #[test]
    fn finishing_moves_the_next_key_in_and_an_interrupted_one_is_finished_only_if_committed() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("signing.key");
        let old = generate(&secret).unwrap();
        let new = generate_next(&secret).unwrap();
        assert!(matches!(
            generate_next(&secret),
            Err(KeyError::Exists { .. })
        ));
        // The chain still names the old key: the pending key stays pending.
        assert!(!finish_interrupted(&secret, Some(key_id(&old))).unwrap());
        assert!(next_path_for(&secret).exists());
        // The chain names the new key: the rotation is finished.
        assert!(finish_interrupted(&secret, Some(key_id(&new))).unwrap());
        assert_eq!(load_signing_key(&secret).unwrap().verifying_key(), new);
        assert_eq!(
            super::super::load_verifying_key(&public_path_for(&secret)).unwrap(),
            new
        );
        assert!(!next_path_for(&secret).exists());
        assert!(!public_path_for(&next_path_for(&secret)).exists());
        assert!(load_next(&secret).unwrap().is_none());
    }
}
