//! Evidence rings: the last few event ids of a key, with their time and kind, for the
//! alerts that key raises.

use serde::{Deserialize, Serialize};

/// Kinds of evidence, as bits, so one ring per key serves every rule of that key.
pub(crate) mod kind {
    pub const FAIL: u8 = 1;
    pub const INVALID: u8 = 2;
    pub const SUDO: u8 = 4;
    pub const DENIED: u8 = 8;
}

/// One evidence id. Every id the daemon makes is `<stream>:<position>`: kept as the
/// number after the ring's shared prefix, it needs no allocation of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Id {
    /// The ring's prefix followed by this number.
    Num(u64),
    /// Any other id, as it was given.
    Text(Box<str>),
}

/// `id` as prefix and number, when it ends in a number written without leading zeros
/// (so that printing the number gives the id back).
fn split_id(id: &str) -> Option<(&str, u64)> {
    let digits = id.bytes().rev().take_while(u8::is_ascii_digit).count();
    let (prefix, num) = id.split_at(id.len() - digits);
    if num.is_empty() || (num.len() > 1 && num.starts_with('0')) {
        return None;
    }
    Some((prefix, num.parse().ok()?))
}

/// The last few event ids of a key with their time and kind. `ids[..live]` are
/// valid; the slots beyond are reused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(from = "EvidenceRepr")]
pub(crate) struct Evidence {
    /// What the [`Id::Num`] ids start with, set by the first one.
    prefix: Option<Box<str>>,
    ids: Vec<(i64, u8, Id)>,
    live: u32,
    head: u32,
}

/// The saved form (as before ids were kept compactly): every id as text, oldest first.
#[derive(Deserialize)]
struct EvidenceRepr {
    ids: Vec<(i64, u8, String)>,
    #[serde(default)]
    live: Option<u32>,
    #[serde(default)]
    head: u32,
}

impl From<EvidenceRepr> for Evidence {
    fn from(r: EvidenceRepr) -> Evidence {
        let live = r
            .live
            .map_or(r.ids.len(), |l| (l as usize).min(r.ids.len()));
        let valid = &r.ids[..live];
        let h = (r.head as usize).min(valid.len());
        let mut e = Evidence::default();
        for (t, k, id) in valid[h..].iter().chain(&valid[..h]) {
            e.push(*t, *k, id, live.max(1));
        }
        e
    }
}

impl Serialize for Evidence {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let v: Vec<(i64, u8, String)> = self
            .ordered()
            .map(|(t, k, id)| (*t, *k, self.render(id)))
            .collect();
        let mut st = s.serialize_struct("Evidence", 3)?;
        st.serialize_field("ids", &v)?;
        st.serialize_field("live", &(v.len() as u32))?;
        st.serialize_field("head", &0u32)?;
        st.end()
    }
}

impl Evidence {
    fn ordered(&self) -> impl Iterator<Item = &(i64, u8, Id)> {
        let v = &self.ids[..(self.live as usize).min(self.ids.len())];
        let h = (self.head as usize).min(v.len());
        v[h..].iter().chain(&v[..h])
    }

    fn render(&self, id: &Id) -> String {
        match id {
            Id::Num(n) => {
                // No `format!`: an alert renders up to `max_evidence` of these.
                let prefix = self.prefix.as_deref().unwrap_or("");
                let mut digits = itoa::Buffer::new();
                let digits = digits.format(*n);
                let mut s = String::with_capacity(prefix.len() + digits.len());
                s.push_str(prefix);
                s.push_str(digits);
                s
            }
            Id::Text(t) => t.to_string(),
        }
    }

    fn compact(&mut self, id: &str) -> Id {
        match split_id(id) {
            Some((p, n))
                if self
                    .prefix
                    .as_deref()
                    .is_some_and(|q| super::state::short_eq(q.as_bytes(), p.as_bytes())) =>
            {
                Id::Num(n)
            }
            Some((p, n)) if self.prefix.is_none() => {
                self.prefix = Some(p.into());
                Id::Num(n)
            }
            _ => Id::Text(id.into()),
        }
    }

    pub fn push(&mut self, t: i64, kind: u8, id: &str, cap: usize) {
        let cap = cap.max(1);
        let id = self.compact(id);
        let live = (self.live as usize).min(self.ids.len());
        if live < cap {
            self.live = live as u32 + 1;
            if live < self.ids.len() {
                self.ids[live] = (t, kind, id);
            } else {
                self.ids.push((t, kind, id));
            }
        } else {
            let h = self.head as usize % live;
            self.head = ((h + 1) % live) as u32;
            self.ids[h] = (t, kind, id);
        }
    }

    /// Ids of `kinds` since `from`, oldest first, at most `max`.
    pub fn collect(&self, kinds: u8, from: i64, max: usize) -> Vec<String> {
        let keep = |e: &&(i64, u8, Id)| e.1 & kinds != 0 && e.0 >= from;
        // Counted first, so the ids are rendered once, straight into the result.
        let skip = self.ordered().filter(keep).count().saturating_sub(max);
        let mut out = Vec::with_capacity(max.min(self.ids.len()));
        out.extend(
            self.ordered()
                .filter(keep)
                .skip(skip)
                .map(|e| self.render(&e.2)),
        );
        out
    }

    /// Empties it, keeping its slots for reuse.
    pub fn reset(&mut self) {
        self.live = 0;
        self.head = 0;
    }

    pub fn resize(&mut self, cap: usize) {
        let v: Vec<(i64, u8, Id)> = self.ordered().cloned().collect();
        let skip = v.len().saturating_sub(cap.max(1));
        self.ids = v[skip..].to_vec();
        self.live = self.ids.len() as u32;
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_ring() {
        let mut e = Evidence::default();
        for i in 0..5 {
            e.push(
                i,
                if i % 2 == 0 {
                    kind::FAIL
                } else {
                    kind::INVALID
                },
                &format!("id{i}"),
                3,
            );
        }
        assert_eq!(e.collect(kind::FAIL, 0, 10), vec!["id2", "id4"]);
        assert_eq!(
            e.collect(kind::FAIL | kind::INVALID, 3, 10),
            vec!["id3", "id4"]
        );
        assert_eq!(e.collect(kind::FAIL | kind::INVALID, 0, 1), vec!["id4"]);
        e.reset();
        assert!(e.collect(kind::FAIL, 0, 10).is_empty());
        e.push(9, kind::FAIL, "id9", 3);
        assert_eq!(e.collect(kind::FAIL, 0, 10), vec!["id9"]);
        let back: Evidence = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back.collect(kind::FAIL, 0, 10), vec!["id9"]);
    }

    #[test]
    fn evidence_ids_come_back_exactly_however_they_are_kept() {
        let ids = [
            "host-a:123",
            "host-a:124",
            "host-a:0",
            "host-b:7",
            "host-a:007",
            "plain",
            "9",
            "host-a:18446744073709551615",
            "host-a:18446744073709551616",
            "",
            "host-a:",
        ];
        let mut e = Evidence::default();
        for (i, id) in ids.iter().enumerate() {
            e.push(i as i64, kind::FAIL, id, 64);
        }
        assert_eq!(e.collect(kind::FAIL, 0, 64), ids);
        // The daemon's ids take no allocation of their own.
        assert!(matches!(e.ids[0].2, Id::Num(123)));
        assert!(matches!(e.ids[3].2, Id::Text(_)), "another prefix is text");
        assert!(matches!(e.ids[4].2, Id::Text(_)), "leading zeros are text");
        // The saved form is the ids as text, oldest first, and loads back.
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains("\"host-a:007\""), "{json}");
        let back: Evidence = serde_json::from_str(&json).unwrap();
        assert_eq!(back.collect(kind::FAIL, 0, 64), ids);
        // A snapshot of the earlier form (a ring wrapped at `head`) loads in order.
        let old = r#"{"ids":[[3,1,"s:3"],[1,1,"s:1"],[2,1,"s:2"]],"live":3,"head":1}"#;
        let e: Evidence = serde_json::from_str(old).unwrap();
        assert_eq!(e.collect(kind::FAIL, 0, 10), ["s:1", "s:2", "s:3"]);
    }
}
