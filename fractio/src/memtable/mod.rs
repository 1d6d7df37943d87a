//! The memtable: the in-memory write buffer, a concurrent skiplist of
//! versions in one arena.
//!
//! [`Memtable`] owns a [`skiplist::SkipList`] whose nodes (header, tower,
//! key and value inline) live in an [`arena::Arena`] of fixed capacity. An
//! insert costs one atomic `fetch_add` for its memory and one CAS per tower
//! level, and allocates nothing on the heap; a lookup is one descent. Entries
//! are never removed: a full memtable is sealed, flushed and dropped whole.
//!
//! Thread-safety: `Memtable` is `Send + Sync`. Any number of threads may
//! insert while others call [`Memtable::get`] or move [`MemtableIter`]s; a
//! reader sees each entry either completely or not at all.
//!
//! Invariants: `(key, seq)` pairs are unique (callers assign each write its
//! own sequence number); entries are immutable once inserted; the arena is
//! freed only when the last `Arc` (table or iterator) is dropped.

mod arena;
mod skiplist;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::iter::InternalIterator;
use crate::types::{SeqNo, ValueKind};
use crate::Result;
use skiplist::{node_size, SkipList, MAX_HEIGHT, NULL};

/// A concurrent, insert-only, sorted map from `(user key, seq)` to
/// `(kind, value)`, stored in a fixed-size arena.
pub struct Memtable {
    list: SkipList,
}

impl Memtable {
    /// An empty memtable whose arena can hold `capacity` bytes (raised to the
    /// few dozen bytes its head node needs). The arena is an anonymous
    /// mapping, so untouched pages cost no RSS. Panics when `capacity`
    /// exceeds `u32::MAX` (nodes are addressed by `u32` offsets).
    pub fn new(capacity: usize) -> Memtable {
        Memtable {
            list: SkipList::new(capacity),
        }
    }

    /// The size of the arena in bytes.
    pub fn capacity(&self) -> usize {
        self.list.capacity()
    }

    /// Worst-case arena bytes one entry takes: node header, tallest tower,
    /// key, value and alignment padding.
    pub fn entry_size(key_len: usize, value_len: usize) -> usize {
        node_size(MAX_HEIGHT, key_len, value_len)
    }

    /// Inserts a version. Any number of threads may insert at once while
    /// others read. Returns false and inserts nothing when the arena has no
    /// room.
    ///
    /// REQUIRES: `(key, seq)` is not already present; `key.len() <=
    /// MAX_KEY_LEN`, `value.len() <= MAX_VALUE_LEN`, `seq <= MAX_SEQNO`
    /// (panics otherwise).
    #[inline]
    pub fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) -> bool {
        self.list.insert(key, seq, kind, value)
    }

    /// The newest version of `key` with a sequence number `<= snapshot`
    /// (a tombstone comes back as [`ValueKind::Tombstone`]). One descent, no
    /// allocation.
    #[inline]
    pub fn get(&self, key: &[u8], snapshot: SeqNo) -> Option<(SeqNo, ValueKind, &[u8])> {
        let node = self.list.find_ge(key, snapshot);
        if node == NULL || self.list.key(node) != key {
            return None;
        }
        Some((
            self.list.seq(node),
            self.list.kind(node),
            self.list.value(node),
        ))
    }

    /// Arena bytes used so far (including the head node).
    pub fn memory_used(&self) -> usize {
        self.list.memory_used()
    }

    /// Whether no entry has been inserted.
    pub fn is_empty(&self) -> bool {
        self.list.next(self.list.head(), 0) == NULL
    }

    /// A cursor over all versions in internal order. It holds the `Arc`, so
    /// it may outlive the caller's reference. It starts unpositioned.
    pub fn iter(self: &Arc<Self>) -> MemtableIter {
        MemtableIter {
            table: Arc::clone(self),
            node: NULL,
        }
    }
}

/// A cursor over a [`Memtable`]'s versions. Entries inserted after the
/// cursor was made may or may not be seen, but the order is always right.
/// Never returns an error.
pub struct MemtableIter {
    table: Arc<Memtable>,
    /// The current node, NULL when not valid (never the head).
    node: u32,
}

impl MemtableIter {
    fn list(&self) -> &SkipList {
        &self.table.list
    }

    /// Moves to `node`, treating the head as "before the first entry".
    fn set(&mut self, node: u32) {
        self.node = if node == self.list().head() {
            NULL
        } else {
            node
        };
    }
}

impl InternalIterator for MemtableIter {
    #[inline]
    fn valid(&self) -> bool {
        self.node != NULL
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.node = self.list().next(self.list().head(), 0);
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        let (last, _) = self.list().descend(|_| true);
        self.set(last);
        Ok(())
    }

    fn seek(&mut self, key: &[u8], seq: SeqNo) -> Result<()> {
        self.node = self.list().find_ge(key, seq);
        Ok(())
    }

    fn seek_for_prev(&mut self, key: &[u8], seq: SeqNo) -> Result<()> {
        let list = self.list();
        let (last, _) = list.descend(|node| list.compare(node, key, seq).is_le());
        self.set(last);
        Ok(())
    }

    #[inline]
    fn next(&mut self) -> Result<()> {
        assert!(self.valid(), "next on an invalid memtable cursor");
        self.node = self.list().next(self.node, 0);
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        assert!(self.valid(), "prev on an invalid memtable cursor");
        let list = self.list();
        let (key, seq) = (list.key(self.node), list.seq(self.node));
        let (before, _) = list.descend(|node| list.compare(node, key, seq).is_lt());
        self.set(before);
        Ok(())
    }

    #[inline]
    fn key(&self) -> &[u8] {
        assert!(self.valid(), "memtable cursor is not valid");
        self.list().key(self.node)
    }

    #[inline]
    fn seq(&self) -> SeqNo {
        assert!(self.valid(), "memtable cursor is not valid");
        self.list().seq(self.node)
    }

    #[inline]
    fn kind(&self) -> ValueKind {
        assert!(self.valid(), "memtable cursor is not valid");
        self.list().kind(self.node)
    }

    #[inline]
    fn value(&self) -> &[u8] {
        assert!(self.valid(), "memtable cursor is not valid");
        self.list().value(self.node)
    }
}
