//! Encoding round trips, the documented layout, version 1 and bad payloads.

use super::*;

fn roundtrip(rec: IngestRecord<'_>) {
    let mut buf = vec![0xAA]; // something already in the buffer must be kept
    rec.encode_into(&mut buf);
    assert_eq!(buf[0], 0xAA);
    assert_eq!(buf.len() - 1, rec.encoded_len());
    let back = IngestRecord::decode(&buf[1..]).unwrap();
    assert_eq!(back, rec);
}

#[test]
fn roundtrips_every_kind_peer_and_flags() {
    let raw = b"<13>Nov 22 10:00:00 host prog: hello";
    roundtrip(IngestRecord::syslog(
        1_700_000_000_123_456_789,
        7,
        None,
        RecordFlags::EMPTY,
        raw,
    ));
    roundtrip(IngestRecord::syslog(
        -5,
        u16::MAX,
        Some("192.0.2.7:514".parse().unwrap()),
        RecordFlags::TRUNCATED,
        raw,
    ));
    roundtrip(IngestRecord::syslog(
        i64::MAX,
        0,
        Some(SocketAddr::V6(SocketAddrV6::new(
            "fe80::1".parse().unwrap(),
            6514,
            0,
            3,
        ))),
        RecordFlags::TRUNCATED | RecordFlags::INCOMPLETE,
        b"",
    ));
    roundtrip(IngestRecord {
        received_ns: 9,
        source: 3,
        origin: Origin::File {
            path: b"/var/log/auth\xffl.log",
            offset: u64::MAX - 1,
        },
        flags: RecordFlags::INCOMPLETE,
        raw: b"Dec  1 10:00:00 h sshd[1]: x",
    });
    roundtrip(IngestRecord {
        received_ns: 11,
        source: 2,
        origin: Origin::Syslog(Sender {
            peer: Some("192.0.2.7:6514".parse().unwrap()),
            client: Some(b"CN=web1.example\x1fDNS:web1.example"),
            cred: None,
        }),
        flags: RecordFlags::TRUNCATED,
        raw,
    });
    roundtrip(IngestRecord {
        received_ns: 12,
        source: 5,
        origin: Origin::Syslog(Sender {
            peer: None,
            client: None,
            cred: Some(PeerCred {
                pid: 4242,
                uid: 1000,
                gid: u32::MAX,
            }),
        }),
        flags: RecordFlags::EMPTY,
        raw: b"<13>Dec  2 07:00:00 app[4242]: hi",
    });
    roundtrip(IngestRecord {
        received_ns: 13,
        source: 6,
        origin: Origin::App(Sender {
            peer: Some("127.0.0.1:40000".parse().unwrap()),
            client: Some(b"CN=app"),
            cred: Some(PeerCred {
                pid: 1,
                uid: 2,
                gid: 3,
            }),
        }),
        flags: RecordFlags::EMPTY,
        raw: br#"{"actor":"alice","action":"read"}"#,
    });
    roundtrip(IngestRecord {
        received_ns: 10,
        source: 4,
        origin: Origin::Journald,
        flags: RecordFlags::EMPTY,
        raw: br#"{"__CURSOR":"s=1","MESSAGE":"hi"}"#,
    });
}

#[test]
fn layout_is_as_documented() {
    let rec = IngestRecord::syslog(
        0x0102_0304_0506_0708,
        0x0A0B,
        Some("1.2.3.4:258".parse().unwrap()),
        RecordFlags::INCOMPLETE,
        b"xy",
    );
    let mut buf = Vec::new();
    rec.encode_into(&mut buf);
    assert_eq!(
        buf,
        [2, 1, 2, 0x0B, 0x0A, 8, 7, 6, 5, 4, 3, 2, 1, 4, 1, 2, 3, 4, 2, 1, b'x', b'y']
    );
    let file = IngestRecord {
        received_ns: 1,
        source: 2,
        origin: Origin::File {
            path: b"/a",
            offset: 0x0304,
        },
        flags: RecordFlags::EMPTY,
        raw: b"z",
    };
    buf.clear();
    file.encode_into(&mut buf);
    assert_eq!(
        buf,
        [2, 2, 0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 4, 3, 0, 0, 0, 0, 0, 0, 2, 0, b'/', b'a', b'z']
    );
}

#[test]
fn version_1_records_still_decode_as_syslog() {
    // Written by the previous encoder: 1, flags, listener, time, peer, raw.
    let v1 = [
        1, 2, 0x0B, 0x0A, 8, 7, 6, 5, 4, 3, 2, 1, 4, 1, 2, 3, 4, 2, 1, b'x', b'y',
    ];
    let rec = IngestRecord::decode(&v1).unwrap();
    assert_eq!(
        rec,
        IngestRecord::syslog(
            0x0102_0304_0506_0708,
            0x0A0B,
            Some("1.2.3.4:258".parse().unwrap()),
            RecordFlags::INCOMPLETE,
            b"xy",
        )
    );
}

#[test]
fn rejects_bad_payloads() {
    assert_eq!(IngestRecord::decode(b""), Err(RecordError::Empty));
    assert_eq!(
        IngestRecord::decode(&[3, 0, 0]),
        Err(RecordError::UnsupportedVersion(3))
    );
    assert_eq!(
        IngestRecord::decode(&[2, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        Err(RecordError::UnknownKind(9))
    );
    assert_eq!(
        IngestRecord::decode(&[2, 1, 0, 0]),
        Err(RecordError::Truncated { len: 4, need: 13 })
    );
    let mut buf = Vec::new();
    IngestRecord::syslog(
        1,
        1,
        Some("[::1]:1".parse().unwrap()),
        RecordFlags::EMPTY,
        b"",
    )
    .encode_into(&mut buf);
    assert_eq!(
        IngestRecord::decode(&buf[..20]),
        Err(RecordError::Truncated { len: 20, need: 36 })
    );
    buf[13] = 9;
    assert_eq!(
        IngestRecord::decode(&buf),
        Err(RecordError::UnknownPeerKind(9))
    );
    // A file path longer than the payload.
    let mut f = Vec::new();
    IngestRecord {
        received_ns: 1,
        source: 1,
        origin: Origin::File {
            path: b"/var/log/x",
            offset: 1,
        },
        flags: RecordFlags::EMPTY,
        raw: b"",
    }
    .encode_into(&mut f);
    assert!(matches!(
        IngestRecord::decode(&f[..f.len() - 3]),
        Err(RecordError::Truncated { .. })
    ));
}

#[test]
fn flags_contain_and_insert() {
    let mut f = RecordFlags::EMPTY;
    assert!(f.is_empty());
    assert!(!f.contains(RecordFlags::TRUNCATED));
    f.insert(RecordFlags::TRUNCATED);
    assert!(f.contains(RecordFlags::TRUNCATED));
    assert!(!f.contains(RecordFlags::INCOMPLETE));
    assert!(!f.contains(RecordFlags::TRUNCATED | RecordFlags::INCOMPLETE));
    f.insert(RecordFlags::INCOMPLETE);
    assert!(f.contains(RecordFlags::TRUNCATED | RecordFlags::INCOMPLETE));
    // Unknown bits survive a round trip.
    assert_eq!(RecordFlags::from_bits(0x80).bits(), 0x80);
}
