//! The key files with standard tools: the secret key `sealtrail keygen` writes is read
//! by `openssl pkey`, and the public key OpenSSL derives from it is the `.pub` file.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{run_cmd, sealtrail, TestEnv};

#[test]
fn openssl_reads_the_secret_key_and_derives_the_same_public_key() {
    let env = TestEnv::new();
    let secret = env.path().join("signing.key");
    let out = sealtrail(&["keygen", "--out", secret.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let text = run_cmd(
        Command::new("openssl")
            .args(["pkey", "-noout", "-text", "-in"])
            .arg(&secret),
        Duration::from_secs(30),
    );
    assert_eq!(
        text.code,
        Some(0),
        "openssl pkey refused the key: {}",
        text.describe()
    );
    assert!(
        text.stdout_str().contains("ED25519 Private-Key"),
        "{}",
        text.describe()
    );
    let public = run_cmd(
        Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&secret),
        Duration::from_secs(30),
    );
    assert_eq!(public.code, Some(0), "{}", public.describe());
    let ours = std::fs::read_to_string(secret.with_extension("pub")).unwrap();
    assert_eq!(public.stdout_str().trim(), ours.trim());
}
