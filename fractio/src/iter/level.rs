//! [`LevelIter`]: one cursor over a sorted, non-overlapping level of
//! tables, opening each table's cursor only when the walk reaches it.
//!
//! The tables are anything that derefs to a slice of handles: a `Vec` of
//! them (compaction inputs) or a [`VersionLevel`], a run of one level of a
//! pinned [`Version`], which costs one `Arc` clone instead of a `Vec` and
//! one per table.

use super::InternalIterator;
use crate::table::TableIter;
use crate::types::{user_keys_equal, SeqNo, ValueKind};
use crate::version::{TableHandle, Version};
use crate::{Result, Slice};
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
    /// The upper bound given to the last table's cursor (see
    /// [`set_upper_bound`](LevelIter::set_upper_bound)).
    upper_bound: Option<(Slice, bool)>,
}

impl<T: Deref<Target = [Arc<TableHandle>]>> LevelIter<T> {
    /// A cursor over `tables` (REQUIRES: sorted, non-overlapping) whose
    /// reads fill the block cache.
    pub fn new(tables: T) -> LevelIter<T> {
        LevelIter {
            tables,
            current: None,
            fill_cache: true,
            upper_bound: None,
        }
    }

    /// Tells the cursor that its reader wants no key above `key` (and
    /// `key` itself only if `inclusive`), so reading ahead in the last
    /// table stops where the bound lies (see
    /// [`TableIter::set_upper_bound`]). Tables before the last end below
    /// the bound when they are the run of a level that overlaps a range.
    pub fn set_upper_bound(&mut self, key: &[u8], inclusive: bool) {
        self.upper_bound = Some((Slice::copy_from(key), inclusive));
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
            if let (Some((key, inclusive)), true) =
                (&self.upper_bound, index + 1 == self.tables.len())
            {
                iter.set_upper_bound(key.clone(), *inclusive);
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

    /// The table's cursor moves past the key. Compaction never splits the
    /// versions of a key between two tables, but should the next table
    /// start with more of them, they are passed too: a table cursor that
    /// ran out inside the versions of its last key left it in `scratch`
    /// (see [`TableIter`]'s `next_key`).
    #[inline]
    fn next_key(&mut self, scratch: &mut Vec<u8>) -> Result<()> {
        let Some((_, iter)) = &mut self.current else {
            panic!("next_key() on an invalid level cursor");
        };
        iter.next_key(scratch)?;
        if iter.valid() {
            return Ok(());
        }
        self.skip_forward()?;
        while self.valid() && user_keys_equal(self.key(), scratch) {
            self.next()?;
        }
        Ok(())
    }

    /// The current table's cursor: stepping it inside its block keeps it
    /// valid, and the level at it.
    #[inline]
    fn table_cursor(&mut self) -> Option<&mut TableIter> {
        self.current
            .as_mut()
            .map(|(_, iter)| iter)
            .filter(|iter| iter.valid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::BlockCache;
    use crate::fs::{FileSystem, MemFs};
    use crate::table::{table_file_name, write_test_table, TableOptions};
    use crate::version::{OpenTables, TableMeta};
    use std::path::PathBuf;

    type Entry = (Vec<u8>, SeqNo);

    /// A level of one table per element of `tables`, each holding its
    /// versions (in internal order), with small blocks.
    fn level(tables: &[Vec<Entry>]) -> Vec<Arc<TableHandle>> {
        let fs = Arc::new(MemFs::new());
        let dir = PathBuf::from("/db");
        fs.create_dir_all(&dir).unwrap();
        let opener = OpenTables::new(fs.clone(), dir.clone(), Arc::new(BlockCache::new(0)), 8);
        let options = TableOptions {
            block_size: 256,
            ..TableOptions::default()
        };
        let mut handles = Vec::new();
        for (id, entries) in (1..).zip(tables) {
            let path = dir.join(table_file_name(id));
            let rows = entries
                .iter()
                .map(|(key, seq)| (&key[..], *seq, ValueKind::Value, &b"value"[..]));
            let properties = write_test_table(&*fs, &path, rows, options);
            let meta = TableMeta {
                id,
                file_size: properties.file_size,
                smallest_key: entries[0].0.clone(),
                largest_key: entries.last().unwrap().0.clone(),
                smallest_seq: entries.iter().map(|e| e.1).min().unwrap(),
                largest_seq: entries.iter().map(|e| e.1).max().unwrap(),
                entries: entries.len() as u64,
                tombstones: 0,
            };
            handles.push(opener.handle(meta, None).unwrap());
        }
        handles
    }

    fn at(iter: &LevelIter) -> Option<Entry> {
        iter.valid().then(|| (iter.key().to_vec(), iter.seq()))
    }

    /// Goal: `next_key` passes every version of a key, from any of them,
    /// within a table and across tables, even when the versions of a key
    /// go on in the next table (compaction never writes that, but a level
    /// cursor must not yield them as a new key). Method: every start, one
    /// `next_key`, compared with the model.
    #[test]
    fn next_key_passes_versions_across_tables() {
        let key = |i: usize| format!("key{i:04}").into_bytes();
        let mut seq = 10_000;
        let mut versions = |i: usize, count: usize| -> Vec<Entry> {
            (0..count)
                .map(|_| {
                    seq -= 1;
                    (key(i), seq)
                })
                .collect()
        };
        // key 5 spans tables 1 and 2, key 9 spans 2 and 3 (all of table 2
        // is key 9 but its first entries), key 12 has 40 versions (several
        // blocks).
        let mut t1: Vec<Entry> = (0..5).flat_map(|i| versions(i, 1 + i % 3)).collect();
        t1.extend(versions(5, 2));
        let mut t2 = versions(5, 3);
        t2.extend((6..9).flat_map(|i| versions(i, 2)));
        t2.extend(versions(9, 30));
        let mut t3 = versions(9, 2);
        t3.extend((10..14).flat_map(|i| versions(i, if i == 12 { 40 } else { 1 })));
        let model: Vec<Entry> = [&t1, &t2, &t3].into_iter().flatten().cloned().collect();
        let tables = level(&[t1, t2, t3]);
        let mut scratch = Vec::new();
        for start in 0..model.len() {
            // Walked to, not sought: a seek trusts the level's tables not
            // to share a key.
            let mut iter = LevelIter::new(tables.clone());
            iter.seek_to_first().unwrap();
            for _ in 0..start {
                iter.next().unwrap();
            }
            assert_eq!(at(&iter).as_ref(), Some(&model[start]));
            iter.next_key(&mut scratch).unwrap();
            let past = model[start..]
                .iter()
                .position(|e| e.0 != model[start].0)
                .map(|n| start + n);
            assert_eq!(at(&iter).as_ref(), past.map(|p| &model[p]), "from {start}");
        }
    }
}
