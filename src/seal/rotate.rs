//! Key rotation in the sealer: noticing a pending next key (`sealtrail rotate-key`, or
//! `[seal] rotate_key_every` coming due) and handing it to the committer with the next
//! seal, which becomes a rotation seal (`SealKind::Rotate`: signed by the current key,
//! naming the next). The files are in `keys::rotation`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;

use crate::keys::{self, rotation, KeyError};
use crate::throttle::Throttle;

/// How often the sealer looks for a pending next key: a `stat` a second.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Watches the key files for a rotation to seal.
pub(super) struct Rotator {
    key_path: PathBuf,
    every: Option<Duration>,
    /// The key signing the chain's next segment (after a rotation sent: the new one).
    current: [u8; 8],
    last_check: Option<Instant>,
    log: Throttle,
}

impl Rotator {
    pub(super) fn new(key_path: PathBuf, every: Option<Duration>, current: &SigningKey) -> Self {
        Rotator {
            key_path,
            every,
            current: keys::key_id(&current.verifying_key()),
            last_check: None,
            log: Throttle::new(Duration::from_secs(60)),
        }
    }

    /// At most once a second: the next key, when a rotation is pending or due. It is
    /// in the keyring file by then, so the auditors' copy can be refreshed at once.
    pub(super) fn due(&mut self) -> Option<SigningKey> {
        let now = Instant::now();
        if self
            .last_check
            .is_some_and(|t| now.duration_since(t) < CHECK_EVERY)
        {
            return None;
        }
        self.last_check = Some(now);
        match self.try_due() {
            Ok(next) => next,
            Err(e) => {
                if let Some(n) = self.log.hit(now) {
                    tracing::error!(error = %e, times = n, "a key rotation is pending but cannot be done; the current key goes on signing");
                }
                None
            }
        }
    }

    fn try_due(&mut self) -> Result<Option<SigningKey>, KeyError> {
        let next = match rotation::load_next(&self.key_path)? {
            Some(k) => k,
            None => {
                let Some(every) = self.every else {
                    return Ok(None);
                };
                let age = std::fs::metadata(&self.key_path)
                    .and_then(|m| m.modified())
                    .map_err(keys::io_err(&self.key_path))?
                    .elapsed()
                    .unwrap_or_default();
                if age < every {
                    return Ok(None);
                }
                match rotation::generate_next(&self.key_path) {
                    Ok(_) | Err(KeyError::Exists { .. }) => {}
                    Err(e) => return Err(e),
                }
                tracing::info!(
                    key = %self.key_path.display(),
                    age_s = age.as_secs(),
                    "the signing key is due for rotation ([seal] rotate_key_every): generated the next key"
                );
                match rotation::load_next(&self.key_path)? {
                    Some(k) => k,
                    None => return Ok(None),
                }
            }
        };
        let id = keys::key_id(&next.verifying_key());
        if id == self.current {
            // Rotated to already; the committer moves it into place.
            return Ok(None);
        }
        rotation::keyring_add(&self.key_path, &next.verifying_key())?;
        tracing::info!(
            from = %hex::encode(self.current),
            to = %hex::encode(id),
            keyring = %rotation::keyring_path_for(&self.key_path).display(),
            "rotating the signing key: the next segment is the rotation seal"
        );
        self.current = id;
        Ok(Some(next))
    }
}

/// Moves the next key into place once its rotation seal is committed. A failure is
/// logged: the next start finishes it (the checkpoint names the new key).
pub(super) fn finish(key_path: &std::path::Path, next: &SigningKey, seq: u64) {
    match rotation::finish(key_path, next) {
        Ok(()) => tracing::info!(
            seq,
            key = %key_path.display(),
            key_id = %hex::encode(keys::key_id(&next.verifying_key())),
            "key rotated: the rotation seal is committed, the retired secret key is gone"
        ),
        Err(e) => tracing::error!(
            seq,
            error = %e,
            "the rotation seal is committed but the next key could not be moved into place; the next start does it"
        ),
    }
}
