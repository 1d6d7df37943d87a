//! The memtable: the in-memory write buffer, a concurrent skiplist of
//! versions in one arena.
//!
//! [`Memtable`] owns a [`skiplist::SkipList`] whose nodes (tower, header,
//! key and value inline; layout in [`node`]) live in an [`arena::Arena`] of
//! fixed capacity. An insert costs one atomic `fetch_add` for its memory and
//! one CAS per tower level and allocates nothing on the heap; a lookup is
//! one descent. Entries are never removed: a full memtable is sealed,
//! flushed and dropped whole.
//!
//! An insert may be split in two ([`Memtable::prepare`], then
//! [`Memtable::insert_prepared`]): the first half sets the key's filter
//! bits and finds its place on every level, which costs the cache misses
//! of a descent; the second only links the node, searching forward from
//! that place. A writer does the first half before it takes the database's
//! commit lock, so the lock is held for a short, cache-warm step.
//!
//! Thread-safety: `Memtable` is `Send + Sync`. Any number of threads may
//! insert while others call [`Memtable::get`] or move [`MemtableIter`]s; a
//! reader sees each entry either completely or not at all.
//!
//! Invariants: `(key, seq)` pairs are unique (callers give each write its
//! own sequence number); entries are immutable once inserted; the arena is
//! freed only when the last `Arc` (table or cursor) is dropped.

mod arena;
mod filter;
mod node;
mod skiplist;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::iter::InternalIterator;
use crate::types::{key_hash, user_keys_equal, SeqNo, ValueKind};
use crate::Result;
use node::{node_size, Nodes, MAX_HEIGHT, NULL};
use skiplist::SkipList;

/// A concurrent, insert-only, sorted map from `(user key, seq)` to
/// `(kind, value)`, stored in a fixed-size arena.
pub struct Memtable {
    list: SkipList,
    filter: filter::KeyFilter,
    /// Unique among the memtables of the process, so a [`Prepared`] insert
    /// is never applied to another memtable than the one it was made for.
    id: u64,
}

/// The first half of an insert of one key into one memtable (see
/// [`Memtable::prepare`]).
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    memtable: u64,
    /// The new node's height, drawn here so that the search covers only
    /// the levels it will be linked on.
    height: usize,
    prev: [u32; MAX_HEIGHT],
}

/// The source of [`Memtable::id`]s.
static NEXT_MEMTABLE_ID: AtomicU64 = AtomicU64::new(1);

impl Memtable {
    /// An empty memtable whose arena can hold `capacity` bytes (raised to the
    /// few dozen bytes its head node needs, rounded up to 4). The arena is an
    /// anonymous mapping, so untouched pages cost no RSS (on Linux it asks
    /// for transparent huge pages, so the granule is up to 2 MiB). Panics
    /// when `capacity` exceeds `u32::MAX` (nodes are addressed by `u32`
    /// offsets) or the system refuses the mapping.
    pub fn new(capacity: usize) -> Memtable {
        Memtable {
            list: SkipList::new(capacity),
            filter: filter::KeyFilter::new(capacity),
            id: NEXT_MEMTABLE_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The size of the arena in bytes.
    pub fn capacity(&self) -> usize {
        self.nodes().capacity()
    }

    /// Worst-case arena bytes one entry takes: tallest tower, header, key,
    /// value and alignment padding.
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
        // The filter's bits go in before the node is linked (release), so a
        // reader ordered after the insert finds them. A refused insert leaves
        // a few bits set for nothing, which costs only a false positive.
        self.filter.insert(key_hash(key));
        self.list.insert(key, seq, kind, value)
    }

    /// The first half of an insert of `key`: sets the key's filter bits
    /// and finds, on every level, the last entry before every version of
    /// `key`. Inserts nothing; any number of inserts may happen between
    /// this and [`insert_prepared`](Memtable::insert_prepared).
    #[inline]
    pub(crate) fn prepare(&self, key: &[u8]) -> Prepared {
        // The filter line loads during the descent. Bits set before the
        // insert are only a false positive until then.
        let hash = key_hash(key);
        self.filter.prefetch(hash);
        let height = skiplist::random_height();
        let prev = self.list.predecessors(key, height);
        self.filter.insert(hash);
        Prepared {
            memtable: self.id,
            height,
            prev,
        }
    }

    /// [`Memtable::insert`] of the key `prepared` was made for, searching
    /// forward from the place it found. A `prepared` made for another
    /// memtable is ignored: the insert is then a plain one.
    ///
    /// REQUIRES: as [`Memtable::insert`], and `prepared` was made by
    /// [`Memtable::prepare`] for this same `key` (which is why the pair is
    /// internal to the crate: the database's write path keeps it).
    #[inline]
    pub(crate) fn insert_prepared(
        &self,
        prepared: &Prepared,
        key: &[u8],
        seq: SeqNo,
        kind: ValueKind,
        value: &[u8],
    ) -> bool {
        if prepared.memtable != self.id {
            return self.insert(key, seq, kind, value);
        }
        self.list
            .insert_after(&prepared.prev, prepared.height, key, seq, kind, value)
    }

    /// The newest version of `key` with a sequence number `<= snapshot`
    /// (a tombstone comes back as [`ValueKind::Tombstone`]). One descent, no
    /// allocation.
    #[inline]
    pub fn get(&self, key: &[u8], snapshot: SeqNo) -> Option<(SeqNo, ValueKind, &[u8])> {
        let node = self.list.find_ge(key, snapshot);
        let nodes = self.nodes();
        if node == NULL || nodes.key(node) != key {
            return None;
        }
        Some((nodes.seq(node), nodes.kind(node), nodes.value(node)))
    }

    /// [`Memtable::get`] after asking the memtable's key filter with the
    /// key's hash (`types::key_hash(key)`, computed once by the caller): a
    /// key the memtable does not hold usually costs one cache line instead
    /// of a descent. Worth it for callers that look elsewhere on a miss
    /// (tables); for a lookup that ends here either way, [`Memtable::get`]
    /// is cheaper.
    #[inline]
    pub fn get_filtered(
        &self,
        key: &[u8],
        hash: u64,
        snapshot: SeqNo,
    ) -> Option<(SeqNo, ValueKind, &[u8])> {
        if self.list.excludes(key) || !self.filter.may_contain(hash) {
            return None;
        }
        self.get(key, snapshot)
    }

    /// Backs arena bytes `[from, to)` with memory ahead of use, so inserts
    /// do not stop for page faults. Meant to be called from a background
    /// thread a little ahead of [`Memtable::memory_used`]; bytes already
    /// written are untouched. Only a hint.
    pub fn prefault(&self, from: usize, to: usize) {
        self.nodes().populate(from, to);
    }

    /// Arena bytes used so far (including the head node).
    pub fn memory_used(&self) -> usize {
        self.nodes().memory_used()
    }

    /// Whether no entry has been inserted.
    pub fn is_empty(&self) -> bool {
        self.nodes().next(self.list.head, 0) == NULL
    }

    /// A cursor over all versions in internal order. It holds the `Arc`, so
    /// it may outlive the caller's reference. It starts unpositioned.
    pub fn iter(self: &Arc<Self>) -> MemtableIter {
        MemtableIter {
            table: Arc::clone(self),
            node: NULL,
        }
    }

    fn nodes(&self) -> &Nodes {
        &self.list.nodes
    }
}

/// A cursor over a [`Memtable`]'s versions. Entries inserted while it is in
/// use may or may not be seen, but the order is always right. Never returns
/// an error. Reading an entry while not `valid()` panics.
pub struct MemtableIter {
    table: Arc<Memtable>,
    /// The current node; NULL when not valid, never the head.
    node: u32,
}

impl MemtableIter {
    fn list(&self) -> &SkipList {
        &self.table.list
    }

    /// The current node, checked: reading an invalid cursor is a bug.
    fn current(&self) -> u32 {
        assert!(self.valid(), "memtable cursor used while not valid");
        self.node
    }

    /// Moves to `node`; the head means "before the first entry".
    fn set(&mut self, node: u32) {
        self.node = if node == self.list().head { NULL } else { node };
    }
}

impl InternalIterator for MemtableIter {
    #[inline]
    fn valid(&self) -> bool {
        self.node != NULL
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.node = self.table.nodes().next(self.list().head, 0);
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.set(self.list().find_last());
        Ok(())
    }

    fn seek(&mut self, key: &[u8], seq: SeqNo) -> Result<()> {
        self.node = self.list().find_ge(key, seq);
        Ok(())
    }

    fn seek_for_prev(&mut self, key: &[u8], seq: SeqNo) -> Result<()> {
        self.set(self.list().find_last_before(key, seq, true));
        Ok(())
    }

    #[inline]
    fn next(&mut self) -> Result<()> {
        self.node = self.table.nodes().next(self.current(), 0);
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        let (key, seq) = (self.key(), self.seq());
        let before = self.list().find_last_before(key, seq, false);
        self.set(before);
        Ok(())
    }

    #[inline]
    fn key(&self) -> &[u8] {
        self.table.nodes().key(self.current())
    }

    #[inline]
    fn seq(&self) -> SeqNo {
        self.table.nodes().seq(self.current())
    }

    #[inline]
    fn kind(&self) -> ValueKind {
        self.table.nodes().kind(self.current())
    }

    #[inline]
    fn value(&self) -> &[u8] {
        self.table.nodes().value(self.current())
    }

    /// Nodes stay where they are while the memtable lives, so the key is
    /// compared in place, not copied.
    #[inline]
    fn next_key(&mut self, _scratch: &mut Vec<u8>) -> Result<()> {
        let nodes = self.table.nodes();
        let key = nodes.key(self.current());
        let mut node = nodes.next(self.node, 0);
        while node != NULL && user_keys_equal(nodes.key(node), key) {
            node = nodes.next(node, 0);
        }
        self.node = node;
        Ok(())
    }
}
