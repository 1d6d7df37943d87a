//! Versions: which tables are live, per level.
//!
//! A [`Version`] is immutable; a change (a flush, a compaction) builds a
//! new one from the old by a [`VersionEdit`], recorded in the manifest
//! first. Readers hold an `Arc<Version>`, so tables they read stay open
//! and on disk until the last reader lets go.
//!
//! Invariants:
//! - L0 tables are ordered newest first (by largest sequence number); their
//!   key ranges may overlap.
//! - Tables of a deeper level are ordered by key and their key ranges do
//!   not overlap.
//! - For any key, a version in a shallower level (or an earlier L0 table)
//!   is newer than every version of it in a deeper level.

pub mod edit;
pub mod manifest;
pub mod open_tables;

use crate::options::LEVELS;
use crate::types::{compare_user_keys, SeqNo, ValueKind};
use crate::Result;
pub use edit::{TableMeta, VersionEdit};
pub use open_tables::{OpenTables, TableHandle};
use std::collections::HashMap;
use std::sync::Arc;

/// The set of live tables, per level.
#[derive(Clone, Default)]
pub struct Version {
    levels: [Vec<Arc<TableHandle>>; LEVELS],
}

impl Version {
    /// A version with no tables.
    pub fn empty() -> Version {
        Version::default()
    }

    /// The tables of `level`, in the level's order.
    pub fn level(&self, level: usize) -> &[Arc<TableHandle>] {
        &self.levels[level]
    }

    /// Total bytes of the tables of `level`.
    pub fn level_bytes(&self, level: usize) -> u64 {
        self.levels[level].iter().map(|t| t.meta.file_size).sum()
    }

    /// The number of live tables.
    pub fn table_count(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }

    /// Every live table with its level.
    pub fn tables(&self) -> impl Iterator<Item = (usize, &Arc<TableHandle>)> {
        self.levels
            .iter()
            .enumerate()
            .flat_map(|(level, tables)| tables.iter().map(move |t| (level, t)))
    }

    /// The version after `edit`; `handle` makes the handle of each added
    /// table. A table the edit deletes and adds again (a trivial move to
    /// another level) keeps its handle.
    pub fn apply(
        &self,
        edit: &VersionEdit,
        mut handle: impl FnMut(&TableMeta) -> Result<Arc<TableHandle>>,
    ) -> Result<Version> {
        let mut next = self.clone();
        let mut moved = HashMap::new();
        for (level, id) in &edit.deleted {
            next.levels[*level].retain(|t| {
                let keep = t.meta.id != *id;
                if !keep {
                    moved.insert(*id, Arc::clone(t));
                }
                keep
            });
        }
        for (level, meta) in &edit.added {
            let added = match moved.remove(&meta.id) {
                Some(kept) => kept,
                None => handle(meta)?,
            };
            next.levels[*level].push(added);
        }
        next.sort();
        Ok(next)
    }

    fn sort(&mut self) {
        self.levels[0].sort_by_key(|t| std::cmp::Reverse((t.meta.largest_seq, t.meta.id)));
        for level in &mut self.levels[1..] {
            level.sort_by(|a, b| a.meta.smallest_key.cmp(&b.meta.smallest_key));
        }
    }

    /// The whole version as one edit (the first record of a new manifest).
    pub fn snapshot_edit(&self) -> VersionEdit {
        VersionEdit {
            added: self
                .tables()
                .map(|(level, t)| (level, t.meta.clone()))
                .collect(),
            ..VersionEdit::default()
        }
    }

    /// Calls `found` with the newest version of `key` with a sequence
    /// number `<= snapshot` in any table, while its value still lies in the
    /// table's block; `hash` is `key_hash(key)`.
    #[inline]
    pub fn get_with<T>(
        &self,
        key: &[u8],
        hash: u64,
        snapshot: SeqNo,
        found: impl Fn(SeqNo, ValueKind, &[u8]) -> T,
    ) -> Result<Option<T>> {
        for handle in &self.levels[0] {
            if handle.meta.smallest_seq > snapshot || !handle.meta.covers(key) {
                continue;
            }
            if let Some(result) = handle.table.get_with(key, hash, snapshot, &found)? {
                return Ok(Some(result));
            }
        }
        for level in &self.levels[1..] {
            if let Some(handle) = find_table(level, key) {
                if let Some(result) = handle.table.get_with(key, hash, snapshot, &found)? {
                    return Ok(Some(result));
                }
            }
        }
        Ok(None)
    }
}

/// The table of a sorted, non-overlapping level whose range covers `key`.
pub fn find_table<'a>(level: &'a [Arc<TableHandle>], key: &[u8]) -> Option<&'a Arc<TableHandle>> {
    let index = level.partition_point(|t| compare_user_keys(&t.meta.largest_key, key).is_lt());
    level
        .get(index)
        .filter(|t| compare_user_keys(&t.meta.smallest_key, key).is_le())
}
