//! A lock-free, insert-only skiplist of versions in internal order (user
//! key ascending, sequence number descending), built on [`Nodes`].
//!
//! Thread-safety: any number of threads may insert while any number read;
//! there is no lock. An insert allocates and writes its node (one
//! `fetch_add`), finds its predecessor and successor on every level in one
//! descent, then links the node bottom-up with one CAS per level (release on
//! success). A CAS that loses a race retries that level only, searching
//! forward from the same predecessor: nodes are never removed, so the
//! predecessor still comes before the new node. Readers load links with
//! acquire, which makes a node's contents visible before they read them.
//!
//! Invariants:
//! - every level is sorted, and a node is linked at level `l` only after
//!   every level below, so each level is a sublist of the one beneath it;
//! - `(key, seq)` pairs are unique (the caller's promise; a duplicate met
//!   during an insert is a panic);
//! - `height` only grows, and no level at or above it has a node linked
//!   before `height` was raised past it;
//! - `last` is NULL or a linked node that was the last one on level 0
//!   when it was linked (stored by its inserter, release, after the link).
//!   It may lag or even go back to an earlier last node when appends race,
//!   so a reader trusts it only while its level-0 successor is NULL: then
//!   it is the largest key linked.
//!
//! Keys inserted in order: each thread remembers, per level, the last node
//! it linked there in the list it last inserted into (its *finger*, a
//! thread-local: no shared state). An insert (or
//! [`SkipList::predecessors`]) of a key that falls right after the node
//! the thread linked last, on level 0, searches each level the new node
//! will be linked on from the finger's node there (if that comes before
//! the key), and no other level, instead of descending from the head. Any
//! node on a level that comes before the key is a correct place to start
//! that level's search, since nodes are never removed. The finger's nodes
//! on the new node's levels (one level for three nodes in four) were
//! linked a few inserts ago and are still in the CPU cache, while a
//! descent from the head reads the towers of upper-level nodes linked long
//! ago.

use std::cell::Cell;
use std::cmp::Ordering;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering as MemOrder};

use super::arena::CacheLine;
use super::node::{Nodes, MAX_HEIGHT, NULL};
use crate::types::{compare_user_keys, SeqNo, ValueKind, MAX_KEY_LEN, MAX_SEQNO, MAX_VALUE_LEN};

/// The skiplist: its nodes, the head node and the levels in use.
pub(crate) struct SkipList {
    pub(crate) nodes: Nodes,
    /// The head node: a full tower, no key; never returned as an entry.
    pub(crate) head: u32,
    /// Levels in use (1..=MAX_HEIGHT). A stale value only makes a search
    /// start lower or higher than needed, so relaxed ordering is enough.
    height: CacheLine<AtomicUsize>,
    /// The node last appended at the end of level 0 (see the module doc).
    last: CacheLine<AtomicU32>,
    /// Unique among the lists of this process: names the list a thread's
    /// [`Finger`] belongs to.
    id: u64,
}

/// Searches a finger served, counted for the tests.
#[cfg(test)]
pub(crate) static FINGER_SEARCHES: AtomicU64 = AtomicU64::new(0);

/// The source of [`SkipList::id`]s.
static NEXT_LIST_ID: AtomicU64 = AtomicU64::new(1);

/// Per level, the last node this thread linked there in list `list` (NULL
/// for none); see the module doc. Cells, so that an insert reads and
/// writes only the levels it needs.
struct Finger {
    list: Cell<u64>,
    nodes: [Cell<u32>; MAX_HEIGHT],
}

thread_local! {
    static FINGER: Finger = const {
        Finger {
            list: Cell::new(0),
            nodes: [const { Cell::new(NULL) }; MAX_HEIGHT],
        }
    };
}

impl SkipList {
    /// An empty list in an arena of `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> SkipList {
        let (nodes, head) = Nodes::new(capacity);
        SkipList {
            nodes,
            head,
            height: CacheLine(AtomicUsize::new(1)),
            last: CacheLine(AtomicU32::new(NULL)),
            id: NEXT_LIST_ID.fetch_add(1, MemOrder::Relaxed),
        }
    }

    /// Inserts a version; false (and nothing inserted) when the arena has no
    /// room. REQUIRES: `(key, seq)` is not in the list.
    pub(crate) fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) -> bool {
        let height = random_height();
        let Some(node) = self.alloc(height, key, seq, kind, value) else {
            return false;
        };
        let mut prev = [self.head; MAX_HEIGHT];
        let mut next = [NULL; MAX_HEIGHT];
        let before = |other| match self.compare(other, key, seq) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => panic!("memtable insert of a duplicate version (seq {seq})"),
        };
        let mut record = |level, p, n| (prev[level], next[level]) = (p, n);
        if !self.descend_from_finger(before, height, &mut record) {
            self.descend(before, &mut record);
        }
        #[cfg(test)]
        race_window::pause();
        for level in 0..height {
            self.link(node, level, key, seq, prev[level], next[level]);
        }
        self.remember(node, height);
        true
    }

    /// Allocates and writes the node of a version, `height` levels tall
    /// (its tower not linked yet), and raises the list's height to cover
    /// it; None when the arena is full. Panics on an entry out of bounds.
    fn alloc(
        &self,
        height: usize,
        key: &[u8],
        seq: SeqNo,
        kind: ValueKind,
        value: &[u8],
    ) -> Option<u32> {
        assert!(
            key.len() <= MAX_KEY_LEN,
            "memtable key too long: {}",
            key.len()
        );
        assert!(
            value.len() <= MAX_VALUE_LEN,
            "memtable value too long: {}",
            value.len()
        );
        assert!(
            seq <= MAX_SEQNO,
            "memtable sequence number too large: {seq}"
        );
        let node = self.nodes.alloc(height, key, seq, kind, value)?;
        // Raised before any search for the node's place, so that the search
        // (which reads it again) covers every level of the new node.
        if height > self.height.0.load(MemOrder::Relaxed) {
            self.height.0.fetch_max(height, MemOrder::Relaxed);
        }
        Some(node)
    }

    /// The last node before every version of `key` on each level below
    /// `height` (the head where there is none; the levels above are not
    /// searched when a finger answers): a starting point for a later
    /// [`insert_after`](Self::insert_after) of `key` with a node of that
    /// height, found without inserting anything. It stays valid however
    /// many nodes are inserted meanwhile, since nodes are never removed.
    pub(crate) fn predecessors(&self, key: &[u8], height: usize) -> [u32; MAX_HEIGHT] {
        let mut prev = [self.head; MAX_HEIGHT];
        let before = |node| compare_keys(self.nodes.key(node), key).is_lt();
        let mut record = |level, p, _| prev[level] = p;
        if !self.descend_from_finger(before, height, &mut record) {
            self.descend(before, &mut record);
        }
        prev
    }

    /// [`insert`](Self::insert), starting each level's search from
    /// `prev[level]` instead of descending from the head. REQUIRES: `prev`
    /// came from [`predecessors`](Self::predecessors) of `key` on this
    /// list, with the same `height` (so `prev[level]` is the head or a node
    /// on `level` before every version of `key`, for each level of the new
    /// node), besides what `insert` requires.
    pub(crate) fn insert_after(
        &self,
        prev: &[u32; MAX_HEIGHT],
        height: usize,
        key: &[u8],
        seq: SeqNo,
        kind: ValueKind,
        value: &[u8],
    ) -> bool {
        let Some(node) = self.alloc(height, key, seq, kind, value) else {
            return false;
        };
        #[cfg(test)]
        race_window::pause();
        for (level, &start) in prev.iter().enumerate().take(height) {
            let (p, n) = self.splice(start, level, key, seq);
            self.link(node, level, key, seq, p, n);
        }
        self.remember(node, height);
        true
    }

    /// Makes `node`, just linked on levels `0..height`, this thread's
    /// finger there (see the module doc).
    #[inline]
    fn remember(&self, node: u32, height: usize) {
        FINGER.with(|finger| {
            if finger.list.get() != self.id {
                finger.list.set(self.id);
                finger.nodes.iter().for_each(|level| level.set(NULL));
            }
            finger.nodes[..height]
                .iter()
                .for_each(|level| level.set(node));
        });
    }

    /// Whether no version of `key` can be in the list: it is empty, `key`
    /// is below the first user key linked, or above the last one (when the
    /// node `last` names still ends level 0). A few loads of nodes every
    /// such check reads, so they stay cached: cheaper than a filter line
    /// when reads fall outside the keys written since the memtable began.
    #[inline]
    pub(crate) fn excludes(&self, key: &[u8]) -> bool {
        let first = self.nodes.next(self.head, 0);
        if first == NULL || compare_user_keys(key, self.nodes.key(first)).is_lt() {
            return true;
        }
        let last = self.last.0.load(MemOrder::Acquire);
        last != NULL
            && compare_user_keys(key, self.nodes.key(last)).is_gt()
            && self.nodes.next(last, 0) == NULL
    }

    /// Links `node` at `level` between `prev` and `next`, searching forward
    /// from `prev` again whenever a concurrent insert took the spot first.
    /// A node that ends level 0 once linked becomes the list's `last` (a
    /// plain store: see the module doc).
    fn link(&self, node: u32, level: usize, key: &[u8], seq: SeqNo, mut prev: u32, mut next: u32) {
        loop {
            // The node is not reachable at this level yet: a relaxed store
            // is enough, the release CAS below publishes it.
            self.nodes.tower(node, level).store(next, MemOrder::Relaxed);
            let linked = self.nodes.tower(prev, level).compare_exchange(
                next,
                node,
                MemOrder::Release,
                MemOrder::Acquire,
            );
            if linked.is_ok() {
                if level == 0 && next == NULL {
                    self.last.0.store(node, MemOrder::Release);
                }
                return;
            }
            (prev, next) = self.splice(prev, level, key, seq);
        }
    }

    /// Walks `level` from `prev` (which is before `(key, seq)`) to the last
    /// node before `(key, seq)`; returns it and its successor there.
    fn splice(&self, prev: u32, level: usize, key: &[u8], seq: SeqNo) -> (u32, u32) {
        self.walk(prev, level, |next| !self.compare(next, key, seq).is_gt())
    }

    /// Walks `level` from `prev` (for which `before` holds) to the last node
    /// for which `before` holds; returns it and its successor there.
    #[inline]
    fn walk(&self, mut prev: u32, level: usize, before: impl Fn(u32) -> bool) -> (u32, u32) {
        loop {
            let next = self.nodes.next(prev, level);
            if next == NULL || !before(next) {
                return (prev, next);
            }
            prev = next;
        }
    }

    /// Descends from the head to the last node for which `before` holds
    /// (on every level, the nodes for which it holds come first). Calls
    /// `at_level(level, last, successor)` when it leaves each level. Returns
    /// that node (the head when none) and its successor at level 0 (NULL
    /// when none).
    #[inline]
    pub(crate) fn descend(
        &self,
        mut before: impl FnMut(u32) -> bool,
        mut at_level: impl FnMut(usize, u32, u32),
    ) -> (u32, u32) {
        let mut prev = self.head;
        // The successor found one level up: known not to satisfy `before`.
        let mut after = NULL;
        for level in (0..self.height.0.load(MemOrder::Relaxed)).rev() {
            loop {
                let next = self.nodes.next(prev, level);
                if level > 0 {
                    // Should `next` fail `before`, the search goes down from
                    // `prev`: start loading that node while `next` is tested.
                    self.nodes.prefetch_next(prev, level - 1);
                }
                if next == NULL || next == after || !before(next) {
                    after = next;
                    break;
                }
                prev = next;
            }
            at_level(level, prev, after);
        }
        (prev, after)
    }

    /// [`descend`](Self::descend) on levels `0..height` only, for a key
    /// that falls right after the node this thread linked last in this list
    /// (`before` holds for that node and not for its level-0 successor):
    /// each of those levels is searched from the thread's finger there,
    /// which must be before the key (see the module doc). The upper levels
    /// are left alone: a node of `height` levels is linked on those below
    /// only. False, with nothing called, when the finger does not serve.
    #[inline]
    fn descend_from_finger(
        &self,
        before: impl Fn(u32) -> bool,
        height: usize,
        mut at_level: impl FnMut(usize, u32, u32),
    ) -> bool {
        FINGER.with(|finger| {
            let near = finger.nodes[0].get();
            if finger.list.get() != self.id || near == NULL || !before(near) {
                return false;
            }
            let after = self.nodes.next(near, 0);
            if after != NULL && before(after) {
                return false;
            }
            let starts = &finger.nodes[..height];
            if starts[1..]
                .iter()
                .any(|node| node.get() == NULL || !before(node.get()))
            {
                return false;
            }
            #[cfg(test)]
            FINGER_SEARCHES.fetch_add(1, MemOrder::Relaxed);
            for (level, start) in starts.iter().enumerate().rev() {
                let (prev, next) = self.walk(start.get(), level, &before);
                at_level(level, prev, next);
            }
            true
        })
    }

    /// Checks every level: in internal order, and each a sublist of the
    /// one beneath it (the module doc's first invariant). For the tests.
    #[cfg(test)]
    pub(crate) fn assert_levels_ordered(&self) {
        let mut below: Vec<u32> = Vec::new();
        for level in 0..MAX_HEIGHT {
            let mut nodes = Vec::new();
            let mut node = self.nodes.next(self.head, level);
            while node != NULL {
                nodes.push(node);
                node = self.nodes.next(node, level);
            }
            for pair in nodes.windows(2) {
                let (key, seq) = (self.nodes.key(pair[1]), self.nodes.seq(pair[1]));
                assert!(
                    self.compare(pair[0], key, seq).is_lt(),
                    "level {level} out of order"
                );
            }
            if level > 0 {
                let mut rest = below.iter();
                for node in &nodes {
                    assert!(rest.any(|n| n == node), "level {level} is not a sublist");
                }
            }
            below = nodes;
        }
    }

    /// The first node at or after `(key, seq)` in internal order, or NULL.
    #[inline]
    pub(crate) fn find_ge(&self, key: &[u8], seq: SeqNo) -> u32 {
        let before = |node| self.compare(node, key, seq).is_lt();
        self.descend(before, |_, _, _| {}).1
    }

    /// The last node before or at `(key, seq)` (`inclusive`) or strictly
    /// before it, in internal order; the head when there is none.
    #[inline]
    pub(crate) fn find_last_before(&self, key: &[u8], seq: SeqNo, inclusive: bool) -> u32 {
        let before = |node| match self.compare(node, key, seq) {
            Ordering::Less => true,
            Ordering::Equal => inclusive,
            Ordering::Greater => false,
        };
        self.descend(before, |_, _, _| {}).0
    }

    /// The last node, or the head when the list is empty.
    pub(crate) fn find_last(&self) -> u32 {
        self.descend(|_| true, |_, _, _| {}).0
    }

    /// Compares `node` with `(key, seq)` in internal order.
    #[inline]
    fn compare(&self, node: u32, key: &[u8], seq: SeqNo) -> Ordering {
        match compare_keys(self.nodes.key(node), key) {
            Ordering::Equal => seq.cmp(&self.nodes.seq(node)),
            other => other,
        }
    }
}

/// A test hook that widens the window between an insert's descent and its
/// CASes, so that concurrent inserts collide even on a machine whose cores
/// are busy with other work and rarely run two test threads at once.
#[cfg(test)]
pub(crate) mod race_window {
    use std::cell::Cell;

    /// One insert in this many yields (a yield can cost a whole time slice
    /// when the machine is busy).
    const EVERY: u32 = 64;

    thread_local! {
        /// Inserts until the next yield; 0 when disabled.
        static COUNTDOWN: Cell<u32> = const { Cell::new(0) };
    }

    /// Makes one in [`EVERY`] later inserts on this thread yield the CPU
    /// after its descent, before it links its node.
    pub(crate) fn enable() {
        COUNTDOWN.with(|countdown| countdown.set(EVERY));
    }

    pub(super) fn pause() {
        let countdown = COUNTDOWN.with(Cell::get);
        if countdown == 1 {
            std::thread::yield_now();
        }
        if countdown > 0 {
            COUNTDOWN.with(|c| c.set(if countdown == 1 { EVERY } else { countdown - 1 }));
        }
    }
}

/// Compares byte strings like `<[u8]>::cmp`, eight bytes at a time as
/// big-endian words: for short keys that share a long prefix this beats a
/// call to `memcmp`. Longer keys go to `memcmp`, which is faster there.
#[inline]
fn compare_keys(a: &[u8], b: &[u8]) -> Ordering {
    const WORD: usize = 8;
    let len = a.len().min(b.len());
    if len > 4 * WORD {
        return a.cmp(b);
    }
    let (mut a_rest, mut b_rest) = (&a[..len], &b[..len]);
    while let (Some((a_word, a_tail)), Some((b_word, b_tail))) = (
        a_rest.split_first_chunk::<WORD>(),
        b_rest.split_first_chunk::<WORD>(),
    ) {
        let (x, y) = (u64::from_be_bytes(*a_word), u64::from_be_bytes(*b_word));
        if x != y {
            return x.cmp(&y);
        }
        (a_rest, b_rest) = (a_tail, b_tail);
    }
    for (x, y) in a_rest.iter().zip(b_rest) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// A random tower height in 1..=MAX_HEIGHT, each further level kept with
/// probability 1/4, from a per-thread generator (no shared state per
/// insert).
pub(super) fn random_height() -> usize {
    thread_local! {
        static STATE: Cell<u64> = const { Cell::new(0) };
    }
    // Distinct seeds per thread, taken once per thread.
    static SEEDS: AtomicU64 = AtomicU64::new(0x853c_49e6_748f_ea9b);
    STATE.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = SEEDS.fetch_add(0x9e37_79b9_7f4a_7c15, MemOrder::Relaxed) | 1;
        }
        // xorshift64: a non-zero state never becomes zero.
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        state.set(s);
        // 24 well-mixed bits; each pair of trailing zeros adds a level.
        let bits = (s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as u32;
        1 + (bits.trailing_zeros() as usize / 2).min(MAX_HEIGHT - 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memtable_compare_keys_agrees_with_slice_order() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        // Keys of every length around the word sizes, over a 2-letter
        // alphabet, so that long common prefixes are common.
        // (Fewer under Miri, which interprets every comparison.)
        let count = if cfg!(miri) { 84 } else { 400 };
        let keys: Vec<Vec<u8>> = (0..count)
            .map(|i| (0..i % 42).map(|_| b"ab"[rng.gen_range(0..2)]).collect())
            .collect();
        for a in &keys {
            for b in &keys {
                assert_eq!(compare_keys(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
        assert_eq!(
            compare_keys(b"\xff\x00", b"\x00\xff"),
            Ordering::Greater,
            "bytes are unsigned"
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "statistical, safe code: too slow under Miri")]
    fn memtable_heights_follow_a_quarter_branching() {
        let mut at_least = [0u32; MAX_HEIGHT + 1];
        for _ in 0..100_000 {
            let height = random_height();
            assert!((1..=MAX_HEIGHT).contains(&height));
            for count in &mut at_least[..=height] {
                *count += 1;
            }
        }
        // Expected: 100_000, 25_000, 6_250, 1_562 for heights >= 1, 2, 3, 4.
        assert_eq!(at_least[1], 100_000);
        assert!((23_500..26_500).contains(&at_least[2]), "{at_least:?}");
        assert!((5_600..6_900).contains(&at_least[3]), "{at_least:?}");
        assert!((1_300..1_850).contains(&at_least[4]), "{at_least:?}");
    }
}
