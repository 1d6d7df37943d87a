//! [`Job`]: the merge of one compaction — reads its input tables, keeps
//! what [`VersionFilter`] keeps, writes new tables for the output level.
//!
//! A job only reads immutable tables (held through the `Arc`s of the
//! version it was picked from) and writes new files; it touches no shared
//! state. Installing the result (manifest edit, new version, deleting the
//! inputs) is the caller's business (`db/compact.rs`). One thread runs a
//! job; several jobs may run at once on disjoint tables.
//!
//! Children of the merge, newest first: the L0 inputs one by one (the
//! version keeps them newest first), or the sorted inputs of a deeper
//! level as one cursor; then the overlapped tables of the output level.
//!
//! Tombstones: the newest version of a key, if a tombstone no snapshot
//! needs, is dropped only when no level below the output holds a table
//! whose range covers the key ([`DeeperLevels`]), since an older version
//! there would otherwise resurface.

use super::output::{OutputWriter, VersionFilter};
use super::picker::Compaction;
use super::retention::Retention;
use crate::fs::FileSystem;
use crate::iter::level::LevelIter;
use crate::iter::merge::MergingIterator;
use crate::iter::InternalIterator;
use crate::options::{Options, LEVELS};
use crate::version::edit::TableMeta;
use crate::version::{TableHandle, Version};
use crate::Result;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

/// Versions merged between two checks for cancellation.
const CANCEL_CHECK_INTERVAL: u64 = 4096;

/// One compaction, with the tables it reads.
pub(crate) struct Job {
    /// What was picked.
    pub(crate) compaction: Compaction,
    /// The input tables, in their level's order.
    pub(crate) inputs: Vec<Arc<TableHandle>>,
    /// The overlapped tables of the output level, sorted by key.
    pub(crate) overlapping: Vec<Arc<TableHandle>>,
    /// The tables of each level below the output level.
    pub(crate) deeper: Vec<Vec<Arc<TableHandle>>>,
    /// The readers whose versions must be kept.
    pub(crate) retention: Retention,
}

/// Where and how a job writes.
pub(crate) struct JobEnv<'a> {
    pub(crate) fs: &'a dyn FileSystem,
    pub(crate) dir: &'a Path,
    pub(crate) options: &'a Options,
    /// Hands out fresh file numbers.
    pub(crate) new_id: &'a mut dyn FnMut() -> u64,
    /// Polled now and then; `true` abandons the job.
    pub(crate) cancelled: &'a dyn Fn() -> bool,
}

impl Job {
    /// The job for `compaction`, picked from `version`.
    ///
    /// Panics if `version` lacks a table the compaction names: picks and
    /// versions go together (both are read under the version lock).
    pub(crate) fn new(compaction: Compaction, version: &Version, retention: Retention) -> Job {
        let find = |level: usize, ids: &[u64]| -> Vec<Arc<TableHandle>> {
            let wanted: HashSet<u64> = ids.iter().copied().collect();
            let tables: Vec<_> = version
                .level(level)
                .iter()
                .filter(|t| wanted.contains(&t.meta.id))
                .cloned()
                .collect();
            assert_eq!(tables.len(), ids.len(), "picked tables are in the version");
            tables
        };
        let inputs = find(compaction.level, &compaction.inputs);
        let overlapping = find(compaction.output_level, &compaction.overlapping);
        let deeper = (compaction.output_level + 1..LEVELS)
            .map(|level| version.level(level).to_vec())
            .collect();
        Job {
            compaction,
            inputs,
            overlapping,
            deeper,
            retention,
        }
    }

    /// Bytes of every table the job reads.
    pub(crate) fn bytes_read(&self) -> u64 {
        let tables = self.inputs.iter().chain(&self.overlapping);
        tables.map(|t| t.meta.file_size).sum()
    }

    /// Merges the tables and writes the output (synced, directory too).
    /// Returns the new tables in key order, or `None` if cancelled (its
    /// files are then deleted, as they are on an error).
    pub(crate) fn run(&self, env: JobEnv<'_>) -> Result<Option<Vec<TableMeta>>> {
        let mut cursor = self.cursor();
        let mut filter = VersionFilter::new(&self.retention);
        let mut deeper = DeeperLevels::new(&self.deeper);
        let level = self.compaction.output_level;
        let table_size = env.options.table_size;
        let mut writer =
            OutputWriter::new(env.fs, env.dir, env.options, level, table_size, env.new_id);
        cursor.seek_to_first()?;
        let mut merged = 0u64;
        while cursor.valid() {
            merged += 1;
            if merged % CANCEL_CHECK_INTERVAL == 0 && (env.cancelled)() {
                return Ok(None); // dropping the writer deletes its files
            }
            let (key, seq, kind) = (cursor.key(), cursor.seq(), cursor.kind());
            if let Some(kept) = filter.keep(key, seq, kind, |key| !deeper.holds(key)) {
                writer.add(key, seq, kind, cursor.value(), kept)?;
            }
            cursor.next()?;
        }
        writer.finish().map(Some)
    }

    /// The merged cursor over every table read, newest source first.
    fn cursor(&self) -> MergingIterator {
        // One-off full scans of tables about to be deleted: none of their
        // blocks goes into the cache, which stays the readers'.
        let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
        if self.compaction.level == 0 {
            for handle in &self.inputs {
                children.push(Box::new(handle.table.iter_without_cache_fill()));
            }
        } else {
            let inputs = LevelIter::without_cache_fill(self.inputs.clone());
            children.push(Box::new(inputs));
        }
        if !self.overlapping.is_empty() {
            let overlapping = LevelIter::without_cache_fill(self.overlapping.clone());
            children.push(Box::new(overlapping));
        }
        MergingIterator::new(children)
    }
}

/// Answers "does a level below the output hold a table covering this
/// key?" for keys asked in ascending order, in amortised O(levels).
struct DeeperLevels<'a> {
    levels: &'a [Vec<Arc<TableHandle>>],
    /// Per level, the first table whose largest key is `>=` the last key
    /// asked about.
    positions: Vec<usize>,
}

impl<'a> DeeperLevels<'a> {
    fn new(levels: &'a [Vec<Arc<TableHandle>>]) -> DeeperLevels<'a> {
        DeeperLevels {
            levels,
            positions: vec![0; levels.len()],
        }
    }

    /// REQUIRES: `key` is `>=` every key asked about before.
    fn holds(&mut self, key: &[u8]) -> bool {
        let mut held = false;
        for (tables, position) in self.levels.iter().zip(&mut self.positions) {
            while tables
                .get(*position)
                .is_some_and(|t| t.meta.largest_key.as_slice() < key)
            {
                *position += 1;
            }
            held |= tables.get(*position).is_some_and(|t| t.meta.covers(key));
        }
        held
    }
}
