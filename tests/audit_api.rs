//! The application audit API against real clients: `curl` (single event, batch,
//! malformed JSON, oversize body, wrong and missing token, the unix socket) and the
//! Python client of `docs/AUDIT_API.md` run as it stands there; `kill -9` right after
//! a 2xx reply loses none of the acknowledged events. Every event is read back from
//! the sealed archive and rendered as ECS.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{
    alerts, all_events, field, field_str, free_port, read_archive, run_cmd, wait_until, CmdOutput,
    Config, Listener, TestEnv, Transport,
};
use serde_json::Value;

const TOKEN: &str = "Zm9vYmFy-audit-test-token";

struct Api {
    port: u16,
    socket: PathBuf,
    token_file: PathBuf,
}

/// A config with one TCP syslog listener (the harness waits for it) and two audit
/// endpoints: loopback TCP with a token, and a unix socket.
fn config(env: &TestEnv, extra: &str) -> (Config, Api) {
    let token_file = env.path().join("audit.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let api = Api {
        port: free_port(),
        socket: env.path().join("audit.sock"),
        token_file,
    };
    let mut cfg = Config::new(
        "apps-host",
        vec![Listener::new("tcp", Transport::Tcp, free_port())],
    );
    cfg.extra_toml = format!(
        "\n[[audit_api]]\nname = \"apps\"\naddress = \"127.0.0.1:{}\"\ntoken_file = \"{}\"\nmax_body_bytes = 8192\n{extra}\n\n[[audit_api]]\nname = \"local\"\npath = \"{}\"\n",
        api.port,
        api.token_file.display(),
        api.socket.display()
    );
    (cfg, api)
}

fn wait_api(api: &Api) {
    wait_until("the audit API listens", || {
        std::net::TcpStream::connect(("127.0.0.1", api.port)).is_ok() && api.socket.exists()
    });
}

/// `curl` POSTing `body` with `args`; returns the HTTP status and the reply's JSON.
fn curl(api: &Api, args: &[&str], body: &[u8]) -> (u16, Value) {
    let dir = api.token_file.parent().unwrap();
    let file = dir.join(format!("body-{}", rand_suffix()));
    std::fs::write(&file, body).unwrap();
    let url = format!("http://127.0.0.1:{}/v1/events", api.port);
    let out = run_cmd(
        Command::new("curl")
            .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--data-binary"])
            .arg(format!("@{}", file.display()))
            .args(args)
            .arg(if args.contains(&"--unix-socket") {
                "http://localhost/v1/events"
            } else {
                &url
            }),
        Duration::from_secs(30),
    );
    parse_curl(&out)
}

fn parse_curl(out: &CmdOutput) -> (u16, Value) {
    assert_eq!(out.code, Some(0), "curl failed: {}", out.describe());
    let text = out.stdout_str();
    let (body, code) = text
        .trim_end()
        .rsplit_once('\n')
        .unwrap_or(("", text.trim()));
    (
        code.trim().parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn bearer() -> String {
    format!("Authorization: Bearer {TOKEN}")
}

fn ids(reply: &Value) -> Vec<String> {
    reply["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The archive's events by `event.id`.
fn archived(env: &TestEnv) -> std::collections::HashMap<String, Value> {
    all_events(&read_archive(&env.archive_dir))
        .into_iter()
        .filter_map(|e| Some((field_str(&e, "event.id")?.to_string(), e)))
        .collect()
}

#[test]
fn curl_events_are_sealed_as_ecs_and_bad_requests_store_nothing() {
    let env = TestEnv::new();
    let (cfg, api) = config(&env, "");
    let daemon = env.start(&cfg);
    wait_api(&api);
    let b = bearer();
    let auth = ["-H", b.as_str()];

    let one = br#"{"actor":{"name":"alice","id":"u-1"},"action":"record.read","resource":{"type":"patient","id":"1234"},"outcome":"success","source_ip":"198.51.100.7","context":{"ticket":"T-1"}}"#;
    let (status, reply) = curl(&api, &auth, one);
    assert_eq!(status, 200, "{reply}");
    let single = ids(&reply);
    assert_eq!(single.len(), 1);

    let batch = br#"[{"actor":"bob","action":"record.update","outcome":"failure","reason":"not on the care team"},
                     {"actor":"bob","action":"record.read","outcome":"success"}]"#;
    let (status, reply) = curl(&api, &auth, batch);
    assert_eq!(status, 200, "{reply}");
    let batch_ids = ids(&reply);
    assert_eq!(batch_ids.len(), 2);

    // Refusals: each says why, and none stores anything.
    let (status, reply) = curl(&api, &auth, b"{\"actor\":\"x\",\"action\":");
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("not JSON"),
        "{reply}"
    );
    let (status, reply) = curl(
        &api,
        &auth,
        b"{\"actor\":\"x\",\"action\":\"ok\"}\n{\"actor\":\"x\",\"action\":\"y\",\"outcome\":\"perhaps\"}\n",
    );
    assert_eq!(status, 400);
    assert_eq!(reply["event"], 1, "{reply}");
    let big = format!(
        r#"{{"actor":"x","action":"big","reason":"{}"}}"#,
        "r".repeat(9000)
    );
    let (status, reply) = curl(&api, &auth, big.as_bytes());
    assert_eq!(status, 413, "{reply}");
    let (status, reply) = curl(&api, &["-H", "Authorization: Bearer nope"], one);
    assert_eq!(status, 401, "{reply}");
    let (status, reply) = curl(&api, &[], one);
    assert_eq!(status, 401, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("missing"),
        "{reply}"
    );

    // The unix socket: no token, the caller's credentials instead.
    let sock = api.socket.display().to_string();
    let (status, reply) = curl(
        &api,
        &["--unix-socket", &sock],
        br#"{"actor":"backup","action":"export","outcome":"success"}"#,
    );
    assert_eq!(status, 200, "{reply}");
    let local = ids(&reply);

    let log = daemon.stderr_path.clone();
    daemon.stop();
    let log = std::fs::read_to_string(log).unwrap();
    assert!(!log.contains(TOKEN), "the token is never logged");
    assert!(
        !api.socket.exists(),
        "the socket is removed at a clean stop"
    );
    let events = archived(&env);
    let audit: Vec<&Value> = events
        .values()
        .filter(|e| {
            field_str(e, "observer.ingress.name").is_some_and(|n| n == "apps" || n == "local")
        })
        .collect();
    assert_eq!(audit.len(), 4, "exactly the accepted events: {audit:#?}");
    let e = &events[&single[0]];
    assert_eq!(field_str(e, "event.original").unwrap().as_bytes(), one);
    assert_eq!(field_str(e, "user.name"), Some("alice"));
    assert_eq!(field_str(e, "user.id"), Some("u-1"));
    assert_eq!(field_str(e, "event.action"), Some("record.read"));
    assert_eq!(field_str(e, "event.outcome"), Some("success"));
    assert_eq!(field_str(e, "source.ip"), Some("198.51.100.7"));
    assert_eq!(
        field_str(e, "sealtrail.audit.resource.type"),
        Some("patient")
    );
    assert_eq!(field_str(e, "sealtrail.audit.context.ticket"), Some("T-1"));
    assert_eq!(
        field_str(e, "message"),
        Some("alice record.read patient/1234: success")
    );
    assert!(field_str(e, "log.source.address")
        .unwrap()
        .starts_with("127.0.0.1:"));
    let refused = &events[&batch_ids[0]];
    assert_eq!(field_str(refused, "event.outcome"), Some("failure"));
    assert_eq!(
        field_str(refused, "event.reason"),
        Some("not on the care team")
    );
    let l = &events[&local[0]];
    assert_eq!(field_str(l, "user.name"), Some("backup"));
    let peer = &l["sealtrail"]["peer"];
    assert_eq!(peer["uid"].as_u64(), Some(u64::from(common::uid())), "{l}");
    assert!(peer["pid"].as_u64().unwrap() > 1, "curl's pid: {l}");
    common::assert_verify_ok(&env.verify(&cfg, &[]), "audit events");
}

/// The Python client exactly as `docs/AUDIT_API.md` shows it.
fn doc_client(dir: &Path) -> PathBuf {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/AUDIT_API.md")).unwrap();
    let start = doc
        .find("<!-- client.py: begin")
        .expect("the client's begin marker");
    let end = doc
        .find("<!-- client.py: end")
        .expect("the client's end marker");
    let block = &doc[start..end];
    let code = block
        .split_once("```python\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(code, _)| code)
        .expect("a python block between the markers");
    let path = dir.join("client.py");
    std::fs::write(&path, code).unwrap();
    path
}

#[test]
fn the_documented_python_client_and_kill_9_after_the_reply() {
    let env = TestEnv::new();
    let (cfg, api) = config(&env, "");
    let daemon = env.start(&cfg);
    wait_api(&api);
    let client = doc_client(env.path());
    let url = format!("http://127.0.0.1:{}/v1/events", api.port);
    let run = |actor: &str, action: &str| {
        run_cmd(
            Command::new("python3")
                .arg(&client)
                .args([actor, action])
                .env("SEALTRAIL_AUDIT_URL", &url)
                .env("SEALTRAIL_AUDIT_TOKEN", &api.token_file),
            Duration::from_secs(60),
        )
    };
    // The client prints the ids of what was acknowledged; each is durable from then on.
    let mut acked = Vec::new();
    for i in 0..20 {
        let out = run("carol", &format!("report.export.{i}"));
        assert_eq!(out.code, Some(0), "{}", out.describe());
        let printed = out.stdout_str().trim().replace('\'', "\"");
        let got: Vec<String> = serde_json::from_str(&printed).unwrap();
        assert_eq!(got.len(), 1, "{printed}");
        acked.extend(got);
    }
    // The moment the last reply is in: kill -9, no chance to flush anything more.
    daemon.kill9();
    let daemon = env.start(&cfg);
    wait_api(&api);
    // An error the client raises, with the daemon's reason.
    let out = run("", "x");
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr_str().contains("actor: must not be empty"),
        "{}",
        out.describe()
    );
    daemon.stop();
    let events = archived(&env);
    for (i, id) in acked.iter().enumerate() {
        let e = events
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged event {id} is missing after kill -9"));
        assert_eq!(field_str(e, "user.name"), Some("carol"));
        assert_eq!(
            field_str(e, "event.action").map(str::to_string),
            Some(format!("report.export.{i}"))
        );
    }
    common::assert_verify_ok(&env.verify(&cfg, &[]), "after kill -9");
}

#[test]
fn check_config_refuses_an_unsafe_or_incomplete_endpoint() {
    let env = TestEnv::new();
    let (mut cfg, api) = config(&env, "");
    // A token every user can read.
    std::fs::set_permissions(&api.token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.write_config(&cfg);
    let out = common::sealtrail(&[
        "check-config",
        "--config",
        env.config_path.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(78), "{}", out.describe());
    let err = out.stderr_str();
    assert!(
        err.contains("audit_api[0].token_file") && err.contains("every user"),
        "{err}"
    );
    assert!(!err.contains(TOKEN), "{err}");
    std::fs::set_permissions(&api.token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    // No token on TCP; an open address without TLS; a bad mode.
    for (table, key) in [
        (
            format!("address = \"127.0.0.1:{}\"", free_port()),
            "audit_api[2].token_file",
        ),
        (
            format!(
                "address = \"0.0.0.0:{}\"\ntoken_file = \"{}\"",
                free_port(),
                api.token_file.display()
            ),
            "audit_api[2].tls",
        ),
        (
            format!("path = \"{}/x.sock\"\nmode = \"999\"", env.path().display()),
            "audit_api[2].mode",
        ),
        (String::new(), "audit_api[2].address"),
    ] {
        let (base, _) = config(&env, "");
        cfg.extra_toml = format!(
            "{}\n[[audit_api]]\nname = \"second\"\n{table}\n",
            base.extra_toml
        );
        env.write_config(&cfg);
        let out = common::sealtrail(&[
            "check-config",
            "--config",
            env.config_path.to_str().unwrap(),
        ]);
        assert_eq!(out.code, Some(78), "{table}: {}", out.describe());
        assert!(
            out.stderr_str().contains(key),
            "{table}: {}",
            out.stderr_str()
        );
        let err = out.stderr_str();
        let line = err
            .split_once("sealtrail.toml:")
            .and_then(|(_, rest)| rest.split(':').next())
            .and_then(|n| n.parse::<usize>().ok());
        assert!(line.is_some_and(|n| n > 1), "names the line: {err}");
    }
}

#[test]
fn https_with_client_certificates_seals_the_callers_identity() {
    let env = TestEnv::new();
    let pki = common::pki::Pki::make(&env.path().join("pki"));
    let (mut cfg, api) = config(&env, "");
    let https = free_port();
    // Client certificates required: no token needed, the certificate is the caller.
    cfg.extra_toml.push_str(&format!(
        "\n[[audit_api]]\nname = \"remote\"\naddress = \"127.0.0.1:{https}\"\ntls = {{ cert_file = \"{}\", key_file = \"{}\", client_ca_file = \"{}\" }}\n",
        pki.server_cert.display(),
        pki.server_key.display(),
        pki.ca.display()
    ));
    let daemon = env.start(&cfg);
    wait_api(&api);
    wait_until("the HTTPS endpoint listens", || {
        std::net::TcpStream::connect(("127.0.0.1", https)).is_ok()
    });
    let url = format!("https://127.0.0.1:{https}/v1/events");
    let post = |extra: &[&str]| {
        run_cmd(
            Command::new("curl")
                .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert"])
                .arg(&pki.ca)
                .args(extra)
                .args([
                    "--data",
                    r#"{"actor":"svc-billing","action":"invoice.approve","outcome":"success"}"#,
                ])
                .arg(&url),
            Duration::from_secs(30),
        )
    };
    let cert = pki.client_cert.display().to_string();
    let key = pki.client_key.display().to_string();
    let (status, reply) = parse_curl(&post(&["--cert", &cert, "--key", &key]));
    assert_eq!(status, 200, "{reply}");
    let id = ids(&reply).remove(0);
    // Without a certificate the handshake is refused: curl fails, nothing is stored.
    let out = post(&[]);
    assert_ne!(
        out.code,
        Some(0),
        "a client without a certificate is refused: {}",
        out.describe()
    );
    daemon.stop();
    let events = archived(&env);
    let e = &events[&id];
    assert_eq!(field_str(e, "user.name"), Some("svc-billing"));
    assert_eq!(field_str(e, "tls.client.subject"), Some("CN=client"));
    assert_eq!(
        e["tls"]["client"]["x509"]["alternative_names"],
        serde_json::json!(["DNS:web1.example"])
    );
    let remote = events
        .values()
        .filter(|e| field_str(e, "observer.ingress.name") == Some("remote"))
        .count();
    assert_eq!(remote, 1);
}

#[test]
fn the_access_rules_alert_on_posted_events_and_the_alerts_are_sealed() {
    let env = TestEnv::new();
    let (cfg, api) = config(
        &env,
        "\n[detect.access]\ndenied_threshold = 3\n\n[detect.access.allow]\npatient = [\"dr_grey\"]\n",
    );
    let daemon = env.start(&cfg);
    wait_api(&api);
    let b = bearer();
    let auth = ["-H", b.as_str()];
    let denied = br#"[{"actor":"mallory","action":"record.read","outcome":"failure","resource":{"type":"payroll","id":"1"}},
                      {"actor":"mallory","action":"record.read","outcome":"failure","resource":{"type":"payroll","id":"2"}},
                      {"actor":"mallory","action":"record.read","outcome":"failure","resource":{"type":"payroll","id":"3"}}]"#;
    let (status, reply) = curl(&api, &auth, denied);
    assert_eq!(status, 200, "{reply}");
    let denied_ids = ids(&reply);
    let (status, reply) = curl(
        &api,
        &auth,
        br#"{"actor":"mallory","action":"record.read","outcome":"success","resource":{"type":"patient","id":"77"}}"#,
    );
    assert_eq!(status, 200, "{reply}");
    let (status, _) = curl(
        &api,
        &auth,
        br#"{"actor":"dr_grey","action":"record.read","outcome":"success","resource":{"type":"patient","id":"77"}}"#,
    );
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(500));
    daemon.stop();
    let events = all_events(&read_archive(&env.archive_dir));
    let sealed = alerts(&events);
    let rules: Vec<&str> = sealed
        .iter()
        .filter_map(|a| field_str(a, "rule.id"))
        .collect();
    assert_eq!(rules.len(), 2, "{sealed:#?}");
    assert!(rules.contains(&"access_denied_burst"), "{rules:?}");
    assert!(rules.contains(&"access_not_allowed"), "{rules:?}");
    let burst = sealed
        .iter()
        .find(|a| field_str(a, "rule.id") == Some("access_denied_burst"))
        .unwrap();
    assert_eq!(field_str(burst, "user.name"), Some("mallory"));
    let evidence: Vec<&str> = field(burst, "sealtrail.alert.evidence")
        .and_then(Value::as_array)
        .expect("evidence")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // The evidence ids are the sealed events' ids, which the API replied with.
    let sealed_ids: Vec<&str> = events
        .iter()
        .filter_map(|e| field_str(e, "event.id"))
        .collect();
    assert_eq!(evidence.len(), 3, "{evidence:?}");
    for e in &evidence {
        assert!(sealed_ids.contains(e), "{e}");
    }
    assert_eq!(denied_ids.len(), 3);
}
