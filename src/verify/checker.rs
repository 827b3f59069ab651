//! Verify's own checks for a reader that uses the content (`query`): the same steps
//! as [`super::verify_archive`] (FORMAT.md §8 steps 1–6 per object, 7–16 across each
//! chain), applied to objects the reader holds in memory, so that the events it hands
//! on come from exactly the bytes that were checked. Nothing here is a second copy of
//! a check: each entry point calls the verifier's own functions.

use std::sync::Arc;

use object_store::path::Path as StorePath;

use crate::segment::stream::{FrameDigester, ObjectScanner};
use crate::segment::{Located, Seal, SegmentError};

use super::object::{check_scanned, check_seal, Ctx, Outcome};
use super::{Keyring, ProblemKind, Report, VerifyOptions, DECODE_AHEAD, MAX_CONTENT_BYTES};

/// One object's verdict from the verifier's per-object checks.
#[derive(Debug)]
pub struct ObjectCheck {
    outcome: Outcome,
    /// Whether the content was checked (false for [`Checker::seal_only`]).
    content_checked: bool,
}

impl ObjectCheck {
    pub fn location(&self) -> &str {
        &self.outcome.location
    }

    /// The seal, when its signature verified under a keyring key (steps 2–3).
    pub fn seal(&self) -> Option<&Seal> {
        self.outcome.seal.as_ref()
    }

    /// Every problem this object has on its own, in the verifier's kinds.
    pub fn problems(&self) -> impl Iterator<Item = &(ProblemKind, String)> {
        self.outcome.always.iter().chain(&self.outcome.in_window)
    }

    /// The seal is authentic, the content was checked against it (hash, Merkle root,
    /// counts) and the object has no problem of its own. Chain-level facts (gaps, key
    /// schedule, forks) come from [`Checker::analyse`].
    pub fn is_verified(&self) -> bool {
        self.content_checked
            && self.outcome.seal.is_some()
            && self.outcome.always.is_empty()
            && self.outcome.in_window.is_empty()
    }
}

/// Runs the verifier's checks against one keyring and archive prefix.
#[derive(Debug, Clone)]
pub struct Checker {
    ctx: Arc<Ctx>,
}

impl Checker {
    pub fn new(prefix: &StorePath, keyring: Keyring) -> Checker {
        Checker {
            ctx: Arc::new(Ctx {
                prefix: prefix.as_ref().to_owned(),
                keyring,
                decode_ahead: DECODE_AHEAD,
                max_content: MAX_CONTENT_BYTES,
            }),
        }
    }

    /// Steps 2–5 on a seal read on its own (from the object's tail): whether it can be
    /// trusted to say the segment's period. The content is not checked, so the result
    /// is never [`ObjectCheck::is_verified`]; it serves the chain analysis of segments
    /// outside the window.
    pub fn seal_only(&self, location: String, found: &Located) -> ObjectCheck {
        let mut out = Outcome::new(location);
        if check_seal(&mut out, &found.seal, &self.ctx) {
            out.hash = found.seal.hash();
            out.seal = Some(found.seal.clone());
        }
        ObjectCheck {
            outcome: out,
            content_checked: false,
        }
    }

    /// Steps 1–6 on a whole object, as `verify` checks one it streams: the scan (with
    /// the same decode-ahead budget), then, for an authentic seal whose content is
    /// longer, the second decode limited by its `content_len`.
    pub fn object(&self, location: String, bytes: &[u8]) -> Result<ObjectCheck, SegmentError> {
        let mut scanner = ObjectScanner::new(self.ctx.decode_ahead.min(self.ctx.max_content))?;
        for chunk in bytes.chunks(1 << 20) {
            scanner.feed(chunk);
            if scanner.decided() {
                break;
            }
        }
        let checked = check_scanned(location, scanner.finish(), &self.ctx);
        let mut outcome = checked.outcome;
        let lengths = outcome.pending_seal().map(|s| (s.data_len, s.content_len));
        if let Some((data_len, content_len)) = lengths.filter(|_| checked.decode_again) {
            let frame = usize::try_from(data_len).ok().and_then(|n| bytes.get(..n));
            match frame {
                Some(frame) => {
                    let mut digester = FrameDigester::new(content_len)?;
                    digester.feed(frame);
                    let (sha, decoded) = digester.finish();
                    outcome.finish_content(sha, decoded);
                }
                None => outcome.content_unreadable(format!(
                    "the seal says a data frame of {data_len} bytes; the object has {}",
                    bytes.len()
                )),
            }
        }
        Ok(ObjectCheck {
            outcome,
            content_checked: true,
        })
    }

    /// An object that is one problem before any check (unreadable, too large).
    pub fn reported(&self, location: String, kind: ProblemKind, detail: String) -> ObjectCheck {
        ObjectCheck {
            outcome: Outcome::reported(location, kind, detail),
            content_checked: false,
        }
    }

    /// Steps 7–16 (the window, sequence, links, tiling, heartbeats, key schedule, head
    /// and tail) over the objects' checks: the report `verify` gives for the same
    /// objects and options. `skipped` counts the objects left unread by their key's
    /// date; `objects` every entry listed.
    pub fn analyse(
        &self,
        checks: Vec<ObjectCheck>,
        opts: &VerifyOptions,
        objects: usize,
        skipped: usize,
        bytes: u64,
    ) -> Report {
        let outcomes = checks.into_iter().map(|c| c.outcome).collect();
        let mut report = super::chain::analyse(outcomes, &self.ctx.prefix, opts, skipped);
        report.objects = objects;
        report.skipped += skipped;
        report.bytes = bytes;
        report.verified_at_ns = crate::record::now_ns();
        report
    }
}
