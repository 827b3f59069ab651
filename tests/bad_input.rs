//! Bad input never stops ingestion and is never silently dropped (contract 4), and bad
//! configuration is refused with exit 78 naming the key and line (DESIGN 8).

mod common;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::Command;

use common::*;

const MAX: usize = 65_536;
const SMALL: usize = 1_024;

/// What one bad (or good) input must turn into.
struct Expect {
    what: &'static str,
    /// Unique text inside the input; finds its event.
    needle: String,
    listener: &'static str,
    /// Tags the event must carry.
    tags: Vec<&'static str>,
    /// At least one of these tags (for inputs with more than one right reading).
    any_tag: Vec<&'static str>,
    /// No bad-input tag at all (a normal message).
    clean: bool,
    /// The exact original bytes, when they are known.
    original: Option<Vec<u8>>,
}

impl Expect {
    fn new(what: &'static str, needle: &str, listener: &'static str) -> Self {
        Expect {
            what,
            needle: needle.to_string(),
            listener,
            tags: Vec::new(),
            any_tag: Vec::new(),
            clean: false,
            original: None,
        }
    }
    fn tag(mut self, t: &'static str) -> Self {
        self.tags.push(t);
        self
    }
    fn any_tag(mut self, t: &[&'static str]) -> Self {
        self.any_tag = t.to_vec();
        self
    }
    fn clean(mut self) -> Self {
        self.clean = true;
        self
    }
    fn original(mut self, b: &[u8]) -> Self {
        self.original = Some(b.to_vec());
        self
    }
}

fn good(m: &str, label: &str) -> (String, Vec<u8>) {
    let needle = format!("{label}-{m}");
    let line = format!("<13>Nov 22 10:00:00 goodhost goodapp[1]: normal message {needle}");
    (needle, line.into_bytes())
}

/// Sends raw bytes on one connection, half-closes and waits for the daemon to close.
fn tcp(port: u16, data: &[u8]) {
    send_tcp(port, data);
}

#[test]
fn bad_input_is_kept_flagged_and_ingestion_continues() {
    let env = TestEnv::new();
    let port = free_port();
    let small_port = free_port();
    let cfg = Config::new(
        "bad-input-host",
        vec![
            Listener::new("tcp", Transport::Tcp, port).max_message_bytes(MAX),
            Listener::new("udp", Transport::Udp, port).max_message_bytes(MAX),
            Listener::new("udp-small", Transport::Udp, small_port).max_message_bytes(SMALL),
        ],
    );
    let m = marker("bad");
    let mut expect: Vec<Expect> = Vec::new();
    let mut daemon = env.start(&cfg);

    // ---------------- TCP ----------------
    // Garbage: control bytes, no PRI, valid UTF-8.
    let needle = format!("garbage-tcp-{m}");
    let body = format!("\u{0}\u{1}\u{2}\u{3}\u{1b}[31m%%%% {needle} \u{7f}");
    tcp(port, format!("{body}\n").as_bytes());
    expect.push(
        Expect::new("tcp garbage", &needle, "tcp")
            .tag("_parse_failure")
            .original(body.as_bytes()),
    );

    // Invalid UTF-8 inside an otherwise fine message.
    let needle = format!("badutf8-tcp-{m}");
    let mut body = format!("<13>Nov 22 10:00:00 host badutf: {needle} caf").into_bytes();
    body.extend_from_slice(b"\xe9 \xff\xfe end");
    let mut data = body.clone();
    data.push(b'\n');
    tcp(port, &data);
    expect.push(
        Expect::new("tcp invalid UTF-8", &needle, "tcp")
            .tag("_invalid_utf8")
            .original(&body),
    );

    // A 1 MiB line, then a normal message on the same connection.
    let needle = format!("huge-line-tcp-{m}");
    let mut big = format!("<13>Nov 22 10:00:00 host big: {needle} ").into_bytes();
    big.resize(1024 * 1024, b'A');
    let (after_needle, after) = good(&m, "following-the-big-one-tcp");
    let mut data = big.clone();
    data.push(b'\n');
    data.extend_from_slice(&after);
    data.push(b'\n');
    tcp(port, &data);
    expect.push(
        Expect::new("tcp 1 MiB line", &needle, "tcp")
            .tag("_truncated")
            .original(&big[..MAX]),
    );
    expect.push(
        Expect::new(
            "tcp normal message after the 1 MiB line",
            &after_needle,
            "tcp",
        )
        .clean()
        .original(&after),
    );

    // An octet count larger than the data, then close.
    let needle = format!("short-frame-tcp-{m}");
    tcp(
        port,
        format!("500 <13>Nov 22 10:00:00 host short: {needle}").as_bytes(),
    );
    expect
        .push(Expect::new("tcp octet count > data, then close", &needle, "tcp").tag("_incomplete"));

    // A complete octet-counted frame, then a frame cut off by the close.
    let (ok_needle, ok_frame) = good(&m, "octet-ok-tcp");
    let cut_needle = format!("octet-cut-tcp-{m}");
    let cut = format!("<13>Nov 22 10:00:00 host cut: {cut_needle} and the rest never comes");
    let mut data = format!("{} ", ok_frame.len()).into_bytes();
    data.extend_from_slice(&ok_frame);
    data.extend_from_slice(format!("{} ", cut.len() + 40).as_bytes());
    data.extend_from_slice(cut.as_bytes());
    tcp(port, &data);
    expect.push(
        Expect::new(
            "tcp octet-counted frame before a cut one",
            &ok_needle,
            "tcp",
        )
        .clean()
        .original(&ok_frame),
    );
    expect.push(
        Expect::new("tcp octet-counted frame cut by close", &cut_needle, "tcp").tag("_incomplete"),
    );

    // LF framing: the connection closes in the middle of a line. Either reading (a final
    // unterminated line, or an incomplete one) is right; dropping it is not.
    let needle = format!("lf-cut-tcp-{m}");
    tcp(
        port,
        format!("<13>Nov 22 10:00:00 host lfcut: {needle} no newline at the end").as_bytes(),
    );
    expect.push(Expect::new("tcp LF line cut by close", &needle, "tcp"));

    // An octet count that overflows u64.
    let needle = format!("huge-count-tcp-{m}");
    tcp(
        port,
        format!("99999999999999999999 <13>x {needle}\n").as_bytes(),
    );
    expect.push(
        Expect::new("tcp 20-digit octet count", &needle, "tcp").any_tag(&[
            "_parse_failure",
            "_truncated",
            "_incomplete",
        ]),
    );

    // A line without PRI.
    let needle = format!("no-pri-tcp-{m}");
    let body = format!("just a line without any pri {needle}");
    tcp(port, format!("{body}\n").as_bytes());
    expect.push(
        Expect::new("tcp line without PRI", &needle, "tcp")
            .tag("_parse_failure")
            .original(body.as_bytes()),
    );

    // The daemon still serves TCP after all of the above.
    let (needle, msg) = good(&m, "normal-tcp");
    let mut data = msg.clone();
    data.push(b'\n');
    tcp(port, &data);
    expect.push(
        Expect::new("tcp normal message at the end", &needle, "tcp")
            .clean()
            .original(&msg),
    );

    // ---------------- UDP ----------------
    let needle = format!("garbage-udp-{m}");
    let body = format!("\u{0}\u{1}\u{2}\u{3}\u{1b}[31m%%%% {needle} \u{7f}");
    send_udp(port, body.as_bytes());
    expect.push(
        Expect::new("udp garbage", &needle, "udp")
            .tag("_parse_failure")
            .original(body.as_bytes()),
    );

    let needle = format!("badutf8-udp-{m}");
    let mut body = format!("<13>Nov 22 10:00:00 host badutf: {needle} caf").into_bytes();
    body.extend_from_slice(b"\xe9 \xff\xfe end");
    send_udp(port, &body);
    expect.push(
        Expect::new("udp invalid UTF-8", &needle, "udp")
            .tag("_invalid_utf8")
            .original(&body),
    );

    let needle = format!("huge-count-udp-{m}");
    let body = format!("99999999999999999999 <13>x {needle}");
    send_udp(port, body.as_bytes());
    expect.push(
        Expect::new("udp 20-digit number before PRI", &needle, "udp")
            .tag("_parse_failure")
            .original(body.as_bytes()),
    );

    let needle = format!("no-pri-udp-{m}");
    let body = format!("just a datagram without any pri {needle}");
    send_udp(port, body.as_bytes());
    expect.push(
        Expect::new("udp datagram without PRI", &needle, "udp")
            .tag("_parse_failure")
            .original(body.as_bytes()),
    );

    let needle = format!("big-udp-{m}");
    let mut big = format!("<13>Nov 22 10:00:00 host big: {needle} ").into_bytes();
    big.resize(4 * SMALL, b'B');
    send_udp(small_port, &big);
    expect.push(
        Expect::new("udp datagram over max_message_bytes", &needle, "udp-small")
            .tag("_truncated")
            .original(&big[..SMALL]),
    );

    let (needle, msg) = good(&m, "normal-udp");
    send_udp(port, &msg);
    expect.push(
        Expect::new("udp normal message at the end", &needle, "udp")
            .clean()
            .original(&msg),
    );
    let (needle, msg) = good(&m, "normal-udp-small");
    send_udp(small_port, &msg);
    expect.push(
        Expect::new("udp-small normal message at the end", &needle, "udp-small")
            .clean()
            .original(&msg),
    );

    daemon.wait_idle();
    let stopped = daemon.stop();

    let out = env.verify(&cfg, &["--until", &stopped.until]);
    assert_verify_ok(&out, "after bad input");

    for a in &expect {
        for b in &expect {
            assert!(
                std::ptr::eq(a, b) || !a.needle.contains(&b.needle),
                "test bug: needle {:?} contains {:?}",
                a.needle,
                b.needle
            );
        }
    }
    let events = all_events(&read_archive(&env.archive_dir));
    for e in &expect {
        let hits = events_with(&events, &e.needle);
        assert_eq!(
            hits.len(),
            1,
            "{}: expected exactly one event containing {:?}, found {}: {:#?}",
            e.what,
            e.needle,
            hits.len(),
            hits.iter().map(|v| brief(v)).collect::<Vec<_>>()
        );
        let ev = hits[0];
        for t in &e.tags {
            assert!(has_tag(ev, t), "{}: missing tag {t}: {}", e.what, brief(ev));
        }
        if !e.any_tag.is_empty() {
            assert!(
                e.any_tag.iter().any(|t| has_tag(ev, t)),
                "{}: expected one of {:?}: {}",
                e.what,
                e.any_tag,
                brief(ev)
            );
        }
        if e.clean {
            for t in BAD_TAGS {
                assert!(
                    !has_tag(ev, t),
                    "{}: good input tagged {t}: {}",
                    e.what,
                    brief(ev)
                );
            }
        }
        if let Some(orig) = &e.original {
            let got = original_bytes(ev);
            assert!(
                &got == orig,
                "{}: original is {} bytes {:?}…, sent {} bytes {:?}…",
                e.what,
                got.len(),
                String::from_utf8_lossy(&got[..got.len().min(80)]),
                orig.len(),
                String::from_utf8_lossy(&orig[..orig.len().min(80)])
            );
            if std::str::from_utf8(orig).is_err() {
                assert!(
                    field_str(ev, "sealtrail.original_base64").is_some(),
                    "{}: non-UTF-8 input needs sealtrail.original_base64: {}",
                    e.what,
                    brief(ev)
                );
            } else {
                assert_eq!(
                    field_str(ev, "event.original").map(str::as_bytes),
                    Some(&orig[..]),
                    "{}: event.original must be the input verbatim",
                    e.what
                );
            }
        }
        assert_eq!(
            field_str(ev, "observer.ingress.name"),
            Some(e.listener),
            "{}: listener: {}",
            e.what,
            brief(ev)
        );
    }
    let unexpected: Vec<String> = events
        .iter()
        .filter(|ev| {
            !expect
                .iter()
                .any(|e| contains(&original_bytes(ev), e.needle.as_bytes()))
        })
        .map(brief)
        .collect();
    assert!(
        unexpected.is_empty(),
        "events that match no input (e.g. the rest of a truncated line split into new events): {unexpected:#?}"
    );
}

/// A slow writer must not block other connections, and a half-sent frame on one
/// connection must not swallow another connection's messages.
#[test]
fn a_stalled_half_frame_does_not_block_other_connections() {
    let env = TestEnv::new();
    let port = free_port();
    let cfg = Config::new(
        "stall-host",
        vec![Listener::new("tcp", Transport::Tcp, port).max_message_bytes(MAX)],
    );
    let m = marker("stall");
    let mut daemon = env.start(&cfg);

    let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let stalled_needle = format!("stalled-{m}");
    stalled
        .write_all(format!("<13>Nov 22 10:00:00 host slow: {stalled_needle} first half").as_bytes())
        .unwrap();
    stalled.flush().unwrap();

    let (needle, msg) = good(&m, "other-connection");
    let mut data = msg.clone();
    data.push(b'\n');
    send_tcp(port, &data);

    stalled.write_all(b" and second half\n").unwrap();
    stalled.shutdown(Shutdown::Write).unwrap();
    wait_server_close(stalled);
    daemon.wait_idle();
    let stopped = daemon.stop();

    assert_verify_ok(
        &env.verify(&cfg, &["--until", &stopped.until]),
        "after a stall",
    );
    let events = all_events(&read_archive(&env.archive_dir));
    let other = events_with(&events, &needle);
    assert_eq!(other.len(), 1, "other connection's message: {events:#?}");
    assert_eq!(original_bytes(other[0]), msg);
    let joined = events_with(&events, &stalled_needle);
    assert_eq!(joined.len(), 1, "stalled message: {events:#?}");
    assert_eq!(
        original_bytes(joined[0]),
        format!("<13>Nov 22 10:00:00 host slow: {stalled_needle} first half and second half")
            .into_bytes(),
        "the two halves of one line must form one event"
    );
    assert_eq!(events.len(), 2, "{events:#?}");
}

// ---------------------------------------------------------------------------------------
// Configuration errors

/// True if `text` points at line `n` in one of the usual ways.
fn names_line(text: &str, n: usize) -> bool {
    let t = text.to_lowercase();
    [
        format!("line {n}"),
        format!("line={n}"),
        format!("line: {n}"),
        format!(":{n}:"),
    ]
    .iter()
    .any(|p| t.contains(p.as_str()))
}

fn check_config(path: &Path) -> CmdOutput {
    run_cmd(
        Command::new(BIN)
            .arg("check-config")
            .arg("--config")
            .arg(path),
        CMD_TIMEOUT,
    )
}

/// Writes `toml` and returns its path.
fn write(env: &TestEnv, name: &str, toml: &str) -> std::path::PathBuf {
    let p = env.path().join(name);
    std::fs::write(&p, toml).unwrap();
    p
}

/// The 1-based number of the first line of `toml` that contains `needle`.
fn line_of(toml: &str, needle: &str) -> usize {
    toml.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn good_config_passes_check_config() {
    let env = TestEnv::new();
    let cfg = Config::new(
        "cfg-host",
        vec![Listener::new("tcp", Transport::Tcp, free_port())],
    );
    let p = write(&env, "good.toml", &env.config_toml(&cfg));
    let out = check_config(&p);
    assert_eq!(out.code, Some(0), "a valid config: {}", out.describe());
}

#[test]
fn unknown_key_is_refused_with_key_and_line() {
    let env = TestEnv::new();
    let cfg = Config::new(
        "cfg-host",
        vec![Listener::new("tcp", Transport::Tcp, free_port())],
    );
    let good = env.config_toml(&cfg);
    // Put the unknown key inside [seal], well below the top of the file.
    let toml = good.replacen("[seal]\n", "[seal]\nmax_agee = \"5s\"\n", 1);
    assert_ne!(toml, good);
    let line = line_of(&toml, "max_agee");
    let p = write(&env, "unknown-key.toml", &toml);

    let out = check_config(&p);
    assert_eq!(out.code, Some(78), "unknown key: {}", out.describe());
    let err = out.stderr_str();
    assert!(err.contains("max_agee"), "stderr must name the key: {err}");
    assert!(
        names_line(&err, line),
        "stderr must name line {line}: {err}"
    );

    // `run` refuses the same file the same way, without starting.
    let out = run_cmd(
        Command::new(BIN).arg("run").arg("--config").arg(&p),
        CMD_TIMEOUT,
    );
    assert_eq!(
        out.code,
        Some(78),
        "run with a bad config: {}",
        out.describe()
    );
}

#[test]
fn bad_address_is_refused_with_key_and_line() {
    let env = TestEnv::new();
    let port = free_port();
    let cfg = Config::new(
        "cfg-host",
        vec![
            Listener::new("udp", Transport::Udp, port),
            Listener::new("tcp", Transport::Tcp, port),
        ],
    );
    let good = env.config_toml(&cfg);
    let tcp_addr = format!("address = \"127.0.0.1:{port}\"\n");
    // Break the second listener's address, so the line is not the first [[syslog]].
    let idx = good.rfind(&tcp_addr).unwrap();
    let toml = format!(
        "{}address = \"127.0.0.1:notaport\"\n{}",
        &good[..idx],
        &good[idx + tcp_addr.len()..]
    );
    let line = line_of(&toml, "notaport");
    let p = write(&env, "bad-address.toml", &toml);

    let out = check_config(&p);
    assert_eq!(out.code, Some(78), "bad address: {}", out.describe());
    let err = out.stderr_str();
    assert!(err.contains("address"), "stderr must name the key: {err}");
    assert!(
        names_line(&err, line),
        "stderr must name line {line}: {err}"
    );
}

#[test]
fn missing_config_file_is_an_error_that_names_the_file() {
    let env = TestEnv::new();
    let p = env.path().join("does-not-exist.toml");
    let out = check_config(&p);
    assert!(
        matches!(out.code, Some(c) if c != 0),
        "missing config must fail: {}",
        out.describe()
    );
    assert!(
        out.stderr_str().contains("does-not-exist.toml"),
        "the message must name the missing file: {}",
        out.describe()
    );
}
