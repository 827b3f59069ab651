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

pub mod rotation;
pub use rotation::{keyring_path_for, load_public_keys, next_path_for};

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
    #[error("{path} is missing, but the chain of stream `{stream}` in this state directory (next segment #{next_seq}) is signed with key id {key_id}: restore that secret key from your backup (its public key is what your auditors hold). Starting a new key would make every later segment fail verification")]
    MissingForChain {
        path: PathBuf,
        key_id: String,
        stream: String,
        next_seq: u64,
    },
    #[error("{path} has key id {found}, but the chain of stream `{stream}` in this state directory is signed with key id {expected}: restore the key with id {expected} (segments signed with another key fail verification under the auditors' keyring). To change keys, rotate: `sealtrail rotate-key` seals the hand-over")]
    WrongKeyForChain {
        path: PathBuf,
        found: String,
        expected: String,
        stream: String,
    },
    #[error("{public} (key id {public_id}) is not the public half of {secret} (key id {secret_id}): auditors given this file could not verify anything. Restore the matching pair, or delete {public} to have it written again from the secret key")]
    PublicMismatch {
        secret: PathBuf,
        public: PathBuf,
        secret_id: String,
        public_id: String,
    },
}

impl KeyError {
    /// Whether the operator must act before a restart can help (exit 78, so systemd's
    /// `RestartPreventExitStatus=78` stops retrying), rather than a passing I/O error.
    pub fn is_configuration(&self) -> bool {
        !matches!(self, KeyError::Io { .. })
    }
}

/// What the state directory says about the chain the key must continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainKey {
    pub stream: String,
    /// Sequence number of the next segment (≥ 1: a checkpoint exists).
    pub next_seq: u64,
    /// Key id the chain is signed with; `None` for a checkpoint written before key ids
    /// were recorded.
    pub key_id: Option<[u8; 8]>,
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyError + '_ {
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
    key_id_of(key.as_bytes())
}

/// [`key_id`] of a raw 32-byte public key (a rotation seal's `next_key`), which need
/// not be a valid point to be named.
pub fn key_id_of(raw: &[u8; 32]) -> [u8; 8] {
    let d = Sha256::digest(raw);
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
    let pem = secret_pem(&key, secret_path)?;
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

/// The secret key as PKCS#8 v1 PEM (RFC 5208 / RFC 8410 §7: the private key alone).
/// The v2 form ed25519-dalek writes by default (RFC 5958, with the public key) is
/// refused by OpenSSL 3 and Python's `cryptography`, so an operator could not inspect
/// or back it up with standard tools (`openssl pkey -in signing.key -noout -text`).
fn secret_pem(
    key: &SigningKey,
    path: &Path,
) -> Result<ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing<String>, KeyError> {
    let bytes = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    };
    bytes
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Parse {
            path: path.to_owned(),
            what: "PKCS#8 encoding",
            reason: e.to_string(),
        })
}

/// Rewrites a secret key file written in the v2 form (before sealtrail 0.2) in the v1
/// form, the same key, so standard tools read it: temp file (mode 0600) + fsync +
/// rename + directory fsync. Returns whether it rewrote. A failure leaves the old file.
pub fn upgrade_secret_form(path: &Path, key: &SigningKey) -> Result<bool, KeyError> {
    let old = fs::read_to_string(path).map_err(io_err(path))?;
    let new = secret_pem(key, path)?;
    if old.trim() == new.trim() {
        return Ok(false);
    }
    replace_file(path, "key.tmp", 0o600, new.as_bytes())?;
    Ok(true)
}

/// Replaces `path` atomically with `bytes`: a temp file beside it (extension
/// `tmp_ext`, created anew with `mode`, so a leftover never lends its mode), fsync,
/// rename, directory fsync. A failure leaves the old file.
pub(crate) fn replace_file(
    path: &Path,
    tmp_ext: &str,
    mode: u32,
    bytes: &[u8],
) -> Result<(), KeyError> {
    let tmp = path.with_extension(tmp_ext);
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io_err(path))?;
    sync_parent(path)
}

/// fsync of the directory holding `path`, so a rename in it is durable.
pub(crate) fn sync_parent(path: &Path) -> Result<(), KeyError> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
    }
    Ok(())
}

/// Writes the public key file (temp + rename, mode 0644): it is derived data, so
/// replacing a stale one is safe.
pub(crate) fn write_public(secret_path: &Path, public: &VerifyingKey) -> Result<(), KeyError> {
    let path = public_path_for(secret_path);
    let pem = public
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Parse {
            path: path.clone(),
            what: "SPKI encoding",
            reason: e.to_string(),
        })?;
    replace_file(&path, "pub.tmp", 0o644, pem.as_bytes())
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

/// Loads the signing key for the chain in the state directory, or creates one when
/// there is no chain yet. With a chain, a missing key is never replaced (that would
/// silently break verification for every later segment) and a key with another id is
/// refused. Either way a public key file that does not match the secret is refused,
/// and a missing one is written. Returns the key and whether it was created.
pub fn load_for_chain(
    secret_path: &Path,
    chain: Option<&ChainKey>,
) -> Result<(SigningKey, bool), KeyError> {
    let (key, created) = match chain {
        None => ensure(secret_path)?,
        Some(chain) => {
            // A rotation committed just before a crash is finished first.
            if rotation::finish_interrupted(secret_path, chain.key_id)? {
                tracing::info!(key = %secret_path.display(), "finished a key rotation a stop had interrupted: the next key is in place");
            }
            match fs::symlink_metadata(secret_path) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(KeyError::MissingForChain {
                        path: secret_path.to_owned(),
                        key_id: chain
                            .key_id
                            .map_or_else(|| "(not recorded)".into(), hex::encode),
                        stream: chain.stream.clone(),
                        next_seq: chain.next_seq,
                    });
                }
                Err(e) => return Err(io_err(secret_path)(e)),
            }
            let key = load_signing_key(secret_path)?;
            let found = key_id(&key.verifying_key());
            if let Some(expected) = chain.key_id {
                if found != expected {
                    return Err(KeyError::WrongKeyForChain {
                        path: secret_path.to_owned(),
                        found: hex::encode(found),
                        expected: hex::encode(expected),
                        stream: chain.stream.clone(),
                    });
                }
            }
            (key, false)
        }
    };
    check_public(secret_path, &key)?;
    Ok((key, created))
}

/// The public key file beside the secret must be its public half; a missing one is
/// written.
fn check_public(secret_path: &Path, key: &SigningKey) -> Result<(), KeyError> {
    let public_path = public_path_for(secret_path);
    let ours = key.verifying_key();
    match fs::symlink_metadata(&public_path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return write_public(secret_path, &ours),
        Err(e) => return Err(io_err(&public_path)(e)),
        Ok(_) => {}
    }
    let theirs = load_verifying_key(&public_path)?;
    if theirs != ours {
        return Err(KeyError::PublicMismatch {
            secret: secret_path.to_owned(),
            public: public_path,
            secret_id: hex::encode(key_id(&ours)),
            public_id: hex::encode(key_id(&theirs)),
        });
    }
    Ok(())
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
    fn the_secret_key_is_pkcs8_v1_and_a_v2_file_is_rewritten_as_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("signing.key");
        generate(&secret).unwrap();
        let pem = fs::read_to_string(&secret).unwrap();
        let (_, doc) = ed25519_dalek::pkcs8::spki::der::SecretDocument::from_pem(&pem).unwrap();
        // SEQUENCE { INTEGER 0 (v1), ... }: the version byte is the first inner value.
        assert_eq!(
            &doc.as_bytes()[2..5],
            &[0x02, 0x01, 0x00],
            "version 1 (v1 = 0)"
        );
        let key = load_signing_key(&secret).unwrap();
        assert!(!upgrade_secret_form(&secret, &key).unwrap(), "already v1");
        // The v2 form older versions wrote: same key, rewritten once, mode kept 0600.
        let v2 = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        fs::write(&secret, v2.as_bytes()).unwrap();
        assert!(upgrade_secret_form(&secret, &key).unwrap());
        assert_eq!(fs::read_to_string(&secret).unwrap(), pem);
        assert_eq!(fs::metadata(&secret).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            load_signing_key(&secret).unwrap().to_bytes(),
            key.to_bytes()
        );
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

    fn chain(key: Option<&SigningKey>) -> ChainKey {
        ChainKey {
            stream: "host-1".into(),
            next_seq: 42,
            key_id: key.map(|k| key_id(&k.verifying_key())),
        }
    }

    #[test]
    fn with_a_chain_a_deleted_key_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("signing.key");
        let (k, created) = load_for_chain(&secret, None).unwrap();
        assert!(created);
        fs::remove_file(&secret).unwrap();
        let e = load_for_chain(&secret, Some(&chain(Some(&k)))).unwrap_err();
        assert!(matches!(e, KeyError::MissingForChain { .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains(&hex::encode(key_id(&k.verifying_key()))),
            "{msg}"
        );
        assert!(msg.contains("restore"), "{msg}");
        assert!(e.is_configuration());
        assert!(!secret.exists(), "no new key was created");
    }

    #[test]
    fn with_a_chain_another_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("signing.key");
        let (old, _) = load_for_chain(&secret, None).unwrap();
        fs::remove_file(&secret).unwrap();
        fs::remove_file(public_path_for(&secret)).unwrap();
        generate(&secret).unwrap();
        let e = load_for_chain(&secret, Some(&chain(Some(&old)))).unwrap_err();
        assert!(matches!(e, KeyError::WrongKeyForChain { .. }), "{e}");
        // The same key continues its chain; a legacy checkpoint without an id is taken.
        let (now, _) = load_for_chain(&secret, Some(&chain(None))).unwrap();
        assert!(load_for_chain(&secret, Some(&chain(Some(&now)))).is_ok());
    }

    #[test]
    fn a_public_key_of_another_pair_is_refused_and_a_missing_one_written() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("signing.key");
        let (k, _) = load_for_chain(&secret, None).unwrap();
        let other = dir.path().join("other.key");
        generate(&other).unwrap();
        fs::copy(public_path_for(&other), public_path_for(&secret)).unwrap();
        for c in [None, Some(chain(Some(&k)))] {
            let e = load_for_chain(&secret, c.as_ref()).unwrap_err();
            assert!(matches!(e, KeyError::PublicMismatch { .. }), "{e}");
        }
        fs::remove_file(public_path_for(&secret)).unwrap();
        load_for_chain(&secret, Some(&chain(Some(&k)))).unwrap();
        assert_eq!(
            load_verifying_key(&public_path_for(&secret)).unwrap(),
            k.verifying_key()
        );
    }
}
