//! `sealtrail inspect` on a daemon-made segment and on tampered copies of it: the copy
//! whose data frame was replaced by another valid zstd frame (made by the `zstd` CLI)
//! still prints, but exits 1 naming what does not match the seal; with `--key`, a seal
//! signed by another key fails too.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn inspect_checks_the_content_against_the_seal_and_the_signature_with_a_key() {
    let env = TestEnv::new();
    let (cfg, port) = tcp_config("inspect");
    let daemon = env.start(&cfg);
    let lines: String = (0..50)
        .map(|i| format!("<13>Dec  2 07:00:00 web1 app[1]: inspected line {i}\n"))
        .collect();
    send_tcp(port, lines.as_bytes());
    daemon.stop();
    let objects = read_archive(&env.archive_dir);
    let obj = objects
        .iter()
        .find(|o| o.content.windows(14).any(|w| w == b"inspected line"))
        .expect("a segment with the lines");
    let path = obj.path.to_str().unwrap();
    let out = sealtrail(&["inspect", path]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let public = env.public_key(&cfg);
    let out = sealtrail(&[
        "inspect",
        "--seal-only",
        "--key",
        public.to_str().unwrap(),
        path,
    ]);
    assert_eq!(out.code, Some(0), "the right key: {}", out.describe());

    // Another key: the signature does not verify.
    let other = env.path().join("other.key");
    assert_eq!(
        sealtrail(&["keygen", "--out", other.to_str().unwrap()]).code,
        Some(0)
    );
    let out = sealtrail(&[
        "inspect",
        "--seal-only",
        "--key",
        other.with_extension("pub").to_str().unwrap(),
        path,
    ]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stderr_str().contains("wrong_key"), "{}", out.describe());
    // The daemon's keyring file is accepted as the key.
    let ring = env.state_dir.join("signing.keyring");
    let out = sealtrail(&[
        "inspect",
        "--seal-only",
        "--key",
        ring.to_str().unwrap(),
        path,
    ]);
    assert_eq!(out.code, Some(0), "the keyring: {}", out.describe());

    // The same seal over other content: one event's text changed, recompressed by zstd.
    let seal: serde_json::Value = serde_json::from_str(
        sealtrail(&["inspect", "--seal-only", path])
            .stdout_str()
            .trim(),
    )
    .unwrap();
    let data_len = seal["data_len"].as_u64().unwrap() as usize;
    let file = std::fs::read(&obj.path).unwrap();
    let changed = String::from_utf8(obj.content.clone()).unwrap().replacen(
        "inspected line 7",
        "inspected line X",
        1,
    );
    let plain = env.path().join("changed.jsonl");
    std::fs::write(&plain, &changed).unwrap();
    let z = run_cmd(
        Command::new("zstd").args(["-1", "-q", "-c"]).arg(&plain),
        Duration::from_secs(30),
    );
    assert_eq!(z.code, Some(0), "{}", z.describe());
    let mut tampered = z.stdout.clone();
    tampered.extend_from_slice(&file[data_len..]);
    let tampered_path = env.path().join("tampered.seg.zst");
    std::fs::write(&tampered_path, &tampered).unwrap();
    let out = sealtrail(&["inspect", "--sealed", tampered_path.to_str().unwrap()]);
    assert_eq!(
        out.code,
        Some(1),
        "a tampered segment is not fine: {}",
        out.describe()
    );
    let err = out.stderr_str();
    assert!(err.contains("does not match its seal"), "{err}");
    assert!(
        err.contains("content_hash_mismatch") && err.contains("merkle_mismatch"),
        "{err}"
    );
    assert!(
        out.stdout_str().contains("inspected line X"),
        "it still prints what is there"
    );
}
