//! [`BlockCache`]: the data blocks of every open table, shared by all
//! readers, bounded in bytes.
//!
//! A cached block is decoded: its checksum was verified and it was
//! decompressed when it was read from disk, so a hit costs no copy and no
//! check.
//!
//! # Layout: a slot per block, found by the index
//! Every open table has a [`TableBlocks`]: one slot per data block, indexed
//! by the block's number in the table's index. A point lookup has that
//! number in hand once the index is searched, so a hit is one visit to the
//! slot — no hashing, no shared lock: each slot has its own one-byte mutex,
//! held just long enough to clone the block's `Arc` (readers of one block
//! at the same instant are rare, and the clone touches the block's first
//! cache line, which the lookup reads next anyway). A table's slots die
//! with it, so a deleted table's blocks can never be mistaken for
//! another's.
//!
//! # Eviction: S3-FIFO, per shard
//! Blocks are spread over up to [`MAX_SHARDS`] shards (by table and block
//! number), each with its own share of the budget and its own mutex, so
//! readers that miss at the same time rarely wait for one another.
//! Bookkeeping happens only when a block is inserted (after a disk read,
//! which costs far more), under the shard's mutex:
//! - a new block enters the *small* queue (FIFO);
//! - a hit sets the slot's small frequency counter (saturating at 3; a
//!   plain store, skipped when already saturated);
//! - while the cache is over budget: if the small queue holds more than a
//!   tenth of the budget (or the main queue is empty), its oldest block
//!   leaves it — to the *main* queue if it was hit while there, out of the
//!   cache otherwise; else the main queue's oldest block is evicted if its
//!   counter is 0, or moved to the back with the counter decremented.
//!
//! A block read once therefore passes through the small queue and out,
//! while blocks read repeatedly live in the main queue.
//!
//! # Admission of a long scan's blocks
//! Blocks that a cursor reads ahead in a long scan are offered with
//! [`TableBlocks::insert_scanned`]: they are cached while the shard has
//! room for them, or when a scan already read the same block before (the
//! slot's counter, otherwise 0 while the slot is empty, marks it);
//! otherwise the mark is set and the block is not cached. A range scanned
//! once leaves the cache as it was; one scanned again is cached on the
//! second pass. Inserting into a full cache costs more than the eviction
//! bookkeeping: the new block goes into the memory of the block it evicts,
//! which is cold, so each 4 KiB block costs a round trip to DRAM. A
//! one-pass scan of a table far larger than the cache (the `range-scan`
//! workload) ran 1.36x faster without those inserts.
//!
//! Blocks read for the cache live in frames of the cache's
//! `FramePool` (on huge pages, see `table/buf.rs`) when they fit one;
//! a frame returns to the pool when its block is dropped. Other blocks
//! are on the heap: evicted ones are let go of after the shard's mutex is
//! released, and the memory of those no reader holds any more is kept as
//! the evicting thread's spare buffers for its next block reads
//! ([`spare_buffer`]).
//!
//! Invariants: a shard's `used` is the sum of the charges of the blocks of
//! that shard held in slots of live tables; each held block has exactly
//! one queue entry, in its shard;
//! queue entries of dropped tables are stale and skipped (their charge was
//! released by the drop). Thread-safe: every method takes `&self`. Hit and
//! miss counters are striped over cache-line padded atomics so readers on
//! different cores do not contend on one counter.

use crate::prefetch;
use crate::table::block::Block;
use crate::table::buf::{BlockBuf, FramePool};
use parking_lot::Mutex;
use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

/// Counter stripes (a power of two).
const STRIPES: usize = 8;
/// The largest value of a slot's frequency counter.
const MAX_FREQ: u8 = 3;
/// The most shards a cache has; a small cache has fewer (at least 1 MiB
/// each), so each shard's queues still hold many blocks.
pub const MAX_SHARDS: usize = 16;

/// The smallest cache whose blocks go into frames: a pool maps 2 MiB at a
/// time, too coarse for a cache of a few blocks.
const MIN_FRAMED_CAPACITY: usize = 4 << 20;

/// One stripe of the hit and miss counters, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

/// A queued block: which table, which block, what it was charged.
struct Entry {
    table: Weak<TableBlocks>,
    block: u32,
    charge: u32,
    /// Where the block's slot and the block's reference counts lay when it
    /// was queued: only ever prefetched (see [`Entry::prefetch`]), never
    /// read through, so they may dangle once the table is gone.
    lines: [usize; 2],
}

impl Entry {
    /// Asks the CPU to load what evicting this entry reads: its slot and
    /// the block's reference counts. Both are cold by the time a block
    /// reaches the front of its queue, so an eviction that finds them
    /// unloaded waits for DRAM twice; prefetched one eviction ahead, they
    /// arrive while the reader does its disk read.
    #[inline]
    fn prefetch(&self) {
        for addr in self.lines {
            prefetch::read(addr as *const u8);
        }
    }
}

/// The two queues, guarded by the cache's mutex.
#[derive(Default)]
struct Queues {
    small: VecDeque<Entry>,
    main: VecDeque<Entry>,
    /// Charges of the entries in `small` (stale ones included).
    small_bytes: usize,
}

/// One shard: its share of the budget, what it holds, its queues.
#[repr(align(128))]
struct Shard {
    capacity: usize,
    /// Bytes of blocks held.
    used: AtomicUsize,
    /// Blocks held.
    resident: AtomicUsize,
    queues: Mutex<Queues>,
}

/// A byte-bounded cache of decoded blocks shared by all tables.
pub struct BlockCache {
    capacity: usize,
    shards: Box<[Shard]>,
    counters: [Counters; STRIPES],
    /// The frames blocks read for the cache go into (see [`FramePool`]);
    /// none for a cache under [`MIN_FRAMED_CAPACITY`].
    frames: Option<FramePool>,
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
        let shards = (capacity_bytes >> 20).clamp(1, MAX_SHARDS);
        BlockCache {
            capacity: capacity_bytes,
            shards: (0..shards)
                .map(|_| Shard {
                    capacity: capacity_bytes / shards,
                    used: AtomicUsize::new(0),
                    resident: AtomicUsize::new(0),
                    queues: Mutex::default(),
                })
                .collect(),
            counters: Default::default(),
            frames: (capacity_bytes >= MIN_FRAMED_CAPACITY).then(FramePool::new),
        }
    }

    /// The slots of a table with `blocks` data blocks.
    pub fn table(self: &Arc<Self>, blocks: usize) -> Arc<TableBlocks> {
        Arc::new(TableBlocks {
            slots: (0..blocks).map(|_| Slot::default()).collect(),
            cache: Arc::clone(self),
        })
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
        (self.shards.iter())
            .map(|shard| shard.used.load(Ordering::Relaxed))
            .sum()
    }

    /// The configured capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The number of blocks held.
    pub fn len(&self) -> usize {
        (self.shards.iter())
            .map(|shard| shard.resident.load(Ordering::Relaxed))
            .sum()
    }

    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    fn count(&self, block: usize, hit: bool) {
        let counters = &self.counters[block & (STRIPES - 1)];
        let counter = if hit {
            &counters.hits
        } else {
            &counters.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The shard of block `i` of `table`.
    #[inline]
    fn shard(&self, table: &TableBlocks, i: usize) -> &Shard {
        let mixed = ((table as *const TableBlocks as usize) ^ i.wrapping_mul(0x9e37_79b9))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15_u64 as usize);
        &self.shards[(mixed >> 40) % self.shards.len()]
    }
}

impl Shard {
    /// Releases `charge` bytes of one block that left the cache.
    fn release(&self, charge: usize) {
        self.used.fetch_sub(charge, Ordering::Relaxed);
        self.resident.fetch_sub(1, Ordering::Relaxed);
    }

    /// Evicts until the shard is within its budget (or holds nothing
    /// evictable) or `victims` is full, then drops stale entries if they
    /// have piled up. The evicted blocks go to `victims`, to be let go of
    /// after the shard's mutex. Returns whether the shard is still over
    /// its budget with blocks left to evict.
    fn evict(&self, queues: &mut Queues, victims: &mut Victims) -> bool {
        while self.used.load(Ordering::Relaxed) > self.capacity {
            if victims.is_full() {
                return true;
            }
            let from_small = queues.small_bytes > self.capacity / 10 || queues.main.is_empty();
            let entry = if from_small {
                queues.small.pop_front()
            } else {
                queues.main.pop_front()
            };
            let Some(entry) = entry else {
                break; // Only blocks not yet queued are over the budget.
            };
            if from_small {
                queues.small_bytes -= entry.charge as usize;
            }
            let Some(table) = entry.table.upgrade() else {
                continue; // Its table is gone and released its blocks.
            };
            let slot = &table.slots[entry.block as usize];
            let freq = slot.freq.load(Ordering::Relaxed);
            if from_small && freq > 0 {
                slot.freq.store(0, Ordering::Relaxed);
                queues.main.push_back(entry);
            } else if !from_small && freq > 0 {
                slot.freq.store(freq - 1, Ordering::Relaxed);
                queues.main.push_back(entry);
            } else if let Some(block) = slot.block.lock().take() {
                self.release(entry.charge as usize);
                victims.push(block);
            }
        }
        let queued = queues.small.len() + queues.main.len();
        if queued > 2 * self.resident.load(Ordering::Relaxed) + 1024 {
            let live = |entry: &Entry| entry.table.strong_count() > 0;
            queues.small.retain(live);
            queues.main.retain(live);
            queues.small_bytes = queues.small.iter().map(|e| e.charge as usize).sum();
        }
        // The next evictions take entries from the fronts of the two
        // queues: load what the front entries name, and the entries behind
        // them (queued long ago, so as cold as their blocks).
        for queue in [&queues.small, &queues.main] {
            if let Some(front) = queue.front() {
                front.prefetch();
            }
            for behind in [1, 3] {
                if let Some(entry) = queue.get(behind) {
                    prefetch::read((entry as *const Entry).cast());
                }
            }
        }
        false
    }
}

/// The most blocks one pass of [`Shard::evict`] takes out.
const MAX_VICTIMS: usize = 8;

/// Blocks evicted under a shard's mutex and let go of after it: freeing a
/// block can wait for the allocator's lock of the thread that allocated
/// it, and must not do so while other readers wait for the shard.
#[derive(Default)]
struct Victims {
    blocks: [Option<Arc<Block>>; MAX_VICTIMS],
    len: usize,
}

impl Victims {
    fn is_full(&self) -> bool {
        self.len == MAX_VICTIMS
    }

    fn push(&mut self, block: Arc<Block>) {
        self.blocks[self.len] = Some(block);
        self.len += 1;
    }

    /// Lets go of the blocks; those no reader holds any more become this
    /// thread's spare buffers (see [`spare_buffer`]).
    fn release(&mut self) {
        for victim in self.blocks[..self.len].iter_mut() {
            if let Some(block) = victim.take().and_then(|block| Arc::try_unwrap(block).ok()) {
                if let Some(buffer) = block.into_data().into_vec() {
                    keep_spare(buffer);
                }
            }
        }
        self.len = 0;
    }
}

/// The largest buffer kept as a spare (a few default-sized blocks).
const MAX_SPARE_CAPACITY: usize = 16 << 10;
/// The most spare buffers a thread keeps: the blocks of one read ahead of
/// a scan (64 KiB of 4 KiB blocks). At most 256 KiB per thread.
const MAX_SPARES: usize = 16;

thread_local! {
    /// The memory of blocks this thread evicted, for the next blocks it
    /// reads (see [`spare_buffer`]).
    static SPARES: Cell<Vec<Vec<u8>>> = const { Cell::new(Vec::new()) };
}

/// An empty buffer to read a block of `len` bytes into: the memory of a
/// block this thread evicted if it has one, else a new `Vec`.
///
/// A reader that misses the cache inserts one block and, once the cache
/// is full, evicts about one: handing the evicted block's memory to the
/// next read replaces a `malloc` and a `free` per miss, and that `free`
/// was the expensive half: blocks are freed by other threads than the
/// ones that allocated them, which takes the allocating thread's arena
/// lock and, with more threads than cores, made readers sleep.
///
/// The spare used is the smallest that fits `len` bytes without wasting
/// more than `len` (a cached block is charged for its buffer's capacity);
/// if none does, the buffer is new. Blocks differ in size by up to an
/// entry, so a spare that is a few bytes too small for this read serves a
/// later one.
pub fn spare_buffer(len: usize) -> Vec<u8> {
    SPARES.with(|cell| {
        let mut spares = cell.take();
        let best = spares
            .iter()
            .enumerate()
            .filter(|(_, buffer)| (len..=2 * len).contains(&buffer.capacity()))
            .min_by_key(|(_, buffer)| buffer.capacity())
            .map(|(at, _)| at);
        let buffer = best.map(|at| spares.swap_remove(at));
        cell.set(spares);
        buffer.unwrap_or_else(|| Vec::with_capacity(len))
    })
}

/// Keeps `buffer` as one of this thread's spares unless it is large. When
/// the thread has [`MAX_SPARES`], the buffer replaces the smallest of them
/// if it is larger, so spares too small for the reads at hand do not pile
/// up and turn every later eviction into a `free` and every read into a
/// `malloc`.
pub(crate) fn keep_spare(mut buffer: Vec<u8>) {
    if buffer.capacity() > MAX_SPARE_CAPACITY {
        return;
    }
    buffer.clear();
    SPARES.with(|cell| {
        let mut spares = cell.take();
        if spares.len() < MAX_SPARES {
            spares.push(buffer);
        } else if let Some(smallest) = spares.iter_mut().min_by_key(|spare| spare.capacity()) {
            if smallest.capacity() < buffer.capacity() {
                *smallest = buffer;
            }
        }
        cell.set(spares);
    });
}

/// One block's place in the cache.
#[derive(Default)]
struct Slot {
    block: Mutex<Option<Arc<Block>>>,
    /// While a block is held: its hits since it entered its queue or was
    /// last passed over (saturating at [`MAX_FREQ`]). While the slot is
    /// empty: [`SCANNED`] if a scan read the block without caching it,
    /// else 0.
    freq: AtomicU8,
}

/// The mark an empty slot's counter gets when a long scan reads its block
/// without caching it (see the module doc).
const SCANNED: u8 = 1;

/// The cache slots of one table, one per data block.
pub struct TableBlocks {
    slots: Box<[Slot]>,
    cache: Arc<BlockCache>,
}

impl TableBlocks {
    /// Block `i`, if cached. Counts a hit or a miss.
    #[inline]
    pub fn get(&self, i: usize) -> Option<Arc<Block>> {
        let block = self.get_cached(i);
        if block.is_none() && i < self.slots.len() {
            self.cache.count(i, false);
        }
        block
    }

    /// Block `i` if cached, counted as a hit; nothing is counted when it is
    /// not (for a caller that then looks it up the usual way).
    #[inline]
    pub fn get_cached(&self, i: usize) -> Option<Arc<Block>> {
        let slot = self.slots.get(i)?;
        let block = slot.block.lock().clone()?;
        self.cache.count(i, true);
        let freq = slot.freq.load(Ordering::Relaxed);
        if freq < MAX_FREQ {
            slot.freq.store(freq + 1, Ordering::Relaxed);
        }
        Some(block)
    }

    /// Caches `block` as block `i` (unless another reader did first, or it
    /// is larger than the whole cache), evicting others to stay within
    /// the budget.
    pub fn insert(self: &Arc<Self>, i: usize, block: &Arc<Block>) {
        let cache = &self.cache;
        let charge = block.charge();
        let (Some(slot), Ok(queued_charge)) = (self.slots.get(i), u32::try_from(charge)) else {
            return;
        };
        let shard = cache.shard(self, i);
        if charge > shard.capacity {
            return;
        }
        {
            let mut held = slot.block.lock();
            if held.is_some() {
                return; // Another reader cached it first.
            }
            *held = Some(Arc::clone(block));
        }
        slot.freq.store(0, Ordering::Relaxed);
        shard.used.fetch_add(charge, Ordering::Relaxed);
        shard.resident.fetch_add(1, Ordering::Relaxed);
        let mut victims = Victims::default();
        let mut over = {
            let mut queues = shard.queues.lock();
            queues.small.push_back(Entry {
                table: Arc::downgrade(self),
                block: i as u32,
                charge: queued_charge,
                // The counts lie just before the block in its allocation.
                lines: [
                    slot as *const Slot as usize,
                    (Arc::as_ptr(block) as usize).wrapping_sub(16),
                ],
            });
            queues.small_bytes += charge;
            shard.evict(&mut queues, &mut victims)
        };
        victims.release();
        while over {
            over = shard.evict(&mut shard.queues.lock(), &mut victims);
            victims.release();
        }
    }

    /// Offers block `i`, read ahead by a long scan: cached (as by
    /// [`insert`](Self::insert)) if its shard has room for it without
    /// evicting, or if a scan read it before; otherwise only marked as
    /// read by a scan (see the module doc).
    pub fn insert_scanned(self: &Arc<Self>, i: usize, block: &Arc<Block>) {
        let Some(slot) = self.slots.get(i) else {
            return;
        };
        let shard = self.cache.shard(self, i);
        let room = shard.used.load(Ordering::Relaxed) + block.charge() <= shard.capacity;
        if room || slot.freq.load(Ordering::Relaxed) == SCANNED {
            self.insert(i, block);
        } else {
            slot.freq.store(SCANNED, Ordering::Relaxed);
        }
    }

    /// A buffer of `len` bytes (their contents unspecified) to read a
    /// block into: a frame of the cache's pool when the block fits one,
    /// else `None` (see [`spare_buffer`]).
    #[inline]
    pub fn frame(&self, len: usize) -> Option<BlockBuf> {
        self.cache.frames.as_ref()?.take(len)
    }

    /// Bytes the slots themselves take (not the blocks).
    pub fn memory(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>()
    }
}

impl Drop for TableBlocks {
    fn drop(&mut self) {
        for i in 0..self.slots.len() {
            if let Some(block) = self.slots[i].block.get_mut().take() {
                self.cache.shard(self, i).release(block.charge());
            }
        }
    }
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
        let cache = Arc::new(BlockCache::new(1 << 20));
        let (one, two) = (cache.table(4), cache.table(4));
        assert!(one.get(0).is_none());
        one.insert(0, &block(100));
        let hit = one.get(0).unwrap();
        assert_eq!(hit.size(), block(100).size());
        assert!(two.get(0).is_none(), "other table, same block");
        assert!(one.get(1).is_none());
        assert!(one.get(9).is_none(), "no such block");
        assert_eq!((cache.hits(), cache.misses()), (1, 3));
        assert_eq!(cache.len(), 1);
        assert!(cache.used_bytes() >= 100);
    }

    #[test]
    fn stays_within_its_byte_budget() {
        let cache = Arc::new(BlockCache::new(256 << 10));
        let table = cache.table(1000);
        for i in 0..1000 {
            table.insert(i, &block(4000));
        }
        assert!(
            cache.used_bytes() <= 256 << 10,
            "used {}",
            cache.used_bytes()
        );
        assert!(
            cache.len() >= 60,
            "holds about capacity / block size: {}",
            cache.len()
        );
        let held = (0..1000).filter(|&i| table.get(i).is_some()).count();
        assert_eq!(held, cache.len());
    }

    #[test]
    fn a_scan_caches_into_room_and_on_its_second_pass_only() {
        // Goal: blocks of a long scan fill free room, never displace cached
        // blocks on a first pass, and are cached when scanned again.
        let cache = Arc::new(BlockCache::new(64 << 10));
        let table = cache.table(100);
        for i in 0..100 {
            table.insert_scanned(i, &block(4000));
        }
        let first_pass: Vec<usize> = (0..100).filter(|&i| table.get(i).is_some()).collect();
        assert!(!first_pass.is_empty(), "free room was filled");
        assert!(
            first_pass.iter().all(|&i| i < 20),
            "then nothing evicted: {first_pass:?}"
        );
        assert!(cache.used_bytes() <= 64 << 10);
        // A second pass caches each block (a new block is the first to go
        // again unless it is hit, so each is looked up right away).
        for i in 50..60 {
            table.insert_scanned(i, &block(4000));
            assert!(table.get(i).is_some(), "block {i} cached");
        }
        assert!(cache.used_bytes() <= 64 << 10);
        // A block evicted after its hits ran out is a first pass again.
        let gone = (0..20)
            .find(|&i| table.get(i).is_none())
            .expect("some evicted");
        table.insert_scanned(gone, &block(4000));
        assert!(table.get(gone).is_none(), "only marked");
        table.insert_scanned(gone, &block(4000));
        assert!(table.get(gone).is_some(), "cached when scanned again");
    }

    #[test]
    fn evicted_blocks_become_the_next_reads_buffers() {
        let cache = Arc::new(BlockCache::new(64 << 10));
        let table = cache.table(100);
        let held = block(4000);
        table.insert(0, &held);
        for i in 1..100 {
            table.insert(i, &block(4000));
        }
        assert!(table.get(0).is_none(), "block 0 was evicted");
        // The last block evicted no reader held: its memory is the spare.
        let spare = spare_buffer(4000);
        assert!(spare.is_empty());
        assert!(spare.capacity() >= 4000, "recycled: {}", spare.capacity());
        // Spares serve reads they fit, up to MAX_SPARES of them.
        while spare_buffer(4000).capacity() != 4000 {}
        keep_spare(spare);
        assert_eq!(spare_buffer(100_000).capacity(), 100_000, "too small");
        assert_eq!(spare_buffer(10).capacity(), 10, "too large");
        assert!(spare_buffer(3000).capacity() >= 4000, "kept meanwhile");
        for _ in 0..2 * MAX_SPARES {
            keep_spare(Vec::with_capacity(5000));
        }
        let kept = std::iter::from_fn(|| Some(spare_buffer(4000)))
            .take_while(|buffer| buffer.capacity() == 5000)
            .count();
        assert_eq!(kept, MAX_SPARES);
        // The smallest spare that fits is used, whichever was kept last.
        for capacity in [4100, 4300, 4000, 4200] {
            keep_spare(Vec::with_capacity(capacity));
        }
        assert_eq!(spare_buffer(4150).capacity(), 4200);
        assert_eq!(spare_buffer(4050).capacity(), 4100);
        assert_eq!(spare_buffer(4250).capacity(), 4300);
        assert_eq!(spare_buffer(4000).capacity(), 4000);
        // A full set of spares too small for the reads gives way to larger
        // ones as blocks are evicted.
        for _ in 0..MAX_SPARES {
            keep_spare(Vec::with_capacity(4000));
        }
        for _ in 0..MAX_SPARES {
            keep_spare(Vec::with_capacity(4200));
        }
        let larger = std::iter::from_fn(|| Some(spare_buffer(4100)))
            .take_while(|buffer| buffer.capacity() == 4200)
            .count();
        assert_eq!(larger, MAX_SPARES);
        // A block a reader still holds stays intact.
        assert_eq!(held.size(), block(4000).size());
        assert!(held.get(b"key", u64::MAX).unwrap().is_some());
    }

    #[test]
    fn zero_capacity_holds_nothing() {
        let cache = Arc::new(BlockCache::new(0));
        let table = cache.table(1);
        table.insert(0, &block(10));
        assert!(table.get(0).is_none());
        assert_eq!(cache.used_bytes(), 0);
    }

    #[test]
    fn a_dropped_table_releases_its_blocks() {
        let cache = Arc::new(BlockCache::new(1 << 20));
        let kept = cache.table(10);
        let dropped = cache.table(10);
        for i in 0..10 {
            kept.insert(i, &block(1000));
            dropped.insert(i, &block(1000));
        }
        let used = cache.used_bytes();
        drop(dropped);
        assert_eq!(cache.used_bytes() * 2, used);
        assert_eq!(cache.len(), 10);
        // The stale entries are skipped by eviction, and the kept blocks
        // are evicted normally.
        let other = cache.table(2000);
        for i in 0..2000 {
            other.insert(i, &block(1000));
        }
        assert!(cache.used_bytes() <= 1 << 20);
        let held = (0..2000).filter(|&i| other.get(i).is_some()).count()
            + (0..10).filter(|&i| kept.get(i).is_some()).count();
        assert_eq!(held, cache.len());
    }

    #[test]
    fn stale_entries_do_not_pile_up() {
        let cache = Arc::new(BlockCache::new(64 << 20));
        for _ in 0..100 {
            let table = cache.table(100);
            for i in 0..100 {
                table.insert(i, &block(10));
            }
        }
        assert_eq!(cache.len(), 0);
        for shard in cache.shards.iter() {
            let queues = shard.queues.lock();
            assert!(queues.small.len() + queues.main.len() <= 2 * 100 + 1024);
        }
    }

    /// Goal: a scan does not evict the working set. Method: read a small
    /// hot set repeatedly, then insert a scan of blocks each read once,
    /// and check the hot set is still cached.
    #[test]
    fn a_scan_does_not_flush_the_hot_set() {
        let cache = Arc::new(BlockCache::new(512 << 10));
        let (hot, scan) = (cache.table(20), cache.table(2000));
        for i in 0..20 {
            hot.insert(i, &block(4000));
        }
        for _ in 0..3 {
            for i in 0..20 {
                assert!(hot.get(i).is_some());
            }
        }
        for i in 0..2000 {
            scan.insert(i, &block(4000));
        }
        let kept = (0..20).filter(|&i| hot.get(i).is_some()).count();
        assert!(kept >= 18, "only {kept} of 20 hot blocks survived the scan");
    }

    /// Uniform random reads over four times the capacity hit about a
    /// quarter of the time (no policy can do better), and the cache fills.
    #[test]
    fn uniform_reads_use_the_whole_budget() {
        let cache = Arc::new(BlockCache::new(1 << 20));
        let table = cache.table(4096);
        let mut x: u64 = 1;
        for _ in 0..200_000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let i = (x >> 33) as usize % 4096;
            if table.get(i).is_none() {
                table.insert(i, &block(950));
            }
        }
        let rate = cache.hits() as f64 / (cache.hits() + cache.misses()) as f64;
        assert!((0.2..0.3).contains(&rate), "hit rate {rate}");
        assert!(cache.used_bytes() > (1 << 20) * 9 / 10);
    }

    #[test]
    fn concurrent_readers_and_inserters_keep_the_accounting() {
        // 16 shards of 1 MiB; the blocks would take 40 MB.
        let cache = Arc::new(BlockCache::new(16 << 20));
        assert_eq!(cache.shards.len(), MAX_SHARDS);
        let tables: Vec<_> = (0..4).map(|_| cache.table(500)).collect();
        std::thread::scope(|scope| {
            for t in 0..4 {
                let tables = &tables;
                scope.spawn(move || {
                    let mut x = t as u64 + 1;
                    for _ in 0..20_000 {
                        x = x
                            .wrapping_mul(6_364_136_223_846_793_005)
                            .wrapping_add(1_442_695_040_888_963_407);
                        let table = &tables[(x >> 62) as usize];
                        let i = (x >> 33) as usize % 500;
                        if table.get(i).is_none() {
                            table.insert(i, &block(20_000));
                        }
                    }
                });
            }
        });
        assert!(cache.used_bytes() <= 16 << 20);
        assert!(cache.used_bytes() > 12 << 20, "{}", cache.used_bytes());
        let held: usize = (tables.iter())
            .map(|t| (0..500).filter(|&i| t.get(i).is_some()).count())
            .sum();
        assert_eq!(held, cache.len());
        assert_eq!(cache.used_bytes(), held * block(20_000).charge());
    }
}
