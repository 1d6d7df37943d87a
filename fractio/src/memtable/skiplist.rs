//! A lock-free, insert-only skiplist of versions whose nodes live in an
//! [`Arena`].
//!
//! Nodes are ordered by internal order (user key ascending, sequence number
//! descending) and addressed by `u32` arena offsets; offset 0 ([`NULL`]) ends
//! a level. A node is never moved, changed after it is published, or freed
//! before the list is dropped.
//!
//! Node layout (offsets in bytes from the node's 8-aligned start; `h` is the
//! node's height, 1..=[`MAX_HEIGHT`]):
//!
//! ```text
//!  0        8               12            16             16+4h        16+4h+k
//!  +--------+---------------+-------------+--------------+------------+-------+
//!  | trailer| key_len << 8  | value_len   | tower[0..h]  | key bytes  | value |
//!  |  u64   |   | height    |    u32      | AtomicU32 ×h |  (k bytes) | bytes |
//!  +--------+---------------+-------------+--------------+------------+-------+
//!  trailer = seq << 8 | kind          (padded to a multiple of 8 bytes)
//! ```
//!
//! `tower[l]` is the offset of the next node at level `l`. The key sits right
//! after the tower, so comparing against a node touches one or two cache
//! lines and no other allocation. The head node has a full tower and no key.
//!
//! Thread-safety: any number of threads may insert while any number read.
//! An insert writes its node, then links it bottom-up, one CAS per level
//! (release on success), retrying only the level whose CAS lost a race by
//! searching forward from the same predecessor. Readers load tower entries
//! with acquire, which makes the node's header, key and value visible.
//!
//! Invariants:
//! - every non-null offset stored in a tower is the offset of a node whose
//!   header, key and value were written before it was linked (release CAS);
//! - each level is sorted, and a node is linked at level `l` only after it
//!   is linked at every level below, so each level is a sublist of level 0;
//! - `(key, seq)` pairs are unique (the caller's promise).

use std::cmp::Ordering;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering as MemOrder};

use super::arena::{Arena, CacheLine, ALIGN};
use crate::types::{SeqNo, ValueKind, MAX_KEY_LEN, MAX_SEQNO, MAX_VALUE_LEN};

/// The tallest tower. With a branching factor of 4, twelve levels keep
/// searches logarithmic up to 4^12 = 16M entries, far more than a memtable
/// holds.
pub(crate) const MAX_HEIGHT: usize = 12;

/// The "no node" offset that ends every level.
pub(crate) const NULL: u32 = 0;

/// Bytes before the tower: trailer (8), key length and height (4), value
/// length (4).
const HEADER: usize = 16;

/// Arena bytes a node of `height` with a `key_len`-byte key and a
/// `value_len`-byte value takes.
#[inline]
pub(crate) const fn node_size(height: usize, key_len: usize, value_len: usize) -> usize {
    (HEADER + 4 * height + key_len + value_len).next_multiple_of(ALIGN)
}

/// The skiplist: an arena, the head node's offset and the current height.
pub(crate) struct SkipList {
    arena: Arena,
    /// The head node: a full tower, no key.
    head: u32,
    /// Levels in use (1..=MAX_HEIGHT). Only grows; a stale value only costs
    /// a search a few comparisons, so it is read and raised with relaxed
    /// ordering.
    height: CacheLine<AtomicUsize>,
}

impl SkipList {
    /// An empty list in an arena of `capacity` bytes (at least room for the
    /// head node).
    pub(crate) fn new(capacity: usize) -> SkipList {
        let head_size = node_size(MAX_HEIGHT, 0, 0);
        let arena = Arena::new(capacity.max(ALIGN + head_size));
        let head = arena
            .alloc(head_size)
            .expect("the arena has room for the head");
        // SAFETY: `head` is a fresh allocation of `head_size` bytes, not
        // published yet; its tower is all NULL because the mapping starts
        // zeroed.
        unsafe {
            arena.write_u64(head as usize, 0);
            arena.write_u64(head as usize + 8, (MAX_HEIGHT as u64) & 0xff);
        }
        SkipList {
            arena,
            head,
            height: CacheLine(AtomicUsize::new(1)),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.arena.capacity()
    }

    pub(crate) fn memory_used(&self) -> usize {
        self.arena.used()
    }

    pub(crate) fn head(&self) -> u32 {
        self.head
    }

    /// Inserts a version; false (and nothing inserted) when the arena has no
    /// room. REQUIRES: `(key, seq)` is not in the list.
    pub(crate) fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) -> bool {
        assert!(
            key.len() <= MAX_KEY_LEN,
            "key of {} bytes is too long",
            key.len()
        );
        assert!(
            value.len() <= MAX_VALUE_LEN,
            "value of {} bytes is too long",
            value.len()
        );
        assert!(seq <= MAX_SEQNO, "sequence number {seq} is too large");
        let height = random_height();
        let Some(node) = self.arena.alloc(node_size(height, key.len(), value.len())) else {
            return false;
        };
        self.write_node(node, height, key, seq, kind, value);

        let list_height = self.height.0.load(MemOrder::Relaxed);
        let mut prev = [self.head; MAX_HEIGHT];
        let mut next = [NULL; MAX_HEIGHT];
        let mut known_greater = NULL;
        for level in (0..list_height.max(height)).rev() {
            let from = prev.get(level + 1).copied().unwrap_or(self.head);
            (prev[level], next[level]) = self.splice(from, level, key, seq, known_greater);
            known_greater = next[level];
        }
        if height > list_height {
            self.height.0.fetch_max(height, MemOrder::Relaxed);
        }
        for level in 0..height {
            self.link(node, level, key, seq, prev[level], next[level]);
        }
        true
    }

    /// Writes a node's header, key and value into its fresh allocation.
    fn write_node(
        &self,
        node: u32,
        height: usize,
        key: &[u8],
        seq: SeqNo,
        kind: ValueKind,
        value: &[u8],
    ) {
        let node = node as usize;
        let key_at = node + HEADER + 4 * height;
        let lens = (key.len() as u64) << 8 | height as u64 | (value.len() as u64) << 32;
        // SAFETY: `node` is a fresh allocation of `node_size(height, ..)`
        // bytes owned by this thread and not linked yet; every range written
        // lies inside it, and the two u64s are 8-aligned (nodes are).
        unsafe {
            self.arena.write_u64(node, seq << 8 | kind as u64);
            self.arena.write_u64(node + 8, lens);
            self.arena.write_bytes(key_at, key);
            self.arena.write_bytes(key_at + key.len(), value);
        }
    }

    /// Links `node` at `level` between `prev` and `next`, searching forward
    /// from `prev` again whenever a concurrent insert took the spot first.
    fn link(&self, node: u32, level: usize, key: &[u8], seq: SeqNo, mut prev: u32, mut next: u32) {
        loop {
            // Not yet reachable at this level: a relaxed store is enough,
            // the release CAS below publishes it.
            self.tower(node, level).store(next, MemOrder::Relaxed);
            let won = self.tower(prev, level).compare_exchange(
                next,
                node,
                MemOrder::Release,
                MemOrder::Acquire,
            );
            if won.is_ok() {
                return;
            }
            (prev, next) = self.splice(prev, level, key, seq, NULL);
        }
    }

    /// Walks `level` from `from` (which is before `(key, seq)`) to the last
    /// node before `(key, seq)`; returns it and its successor there.
    /// `known_greater` is a node already known to be after `(key, seq)`.
    #[inline]
    fn splice(
        &self,
        from: u32,
        level: usize,
        key: &[u8],
        seq: SeqNo,
        known_greater: u32,
    ) -> (u32, u32) {
        let mut prev = from;
        loop {
            let next = self.next(prev, level);
            if next == NULL || next == known_greater {
                return (prev, next);
            }
            match self.compare(next, key, seq) {
                Ordering::Less => prev = next,
                Ordering::Greater => return (prev, next),
                Ordering::Equal => panic!("memtable insert of a duplicate (key, seq {seq})"),
            }
        }
    }

    /// Descends from the head to the last node for which `before` holds
    /// (each level is a prefix of nodes that satisfy it, then nodes that do
    /// not). Returns that node (the head when none) and its successor at
    /// level 0 (NULL when none).
    #[inline]
    pub(crate) fn descend(&self, mut before: impl FnMut(u32) -> bool) -> (u32, u32) {
        let mut prev = self.head;
        let mut known_after = NULL;
        for level in (0..self.height.0.load(MemOrder::Relaxed)).rev() {
            loop {
                let next = self.next(prev, level);
                if next == NULL || next == known_after || !before(next) {
                    known_after = next;
                    break;
                }
                prev = next;
            }
        }
        (prev, known_after)
    }

    /// The first node at or after `(key, seq)` in internal order, or NULL.
    #[inline]
    pub(crate) fn find_ge(&self, key: &[u8], seq: SeqNo) -> u32 {
        self.descend(|node| self.compare(node, key, seq) == Ordering::Less)
            .1
    }

    /// Compares `node` with `(key, seq)` in internal order.
    #[inline]
    pub(crate) fn compare(&self, node: u32, key: &[u8], seq: SeqNo) -> Ordering {
        match self.key(node).cmp(key) {
            Ordering::Equal => seq.cmp(&self.seq(node)),
            other => other,
        }
    }

    /// The next node after `node` at `level` (NULL at the end).
    /// REQUIRES: `node` is the head or a linked node taller than `level`.
    #[inline]
    pub(crate) fn next(&self, node: u32, level: usize) -> u32 {
        self.tower(node, level).load(MemOrder::Acquire)
    }

    #[inline]
    fn tower(&self, node: u32, level: usize) -> &AtomicU32 {
        debug_assert!(level < self.height_of(node));
        // SAFETY: `node` is the head or a node (invariant) and `level` is
        // below its height, so the 4-aligned slot lies inside its allocation
        // and is only ever accessed atomically.
        unsafe { self.arena.atomic_u32(node as usize + HEADER + 4 * level) }
    }

    #[inline]
    fn lens(&self, node: u32) -> u64 {
        // SAFETY: `node` is the head or a linked node (invariant): its
        // 8-aligned header was written before it was published, and the
        // acquire load that led here makes that write visible.
        unsafe { self.arena.read_u64(node as usize + 8) }
    }

    #[inline]
    fn height_of(&self, node: u32) -> usize {
        (self.lens(node) & 0xff) as usize
    }

    #[inline]
    fn trailer(&self, node: u32) -> u64 {
        // SAFETY: as in `lens`.
        unsafe { self.arena.read_u64(node as usize) }
    }

    /// The sequence number of `node`. REQUIRES: `node` is not the head.
    #[inline]
    pub(crate) fn seq(&self, node: u32) -> SeqNo {
        self.trailer(node) >> 8
    }

    /// The kind of `node`. REQUIRES: `node` is not the head.
    #[inline]
    pub(crate) fn kind(&self, node: u32) -> ValueKind {
        ValueKind::from_u8(self.trailer(node) as u8).expect("memtable nodes hold valid kinds")
    }

    /// The user key of `node` (empty for the head).
    #[inline]
    pub(crate) fn key(&self, node: u32) -> &[u8] {
        let lens = self.lens(node);
        let key_at = node as usize + HEADER + 4 * (lens & 0xff) as usize;
        // SAFETY: the key bytes follow the tower inside the node's
        // allocation; they were written before the node was published and
        // are never written again.
        unsafe { self.arena.bytes(key_at, (lens as u32 >> 8) as usize) }
    }

    /// The value of `node` (empty for the head).
    #[inline]
    pub(crate) fn value(&self, node: u32) -> &[u8] {
        let lens = self.lens(node);
        let key_len = (lens as u32 >> 8) as usize;
        let value_at = node as usize + HEADER + 4 * (lens & 0xff) as usize + key_len;
        // SAFETY: as in `key`; the value follows the key.
        unsafe { self.arena.bytes(value_at, (lens >> 32) as usize) }
    }
}

/// A random tower height in 1..=MAX_HEIGHT, each level kept with
/// probability 1/4, from a per-thread generator (no shared state per
/// insert).
fn random_height() -> usize {
    use std::cell::Cell;
    use std::sync::atomic::AtomicU64;
    thread_local! {
        static STATE: Cell<u64> = const { Cell::new(0) };
    }
    // Distinct seeds per thread; taken once per thread.
    static SEEDS: AtomicU64 = AtomicU64::new(0x853c_49e6_748f_ea9b);
    STATE.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = SEEDS.fetch_add(0x9e37_79b9_7f4a_7c15, MemOrder::Relaxed) | 1;
        }
        // xorshift64: never reaches 0 from a non-zero state.
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        state.set(s);
        // Two random bits per level: each level has a 1/4 chance.
        let levels = (s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40).trailing_zeros() as usize / 2;
        1 + levels.min(MAX_HEIGHT - 1)
    })
}
