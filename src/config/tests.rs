use super::*;

fn parse(s: &str) -> Result<Config, ConfigError> {
    Config::parse(s, Path::new("test.toml"))
}

fn err(s: &str) -> (usize, String, String) {
    match parse(s) {
        Err(ConfigError::Invalid {
            line, key, message, ..
        }) => (line, key, message),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

const MINIMAL: &str = "[[syslog]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:5514\"\n";

#[test]
fn example_file_parses_and_matches_embedded_default() {
    let text = include_str!("../../config.example.toml");
    let cfg = parse(text).unwrap();
    let emb = Config::embedded();
    assert_eq!(cfg.state_dir, emb.state_dir);
    assert_eq!(cfg.archive.url, emb.archive.url);
    assert_eq!(cfg.archive.retry_max, emb.archive.retry_max);
    assert_eq!(cfg.archive.uploads_in_flight, emb.archive.uploads_in_flight);
    assert_eq!(cfg.spool.max_bytes, emb.spool.max_bytes);
    assert_eq!(cfg.syslog.len(), emb.syslog.len());
    assert_eq!(cfg.journald.len(), emb.journald.len());
    for (a, b) in cfg.syslog.iter().zip(&emb.syslog) {
        assert_eq!(a.address, b.address);
        assert_eq!(a.transport, b.transport);
        assert_eq!(a.display_name(), b.display_name());
        assert_eq!(a.max_message_bytes, b.max_message_bytes);
        if a.transport == Transport::Tcp {
            assert_eq!(a.limits(), b.limits());
            assert!(
                a.max_connections.is_some(),
                "the example spells out the limits"
            );
        }
    }
    assert_eq!(cfg.journal.keep_free_bytes, emb.journal.keep_free_bytes);
    assert_eq!(cfg.seal.max_age, emb.seal.max_age);
    assert_eq!(cfg.seal.max_bytes, emb.seal.max_bytes);
    assert_eq!(cfg.seal.zstd_level, emb.seal.zstd_level);
    assert_eq!(cfg.journal.max_bytes, emb.journal.max_bytes);
    assert_eq!(cfg.journal.file_bytes, emb.journal.file_bytes);
    assert_eq!(cfg.detect, emb.detect);
    assert_eq!(cfg.status.address, emb.status.address);
    assert_eq!(cfg.status.enabled, emb.status.enabled);
}

#[test]
fn the_example_file_source_parses_and_shows_the_defaults() {
    // The commented-out [[file]] block of config.example.toml, uncommented.
    let text = include_str!("../../config.example.toml");
    let block: String = text
        .lines()
        .skip_while(|l| *l != "# [[file]]")
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or(l)))
        .collect();
    assert!(block.starts_with("[[file]]"), "{block}");
    let cfg = parse(&format!("{MINIMAL}{block}")).unwrap();
    let ex = &cfg.file[0];
    let dflt = parse(&format!("{MINIMAL}[[file]]\ninclude = [\"/x\"]\n")).unwrap();
    let d = &dflt.file[0];
    assert_eq!(ex.display_name(), "auth");
    assert_eq!(
        (
            ex.start_at,
            ex.max_line_bytes,
            ex.line_timeout,
            ex.rescan_interval
        ),
        (
            d.start_at,
            d.max_line_bytes,
            d.line_timeout,
            d.rescan_interval
        )
    );
    assert_eq!(
        (
            ex.release_deleted_after,
            ex.checkpoint_interval,
            ex.timezone
        ),
        (d.release_deleted_after, d.checkpoint_interval, d.timezone)
    );
}

#[test]
fn the_example_unix_listener_parses_and_shows_the_defaults() {
    // The commented-out unix [[syslog]] block of config.example.toml, uncommented.
    let text = include_str!("../../config.example.toml");
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == "# transport = \"unix\"")
        .and_then(|i| lines[..i].iter().rposition(|l| *l == "# [[syslog]]"))
        .unwrap();
    let block: String = lines[start..]
        .iter()
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or(l)))
        .collect();
    let cfg = parse(&block.replace("\"adm\"", "\"root\"")).unwrap();
    let l = &cfg.syslog[0];
    assert_eq!(l.transport, Transport::Unix);
    assert_eq!(l.path.as_deref(), Some(Path::new("/run/sealtrail/dev-log")));
    assert_eq!(
        l.mode.map(|m| m.0),
        Some(crate::source::syslog::unix::DEFAULT_MODE),
        "the example shows the default mode"
    );
    assert_eq!(l.max_message_bytes, default_max_message_bytes());
    // The packaged configuration shows the same listener.
    let packaged = include_str!("../../packaging/sealtrail.toml");
    assert!(packaged.contains("# transport = \"unix\"\n# path = \"/run/sealtrail/dev-log\""));
}

#[test]
fn minimal_config_gets_defaults() {
    let cfg = parse(MINIMAL).unwrap();
    assert_eq!(cfg.seal.max_age, Duration::from_secs(60));
    assert_eq!(cfg.syslog[0].max_message_bytes, 65536);
    assert!(cfg.journal.fsync);
    assert_eq!(
        cfg.key_path(),
        PathBuf::from("sealtrail-data/state/signing.key")
    );
}

#[test]
fn unknown_key_names_key_and_line() {
    let (line, key, msg) = err(&format!("{MINIMAL}\n[seal]\nmax_agee = \"5s\"\n"));
    assert_eq!(line, 6, "{msg}");
    assert!(key.contains("seal"), "{key}");
    assert!(msg.contains("max_agee"), "{msg}");
}

#[test]
fn bad_address_names_key_and_line() {
    let (line, key, _) = err("[[syslog]]\ntransport = \"tcp\"\naddress = \"localhost\"\n");
    assert_eq!(line, 3);
    assert_eq!(key, "syslog[0].address");
}

#[test]
fn bad_duration_timezone_and_transport_are_errors() {
    let (line, key, _) = err(&format!("{MINIMAL}[seal]\nmax_age = \"soon\"\n"));
    assert_eq!((line, key.as_str()), (5, "seal.max_age"));
    let (line, key, msg) = err(&format!("{MINIMAL}[seal]\nrotate_key_every = \"0s\"\n"));
    assert_eq!((line, key.as_str()), (5, "seal.rotate_key_every"), "{msg}");
    let cfg = parse(&format!("{MINIMAL}[seal]\nrotate_key_every = \"90d\"\n")).unwrap();
    assert_eq!(
        cfg.seal.rotate_key_every,
        Some(Duration::from_secs(90 * 86_400))
    );
    assert_eq!(parse(MINIMAL).unwrap().seal.rotate_key_every, None);
    let (line, key, _) = err(
        "[[syslog]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:1\"\ntimezone = \"Mars/Base\"\n",
    );
    assert_eq!((line, key.as_str()), (4, "syslog[0].timezone"));
    let (line, key, _) = err("[[syslog]]\ntransport = \"sctp\"\naddress = \"127.0.0.1:1\"\n");
    assert_eq!((line, key.as_str()), (2, "syslog[0].transport"));
}

#[test]
fn the_journal_commit_delay_is_zero_to_one_second() {
    let delay = |v: &str| parse(&format!("{MINIMAL}[journal]\ncommit_delay = \"{v}\"\n"));
    assert_eq!(
        parse(MINIMAL).unwrap().journal.commit_delay,
        Duration::from_millis(5)
    );
    assert_eq!(delay("0s").unwrap().journal.commit_delay, Duration::ZERO);
    assert_eq!(
        delay("250ms").unwrap().journal.commit_delay,
        Duration::from_millis(250)
    );
    for bad in ["2s", "soon"] {
        let (line, key, msg) = err(&format!("{MINIMAL}[journal]\ncommit_delay = \"{bad}\"\n"));
        assert_eq!((line, key.as_str()), (5, "journal.commit_delay"), "{msg}");
    }
}

#[test]
fn semantic_errors_name_key_and_line() {
    let (line, key, _) = err(&format!("stream = \"has space\"\n{MINIMAL}"));
    assert_eq!((line, key.as_str()), (1, "stream"));
    let (line, key, _) = err(&format!("{MINIMAL}[seal]\nzstd_level = 40\n"));
    assert_eq!((line, key.as_str()), (5, "seal.zstd_level"));
    let dup = format!("{MINIMAL}[[syslog]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:5514\"\n");
    let (line, key, _) = err(&dup);
    assert_eq!(key, "syslog[1].address");
    assert_eq!(line, 6);
    let (line, key, _) = err(&format!("{MINIMAL}[archive]\nurl = \"s4://b\"\n"));
    assert_eq!((line, key.as_str()), (5, "archive.url"));
}

#[test]
fn detector_settings_are_checked_with_key_and_line() {
    let cfg = parse(&format!(
        "{MINIMAL}[detect.brute_force]\nthreshold = 3\nwindow = \"5m\"\n"
    ))
    .unwrap();
    assert_eq!(cfg.detect.brute_force.threshold, 3);
    let (line, key, _) = err(&format!(
        "{MINIMAL}[detect.brute_force]\nwindow = \"5m\"\nthreshold = 0\n"
    ));
    assert_eq!((line, key.as_str()), (6, "detect.brute_force.threshold"));
    let (line, key, _) = err(&format!("{MINIMAL}[detect.brute_force]\nthresold = 3\n"));
    assert_eq!(line, 5);
    assert!(key.contains("detect"), "{key}");
    let (line, key, _) = err(&format!("{MINIMAL}[alerts]\nwebhook = \"ftp://x\"\n"));
    assert_eq!((line, key.as_str()), (5, "alerts.webhook"));
}

#[test]
fn rules_run_applies_are_checked_here_too() {
    // A journal cap below two files could never clear: `run` refuses it.
    let (line, key, msg) = err(&format!(
        "{MINIMAL}[journal]\nfile_bytes = 1048576\nmax_bytes = 1048577\n"
    ));
    assert_eq!((line, key.as_str()), (6, "journal.max_bytes"), "{msg}");
    let ok = format!("{MINIMAL}[journal]\nfile_bytes = 1048576\nmax_bytes = 2097152\n");
    assert!(parse(&ok).is_ok());
    // An empty state directory.
    let (line, key, _) = err(&format!("state_dir = \"\"\n{MINIMAL}"));
    assert_eq!((line, key.as_str()), (1, "state_dir"));
    // The status endpoint on a syslog TCP address (also through a wildcard).
    let (line, key, msg) = err(&format!(
        "{MINIMAL}[status]\naddress = \"127.0.0.1:5514\"\n"
    ));
    assert_eq!((line, key.as_str()), (5, "status.address"), "{msg}");
    let (_, key, _) = err(
        "[[syslog]]\ntransport = \"tcp\"\naddress = \"0.0.0.0:6000\"\n[status]\naddress = \"127.0.0.1:6000\"\n",
    );
    assert_eq!(key, "status.address");
    // A UDP listener on that port is no conflict, nor a disabled endpoint.
    let udp = "[[syslog]]\ntransport = \"udp\"\naddress = \"127.0.0.1:6000\"\n";
    assert!(parse(&format!("{udp}[status]\naddress = \"127.0.0.1:6000\"\n")).is_ok());
    assert!(parse(&format!(
        "{MINIMAL}[status]\nenabled = false\naddress = \"127.0.0.1:5514\"\n"
    ))
    .is_ok());
    // Two listeners that cannot both be bound.
    let (line, key, msg) = err(&format!(
        "{MINIMAL}[[syslog]]\ntransport = \"tcp\"\naddress = \"0.0.0.0:5514\"\n"
    ));
    assert_eq!((line, key.as_str()), (6, "syslog[1].address"), "{msg}");
    assert!(msg.contains("overlaps"), "{msg}");
}

#[test]
fn connection_limits_have_defaults_and_are_checked() {
    let l = parse(MINIMAL).unwrap().syslog[0].limits();
    assert_eq!(l.max_connections, DEFAULT_MAX_CONNECTIONS);
    assert_eq!(l.max_per_peer, DEFAULT_MAX_CONNECTIONS_PER_PEER);
    assert_eq!(l.idle_timeout, DEFAULT_IDLE_TIMEOUT);
    let cfg = parse(&format!(
        "{MINIMAL}max_connections = 10\nmax_connections_per_peer = 2\nidle_timeout = \"30s\"\n"
    ))
    .unwrap();
    let l = cfg.syslog[0].limits();
    assert_eq!((l.max_connections, l.max_per_peer), (10, 2));
    assert_eq!(l.idle_timeout, Duration::from_secs(30));
    let (line, key, _) = err(&format!("{MINIMAL}max_connections = 0\n"));
    assert_eq!((line, key.as_str()), (4, "syslog[0].max_connections"));
    let (line, key, _) = err(&format!(
        "{MINIMAL}max_connections = 4\nmax_connections_per_peer = 5\n"
    ));
    assert_eq!(
        (line, key.as_str()),
        (5, "syslog[0].max_connections_per_peer")
    );
    let (line, key, _) =
        err("[[syslog]]\ntransport = \"udp\"\naddress = \"127.0.0.1:1\"\nidle_timeout = \"1m\"\n");
    assert_eq!((line, key.as_str()), (4, "syslog[0].idle_timeout"));
}

#[test]
fn file_sources_are_parsed_ordered_and_checked_with_key_and_line() {
    let cfg = parse(&format!(
        "{MINIMAL}[[file]]\ninclude = [\"/var/log/auth.log\"]\nstart_at = \"beginning\"\n"
    ))
    .unwrap();
    assert_eq!(cfg.file.len(), 1);
    let sources = cfg.sources();
    assert_eq!(sources.len(), 2);
    assert_eq!(sources[1].type_name(), "file");
    assert_eq!(sources[1].name(), "file:/var/log/auth.log");
    // A file source alone is enough.
    assert!(parse("[[file]]\ninclude = [\"/var/log/*.log\"]\n").is_ok());
    let (line, key, _) = err(&format!(
        "{MINIMAL}[[file]]\ninclude = [\"/a\"]\nstart_at = \"now\"\n"
    ));
    assert_eq!((line, key.as_str()), (6, "file[0].start_at"));
    let (line, key, _) = err(&format!(
        "{MINIMAL}[[file]]\ninclude = [\"/a\"]\n[[file]]\nname = \"x\"\ninclude = [\"/b\"]\nexclude = [\"/b/[\"]\n"
    ));
    assert_eq!((line, key.as_str()), (9, "file[1].exclude"));
    let (line, key, _) = err(&format!("{MINIMAL}[[file]]\ninclude = []\n"));
    assert_eq!((line, key.as_str()), (5, "file[0].include"));
    let (line, key, msg) = err(&format!(
        "{MINIMAL}[[file]]\nname = \"tcp:127.0.0.1:5514\"\ninclude = [\"/a\"]\n"
    ));
    assert_eq!((line, key.as_str()), (5, "file[0].name"), "{msg}");
    let (line, key, _) = err(&format!(
        "{MINIMAL}[[file]]\ninclude = [\"/a\"]\nline_timeout = \"0s\"\n"
    ));
    assert_eq!((line, key.as_str()), (6, "file[0].line_timeout"));
    let (_, key, _) = err(&format!(
        "{MINIMAL}[[file]]\ninclude = [\"/a\"]\npoll = 1\n"
    ));
    assert!(key.starts_with("file[0]"), "{key}");
}

#[test]
fn journald_sources_are_checked_with_key_and_line() {
    // A journald source alone is a valid configuration; it comes after the syslog
    // listeners in source order.
    let cfg = parse("[[journald]]\n").unwrap();
    assert_eq!(cfg.journald[0].name, "journald");
    let cfg = parse(&format!("{MINIMAL}[[journald]]\nname = \"j\"\n")).unwrap();
    let names: Vec<String> = cfg.sources().iter().map(|s| s.name()).collect();
    assert_eq!(names, ["tcp:127.0.0.1:5514", "j"]);
    assert_eq!(cfg.sources()[1].type_name(), "journald");
    let (line, key, _) = err(&format!(
        "{MINIMAL}[[journald]]\n[[journald]]\nunits = [\"ssh.service\"]\n"
    ));
    assert_eq!((line, key.as_str()), (5, "journald[1].name"));
    let (line, key, msg) = err(&format!(
        "{MINIMAL}name = \"j\"\n[[journald]]\nname = \"j\"\n"
    ));
    assert_eq!((line, key.as_str()), (6, "journald[0].name"), "{msg}");
    let (line, key, _) = err("[[journald]]\ndirectory = \"/a\"\nfiles = [\"/b\"]\n");
    assert_eq!((line, key.as_str()), (3, "journald[0].files"));
    let (line, key, _) = err("[[journald]]\nmatches = [\"x=y\"]\n");
    assert_eq!((line, key.as_str()), (2, "journald[0].matches"));
    let (line, key, _) = err("[[journald]]\nsince = \"yesterday\"\n");
    assert_eq!((line, key.as_str()), (2, "journald[0].since"));
    let (line, key, _) = err("[[journald]]\nrestart_backoff = \"0s\"\n");
    assert_eq!((line, key.as_str()), (2, "journald[0].restart_backoff"));
    let (line, key, _) = err("[[journald]]\n\nmax_entry_bytes = 10\n");
    assert_eq!((line, key.as_str()), (3, "journald[0].max_entry_bytes"));
}

#[test]
fn the_documented_journald_table_parses_with_every_key() {
    // config.example.toml documents [[journald]] commented out: uncommented (one of
    // directory and files), every key it shows must be accepted.
    let text = include_str!("../../config.example.toml");
    let start = text.find("# [[journald]]").expect("documented");
    let block = &text[start..text[start..].find("\n\n").map_or(text.len(), |e| start + e)];
    let mut table = String::new();
    for line in block.lines() {
        let l = line.trim_start_matches("# ");
        let is_key = l
            .split_once(" = ")
            .is_some_and(|(k, _)| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        if l == "[[journald]]" || (is_key && !l.starts_with("directory")) {
            table.push_str(l);
            table.push('\n');
        }
    }
    let cfg = parse(&table).unwrap();
    let j = &cfg.journald[0];
    assert_eq!(j.files.as_ref().map(Vec::len), Some(1), "{table}");
    assert_eq!(j.units, ["ssh.service"]);
    assert_eq!(
        j.max_entry_bytes,
        crate::source::journald::config::DEFAULT_MAX_ENTRY_BYTES
    );
    assert_eq!(
        j.restart_backoff,
        crate::source::journald::config::DEFAULT_RESTART_BACKOFF
    );
    assert_eq!(
        table.lines().count(),
        10,
        "every key but directory: {table}"
    );
}

#[test]
fn no_listener_is_an_error() {
    let (_, key, _) = err("state_dir = \"/tmp/x\"\n");
    assert_eq!(key, "syslog");
}

#[test]
fn syntax_error_has_line() {
    let (line, _, _) = err("[[syslog]]\ntransport = \"tcp\nx\n");
    assert_eq!(line, 2);
}

const TCP: &str = "[[syslog]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:7000\"\n";

#[test]
fn s3_archive_keys() {
    let c = parse(&format!(
        "{TCP}[archive]\nurl = \"s3://audit-logs/host\"\nendpoint = \"https://s3.example\"\nregion = \"eu-west-1\"\naddressing = \"virtual\"\nencryption = {{ kind = \"kms\", kms_key_id = \"alias/audit\" }}\nretention = {{ mode = \"compliance\", days = 400 }}\nanchor = \"s3://heads/team\"\nuploads_in_flight = 2\n[archive.credentials]\naccess_key_id = \"AKIA\"\nsecret_access_key_file = \"/etc/sealtrail/s3.secret\"\n[spool]\nmax_bytes = 1000000\n"
    ))
    .unwrap();
    assert_eq!(c.archive.addressing, Addressing::Virtual);
    assert_eq!(
        c.archive.retention,
        Some(RetentionSection {
            mode: LockMode::Compliance,
            days: 400
        })
    );
    assert_eq!(
        c.archive.encryption.as_ref().unwrap().kind,
        EncryptionKind::Kms
    );
    assert_eq!(c.archive.uploads_in_flight, 2);
    assert_eq!(c.spool.max_bytes, 1_000_000);
    assert!(c.archive.credentials.has_static_keys());
}

#[test]
fn s3_only_keys_on_a_local_archive_and_bad_values_name_key_and_line() {
    let (line, key, msg) = err(&format!(
        "{TCP}[archive]\nurl = \"/srv/archive\"\nretention = {{ mode = \"compliance\", days = 3 }}\n"
    ));
    assert_eq!((line, key.as_str()), (6, "archive.retention"));
    assert!(msg.contains("s3:// archives only"), "{msg}");
    let (line, key, _) = err(&format!(
        "{TCP}[archive]\nurl = \"/srv/archive\"\n[archive.credentials]\nprofile = \"x\"\n"
    ));
    assert_eq!((line, key.as_str()), (6, "archive.credentials"));
    let (line, key, msg) = err(&format!(
        "{TCP}[archive]\nurl = \"s3://b-1/p\"\nendpoint = \"http://127.0.0.1:9000\"\n"
    ));
    assert_eq!((line, key.as_str()), (6, "archive.endpoint"));
    assert!(msg.contains("allow_http"), "{msg}");
    let (_, key, msg) = err(&format!(
        "{TCP}[archive]\nurl = \"s3://b-1/p\"\nretention = {{ mode = \"compliance\", days = 0 }}\n"
    ));
    assert_eq!(key, "archive.retention.days");
    assert!(msg.contains("between 1 and 36500"), "{msg}");
    let (_, key, msg) = err(&format!("{TCP}[archive]\nurl = \"s3://UP/p\"\n"));
    assert_eq!(key, "archive.url");
    assert!(msg.contains("bucket name"), "{msg}");
    let (_, key, _) = err(&format!(
        "{TCP}[archive]\nurl = \"s3://b-1/p\"\nencryption = {{ kind = \"s3\", kms_key_id = \"k\" }}\n"
    ));
    assert_eq!(key, "archive.encryption.kms_key_id");
    let (_, key, _) = err(&format!(
        "{TCP}[archive]\nurl = \"s3://b-1/p\"\nanchor = \"gopher://x\"\n"
    ));
    assert_eq!(key, "archive.anchor");
    let (_, key, _) = err(&format!("{TCP}[spool]\nmax_bytes = 0\n"));
    assert_eq!(key, "spool.max_bytes");
}

#[test]
fn forward_outputs_and_their_errors() {
    let c = parse(&format!(
        "{TCP}[[forward]]\nname = \"siem\"\ntype = \"syslog\"\naddress = \"siem.example:514\"\ntransport = \"udp\"\nfacility = 13\nstart_at = \"beginning\"\n"
    ))
    .unwrap();
    assert_eq!(c.forward.len(), 1);
    assert_eq!(
        c.forward[0].transport,
        crate::forward::ForwardTransport::Udp
    );
    assert_eq!(c.forward[0].start_at, crate::forward::StartAt::Beginning);
    assert_eq!(c.forward[0].cursor_name(), "forward-siem");
    assert_eq!(
        c.forward[0].policy,
        crate::forward::LagPolicy::Block,
        "the default"
    );
    let f = |body: &str| err(&format!("{TCP}[[forward]]\ntype = \"syslog\"\n{body}"));
    let (line, key, _) = f("name = \"a b\"\naddress = \"x:1\"\n");
    assert_eq!((line, key.as_str()), (6, "forward[0].name"));
    let (_, key, msg) = f("name = \"a\"\naddress = \"siem.example\"\n");
    assert_eq!(key, "forward[0].address");
    assert!(msg.contains("host:port"), "{msg}");
    let (_, key, msg) = f("name = \"a\"\naddress = \"x:1\"\npolicy = \"drop_newest\"\n");
    assert_eq!(key, "forward[0].policy");
    assert!(msg.contains("drop_oldest"), "{msg}");
    let (_, key, _) = f("name = \"a\"\naddress = \"x:1\"\nfacility = 24\n");
    assert_eq!(key, "forward[0].facility");
    let (_, key, _) = f("name = \"a\"\naddress = \"x:1\"\ntype2 = 1\n");
    assert_eq!(key, "forward[0].type2");
    let (_, key, msg) = err(&format!(
        "{TCP}[[forward]]\nname = \"a\"\ntype = \"syslog\"\naddress = \"x:1\"\n[[forward]]\nname = \"a\"\ntype = \"syslog\"\naddress = \"y:2\"\n"
    ));
    assert_eq!(key, "forward[1].name");
    assert!(msg.contains("two forwarders"), "{msg}");
}

#[test]
fn http_forwarders_and_keys_of_the_wrong_type() {
    let c = parse(&format!(
        "{TCP}[[forward]]\nname = \"es\"\ntype = \"elasticsearch\"\nurl = \"https://es.example:9200\"\nindex = \"audit\"\ngzip = true\nauthorization_env = \"ES_AUTH\"\n"
    ))
    .unwrap();
    assert_eq!(
        c.forward[0].kind,
        crate::forward::ForwardKind::Elasticsearch
    );
    let f = |body: &str| err(&format!("{TCP}[[forward]]\nname = \"a\"\n{body}"));
    let (_, key, msg) = f("type = \"http\"\n");
    assert_eq!(key, "forward[0].url");
    assert!(msg.contains("needs url"), "{msg}");
    let (_, key, _) = f("type = \"http\"\nurl = \"ftp://x\"\n");
    assert_eq!(key, "forward[0].url");
    let (_, key, msg) = f("type = \"http\"\nurl = \"http://x\"\naddress = \"x:1\"\n");
    assert_eq!(key, "forward[0].address");
    assert!(msg.contains("syslog"), "{msg}");
    let (_, key, _) = f("type = \"http\"\nurl = \"http://x\"\nindex = \"i\"\n");
    assert_eq!(key, "forward[0].index");
    let (_, key, _) = f("type = \"syslog\"\naddress = \"x:1\"\ngzip = true\n");
    assert_eq!(key, "forward[0].gzip");
    let (_, key, _) = f(
        "type = \"splunk_hec\"\nurl = \"http://x\"\nauthorization_file = \"/nonexistent/token\"\n",
    );
    assert_eq!(key, "forward[0].authorization_file");
}

#[test]
fn a_unix_socket_listener_has_a_path_a_mode_and_a_group() {
    let c = parse(
        "[[syslog]]\ntransport = \"unix\"\npath = \"/run/sealtrail/dev-log\"\nmode = \"0620\"\ngroup = \"root\"\ntimezone = \"UTC\"\n",
    )
    .unwrap();
    let l = &c.syslog[0];
    assert_eq!(l.transport, Transport::Unix);
    assert_eq!(l.display_name(), "unix:/run/sealtrail/dev-log");
    assert_eq!(l.address, None);
    assert_eq!(l.mode.map(|m| m.0), Some(0o620));
    assert_eq!(l.group.as_ref().map(|g| g.gid()), Some(Ok(0)));
    assert!(c.sources()[0].is_local_socket());
    let c = parse("[[syslog]]\ntransport = \"unix\"\npath = \"dev-log\"\ngroup = 4\n").unwrap();
    assert_eq!(
        c.syslog[0].mode, None,
        "the default applies when the socket is made"
    );
    assert_eq!(
        c.syslog[0].group,
        Some(crate::source::syslog::unix::SocketGroup::Id(4))
    );
    assert!(!parse(MINIMAL).unwrap().sources()[0].is_local_socket());
}

#[test]
fn unix_socket_mistakes_name_key_and_line() {
    let unix = "[[syslog]]\ntransport = \"unix\"\n";
    let at = "path = \"/run/sealtrail/dev-log\"\n";
    let cases = [
        (unix.to_string(), 2, "syslog[0].path", "needs path"),
        (
            format!("{unix}{at}address = \"127.0.0.1:1\"\n"),
            4,
            "syslog[0].address",
            "does not apply",
        ),
        (
            format!("{unix}{at}mode = \"0999\"\n"),
            4,
            "syslog[0].mode",
            "octal",
        ),
        (
            format!("{unix}{at}mode = 660\n"),
            4,
            "syslog[0].mode",
            "octal string",
        ),
        (
            format!("{unix}{at}group = \"no-such-group-here\"\n"),
            4,
            "syslog[0].group",
            "no group `no-such-group-here`",
        ),
        (
            format!("{unix}path = \"/{}\"\n", "p".repeat(120)),
            3,
            "syslog[0].path",
            "at most 107",
        ),
        (
            format!("{unix}{at}max_connections = 5\n"),
            4,
            "syslog[0].max_connections",
            "unix datagram socket",
        ),
        (
            format!("{unix}{at}tls = {{ cert_file = \"a\", key_file = \"b\" }}\n"),
            4,
            "syslog[0].tls",
            "transport = \"tls\" only",
        ),
        (
            format!("{unix}{at}\n{unix}{at}name = \"second\"\n"),
            7,
            "syslog[1].path",
            "also the path of syslog[0]",
        ),
        (
            format!("{MINIMAL}path = \"/run/x\"\n"),
            4,
            "syslog[0].path",
            "transport = \"unix\" only",
        ),
        (
            format!("{MINIMAL}mode = \"0600\"\n"),
            4,
            "syslog[0].mode",
            "transport = \"unix\" only",
        ),
        (
            "[[syslog]]\ntransport = \"udp\"\n".to_string(),
            2,
            "syslog[0].address",
            "needs address",
        ),
    ];
    for (text, line, key, needle) in cases {
        let (l, k, msg) = err(&text);
        assert_eq!((l, k.as_str()), (line, key), "{text}: {msg}");
        assert!(msg.contains(needle), "{text}: {msg}");
    }
}

#[test]
fn a_rule_users_write_is_checked_with_its_index_key_and_line() {
    let text = format!(
        "{MINIMAL}\n[[detect.rule]]\nid = \"a\"\nthreshold = 2\nwindow = \"1m\"\n\n[[detect.rule]]\nid = \"b\"\nthreshold = 2\nwindow = \"1m\"\ngroup_by = [\"host\"]\n"
    );
    let (line, key, msg) = err(&text);
    assert_eq!(key, "detect.rule[1].group_by", "{msg}");
    assert_eq!(
        line,
        text.lines()
            .position(|l| l.starts_with("group_by"))
            .unwrap()
            + 1
    );
    assert!(
        msg.contains("source.ip"),
        "the message lists the fields: {msg}"
    );
    let ok = parse(&text.replace("[\"host\"]", "[\"user.name\"]")).unwrap();
    assert_eq!(ok.detect.rule.len(), 2);
}

#[test]
fn a_file_watch_mistake_names_its_key_and_line() {
    let (line, key, msg) = err(&format!(
        "{MINIMAL}[detect.file_watch]\nwindow = \"10m\"\npaths = [\"/etc/shadow\", \"shadow\"]\n"
    ));
    assert_eq!(
        (line, key.as_str()),
        (6, "detect.file_watch.paths[1]"),
        "{msg}"
    );
    assert!(msg.contains("absolute"), "{msg}");
}
