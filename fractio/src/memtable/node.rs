//! Skiplist nodes: their byte layout in the [`Arena`] and every raw access
//! to them.
//!
//! A node is addressed by the `u32` arena offset of its header; offset 0
//! ([`NULL`]) is never a node. Layout (byte offsets from the node's offset
//! `n`; `h` is the tower height, 1..=[`MAX_HEIGHT`]; `k`, `v` the key and
//! value lengths):
//!
//! ```text
//!  n-4h        n-4    n         n+8                   n+16      n+16+k
//!  +-----------+------+---------+---------------------+---------+-------+
//!  | tower[h-1]| ...  | trailer | lens                | key     | value |
//!  |           |tower[0] u64    | u64                 | k bytes | v     |
//!  +-----------+------+---------+---------------------+---------+-------+
//!  tower[l]: AtomicU32, offset of the next node at level l (NULL at the end)
//!  trailer = seq << 8 | kind
//!  lens    = value_len << 32 | key_len << 8 | h
//! ```
//!
//! The tower grows downwards from the header, so both the tower and the key
//! sit at fixed offsets from `n`: a search step loads the next offset and
//! the next node's key without first decoding a length. For a 16-byte key
//! the tower, header and key span 36 + 4(h-1) bytes, usually one cache line.
//! Allocations are 4-aligned; the `u64`s are read unaligned. The head node
//! has a full tower and an empty key.
//!
//! Thread-safety and invariants: the thread that allocates a node writes its
//! header, key and value before linking it anywhere, and never writes them
//! again; tower slots are only ever accessed atomically. Callers pass only
//! the head or offsets loaded (with acquire) from a tower or from the
//! list's `last` (stored with release after its node was linked), so every node
//! they pass was fully written and that write is visible to them.

use std::sync::atomic::{AtomicU32, Ordering};

use super::arena::{Arena, ALIGN};
use crate::prefetch;
use crate::types::{SeqNo, ValueKind};

/// The tallest tower. With a branching factor of 4, twelve levels keep
/// searches logarithmic up to 4^12 = 16M entries, more than a memtable of
/// the largest allowed size (2 GiB) holds at any realistic entry size.
pub(crate) const MAX_HEIGHT: usize = 12;

/// The "no node" offset that ends every level.
pub(crate) const NULL: u32 = 0;

/// Bytes of a node's header: trailer (8) and lens (8).
const HEADER: usize = 16;

/// Arena bytes a node of `height` with a `key_len`-byte key and a
/// `value_len`-byte value takes.
#[inline]
pub(crate) const fn node_size(height: usize, key_len: usize, value_len: usize) -> usize {
    (4 * height + HEADER + key_len + value_len).next_multiple_of(ALIGN)
}

/// The arena seen as a set of nodes.
pub(crate) struct Nodes {
    arena: Arena,
}

impl Nodes {
    /// An arena of `capacity` bytes (at least enough for the head node) and
    /// the head node in it.
    pub(crate) fn new(capacity: usize) -> (Nodes, u32) {
        let head_size = node_size(MAX_HEIGHT, 0, 0);
        let nodes = Nodes {
            arena: Arena::new(capacity.max(ALIGN + head_size)),
        };
        let head = nodes.alloc(MAX_HEIGHT, b"", 0, ValueKind::Tombstone, b"");
        (nodes, head.expect("the arena has room for the head"))
    }

    pub(crate) fn capacity(&self) -> usize {
        self.arena.capacity()
    }

    pub(crate) fn memory_used(&self) -> usize {
        self.arena.used()
    }

    /// Backs arena bytes `[from, to)` with memory ahead of use.
    pub(crate) fn populate(&self, from: usize, to: usize) {
        self.arena.populate(from, to);
    }

    /// Allocates and writes a node whose tower is all NULL; None when the
    /// arena has no room. Its tower still has to be set and linked.
    #[inline]
    pub(crate) fn alloc(
        &self,
        height: usize,
        key: &[u8],
        seq: SeqNo,
        kind: ValueKind,
        value: &[u8],
    ) -> Option<u32> {
        let start = self
            .arena
            .alloc(node_size(height, key.len(), value.len()))?;
        let node = start as usize + 4 * height;
        let lens = (value.len() as u64) << 32 | (key.len() as u64) << 8 | height as u64;
        // SAFETY: `[start, start + node_size)` is a fresh allocation owned by
        // this thread and not linked yet; the header, key and value ranges
        // lie inside it (see the layout). The tower slots are left alone:
        // the mapping starts zeroed, so they read as NULL.
        unsafe {
            self.arena.write_u64(node, seq << 8 | kind as u64);
            self.arena.write_u64(node + 8, lens);
            self.arena.write_bytes(node + HEADER, key);
            self.arena.write_bytes(node + HEADER + key.len(), value);
        }
        Some(node as u32)
    }

    /// Slot `level` of `node`'s tower. REQUIRES: `level < height(node)`.
    #[inline]
    pub(crate) fn tower(&self, node: u32, level: usize) -> &AtomicU32 {
        debug_assert!(node != NULL && level < self.height(node));
        // SAFETY: `node` is a node (module invariant) taller than `level`, so
        // the 4-aligned slot lies inside its allocation, and tower slots are
        // only ever accessed atomically.
        unsafe { self.arena.atomic_u32(node as usize - 4 * (level + 1)) }
    }

    /// The next node after `node` at `level` (NULL at the end), loaded with
    /// acquire so that the node it names is visible.
    #[inline]
    pub(crate) fn next(&self, node: u32, level: usize) -> u32 {
        self.tower(node, level).load(Ordering::Acquire)
    }

    /// Asks the CPU to start loading the header and key of the node after
    /// `node` at `level`. REQUIRES: `level < height(node)`.
    #[inline]
    pub(crate) fn prefetch_next(&self, node: u32, level: usize) {
        // Only a hint: nothing is read through this offset, so a relaxed
        // load is enough (and NULL just prefetches the arena's first line).
        let next = self.tower(node, level).load(Ordering::Relaxed);
        prefetch::read(self.arena.base().wrapping_add(next as usize).cast());
    }

    #[inline]
    fn lens(&self, node: u32) -> u64 {
        debug_assert!(node != NULL);
        // SAFETY: `node` is a node (module invariant): its header was written
        // before it was linked, never changes, and the acquire load that
        // produced `node` makes that write visible here.
        unsafe { self.arena.read_u64(node as usize + 8) }
    }

    #[inline]
    fn trailer(&self, node: u32) -> u64 {
        debug_assert!(node != NULL);
        // SAFETY: as in `lens`.
        unsafe { self.arena.read_u64(node as usize) }
    }

    #[inline]
    fn height(&self, node: u32) -> usize {
        (self.lens(node) & 0xff) as usize
    }

    /// The sequence number of `node`.
    #[inline]
    pub(crate) fn seq(&self, node: u32) -> SeqNo {
        self.trailer(node) >> 8
    }

    /// The kind of `node`.
    #[inline]
    pub(crate) fn kind(&self, node: u32) -> ValueKind {
        ValueKind::from_u8(self.trailer(node) as u8).expect("memtable nodes hold valid kinds")
    }

    /// The user key of `node`.
    #[inline]
    pub(crate) fn key(&self, node: u32) -> &[u8] {
        let key_len = (self.lens(node) as u32 >> 8) as usize;
        // SAFETY: as in `lens`; the key follows the header inside the node.
        unsafe { self.arena.bytes(node as usize + HEADER, key_len) }
    }

    /// The value of `node`.
    #[inline]
    pub(crate) fn value(&self, node: u32) -> &[u8] {
        let lens = self.lens(node);
        let key_len = (lens as u32 >> 8) as usize;
        // SAFETY: as in `lens`; the value follows the key inside the node.
        unsafe {
            self.arena
                .bytes(node as usize + HEADER + key_len, (lens >> 32) as usize)
        }
    }
}
