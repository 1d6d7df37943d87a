//! [`KeyFilter`]: a concurrent blocked bloom filter over the user keys of a
//! memtable, so a lookup of a key the memtable does not hold — the common
//! case once most data lives in tables — costs one cache line instead of a
//! skiplist descent (about 20 cache misses in a full memtable).
//!
//! Layout: one `AtomicU64` per key: the hash picks a word and sets
//! [`PROBES`] bits in it, so an insert is at most one `fetch_or` and a
//! lookup one load. (Blocks of eight words with six bits spread over them
//! cost up to six locked read-modify-writes per insert: `delete` ran
//! 1.29x and 1.40x faster with one word, for 2.4% false positives instead
//! of 1.6% in a full memtable of tombstones.)
//!
//! Sized at about 9 bits per entry of an arena full of the smallest
//! entries that matter: tombstones of 16-byte keys (36 bytes a node). An
//! arena of the seed's 140-byte entries gets about 35 bits each (0.04%
//! false positives). Sized for those instead (as it was), a memtable of
//! tombstones (the bench's `delete`) got under 3 bits per entry: 55% false
//! positives when full, each a skiplist descent for a lookup of a key it
//! does not hold (`contains`, 1.15x-1.2x faster with the larger filter).
//! The filter is 1/32 of the arena (1 MiB for a 32 MiB memtable), backed
//! by memory as it is written.
//!
//! Thread-safety: bits are only ever set, with `fetch_or`. An insert sets
//! its bits before the skiplist links the node (release), so a reader that
//! can see the entry also sees the bits; a reader that misses a bit only
//! misses an entry it could not have seen yet.

use crate::prefetch;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bits set per key, all within one 64-bit word.
const PROBES: u32 = 5;
/// Arena bytes per filter byte: an arena of 36-byte entries (tombstones
/// of 16-byte keys) gets ~9 bits per entry.
const ARENA_BYTES_PER_FILTER_BYTE: usize = 32;

/// A bloom filter that only grows.
pub(crate) struct KeyFilter {
    words: Box<[AtomicU64]>,
}

impl KeyFilter {
    /// A filter for an arena of `capacity` bytes. The zeroed allocation is
    /// lazily backed by the system, like the arena.
    pub(crate) fn new(capacity: usize) -> KeyFilter {
        let words = (capacity / ARENA_BYTES_PER_FILTER_BYTE / 8).max(1);
        KeyFilter {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The word `hash` sets bits in, and those bits.
    #[inline]
    fn probe(&self, hash: u64) -> (&AtomicU64, u64) {
        // The high half picks the word (multiply-shift range reduction),
        // six bits of the low half at a time each bit inside it.
        let word = (((hash >> 32) * self.words.len() as u64) >> 32) as usize;
        let mut mask = 0u64;
        let mut h = hash as u32;
        for _ in 0..PROBES {
            mask |= 1 << (h & 63);
            h >>= 6;
        }
        (&self.words[word], mask)
    }

    /// Records a key by its hash (`types::key_hash`).
    #[inline]
    pub(crate) fn insert(&self, hash: u64) {
        let (word, mask) = self.probe(hash);
        // Bits already set need no locked read-modify-write.
        if word.load(Ordering::Relaxed) & mask != mask {
            word.fetch_or(mask, Ordering::Relaxed);
        }
    }

    /// Asks the CPU to start loading, for writing, the word `insert(hash)`
    /// sets bits in. Its `fetch_or` waits for the line and holds back
    /// every later load, so a writer prefetches the line before its
    /// skiplist descent and sets the bits after it.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        let (word, _) = self.probe(hash);
        prefetch::write((word as *const AtomicU64).cast());
    }

    /// Whether a key with this hash may have been inserted (no false
    /// negatives).
    #[inline]
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        let (word, mask) = self.probe(hash);
        word.load(Ordering::Relaxed) & mask == mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::key_hash;

    #[test]
    #[cfg_attr(miri, ignore = "statistical, safe code: too slow under Miri")]
    fn no_false_negatives_and_few_false_positives() {
        let entries = 100_000usize;
        let filter = KeyFilter::new(entries * 140);
        for i in 0..entries {
            filter.insert(key_hash(format!("present{i}").as_bytes()));
        }
        for i in 0..entries {
            assert!(filter.may_contain(key_hash(format!("present{i}").as_bytes())));
        }
        let false_positives = (0..entries)
            .filter(|i| filter.may_contain(key_hash(format!("absent{i}").as_bytes())))
            .count();
        let rate = false_positives as f64 / entries as f64;
        assert!(rate < 0.02, "false-positive rate {rate}");
    }

    /// Goal: a memtable full of the smallest entries (tombstones of 16-byte
    /// keys) still answers most absent keys from its filter. Method: fill
    /// a filter sized for a 4 MiB arena with as many keys as such entries
    /// fit in it; count false positives.
    #[test]
    #[cfg_attr(miri, ignore = "statistical, safe code: too slow under Miri")]
    fn an_arena_of_tombstones_keeps_false_positives_rare() {
        let arena = 4 << 20;
        let entries = arena / crate::memtable::node::node_size(1, 16, 0);
        let filter = KeyFilter::new(arena);
        for i in 0..entries {
            filter.insert(key_hash(format!("tomb{i:012}").as_bytes()));
        }
        let false_positives = (0..100_000)
            .filter(|i| filter.may_contain(key_hash(format!("absent{i:010}").as_bytes())))
            .count();
        let rate = false_positives as f64 / 100_000.0;
        assert!(
            rate < 0.03,
            "false-positive rate {rate} with {entries} entries"
        );
    }
}
