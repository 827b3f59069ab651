//! `file_watch` on auditd records written as auditd writes them for a watch
//! (`-w /etc/shadow -p rwa -k shadow`): SYSCALL, CWD, PATH (and PROCTITLE, ignored).

use crate::auth::watch::recognise;
use crate::detect::{Alert, DetectConfig, DetectError, Detector, FileWatchConfig};

const S: i64 = 1_000_000_000;
const T0: i64 = 1_764_633_600 * S;

/// The records of one watched access, with `stamp` as `time:serial`.
fn event(stamp: &str, exe: &str, comm: &str, cwd: &str, name: &str, ok: bool) -> Vec<String> {
    let success = if ok { "yes exit=3" } else { "no exit=-13" };
    vec![
        format!("type=SYSCALL msg=audit({stamp}): arch=c000003e syscall=257 success={success} a0=ffffff9c a1=55d2 a2=0 a3=0 items=1 ppid=880 pid=881 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=2 comm=\"{comm}\" exe=\"{exe}\" subj=unconfined key=\"shadow\""),
        format!("type=CWD msg=audit({stamp}): cwd=\"{cwd}\""),
        format!("type=PATH msg=audit({stamp}): item=0 name=\"{name}\" inode=393 dev=fd:01 mode=0100640 ouid=0 ogid=42 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0"),
        format!("type=PROCTITLE msg=audit({stamp}): proctitle=636174002F6574632F736861646F77"),
    ]
}

struct Feed {
    d: Detector,
    n: u64,
}

impl Feed {
    fn new(cfg: DetectConfig) -> Feed {
        Feed {
            d: Detector::new(cfg),
            n: 0,
        }
    }
    fn lines(&mut self, t: i64, host: &str, lines: &[String]) -> Vec<Alert> {
        let mut out = Vec::new();
        for l in lines {
            self.n += 1;
            if let Some(r) = recognise(l) {
                out.extend(self.d.observe_watch(t, &format!("ev:{}", self.n), host, &r));
            }
        }
        out
    }
}

#[test]
fn an_unexpected_program_reading_shadow_alerts_with_its_records_as_evidence() {
    let mut f = Feed::new(DetectConfig::default());
    let a = f.lines(
        T0,
        "web1",
        &event(
            "1764633600.1:10",
            "/usr/bin/python3.11",
            "python3",
            "/root",
            "/etc/shadow",
            true,
        ),
    );
    assert_eq!(a.len(), 1, "{a:?}");
    let a = &a[0];
    assert_eq!((a.rule_id.as_ref(), a.severity), ("file_watch", 73));
    assert_eq!(
        a.evidence,
        ["ev:1", "ev:3"],
        "the SYSCALL and the PATH record"
    );
    assert_eq!(a.key, "host:web1,exe:/usr/bin/python3.11,file:/etc/shadow");
    for part in [
        "/usr/bin/python3.11",
        "comm python3",
        "login uid 1000",
        "/etc/shadow",
        "web1",
        "syscall 257",
        "audit key shadow",
        "[detect.file_watch]",
    ] {
        assert!(a.message.contains(part), "{part} in {}", a.message);
    }
    assert!(!a.message.contains("refused"));
}

#[test]
fn allowed_programs_other_files_and_parent_items_raise_nothing() {
    let mut f = Feed::new(DetectConfig::default());
    // sshd reads shadow through unix_chkpwd; passwd rewrites it.
    assert!(f
        .lines(
            T0,
            "h",
            &event(
                "1.0:1",
                "/usr/sbin/unix_chkpwd",
                "unix_chkpwd",
                "/",
                "/etc/shadow",
                true
            )
        )
        .is_empty());
    assert!(f
        .lines(
            T0,
            "h",
            &event(
                "1.0:2",
                "/usr/bin/passwd",
                "passwd",
                "/",
                "/etc/shadow",
                true
            )
        )
        .is_empty());
    // An unexpected program, but a file nobody listed.
    assert!(f
        .lines(
            T0,
            "h",
            &event("1.0:3", "/usr/bin/cat", "cat", "/", "/etc/hostname", true)
        )
        .is_empty());
    // The directory of a watched file is only its PARENT item.
    let mut parent = event("1.0:4", "/usr/bin/cp", "cp", "/", "/etc/shadow", true);
    parent[2] = parent[2].replace("nametype=NORMAL", "nametype=PARENT");
    assert!(f.lines(T0, "h", &parent).is_empty());
    // `*` does not cross `/`.
    assert!(f
        .lines(
            T0,
            "h",
            &event(
                "1.0:5",
                "/usr/bin/cat",
                "cat",
                "/",
                "/etc/sudoers.d/a/b",
                true
            )
        )
        .is_empty());
    assert_eq!(
        f.lines(
            T0,
            "h",
            &event(
                "1.0:6",
                "/usr/bin/cat",
                "cat",
                "/",
                "/etc/sudoers.d/web",
                true
            )
        )
        .len(),
        1
    );
}

#[test]
fn a_relative_name_is_read_against_the_working_directory() {
    let mut f = Feed::new(DetectConfig::default());
    let a = f.lines(
        T0,
        "h",
        &event("1.0:7", "/usr/bin/less", "less", "/etc/", "shadow", true),
    );
    assert_eq!(a.len(), 1);
    assert!(a[0].key.ends_with("file:/etc/shadow"), "{}", a[0].key);
}

#[test]
fn a_refused_call_says_so_and_still_alerts() {
    let mut f = Feed::new(DetectConfig::default());
    let a = f.lines(
        T0,
        "h",
        &event("1.0:8", "/tmp/x", "x", "/", "/etc/shadow", false),
    );
    assert_eq!(a.len(), 1);
    assert!(
        a[0].message.contains("the kernel refused the call"),
        "{}",
        a[0].message
    );
}

#[test]
fn one_alert_per_program_and_file_while_touches_keep_coming() {
    let mut f = Feed::new(DetectConfig::default());
    let ev = |n: u32| {
        event(
            &format!("2.0:{n}"),
            "/usr/bin/cat",
            "cat",
            "/",
            "/etc/shadow",
            true,
        )
    };
    assert_eq!(f.lines(T0, "h", &ev(1)).len(), 1);
    // Every 5 minutes for an hour: within the 10-minute window of the last touch.
    for i in 1..12 {
        assert!(f.lines(T0 + i * 300 * S, "h", &ev(1 + i as u32)).is_empty());
    }
    // Another file, another host: their own alerts.
    let other = event("2.0:50", "/usr/bin/cat", "cat", "/", "/etc/gshadow", true);
    assert_eq!(f.lines(T0 + 3600 * S, "h", &other).len(), 1);
    assert_eq!(f.lines(T0 + 3600 * S, "db1", &ev(51)).len(), 1);
    // Quiet for more than the window: a new alert.
    assert_eq!(f.lines(T0 + 3600 * S + 700 * S, "h", &ev(52)).len(), 1);
}

#[test]
fn records_of_two_hosts_with_the_same_stamp_are_joined_per_host() {
    let mut f = Feed::new(DetectConfig::default());
    let ok = event("3.0:1", "/usr/sbin/sshd", "sshd", "/", "/etc/shadow", true);
    let bad = event("3.0:1", "/usr/bin/cat", "cat", "/", "/etc/shadow", true);
    // Interleaved: the allowed program's SYSCALL on `a`, the other's on `b`.
    let mut out = Vec::new();
    for (a, b) in ok.iter().zip(&bad) {
        out.extend(f.lines(T0, "a", std::slice::from_ref(a)));
        out.extend(f.lines(T0, "b", std::slice::from_ref(b)));
    }
    assert_eq!(out.len(), 1);
    assert!(
        out[0].key.starts_with("host:b,exe:/usr/bin/cat"),
        "{}",
        out[0].key
    );
    // node= names the host when a collector receives several hosts' audit stream.
    let lines: Vec<String> = event("3.0:2", "/usr/bin/cat", "cat", "/", "/etc/shadow", true)
        .into_iter()
        .map(|l| format!("node=db7 {l}"))
        .collect();
    let a = f.lines(T0, "collector", &lines);
    assert_eq!(a.len(), 1);
    assert!(a[0].key.starts_with("host:db7,"), "{}", a[0].key);
}

#[test]
fn a_listed_audit_key_alerts_on_its_syscall_alone() {
    let mut cfg = DetectConfig::default();
    cfg.file_watch.keys = vec!["modules".into()];
    let mut f = Feed::new(cfg);
    let line = "type=SYSCALL msg=audit(4.0:1): arch=c000003e syscall=175 success=yes exit=0 pid=9 auid=1000 uid=0 comm=\"insmod\" exe=\"/usr/bin/kmod\" key=\"modules\"".to_owned();
    let a = f.lines(T0, "h", &[line]);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].evidence, ["ev:1"]);
    assert!(
        a[0].message.contains("touched audit key modules"),
        "{}",
        a[0].message
    );
    // An event with the key and a watched PATH alerts once, at its SYSCALL.
    let mut both = event(
        "4.0:2",
        "/usr/bin/kmod",
        "modprobe",
        "/",
        "/etc/shadow",
        true,
    );
    both[0] = both[0].replace("key=\"shadow\"", "key=\"modules\"");
    let a = f.lines(T0 + 3600 * S, "h2", &both);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].evidence, ["ev:2"]);
}

#[test]
fn the_rule_is_off_when_disabled_and_its_mistakes_are_named() {
    let mut cfg = DetectConfig::default();
    cfg.file_watch.enabled = false;
    let mut f = Feed::new(cfg);
    assert!(!f.d.watches_files());
    assert!(f
        .lines(
            T0,
            "h",
            &event("5.0:1", "/usr/bin/cat", "cat", "/", "/etc/shadow", true)
        )
        .is_empty());

    let bad = |c: FileWatchConfig| {
        let cfg = DetectConfig {
            file_watch: c,
            ..DetectConfig::default()
        };
        match cfg.validate() {
            Err(DetectError::Config { key, .. }) => key,
            other => panic!("{other:?}"),
        }
    };
    let c = FileWatchConfig {
        paths: vec!["/etc/shadow".into(), "etc/passwd".into()],
        ..FileWatchConfig::default()
    };
    assert_eq!(bad(c), "file_watch.paths[1]");
    let c = FileWatchConfig {
        allowed_programs: vec!["/usr/bin/[".into()],
        ..FileWatchConfig::default()
    };
    assert_eq!(bad(c), "file_watch.allowed_programs[0]");
    let c = FileWatchConfig {
        window: std::time::Duration::ZERO,
        ..FileWatchConfig::default()
    };
    assert_eq!(bad(c), "file_watch.window");
}

#[test]
fn the_snapshot_keeps_what_alerted() {
    let mut f = Feed::new(DetectConfig::default());
    assert_eq!(
        f.lines(
            T0,
            "h",
            &event("6.0:1", "/usr/bin/cat", "cat", "/", "/etc/shadow", true)
        )
        .len(),
        1
    );
    let snap = f.d.save().unwrap();
    let mut f = Feed {
        d: Detector::restore(DetectConfig::default(), &snap).unwrap(),
        n: 10,
    };
    // Within the window of the touch before the restart: no second alert.
    assert!(f
        .lines(
            T0 + 60 * S,
            "h",
            &event("6.0:2", "/usr/bin/cat", "cat", "/", "/etc/shadow", true)
        )
        .is_empty());
}
