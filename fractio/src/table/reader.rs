//! [`Table`]: an open table file, shared between threads as `Arc<Table>`.
//!
//! `open` reads the footer and the index, filter and properties blocks,
//! verifies their checksums and structure, and keeps them in memory
//! ("pinned") for the table's lifetime. Data blocks are read on demand
//! through the shared [`BlockCache`], in which the table has a slot per
//! data block; a block read from disk always has its checksum verified, a
//! cached block is trusted.
//!
//! A point lookup costs: one filter probe (one cache line) with the
//! caller's hash; if that passes, a search of the in-memory index; a load
//! of the block's cache slot (or one read); a binary search of the block's
//! restart points and a short scan. Nothing is allocated except the
//! returned value (inline up to 118 bytes) and, on a cache miss, the block.
//!
//! Two per-thread memos ([`MEMO`]) let lookups of keys in order skip that
//! work. The block the thread's last lookup searched ([`LastBlock`])
//! answers a key that belongs in it, present or absent, and when that
//! lookup found a version, the search resumes at the entry after it. The
//! gap its last fruitless block search found ([`Gap`]: the key looked up
//! and the table's next key, no key of the table between them) answers
//! "absent" for a key inside it, so keys read in order through a table
//! that holds none of them (an L0 table whose range spans theirs) cost no
//! random filter line each.
//!
//! Lookups that read keys in order (a scan done with `get`) miss the
//! table's blocks one after another. When a lookup misses the block right
//! after the last one a lookup missed, it reads the following blocks too,
//! up to [`READAHEAD_BYTES`], in one read (a `preadv` into a spare buffer
//! per block, so no block is copied again), and caches each after verifying
//! it as any block read; a damaged one among the extra blocks is left out,
//! to be reported when a lookup reads it, and a failed read ahead is
//! retried as a read of the one block needed. The only shared state this adds
//! is the number of the last block missed, written on misses alone.
//!
//! Every damaged byte found is an [`Error::Corruption`] naming the table's
//! path and the offset of the block (or footer) that holds it.

use super::block::{common_prefix_len, After, Block};
use super::buf::BlockBuf;
use super::files::OpenFiles;
use super::filter::Filter;
use super::format::{unseal, unseal_block, BlockHandle, DecodeError, Footer, Unsealed, FOOTER_LEN};
use super::index::Index;
use super::iter::{TableIter, READAHEAD_BYTES};
use super::properties::TableProperties;
use crate::cache::{keep_spare, spare_buffer, BlockCache, TableBlocks};
use crate::fs::RandomAccessFile;
use crate::types::{compare_internal, compare_user_keys, key_hash, SeqNo, ValueKind, MAX_SEQNO};
use crate::{Error, Result, Slice};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Weak};

/// An open, immutable table file.
pub struct Table {
    /// The file, while open (see [`OpenFiles`]; without a set of open
    /// files it is never closed).
    file: Mutex<Option<Arc<dyn RandomAccessFile>>>,
    /// Read from the file since the closing hand last passed.
    file_used: AtomicBool,
    files: Option<Arc<OpenFiles>>,
    /// This table, for registering in `files` when the file reopens.
    me: Weak<Table>,
    path: PathBuf,
    id: u64,
    blocks: Arc<TableBlocks>,
    /// The block after the last one read by the last lookup that missed
    /// the cache (`usize::MAX`, no block, before any): a miss of this block
    /// reads ahead.
    next_sequential_miss: AtomicUsize,
    /// Unique among the tables opened by this process (see [`Memo`]).
    instance: u64,
    index: Index,
    filter: Option<Filter>,
    properties: TableProperties,
}

/// The source of [`Table::instance`] numbers.
static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// What this thread's last point lookups learned: the block the last
    /// one searched ([`LastBlock`]) and the gap the last fruitless block
    /// search found ([`Gap`]). One thread-local, so a lookup reads both
    /// with one access and writes both with one more.
    static MEMO: RefCell<Memo> = const {
        RefCell::new(Memo {
            last: LastBlock::EMPTY,
            gap: Gap::EMPTY,
        })
    };
}

struct Memo {
    last: LastBlock,
    gap: Gap,
}

/// Where a lookup in a table starts, by what the thread's [`Memo`] says.
enum Start {
    /// In a learned gap: the table does not hold the key.
    Absent,
    /// At block `i`, the last block searched, which holds the key's
    /// place; from the resume point given, if any.
    Last(usize, Option<(After, usize)>),
    /// With the filter and the index.
    Fresh,
}

/// The longest key a [`Gap`] or a [`LastBlock`] holds.
const GAP_KEY_MAX: usize = 64;

/// The block this thread's last point lookup searched, with the table's
/// instance number and the block's number in it.
///
/// A lookup of a key that belongs in the same block (the next key of an
/// in-order walk, usually) goes straight to it if it is still cached,
/// without probing the filter or searching the index: the block answers
/// for present and absent keys alike, and no absent key ever costs a read
/// this way. Keys in order: `seq-read` 1.16x-1.24x in alternating runs.
///
/// When that lookup found a version, of user key `found`, the next search
/// of the block for a larger key starts at the entry after that version
/// ([`Block::search_after`]) instead of at a restart point: the next key
/// of an in-order walk costs one entry decoded, not a binary search of the
/// restart points and a scan from one (`seq-read` 1.09x-1.11x in two sets
/// of 6 alternating runs).
struct LastBlock {
    instance: u64,
    index: usize,
    /// Where to resume after `found[..found_len]`; `None` when the last
    /// search found nothing or its key was longer than [`GAP_KEY_MAX`].
    after: Option<After>,
    found_len: usize,
    found: [u8; GAP_KEY_MAX],
}

impl LastBlock {
    const EMPTY: LastBlock = LastBlock {
        instance: 0,
        index: 0,
        after: None,
        found_len: 0,
        found: [0; GAP_KEY_MAX],
    };
}

/// A key range a table holds no key of, learned by a point lookup whose
/// block search found nothing: the table (by instance number) holds no
/// user key strictly between `low` (the key looked up) and `high` (a
/// prefix of the next key the table holds, which makes it no larger). A
/// later lookup of a key in the gap is answered "absent" without a filter
/// probe: keys read in order through a table that holds none of them (an
/// L0 table whose key range spans theirs) then cost no random filter line
/// each.
struct Gap {
    instance: u64,
    low_len: usize,
    high_len: usize,
    low: [u8; GAP_KEY_MAX],
    high: [u8; GAP_KEY_MAX],
}

impl Gap {
    const EMPTY: Gap = Gap {
        instance: 0,
        low_len: 0,
        high_len: 0,
        low: [0; GAP_KEY_MAX],
        high: [0; GAP_KEY_MAX],
    };

    /// Records that table `instance` holds no key between `key` (just
    /// searched for and not found) and the next key it holds, `head`
    /// followed by `tail`.
    #[cold]
    fn learn(&mut self, instance: u64, key: &[u8], head: &[u8], tail: &[u8]) {
        if key.len() > GAP_KEY_MAX {
            return;
        }
        self.instance = instance;
        self.low[..key.len()].copy_from_slice(key);
        self.low_len = key.len();
        let from_head = head.len().min(GAP_KEY_MAX);
        let from_tail = tail.len().min(GAP_KEY_MAX - from_head);
        self.high[..from_head].copy_from_slice(&head[..from_head]);
        self.high[from_head..from_head + from_tail].copy_from_slice(&tail[..from_tail]);
        self.high_len = from_head + from_tail;
    }

    /// Whether table `instance` certainly does not hold `key`.
    #[inline]
    fn excludes(&self, instance: u64, key: &[u8]) -> bool {
        instance == self.instance
            && compare_user_keys(&self.low[..self.low_len], key).is_lt()
            && compare_user_keys(key, &self.high[..self.high_len]).is_lt()
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("id", &self.id)
            .field("path", &self.path)
            .field("properties", &self.properties)
            .finish()
    }
}

/// The parts of a table that `open` reads and keeps.
struct Meta {
    index: Index,
    filter: Option<Filter>,
    properties: TableProperties,
}

impl Table {
    /// Opens the table in `file`, reading and verifying its footer, index,
    /// filter and properties; `id` is its file number. Its data blocks are
    /// cached in `cache`. The file stays open as long as the table.
    pub fn open(
        file: Arc<dyn RandomAccessFile>,
        path: PathBuf,
        id: u64,
        cache: Arc<BlockCache>,
    ) -> Result<Arc<Table>> {
        Table::open_in(file, path, id, cache, None)
    }

    /// [`Table::open`], the file counted in `files`, which may close it
    /// while the table is not read (it is opened again when needed).
    pub fn open_in(
        file: Arc<dyn RandomAccessFile>,
        path: PathBuf,
        id: u64,
        cache: Arc<BlockCache>,
        files: Option<&Arc<OpenFiles>>,
    ) -> Result<Arc<Table>> {
        let Meta {
            index,
            filter,
            properties,
        } = read_meta(&*file, &path)?;
        let table = Arc::new_cyclic(|me| Table {
            file: Mutex::new(Some(file)),
            file_used: AtomicBool::new(false),
            files: files.cloned(),
            me: me.clone(),
            path,
            id,
            blocks: cache.table(index.len()),
            next_sequential_miss: AtomicUsize::new(usize::MAX),
            instance: NEXT_INSTANCE.fetch_add(1, AtomicOrdering::Relaxed),
            index,
            filter,
            properties,
        });
        if let Some(files) = files {
            files.track(Arc::downgrade(&table));
        }
        Ok(table)
    }

    /// The newest version of `key` with `seq <= snapshot`, or `None`.
    /// `hash` is [`key_hash`]`(key)`; the filter is probed with it before
    /// the index or any data block is touched.
    pub fn get(
        &self,
        key: &[u8],
        hash: u64,
        snapshot: SeqNo,
    ) -> Result<Option<(SeqNo, ValueKind, Slice)>> {
        self.get_with(key, hash, snapshot, |seq, kind, value| {
            (seq, kind, Slice::copy_from(value))
        })
    }

    /// [`get`](Table::get), handing the version found to `found` while its
    /// value still lies in the block: a caller that needs less than an
    /// owned copy of the value (`contains_key`) makes none.
    #[inline]
    pub fn get_with<T>(
        &self,
        key: &[u8],
        hash: u64,
        snapshot: SeqNo,
        found: impl FnOnce(SeqNo, ValueKind, &[u8]) -> T,
    ) -> Result<Option<T>> {
        // The block the last lookup on this thread searched, when it holds
        // `key`'s place and is still cached: no filter, no index search.
        let reused = match self.start(key) {
            Start::Absent => return Ok(None),
            Start::Last(i, resume) => self.blocks.get_cached(i).map(|block| (i, block, resume)),
            Start::Fresh => None,
        };
        let (i, block, resume) = match reused {
            Some(last) => last,
            None => {
                if !self.may_contain(hash) {
                    return Ok(None);
                }
                let i = self.index.find(key, snapshot);
                if i >= self.index.len() {
                    return Ok(None); // After the last key.
                }
                // The block's handle is read only on a miss: on a hit, its
                // index entry (a cold line) is not needed.
                let block = match self.blocks.get(i) {
                    Some(block) => block,
                    None => match self.index.handle(i) {
                        Some(handle) => self.read_for_get(i, handle)?,
                        None => return Ok(None),
                    },
                };
                (i, block, None)
            }
        };
        let search = match resume {
            Some((after, matched)) => block.search_after(key, snapshot, after, matched),
            None => block.search(key, snapshot),
        };
        match search {
            Ok(search) => {
                self.remember(i, key, search.after, search.next);
                Ok(search
                    .found
                    .map(|(seq, kind, value)| found(seq, kind, value)))
            }
            Err(err) => {
                let offset = self.index.handle(i).map_or(0, |handle| handle.offset);
                Err(self.corruption(offset, err))
            }
        }
    }

    /// Where a lookup of `key` starts, by this thread's memo: absent when
    /// `key` lies in the gap the last fruitless search in this table
    /// learned; at the block the last lookup searched if it was in this
    /// table and the index certainly finds it for `key` (see
    /// [`Index::certainly_finds`]), with where a search for `key` may
    /// resume in it and the prefix `key` shares with the key found there
    /// (see [`Block::search_after`]) when that key is smaller.
    #[inline]
    fn start(&self, key: &[u8]) -> Start {
        MEMO.with_borrow(|memo| {
            if memo.gap.excludes(self.instance, key) {
                return Start::Absent;
            }
            let last = &memo.last;
            if last.instance != self.instance || !self.index.certainly_finds(last.index, key) {
                return Start::Fresh;
            }
            let found = &last.found[..last.found_len];
            let resume = last
                .after
                .filter(|_| compare_user_keys(found, key).is_lt())
                .map(|after| (after, common_prefix_len(found, key)));
            Start::Last(last.index, resume)
        })
    }

    /// Records what a search of block `i` for `key` ended with: the block,
    /// where a search for a larger key may resume when it found a version
    /// (see [`LastBlock`]), and the gap when it found none but a larger
    /// key, `next` (its first bytes shared with `key`, and the rest; see
    /// [`Gap`]).
    #[inline]
    fn remember(&self, i: usize, key: &[u8], after: Option<After>, next: Option<(usize, &[u8])>) {
        MEMO.with_borrow_mut(|memo| {
            let last = &mut memo.last;
            last.instance = self.instance;
            last.index = i;
            match after {
                Some(after) if key.len() <= GAP_KEY_MAX => {
                    last.found[..key.len()].copy_from_slice(key);
                    last.found_len = key.len();
                    last.after = Some(after);
                }
                _ => last.after = None,
            }
            if let (None, Some((shared, tail))) = (after, next) {
                memo.gap.learn(self.instance, key, &key[..shared], tail);
            }
        });
    }

    /// Whether a key with this hash may be in the table (always `true`
    /// without a filter).
    #[inline]
    pub fn may_contain(&self, hash: u64) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|filter| filter.may_contain(hash))
    }

    /// The table's properties; `file_size` is the file's size.
    pub fn properties(&self) -> &TableProperties {
        &self.properties
    }

    /// The table's id (its file number).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The table's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of index and filter held in memory.
    pub fn pinned_bytes(&self) -> usize {
        self.index.memory() + self.filter.as_ref().map_or(0, Filter::size) + self.blocks.memory()
    }

    /// A cursor over every entry, in internal order. It reads blocks
    /// through the cache and fills it.
    pub fn iter(self: &Arc<Self>) -> TableIter {
        TableIter::new(Arc::clone(self), true)
    }

    /// A cursor that reads blocks missing from the cache without caching
    /// them (for compaction inputs and other one-off full scans).
    pub fn iter_without_cache_fill(self: &Arc<Self>) -> TableIter {
        TableIter::new(Arc::clone(self), false)
    }

    /// Rereads every block from disk, bypassing the cache, and checks every
    /// checksum, the order of all entries, that each index key is its
    /// block's last key, that the filter knows every key, and that the
    /// properties match the entries.
    pub fn verify(&self) -> Result<()> {
        let meta = read_meta(&*self.file()?, &self.path)?;
        let mut seen = TableProperties {
            smallest_seq: SeqNo::MAX,
            ..TableProperties::default()
        };
        let mut last: Option<(Vec<u8>, SeqNo)> = None;
        let mut block_end = 0;
        for i in 0..meta.index.len() {
            let (Some(handle), Some((index_key, index_seq))) =
                (meta.index.handle(i), meta.index.last_key(i))
            else {
                break;
            };
            self.verify_padding(block_end, handle.offset)?;
            block_end = handle.end();
            let block = Arc::new(
                self.read_block(handle)
                    .and_then(|payload| self.decode_block(handle, payload))?,
            );
            let fail = |reason: &str| Error::corruption(&self.path, handle.offset, reason);
            let mut iter = block.iter();
            iter.seek_to_first()
                .map_err(|err| self.corruption(handle.offset, err))?;
            if !iter.valid() {
                return Err(fail("empty data block"));
            }
            while iter.valid() {
                let (key, seq) = (iter.key(), iter.seq());
                let new_key = match &last {
                    None => true,
                    Some((last_key, last_seq)) => {
                        if compare_internal(last_key, *last_seq, key, seq) != Ordering::Less {
                            return Err(fail("entries out of order"));
                        }
                        last_key.as_slice() != key
                    }
                };
                if new_key
                    && !meta
                        .filter
                        .as_ref()
                        .is_none_or(|filter| filter.may_contain(key_hash(key)))
                {
                    return Err(fail("bloom filter does not know a key of the table"));
                }
                if seen.entries == 0 {
                    seen.smallest_key = key.to_vec();
                }
                seen.entries += 1;
                seen.tombstones += (iter.kind() == ValueKind::Tombstone) as u64;
                seen.smallest_seq = seen.smallest_seq.min(seq);
                seen.largest_seq = seen.largest_seq.max(seq);
                let slot = last.get_or_insert_with(Default::default);
                slot.0.clear();
                slot.0.extend_from_slice(key);
                slot.1 = seq;
                iter.next()
                    .map_err(|err| self.corruption(handle.offset, err))?;
            }
            if last
                .as_ref()
                .is_none_or(|(key, seq)| (key.as_slice(), *seq) != (index_key, index_seq))
            {
                return Err(fail("index key is not the last key of its block"));
            }
            seen.data_blocks += 1;
        }
        if seen.entries == 0 {
            seen.smallest_seq = 0;
        }
        seen.largest_key = last.map(|(key, _)| key).unwrap_or_default();
        seen.file_size = meta.properties.file_size;
        if let Some(field) = first_difference(&meta.properties, &seen) {
            return Err(Error::corruption(
                &self.path,
                self.properties.file_size.saturating_sub(FOOTER_LEN as u64),
                format!("table properties do not match the entries: {field} differs"),
            ));
        }
        Ok(())
    }

    /// Checks that the bytes `from..to` between two data blocks (padding
    /// that aligns the second, see `builder.rs`) are all zero.
    fn verify_padding(&self, from: u64, to: u64) -> Result<()> {
        if from >= to {
            return Ok(());
        }
        let mut gap = vec![0; (to - from) as usize];
        (self.file()?)
            .read_exact_at(&mut gap, from)
            .map_err(|err| read_error(err, &self.path, from))?;
        match gap.iter().position(|&byte| byte != 0) {
            None => Ok(()),
            Some(at) => Err(Error::corruption(
                &self.path,
                from + at as u64,
                "non-zero padding between data blocks",
            )),
        }
    }

    /// The in-memory index.
    pub(crate) fn index(&self) -> &Index {
        &self.index
    }

    /// Reads data block `i` (at `handle`) from disk, and caches it if
    /// `fill_cache`. For a caller that found it missing from the cache
    /// (which counted the miss).
    pub(crate) fn read_and_cache(
        &self,
        i: usize,
        handle: BlockHandle,
        fill_cache: bool,
    ) -> Result<Arc<Block>> {
        let block = Arc::new(
            self.read_block(handle)
                .and_then(|payload| self.decode_block(handle, payload))?,
        );
        if fill_cache {
            self.blocks.insert(i, &block);
        }
        Ok(block)
    }

    /// Data block `i` (at `handle`), missing from the cache, read for a
    /// point lookup and cached; with the blocks after it when the last
    /// lookup to miss read the block before it (see the module doc).
    fn read_for_get(&self, i: usize, handle: BlockHandle) -> Result<Arc<Block>> {
        let sequential = self.next_sequential_miss.load(AtomicOrdering::Relaxed) == i;
        if !sequential {
            self.next_sequential_miss
                .store(i + 1, AtomicOrdering::Relaxed);
            return self.read_and_cache(i, handle, true);
        }
        let (mut sealed, mut lens) = (Vec::new(), Vec::new());
        let read = self.read_ahead(i, &mut sealed, &mut lens);
        self.next_sequential_miss
            .store(i + lens.len(), AtomicOrdering::Relaxed);
        if read.is_err() {
            // The blocks ahead are optional: block `i` alone decides.
            return self.read_and_cache(i, handle, true);
        }
        let mut sealed = sealed.into_iter();
        let Some(first) = sealed.next().filter(|bytes| !bytes.is_empty()) else {
            return self.read_and_cache(i, handle, true);
        };
        for (j, bytes) in (i + 1..).zip(sealed) {
            if let Some(h) = self.index.handle(j) {
                // A damaged block is reported when a lookup reads it alone.
                let _ = self.block_from_buffer(j, h, bytes, true);
            }
        }
        self.block_from_buffer(i, handle, first, true)
    }

    /// Data block `i`, if the cache holds it (counted as a hit or a miss).
    pub(crate) fn cached_block(&self, i: usize) -> Option<Arc<Block>> {
        self.blocks.get(i)
    }

    /// Reads the sealed blocks `i..`, as many as fit in [`READAHEAD_BYTES`]
    /// (at least block `i`, none if there is no block `i`), with one read
    /// into a spare buffer each (see
    /// [`RandomAccessFile::read_exact_at_scattered`]): `bufs` (empty) gets
    /// block `i + k` as buffer `k`, `lens` (replaced) their sizes. After an
    /// error the buffers are empty.
    pub(crate) fn read_ahead(
        &self,
        i: usize,
        bufs: &mut Vec<Vec<u8>>,
        lens: &mut Vec<usize>,
    ) -> Result<()> {
        self.read_ahead_upto(i, usize::MAX, bufs, lens)
    }

    /// The last block that may hold a key at most `key` (below `key`
    /// unless `inclusive`); [`Index::len`] when that is every block.
    pub fn last_block_for_bound(&self, key: &[u8], inclusive: bool) -> usize {
        // `(key, 0)` is the last version of `key` in internal order,
        // `(key, MAX_SEQNO)` the first: the block found holds it, or would.
        let seq = if inclusive { 0 } else { MAX_SEQNO };
        self.index.find(key, seq)
    }

    /// [`read_ahead`](Table::read_ahead), reading no block after `limit`
    /// (but block `i` in any case).
    pub(crate) fn read_ahead_upto(
        &self,
        i: usize,
        limit: usize,
        bufs: &mut Vec<Vec<u8>>,
        lens: &mut Vec<usize>,
    ) -> Result<()> {
        debug_assert!(bufs.is_empty());
        lens.clear();
        let Some(first) = self.index.handle(i) else {
            return Ok(());
        };
        let (last, _) = self.index.run_within(i, READAHEAD_BYTES);
        let last = last.min(limit).max(i);
        // Each buffer takes its block and the padding after it (blocks may
        // be aligned, see `builder.rs`), so one read covers the run; the
        // padding is cut off after.
        let handles = (i..=last).filter_map(|j| self.index.handle(j));
        let next_offsets = handles.clone().skip(1).map(|h| h.offset);
        lens.extend(
            handles
                .clone()
                .zip(next_offsets.map(Some).chain([None]))
                .map(|(h, next)| next.map_or(h.size as usize, |next| (next - h.offset) as usize)),
        );
        bufs.extend(lens.iter().map(|&len| spare_buffer(len)));
        self.file()?
            .read_exact_at_scattered(bufs, lens, first.offset)
            .map_err(|err| read_error(err, &self.path, first.offset))?;
        lens.clear();
        for (buf, h) in bufs.iter_mut().zip(handles) {
            buf.truncate(h.size as usize);
            lens.push(h.size as usize);
        }
        Ok(())
    }

    /// Data block `i` (at `handle`) from its sealed bytes, read ahead into
    /// their own buffer: verified and decoded as any block read (the
    /// buffer becomes the block's when it is not compressed), and cached
    /// if `fill_cache`.
    pub(crate) fn block_from_buffer(
        &self,
        i: usize,
        handle: BlockHandle,
        sealed: Vec<u8>,
        fill_cache: bool,
    ) -> Result<Arc<Block>> {
        let payload = unseal_block(sealed)
            .map_err(|err| Error::corruption(&self.path, handle.offset, err.0))?;
        let payload = match fill_cache {
            true => self.framed(payload),
            false => payload.into(),
        };
        let block = Arc::new(self.decode_block(handle, payload)?);
        if fill_cache {
            self.blocks.insert(i, &block);
        }
        Ok(block)
    }

    /// Offers block `i`, read ahead by a long scan, to the block cache
    /// (see [`TableBlocks::insert_scanned`](crate::cache::TableBlocks::insert_scanned)).
    pub(crate) fn cache_scanned(&self, i: usize, block: &Arc<Block>) {
        self.blocks.insert_scanned(i, block);
    }

    /// Reads, verifies and decompresses the block at `handle`: into a
    /// frame of the block cache when it fits one (see `buf.rs`), else into
    /// the memory of a block this thread evicted if it has one.
    fn read_block(&self, handle: BlockHandle) -> Result<BlockBuf> {
        let file = self.file()?;
        let Some(mut frame) = self.blocks.frame(handle.size as usize) else {
            return read_block_into(
                spare_buffer(handle.size as usize),
                &*file,
                &self.path,
                handle,
            )
            .map(BlockBuf::from);
        };
        read_at(&*file, &self.path, &mut frame, handle.offset)?;
        match unseal(&frame).map_err(|err| self.corruption(handle.offset, err))? {
            Unsealed::Raw(len) => {
                frame.truncate(len);
                Ok(frame)
            }
            Unsealed::Decompressed(payload) => Ok(payload.into()),
        }
    }

    /// `payload` moved into a frame of the block cache if it fits one, its
    /// buffer kept as a spare. Blocks read ahead land in buffers of their
    /// own; cached as they are, they would fill the cache with heap
    /// memory while the frames of the blocks they evict sit unused in the
    /// pool, and the process would hold the cache's budget twice (the
    /// suite's peak RSS was 16-24 MiB higher). The copy is of a block
    /// just read, a fraction of a microsecond once per 4 KiB.
    fn framed(&self, payload: Vec<u8>) -> BlockBuf {
        match self.blocks.frame(payload.len()) {
            Some(mut frame) => {
                frame.copy_from_slice(&payload);
                keep_spare(payload);
                frame
            }
            None => payload.into(),
        }
    }

    /// The open file, opening it again if it was closed.
    fn file(&self) -> Result<Arc<dyn RandomAccessFile>> {
        if !self.file_used.load(AtomicOrdering::Relaxed) {
            self.file_used.store(true, AtomicOrdering::Relaxed);
        }
        let mut file = self.file.lock();
        if let Some(file) = &*file {
            return Ok(Arc::clone(file));
        }
        let Some(files) = &self.files else {
            return Err(Error::corruption(&self.path, 0, "table file closed"));
        };
        let opened = files.open(&self.path)?;
        *file = Some(Arc::clone(&opened));
        drop(file);
        files.track(self.me.clone());
        Ok(opened)
    }

    /// Whether the file was read since the last call (which clears it).
    pub(crate) fn file_recently_used(&self) -> bool {
        self.file_used.swap(false, AtomicOrdering::Relaxed)
    }

    /// Closes the file; whether it was open.
    pub(crate) fn close_file(&self) -> bool {
        self.file.lock().take().is_some()
    }

    fn decode_block(&self, handle: BlockHandle, payload: impl Into<BlockBuf>) -> Result<Block> {
        Block::decode(payload).map_err(|err| self.corruption(handle.offset, err))
    }

    /// A corruption of this table at `offset`.
    pub(crate) fn corruption(&self, offset: u64, err: DecodeError) -> Error {
        Error::corruption(&self.path, offset, err.0)
    }
}

/// Reads and checks footer, properties, index and filter.
fn read_meta(file: &dyn RandomAccessFile, path: &Path) -> Result<Meta> {
    let size = file.size();
    let Some(footer_at) = size.checked_sub(FOOTER_LEN as u64) else {
        return Err(Error::corruption(
            path,
            0,
            "file too short for a table footer",
        ));
    };
    let mut footer = [0u8; FOOTER_LEN];
    read_at(file, path, &mut footer, footer_at)?;
    let footer =
        Footer::decode(&footer).map_err(|err| Error::corruption(path, footer_at, err.0))?;
    let bad_footer = |reason: &str| Error::corruption(path, footer_at, reason);
    let has_filter = footer.filter.size != 0;
    let mut meta_start = footer.index.offset.min(footer.properties.offset);
    for handle in [footer.index, footer.properties] {
        if handle.size < 5 || handle.end() > footer_at {
            return Err(bad_footer("block handle outside the file"));
        }
    }
    if has_filter {
        if footer.filter.size < 5 || footer.filter.end() > footer_at {
            return Err(bad_footer("filter handle outside the file"));
        }
        meta_start = meta_start.min(footer.filter.offset);
    }

    let decode_err =
        |handle: BlockHandle| move |err: DecodeError| Error::corruption(path, handle.offset, err.0);
    let payload = read_block(file, path, footer.properties)?;
    let mut properties =
        TableProperties::decode(&payload).map_err(decode_err(footer.properties))?;
    properties.file_size = size;

    let block =
        Block::decode(read_block(file, path, footer.index)?).map_err(decode_err(footer.index))?;
    let index = Index::decode(Arc::new(block)).map_err(decode_err(footer.index))?;
    if index.data_end() > meta_start {
        return Err(Error::corruption(
            path,
            footer.index.offset,
            "data block handle outside the data",
        ));
    }
    let last_key = index.len().checked_sub(1).and_then(|i| index.last_key(i));
    if index.len() as u64 != properties.data_blocks
        || last_key.is_some_and(|(key, _)| key != properties.largest_key.as_slice())
    {
        return Err(Error::corruption(
            path,
            footer.properties.offset,
            "properties do not match the index (block count or largest key)",
        ));
    }
    let filter = if has_filter {
        let payload = read_block(file, path, footer.filter)?;
        Some(Filter::decode(payload).map_err(decode_err(footer.filter))?)
    } else {
        None
    };
    Ok(Meta {
        index,
        filter,
        properties,
    })
}

/// The name of the first field where `a` and `b` differ.
fn first_difference(a: &TableProperties, b: &TableProperties) -> Option<&'static str> {
    [
        ("smallest_key", a.smallest_key == b.smallest_key),
        ("largest_key", a.largest_key == b.largest_key),
        ("smallest_seq", a.smallest_seq == b.smallest_seq),
        ("largest_seq", a.largest_seq == b.largest_seq),
        ("entries", a.entries == b.entries),
        ("tombstones", a.tombstones == b.tombstones),
        ("file_size", a.file_size == b.file_size),
        ("data_blocks", a.data_blocks == b.data_blocks),
    ]
    .into_iter()
    .find(|(_, same)| !same)
    .map(|(field, _)| field)
}

/// Reads the sealed block at `handle` and returns its verified,
/// decompressed payload.
fn read_block(file: &dyn RandomAccessFile, path: &Path, handle: BlockHandle) -> Result<Vec<u8>> {
    read_block_into(Vec::new(), file, path, handle)
}

/// [`read_block`] into `sealed`, an empty buffer whose memory is reused.
fn read_block_into(
    mut sealed: Vec<u8>,
    file: &dyn RandomAccessFile,
    path: &Path,
    handle: BlockHandle,
) -> Result<Vec<u8>> {
    debug_assert!(sealed.is_empty());
    file.read_exact_at_into(&mut sealed, handle.size as usize, handle.offset)
        .map_err(|err| read_error(err, path, handle.offset))?;
    unseal_block(sealed).map_err(|err| Error::corruption(path, handle.offset, err.0))
}

/// `read_exact_at`, with a read past the end of the file reported as a
/// corruption (a handle pointing outside a truncated file).
fn read_at(file: &dyn RandomAccessFile, path: &Path, buf: &mut [u8], offset: u64) -> Result<()> {
    file.read_exact_at(buf, offset)
        .map_err(|err| read_error(err, path, offset))
}

/// A failed read at `offset`: a read past the end of the file is a
/// corruption (a handle pointing outside a truncated file).
fn read_error(err: io::Error, path: &Path, offset: u64) -> Error {
    if err.kind() == io::ErrorKind::UnexpectedEof {
        Error::corruption(path, offset, "block extends past the end of the file")
    } else {
        err.into()
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        if let (Some(files), Some(_)) = (&self.files, self.file.get_mut().take()) {
            files.untrack();
        }
    }
}
