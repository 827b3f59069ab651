//! What `verify` concludes about a daemon-made archive across stops: a clean stop is
//! sealed (a stop segment), so a planned stop is told apart from a crash and from a
//! truncated tail, and each downtime is reported from the last seal before it to the
//! start after it.

mod common;

use common::*;

#[test]
fn planned_stops_and_crashes_are_told_apart_and_each_downtime_is_exact() {
    let env = TestEnv::new();
    let (cfg, port) = tcp_config("verdict");
    // Run 1, stopped on purpose.
    let d = env.start(&cfg);
    send_tcp(port, b"<13>Dec  2 07:00:00 h app: run one\n");
    d.stop();
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Run 2, killed.
    let mut d = env.start(&cfg);
    send_tcp(port, b"<13>Dec  2 07:00:00 h app: run two\n");
    d.wait_idle();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    d.kill9();
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Run 3, stopped on purpose.
    let d = env.start(&cfg);
    send_tcp(port, b"<13>Dec  2 07:00:00 h app: run three\n");
    d.stop();

    let objects = read_archive(&env.archive_dir);
    let seals: Vec<serde_json::Value> = objects
        .iter()
        .map(|o| {
            let out = sealtrail(&["inspect", "--seal-only", o.path.to_str().unwrap()]);
            serde_json::from_str(out.stdout_str().trim()).unwrap()
        })
        .collect();
    let kinds: Vec<&str> = seals.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds.last(),
        Some(&"stop"),
        "the last run ended on purpose: {kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "stop").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "resume").count(),
        2,
        "{kinds:?}"
    );
    // Each resume is empty, and its period is the downtime.
    for (i, s) in seals.iter().enumerate() {
        if s["kind"] == "resume" {
            assert_eq!(s["event_count"], 0, "{s}");
            assert_eq!(s["period_start_ns"], seals[i - 1]["period_end_ns"]);
        }
    }
    let until = now_rfc3339();
    let out = env.verify(&cfg, &["--until", &until, "--json"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let r = verify_json(&out);
    let st = &r["streams"][0];
    let down = st["downtime"].as_array().unwrap();
    assert_eq!(down.len(), 2, "{st}");
    assert_eq!(down[0]["planned"], true, "run 1 was stopped: {st}");
    assert_eq!(down[1]["planned"], false, "run 2 was killed: {st}");
    let resumes: Vec<&serde_json::Value> = seals.iter().filter(|s| s["kind"] == "resume").collect();
    for (d, s) in down.iter().zip(&resumes) {
        assert_eq!(
            d["start_ns"],
            s["period_start_ns"].to_string().trim_matches('"')
        );
        assert_eq!(
            d["end_ns"],
            s["period_end_ns"].to_string().trim_matches('"')
        );
    }
    assert_eq!(st["tail"]["state"], "stopped");
    let text = env.verify(&cfg, &[]).stdout_str();
    assert!(text.contains("after a planned stop"), "{text}");
    assert!(text.contains("a crash, a kill or a power cut"), "{text}");
    assert!(text.contains("tail: not checked"), "{text}");
    assert_eq!(json_event_total(&r), 3);
}
