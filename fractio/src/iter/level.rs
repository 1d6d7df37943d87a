//! [`LevelIter`]: one cursor over a sorted, non-overlapping level of
//! tables, opening each table's cursor only when the walk reaches it.

use super::InternalIterator;
use crate::table::TableIter;
use crate::types::{SeqNo, ValueKind};
use crate::version::TableHandle;
use crate::Result;
use std::sync::Arc;

/// A cursor over the concatenation of a level's tables.
///
/// Invariant: `tables` are ordered by key with disjoint ranges, so the
/// internal order of the level is the tables' orders one after another.
pub struct LevelIter {
    tables: Vec<Arc<TableHandle>>,
    /// The table under the cursor and its cursor.
    current: Option<(usize, TableIter)>,
}

impl LevelIter {
    /// A cursor over `tables` (REQUIRES: sorted, non-overlapping).
    pub fn new(tables: Vec<Arc<TableHandle>>) -> LevelIter {
        LevelIter {
            tables,
            current: None,
        }
    }

    fn open(&mut self, index: usize) -> &mut TableIter {
        if self.current.as_ref().map(|(i, _)| *i) != Some(index) {
            self.current = Some((index, self.tables[index].table.iter()));
        }
        &mut self.current.as_mut().expect("just set").1
    }

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

impl InternalIterator for LevelIter {
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

    fn next(&mut self) -> Result<()> {
        if let Some((_, iter)) = &mut self.current {
            iter.next()?;
        }
        self.skip_forward()
    }

    fn prev(&mut self) -> Result<()> {
        if let Some((_, iter)) = &mut self.current {
            iter.prev()?;
        }
        self.skip_backward()
    }

    fn key(&self) -> &[u8] {
        self.cursor().key()
    }

    fn seq(&self) -> SeqNo {
        self.cursor().seq()
    }

    fn kind(&self) -> ValueKind {
        self.cursor().kind()
    }

    fn value(&self) -> &[u8] {
        self.cursor().value()
    }
}
