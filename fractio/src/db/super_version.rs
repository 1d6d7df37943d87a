//! [`SuperVersion`]: everything a read searches, as one immutable value —
//! the active memtable, the sealed ones waiting for a flush, and the
//! version of live tables.
//!
//! Readers load the current super version without a lock and search it
//! newest source first: active memtable, sealed memtables (newest first),
//! then the tables. The first version of the key found with a sequence
//! number at or below the reader's is the answer; a tombstone answers
//! "absent".

use crate::iter::db_iter::CursorSource;
use crate::iter::level::{LevelIter, VersionLevel};
use crate::iter::merge::MergingIterator;
use crate::iter::source::{DbCursor, SourceCursor};
use crate::iter::KeyRange;
use crate::memtable::Memtable;
use crate::slice::Slice;
use crate::types::{key_hash, SeqNo, ValueKind};
use crate::version::Version;
use crate::Result;
use std::cell::Cell;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A memtable that takes no more writes and waits for a flush.
pub struct Sealed {
    /// The memtable.
    pub memtable: Arc<Memtable>,
    /// The first log segment holding its entries.
    pub first_segment: u64,
    /// The largest sequence number in it.
    pub last_seq: SeqNo,
}

/// What reads search.
pub struct SuperVersion {
    /// The memtable taking writes.
    pub active: Arc<Memtable>,
    /// Sealed memtables, newest first.
    pub sealed: Vec<Arc<Sealed>>,
    /// Live tables.
    pub version: Arc<Version>,
    /// `SeqNo::MAX` while `active` takes writes; once it is sealed, the
    /// last sequence number written to it. Shared by every super version
    /// with the same active memtable. A reader whose sequence number is
    /// above it loaded a stale super version and must load again.
    pub active_sealed_at: Arc<AtomicU64>,
}

impl SuperVersion {
    /// Whether a reader at `seq` may use this super version: no write at or
    /// below `seq` went to a memtable it does not know.
    #[inline]
    pub fn serves(&self, seq: SeqNo) -> bool {
        seq <= self.active_sealed_at.load(Ordering::Acquire)
    }

    /// Calls `found` with the newest version of `key` at or below `seq`.
    #[inline]
    fn lookup<T>(
        &self,
        key: &[u8],
        seq: SeqNo,
        found: impl Fn(ValueKind, &[u8]) -> T,
    ) -> Result<Option<T>> {
        if self.sealed.is_empty() && self.version.table_count() == 0 {
            // Everything is in the active memtable: a descent answers.
            return Ok(self
                .active
                .get(key, seq)
                .map(|(_, kind, value)| found(kind, value)));
        }
        let hash = key_hash(key);
        if let Some((_, kind, value)) = self.active.get_filtered(key, hash, seq) {
            return Ok(Some(found(kind, value)));
        }
        for sealed in &self.sealed {
            if let Some((_, kind, value)) = sealed.memtable.get_filtered(key, hash, seq) {
                return Ok(Some(found(kind, value)));
            }
        }
        self.version
            .get_with(key, hash, seq, |_, kind, value| found(kind, value))
    }

    /// The value of `key` at `seq`.
    pub fn get(&self, key: &[u8], seq: SeqNo) -> Result<Option<Slice>> {
        // The value is copied once, into `out`, by whichever source holds
        // the key. Returned through each layer's `Result<Option<_>>`
        // instead, the 120-byte `Slice` was moved once per layer.
        let out = Cell::new(None);
        self.lookup(key, seq, |kind, value| {
            if kind == ValueKind::Value {
                out.set(Some(Slice::copy_from(value)));
            }
        })?;
        Ok(out.into_inner())
    }

    /// `read` applied to the value of `key` at `seq` (`None` without one),
    /// lent where it lies: a memtable or a cached block.
    pub fn get_with<R>(
        &self,
        key: &[u8],
        seq: SeqNo,
        read: impl FnOnce(Option<&[u8]>) -> R,
    ) -> Result<R> {
        // `lookup` calls its closure at most once, so `read` is there to
        // take until it returns; what is left is called with `None`.
        let read = Cell::new(Some(read));
        let apply = |value: Option<&[u8]>| read.take().map(|read| read(value));
        let found = self.lookup(key, seq, |kind, value| {
            apply((kind == ValueKind::Value).then_some(value))
        })?;
        match found.flatten().or_else(|| apply(None)) {
            Some(result) => Ok(result),
            None => unreachable!("`read` is called exactly once"),
        }
    }

    /// Whether `key` has a value at `seq`.
    pub fn contains(&self, key: &[u8], seq: SeqNo) -> Result<bool> {
        let found = self.lookup(key, seq, |kind, _| kind == ValueKind::Value)?;
        Ok(found.unwrap_or(false))
    }
}

impl CursorSource for SuperVersion {
    /// Merges every memtable, the L0 tables whose key range overlaps
    /// `range`, and for each deeper level the run of tables that does.
    fn cursor(&self, range: KeyRange<'_>) -> Result<DbCursor> {
        let mut children = Vec::with_capacity(
            1 + self.sealed.len() + self.version.level(0).len() + crate::LEVELS - 1,
        );
        if !self.active.is_empty() {
            children.push(SourceCursor::Memtable(self.active.iter()));
        }
        for sealed in &self.sealed {
            children.push(SourceCursor::Memtable(sealed.memtable.iter()));
        }
        // A bounded range reads no further ahead than its bound.
        let upper = match range.upper {
            Bound::Included(key) => Some((key, true)),
            Bound::Excluded(key) => Some((key, false)),
            Bound::Unbounded => None,
        };
        for handle in self.version.level(0) {
            if range.overlaps(&handle.meta.smallest_key, &handle.meta.largest_key) {
                let mut iter = handle.table.iter();
                if let Some((key, inclusive)) = upper {
                    iter.set_upper_bound(Slice::copy_from(key), inclusive);
                }
                children.push(SourceCursor::Table(iter));
            }
        }
        for level in 1..crate::LEVELS {
            let tables = self.version.level(level);
            let start = tables.partition_point(|t| !range.above_lower(&t.meta.largest_key));
            let end = tables.partition_point(|t| range.below_upper(&t.meta.smallest_key));
            if start < end {
                let run = VersionLevel::new(Arc::clone(&self.version), level, start..end);
                let mut iter = LevelIter::new(run);
                if let Some((key, inclusive)) = upper {
                    iter.set_upper_bound(key, inclusive);
                }
                children.push(SourceCursor::Level(iter));
            }
        }
        Ok(MergingIterator::with_range(children, range))
    }
}
