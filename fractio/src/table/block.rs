//! Blocks: the sorted runs of entries that data and index blocks are made
//! of. [`BlockBuilder`] encodes them, [`Block`] is a decoded (checksum
//! verified, decompressed) block as the cache holds it, [`Block::get`] is
//! the allocation-free point lookup and [`BlockIter`] the cursor.
//!
//! Block payload layout (before sealing, see `format.rs`):
//!
//! ```text
//! +---------+---------+-----+-----------------------------+----------------+
//! | entry 0 | entry 1 | ... | restart offsets: u32 LE * n | n: u32 LE      |
//! +---------+---------+-----+-----------------------------+----------------+
//!
//! entry:
//! +---------------+-----------------+-----------------+-----------+--------------+-------+
//! | shared: var32 | unshared: var32 | value_len: var32| key delta | trailer: u64 | value |
//! +---------------+-----------------+-----------------+-----------+--------------+-------+
//!   key     = previous entry's key[..shared] ++ key delta (unshared bytes)
//!   trailer = seq << 8 | kind   (little-endian; kind 0 tombstone, 1 value)
//! ```
//!
//! Every `restart_interval`-th entry (16 in data and index blocks) is a
//! restart point: it stores its whole key (`shared == 0`) and its offset is
//! listed in the restart array, which a lookup binary-searches before
//! scanning at most one interval. A block with no entries is just `n = 0`.
//!
//! Invariants: entries are in strictly increasing internal order (user key
//! ascending, seq descending); [`Block::decode`] checks that the restart
//! array is well formed (starts at 0, strictly increasing, inside the
//! entries), and every entry is bounds-checked as it is decoded, so
//! arbitrary bytes give a [`DecodeError`], never a panic.
//!
//! A `Block` is immutable and `Send + Sync`; a `BlockIter` is owned by one
//! thread and holds its block through an `Arc`.

use super::buf::BlockBuf;
use super::format::{malformed, DecodeError};
use crate::coding::{self, Reader};
use crate::types::{compare_internal, SeqNo, ValueKind, MAX_KEY_LEN};
use std::cmp::Ordering;
use std::sync::Arc;

/// Entries between restart points in data and index blocks.
pub const RESTART_INTERVAL: usize = 16;

/// Encodes one block. Reused across blocks via [`BlockBuilder::reset`].
#[derive(Debug)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    interval: usize,
    /// Entries since the last restart point.
    counter: usize,
    entries: usize,
    last_key: Vec<u8>,
    last_seq: SeqNo,
}

impl BlockBuilder {
    /// A builder that places a restart point every `interval` entries.
    pub fn new(interval: usize) -> BlockBuilder {
        assert!(interval >= 1, "restart interval must be positive");
        BlockBuilder {
            buf: Vec::new(),
            restarts: Vec::new(),
            interval,
            counter: 0,
            entries: 0,
            last_key: Vec::new(),
            last_seq: 0,
        }
    }

    /// Appends an entry.
    ///
    /// REQUIRES: `(key, seq)` comes strictly after the previous entry in
    /// internal order; `key.len() <= MAX_KEY_LEN`; `seq < 2^56`.
    pub fn add(&mut self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        debug_assert!(
            self.entries == 0
                || compare_internal(&self.last_key, self.last_seq, key, seq) == Ordering::Less,
            "block entries out of order"
        );
        debug_assert!(key.len() <= MAX_KEY_LEN && seq < 1 << 56);
        let shared = if self.counter == self.interval || self.entries == 0 {
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
            0
        } else {
            common_prefix_len(&self.last_key, key)
        };
        let delta = &key[shared..];
        coding::put_varint32(&mut self.buf, shared as u32);
        coding::put_varint32(&mut self.buf, delta.len() as u32);
        coding::put_varint32(&mut self.buf, value.len() as u32);
        self.buf.extend_from_slice(delta);
        coding::put_u64(&mut self.buf, seq << 8 | kind as u64);
        self.buf.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(delta);
        self.last_seq = seq;
        self.counter += 1;
        self.entries += 1;
    }

    /// The payload size if the block were finished now.
    pub fn estimated_size(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    /// The bytes [`add`](BlockBuilder::add) would add to the estimated size
    /// for this entry (its restart slot included).
    pub fn entry_size(&self, key: &[u8], value: &[u8]) -> usize {
        let restart = self.counter == self.interval || self.entries == 0;
        let (shared, slot) = if restart {
            (0, 4)
        } else {
            (common_prefix_len(&self.last_key, key), 0)
        };
        let delta = key.len() - shared;
        let varints = [shared, delta, value.len()].map(|n| coding::varint_len(n as u64));
        varints.iter().sum::<usize>() + delta + 8 + value.len() + slot
    }

    /// Whether no entry was added since the last reset.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Entries added since the last reset.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// The key of the last entry added.
    pub fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// The sequence number of the last entry added.
    pub fn last_seq(&self) -> SeqNo {
        self.last_seq
    }

    /// Appends the restart array and returns the payload. Call
    /// [`BlockBuilder::reset`] before adding to the next block.
    pub fn finish(&mut self) -> &[u8] {
        for &restart in &self.restarts {
            coding::put_u32(&mut self.buf, restart);
        }
        coding::put_u32(&mut self.buf, self.restarts.len() as u32);
        &self.buf
    }

    /// Empties the builder, keeping its buffers.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.restarts.clear();
        self.counter = 0;
        self.entries = 0;
        self.last_key.clear();
        self.last_seq = 0;
    }
}

/// A decoded block: the uncompressed payload and where its restart array
/// starts.
#[derive(Debug)]
pub struct Block {
    data: BlockBuf,
    /// Where the entries end and the restart array starts.
    entries_end: usize,
    num_restarts: usize,
}

/// A version found by [`Block::get`]: its seq, kind and value (borrowed
/// from the block).
pub type Found<'a> = (SeqNo, ValueKind, &'a [u8]);

/// What [`Block::search`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Search<'a> {
    /// The version [`Block::get`] returns.
    pub found: Option<Found<'a>>,
    /// With nothing found: the first entry whose user key is larger than
    /// the key searched for, as `(shared, delta)`: its key is the searched
    /// key's first `shared` bytes followed by `delta`. Every entry before
    /// it has a user key no larger than the searched key. `None` when the
    /// search ran to the end of the block (or found a version).
    pub next: Option<(usize, &'a [u8])>,
    /// With a version found: where a later search for a larger key may
    /// start (see [`Block::search_after`]).
    pub after: Option<After>,
}

/// A place in a block to resume searching from: the offset of the entry
/// after a version of user key `K` that a search found, and `K`'s length.
/// Only a search for a user key larger than `K` may start there, and only
/// in the block that gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct After {
    offset: usize,
    key_len: usize,
}

/// One entry as it lies in the block, borrowed.
#[derive(Debug, Clone, Copy)]
struct RawEntry<'a> {
    shared: usize,
    delta: &'a [u8],
    seq: SeqNo,
    kind: ValueKind,
    value_start: usize,
    value_end: usize,
}

impl RawEntry<'_> {
    /// The offset of the entry after this one.
    fn next(&self) -> usize {
        self.value_end
    }
}

impl Block {
    /// Decodes an uncompressed block payload, checking its restart array.
    pub fn decode(data: impl Into<BlockBuf>) -> Result<Block, DecodeError> {
        let data = data.into();
        let Some(count_at) = data.len().checked_sub(4) else {
            return malformed("block shorter than its restart count");
        };
        let num_restarts = coding::get_u32(&data, count_at).unwrap_or(0) as usize;
        if num_restarts > count_at / 4 {
            return malformed("restart count larger than the block");
        }
        let entries_end = count_at - 4 * num_restarts;
        let block = Block {
            data,
            entries_end,
            num_restarts,
        };
        if num_restarts == 0 && entries_end != 0 {
            return malformed("block with entries but no restart point");
        }
        let mut previous = None;
        for i in 0..num_restarts {
            let offset = block.restart_point(i);
            let in_order = match previous {
                None => offset == 0,
                Some(previous) => offset > previous,
            };
            if !in_order || offset >= entries_end {
                return malformed("restart offsets out of order or out of range");
            }
            previous = Some(offset);
        }
        Ok(block)
    }

    /// Whether the block has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries_end == 0
    }

    /// The uncompressed payload size.
    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// The block's buffer, for reuse.
    pub fn into_data(self) -> BlockBuf {
        self.data
    }

    /// Whether the block lives in a frame of a block cache's pool (see
    /// `buf.rs`) rather than on the heap.
    pub fn in_frame(&self) -> bool {
        self.data.is_frame()
    }

    /// The memory the block takes, for cache accounting.
    pub fn charge(&self) -> usize {
        self.data.capacity() + std::mem::size_of::<Block>()
    }

    /// The newest version of `key` with `seq <= snapshot` held in this
    /// block: the first entry at or after `(key, snapshot)`, if its user key
    /// is `key`. The value borrows the block. Allocates nothing: keys are
    /// compared against `key` incrementally, without being rebuilt.
    pub fn get(&self, key: &[u8], snapshot: SeqNo) -> Result<Option<Found<'_>>, DecodeError> {
        self.search(key, snapshot).map(|search| search.found)
    }

    /// [`get`](Block::get), and when nothing is found, the first entry whose
    /// user key is larger than `key` if the block holds one (see
    /// [`Search::next`]).
    pub fn search(&self, key: &[u8], snapshot: SeqNo) -> Result<Search<'_>, DecodeError> {
        let offset = self.restart_point(self.find_restart(key, snapshot)?);
        self.scan(key, snapshot, offset, 0, 0)
    }

    /// [`search`](Block::search) for `key`, starting at `after`, which a
    /// search of this block returned, instead of at a restart point: a lookup of the next key of an in-order walk decodes the
    /// entry after the last one found, not the entries from a restart
    /// point up to it.
    ///
    /// REQUIRES: `after` came from a search of this block that found user
    /// key `found`, `found < key`, and `matched` is the length of the
    /// prefix they share.
    pub fn search_after(
        &self,
        key: &[u8],
        snapshot: SeqNo,
        after: After,
        matched: usize,
    ) -> Result<Search<'_>, DecodeError> {
        debug_assert!(matched <= after.key_len.min(key.len()));
        self.scan(key, snapshot, after.offset, after.key_len, matched)
    }

    /// The search loop, from the entry at `offset`, whose previous entry's
    /// user key has length `prev_len`, is smaller than `key` and shares
    /// its first `matched` bytes with it (at a restart point: 0 and 0).
    #[inline]
    fn scan(
        &self,
        key: &[u8],
        snapshot: SeqNo,
        mut offset: usize,
        mut prev_len: usize,
        mut matched: usize,
    ) -> Result<Search<'_>, DecodeError> {
        let entries = self.entries();
        // Invariant: the previous entry's key has length `prev_len`, shares
        // its first `matched` bytes with `key` and compares to it as `order`.
        let mut order = Ordering::Less;
        while offset < self.entries_end {
            let Some((shared, unshared, value_len, key_start)) = decode_header(entries, offset)
            else {
                return malformed("bad entry header");
            };
            let key_end = key_start + unshared;
            let (Some(delta), true) = (entries.get(key_start..key_end), shared <= prev_len) else {
                return malformed("entry key out of block or sharing too much");
            };
            if shared <= matched {
                // The new key is key[..shared] ++ delta: compare the delta.
                let rest = key.get(shared..).unwrap_or_default();
                let common = common_prefix_len(delta, rest);
                matched = shared + common;
                order = match (delta.get(common), rest.get(common)) {
                    (Some(a), Some(b)) => a.cmp(b),
                    (a, b) => a.is_some().cmp(&b.is_some()),
                };
            }
            // Otherwise the new key keeps the previous key's byte at
            // `matched`, where it differs from `key`: same order and match.
            prev_len = shared + unshared;
            match order {
                Ordering::Less => offset = key_end + 8 + value_len,
                // Reached only after the branch above, so `shared <= matched`.
                Ordering::Greater => {
                    return Ok(Search {
                        found: None,
                        next: Some((shared, delta)),
                        after: None,
                    })
                }
                Ordering::Equal => {
                    // Only now decode the trailer and bound the value.
                    let entry = decode_entry(entries, offset)?;
                    if entry.seq <= snapshot {
                        let value = entries
                            .get(entry.value_start..entry.value_end)
                            .unwrap_or_default();
                        return Ok(Search {
                            found: Some((entry.seq, entry.kind, value)),
                            next: None,
                            after: Some(After {
                                offset: entry.next(),
                                key_len: prev_len,
                            }),
                        });
                    }
                    offset = entry.next();
                }
            }
        }
        if offset != self.entries_end {
            return malformed("entry runs past the end of the block");
        }
        Ok(Search {
            found: None,
            next: None,
            after: None,
        })
    }

    /// A cursor over the block, not yet positioned.
    pub fn iter(self: &Arc<Block>) -> BlockIter {
        BlockIter::new(Arc::clone(self))
    }

    fn entries(&self) -> &[u8] {
        self.data.get(..self.entries_end).unwrap_or_default()
    }

    /// The offset of restart point `i`; `entries_end` if there is none
    /// (`decode` checked every listed one).
    #[inline]
    fn restart_point(&self, i: usize) -> usize {
        coding::get_u32(&self.data, self.entries_end + 4 * i)
            .map_or(self.entries_end, |o| o as usize)
    }

    /// The index of the last restart point whose entry is before
    /// `(key, seq)`, or 0 when there is none.
    fn find_restart(&self, key: &[u8], seq: SeqNo) -> Result<usize, DecodeError> {
        let entries = self.entries();
        let (mut low, mut high) = (0, self.num_restarts.saturating_sub(1));
        while low < high {
            let mid = low + (high - low).div_ceil(2);
            let entry = decode_entry(entries, self.restart_point(mid))?;
            if entry.shared != 0 {
                return malformed("restart entry with a shared key prefix");
            }
            if compare_internal(entry.delta, entry.seq, key, seq) == Ordering::Less {
                low = mid;
            } else {
                high = mid - 1;
            }
        }
        Ok(low)
    }
}

/// Decodes the entry at `offset` of `entries` (the entry region).
#[inline(always)]
fn decode_entry(entries: &[u8], offset: usize) -> Result<RawEntry<'_>, DecodeError> {
    let Some((shared, unshared, value_len, key_start)) = decode_header(entries, offset) else {
        return malformed("bad entry header");
    };
    let key_end = key_start + unshared;
    let Some(delta) = entries.get(key_start..key_end) else {
        return malformed("entry key out of block");
    };
    let Some(trailer) = coding::get_u64(entries, key_end) else {
        return malformed("entry trailer out of block");
    };
    let Some(kind) = ValueKind::from_u8(trailer as u8) else {
        return malformed("unknown entry kind");
    };
    let value_start = key_end + 8;
    let value_end = value_start + value_len;
    if value_end > entries.len() {
        return malformed("entry value out of block");
    }
    Ok(RawEntry {
        shared,
        delta,
        seq: trailer >> 8,
        kind,
        value_start,
        value_end,
    })
}

/// The three varint headers of an entry and where its key delta starts.
#[inline(always)]
fn decode_header(entries: &[u8], offset: usize) -> Option<(usize, usize, usize, usize)> {
    // Fast path: all three fit in one byte each (keys and values < 128).
    if let Some(&[a, b, c]) = entries.get(offset..offset + 3) {
        if (a | b | c) < 0x80 {
            return Some((a as usize, b as usize, c as usize, offset + 3));
        }
    }
    let mut reader = Reader::new(entries.get(offset..)?);
    let shared = reader.varint32()? as usize;
    let unshared = reader.varint32()? as usize;
    let value_len = reader.varint32()? as usize;
    Some((shared, unshared, value_len, offset + reader.position()))
}

/// The length of the common prefix of `a` and `b`, 8 bytes at a time.
#[inline(always)]
pub(crate) fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    let mut matched = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let x = u64::from_le_bytes(x.try_into().unwrap_or_default());
        let y = u64::from_le_bytes(y.try_into().unwrap_or_default());
        if x != y {
            return matched + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        matched += 8;
    }
    let rest = a.get(matched..).unwrap_or_default().iter();
    matched
        + rest
            .zip(b.get(matched..).unwrap_or_default())
            .take_while(|(x, y)| x == y)
            .count()
}

/// A cursor over one block. The current key is rebuilt incrementally in a
/// buffer that is reused across entries and across blocks
/// ([`BlockIter::reset`]). Moving backwards decodes the restart interval
/// before the current entry once and remembers it, so a reverse scan costs
/// a key copy per step. After an error the cursor is invalid.
#[derive(Debug)]
pub struct BlockIter {
    block: Arc<Block>,
    key: Vec<u8>,
    seq: SeqNo,
    kind: ValueKind,
    value_start: usize,
    value_end: usize,
    /// Offset of the current entry; `entries_end` when not valid.
    current: usize,
    /// Offset of the entry after the current one.
    next: usize,
    /// The restart interval holding the current entry.
    restart: usize,
    /// The offset of restart point `restart + 1` (`entries_end` if none):
    /// once `current` reaches it, the cursor is in the next interval.
    next_restart: usize,
    /// The entries of one restart interval as `prev` or `seek_to_last`
    /// decoded them, in block order, so each further `prev` inside the
    /// interval is a key copy instead of a rescan.
    back: Vec<BackEntry>,
    /// The keys of `back`, back to back.
    back_keys: Vec<u8>,
    /// The current entry's place in `back`, when it was reached backwards;
    /// any other move clears it.
    back_pos: Option<usize>,
}

/// An entry remembered for backward steps.
#[derive(Debug, Clone, Copy)]
struct BackEntry {
    offset: usize,
    next: usize,
    key_end: usize,
    seq: SeqNo,
    kind: ValueKind,
    value_start: usize,
    value_end: usize,
}

impl BlockIter {
    /// An unpositioned cursor over `block`.
    pub fn new(block: Arc<Block>) -> BlockIter {
        let end = block.entries_end;
        BlockIter {
            block,
            key: Vec::new(),
            seq: 0,
            kind: ValueKind::Value,
            value_start: 0,
            value_end: 0,
            current: end,
            next: end,
            restart: 0,
            next_restart: end,
            back: Vec::new(),
            back_keys: Vec::new(),
            back_pos: None,
        }
    }

    /// Moves the cursor to another block (unpositioned), keeping its key
    /// buffer.
    pub fn reset(&mut self, block: Arc<Block>) {
        self.block = block;
        self.invalidate();
    }

    /// The block under the cursor.
    pub fn block(&self) -> &Arc<Block> {
        &self.block
    }

    /// Whether the cursor is at an entry.
    #[inline]
    pub fn valid(&self) -> bool {
        self.current < self.block.entries_end
    }

    /// The current user key. REQUIRES: `valid()`.
    #[inline]
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The current sequence number. REQUIRES: `valid()`.
    #[inline]
    pub fn seq(&self) -> SeqNo {
        self.seq
    }

    /// The current kind. REQUIRES: `valid()`.
    #[inline]
    pub fn kind(&self) -> ValueKind {
        self.kind
    }

    /// The current value. REQUIRES: `valid()`.
    #[inline]
    pub fn value(&self) -> &[u8] {
        self.block
            .data
            .get(self.value_start..self.value_end)
            .unwrap_or_default()
    }

    /// Moves to the first entry (invalid if the block is empty).
    pub fn seek_to_first(&mut self) -> Result<(), DecodeError> {
        self.start_at_restart(0);
        self.parse_next().map(drop)
    }

    /// Moves to the last entry (invalid if the block is empty).
    pub fn seek_to_last(&mut self) -> Result<(), DecodeError> {
        let last = self.block.num_restarts.saturating_sub(1);
        self.scan_interval_back(last, self.block.entries_end)
            .map(drop)
    }

    /// Moves to the first entry at or after `(key, seq)` in internal order;
    /// invalid if there is none in this block.
    pub fn seek(&mut self, key: &[u8], seq: SeqNo) -> Result<(), DecodeError> {
        let restart = self
            .block
            .find_restart(key, seq)
            .inspect_err(|_| self.invalidate())?;
        self.start_at_restart(restart);
        while self.parse_next()? {
            if compare_internal(&self.key, self.seq, key, seq) != Ordering::Less {
                break;
            }
        }
        Ok(())
    }

    /// Moves to the last entry at or before `(key, seq)` in internal order;
    /// invalid if there is none in this block.
    pub fn seek_for_prev(&mut self, key: &[u8], seq: SeqNo) -> Result<(), DecodeError> {
        self.seek(key, seq)?;
        if !self.valid() {
            return self.seek_to_last();
        }
        if compare_internal(&self.key, self.seq, key, seq) == Ordering::Equal {
            return Ok(());
        }
        self.prev()
    }

    /// Moves to the next entry (invalid past the last). REQUIRES: `valid()`.
    #[inline]
    #[expect(
        clippy::should_implement_trait,
        reason = "a cursor step like InternalIterator::next, not an Iterator"
    )]
    pub fn next(&mut self) -> Result<(), DecodeError> {
        debug_assert!(self.valid());
        self.parse_next().map(drop)
    }

    /// Whether the current entry is the block's last (or the cursor is not
    /// valid): the next one, if any, is in another block.
    #[inline]
    pub fn at_last(&self) -> bool {
        self.next >= self.block.entries_end
    }

    /// Moves to the next entry and tells whether its user key is the one
    /// the cursor was at (an older version of it), without a copy of the
    /// key: the entry's suffix is compared with the key before it replaces
    /// it. REQUIRES: `valid()` and not `at_last()`.
    #[inline]
    pub fn next_same_key(&mut self) -> Result<bool, DecodeError> {
        debug_assert!(self.valid() && !self.at_last());
        Ok(self.parse_next_with::<true>()? == Some(true))
    }

    /// Moves to the previous entry (invalid before the first): rescans
    /// from the restart point before the current entry.
    /// REQUIRES: `valid()`.
    pub fn prev(&mut self) -> Result<(), DecodeError> {
        debug_assert!(self.valid());
        if let Some(pos) = self.back_pos.and_then(|pos| pos.checked_sub(1)) {
            self.load_back(pos);
            return Ok(());
        }
        let original = self.current;
        let mut restart = self.restart;
        while self.block.restart_point(restart) >= original {
            if restart == 0 {
                self.invalidate();
                return Ok(());
            }
            restart -= 1;
        }
        if self.scan_interval_back(restart, original)? {
            return Ok(());
        }
        malformed("entries do not lead back to the current one")
    }

    /// Decodes restart interval `restart` from its start up to the entry
    /// that ends at or after offset `until`, remembering every entry in
    /// `back`, and leaves the cursor there. `Ok(false)` (and an invalid
    /// cursor) if the entries end first.
    fn scan_interval_back(&mut self, restart: usize, until: usize) -> Result<bool, DecodeError> {
        self.start_at_restart(restart);
        self.back.clear();
        self.back_keys.clear();
        while self.parse_next()? {
            self.back_keys.extend_from_slice(&self.key);
            self.back.push(BackEntry {
                offset: self.current,
                next: self.next,
                key_end: self.back_keys.len(),
                seq: self.seq,
                kind: self.kind,
                value_start: self.value_start,
                value_end: self.value_end,
            });
            if self.next >= until {
                self.back_pos = Some(self.back.len() - 1);
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Makes `back[pos]` the current entry (same restart interval).
    fn load_back(&mut self, pos: usize) {
        let Some(entry) = self.back.get(pos).copied() else {
            self.invalidate();
            return;
        };
        let key_start = pos
            .checked_sub(1)
            .and_then(|p| self.back.get(p))
            .map_or(0, |e| e.key_end);
        self.key.clear();
        self.key.extend_from_slice(
            self.back_keys
                .get(key_start..entry.key_end)
                .unwrap_or_default(),
        );
        self.seq = entry.seq;
        self.kind = entry.kind;
        self.value_start = entry.value_start;
        self.value_end = entry.value_end;
        self.current = entry.offset;
        self.next = entry.next;
        self.back_pos = Some(pos);
    }

    fn invalidate(&mut self) {
        self.current = self.block.entries_end;
        self.next = self.block.entries_end;
        self.back_pos = None;
    }

    fn start_at_restart(&mut self, restart: usize) {
        self.back_pos = None;
        self.key.clear();
        self.restart = restart;
        self.next = self.block.restart_point(restart);
        self.current = self.next;
        self.next_restart = self.block.restart_point(restart + 1);
    }

    /// Moves `restart` forward to the interval holding `current`.
    #[cold]
    fn advance_restart(&mut self) {
        while self.restart + 1 < self.block.num_restarts
            && self.block.restart_point(self.restart + 1) <= self.current
        {
            self.restart += 1;
        }
        self.next_restart = self.block.restart_point(self.restart + 1);
    }

    /// Decodes the entry at `next` into the cursor. `Ok(false)` (and an
    /// invalid cursor) at the end of the entries.
    #[inline(always)]
    fn parse_next(&mut self) -> Result<bool, DecodeError> {
        Ok(self.parse_next_with::<false>()?.is_some())
    }

    /// [`parse_next`](Self::parse_next), telling with `SAME` whether the
    /// new key equals the one it replaces: `Some(same)` for an entry
    /// (`same` false without `SAME`), `None` at the end.
    #[inline(always)]
    fn parse_next_with<const SAME: bool>(&mut self) -> Result<Option<bool>, DecodeError> {
        let block = &*self.block;
        if self.next >= block.entries_end {
            self.invalidate();
            return Ok(None);
        }
        let entry = match decode_entry(block.entries(), self.next) {
            Ok(entry)
                if entry.shared <= self.key.len()
                    && entry.shared + entry.delta.len() <= MAX_KEY_LEN =>
            {
                entry
            }
            Ok(_) => {
                self.invalidate();
                return malformed("entry key prefix longer than the previous key");
            }
            Err(err) => {
                self.invalidate();
                return Err(err);
            }
        };
        // An older version of the same key adds no suffix; a new key's
        // suffix starts with a byte that differs (the builder shares the
        // longest common prefix), so the whole suffix is compared only when
        // that byte matches.
        let same = SAME
            && entry.shared + entry.delta.len() == self.key.len()
            && match entry.delta.split_first() {
                None => true,
                Some((first, rest)) => {
                    *first == self.key[entry.shared] && *rest == self.key[entry.shared + 1..]
                }
            };
        self.key.truncate(entry.shared);
        if entry.delta.len() <= 16 {
            // One allocation for a new cursor's first key, not one per
            // doubling as the pushes below fill it.
            self.key.reserve(entry.delta.len());
            // Cheaper than a `memcpy` call for the usual few bytes.
            for &byte in entry.delta {
                self.key.push(byte);
            }
        } else {
            self.key.extend_from_slice(entry.delta);
        }
        self.seq = entry.seq;
        self.kind = entry.kind;
        self.value_start = entry.value_start;
        self.value_end = entry.value_end;
        self.current = self.next;
        self.next = entry.next();
        self.back_pos = None;
        if self.current >= self.next_restart {
            self.advance_restart();
        }
        Ok(Some(same))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    type Model = Vec<(Vec<u8>, SeqNo, ValueKind, Vec<u8>)>;

    fn build(entries: &Model, interval: usize) -> Arc<Block> {
        let mut builder = BlockBuilder::new(interval);
        for (key, seq, kind, value) in entries {
            // The builder's size forecast (which closes table blocks) is
            // exact.
            let expected = builder.estimated_size() + builder.entry_size(key, value);
            builder.add(key, *seq, *kind, value);
            assert_eq!(builder.estimated_size(), expected);
        }
        let size = builder.estimated_size();
        let payload = builder.finish().to_vec();
        assert_eq!(payload.len(), size);
        Arc::new(Block::decode(payload).unwrap())
    }

    /// Keys sharing prefixes, several versions per key, tombstones, empty
    /// and long values, in internal order.
    fn model(rng: &mut StdRng, keys: usize) -> Model {
        let mut out = Model::new();
        for i in 0..keys {
            let key = format!("key/{:05}/{}", i * 3, "x".repeat(i % 7)).into_bytes();
            let versions = rng.gen_range(1..4);
            let mut seq = rng.gen_range(200..1000u64);
            for _ in 0..versions {
                let kind = if rng.gen_bool(0.2) {
                    ValueKind::Tombstone
                } else {
                    ValueKind::Value
                };
                let value = match kind {
                    ValueKind::Tombstone => Vec::new(),
                    ValueKind::Value => vec![b'v'; rng.gen_range(0..200)],
                };
                out.push((key.clone(), seq, kind, value));
                seq -= rng.gen_range(1..50);
            }
        }
        out
    }

    fn at(iter: &BlockIter) -> (Vec<u8>, SeqNo, ValueKind, Vec<u8>) {
        (
            iter.key().to_vec(),
            iter.seq(),
            iter.kind(),
            iter.value().to_vec(),
        )
    }

    /// Goal: a search resumed after the version another search found
    /// answers exactly as a search from a restart point, for every larger
    /// key (present or absent) and snapshot. Method: every pair of a found
    /// key and a larger probe, over blocks with several restart intervals.
    #[test]
    fn searches_resumed_after_a_found_key_match_full_searches() {
        let mut rng = StdRng::seed_from_u64(11);
        let entries = model(&mut rng, 40);
        let mut probes: Vec<Vec<u8>> = entries.iter().map(|e| e.0.clone()).collect();
        probes.dedup();
        let absent: Vec<Vec<u8>> = probes
            .iter()
            .map(|k| [k.as_slice(), b"!"].concat())
            .collect();
        probes.extend(absent);
        probes.push(b"zzz".to_vec());
        probes.sort();
        let snapshots = [150, 400, 700, SeqNo::MAX >> 8];
        for interval in [1, 3, RESTART_INTERVAL] {
            let block = build(&entries, interval);
            let mut resumed = 0;
            for (n, found_key) in probes.iter().enumerate() {
                for &found_at in &snapshots {
                    let first = block.search(found_key, found_at).unwrap();
                    let Some(after) = first.after else {
                        assert!(first.found.is_none());
                        continue;
                    };
                    assert!(first.found.is_some());
                    for key in &probes[n + 1..] {
                        let matched = common_prefix_len(found_key, key);
                        for &snapshot in &snapshots {
                            let full = block.search(key, snapshot).unwrap();
                            let from = block.search_after(key, snapshot, after, matched).unwrap();
                            assert_eq!(
                                (from.found, from.next),
                                (full.found, full.next),
                                "{key:?} at {snapshot} after {found_key:?} at {found_at}"
                            );
                            resumed += 1;
                        }
                    }
                }
            }
            assert!(resumed > 10_000, "{resumed}");
        }
    }

    #[test]
    fn iterates_forward_and_backward_like_the_model() {
        let mut rng = StdRng::seed_from_u64(7);
        let entries = model(&mut rng, 60);
        for interval in [1, 2, RESTART_INTERVAL] {
            let block = build(&entries, interval);
            let mut iter = block.iter();
            iter.seek_to_first().unwrap();
            let mut forward = Vec::new();
            while iter.valid() {
                forward.push(at(&iter));
                iter.next().unwrap();
            }
            assert_eq!(forward, entries);

            iter.seek_to_last().unwrap();
            let mut backward = Vec::new();
            while iter.valid() {
                backward.push(at(&iter));
                iter.prev().unwrap();
            }
            backward.reverse();
            assert_eq!(backward, entries);
        }
    }

    #[test]
    fn seeks_and_gets_agree_with_the_model() {
        let mut rng = StdRng::seed_from_u64(8);
        let entries = model(&mut rng, 80);
        let block = build(&entries, RESTART_INTERVAL);
        let mut iter = block.iter();
        for probe in 0..3 * 80 + 2 {
            let key = format!("key/{:05}/{}", probe, "x".repeat((probe / 3) % 7)).into_bytes();
            for seq in [0, 1, 300, 600, 999, 5000] {
                let after = entries
                    .iter()
                    .find(|e| compare_internal(&e.0, e.1, &key, seq) != Ordering::Less);
                iter.seek(&key, seq).unwrap();
                assert_eq!(iter.valid().then(|| at(&iter)).as_ref(), after);

                let before = entries
                    .iter()
                    .rev()
                    .find(|e| compare_internal(&e.0, e.1, &key, seq) != Ordering::Greater);
                iter.seek_for_prev(&key, seq).unwrap();
                assert_eq!(iter.valid().then(|| at(&iter)).as_ref(), before);

                let expected = after
                    .filter(|e| e.0 == key)
                    .map(|e| (e.1, e.2, e.3.as_slice()));
                assert_eq!(block.get(&key, seq).unwrap(), expected);
            }
        }
    }

    /// Goal: the remembered interval of backward steps never goes stale.
    /// Method: random walks mixing every move, checked after each step
    /// against the model position.
    #[test]
    fn random_walks_match_the_model() {
        let mut rng = StdRng::seed_from_u64(11);
        let entries = model(&mut rng, 50);
        for interval in [1, 3, RESTART_INTERVAL] {
            let block = build(&entries, interval);
            let mut iter = block.iter();
            let mut position: Option<usize> = None;
            for _ in 0..5000 {
                match (rng.gen_range(0..10), position) {
                    (0, _) => {
                        let e = &entries[rng.gen_range(0..entries.len())];
                        iter.seek(&e.0, e.1).unwrap();
                        position = entries.iter().position(|x| x == e);
                    }
                    (1, _) => {
                        let e = &entries[rng.gen_range(0..entries.len())];
                        iter.seek_for_prev(&e.0, e.1).unwrap();
                        position = entries.iter().position(|x| x == e);
                    }
                    (2, _) => {
                        iter.seek_to_last().unwrap();
                        position = Some(entries.len() - 1);
                    }
                    (3..=5, Some(at)) => {
                        iter.next().unwrap();
                        position = Some(at + 1).filter(|&p| p < entries.len());
                    }
                    (_, Some(at)) => {
                        iter.prev().unwrap();
                        position = at.checked_sub(1);
                    }
                    (_, None) => {
                        iter.seek_to_first().unwrap();
                        position = Some(0);
                    }
                }
                assert_eq!(
                    iter.valid().then(|| at(&iter)),
                    position.map(|p| entries[p].clone())
                );
            }
        }
    }

    #[test]
    fn lookups_handle_prefix_keys_and_empty_keys() {
        // Keys that are prefixes of each other stress the incremental
        // comparison in `get`.
        let keys: Vec<&[u8]> = vec![b"", b"a", b"aa", b"aaa", b"aab", b"ab", b"b", b"ba", b"bab"];
        let entries: Model = keys
            .iter()
            .map(|k| (k.to_vec(), 5, ValueKind::Value, k.to_vec()))
            .collect();
        for interval in [1, 3, 16] {
            let block = build(&entries, interval);
            for key in &keys {
                assert_eq!(
                    block.get(key, 9).unwrap(),
                    Some((5, ValueKind::Value, *key))
                );
                assert_eq!(block.get(key, 4).unwrap(), None, "all versions too new");
            }
            for absent in [&b"a\0"[..], b"aaaa", b"aac", b"abc", b"c", b"bb", b"baa"] {
                assert_eq!(block.get(absent, 9).unwrap(), None);
            }
        }
    }

    #[test]
    fn empty_block_is_valid_and_empty() {
        let block = build(&Model::new(), RESTART_INTERVAL);
        assert!(block.is_empty());
        let mut iter = block.iter();
        iter.seek_to_first().unwrap();
        assert!(!iter.valid());
        iter.seek_to_last().unwrap();
        assert!(!iter.valid());
        iter.seek(b"a", 1).unwrap();
        assert!(!iter.valid());
        iter.seek_for_prev(b"a", 1).unwrap();
        assert!(!iter.valid());
        assert_eq!(block.get(b"a", 1).unwrap(), None);
    }

    #[test]
    fn common_prefix_len_counts_bytes() {
        assert_eq!(common_prefix_len(b"", b"abc"), 0);
        assert_eq!(common_prefix_len(b"abcdefghijk", b"abcdefghijz"), 10);
        assert_eq!(common_prefix_len(b"abcdefgh", b"abcdefgh"), 8);
        assert_eq!(common_prefix_len(b"abcdXfghij", b"abcdefghij"), 4);
        assert_eq!(common_prefix_len(b"abc", b"abcdef"), 3);
    }

    #[test]
    fn malformed_restart_arrays_are_rejected() {
        assert!(Block::decode(vec![]).is_err());
        assert!(
            Block::decode(vec![1, 0, 0, 0]).is_err(),
            "restart array larger than block"
        );
        assert!(
            Block::decode(vec![9, 9, 0, 0, 0, 0]).is_err(),
            "entries without restarts"
        );
        assert!(
            Block::decode(vec![9, 9, 9, 1, 0, 0, 0, 1, 0, 0, 0]).is_err(),
            "first restart not 0"
        );
    }

    /// Goal: a block decoded from arbitrary bytes never makes the cursor or
    /// the lookup panic or loop. Method: random payloads and valid blocks
    /// with bytes changed, each driven through every cursor operation.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut rng = StdRng::seed_from_u64(0xb10c);
        let seed = build(&model(&mut StdRng::seed_from_u64(3), 30), 4);
        for round in 0..4000 {
            let bytes = if round % 4 == 0 {
                let len = rng.gen_range(0..64);
                (0..len).map(|_| rng.gen()).collect()
            } else {
                let mut bytes = seed.data.to_vec();
                for _ in 0..rng.gen_range(1..4) {
                    let at = rng.gen_range(0..bytes.len());
                    bytes[at] = rng.gen();
                }
                bytes
            };
            let Ok(block) = Block::decode(bytes) else {
                continue;
            };
            let block = Arc::new(block);
            let _ = block.get(b"key/00030/", 500);
            let _ = block.get(b"", 0);
            exercise(&block);
        }
    }

    fn exercise(block: &Arc<Block>) {
        let mut iter = block.iter();
        let mut steps = 0;
        if iter.seek_to_first().is_ok() {
            while iter.valid() && steps < 1000 && iter.next().is_ok() {
                steps += 1;
            }
        }
        if iter.seek_to_last().is_ok() {
            while iter.valid() && steps < 2000 && iter.prev().is_ok() {
                steps += 1;
            }
        }
        let _ = iter.seek(b"key/00060/", 400);
        let _ = iter.seek_for_prev(b"key/00060/", 400);
    }
}
