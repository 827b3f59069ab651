//! The per-connection context in the decode step: filled for the detector, never
//! sealed.

use super::*;

const T: i64 = 1_732_933_600_000_000_000;

fn decode_all(
    n: &mut Normaliser,
    lines: &[&str],
) -> Vec<(Option<crate::auth::AuthEvent<'static>>, Vec<u8>)> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let rec = record(l.as_bytes(), T);
            let input = Input::of(&rec);
            let d = n.decode(&rec, &input);
            let mut compact = Vec::new();
            n.write_compact(i as u64, &d.event, d.auth.as_ref(), &mut compact);
            (d.auth.map(|a| a.into_owned()), compact)
        })
        .collect()
}

#[test]
fn filled_for_the_detector_and_left_out_of_the_sealed_line() {
    let lines = [
        "<38>Nov 30 02:26:40 web1 sshd[4200]: Failed password for root from 203.0.113.51 port 40200 ssh2",
        "<38>Nov 30 02:26:41 web1 sshd[4200]: Disconnecting: Too many authentication failures [preauth]",
    ];
    let mut n = normaliser(TimeZoneSpec::Utc);
    let out = decode_all(&mut n, &lines);
    let a = out[1].0.as_ref().unwrap();
    assert_eq!(a.source_ip, Some("203.0.113.51".parse().unwrap()));
    assert_eq!(a.user_name(), Some("root"));
    assert!(a.from_connection.source && a.from_connection.user);
    // The sealed line is the one the record alone gives: what a fresh normaliser makes
    // of it without the first line.
    let alone = decode_all(&mut normaliser(TimeZoneSpec::Utc), &lines[1..]);
    assert!(alone[0].0.as_ref().unwrap().from_connection.is_empty());
    let (sealed, alone) = (
        String::from_utf8_lossy(&out[1].1),
        String::from_utf8_lossy(&alone[0].1),
    );
    assert_eq!(sealed.replace("\"pos\":1", "\"pos\":0"), alone);
    assert!(!sealed.contains("203.0.113.51\""), "{sealed}");
}

#[test]
fn replay_view_names_what_came_from_the_connection() {
    let lines = [
        "<38>Nov 30 02:26:40 web1 sshd[4100]: Invalid user oracle from 203.0.113.50 port 40100",
        "<38>Nov 30 02:26:41 web1 sshd[4100]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.50",
    ];
    let mut n = normaliser(TimeZoneSpec::Utc);
    let mut last = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let rec = record(l.as_bytes(), T);
        let input = Input::of(&rec);
        let d = n.decode(&rec, &input);
        last.clear();
        n.write_detected(i as u64, &d.event, d.auth.as_ref(), &mut last);
    }
    let v: Value = serde_json::from_slice(&last).unwrap();
    assert_eq!(v["user"]["name"], "oracle");
    assert_eq!(v["source"]["ip"], "203.0.113.50");
    assert_eq!(
        v["sealtrail"]["auth"]["from_connection"],
        json!(["user.name"])
    );
    assert_eq!(v["sealtrail"]["auth"]["attempts"], 0);
}
