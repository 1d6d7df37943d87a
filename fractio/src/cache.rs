//! [`BlockCache`]: the data blocks of every open table, shared by all
//! readers, bounded in bytes.
//!
//! A cached block is decoded: its checksum was verified and it was
//! decompressed when it was read from disk, so a hit costs a hash-table
//! probe and an `Arc` clone, nothing more. The key is `(table id, block
//! offset)`; table ids are file numbers, never reused, so a deleted table's
//! blocks can never be mistaken for another's and simply age out.
//!
//! The cache is `quick_cache`'s sharded cache (a CLOCK-Pro-like policy with
//! a "ghost" list): a block read once by a long scan enters the cold part
//! and is evicted before blocks that were read repeatedly, so scans do not
//! flush the working set. Each entry weighs its block's memory.
//!
//! Thread-safe: every method takes `&self`. Hit and miss counters are
//! striped over cache-line padded atomics so readers on different cores do
//! not contend on one counter.

use crate::table::block::Block;
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The size a block usually has in the cache, to size the cache's tables.
const TYPICAL_BLOCK_CHARGE: usize = 4 << 10;
/// Counter stripes (a power of two).
const STRIPES: usize = 8;

/// Identifies a block: the table's id (file number) and the block's offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct BlockKey {
    table: u64,
    offset: u64,
}

#[derive(Debug, Clone, Copy)]
struct BlockWeighter;

impl Weighter<BlockKey, Arc<Block>> for BlockWeighter {
    fn weight(&self, _key: &BlockKey, block: &Arc<Block>) -> u64 {
        block.charge() as u64
    }
}

/// One stripe of the hit and miss counters, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

/// A byte-bounded cache of decoded blocks shared by all tables.
pub struct BlockCache {
    cache: Cache<BlockKey, Arc<Block>, BlockWeighter>,
    capacity: usize,
    counters: [Counters; STRIPES],
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("capacity", &self.capacity)
            .field("used", &self.used_bytes())
            .field("hits", &self.hits())
            .field("misses", &self.misses())
            .finish()
    }
}

impl BlockCache {
    /// A cache holding up to `capacity_bytes` of blocks. With 0 it holds
    /// nothing (every read goes to disk).
    pub fn new(capacity_bytes: usize) -> BlockCache {
        let items = (capacity_bytes / TYPICAL_BLOCK_CHARGE).max(1);
        BlockCache {
            cache: Cache::with_weighter(items, capacity_bytes as u64, BlockWeighter),
            capacity: capacity_bytes,
            counters: Default::default(),
        }
    }

    /// The block at `offset` of table `table`, if cached. Counts a hit or a
    /// miss.
    #[inline]
    pub fn get(&self, table: u64, offset: u64) -> Option<Arc<Block>> {
        let found = self.cache.get(&BlockKey { table, offset });
        let counters = &self.counters[stripe(table, offset)];
        let counter = if found.is_some() {
            &counters.hits
        } else {
            &counters.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Caches the block at `offset` of table `table` (a block larger than
    /// a cache shard is not kept).
    pub fn insert(&self, table: u64, offset: u64, block: Arc<Block>) {
        self.cache.insert(BlockKey { table, offset }, block);
    }

    /// Lookups that found their block.
    pub fn hits(&self) -> u64 {
        self.counters
            .iter()
            .map(|c| c.hits.load(Ordering::Relaxed))
            .sum()
    }

    /// Lookups that did not.
    pub fn misses(&self) -> u64 {
        self.counters
            .iter()
            .map(|c| c.misses.load(Ordering::Relaxed))
            .sum()
    }

    /// Bytes of blocks held.
    pub fn used_bytes(&self) -> usize {
        self.cache.weight() as usize
    }

    /// The configured capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The number of blocks held.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }
}

/// Spreads counter updates: blocks of different tables or offsets usually
/// land on different stripes.
#[inline]
fn stripe(table: u64, offset: u64) -> usize {
    let mixed = (table ^ (offset >> 10)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> 61) as usize & (STRIPES - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::block::{BlockBuilder, RESTART_INTERVAL};
    use crate::types::ValueKind;

    fn block(value_len: usize) -> Arc<Block> {
        let mut builder = BlockBuilder::new(RESTART_INTERVAL);
        builder.add(b"key", 1, ValueKind::Value, &vec![7; value_len]);
        Arc::new(Block::decode(builder.finish().to_vec()).unwrap())
    }

    #[test]
    fn counts_hits_and_misses() {
        let cache = BlockCache::new(1 << 20);
        assert!(cache.get(1, 0).is_none());
        cache.insert(1, 0, block(100));
        let hit = cache.get(1, 0).unwrap();
        assert_eq!(hit.size(), block(100).size());
        assert!(cache.get(2, 0).is_none(), "other table, same offset");
        assert!(cache.get(1, 4096).is_none());
        assert_eq!((cache.hits(), cache.misses()), (1, 3));
        assert_eq!(cache.len(), 1);
        assert!(cache.used_bytes() >= 100);
    }

    #[test]
    fn stays_within_its_byte_budget() {
        let cache = BlockCache::new(256 << 10);
        for offset in 0..1000u64 {
            cache.insert(7, offset * 4096, block(4000));
        }
        assert!(
            cache.used_bytes() <= 256 << 10,
            "used {}",
            cache.used_bytes()
        );
        assert!(
            cache.len() >= 30,
            "holds about capacity / block size: {}",
            cache.len()
        );
    }

    #[test]
    fn zero_capacity_holds_nothing() {
        let cache = BlockCache::new(0);
        cache.insert(1, 0, block(10));
        assert!(cache.get(1, 0).is_none());
        assert_eq!(cache.used_bytes(), 0);
    }

    /// Goal: a scan does not evict the working set. Method: read a small
    /// hot set repeatedly, then insert a scan of blocks each read once,
    /// and check the hot set is still cached.
    #[test]
    fn a_scan_does_not_flush_the_hot_set() {
        let cache = BlockCache::new(512 << 10);
        let hot: Vec<u64> = (0..20).map(|i| i * 4096).collect();
        for &offset in &hot {
            cache.insert(1, offset, block(4000));
        }
        for _ in 0..3 {
            for &offset in &hot {
                assert!(cache.get(1, offset).is_some());
            }
        }
        for offset in 0..2000u64 {
            cache.insert(2, offset * 4096, block(4000));
        }
        let kept = hot
            .iter()
            .filter(|&&offset| cache.get(1, offset).is_some())
            .count();
        assert!(kept >= 18, "only {kept} of 20 hot blocks survived the scan");
    }
}
