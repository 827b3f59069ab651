//! The local syslog socket (`transport = "unix"`) against real local senders:
//! util-linux `logger -u`, `logger --socket-errors=on` (which must fail when nobody
//! listens), Python's `syslog` module (glibc `syslog(3)`, which only ever writes to
//! `/dev/log`: it runs in a mount namespace of its own with our socket bound over
//! `/dev/log`) and Python's `logging.handlers.SysLogHandler`. Every line is sealed
//! with the sender's real pid, uid and gid as the kernel reported them, and the
//! hostname-less `/dev/log` form gets the local host name. These tests run as root
//! (tests/run.sh): a mount namespace needs it.

mod common;

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

use common::{
    field_str, field_u64, has_tag, run_cmd, sealtrail, toml_str, CmdOutput, Config, TestEnv,
    CMD_TIMEOUT,
};
use serde_json::Value;

/// A config whose only source is a unix socket listener named `local` at `path`.
fn unix_config(stream: &str, path: &Path, extra: &str) -> Config {
    let mut cfg = Config::new(stream, Vec::new());
    cfg.extra_toml = format!(
        "\n[[syslog]]\nname = \"local\"\ntransport = \"unix\"\npath = {}\ntimezone = \"UTC\"\n{extra}",
        toml_str(&path.to_string_lossy())
    );
    cfg
}

/// The kernel's host name: what the daemon takes for `host.name`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

fn own_gid() -> u64 {
    u64::from(std::fs::metadata("/proc/self").unwrap().gid())
}

/// Runs `cmd` with `stdin`, returning the pid it ran as and its output.
#[track_caller]
fn run_pid(cmd: &mut Command, stdin: &[u8]) -> (u32, CmdOutput) {
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
    let pid = child.id();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(child.wait_with_output()));
    let Ok(out) = rx.recv_timeout(CMD_TIMEOUT) else {
        common::signal(pid, "KILL");
        panic!("timed out: {desc}");
    };
    let out = out.unwrap();
    let out = CmdOutput {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: out.stderr,
    };
    (pid, out)
}

/// Runs a Python program; returns the pid it prints first (the sending process).
#[track_caller]
fn python_pid(cmd: &mut Command) -> u32 {
    let out = run_cmd(cmd, CMD_TIMEOUT);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    out.stdout_str()
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid printed: {}", out.describe()))
}

/// The one sealed event whose original contains `needle`.
#[track_caller]
fn one<'a>(events: &'a [Value], needle: &str) -> &'a Value {
    let found = common::events_with(events, needle);
    assert_eq!(found.len(), 1, "{needle}: {found:?}");
    found[0]
}

/// The event came from process `pid` as root, through the listener `local`.
#[track_caller]
fn assert_sender(e: &Value, pid: u32) {
    assert_eq!(
        field_u64(e, "sealtrail.peer.pid"),
        Some(u64::from(pid)),
        "{e}"
    );
    assert_eq!(field_u64(e, "sealtrail.peer.uid"), Some(0), "{e}");
    assert_eq!(field_u64(e, "sealtrail.peer.gid"), Some(own_gid()), "{e}");
    assert_eq!(field_str(e, "observer.ingress.name"), Some("local"), "{e}");
    assert!(field_str(e, "log.source.address").is_none(), "{e}");
}

#[test]
fn local_senders_reach_the_archive_with_their_credentials_and_the_host_name() {
    assert_eq!(common::uid(), 0, "these tests run as root (tests/run.sh)");
    let env = TestEnv::new();
    // The directory does not exist yet: the listener makes it.
    let sock = env.path().join("run/sealtrail/dev-log");
    let cfg = unix_config("unix-src", &sock, "mode = \"0622\"\ngroup = \"root\"\n");
    let mut d = env.start(&cfg);
    d.wait_log("listening on the unix socket", 1);
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o622);
    assert_eq!(meta.gid(), 0);

    // logger -u: several lines from one process on stdin, a long one among them
    // (logger cuts at --size, 1 KiB by default), and one in other scripts.
    let long = format!("long {}", "x".repeat(5000));
    let unicode = "grüße ✓ 日本語 🦀";
    let (logger_pid, out) = run_pid(
        Command::new("logger").arg("-u").arg(&sock).args([
            "--size",
            "8192",
            "-t",
            "ltag",
            "-p",
            "auth.notice",
        ]),
        format!("first line\n{long}\n{unicode}\n").as_bytes(),
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());

    // --socket-errors=on: an error to send would be reported; here there is none.
    let (errors_pid, out) = run_pid(
        Command::new("logger")
            .args(["--socket-errors=on", "-u"])
            .arg(&sock)
            .args(["-t", "etag", "--id=4711", "with socket errors on"]),
        b"",
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());

    // Python's syslog module is glibc's syslog(3): /dev/log and nothing else. A mount
    // namespace with a tmpfs /dev (so it works with or without a /dev/log) gets our
    // socket bound over /dev/log.
    let script = "import os, syslog; print(os.getpid(), flush=True); \
        syslog.openlog('pysyslog', syslog.LOG_PID, syslog.LOG_DAEMON); \
        syslog.syslog(syslog.LOG_WARNING, 'from the syslog module \u{2713}')";
    let syslog_pid = python_pid(Command::new("unshare").args(["--mount", "sh", "-c",
        "mount -t tmpfs -o mode=0755 tmpfs /dev && touch /dev/log && mount --bind \"$0\" /dev/log && exec python3 -c \"$1\""])
        .arg(&sock)
        .arg(script));
    assert!(
        std::fs::symlink_metadata("/dev/log").map_or(true, |m| !m.is_file()),
        "the namespace's /dev stayed in it"
    );

    // logging.handlers.SysLogHandler: a PRI, the formatter's text and a trailing NUL.
    let handler = format!(
        "import logging, logging.handlers, os\n\
         print(os.getpid(), flush=True)\n\
         h = logging.handlers.SysLogHandler(address={path:?})\n\
         h.setFormatter(logging.Formatter('pyhandler[%(process)d]: %(message)s'))\n\
         log = logging.getLogger('t')\n\
         log.addHandler(h)\n\
         log.warning('from the handler \u{2713}')\n\
         h.close()\n",
        path = sock.to_string_lossy()
    );
    let handler_pid = python_pid(Command::new("python3").arg("-c").arg(&handler));

    let stopped = d.stop();
    assert!(
        std::fs::symlink_metadata(&sock).is_err(),
        "a clean shutdown removes the socket file"
    );
    let events = common::all_events(&common::read_archive(&env.archive_dir));
    let host = host_name();

    for (needle, message) in [
        ("first line", "first line"),
        (long.as_str(), long.as_str()),
        (unicode, unicode),
    ] {
        let e = one(&events, needle);
        assert_sender(e, logger_pid);
        assert_eq!(field_str(e, "message"), Some(message), "{e}");
        assert_eq!(field_str(e, "process.name"), Some("ltag"), "{e}");
        assert_eq!(field_str(e, "host.name"), Some(host.as_str()), "{e}");
        assert_eq!(
            field_str(e, "log.syslog.facility.name"),
            Some("auth"),
            "{e}"
        );
        assert!(
            !has_tag(e, "_truncated") && !has_tag(e, "_parse_failure"),
            "{e}"
        );
    }

    let e = one(&events, "with socket errors on");
    assert_sender(e, errors_pid);
    assert_eq!(field_str(e, "process.name"), Some("etag"));
    // The pid the text claims is kept apart from the one the kernel reported.
    assert_eq!(field_u64(e, "process.pid"), Some(4711), "{e}");
    assert_eq!(field_str(e, "host.name"), Some(host.as_str()));

    let e = one(&events, "from the syslog module \u{2713}");
    assert_sender(e, syslog_pid);
    assert_eq!(field_str(e, "process.name"), Some("pysyslog"), "{e}");
    assert_eq!(field_u64(e, "process.pid"), Some(u64::from(syslog_pid)));
    assert_eq!(field_str(e, "log.syslog.facility.name"), Some("daemon"));
    assert_eq!(field_str(e, "host.name"), Some(host.as_str()));

    let e = one(&events, "from the handler \u{2713}");
    assert_sender(e, handler_pid);
    assert_eq!(
        field_str(e, "event.original"),
        Some(format!("<12>pyhandler[{handler_pid}]: from the handler \u{2713}").as_str()),
        "the NUL Python appends is its line end, not the message's"
    );
    assert_eq!(field_str(e, "process.name"), Some("pyhandler"), "{e}");
    assert_eq!(field_str(e, "host.name"), Some(host.as_str()));

    common::assert_verify_ok(
        &env.verify(&cfg, &["--until", &stopped.until]),
        "archive of a unix socket listener",
    );

    // Nobody listens any more: --socket-errors=on is for exactly this, an error and a
    // non-zero exit, for a removed socket and for a stale one.
    let stale = env.path().join("stale.sock");
    drop(std::os::unix::net::UnixDatagram::bind(&stale).unwrap());
    for path in [&sock, &stale] {
        let out = run_cmd(
            Command::new("logger")
                .args(["--socket-errors=on", "-u"])
                .arg(path)
                .arg("into the void"),
            CMD_TIMEOUT,
        );
        assert_ne!(out.code, Some(0), "{}", out.describe());
        assert!(
            out.stderr_str().contains(&*path.to_string_lossy()),
            "{}",
            out.describe()
        );
    }
}

#[test]
fn a_stale_socket_is_replaced_and_anything_else_at_the_path_refused() {
    let env = TestEnv::new();
    let sock = env.path().join("dev-log");
    // A crash leaves the socket file behind: the next start replaces it.
    drop(std::os::unix::net::UnixDatagram::bind(&sock).unwrap());
    let cfg = unix_config("unix-stale", &sock, "");
    let mut d = env.start(&cfg);
    d.wait_log("listening on the unix socket", 1);
    let out = run_cmd(
        Command::new("logger")
            .args(["--socket-errors=on", "-u"])
            .arg(&sock)
            .args(["-t", "after", "after the crash"]),
        CMD_TIMEOUT,
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    d.stop();
    let events = common::all_events(&common::read_archive(&env.archive_dir));
    assert_eq!(
        field_str(one(&events, "after the crash"), "process.name"),
        Some("after")
    );

    // A regular file there is somebody's: refused, named, and left as it is.
    let file = env.path().join("not-a-socket");
    std::fs::write(&file, b"keep me").unwrap();
    let out = env.run_to_exit(&unix_config("unix-stale", &file, ""));
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let text = out.stderr_str();
    assert!(
        text.contains(&*file.to_string_lossy()) && text.contains("a regular file"),
        "{text}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
}

#[test]
fn unix_socket_mistakes_are_configuration_errors_naming_the_key() {
    let env = TestEnv::new();
    let sock: PathBuf = env.path().join("dev-log");
    let good = env.config_toml(&unix_config("unix-cfg", &sock, ""));
    let path_line = format!("path = {}\n", toml_str(&sock.to_string_lossy()));
    assert!(good.contains(&path_line));
    for (what, text, key) in [
        (
            "missing path",
            good.replace(&path_line, ""),
            "syslog[0].path",
        ),
        (
            "mode not octal",
            good.replace(&path_line, &format!("{path_line}mode = \"0868\"\n")),
            "syslog[0].mode",
        ),
        (
            "mode as a decimal integer",
            good.replace(&path_line, &format!("{path_line}mode = 666\n")),
            "syslog[0].mode",
        ),
        (
            "unknown group",
            good.replace(
                &path_line,
                &format!("{path_line}group = \"no-such-group-here\"\n"),
            ),
            "syslog[0].group",
        ),
        (
            "an address on a unix socket",
            good.replace(
                &path_line,
                &format!("{path_line}address = \"127.0.0.1:514\"\n"),
            ),
            "syslog[0].address",
        ),
    ] {
        std::fs::write(&env.config_path, &text).unwrap();
        let p = env.config_path.to_str().unwrap();
        let out = sealtrail(&["check-config", "--config", p]);
        assert_eq!(out.code, Some(78), "{what}: {}", out.describe());
        assert!(out.stderr_str().contains(key), "{what}: {}", out.describe());
        let run = run_cmd(
            Command::new(common::BIN).args(["run", "--config", p]),
            CMD_TIMEOUT,
        );
        assert_eq!(run.code, Some(78), "{what}: run: {}", run.describe());
        assert!(
            run.stderr_str().contains(key),
            "{what}: run: {}",
            run.describe()
        );
        assert!(
            std::fs::symlink_metadata(&sock).is_err(),
            "{what}: nothing was bound"
        );
    }
    std::fs::write(&env.config_path, &good).unwrap();
    let out = sealtrail(&[
        "check-config",
        "--config",
        env.config_path.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
}
