//! Read-back of the archive as an auditor sees it (zstd objects on disk, rendered with
//! the real binary), and access to the events' fields.

use super::*;

/// One archived segment object.
#[derive(Debug, Clone)]
pub struct ArchiveObject {
    /// Key relative to the archive root (`<stream>/<yyyy>/<mm>/<dd>/<seq:012>.seg.zst`).
    pub key: String,
    pub path: PathBuf,
    /// The decompressed data frame: the sealed lines, each ending in `\n`.
    pub content: Vec<u8>,
    /// `content` rendered as ECS lines (compact lines rendered, others as they are),
    /// as `sealtrail inspect` prints them.
    pub ecs: Vec<u8>,
    /// The ECS events.
    pub events: Vec<Value>,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every file under `archive` (relative keys, sorted).
pub fn archive_files(archive: &Path) -> Vec<String> {
    let mut files = Vec::new();
    walk(archive, &mut files);
    let mut keys: Vec<String> = files
        .iter()
        .map(|p| {
            p.strip_prefix(archive)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    keys.sort();
    keys
}

/// Decompresses one object with the zstd library (skippable frames are skipped).
#[track_caller]
pub fn decompress(path: &Path) -> Vec<u8> {
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    zstd::stream::decode_all(f).unwrap_or_else(|e| panic!("zstd decode {}: {e}", path.display()))
}

/// The ECS rendering of a segment's content (its stream is the key's first part),
/// through the library's renderer: the compact lines' fields are checked against the
/// format by `sealtrail::event`, and the tests then read ECS.
#[track_caller]
pub fn render_ecs(key: &str, content: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let stream = key.split('/').next().unwrap_or_default();
    let mut out = Vec::new();
    let mut w = sealtrail::event::EcsLines::new(&mut out, stream);
    w.write_all(content)
        .and_then(|()| w.finish())
        .unwrap_or_else(|e| panic!("{key}: rendering the sealed lines: {e}"));
    out
}

/// Parses JSON lines; panics naming the object on anything that is not one JSON object
/// per `\n`-terminated line.
#[track_caller]
pub fn parse_lines(what: &str, content: &[u8]) -> Vec<Value> {
    if content.is_empty() {
        return Vec::new();
    }
    assert!(
        content.ends_with(b"\n"),
        "{what}: event data does not end with a newline"
    );
    content[..content.len() - 1]
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| {
            let v: Value = serde_json::from_slice(line).unwrap_or_else(|e| {
                panic!(
                    "{what}: line {} is not JSON ({e}): {}",
                    i + 1,
                    String::from_utf8_lossy(line)
                )
            });
            assert!(v.is_object(), "{what}: line {} is not an object", i + 1);
            v
        })
        .collect()
}

/// All segment objects in key order (stream, then date, then sequence), checking the
/// documented key layout on the way. A directory archive's staged uploads are not
/// objects: a `kill -9` in the middle of an upload leaves one behind (the segment is
/// shipped again from the spool), and `verify` does not list them either.
#[track_caller]
pub fn read_archive(archive: &Path) -> Vec<ArchiveObject> {
    archive_files(archive)
        .into_iter()
        .filter(|key| !sealtrail::verify::is_staged_upload(key))
        .map(|key| {
            assert!(
                is_segment_key(&key),
                "unexpected object in archive (want <stream>/<yyyy>/<mm>/<dd>/<seq:012>.seg.zst): {key}"
            );
            let path = archive.join(&key);
            let content = decompress(&path);
            let ecs = render_ecs(&key, &content);
            let events = parse_lines(&key, &ecs);
            ArchiveObject {
                key,
                path,
                content,
                ecs,
                events,
            }
        })
        .collect()
}

/// `<stream>/<yyyy>/<mm>/<dd>/<seq:012>.seg.zst`
pub fn is_segment_key(key: &str) -> bool {
    let parts: Vec<&str> = key.split('/').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    parts.len() == 5
        && !parts[0].is_empty()
        && digits(parts[1], 4)
        && digits(parts[2], 2)
        && digits(parts[3], 2)
        && parts[4]
            .strip_suffix(".seg.zst")
            .is_some_and(|s| digits(s, 12))
}

/// All events of the archive, in archive order.
pub fn all_events(objects: &[ArchiveObject]) -> Vec<Value> {
    objects.iter().flat_map(|o| o.events.clone()).collect()
}

// ---------------------------------------------------------------------------------------
// Event field access

/// Looks up an ECS dotted path (`log.syslog.facility.code`), accepting both nested
/// objects and a flat dotted key at any level.
pub fn field<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(x) = v.get(path) {
        return Some(x);
    }
    for (i, _) in path.match_indices('.') {
        if let Some(x) = v
            .get(&path[..i])
            .and_then(|inner| field(inner, &path[i + 1..]))
        {
            return Some(x);
        }
    }
    None
}

pub fn field_str<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    field(v, path).and_then(Value::as_str)
}

/// The detector's alerts among `events`.
pub fn alerts(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| field_str(e, "event.kind") == Some("alert"))
        .collect()
}

/// The audit events with this `event.action` and `event.outcome`.
pub fn audit_events<'a>(events: &'a [Value], action: &str, outcome: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| {
            field_str(e, "event.action") == Some(action)
                && field_str(e, "event.outcome") == Some(outcome)
        })
        .collect()
}

pub fn field_u64(v: &Value, path: &str) -> Option<u64> {
    field(v, path).and_then(Value::as_u64)
}

/// The event's `tags`.
pub fn tags(v: &Value) -> Vec<String> {
    field(v, "tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn has_tag(v: &Value, tag: &str) -> bool {
    tags(v).iter().any(|t| t == tag)
}

/// The exact original bytes: `sealtrail.original_base64` when present (non-UTF-8 input),
/// else `event.original`.
pub fn original_bytes(v: &Value) -> Vec<u8> {
    use base64::Engine;
    if let Some(b64) = field_str(v, "sealtrail.original_base64") {
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        for e in engines {
            if let Ok(b) = e.decode(b64) {
                return b;
            }
        }
        panic!("sealtrail.original_base64 is not base64: {b64}");
    }
    field_str(v, "event.original")
        .map(|s| s.as_bytes().to_vec())
        .unwrap_or_default()
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Events whose original bytes contain `needle`.
pub fn events_with<'a>(events: &'a [Value], needle: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| contains(&original_bytes(e), needle.as_bytes()))
        .collect()
}

/// A short description of an event for failure messages.
pub fn brief(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 600 {
        let cut: String = s.chars().take(600).collect();
        format!("{cut}… ({} bytes)", s.len())
    } else {
        s
    }
}

/// A string unique to this test run, to tell our messages from anything else.
pub fn marker(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{:x}", std::process::id(), nanos & 0xffff_ffff)
}

/// Asserts `verify` exited 0, printing its output otherwise.
#[track_caller]
pub fn assert_verify_ok(out: &CmdOutput, what: &str) {
    assert_eq!(
        out.code,
        Some(0),
        "verify {what} should pass:\n{}",
        out.describe()
    );
}

/// The `--json` report, parsed.
#[track_caller]
pub fn verify_json(out: &CmdOutput) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verify --json printed no JSON ({e}):\n{}", out.describe()))
}

/// Sum of `streams[].events` in a `verify --json` report.
#[track_caller]
pub fn json_event_total(report: &Value) -> u64 {
    report["streams"]
        .as_array()
        .unwrap_or_else(|| panic!("verify --json has no streams array: {report}"))
        .iter()
        .map(|s| {
            s["events"]
                .as_u64()
                .unwrap_or_else(|| panic!("stream without events count: {s}"))
        })
        .sum()
}

/// Rewrites the seal of the segment file at `path` with `edit` applied and signed by
/// `key`; the data frame is kept as it is.
pub fn reseal_file(
    path: &Path,
    key: &ed25519_dalek::SigningKey,
    edit: impl FnOnce(&mut sealtrail::segment::Seal),
) {
    use ed25519_dalek::Signer;
    let bytes = fs::read(path).unwrap();
    let found = sealtrail::segment::read_seal(&mut std::io::Cursor::new(&bytes)).unwrap();
    let mut s = found.seal;
    edit(&mut s);
    s.signature = key.sign(&s.signed_bytes()).to_bytes();
    let payload = s.to_bytes();
    let mut obj = bytes[..found.seal_start as usize].to_vec();
    obj.extend_from_slice(&sealtrail::segment::SEAL_FRAME_MAGIC.to_le_bytes());
    obj.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    obj.extend_from_slice(&payload);
    fs::write(path, obj).unwrap();
}
