//! Ed25519 signing keys: generation and loading.
//!
//! The secret is PKCS#8 PEM, created `0600` and never overwritten; the public key is
//! SPKI PEM beside it (`<name>.pub`), meant to be copied out of the host: the verifier
//! must get it from outside the archive. A secret readable by group or others is
//! refused, as sshd does, because whoever reads it can forge the archive.

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Errors of key handling; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: already exists; refusing to overwrite a signing key")]
    Exists { path: PathBuf },
    #[error("{path}: mode {mode:04o} lets group or others access the secret key; run `chmod 600 {path}`")]
    Permissions { path: PathBuf, mode: u32 },
    #[error("{path}: not a valid {what}: {reason}")]
    Parse {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The public key file for a secret key file: same path, extension `pub`.
pub fn public_path_for(secret_path: &Path) -> PathBuf {
    secret_path.with_extension("pub")
}

/// First 8 bytes of SHA-256 of the raw 32-byte public key: names the key in every seal.
pub fn key_id(key: &VerifyingKey) -> [u8; 8] {
    let d = Sha256::digest(key.as_bytes());
    let mut id = [0u8; 8];
    id.copy_from_slice(&d[..8]);
    id
}

/// Creates a new key pair: the secret (PKCS#8 PEM, mode 0600, never overwriting) at
/// `secret_path` and the public key (SPKI PEM) at `public_path_for(secret_path)`.
/// Missing parent directories are created with mode 0700.
pub fn generate(secret_path: &Path) -> Result<VerifyingKey, KeyError> {
    let parent = secret_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(io_err(parent))?;

    let key = SigningKey::generate(&mut rand_core::OsRng);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Parse {
            path: secret_path.to_owned(),
            what: "PKCS#8 encoding",
            reason: e.to_string(),
        })?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(secret_path)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                KeyError::Exists {
                    path: secret_path.to_owned(),
                }
            } else {
                io_err(secret_path)(e)
            }
        })?;
    f.write_all(pem.as_bytes()).map_err(io_err(secret_path))?;
    f.sync_all().map_err(io_err(secret_path))?;
    drop(f);

    let public = key.verifying_key();
    write_public(secret_path, &public)?;
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(io_err(parent))?;
    Ok(public)
}

/// Writes the public key file (temp + rename, mode 0644): it is derived data, so
/// replacing a stale one is safe.
fn write_public(secret_path: &Path, public: &VerifyingKey) -> Result<(), KeyError> {
    let path = public_path_for(secret_path);
    let pem = public
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Parse {
            path: path.clone(),
            what: "SPKI encoding",
            reason: e.to_string(),
        })?;
    let tmp = path.with_extension("pub.tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(pem.as_bytes()).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    Ok(())
}

/// Loads a PKCS#8 PEM secret key, refusing one that group or others may read or write.
/// The mode is checked on the opened file, so a swap between check and read is moot.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let mode = f.metadata().map_err(io_err(path))?.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    let mut pem = String::new();
    f.read_to_string(&mut pem).map_err(io_err(path))?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| KeyError::Parse {
        path: path.to_owned(),
        what: "PKCS#8 PEM Ed25519 private key",
        reason: e.to_string(),
    })
}

/// Loads an SPKI PEM public key (`-----BEGIN PUBLIC KEY-----`).
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let pem = fs::read_to_string(path).map_err(io_err(path))?;
    VerifyingKey::from_public_key_pem(&pem).map_err(|e| KeyError::Parse {
        path: path.to_owned(),
        what: "SPKI PEM Ed25519 public key",
        reason: e.to_string(),
    })
}

/// Loads the secret key, generating it first if it does not exist. Returns whether it
/// was created. Restores a missing public key file, so the operator can always copy it.
pub fn ensure(secret_path: &Path) -> Result<(SigningKey, bool), KeyError> {
    let created = match fs::symlink_metadata(secret_path) {
        Ok(_) => false,
        Err(e) if e.kind() == io::ErrorKind::NotFound => match generate(secret_path) {
            Ok(_) => true,
            // Someone else created it in between: use theirs.
            Err(KeyError::Exists { .. }) => false,
            Err(e) => return Err(e),
        },
        Err(e) => return Err(io_err(secret_path)(e)),
    };
    let key = load_signing_key(secret_path)?;
    if !created && !public_path_for(secret_path).exists() {
        write_public(secret_path, &key.verifying_key())?;
    }
    Ok((key, created))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generate_then_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("sub/dir/seal.key");
        let public = generate(&secret).unwrap();
        assert_eq!(
            public_path_for(&secret),
            dir.path().join("sub/dir/seal.pub")
        );
        let mode = fs::metadata(&secret).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(dir.path().join("sub")).unwrap().mode() & 0o777;
        assert_eq!(dmode, 0o700);
        let sk = load_signing_key(&secret).unwrap();
        assert_eq!(sk.verifying_key(), public);
        let pk = load_verifying_key(&public_path_for(&secret)).unwrap();
        assert_eq!(pk, public);
        let pem = fs::read_to_string(public_path_for(&secret)).unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let pem = fs::read_to_string(&secret).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn generate_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("seal.key");
        generate(&secret).unwrap();
        let before = fs::read(&secret).unwrap();
        assert!(matches!(generate(&secret), Err(KeyError::Exists { .. })));
        assert_eq!(fs::read(&secret).unwrap(), before);
    }

    #[test]
    fn refuses_group_readable_secret() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("seal.key");
        generate(&secret).unwrap();
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o640)).unwrap();
        match load_signing_key(&secret) {
            Err(KeyError::Permissions { mode, path }) => {
                assert_eq!(mode, 0o640);
                assert_eq!(path, secret);
            }
            other => panic!("expected a permissions error, got {other:?}"),
        }
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o400)).unwrap();
        assert!(load_signing_key(&secret).is_ok());
    }

    #[test]
    fn ensure_creates_once_and_restores_public() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("k/seal.key");
        let (k1, created1) = ensure(&secret).unwrap();
        assert!(created1);
        fs::remove_file(public_path_for(&secret)).unwrap();
        let (k2, created2) = ensure(&secret).unwrap();
        assert!(!created2);
        assert_eq!(k1.to_bytes(), k2.to_bytes());
        let pk = load_verifying_key(&public_path_for(&secret)).unwrap();
        assert_eq!(pk, k1.verifying_key());
    }

    #[test]
    fn garbage_is_a_parse_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pub");
        fs::write(&p, "not a key").unwrap();
        assert!(matches!(
            load_verifying_key(&p),
            Err(KeyError::Parse { .. })
        ));
    }

    #[test]
    fn key_id_is_sha256_prefix() {
        let sk = SigningKey::from_bytes(&[7u8; 32]);
        let vk = sk.verifying_key();
        let full = Sha256::digest(vk.as_bytes());
        assert_eq!(key_id(&vk), full[..8]);
    }
}
