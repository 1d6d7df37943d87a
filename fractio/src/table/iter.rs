//! [`TableIter`]: the [`InternalIterator`] over one table: a cursor over the
//! in-memory index (a block number) and a [`BlockIter`] over that block.
//!
//! Blocks come through the block cache (optionally without filling it).
//! Once the cursor has moved forward into two consecutive blocks that were
//! not cached, it reads ahead: the following blocks, up to
//! [`READAHEAD_BYTES`], in one read straight into a spare buffer per block
//! (`preadv`: no block is copied out of a shared window), each then
//! verified and decoded as it is reached — a long scan costs one system
//! call per window instead of one per block. Blocks read ahead are offered
//! to the cache as a scan's (`insert_scanned`: cached into free room or on
//! a second pass, so a one-pass scan does not churn a full cache). `next` decodes one entry
//! incrementally into a key buffer reused for the whole scan, and moves to
//! the next block only when one ends. The cursor
//! holds `Arc`s of its table and current block, so it is `'static` and
//! `Send`; one thread drives it. After an error it is invalid.

use super::block::{Block, BlockIter};
use super::format::{BlockHandle, DecodeError};
use super::reader::Table;
use crate::cache::keep_spare;
use crate::iter::{next_key_by_copy, InternalIterator};
use crate::types::{SeqNo, ValueKind};
use crate::{Error, Result, Slice};
use std::sync::{Arc, LazyLock};

/// The block a cursor holds when it is at no block.
static EMPTY_BLOCK: LazyLock<Arc<Block>> = LazyLock::new(|| {
    Arc::new(Block::decode(vec![0; 4]).unwrap_or_else(|_| unreachable!("an empty block decodes")))
});

/// Bytes a sequential scan reads ahead at once.
pub const READAHEAD_BYTES: u64 = 64 << 10;

/// A cursor over every version in a table, in internal order.
pub struct TableIter {
    table: Arc<Table>,
    /// The number of the block under `iter`; `index.len()` for none.
    block: usize,
    iter: BlockIter,
    fill_cache: bool,
    /// Consecutive forward moves into a block that was not cached.
    sequential_misses: u32,
    /// The sealed bytes of blocks `ahead_first..` read ahead, each in its
    /// own buffer; empty once taken (or after a failed read).
    ahead: Vec<Vec<u8>>,
    ahead_first: usize,
    /// The sizes of the blocks being read ahead (reused).
    ahead_lens: Vec<usize>,
    /// The last block the cursor's reader wants (see
    /// [`set_read_limit`](TableIter::set_read_limit)): no read ahead goes
    /// past it.
    read_limit: ReadLimit,
}

/// How far a cursor reads ahead at most.
enum ReadLimit {
    /// Up to this block.
    Block(usize),
    /// Up to the block of this upper bound (inclusive or not), found by an
    /// index search when the cursor first reads ahead: most bounded scans
    /// end before that, in the first block or two.
    Bound(Slice, bool),
}

impl TableIter {
    pub(crate) fn new(table: Arc<Table>, fill_cache: bool) -> TableIter {
        let none = table.index().len();
        TableIter {
            table,
            block: none,
            iter: BlockIter::new(Arc::clone(&EMPTY_BLOCK)),
            fill_cache,
            sequential_misses: 0,
            ahead: Vec::new(),
            ahead_first: 0,
            ahead_lens: Vec::new(),
            read_limit: ReadLimit::Block(usize::MAX),
        }
    }

    /// Tells the cursor that its reader wants no block after `block` (for
    /// a bounded scan, [`Table::last_block_for_bound`] of its bound):
    /// reading ahead stops there, instead of reading up to
    /// [`READAHEAD_BYTES`] of blocks the scan never reaches (a scan of a
    /// few blocks read 64 KiB). The cursor still reads any block it is
    /// moved to.
    pub fn set_read_limit(&mut self, block: usize) {
        self.read_limit = ReadLimit::Block(block);
    }

    /// [`set_read_limit`](TableIter::set_read_limit) to
    /// [`Table::last_block_for_bound`] of `key`, searched for only when the
    /// cursor first reads ahead.
    pub fn set_upper_bound(&mut self, key: Slice, inclusive: bool) {
        self.read_limit = ReadLimit::Bound(key, inclusive);
    }

    /// Moves to the next entry if it lies in the current block, telling
    /// whether it is an older version of the key the cursor was at;
    /// `Ok(None)`, without a move, at the block's last entry. The cursor
    /// stays valid either way (see [`InternalIterator::table_cursor`]).
    /// REQUIRES: `valid()`.
    #[inline]
    pub fn next_in_block(&mut self) -> Result<Option<bool>> {
        if self.iter.at_last() {
            return Ok(None);
        }
        match self.iter.next_same_key() {
            Ok(same) => Ok(Some(same)),
            Err(err) => Err(self.fail(err)),
        }
    }

    /// The table under the cursor.
    pub fn table(&self) -> &Arc<Table> {
        &self.table
    }

    /// Puts block `i` under the cursor (unpositioned), unless it already is.
    fn load(&mut self, i: usize) -> Result<()> {
        if i == self.block {
            return Ok(());
        }
        let Some(handle) = self.table.index().handle(i) else {
            self.clear();
            return Ok(());
        };
        let forward = i == self.block.wrapping_add(1);
        match self.fetch(i, handle, forward) {
            Ok(block) => {
                self.iter.reset(block);
                self.block = i;
                Ok(())
            }
            Err(err) => {
                self.clear();
                Err(err)
            }
        }
    }

    /// Block `i` (at `handle`): from the cache, from the read-ahead window,
    /// or read from disk. The cache is looked up once. `forward`: the
    /// cursor moves to the next block.
    fn fetch(&mut self, i: usize, handle: BlockHandle, forward: bool) -> Result<Arc<Block>> {
        if let Some(block) = self.table.cached_block(i) {
            return Ok(block);
        }
        self.sequential_misses = if forward {
            self.sequential_misses + 1
        } else {
            0
        };
        if self.sequential_misses < 2 {
            return self.table.read_and_cache(i, handle, self.fill_cache);
        }
        let read = i
            .checked_sub(self.ahead_first)
            .and_then(|k| self.ahead.get(k))
            .is_some_and(|bytes| !bytes.is_empty());
        if !read {
            self.read_ahead(i)?;
        }
        let Some(sealed) = (self.ahead.get_mut(i - self.ahead_first)).map(std::mem::take) else {
            return self.table.read_and_cache(i, handle, self.fill_cache);
        };
        let block = self.table.block_from_buffer(i, handle, sealed, false)?;
        if self.fill_cache {
            self.table.cache_scanned(i, &block);
        }
        Ok(block)
    }

    /// Reads blocks `i..` ahead (see [`Table::read_ahead`]). The buffers of
    /// blocks read ahead before and never reached become spares again.
    fn read_ahead(&mut self, i: usize) -> Result<()> {
        for unused in self.ahead.drain(..) {
            if unused.capacity() > 0 {
                keep_spare(unused);
            }
        }
        self.ahead_first = i;
        let limit = match &self.read_limit {
            ReadLimit::Block(block) => *block,
            ReadLimit::Bound(key, inclusive) => {
                let block = self.table.last_block_for_bound(key, *inclusive);
                self.read_limit = ReadLimit::Block(block);
                block
            }
        };
        self.table
            .read_ahead_upto(i, limit, &mut self.ahead, &mut self.ahead_lens)
    }

    /// Leaves the cursor at no block (invalid).
    fn clear(&mut self) {
        self.iter.reset(Arc::clone(&EMPTY_BLOCK));
        self.block = self.table.index().len();
    }

    /// Runs a block cursor operation, turning its error into a corruption
    /// of the current block (and an invalid cursor).
    #[inline]
    fn step(&mut self, op: impl FnOnce(&mut BlockIter) -> Result<(), DecodeError>) -> Result<()> {
        match op(&mut self.iter) {
            Ok(()) => Ok(()),
            Err(err) => Err(self.fail(err)),
        }
    }

    /// Invalidates the cursor after a decode error in the current block.
    #[cold]
    fn fail(&mut self, err: DecodeError) -> Error {
        let offset = self
            .table
            .index()
            .handle(self.block)
            .map_or(0, |h: BlockHandle| h.offset);
        self.clear();
        self.table.corruption(offset, err)
    }

    /// While the block cursor is past its block's end, moves to the start
    /// of the next block.
    fn skip_forward(&mut self) -> Result<()> {
        while !self.iter.valid() {
            let next = self.block + 1;
            if next >= self.table.index().len() {
                self.clear();
                return Ok(());
            }
            self.load(next)?;
            self.step(BlockIter::seek_to_first)?;
        }
        Ok(())
    }

    /// While the block cursor is before its block's start, moves to the end
    /// of the previous block.
    fn skip_backward(&mut self) -> Result<()> {
        while !self.iter.valid() {
            if self.block == 0 || self.block >= self.table.index().len() {
                self.clear();
                return Ok(());
            }
            self.load(self.block - 1)?;
            self.step(BlockIter::seek_to_last)?;
        }
        Ok(())
    }
}

impl InternalIterator for TableIter {
    #[inline]
    fn valid(&self) -> bool {
        self.iter.valid()
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.load(0)?;
        self.step(BlockIter::seek_to_first)?;
        self.skip_forward()
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.load(self.table.index().len().saturating_sub(1))?;
        self.step(BlockIter::seek_to_last)?;
        self.skip_backward()
    }

    fn seek(&mut self, key: &[u8], seq: SeqNo) -> Result<()> {
        let i = self.table.index().find(key, seq);
        self.load(i)?;
        self.step(|iter| iter.seek(key, seq))?;
        self.skip_forward()
    }

    fn seek_for_prev(&mut self, key: &[u8], seq: SeqNo) -> Result<()> {
        let i = self.table.index().find(key, seq);
        if i >= self.table.index().len() {
            return self.seek_to_last();
        }
        self.load(i)?;
        self.step(|iter| iter.seek_for_prev(key, seq))?;
        self.skip_backward()
    }

    #[inline]
    fn next(&mut self) -> Result<()> {
        debug_assert!(self.valid(), "next() on an invalid table cursor");
        match self.iter.next() {
            Ok(()) if self.iter.valid() => Ok(()),
            Ok(()) => self.skip_forward(),
            Err(err) => Err(self.fail(err)),
        }
    }

    fn prev(&mut self) -> Result<()> {
        debug_assert!(self.valid(), "prev() on an invalid table cursor");
        self.step(BlockIter::prev)?;
        self.skip_backward()
    }

    #[inline]
    fn key(&self) -> &[u8] {
        self.iter.key()
    }

    #[inline]
    fn seq(&self) -> SeqNo {
        self.iter.seq()
    }

    #[inline]
    fn kind(&self) -> ValueKind {
        self.iter.kind()
    }

    #[inline]
    fn value(&self) -> &[u8] {
        self.iter.value()
    }

    #[inline]
    fn table_cursor(&mut self) -> Option<&mut TableIter> {
        Some(self)
    }

    /// Inside a block the block cursor tells an older version of the same
    /// key without a copy; from a block's last entry the versions may go on
    /// in the next block, so the key is copied into `scratch` and compared
    /// (the default way). So a cursor that runs out of its table inside
    /// the versions of its last key leaves that key in `scratch`, which
    /// [`LevelIter`](crate::iter::level::LevelIter) relies on.
    #[inline]
    fn next_key(&mut self, scratch: &mut Vec<u8>) -> Result<()> {
        debug_assert!(self.valid(), "next_key() on an invalid table cursor");
        loop {
            match self.next_in_block()? {
                Some(true) => {}
                Some(false) => return Ok(()),
                None => return next_key_by_copy(self, scratch),
            }
        }
    }
}
