//! Bounded state: sliding windows as rings, distinct-value rings, a capped key table
//! with sampled eviction, and the per-connection ledger (evidence rings: `evidence`).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// "Not set" for times.
pub(crate) const NEVER: i64 = i64::MIN;

/// Ring slots kept inline (the default thresholds fit): no heap access per event.
const INLINE: usize = 8;

/// The last `cap` event times of one key: "at least `cap` events within `w`" is then
/// "the oldest of the ring is within `w`" — exact, O(cap) memory. Also carries the
/// de-duplication flag: once alerted, silent until the window has emptied (a gap longer
/// than the window since the last event).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Window {
    small: [i64; INLINE],
    big: Vec<i64>,
    heap: bool,
    len: u32,
    head: u32,
    last: i64,
    alerted: bool,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            small: [0; INLINE],
            big: Vec::new(),
            heap: false,
            len: 0,
            head: 0,
            last: NEVER,
            alerted: false,
        }
    }
}

impl Window {
    fn buf(&self) -> &[i64] {
        let n = self.len as usize;
        if self.heap {
            &self.big[..n.min(self.big.len())]
        } else {
            &self.small[..n.min(INLINE)]
        }
    }

    /// Times in arrival order.
    fn ordered(&self) -> impl Iterator<Item = i64> + '_ {
        let b = self.buf();
        let h = (self.head as usize).min(b.len());
        b[h..].iter().chain(&b[..h]).copied()
    }

    /// Re-arms after a gap longer than `w` since the last event; call before
    /// `push`/`count`.
    pub fn roll(&mut self, t: i64, w: i64) {
        if t.saturating_sub(self.last) > w {
            self.len = 0;
            self.head = 0;
            self.alerted = false;
        }
    }

    fn set_all(&mut self, v: &[i64]) {
        self.len = v.len() as u32;
        self.head = 0;
        if v.len() <= INLINE && !self.heap {
            self.small[..v.len()].copy_from_slice(v);
        } else {
            self.heap = true;
            self.big.clear();
            self.big.extend_from_slice(v);
        }
    }

    pub fn push(&mut self, t: i64, n: u32, cap: usize) {
        let cap = cap.max(1);
        if cap > INLINE && !self.heap {
            let v: Vec<i64> = self.ordered().collect();
            self.heap = true;
            self.set_all(&v);
        }
        for _ in 0..(n as usize).min(cap) {
            let len = self.len as usize;
            if len < cap {
                if self.heap {
                    if len < self.big.len() {
                        self.big[len] = t;
                    } else {
                        self.big.push(t);
                    }
                } else {
                    self.small[len] = t;
                }
                self.len += 1;
            } else {
                let h = self.head as usize % len;
                if self.heap {
                    self.big[h] = t;
                } else {
                    self.small[h] = t;
                }
                self.head = ((h + 1) % len) as u32;
            }
        }
        self.last = self.last.max(t);
    }

    /// Events within `w` before (and including) `t`.
    pub fn count(&self, t: i64, w: i64) -> u32 {
        let from = t.saturating_sub(w);
        self.buf().iter().filter(|&&e| e >= from).count() as u32
    }

    #[cfg(test)]
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Marks the condition as reported; returns whether it was not yet.
    pub fn fire(&mut self) -> bool {
        !std::mem::replace(&mut self.alerted, true)
    }

    /// Empties it, keeping capacity.
    pub fn reset(&mut self) {
        self.len = 0;
        self.head = 0;
        self.last = NEVER;
        self.alerted = false;
    }

    /// Keeps the newest `cap` times (after a config change or a restore).
    pub fn resize(&mut self, cap: usize) {
        let v: Vec<i64> = self.ordered().collect();
        let skip = v.len().saturating_sub(cap.max(1));
        self.heap = cap > INLINE;
        self.set_all(&v[skip..]);
    }
}

/// Up to `cap` distinct values with the time each was last seen; a new value replaces
/// the least recently seen. If `cap` distinct values occurred within a window, the
/// `cap` most recently seen are all in it, so "≥ cap distinct within w" stays exact.
/// `vals[..live]` are valid; slots beyond keep their buffers for reuse.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Distinct<T> {
    vals: Vec<(T, i64)>,
    live: u32,
    last: i64,
    alerted: bool,
}

impl<T: Serialize> Serialize for Distinct<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Distinct", 4)?;
        st.serialize_field("vals", &self.vals[..self.live as usize])?;
        st.serialize_field("live", &self.live)?;
        st.serialize_field("last", &self.last)?;
        st.serialize_field("alerted", &self.alerted)?;
        st.end()
    }
}

impl<T> Default for Distinct<T> {
    fn default() -> Self {
        Distinct {
            vals: Vec::new(),
            live: 0,
            last: NEVER,
            alerted: false,
        }
    }
}

/// What a `Distinct` can hold: compared by borrowed form, overwritten in place (a
/// `String` slot keeps its buffer, so no allocation once warm).
pub(crate) trait Slot {
    type Ref: ?Sized;
    fn is(&self, v: &Self::Ref) -> bool;
    fn set(&mut self, v: &Self::Ref);
    fn make(v: &Self::Ref) -> Self;
}

/// Byte equality without a call to `memcmp`. What is compared here (user names, id
/// prefixes) is a few bytes long, and most comparisons already differ in length or in
/// the first byte: the libc call cost more than the comparison (`perf`: a tenth of
/// `replay` on the attack mix, in the password-spray and evidence checks).
pub(crate) fn short_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

impl Slot for String {
    type Ref = str;
    fn is(&self, v: &str) -> bool {
        short_eq(self.as_bytes(), v.as_bytes())
    }
    fn set(&mut self, v: &str) {
        self.clear();
        self.push_str(v);
    }
    fn make(v: &str) -> Self {
        v.to_string()
    }
}

impl Slot for IpAddr {
    type Ref = IpAddr;
    /// As integers: `IpAddr`'s own `==` compares the octet arrays as slices.
    fn is(&self, v: &IpAddr) -> bool {
        match (self, v) {
            (IpAddr::V4(a), IpAddr::V4(b)) => a.to_bits() == b.to_bits(),
            (IpAddr::V6(a), IpAddr::V6(b)) => a.to_bits() == b.to_bits(),
            _ => false,
        }
    }
    fn set(&mut self, v: &IpAddr) {
        *self = *v;
    }
    fn make(v: &IpAddr) -> Self {
        *v
    }
}

impl<T: Slot> Distinct<T> {
    fn valid(&self) -> &[(T, i64)] {
        &self.vals[..(self.live as usize).min(self.vals.len())]
    }

    pub fn roll(&mut self, t: i64, w: i64) {
        if t.saturating_sub(self.last) > w {
            self.live = 0;
            self.alerted = false;
        }
    }

    pub fn observe(&mut self, v: &T::Ref, t: i64, cap: usize) {
        self.last = self.last.max(t);
        let live = (self.live as usize).min(self.vals.len());
        if let Some(e) = self.vals[..live].iter_mut().find(|e| e.0.is(v)) {
            e.1 = e.1.max(t);
            return;
        }
        if live < cap.max(1) {
            if live < self.vals.len() {
                let e = &mut self.vals[live];
                e.0.set(v);
                e.1 = t;
            } else {
                self.vals.push((T::make(v), t));
            }
            self.live = live as u32 + 1;
        } else if let Some(e) = self.vals[..live].iter_mut().min_by_key(|e| e.1) {
            e.0.set(v);
            e.1 = t;
        }
    }

    pub fn count(&self, t: i64, w: i64) -> u32 {
        let from = t.saturating_sub(w);
        self.valid().iter().filter(|e| e.1 >= from).count() as u32
    }

    pub fn values_since(&self, from: i64) -> impl Iterator<Item = &T> {
        self.valid()
            .iter()
            .filter(move |e| e.1 >= from)
            .map(|e| &e.0)
    }

    pub fn fire(&mut self) -> bool {
        !std::mem::replace(&mut self.alerted, true)
    }

    /// Empties it, keeping the value buffers for reuse.
    pub fn reset(&mut self) {
        self.live = 0;
        self.last = NEVER;
        self.alerted = false;
    }

    pub fn resize(&mut self, cap: usize) {
        let cap = cap.max(1);
        self.vals.truncate(self.live as usize);
        if self.vals.len() > cap {
            self.vals.sort_by_key(|e| std::cmp::Reverse(e.1));
            self.vals.truncate(cap);
        }
        self.live = self.vals.len() as u32;
    }
}

/// What a table entry must offer: how valuable it is to keep (lower is evicted
/// first), and a reset that keeps its buffers so a reused slot does not allocate.
pub(crate) trait Weight {
    /// Last activity.
    fn last(&self) -> i64;
    /// Events held in its windows.
    fn events(&self) -> u32;
    /// (events if active within `stale` of `now`, else 0; last activity).
    fn weight(&self, now: i64, stale: i64) -> (u32, i64) {
        let last = self.last();
        if now.saturating_sub(last) > stale {
            (0, last)
        } else {
            (self.events(), last)
        }
    }
    /// Empties the entry, keeping allocated capacity.
    fn reset(&mut self);
}

/// Passes a precomputed (SipHash, randomly keyed) hash through.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A key table holding at most `cap` entries. When full, the lowest-weight entry of
/// `SAMPLES` consecutive slots at a moving hand is replaced (sampled eviction with
/// counts, cache-friendly): O(1), and an address flood of single attempts replaces its
/// own one-off entries before a source with many recent failures. A replaced slot
/// keeps its buffers, so a flood does not churn the allocator. The index maps a keyed
/// SipHash of the key to the slot; the slot keeps the key to confirm a hit.
pub(crate) struct Table<K, V> {
    map: HashMap<u64, u32, BuildHasherDefault<IdHasher>>,
    slots: Vec<(u64, K, V)>,
    cap: usize,
    stale: i64,
    hasher: RandomState,
    hand: usize,
}

const SAMPLES: usize = 8;

impl<K: Hash + Eq, V: Weight> Table<K, V> {
    /// `stale`: after this long without activity an entry's windows are empty and it
    /// is evicted before any active one.
    pub fn new(cap: usize, stale: i64) -> Self {
        Table {
            map: HashMap::default(),
            slots: Vec::new(),
            cap: cap.max(1),
            stale,
            hasher: RandomState::new(),
            hand: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    fn hash<Q: Hash + ?Sized>(&self, k: &Q) -> u64 {
        self.hasher.hash_one(k)
    }

    pub fn get_mut<Q>(&mut self, k: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let i = *self.map.get(&self.hash(k))? as usize;
        match self.slots.get_mut(i) {
            Some(s) if s.1.borrow() == k => Some(&mut s.2),
            _ => None,
        }
    }

    pub fn entry<Q>(&mut self, k: &Q, now: i64, make: impl FnOnce() -> V) -> &mut V
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let h = self.hash(k);
        let reuse = match self.map.get(&h) {
            Some(&i) => {
                let i = i as usize;
                if self.slots[i].1.borrow() == k {
                    return &mut self.slots[i].2;
                }
                // A 64-bit keyed-hash collision: the newcomer takes the slot.
                Some(i)
            }
            None if self.slots.len() >= self.cap => Some(self.victim(now)),
            None => None,
        };
        let i = match reuse {
            Some(i) => {
                let old = self.slots[i].0;
                self.map.remove(&old);
                let s = &mut self.slots[i];
                s.0 = h;
                k.clone_into(&mut s.1);
                s.2.reset();
                i
            }
            None => {
                self.slots.push((h, k.to_owned(), make()));
                self.slots.len() - 1
            }
        };
        self.map.insert(h, i as u32);
        &mut self.slots[i].2
    }

    fn victim(&mut self, now: i64) -> usize {
        let n = self.slots.len();
        let start = self.hand % n;
        let mut victim = start;
        let mut best = self.slots[start].2.weight(now, self.stale);
        for d in 1..SAMPLES.min(n) {
            let i = (start + d) % n;
            let w = self.slots[i].2.weight(now, self.stale);
            if w < best {
                best = w;
                victim = i;
            }
        }
        self.hand = (start + SAMPLES) % n;
        victim
    }

    fn remove_at(&mut self, i: usize) {
        let (h, _, _) = self.slots.swap_remove(i);
        self.map.remove(&h);
        if let Some(moved) = self.slots.get(i) {
            self.map.insert(moved.0, i as u32);
        }
    }

    /// Drops entries `keep` rejects.
    pub fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        let mut i = 0;
        while i < self.slots.len() {
            if keep(&self.slots[i].2) {
                i += 1;
            } else {
                self.remove_at(i);
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots.iter().map(|s| (&s.1, &s.2))
    }

    pub fn insert_restored(&mut self, k: K, v: V, now: i64) {
        let h = self.hash(&k);
        if self.map.contains_key(&h) {
            return;
        }
        if self.slots.len() >= self.cap {
            let i = self.victim(now);
            let old = self.slots[i].0;
            self.map.remove(&old);
            self.slots[i] = (h, k, v);
            self.map.insert(h, i as u32);
        } else {
            self.map.insert(h, self.slots.len() as u32);
            self.slots.push((h, k, v));
        }
    }
}

/// Per-connection flags (see `auth::Link`).
pub(crate) mod flag {
    pub const COUNTED: u8 = 1;
    pub const ANNOUNCED: u8 = 2;
    pub const PAMERR: u8 = 4;
}

/// Direct-mapped table of recent SSH connections (pid + address) and what was counted
/// for them. Fixed size, never allocates after creation; a collision overwrites (the
/// worst case is counting a connection's attempt twice). Not persisted: a connection
/// spanning a restart may be counted twice.
pub(crate) struct Ledger {
    slots: Vec<(u32, IpAddr, u8)>,
}

const LEDGER_SLOTS: usize = 4096;

impl Ledger {
    pub fn new() -> Self {
        Ledger {
            slots: vec![(0, IpAddr::from([0, 0, 0, 0]), 0); LEDGER_SLOTS],
        }
    }

    /// The flags of `(pid, ip)`, fresh (0) if the slot held another connection.
    pub fn flags(&mut self, pid: u32, ip: IpAddr) -> &mut u8 {
        let h = match ip {
            IpAddr::V4(a) => u64::from(u32::from(a)),
            IpAddr::V6(a) => {
                let v = u128::from(a);
                (v as u64) ^ ((v >> 64) as u64)
            }
        };
        let h = (h ^ (u64::from(pid) << 21)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let i = (h >> 52) as usize % LEDGER_SLOTS;
        let s = &mut self.slots[i];
        if s.0 != pid || s.1 != ip {
            *s = (pid, ip, 0);
        }
        &mut s.2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_counts_exactly_and_rearms_after_gap() {
        let mut w = Window::default();
        for t in [0, 10, 20] {
            w.roll(t, 100);
            w.push(t, 1, 3);
        }
        assert_eq!(w.count(20, 100), 3);
        assert_eq!(w.count(115, 100), 1); // only t=20 is >= 15
        assert!(w.fire());
        assert!(!w.fire());
        w.roll(120, 100); // 120 - 20 = 100: still within
        assert_eq!(w.len(), 3);
        w.roll(121, 100); // the window emptied
        assert_eq!(w.len(), 0);
        assert!(w.fire());
        // Ring keeps the newest `cap`.
        let mut w = Window::default();
        for t in 0..10 {
            w.push(t, 1, 3);
        }
        assert_eq!(w.count(9, 1000), 3);
        assert_eq!(w.ordered().collect::<Vec<_>>(), vec![7, 8, 9]);
        w.resize(2);
        assert_eq!(w.ordered().collect::<Vec<_>>(), vec![8, 9]);
        // Beyond the inline slots the ring moves to the heap, order kept.
        let mut w = Window::default();
        for t in 0..5 {
            w.push(t, 1, 20);
        }
        for t in 5..30 {
            w.push(t, 1, 20);
        }
        assert_eq!(
            w.ordered().collect::<Vec<_>>(),
            (10..30).collect::<Vec<_>>()
        );
        assert_eq!(w.count(29, 4), 5);
        w.reset();
        assert_eq!(w.count(29, 100), 0);
        w.push(40, 3, 20);
        assert_eq!(w.ordered().collect::<Vec<_>>(), vec![40, 40, 40]);
    }

    #[test]
    fn distinct_keeps_most_recent() {
        let mut d: Distinct<String> = Distinct::default();
        for (i, u) in ["a", "b", "a", "c", "d"].iter().enumerate() {
            d.observe(u, i as i64, 3);
        }
        // "b" (seen at 1) was the least recently seen when "d" came.
        let mut v: Vec<&String> = d.values_since(0).collect();
        v.sort();
        assert_eq!(v, ["a", "c", "d"]);
        assert_eq!(d.count(4, 1), 2); // c at 3, d at 4
        d.reset();
        assert_eq!(d.count(4, 100), 0);
        d.observe("z", 5, 3);
        assert_eq!(d.values_since(0).collect::<Vec<_>>(), ["z"]);
        let json = serde_json::to_string(&d).unwrap();
        assert!(
            !json.contains("\"a\""),
            "reset values are not saved: {json}"
        );
    }

    struct W(u32, i64);
    impl Weight for W {
        fn last(&self) -> i64 {
            self.1
        }
        fn events(&self) -> u32 {
            self.0
        }
        fn reset(&mut self) {
            *self = W(0, NEVER);
        }
    }

    #[test]
    fn table_is_capped_and_keeps_heavy_entries() {
        let mut t: Table<u32, W> = Table::new(100, 1_000_000);
        *t.entry(&0, 0, || W(0, 0)) = W(1_000, 0);
        for k in 1..100_000u32 {
            let e = t.entry(&k, i64::from(k), || W(0, 0));
            *e = W(1, i64::from(k));
            assert!(t.len() <= 100);
        }
        assert!(
            t.get_mut(&0).is_some(),
            "the heavy entry survived the flood"
        );
        assert!(t.get_mut(&99_999).is_some());
        for (i, s) in t.slots.iter().enumerate() {
            assert_eq!(t.map[&s.0] as usize, i);
        }
        let mut s: Table<String, W> = Table::new(10, 1_000_000);
        s.entry("a", 0, || W(1, 0));
        assert!(s.get_mut("a").is_some() && s.get_mut("b").is_none());
        s.retain(|w| w.0 == 0);
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn ledger_slots() {
        let mut l = Ledger::new();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        *l.flags(7, ip) |= flag::COUNTED;
        assert_eq!(*l.flags(7, ip), flag::COUNTED);
        assert_eq!(*l.flags(8, ip), 0);
    }
}
