//! The index of a table: one entry per data block, mapping the block's
//! last internal key to its [`BlockHandle`].
//!
//! On disk the index is an ordinary block (see `block.rs`): entry key = the
//! data block's last user key, entry seq = that entry's sequence number,
//! kind = value, value = the handle as two varints (offset, sealed size).
//!
//! In memory, while the table is open, it is decoded once into flat arrays
//! (all keys back to back, and a fixed-size record per block), so a lookup
//! is a plain binary search with no varint decoding and no allocation.
//! Each record also holds a *probe*: the 8 key bytes that follow the prefix
//! shared by every key of the index, big-endian and zero-padded, so most
//! comparisons of the search are one integer comparison. A smaller probe
//! means a smaller key; equal probes fall back to comparing whole keys.
//!
//! Invariants checked by [`Index::decode`]: keys strictly increase in
//! internal order, and handles follow each other in file order without
//! overlapping.

use super::block::{common_prefix_len, Block};
use super::format::{malformed, BlockHandle, DecodeError};
use crate::types::{compare_internal, SeqNo};
use std::cmp::Ordering;
use std::sync::Arc;

/// One data block, as the index knows it.
#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    /// The key's 8 bytes after the common prefix (see the module doc).
    probe: u64,
    key_start: u32,
    key_len: u32,
    seq: SeqNo,
    handle: BlockHandle,
}

/// A decoded index block.
#[derive(Debug, Default)]
pub struct Index {
    keys: Vec<u8>,
    entries: Vec<IndexEntry>,
    /// Bytes every key starts with (the first key's first `prefix_len`).
    prefix_len: usize,
}

impl Index {
    /// Decodes and checks an index block.
    pub fn decode(block: Arc<Block>) -> Result<Index, DecodeError> {
        let mut index = Index::default();
        let mut iter = block.iter();
        iter.seek_to_first()?;
        while iter.valid() {
            let handle = BlockHandle::decode(iter.value())?;
            if let Some(last) = index.entries.last() {
                let last_key = index.key_at(last);
                if compare_internal(last_key, last.seq, iter.key(), iter.seq()) != Ordering::Less {
                    return malformed("index keys out of order");
                }
                if handle.offset < last.handle.end() {
                    return malformed("index handles out of order or overlapping");
                }
            }
            let (Ok(key_start), Ok(key_len)) = (
                u32::try_from(index.keys.len()),
                u32::try_from(iter.key().len()),
            ) else {
                return malformed("index keys too large");
            };
            if key_start.checked_add(key_len).is_none() {
                return malformed("index keys too large");
            }
            index.keys.extend_from_slice(iter.key());
            index.entries.push(IndexEntry {
                probe: 0,
                key_start,
                key_len,
                seq: iter.seq(),
                handle,
            });
            iter.next()?;
        }
        index.keys.shrink_to_fit();
        index.entries.shrink_to_fit();
        if let (Some(first), Some(last)) = (index.entries.first(), index.entries.last()) {
            // Keys are sorted: what the first and last share, all share.
            index.prefix_len = common_prefix_len(index.key_at(first), index.key_at(last));
        }
        for i in 0..index.entries.len() {
            let key = index.key_at(&index.entries[i]);
            let probe = probe_of(key.get(index.prefix_len..).unwrap_or_default());
            index.entries[i].probe = probe;
        }
        Ok(index)
    }

    /// The number of data blocks.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no data block.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first block whose last entry is at or after `(key, seq)` in
    /// internal order: the only block that can hold the first entry at or
    /// after `(key, seq)`. `len()` when every block is before it.
    #[inline]
    pub fn find(&self, key: &[u8], seq: SeqNo) -> usize {
        let Some(first) = self.entries.first() else {
            return 0;
        };
        let prefix = self
            .key_at(first)
            .get(..self.prefix_len)
            .unwrap_or_default();
        let Some(rest) = key
            .get(self.prefix_len..)
            .filter(|_| key.starts_with(prefix))
        else {
            // `key` leaves the common prefix: it is before or after all keys.
            return if key < prefix { 0 } else { self.entries.len() };
        };
        let probe = probe_of(rest);
        self.entries
            .partition_point(|entry| match entry.probe.cmp(&probe) {
                Ordering::Equal => {
                    let entry_rest = self
                        .key_at(entry)
                        .get(self.prefix_len..)
                        .unwrap_or_default();
                    compare_internal(entry_rest, entry.seq, rest, seq) == Ordering::Less
                }
                order => order == Ordering::Less,
            })
    }

    /// The handle of block `i`, if there is one.
    #[inline]
    pub fn handle(&self, i: usize) -> Option<BlockHandle> {
        self.entries.get(i).map(|entry| entry.handle)
    }

    /// The last entry's user key and sequence number of block `i`.
    pub fn last_key(&self, i: usize) -> Option<(&[u8], SeqNo)> {
        self.entries
            .get(i)
            .map(|entry| (self.key_at(entry), entry.seq))
    }

    /// The offset just past the last data block (0 with no blocks).
    pub fn data_end(&self) -> u64 {
        self.entries.last().map_or(0, |entry| entry.handle.end())
    }

    /// Bytes held in memory.
    pub fn memory(&self) -> usize {
        self.keys.capacity() + self.entries.capacity() * std::mem::size_of::<IndexEntry>()
    }

    #[inline]
    fn key_at(&self, entry: &IndexEntry) -> &[u8] {
        let start = entry.key_start as usize;
        self.keys
            .get(start..start + entry.key_len as usize)
            .unwrap_or_default()
    }
}

/// The first 8 bytes of `bytes`, zero-padded, as a big-endian integer:
/// integer order agrees with byte-string order where the probes differ.
#[inline]
fn probe_of(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let len = bytes.len().min(8);
    buf[..len].copy_from_slice(&bytes[..len]);
    u64::from_be_bytes(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::block::{BlockBuilder, RESTART_INTERVAL};
    use crate::types::ValueKind;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn index_block(entries: &[(&[u8], SeqNo, BlockHandle)]) -> Vec<u8> {
        let mut builder = BlockBuilder::new(RESTART_INTERVAL);
        let mut value = Vec::new();
        for (key, seq, handle) in entries {
            value.clear();
            handle.encode_to(&mut value);
            builder.add(key, *seq, ValueKind::Value, &value);
        }
        builder.finish().to_vec()
    }

    fn handle(offset: u64) -> BlockHandle {
        BlockHandle { offset, size: 100 }
    }

    #[test]
    fn find_returns_the_block_that_may_hold_the_key() {
        // Block 1 and 2 split the versions of "b".
        let payload = index_block(&[
            (b"a", 5, handle(0)),
            (b"b", 9, handle(100)),
            (b"b", 2, handle(200)),
            (b"d", 1, handle(300)),
        ]);
        let index = Index::decode(Arc::new(Block::decode(payload).unwrap())).unwrap();
        assert_eq!(index.len(), 4);
        assert_eq!(index.find(b"", 0), 0);
        assert_eq!(index.find(b"a", 5), 0);
        assert_eq!(index.find(b"a", 4), 1);
        assert_eq!(index.find(b"b", 100), 1);
        assert_eq!(index.find(b"b", 9), 1);
        assert_eq!(index.find(b"b", 8), 2);
        assert_eq!(index.find(b"c", 100), 3);
        assert_eq!(index.find(b"d", 0), 4);
        assert_eq!(index.find(b"e", 9), 4);
        assert_eq!(index.handle(2), Some(handle(200)));
        assert_eq!(index.last_key(1), Some((&b"b"[..], 9)));
        assert_eq!(index.data_end(), 400);
    }

    /// A block of whole-key entries in the given (possibly wrong) order;
    /// the builder refuses to write one out of order.
    fn raw_index_block(entries: &[(&[u8], SeqNo, BlockHandle)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut restarts = Vec::new();
        for (key, seq, handle) in entries {
            restarts.push(out.len() as u32);
            let mut value = Vec::new();
            handle.encode_to(&mut value);
            out.extend_from_slice(&[0, key.len() as u8, value.len() as u8]);
            out.extend_from_slice(key);
            out.extend_from_slice(&(seq << 8 | 1).to_le_bytes());
            out.extend_from_slice(&value);
        }
        for restart in &restarts {
            out.extend_from_slice(&restart.to_le_bytes());
        }
        out.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
        out
    }

    #[test]
    fn disordered_indexes_are_rejected() {
        let ordered = raw_index_block(&[(b"a", 1, handle(0)), (b"b", 1, handle(100))]);
        assert_eq!(
            Index::decode(Arc::new(Block::decode(ordered).unwrap()))
                .unwrap()
                .len(),
            2
        );
        let same_key = raw_index_block(&[(b"b", 1, handle(0)), (b"b", 1, handle(100))]);
        assert!(Index::decode(Arc::new(Block::decode(same_key).unwrap())).is_err());
        let keys_back = raw_index_block(&[(b"b", 1, handle(0)), (b"a", 1, handle(100))]);
        assert!(Index::decode(Arc::new(Block::decode(keys_back).unwrap())).is_err());
        let overlap = raw_index_block(&[(b"a", 1, handle(0)), (b"b", 1, handle(50))]);
        assert!(Index::decode(Arc::new(Block::decode(overlap).unwrap())).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut rng = StdRng::seed_from_u64(0x1de);
        let seed = index_block(&[
            (b"apple", 5, handle(0)),
            (b"apricot", 9, handle(100)),
            (b"banana", 2, handle(200)),
        ]);
        for _ in 0..3000 {
            let mut bytes = seed.clone();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..bytes.len());
                bytes[at] = rng.gen();
            }
            if let Ok(block) = Block::decode(bytes) {
                if let Ok(index) = Index::decode(Arc::new(block)) {
                    let _ = index.find(b"apricot", 3);
                }
            }
        }
    }
}
