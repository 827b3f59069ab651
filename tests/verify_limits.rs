//! Hold under pressure (issue #7, item 9): `inspect` and `verify` on hostile archives,
//! run as the real binary, with their memory measured from outside.
//!
//! * a crafted segment whose seal and frame header claim a huge content size:
//!   `inspect` fails with a clear error instead of allocating what the file says;
//! * large sparse objects named like segments beside a daemon-written archive: `verify`
//!   reports them with bounded peak memory and still checks every real segment;
//! * symlink loops and a dangling symlink inside the archive: `verify` reports each as
//!   `unreadable`, checks everything else, and exits 1 (not 2, without a report);
//! * authentic segments whose content is over `MAX_CONTENT_BYTES` by their seal or by
//!   their frame header (a real decompression bomb): `verify` reports
//!   `content_too_large` without decoding them, with bounded memory.
//!
//! Peak memory is the child's `VmHWM` (peak resident set) sampled from
//! `/proc/<pid>/status` while it runs; `inspect` additionally runs under
//! `prlimit --as`, an address-space limit that an allocation sized from the file breaks
//! (a run too short to be sampled after `exec` still cannot exceed that limit).

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use ed25519_dalek::{Signer, SigningKey};
use sealtrail::segment::{Seal, SealKind, FORMAT_VERSION, SEAL_FRAME_MAGIC};
use serde_json::Value;
use sha2::{Digest, Sha256};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// A finished child and the highest `VmHWM` seen while it ran, in bytes.
struct Measured {
    out: CmdOutput,
    peak_rss: u64,
}

fn vm_hwm(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs `cmd` to completion, sampling its peak RSS every few milliseconds. `VmHWM` is a
/// high-water mark, so a sample taken any time after the peak still reports it.
#[track_caller]
fn run_measured(cmd: &mut Command, discard_stdout: bool) -> Measured {
    let desc = format!("{cmd:?}");
    cmd.stdin(Stdio::null()).stderr(Stdio::piped());
    cmd.stdout(if discard_stdout {
        Stdio::null()
    } else {
        Stdio::piped()
    });
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
    let pid = child.id();
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut v);
            }
            v
        })
    };
    let out_t = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err_t = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let mut peak = 0;
    let status = loop {
        if let Some(hwm) = vm_hwm(pid) {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > CMD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("command timed out after {CMD_TIMEOUT:?}: {desc}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    Measured {
        out: CmdOutput {
            code: status.code(),
            stdout: out_t.join().unwrap(),
            stderr: err_t.join().unwrap(),
        },
        peak_rss: peak,
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

/// A daemon-written archive: a few TCP events and heartbeats, stopped cleanly, verified
/// clean. Returns the config and the segment keys it wrote.
fn daemon_archive(env: &TestEnv, stream: &str) -> (Config, Vec<String>) {
    let port = free_port();
    let mut cfg = Config::new(stream, vec![Listener::new("tcp", Transport::Tcp, port)]);
    cfg.max_age = Some("1s".to_string());
    let mut daemon = env.start(&cfg);
    let lines: String = (0..20)
        .map(|i| format!("<13>Nov 22 10:00:00 presshost press[77]: pressure event {i}\n"))
        .collect();
    send_tcp(port, lines.as_bytes());
    daemon.wait_idle();
    thread::sleep(Duration::from_millis(2500));
    daemon.stop();
    let keys = archive_files(&env.archive_dir);
    assert!(
        keys.len() >= 2 && keys.iter().all(|k| is_segment_key(k)),
        "unexpected archive: {keys:?}"
    );
    let out = env.verify(&cfg, &[]);
    assert_verify_ok(&out, "the daemon's archive before anything is added");
    (cfg, keys)
}

/// `<stream>/<yyyy>/<mm>/<dd>/` of a daemon-written key, for naming planted objects.
fn day_dir(key: &str) -> String {
    let parts: Vec<&str> = key.split('/').collect();
    parts[..4].join("/")
}

fn sparse(path: &Path, len: u64) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::File::create(path).unwrap().set_len(len).unwrap();
}

fn problems(report: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = report["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems array: {report}"))
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap_or_default().to_string(),
                p["object"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn segments_checked(report: &Value) -> u64 {
    report["streams"]
        .as_array()
        .unwrap_or_else(|| panic!("no streams array: {report}"))
        .iter()
        .map(|s| s["segments"].as_u64().unwrap_or(0))
        .sum()
}

#[test]
fn verify_streams_large_objects_with_bounded_memory() {
    let env = TestEnv::new();
    let (cfg, keys) = daemon_archive(&env, "press-big");
    let day = day_dir(&keys[0]);
    // Four 1 GiB objects (the old verifier read each into memory, eight at a time) and
    // one just over the sanity bound, which is reported without being read.
    let mut planted = Vec::new();
    for seq in 900..904u64 {
        let key = format!("{day}/{seq:012}.seg.zst");
        sparse(&env.archive_dir.join(&key), GIB);
        planted.push(("malformed".to_string(), key));
    }
    let key = format!("{day}/{:012}.seg.zst", 904);
    sparse(&env.archive_dir.join(&key), GIB + 1);
    planted.push(("too_large".to_string(), key));
    planted.sort();

    let mut cmd = Command::new(BIN);
    cmd.arg("verify")
        .arg(&env.archive_dir)
        .arg("--key")
        .arg(env.public_key(&cfg))
        .arg("--json");
    let m = run_measured(&mut cmd, false);
    eprintln!(
        "verify over {} real segments and {} sparse GiB objects: peak RSS {}",
        keys.len(),
        planted.len(),
        mib(m.peak_rss)
    );
    assert_eq!(m.out.code, Some(1), "{}", m.out.describe());
    let report = verify_json(&m.out);
    assert_eq!(problems(&report), planted, "{report}");
    assert_eq!(segments_checked(&report), keys.len() as u64, "{report}");
    assert!(
        m.peak_rss > 0 && m.peak_rss < 256 * MIB,
        "verify peaked at {} resident: memory must not grow with object size",
        mib(m.peak_rss)
    );
}

#[test]
fn verify_reports_symlink_loops_and_checks_everything_else() {
    let env = TestEnv::new();
    let stream = "press-loop";
    let (cfg, keys) = daemon_archive(&env, stream);
    let events = json_event_total(&verify_json(&env.verify(&cfg, &["--json"])));
    let year_dir = keys[0].split('/').take(2).collect::<Vec<_>>().join("/");
    let stream_dir = env.archive_dir.join(stream);
    std::os::unix::fs::symlink("loop", stream_dir.join("loop")).unwrap();
    std::os::unix::fs::symlink(".", env.archive_dir.join(&year_dir).join("again")).unwrap();
    std::os::unix::fs::symlink("nowhere", stream_dir.join("dangling")).unwrap();

    let out = env.verify(&cfg, &["--json"]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let report = verify_json(&out);
    let mut want = vec![
        ("unreadable".to_string(), format!("{stream}/loop")),
        ("unreadable".to_string(), format!("{year_dir}/again")),
        ("unreadable".to_string(), format!("{stream}/dangling")),
    ];
    want.sort();
    assert_eq!(problems(&report), want, "{report}");
    assert_eq!(segments_checked(&report), keys.len() as u64, "{report}");
    assert_eq!(json_event_total(&report), events, "{report}");
    let details: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["detail"].as_str())
        .collect();
    assert!(
        details.iter().any(|d| d.contains("symbolic links")),
        "the OS error is named: {details:?}"
    );

    // The text report names the entry too, and still ends with the summary and verdict.
    let out = env.verify(&cfg, &[]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let text = out.stdout_str();
    assert!(
        text.lines()
            .any(|l| l.starts_with(&format!("{stream}/loop: unreadable: "))),
        "{text}"
    );
    assert!(
        text.contains(&format!("stream {stream}: {} segments", keys.len())),
        "{text}"
    );
    assert!(text.contains("verdict: INVALID"), "{text}");
}

/// A segment around `frame` whose seal claims `content_len`, signed by a throwaway key
/// (`inspect` checks no signature; `verify` reports the key).
fn crafted(frame: Vec<u8>, content_len: u64) -> Vec<u8> {
    let key = SigningKey::from_bytes(&[5u8; 32]);
    let mut seal = Seal {
        version: FORMAT_VERSION,
        kind: SealKind::Normal,
        stream: "crafted".into(),
        seq: 0,
        prev_hash: [0; 32],
        period_start_ns: 0,
        period_end_ns: 1_000_000_000,
        heartbeat_ms: 60_000,
        first_event_ns: 0,
        last_event_ns: 0,
        event_count: 1,
        content_len,
        data_len: frame.len() as u64,
        data_sha256: Sha256::digest(&frame).into(),
        merkle_root: [0; 32],
        key_id: [0; 8],
        next_key: None,
        signature: [0; 64],
    };
    seal.signature = key.sign(&seal.signed_bytes()).to_bytes();
    let payload = seal.to_bytes();
    let mut obj = frame;
    obj.extend_from_slice(&SEAL_FRAME_MAGIC.to_le_bytes());
    obj.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    obj.extend_from_slice(&payload);
    obj
}

/// A zstd frame header (RFC 8878 §3.1.1) with an 8-byte frame content size and the
/// checksum flag, single-segment or with a window descriptor for `window_log`.
fn frame_header(content_size: u64, window_log: Option<u8>) -> Vec<u8> {
    let mut f = 0xFD2F_B528u32.to_le_bytes().to_vec();
    match window_log {
        None => f.push(0b1110_0100),
        Some(log) => {
            f.push(0b1100_0100);
            f.push((log - 10) << 3);
        }
    }
    f.extend_from_slice(&content_size.to_le_bytes());
    f
}

/// An RLE block: `size` copies of `byte` (RFC 8878 §3.1.1.2).
fn rle_block(f: &mut Vec<u8>, byte: u8, size: u32, last: bool) {
    let h = (size << 3) | (1 << 1) | u32::from(last);
    f.extend_from_slice(&h.to_le_bytes()[..3]);
    f.push(byte);
}

#[test]
fn inspect_refuses_crafted_lengths_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    // 1: single-segment frame claiming 1 TiB of content (its window is the content
    // size), seal agreeing: the old inspect reserved 1 TiB up front.
    let mut a = frame_header(1 << 40, None);
    rle_block(&mut a, b'A', 128 * 1024, true);
    a.extend_from_slice(&[0; 4]);
    // 2: a 1 MiB window, 6 GiB claimed by the header and the seal, 64 MiB actually
    // decoded: the old inspect reserved 6 GiB, then filled 64 MiB of it.
    let mut b = frame_header(6 * GIB, Some(20));
    for i in 0..512 {
        rle_block(&mut b, b'x', 128 * 1024, i == 511);
    }
    b.extend_from_slice(&[0; 4]);
    let cases: [(&str, Vec<u8>, u64); 2] = [("tib-window", a, 1 << 40), ("six-gib", b, 6 * GIB)];
    // Far below what either file claims, far above what streaming needs (inspect runs
    // no threads, so the limit is not eaten by per-thread stack and arena reservations).
    let limit = GIB;
    for (name, frame, content_len) in cases {
        let path: PathBuf = dir.path().join(format!("{name}.seg.zst"));
        fs::write(&path, crafted(frame, content_len)).unwrap();
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--as={limit}"))
            .arg("--")
            .arg(BIN)
            .arg("inspect")
            .arg(&path);
        let m = run_measured(&mut cmd, true);
        let err = m.out.stderr_str();
        eprintln!(
            "inspect {name}: peak RSS {}: {}",
            mib(m.peak_rss),
            err.trim()
        );
        assert_eq!(m.out.code, Some(2), "inspect {name}: {}", m.out.describe());
        assert!(
            err.starts_with("error: ") && err.contains("corrupt data frame"),
            "inspect {name}: {err}"
        );
        assert!(
            m.peak_rss < 128 * MIB,
            "inspect {name} peaked at {} resident",
            mib(m.peak_rss)
        );
        // The seal line still comes first, and --seal-only needs no decoding at all.
        let out = sealtrail(&["inspect", "--seal-only", path.to_str().unwrap()]);
        assert_eq!(out.code, Some(0), "{}", out.describe());
        let seal: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(seal["content_len"], content_len, "{seal}");
    }
}

/// An authentic segment of stream `stream` (seq 0) around `frame`, whose seal claims
/// `content_len`, signed by `key`.
fn authentic(key: &SigningKey, stream: &str, frame: Vec<u8>, content_len: u64) -> Vec<u8> {
    let mut seal = Seal {
        version: FORMAT_VERSION,
        kind: SealKind::Normal,
        stream: stream.into(),
        seq: 0,
        prev_hash: [0; 32],
        period_start_ns: 0,
        period_end_ns: 1_000_000_000,
        heartbeat_ms: 60_000,
        first_event_ns: 0,
        last_event_ns: 0,
        event_count: 0,
        content_len,
        data_len: frame.len() as u64,
        data_sha256: Sha256::digest(&frame).into(),
        merkle_root: [0; 32],
        key_id: sealtrail::keys::key_id(&key.verifying_key()),
        next_key: None,
        signature: [0; 64],
    };
    seal.signature = key.sign(&seal.signed_bytes()).to_bytes();
    let payload = seal.to_bytes();
    let mut obj = frame;
    obj.extend_from_slice(&SEAL_FRAME_MAGIC.to_le_bytes());
    obj.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    obj.extend_from_slice(&payload);
    obj
}

#[test]
fn verify_reports_content_too_large_without_decoding_it() {
    use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePublicKey};
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let key = SigningKey::from_bytes(&[5u8; 32]);
    let pub_path = dir.path().join("signing.pub");
    let pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    fs::write(&pub_path, pem).unwrap();
    // 65,536 RLE blocks of 128 KiB: a 256 KiB frame that decodes to 8 GiB.
    let bomb = |declare: bool| {
        let mut f = if declare {
            frame_header(8 * GIB, Some(17))
        } else {
            // Checksum flag, window descriptor 2^17, no content size.
            let mut f = 0xFD2F_B528u32.to_le_bytes().to_vec();
            f.extend_from_slice(&[0b0000_0100, (17 - 10) << 3]);
            f
        };
        for i in 0..65_536 {
            rle_block(&mut f, b'x', 128 * 1024, i == 65_535);
        }
        f.extend_from_slice(&[0; 4]);
        f
    };
    let small = zstd::bulk::compress(b"a\n", 1).unwrap();
    let objects = [
        // The seal claims 2 GiB over a 2-byte content.
        (
            "claims",
            authentic(&key, "claims", small, 2 * GIB),
            "content_too_large",
        ),
        // The frame says 8 GiB, the seal 100 bytes.
        (
            "bomb",
            authentic(&key, "bomb", bomb(true), 100),
            "content_too_large",
        ),
        // Without the size in the header: decoding stops past the sealed 100 bytes.
        (
            "streamed",
            authentic(&key, "streamed", bomb(false), 100),
            "count_mismatch",
        ),
    ];
    let mut want = Vec::new();
    for (stream, bytes, kind) in objects {
        let key = format!("{stream}/1970/01/01/000000000000.seg.zst");
        let path = archive.join(&key);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        want.push((kind.to_string(), key));
    }
    want.sort();
    let mut cmd = Command::new(BIN);
    cmd.arg("verify")
        .arg(&archive)
        .arg("--key")
        .arg(&pub_path)
        .arg("--json");
    let m = run_measured(&mut cmd, false);
    eprintln!(
        "verify over 2 GiB and 8 GiB claims: peak RSS {}",
        mib(m.peak_rss)
    );
    assert_eq!(m.out.code, Some(1), "{}", m.out.describe());
    let report = verify_json(&m.out);
    assert_eq!(problems(&report), want, "{report}");
    let details: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["detail"].as_str())
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("seal says 2147483648 bytes of content")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("data frame header declares 8589934592 bytes")),
        "{details:?}"
    );
    assert!(
        m.peak_rss > 0 && m.peak_rss < 128 * MIB,
        "verify peaked at {} resident",
        mib(m.peak_rss)
    );
    // `verify --help` states the cap.
    let help = sealtrail(&["verify", "--help"]).stdout_str();
    assert!(
        help.contains("larger than 1 GiB decompressed") && help.contains("content_too_large"),
        "{help}"
    );
}
