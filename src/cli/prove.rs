//! `sealtrail prove` and `sealtrail check-proof`: arguments, reading keys and files,
//! and exit codes. The proof itself is `crate::proof`.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::runtime;
use super::verify::{KeyArgs, S3Args};
use crate::proof::{ChainTo, FindError, Proof, MAX_PROOF_BYTES};

pub const PROVE_ABOUT: &str = "\
Write a self-contained proof that one event is in the archive, unmodified: the event \
line exactly as sealed, its RFC 6962 audit path to its segment's Merkle root, and the \
segment's signed seal (optionally also the later seals that chain it to the stream's \
head or to an anchor). Hand one event to someone without handing over the segment's \
other events, nor the archive: `sealtrail check-proof` checks it with the public key \
alone. The format is docs/FORMAT.md §12.

Exit: 0 proof written; 1 no such event, or the archive cannot prove it (its segment \
does not match its seal, the chain is broken); 2 usage error, unreadable key, archive \
that cannot be opened or listed.";

pub const CHECK_ABOUT: &str = "\
Check an event proof written by `sealtrail prove`, with nothing but the public key (or \
keyring): no archive, no other event. It checks that the file is the proof's one \
canonical encoding (a changed byte anywhere fails), that the seal is signed by the key \
its key id names, that the event line hashes along the audit path to the seal's Merkle \
root over exactly event_count lines, that the event id names the seal's stream and the \
line, and that each chained seal follows the one before and is signed by the key valid \
for it. With --anchor, the proof must end at the anchor's seal. See docs/FORMAT.md §12.

Exit: 0 valid; 1 invalid (what failed is named on stderr, and in --json as `kind`); 2 \
usage error, or the proof file or a key cannot be read.";

#[derive(clap::Args, Debug)]
pub struct ProveArgs {
    /// The event's id, `<stream>:<position>` (its ECS `event.id`), or an alert's id.
    event_id: String,
    /// Archive: a directory, file:///absolute/path, or s3://bucket/prefix.
    #[arg(long, value_name = "ARCHIVE")]
    archive: String,
    #[command(flatten)]
    keys: KeyArgs,
    /// Write the proof here (default: standard output).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also include every later seal of the stream up to the newest in the archive,
    /// so the proof ties the event to the chain head (which an anchor can confirm).
    #[arg(long, conflicts_with = "to_anchor")]
    to_head: bool,
    /// Also include the later seals up to this anchor's seal (docs/FORMAT.md §11: a
    /// file, an http(s):// URL or an s3://bucket/key object). The archive must reach it.
    #[arg(long, value_name = "FILE|URL")]
    to_anchor: Option<String>,
    #[command(flatten)]
    s3: S3Args,
}

#[derive(clap::Args, Debug)]
pub struct CheckProofArgs {
    /// The proof file (`-`: standard input).
    proof: PathBuf,
    #[command(flatten)]
    keys: KeyArgs,
    /// An anchor file (docs/FORMAT.md §11): the proof's last seal must be its seal.
    #[arg(long, value_name = "FILE")]
    anchor: Option<PathBuf>,
    /// Machine-readable result.
    #[arg(long)]
    json: bool,
}

pub fn prove(a: ProveArgs) -> i32 {
    let ring = match super::verify::load_keyring(&a.keys.key) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return 2;
        }
    };
    let section = a.s3.archive_section(&a.archive);
    let archive = match crate::store::open(&section, false) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return 2;
        }
    };
    let found = rt.block_on(async {
        let to = match (&a.to_anchor, a.to_head) {
            (Some(src), _) => ChainTo::Anchor(Box::new(
                crate::verify::anchor::load(src, &section)
                    .await
                    .map_err(|e| (2, e.to_string()))?,
            )),
            (None, true) => ChainTo::Head,
            (None, false) => ChainTo::Own,
        };
        crate::proof::find(&archive, &a.event_id, &ring, &to)
            .await
            .map_err(|e| {
                let code = match e {
                    FindError::BadId(_) | FindError::Store(_) => 2,
                    _ => 1,
                };
                (code, e.to_string())
            })
    });
    let found = match found {
        Ok(f) => f,
        Err((code, e)) => {
            eprintln!("error: {e}");
            return code;
        }
    };
    let bytes = found.proof.encode();
    let written = match &a.output {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))
        }
        None => std::io::stdout()
            .lock()
            .write_all(&bytes)
            .context("writing the proof"),
    };
    if let Err(e) = written {
        eprintln!("error: {e:#}");
        return 2;
    }
    let p = &found.proof;
    eprintln!(
        "proof of {}: {} (leaf {} of {}), {} later seal(s) chained; {} of the stream's {} segments decoded to find it",
        p.event_id,
        found.object,
        p.leaf_index,
        p.tree_size,
        p.chain.len(),
        found.decoded,
        found.segments
    );
    0
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let limit = MAX_PROOF_BYTES + 1;
    if path == Path::new("-") {
        std::io::stdin().lock().take(limit).read_to_end(&mut buf)?;
    } else {
        std::fs::File::open(path)?
            .take(limit)
            .read_to_end(&mut buf)?;
    }
    Ok(buf)
}

pub fn check_proof(a: CheckProofArgs) -> i32 {
    let prepared = (|| -> anyhow::Result<_> {
        let ring = super::verify::load_keyring(&a.keys.key)?;
        let anchor = match &a.anchor {
            Some(path) => {
                let text = std::fs::read(path)
                    .with_context(|| format!("reading anchor {}", path.display()))?;
                Some(
                    crate::segment::anchor::from_json(&text)
                        .with_context(|| format!("anchor {}", path.display()))?,
                )
            }
            None => None,
        };
        let bytes =
            read_input(&a.proof).with_context(|| format!("reading {}", a.proof.display()))?;
        Ok((ring, anchor, bytes))
    })();
    let (ring, anchor, bytes) = match prepared {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e:#}");
            return 2;
        }
    };
    let verdict = Proof::parse(&bytes)
        .and_then(|p| crate::proof::check(&p, &ring, anchor.as_ref()).map(|c| (p, c)));
    let name = a.proof.display();
    let mut out = std::io::stdout().lock();
    match verdict {
        Ok((p, c)) => {
            let text = if a.json {
                serde_json::json!({
                    "valid": true,
                    "event_id": p.event_id,
                    "stream": c.seal.stream,
                    "seq": c.seal.seq,
                    "leaf_index": p.leaf_index,
                    "tree_size": p.tree_size,
                    "key_id": hex::encode(c.seal.key_id),
                    "merkle_root": hex::encode(c.seal.merkle_root),
                    "seal_hash": hex::encode(c.seal.hash()),
                    "period_start": crate::segment::rfc3339(c.seal.period_start_ns),
                    "period_end": crate::segment::rfc3339(c.seal.period_end_ns),
                    "head_seq": c.head.seq,
                    "head_seal_hash": hex::encode(c.head.hash()),
                    "anchored": c.anchored,
                    "line": String::from_utf8_lossy(&p.line),
                })
                .to_string()
                    + "\n"
            } else {
                let mut t = format!(
                    "{name}: VALID: event {} is line {} of {} of stream {} seq {} ({} .. {}), signed by key {}\n",
                    p.event_id,
                    p.leaf_index,
                    p.tree_size,
                    c.seal.stream,
                    c.seal.seq,
                    crate::segment::rfc3339(c.seal.period_start_ns),
                    crate::segment::rfc3339(c.seal.period_end_ns),
                    hex::encode(c.seal.key_id),
                );
                if p.chain.is_empty() {
                    t.push_str("chain: none (the proof ends at the event's own seal)\n");
                } else {
                    t.push_str(&format!(
                        "chain: seq {} to seq {}, seal hash {}\n",
                        c.seal.seq,
                        c.head.seq,
                        hex::encode(c.head.hash())
                    ));
                }
                if c.anchored {
                    t.push_str("anchor: reached\n");
                }
                t.push_str("line: ");
                t.push_str(&String::from_utf8_lossy(&p.line));
                t.push('\n');
                t
            };
            let _ = out.write_all(text.as_bytes());
            0
        }
        Err(e) => {
            if a.json {
                let doc =
                    serde_json::json!({"valid": false, "kind": e.kind(), "error": e.to_string()});
                let _ = out.write_all((doc.to_string() + "\n").as_bytes());
            }
            eprintln!("{name}: INVALID: {}: {e}", e.kind());
            1
        }
    }
}
