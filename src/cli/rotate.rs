//! `sealtrail rotate-key`: writes the next key pair beside the signing key and adds it
//! to the keyring; the running daemon seals the hand-over within a second (or the next
//! start does). See `keys::rotation` and FORMAT.md §5.1.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::keys::{self, rotation};

#[derive(clap::Args, Debug)]
pub struct RotateArgs {
    #[arg(short, long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Wait up to this many seconds for the daemon to seal the rotation, and say
    /// when it has (exit 1 if it has not by then).
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "30")]
    wait: Option<u64>,
}

pub fn run(a: RotateArgs) -> anyhow::Result<()> {
    let cfg = super::load_config(a.config.as_deref())?.0;
    let key_path = cfg.key_path();
    let current = keys::load_signing_key(&key_path)
        .with_context(|| format!("reading the signing key {}", key_path.display()))?;
    let current_id = keys::key_id(&current.verifying_key());
    let next = match rotation::load_next(&key_path)? {
        Some(pending) => {
            println!(
                "a rotation is already pending: {} (key id {})",
                rotation::next_path_for(&key_path).display(),
                hex::encode(keys::key_id(&pending.verifying_key()))
            );
            pending.verifying_key()
        }
        None => {
            let next = rotation::generate_next(&key_path)
                .with_context(|| format!("writing the next key beside {}", key_path.display()))?;
            rotation::keyring_add(&key_path, &current.verifying_key())?;
            rotation::keyring_add(&key_path, &next)?;
            give_to_key_owner(&key_path)?;
            println!(
                "next key: {} (key id {}), public key {}",
                rotation::next_path_for(&key_path).display(),
                hex::encode(keys::key_id(&next)),
                keys::public_path_for(&rotation::next_path_for(&key_path)).display()
            );
            next
        }
    };
    let next_id = keys::key_id(&next);
    println!(
        "keyring: {} (oldest first): give it to your auditors (sealtrail verify ARCHIVE --key {})",
        rotation::keyring_path_for(&key_path).display(),
        rotation::keyring_path_for(&key_path).display()
    );
    println!(
        "the running daemon seals the rotation from key id {} to {} within a second; a stopped one at its next start",
        hex::encode(current_id),
        hex::encode(next_id)
    );
    let Some(secs) = a.wait else {
        return Ok(());
    };
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let done = !rotation::next_path_for(&key_path).exists()
            && keys::load_signing_key(&key_path)
                .is_ok_and(|k| keys::key_id(&k.verifying_key()) == next_id);
        if done {
            println!(
                "rotated: {} is key id {} now",
                key_path.display(),
                hex::encode(next_id)
            );
            return Ok(());
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "the rotation is not sealed after {secs} s: is the daemon running (and reading {})? It stays pending until it is",
                key_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Run as root for a daemon that runs as its own user (the packages' `sealtrail`):
/// the new files belong to the signing key's owner, or the daemon could not read them.
fn give_to_key_owner(key_path: &Path) -> anyhow::Result<()> {
    let meta =
        std::fs::metadata(key_path).with_context(|| format!("reading {}", key_path.display()))?;
    if rustix::process::geteuid().as_raw() != 0 || meta.uid() == 0 {
        return Ok(());
    }
    let next = rotation::next_path_for(key_path);
    for p in [
        next.clone(),
        keys::public_path_for(&next),
        rotation::keyring_path_for(key_path),
    ] {
        std::os::unix::fs::chown(&p, Some(meta.uid()), Some(meta.gid()))
            .with_context(|| format!("giving {} to the key's owner", p.display()))?;
    }
    Ok(())
}
