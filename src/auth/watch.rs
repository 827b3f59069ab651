//! The records of an auditd file watch (`auditctl -w /etc/shadow -p rwa -k shadow`, or a
//! syscall rule with `-F path=`/`-k`): one audit event is a `SYSCALL` record (who, with
//! which program, the rule's key), a `CWD` record and one `PATH` record per name the
//! call touched, all with the same `audit(time:serial)` stamp. They are not
//! authentication events; the detector's file-watch rule joins them by stamp
//! (`detect::watch`).

use std::borrow::Cow;

use super::audit::{decoded, header, Fields, UNSET};
use super::util::parse_u32;

/// One record of an audit event that a file watch produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchRecord<'a> {
    /// `node=` of a multi-host audit stream, when given.
    pub node: Option<&'a str>,
    /// `time:serial` from `audit(…)`: the same for every record of one event.
    pub stamp: &'a str,
    pub kind: WatchKind<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchKind<'a> {
    /// Who made the call, with which program, and the rule's keys.
    Syscall(Syscall<'a>),
    /// The process's working directory (relative `PATH` names are relative to it).
    Cwd(Cow<'a, str>),
    /// One name the call touched; `nametype` is `NORMAL`, `PARENT`, `CREATE`, ...
    Path {
        name: Cow<'a, str>,
        nametype: Option<&'a str>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Syscall<'a> {
    /// `syscall=`: a number, or its name in the enriched form (`SYSCALL=openat`).
    pub syscall: Option<&'a str>,
    /// `success=`: `Some(false)` when the kernel refused the call.
    pub success: Option<bool>,
    pub pid: Option<u32>,
    /// The login user's id (`auid`), else `uid`.
    pub user_id: Option<u32>,
    /// The login user's name, when the log is enriched (`AUID="alice"`).
    pub user: Option<Cow<'a, str>>,
    pub comm: Option<Cow<'a, str>>,
    pub exe: Option<Cow<'a, str>>,
    /// The audit rule keys (`key="shadow"`, or several hex-encoded and split).
    pub keys: Vec<Cow<'a, str>>,
}

/// Reads a `SYSCALL`, `CWD` or `PATH` record (auditd's log, audisp-syslog, the
/// kernel's printk form, the journal's form); anything else is `None`.
pub fn recognise(msg: &str) -> Option<WatchRecord<'_>> {
    // Cheap refusal: most lines of a log are not audit records, and these records
    // are read only with their `audit(time:serial)` stamp.
    if !msg.contains("audit(") {
        return None;
    }
    let h = header(msg)?;
    let stamp = h.stamp?;
    let kind = match h.ty {
        "SYSCALL" => WatchKind::Syscall(syscall(h.rest)),
        "CWD" => {
            let (_, v, q) = (Fields { rest: h.rest }).find(|(k, _, _)| *k == "cwd")?;
            WatchKind::Cwd(decoded(v, q)?)
        }
        "PATH" => {
            let mut name = None;
            let mut nametype = None;
            for (k, v, q) in (Fields { rest: h.rest }) {
                match k {
                    "name" => name = decoded(v, q),
                    "nametype" => nametype = Some(v),
                    _ => {}
                }
            }
            WatchKind::Path {
                name: name?,
                nametype,
            }
        }
        _ => return None,
    };
    Some(WatchRecord {
        node: h.node,
        stamp,
        kind,
    })
}

fn syscall(rest: &str) -> Syscall<'_> {
    // The enriched form appends `\x1dAUID="alice" SYSCALL=openat ...`.
    let (raw, enriched) = rest.split_once('\x1d').unwrap_or((rest, ""));
    let mut s = Syscall::default();
    let (mut auid, mut uid) = (None, None);
    for (k, v, q) in (Fields { rest: raw }) {
        match k {
            "syscall" => s.syscall = Some(v),
            "success" => s.success = Some(v == "yes"),
            "pid" => s.pid = parse_u32(v),
            "auid" => auid = parse_u32(v).filter(|&a| a != UNSET),
            "uid" => uid = parse_u32(v),
            "comm" => s.comm = decoded(v, q),
            "exe" => s.exe = decoded(v, q),
            "key" => s.keys = keys(v, q),
            _ => {}
        }
    }
    for (k, v, _) in (Fields { rest: enriched }) {
        match k {
            "AUID" if !v.is_empty() && v != "unset" => s.user = Some(Cow::Borrowed(v)),
            "SYSCALL" if !v.is_empty() => s.syscall = Some(v),
            _ => {}
        }
    }
    s.user_id = auid.or(uid);
    s
}

/// `key="a"`, `key=(null)`, or several keys hex-encoded with `\x01` between them.
fn keys(v: &str, quoted: bool) -> Vec<Cow<'_, str>> {
    if quoted {
        return vec![Cow::Borrowed(v)];
    }
    if v == "(null)" || v.is_empty() {
        return Vec::new();
    }
    match super::util::hex_decode_raw(v) {
        Some(bytes) => String::from_utf8_lossy(&bytes)
            .split('\x01')
            .filter(|k| !k.is_empty())
            .map(|k| Cow::Owned(k.to_owned()))
            .collect(),
        None => vec![Cow::Borrowed(v)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSCALL: &str = "type=SYSCALL msg=audit(1764633600.123:4711): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7ffd a2=0 a3=0 items=1 ppid=900 pid=901 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"cat\" exe=\"/usr/bin/cat\" subj=unconfined key=\"shadow\"";

    #[test]
    fn a_file_watch_event_read_record_by_record() {
        let r = recognise(SYSCALL).unwrap();
        assert_eq!((r.node, r.stamp), (None, "1764633600.123:4711"));
        let WatchKind::Syscall(s) = r.kind else {
            panic!("{r:?}")
        };
        assert_eq!(s.syscall, Some("257"));
        assert_eq!(
            (s.success, s.pid, s.user_id),
            (Some(true), Some(901), Some(1000))
        );
        assert_eq!(s.exe.as_deref(), Some("/usr/bin/cat"));
        assert_eq!(s.comm.as_deref(), Some("cat"));
        assert_eq!(s.keys, vec!["shadow"]);

        let r = recognise("type=CWD msg=audit(1764633600.123:4711): cwd=\"/root\"").unwrap();
        assert_eq!(r.kind, WatchKind::Cwd(Cow::Borrowed("/root")));
        let r = recognise("type=PATH msg=audit(1764633600.123:4711): item=0 name=\"/etc/shadow\" inode=1234 dev=fd:01 mode=0100640 ouid=0 ogid=42 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0").unwrap();
        assert_eq!(
            r.kind,
            WatchKind::Path {
                name: Cow::Borrowed("/etc/shadow"),
                nametype: Some("NORMAL")
            }
        );
    }

    #[test]
    fn other_forms_of_the_same_records() {
        // audisp over syslog with node=, the kernel's printk form with numeric types,
        // the journal's form, hex-encoded values and several keys, the enriched form.
        let r = recognise("node=web1 type=SYSCALL msg=audit(1.5:9): syscall=2 success=no exit=-13 pid=7 auid=4294967295 uid=33 comm=7079 7468 exe=2F746D702F6D7920746F6F6C key=6B6579730173686164").unwrap();
        assert_eq!(r.node, Some("web1"));
        let WatchKind::Syscall(s) = r.kind else {
            panic!()
        };
        assert_eq!((s.success, s.user_id), (Some(false), Some(33)));
        assert_eq!(s.exe.as_deref(), Some("/tmp/my tool"));
        assert_eq!(s.keys, vec!["keys", "shad"]);

        let r =
            recognise("audit: type=1302 audit(1.5:9): item=0 name=7368 61646F77 nametype=NORMAL");
        // An odd token is not hex: kept as it is.
        assert!(matches!(r.unwrap().kind, WatchKind::Path { .. }));
        let r = recognise("[  12.345678] audit: type=1300 audit(1.5:10): syscall=257 success=yes pid=1 uid=0 comm=\"vi\" exe=\"/usr/bin/vim.basic\" key=(null)").unwrap();
        let WatchKind::Syscall(s) = r.kind else {
            panic!()
        };
        assert!(s.keys.is_empty());
        assert_eq!(r.stamp, "1.5:10");
        let r = recognise("SYSCALL arch=c000003e syscall=257 success=yes pid=4 uid=0 comm=\"cat\" exe=\"/usr/bin/cat\" key=\"shadow\"");
        // The journal's form carries no stamp: it cannot be joined, so it is not read.
        assert!(r.is_none());
        let r = recognise("type=SYSCALL msg=audit(2.0:11): syscall=257 success=yes pid=4 auid=1000 uid=0 comm=\"cat\" exe=\"/usr/bin/cat\" key=\"shadow\"\x1dARCH=x86_64 SYSCALL=openat AUID=\"alice\" UID=\"root\"").unwrap();
        let WatchKind::Syscall(s) = r.kind else {
            panic!()
        };
        assert_eq!(
            (s.syscall, s.user.as_deref()),
            (Some("openat"), Some("alice"))
        );
    }

    #[test]
    fn not_watch_records() {
        for line in [
            "type=USER_LOGIN msg=audit(1.0:1): pid=1 uid=0 msg='op=login acct=\"root\" res=failed'",
            "type=EXECVE msg=audit(1.0:2): argc=1 a0=\"ls\"",
            "type=PATH item=0 name=\"/etc/shadow\"",
            "Accepted password for PATH from 192.0.2.1 port 22 ssh2",
            "type=PATH msg=audit(1.0:3): item=0 nametype=NORMAL",
        ] {
            assert!(recognise(line).is_none(), "{line}");
        }
    }
}
