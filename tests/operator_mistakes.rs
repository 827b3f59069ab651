//! An operator's mistakes (issue #7), each refused with a message saying what to do,
//! and each failed before its fix: keys that do not continue the chain, state
//! directories others can write, configurations that `check-config` passed and `run`
//! refused.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;
use std::time::Duration;

use common::*;

/// Starts, sends a few lines through the real `logger`, stops: the state directory
/// then holds a chain.
fn make_chain(env: &TestEnv, cfg: &Config, port: u16) {
    let mut d = env.start(cfg);
    for i in 0..3 {
        logger_tcp(port, &[], &format!("chain line {i}"));
    }
    d.wait_idle();
    d.stop();
    assert!(
        !archive_files(&env.archive_dir).is_empty(),
        "the first run archived segments"
    );
}

#[track_caller]
fn assert_refused(out: &CmdOutput, needles: &[&str]) {
    assert_eq!(out.code, Some(78), "expected exit 78:\n{}", out.describe());
    let err = out.stderr_str();
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
}

#[test]
fn a_deleted_signing_key_is_refused_not_replaced() {
    let env = TestEnv::new();
    let (cfg, port) = tcp_config("key-deleted");
    make_chain(&env, &cfg, port);
    let key = env.state_dir.join("signing.key");
    let id_before = key_id_of(&env.public_key(&cfg));
    let backup = env.path().join("backup.key");
    std::fs::copy(&key, &backup).unwrap();
    std::fs::remove_file(&key).unwrap();
    let out = env.run_to_exit(&cfg);
    assert_refused(&out, &["signing.key is missing", &id_before, "restore"]);
    assert!(
        !key.exists(),
        "no new key was created behind the chain's back"
    );
    // Nor by `keygen --if-missing`, which the package runs on every upgrade.
    let cfgp = env.config_path.to_str().unwrap();
    let out = sealtrail(&["keygen", "--if-missing", "--config", cfgp]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stderr_str().contains("restore"), "{}", out.describe());
    assert!(
        !key.exists(),
        "keygen created no key behind the chain's back"
    );
    // Restoring the key is all it takes: the chain continues and verifies.
    std::fs::copy(&backup, &key).unwrap();
    let mut d = env.start(&cfg);
    logger_tcp(port, &[], "after the restore");
    d.wait_idle();
    let stopped = d.stop();
    let out = env.verify(&cfg, &["--until", &stopped.until]);
    assert_verify_ok(&out, "after the key was restored");
}

#[test]
fn a_different_signing_key_is_refused() {
    let env = TestEnv::new();
    let (cfg, port) = tcp_config("key-replaced");
    make_chain(&env, &cfg, port);
    let key = env.state_dir.join("signing.key");
    let expected = key_id_of(&env.public_key(&cfg));
    std::fs::remove_file(&key).unwrap();
    std::fs::remove_file(env.public_key(&cfg)).unwrap();
    let out = sealtrail(&["keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let out = env.run_to_exit(&cfg);
    assert_refused(&out, &["is signed with key id", &expected]);
}

#[test]
fn a_public_key_that_does_not_match_is_refused() {
    let env = TestEnv::new();
    let (cfg, port) = tcp_config("key-mismatch");
    make_chain(&env, &cfg, port);
    let other = env.path().join("other.key");
    let out = sealtrail(&["keygen", "--out", other.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    std::fs::copy(other.with_extension("pub"), env.public_key(&cfg)).unwrap();
    let out = env.run_to_exit(&cfg);
    assert_refused(&out, &["is not the public half of"]);
    // Deleting the stale public key lets the daemon write the right one again.
    std::fs::remove_file(env.public_key(&cfg)).unwrap();
    let d = env.start(&cfg);
    let stopped = d.stop();
    let out = env.verify(&cfg, &["--until", &stopped.until]);
    assert_verify_ok(&out, "after the public key was rewritten");
}

/// The key id `sealtrail keygen --if-missing` reports for the pair of `pubkey`.
fn key_id_of(pubkey: &std::path::Path) -> String {
    let out = sealtrail(&[
        "keygen",
        "--if-missing",
        "--out",
        pubkey.with_extension("key").to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    out.stdout_str()
        .lines()
        .find_map(|l| l.strip_prefix("key id: ").map(str::to_string))
        .expect("keygen prints the key id")
}

#[test]
fn check_config_refuses_what_run_refuses_and_both_exit_78() {
    let env = TestEnv::new();
    let port = free_port();
    let base = format!(
        "state_dir = {}\n[[syslog]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:{port}\"\n",
        toml_str(&env.state_dir.to_string_lossy())
    );
    let archive = format!(
        "[archive]\nurl = {}\n",
        toml_str(&env.archive_dir.to_string_lossy())
    );
    let cases = [
        (
            "journal cap under two files",
            format!("{base}{archive}[journal]\nfile_bytes = 1048576\nmax_bytes = 1500000\n"),
            ":9: key `journal.max_bytes`",
        ),
        (
            "empty state_dir",
            format!(
                "state_dir = \"\"\n[[syslog]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:{port}\"\n{archive}"
            ),
            ":1: key `state_dir`",
        ),
        (
            "status endpoint on the syslog address",
            format!("{base}{archive}[status]\naddress = \"127.0.0.1:{port}\"\n"),
            ":8: key `status.address`",
        ),
    ];
    for (what, text, needle) in cases {
        let path = env.path().join("case.toml");
        std::fs::write(&path, &text).unwrap();
        let p = path.to_str().unwrap();
        let check = sealtrail(&["check-config", "--config", p]);
        assert_eq!(check.code, Some(78), "{what}: {}", check.describe());
        assert!(
            check.stderr_str().contains(needle),
            "{what}: {}",
            check.describe()
        );
        let run = run_cmd(
            Command::new(BIN).args(["run", "--config", p]),
            Duration::from_secs(60),
        );
        assert_eq!(run.code, Some(78), "{what}: run: {}", run.describe());
        assert!(
            run.stderr_str().contains(needle),
            "{what}: run: {}",
            run.describe()
        );
    }
}

#[test]
fn a_state_directory_others_can_write_is_refused_and_left_as_it_is() {
    let env = TestEnv::new();
    let (cfg, _port) = tcp_config("state-mode");
    std::fs::create_dir_all(&env.state_dir).unwrap();
    std::fs::set_permissions(&env.state_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = env.run_to_exit(&cfg);
    assert_refused(&out, &["mode 0777", "chmod 700"]);
    let mode = std::fs::metadata(&env.state_dir).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o777, "not silently changed");
    assert!(
        std::fs::read_dir(&env.state_dir).unwrap().next().is_none(),
        "nothing was written into it"
    );
    // The mode systemd's StateDirectoryMode=0750 gives is fine, and so is a plain
    // mkdir's 0755: nobody else can write.
    std::fs::set_permissions(&env.state_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = env.start(&cfg);
    d.stop();
}

#[test]
fn a_state_directory_owned_by_another_user_is_refused() {
    assert_eq!(
        uid(),
        0,
        "this test needs root (to hand a directory to another user): run tests/run.sh as root"
    );
    let env = TestEnv::new();
    let (cfg, _port) = tcp_config("state-owner");
    std::fs::create_dir_all(&env.state_dir).unwrap();
    std::fs::set_permissions(&env.state_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&env.state_dir, Some(65534), Some(65534)).unwrap();
    let out = env.run_to_exit(&cfg);
    assert_refused(&out, &["is owned by uid 65534", "chown"]);
}
