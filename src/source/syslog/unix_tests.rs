use super::*;
use crate::source::syslog::test_util::*;
use crate::source::syslog::Transport;
use std::os::unix::net::UnixDatagram as StdDatagram;
use std::sync::atomic::Ordering;

/// A unix listener running in the background with a real journal.
struct Running {
    path: PathBuf,
    journal: Journal,
    stats: Arc<SourceStats>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), SourceError>>,
}

impl Running {
    async fn stop(self) -> Arc<SourceStats> {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
        self.stats
    }
}

fn start(path: &Path, max: usize) -> Running {
    let listener = bind(path, DEFAULT_MODE, None).unwrap();
    let journal = test_journal();
    let stats = Arc::new(SourceStats::default());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_unix(
        listener,
        spec(Transport::Unix, max),
        journal.clone(),
        stats.clone(),
        shutdown.clone(),
    ));
    Running {
        path: path.to_path_buf(),
        journal,
        stats,
        shutdown,
        task,
    }
}

fn own_cred() -> PeerCred {
    PeerCred {
        pid: std::process::id(),
        uid: rustix::process::getuid().as_raw(),
        gid: rustix::process::getgid().as_raw(),
    }
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

#[tokio::test]
async fn datagrams_reach_the_journal_with_the_senders_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(&dir.path().join("log.sock"), 10);
    let client = StdDatagram::unbound().unwrap();
    let sent: [&[u8]; 11] = [
        b"<13>one\n",
        b"<13>two\r\n",
        b"<13>nul\0",
        b"<13>lf+nul\n\0",
        b"<13>x\ny",
        b"",
        b"\n",
        b"\0",
        b"<13>456789\n",
        b"<13>0123456789abc",
        b"<13>a\0b",
    ];
    for d in sent {
        client.send_to(d, &r.path).unwrap();
    }
    let got = wait_for(&r.journal, 8).await;
    assert_eq!(
        raw_and_flags(&got),
        vec![
            (&b"<13>one"[..], E),
            (b"<13>two", E),
            (b"<13>nul", E),
            (b"<13>lf+nul", E),
            (b"<13>x\ny", E),
            // Exactly the maximum once its line end is gone: whole.
            (b"<13>456789", E),
            (b"<13>012345", T),
            // A NUL inside the message is data.
            (b"<13>a\0b", E),
        ]
    );
    for g in &got {
        assert_eq!(g.listener, 3);
        assert_eq!(g.peer, None, "a unix socket has no network peer");
        assert_eq!(g.cred, Some(own_cred()));
    }
    assert_recent(&got);
    let stats = r.stop().await;
    assert_eq!(stats.received_events.load(Ordering::Relaxed), 8);
    assert_eq!(stats.truncated.load(Ordering::Relaxed), 1);
    let bytes: usize = sent.iter().map(|d| d.len()).sum();
    assert_eq!(stats.received_bytes.load(Ordering::Relaxed), bytes as u64);
}

#[tokio::test]
async fn another_process_is_known_by_its_own_pid() {
    // logger (util-linux) is a real sender in a process of its own: the pid the kernel
    // reports is its, not ours.
    let dir = tempfile::tempdir().unwrap();
    let r = start(&dir.path().join("log.sock"), 1024);
    let mut child = std::process::Command::new("logger")
        .arg("-u")
        .arg(&r.path)
        .args(["--socket-errors=on", "-t", "unit", "from logger"])
        .spawn()
        .expect("logger (util-linux) runs; tests/run.sh installs it");
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    let got = wait_for(&r.journal, 1).await;
    assert_eq!(got.len(), 1);
    assert!(got[0].raw.ends_with(b" unit: from logger"), "{:?}", got[0]);
    let cred = got[0].cred.unwrap();
    assert_eq!(cred.pid, pid);
    assert_ne!(cred.pid, std::process::id());
    assert_eq!((cred.uid, cred.gid), (own_cred().uid, own_cred().gid));
    r.stop().await;
}

#[tokio::test]
async fn a_datagram_longer_than_the_buffer_is_kept_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(&dir.path().join("log.sock"), 480);
    let client = StdDatagram::unbound().unwrap();
    let long = vec![b'x'; 5000];
    client.send_to(&long, &r.path).unwrap();
    // 480 bytes and a line end fit; the kernel cuts anything longer.
    let mut edge = vec![b'y'; 480];
    edge.extend_from_slice(b"\r\n\0");
    client.send_to(&edge, &r.path).unwrap();
    let got = wait_for(&r.journal, 2).await;
    assert_eq!(
        raw_and_flags(&got),
        vec![(&long[..480], T), (&edge[..480], E)]
    );
    let stats = r.stop().await;
    assert_eq!(
        stats.received_bytes.load(Ordering::Relaxed),
        5000 + 483,
        "the whole length is counted"
    );
}

#[tokio::test]
async fn shutdown_removes_the_socket_then_drains_what_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sock");
    let listener = bind(&path, DEFAULT_MODE, None).unwrap();
    // Queued in the kernel before the listener ever runs, as many as the queue takes
    // (`net.unix.max_dgram_qlen`).
    let client = StdDatagram::unbound().unwrap();
    client.set_nonblocking(true).unwrap();
    let mut sent = 0;
    while sent < 200 {
        match client.send_to(format!("<13>msg {sent}").as_bytes(), &path) {
            Ok(_) => sent += 1,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(sent >= 5, "only {sent} datagrams queued");
    let journal = test_journal();
    let shutdown = CancellationToken::new();
    shutdown.cancel();
    run_unix(
        listener,
        spec(Transport::Unix, 1024),
        journal.clone(),
        Arc::new(SourceStats::default()),
        shutdown,
    )
    .await
    .unwrap();
    let got = appended(&journal).await;
    assert_eq!(got.len(), sent);
    for (i, g) in got.iter().enumerate() {
        assert_eq!(g.raw, format!("<13>msg {i}").into_bytes());
    }
    assert!(
        std::fs::symlink_metadata(&path).is_err(),
        "the socket file is removed"
    );
    // Nobody receives any more: a sender is told.
    let err = client.send_to(b"<13>late", &path).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
}

#[tokio::test]
async fn a_stale_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sock");
    // Left by a crash: the file stays, nobody is bound to it.
    drop(StdDatagram::bind(&path).unwrap());
    let client = StdDatagram::unbound().unwrap();
    let err = client.send_to(b"<13>nobody", &path).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    let r = start(&path, 1024);
    client.send_to(b"<13>after the crash", &path).unwrap();
    let got = wait_for(&r.journal, 1).await;
    assert_eq!(raw_and_flags(&got), vec![(&b"<13>after the crash"[..], E)]);
    r.stop().await;
}

#[tokio::test]
async fn a_socket_another_process_receives_on_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sock");
    let other = StdDatagram::bind(&path).unwrap();
    let ino = std::fs::symlink_metadata(&path).unwrap().ino();
    let err = bind(&path, DEFAULT_MODE, None).err().unwrap();
    assert!(matches!(err, UnixError::InUse { .. }), "{err}");
    assert!(err.to_string().contains("another process"), "{err}");
    // The other's socket is untouched and still works.
    assert_eq!(std::fs::symlink_metadata(&path).unwrap().ino(), ino);
    StdDatagram::unbound()
        .unwrap()
        .send_to(b"still yours", &path)
        .unwrap();
    let mut buf = [0u8; 32];
    assert_eq!(other.recv(&mut buf).unwrap(), 11);
}

#[tokio::test]
async fn a_regular_file_a_directory_or_a_symlink_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"precious").unwrap();
    let sub = dir.path().join("dir");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("inside"), b"also precious").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    for (path, what) in [
        (&file, "a regular file"),
        (&sub, "a directory"),
        (&link, "a symbolic link"),
    ] {
        let err = bind(path, DEFAULT_MODE, None).err().unwrap();
        assert!(matches!(err, UnixError::NotASocket { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(what) && text.contains("left as it is"),
            "{text}"
        );
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");
    assert_eq!(std::fs::read(sub.join("inside")).unwrap(), b"also precious");
    assert_eq!(std::fs::read_link(&link).unwrap(), file);
}

#[tokio::test]
async fn mode_and_group_are_applied_and_missing_directories_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/sealtrail/dev-log");
    let gid = rustix::process::getgid().as_raw();
    let l = bind(&path, 0o620, Some(gid)).unwrap();
    assert_eq!(mode_of(&path), 0o620);
    assert_eq!(std::fs::symlink_metadata(&path).unwrap().gid(), gid);
    assert!(std::fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_socket());
    // Created whatever the umask: 0755, so that the socket's own mode decides.
    assert_eq!(mode_of(&dir.path().join("run")), 0o755);
    assert_eq!(mode_of(&dir.path().join("run/sealtrail")), 0o755);
    drop(l);
    assert!(
        std::fs::symlink_metadata(&path).is_err(),
        "a dropped listener removes its socket file"
    );
    let l = bind(&path, DEFAULT_MODE, None).unwrap();
    assert_eq!(mode_of(&path), 0o666);
    drop(l);
}

#[tokio::test]
async fn a_socket_file_replaced_by_another_is_not_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sock");
    let r = start(&path, 1024);
    // Another takes the path while this listener runs.
    std::fs::remove_file(&path).unwrap();
    let other = StdDatagram::bind(&path).unwrap();
    r.stop().await;
    assert!(
        std::fs::symlink_metadata(&path).is_ok(),
        "the other socket file stays"
    );
    drop(other);
}

#[tokio::test]
async fn a_receive_error_is_counted_and_not_fatal() {
    let stats = Arc::new(SourceStats::default());
    let mut sink = Sink::new(&spec(Transport::Unix, 100), test_journal(), stats.clone());
    let mut buf = vec![0u8; 16];
    let failed = drain(
        |_| Err(io::Error::from(io::ErrorKind::ConnectionReset)),
        &mut buf,
        100,
        usize::MAX,
        &mut sink,
        "unix socket",
    )
    .await
    .unwrap();
    assert!(failed);
    assert_eq!(stats.errors.load(Ordering::Relaxed), 1);
}

#[test]
fn modes_are_octal_permission_bits() {
    for (text, mode) in [("0666", 0o666), ("660", 0o660), ("0o640", 0o640), ("0", 0)] {
        assert_eq!(text.parse::<SocketMode>(), Ok(SocketMode(mode)), "{text}");
    }
    for bad in ["", "rw-rw-rw-", "0999", "01777", "4755", "00000", "-1"] {
        assert!(bad.parse::<SocketMode>().is_err(), "{bad}");
    }
    assert_eq!(SocketMode(0o660).to_string(), "0660");
}

#[test]
fn groups_are_looked_up_by_name_in_the_group_file() {
    let text = "root:x:0:\nadm:x:4:syslog,alice\n# comment\nbroken\nsealtrail:x:998:\n";
    assert_eq!(group_in(text, "adm"), Some(4));
    assert_eq!(group_in(text, "sealtrail"), Some(998));
    assert_eq!(group_in(text, "root"), Some(0));
    assert_eq!(group_in(text, "ad"), None);
    assert_eq!(group_in(text, "broken"), None);
    assert_eq!(SocketGroup::Id(4).gid(), Ok(4));
    // root is in every /etc/group.
    assert_eq!(SocketGroup::Name("root".into()).gid(), Ok(0));
    let err = SocketGroup::Name("no-such-group-here".into())
        .gid()
        .unwrap_err();
    assert!(err.contains("no group `no-such-group-here`"), "{err}");
}

#[test]
fn socket_paths_fit_sun_path() {
    assert!(check_path(Path::new("/run/sealtrail/dev-log")).is_ok());
    assert!(check_path(Path::new(&format!("/{}", "a".repeat(106)))).is_ok());
    let err = check_path(Path::new(&format!("/{}", "a".repeat(107)))).unwrap_err();
    assert!(err.contains("at most 107"), "{err}");
    assert!(check_path(Path::new("/")).is_err());
}
