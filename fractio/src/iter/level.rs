//! [`LevelIter`]: one cursor over a sorted, non-overlapping level of
//! tables, opening each table's cursor only when the walk reaches it.
//!
//! The tables are anything that derefs to a slice of handles: a `Vec` of
//! them (compaction inputs) or a [`VersionLevel`], a run of one level of a
//! pinned [`Version`], which costs one `Arc` clone instead of a `Vec` and
//! one per table.

use super::InternalIterator;
use crate::table::TableIter;
use crate::types::{SeqNo, ValueKind};
use crate::version::{TableHandle, Version};
use crate::Result;
use std::ops::{Deref, Range};
use std::sync::Arc;

/// Tables `range` of level `level` of a pinned version.
pub struct VersionLevel {
    version: Arc<Version>,
    level: usize,
    range: Range<usize>,
}

impl VersionLevel {
    /// Tables `range` of `level` of `version`. Panics when out of bounds.
    pub fn new(version: Arc<Version>, level: usize, range: Range<usize>) -> VersionLevel {
        assert!(range.start <= range.end && range.end <= version.level(level).len());
        VersionLevel {
            version,
            level,
            range,
        }
    }
}

impl Deref for VersionLevel {
    type Target = [Arc<TableHandle>];

    #[inline]
    fn deref(&self) -> &[Arc<TableHandle>] {
        &self.version.level(self.level)[self.range.clone()]
    }
}

/// A cursor over the concatenation of a level's tables.
///
/// Invariant: `tables` are ordered by key with disjoint ranges, so the
/// internal order of the level is the tables' orders one after another.
pub struct LevelIter<T = Vec<Arc<TableHandle>>> {
    tables: T,
    /// The table under the cursor and its cursor.
    current: Option<(usize, TableIter)>,
    /// Whether the tables' cursors fill the block cache.
    fill_cache: bool,
    /// The read limit of the last table's cursor (see
    /// [`set_upper_bound`](LevelIter::set_upper_bound)).
    last_read_limit: Option<usize>,
}

impl<T: Deref<Target = [Arc<TableHandle>]>> LevelIter<T> {
    /// A cursor over `tables` (REQUIRES: sorted, non-overlapping) whose
    /// reads fill the block cache.
    pub fn new(tables: T) -> LevelIter<T> {
        LevelIter {
            tables,
            current: None,
            fill_cache: true,
            last_read_limit: None,
        }
    }

    /// Tells the cursor that its reader wants no key above `key` (and
    /// `key` itself only if `inclusive`), so reading ahead in the last
    /// table stops where the bound lies (see
    /// [`TableIter::set_read_limit`]). Tables before the last end below
    /// the bound when they are the run of a level that overlaps a range.
    pub fn set_upper_bound(&mut self, key: &[u8], inclusive: bool) {
        self.last_read_limit = self
            .tables
            .last()
            .map(|handle| handle.table.last_block_for_bound(key, inclusive));
    }

    /// A cursor over `tables` (REQUIRES: sorted, non-overlapping) that
    /// leaves the block cache as it is: for one-off full scans such as
    /// compaction inputs, whose tables are about to be deleted.
    pub fn without_cache_fill(tables: T) -> LevelIter<T> {
        LevelIter {
            fill_cache: false,
            ..LevelIter::new(tables)
        }
    }

    fn open(&mut self, index: usize) -> &mut TableIter {
        if self.current.as_ref().map(|(i, _)| *i) != Some(index) {
            let table = &self.tables[index].table;
            let mut iter = if self.fill_cache {
                table.iter()
            } else {
                table.iter_without_cache_fill()
            };
            if let (Some(limit), true) = (self.last_read_limit, index + 1 == self.tables.len()) {
                iter.set_read_limit(limit);
            }
            self.current = Some((index, iter));
        }
        &mut self.current.as_mut().expect("just set").1
    }

    #[inline]
    fn cursor(&self) -> &TableIter {
        &self.current.as_ref().expect("valid cursor").1
    }

    /// Moves forward past exhausted tables.
    fn skip_forward(&mut self) -> Result<()> {
        while let Some((index, iter)) = &self.current {
            if iter.valid() {
                return Ok(());
            }
            let next = index + 1;
            if next >= self.tables.len() {
                self.current = None;
                return Ok(());
            }
            self.open(next).seek_to_first()?;
        }
        Ok(())
    }

    /// Moves backward past exhausted tables.
    fn skip_backward(&mut self) -> Result<()> {
        while let Some((index, iter)) = &self.current {
            if iter.valid() {
                return Ok(());
            }
            if *index == 0 {
                self.current = None;
                return Ok(());
            }
            let prev = index - 1;
            self.open(prev).seek_to_last()?;
        }
        Ok(())
    }
}

impl<T: Deref<Target = [Arc<TableHandle>]> + Send> InternalIterator for LevelIter<T> {
    #[inline]
    fn valid(&self) -> bool {
        self.current.as_ref().is_some_and(|(_, iter)| iter.valid())
    }

    fn seek_to_first(&mut self) -> Result<()> {
        if self.tables.is_empty() {
            self.current = None;
            return Ok(());
        }
        self.open(0).seek_to_first()?;
        self.skip_forward()
    }

    fn seek_to_last(&mut self) -> Result<()> {
        if self.tables.is_empty() {
            self.current = None;
            return Ok(());
        }
        let last = self.tables.len() - 1;
        self.open(last).seek_to_last()?;
        self.skip_backward()
    }

    fn seek(&mut self, key: &[u8], seq: SeqNo) -> Result<()> {
        let index = self
            .tables
            .partition_point(|t| t.meta.largest_key.as_slice() < key);
        if index >= self.tables.len() {
            self.current = None;
            return Ok(());
        }
        self.open(index).seek(key, seq)?;
        self.skip_forward()
    }

    fn seek_for_prev(&mut self, key: &[u8], seq: SeqNo) -> Result<()> {
        // The last table whose smallest key is <= key.
        let index = self
            .tables
            .partition_point(|t| t.meta.smallest_key.as_slice() <= key);
        if index == 0 {
            self.current = None;
            return Ok(());
        }
        self.open(index - 1).seek_for_prev(key, seq)?;
        self.skip_backward()
    }

    #[inline]
    fn next(&mut self) -> Result<()> {
        if let Some((_, iter)) = &mut self.current {
            iter.next()?;
            if iter.valid() {
                return Ok(());
            }
        }
        self.skip_forward()
    }

    fn prev(&mut self) -> Result<()> {
        if let Some((_, iter)) = &mut self.current {
            iter.prev()?;
        }
        self.skip_backward()
    }

    #[inline]
    fn key(&self) -> &[u8] {
        self.cursor().key()
    }

    #[inline]
    fn seq(&self) -> SeqNo {
        self.cursor().seq()
    }

    #[inline]
    fn kind(&self) -> ValueKind {
        self.cursor().kind()
    }

    #[inline]
    fn value(&self) -> &[u8] {
        self.cursor().value()
    }
}
