//! The compaction picker: which tables to compact next, decided from the
//! shape of a version alone.
//!
//! Every function here is pure: it reads per-level table metadata, the
//! options, the set of tables other compactions are already working on
//! ("busy") and the per-level round-robin cursors, and returns a
//! [`Compaction`] naming tables by id. No I/O, no locks; the caller
//! (`db/compact.rs`) owns the state and runs the job.
//!
//! # Scores
//! - L0: non-busy tables / `l0_compaction_trigger`.
//! - Lk (1 <= k < last): non-busy bytes / target(k), where target(1) =
//!   `l1_size` and target(k+1) = target(k) * `level_size_multiplier`.
//! - The last level is never the input of an automatic compaction.
//!
//! The level with the highest score >= 1 that has a pickable table wins.
//!
//! # Invariants of every pick
//! - L0 → L1 takes *every* L0 table and is picked only when no L0 table is
//!   busy, so a newer version of a key in L0 is never compacted below an
//!   older one left behind in L0.
//! - No pick names a busy table, among its inputs or its overlaps: two
//!   compactions running at once work on disjoint key ranges of every
//!   level they touch.
//! - A pick is a trivial move (files re-filed one level down, not
//!   rewritten) only if its inputs overlap nothing in the output level and
//!   do not overlap each other.

use crate::options::{Options, LEVELS};
use crate::version::edit::TableMeta;
use crate::version::TableHandle;
use std::collections::HashSet;
use std::sync::Arc;

/// The deepest level: compactions end here.
pub const LAST_LEVEL: usize = LEVELS - 1;

/// Anything that carries a table's metadata: the picker works on versions
/// (`Arc<TableHandle>`) and on plain fixtures (`TableMeta`) alike.
pub trait Shaped {
    /// The table's manifest record.
    fn meta(&self) -> &TableMeta;
}

impl Shaped for TableMeta {
    fn meta(&self) -> &TableMeta {
        self
    }
}

impl Shaped for Arc<TableHandle> {
    fn meta(&self) -> &TableMeta {
        &self.meta
    }
}

/// The options the picker reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PickerOptions {
    /// L0 tables that trigger an L0 → L1 compaction.
    pub l0_trigger: usize,
    /// Target bytes of L1.
    pub l1_size: u64,
    /// Each level below L1 targets this many times the bytes of the one above.
    pub multiplier: u64,
}

impl PickerOptions {
    /// The picker's view of `options`.
    pub fn new(options: &Options) -> PickerOptions {
        PickerOptions {
            l0_trigger: options.l0_compaction_trigger,
            l1_size: options.l1_size,
            multiplier: options.level_size_multiplier,
        }
    }

    /// The target bytes of `level` (REQUIRES: `level >= 1`).
    pub fn target_bytes(&self, level: usize) -> u64 {
        assert!(level >= 1, "L0 has a table-count trigger, not a size");
        (1..level).fold(self.l1_size, |size, _| size.saturating_mul(self.multiplier))
    }
}

/// One compaction to run: tables by id, per level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compaction {
    /// The level the inputs come from.
    pub level: usize,
    /// Ids of the input tables, in `level`'s order.
    pub inputs: Vec<u64>,
    /// The level the output goes to (`level + 1`, or `level` for an
    /// in-place rewrite of the last level).
    pub output_level: usize,
    /// Ids of the tables of `output_level` whose key ranges intersect the
    /// inputs'; they are merged with the inputs and replaced.
    pub overlapping: Vec<u64>,
    /// The inputs move to `output_level` as they are.
    pub trivial_move: bool,
    /// The largest key of the inputs: the level's round-robin cursor moves
    /// here once the compaction is chosen.
    pub cursor: Vec<u8>,
}

impl Compaction {
    /// Every table the compaction consumes, with its level.
    pub fn consumed(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        let inputs = self.inputs.iter().map(|&id| (self.level, id));
        let overlapping = self.overlapping.iter().map(|&id| (self.output_level, id));
        inputs.chain(overlapping)
    }
}

/// Each level's score (see the module doc), for every level but the last.
pub fn scores<T: Shaped>(
    levels: &[&[T]],
    options: &PickerOptions,
    busy: &HashSet<u64>,
) -> Vec<(usize, f64)> {
    let idle = |t: &&T| !busy.contains(&t.meta().id);
    let mut scores = Vec::with_capacity(LAST_LEVEL);
    for (level, tables) in levels.iter().enumerate().take(LAST_LEVEL) {
        let score = if level == 0 {
            tables.iter().filter(idle).count() as f64 / options.l0_trigger.max(1) as f64
        } else {
            let bytes: u64 = tables.iter().filter(idle).map(|t| t.meta().file_size).sum();
            bytes as f64 / options.target_bytes(level).max(1) as f64
        };
        scores.push((level, score));
    }
    scores
}

/// The next automatic compaction, if any level's score reaches 1 and one
/// of its tables can be compacted without touching a busy table.
/// `cursors[level]` is the largest key of the table last picked from that
/// level (empty: start from the first).
pub fn pick<T: Shaped>(
    levels: &[&[T]],
    options: &PickerOptions,
    busy: &HashSet<u64>,
    cursors: &[Vec<u8>],
) -> Option<Compaction> {
    let mut scored = scores(levels, options, busy);
    // Highest score first; on a tie, the shallower level.
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored
        .into_iter()
        .take_while(|&(_, score)| score >= 1.0)
        .find_map(|(level, _)| match level {
            0 => pick_l0(levels, busy),
            _ => {
                let cursor = cursors.get(level).map(Vec::as_slice).unwrap_or(&[]);
                pick_in_level(levels, level, busy, cursor)
            }
        })
}

/// Every L0 table into L1, if none of them and none of the L1 tables they
/// overlap is busy.
fn pick_l0<T: Shaped>(levels: &[&[T]], busy: &HashSet<u64>) -> Option<Compaction> {
    let l0 = levels[0];
    if l0.is_empty() || l0.iter().any(|t| busy.contains(&t.meta().id)) {
        return None;
    }
    let inputs: Vec<&TableMeta> = l0.iter().map(Shaped::meta).collect();
    let (smallest, largest) = key_range(&inputs);
    let overlapping = overlapping(levels[1], smallest, largest);
    if overlapping.iter().any(|id| busy.contains(id)) {
        return None;
    }
    let trivial_move = overlapping.is_empty() && pairwise_disjoint(&inputs);
    Some(Compaction {
        level: 0,
        inputs: inputs.iter().map(|t| t.id).collect(),
        output_level: 1,
        overlapping,
        trivial_move,
        cursor: largest.to_vec(),
    })
}

/// One table of sorted `level` (>= 1) into the next, chosen round-robin:
/// the first table after `cursor` that can go, wrapping around.
fn pick_in_level<T: Shaped>(
    levels: &[&[T]],
    level: usize,
    busy: &HashSet<u64>,
    cursor: &[u8],
) -> Option<Compaction> {
    let tables = levels[level];
    let next = levels[level + 1];
    let start = tables.partition_point(|t| t.meta().smallest_key.as_slice() <= cursor);
    let order = (start..tables.len()).chain(0..start);
    order.map(|i| tables[i].meta()).find_map(|table| {
        if busy.contains(&table.id) {
            return None;
        }
        let overlapping = overlapping(next, &table.smallest_key, &table.largest_key);
        if overlapping.iter().any(|id| busy.contains(id)) {
            return None;
        }
        Some(Compaction {
            level,
            inputs: vec![table.id],
            output_level: level + 1,
            trivial_move: overlapping.is_empty(),
            overlapping,
            cursor: table.largest_key.clone(),
        })
    })
}

/// A manual compaction of every table of `level` (< last) into the next
/// level, merged with every table there that their key range meets. Never
/// a trivial move: a manual compaction also collects garbage. `None` when
/// `level` is empty or a table it needs is busy.
pub fn manual<T: Shaped>(levels: &[&[T]], level: usize, busy: &HashSet<u64>) -> Option<Compaction> {
    assert!(level < LAST_LEVEL, "the last level has no level below it");
    let inputs: Vec<&TableMeta> = levels[level].iter().map(Shaped::meta).collect();
    if inputs.is_empty() {
        return None;
    }
    let (smallest, largest) = key_range(&inputs);
    let overlapping = overlapping(levels[level + 1], smallest, largest);
    let all = inputs.iter().map(|t| &t.id).chain(&overlapping);
    if all.clone().any(|id| busy.contains(id)) {
        return None;
    }
    Some(Compaction {
        level,
        inputs: inputs.iter().map(|t| t.id).collect(),
        output_level: level + 1,
        overlapping,
        trivial_move: false,
        cursor: largest.to_vec(),
    })
}

/// An in-place rewrite of the tables of `level` that may hold garbage:
/// tombstones, or (the ids in `suspect`) versions kept for snapshots live
/// when they were written. Tables in `fresh` were just written by the
/// same manual compaction and are left alone. When `level` is the deepest
/// holding data, the rewrite drops every tombstone and every version no
/// snapshot needs any more. `None` when no table qualifies.
pub fn garbage_rewrite<T: Shaped>(
    levels: &[&[T]],
    level: usize,
    fresh: &HashSet<u64>,
    suspect: &HashSet<u64>,
) -> Option<Compaction> {
    let wanted =
        |t: &TableMeta| !fresh.contains(&t.id) && (t.tombstones > 0 || suspect.contains(&t.id));
    let tables: Vec<&TableMeta> = levels[level].iter().map(Shaped::meta).collect();
    let first = tables.iter().position(|t| wanted(t))?;
    let last = tables.iter().rposition(|t| wanted(t))?;
    let inputs: Vec<&TableMeta> = tables[first..=last].to_vec();
    Some(Compaction {
        level,
        inputs: inputs.iter().map(|t| t.id).collect(),
        output_level: level,
        overlapping: Vec::new(),
        trivial_move: false,
        cursor: key_range(&inputs).1.to_vec(),
    })
}

/// The deepest level holding a table, or `None` when there is none.
pub fn deepest_nonempty<T: Shaped>(levels: &[&[T]]) -> Option<usize> {
    levels.iter().rposition(|tables| !tables.is_empty())
}

/// The smallest and largest keys of `tables` (REQUIRES: not empty).
fn key_range<'a>(tables: &[&'a TableMeta]) -> (&'a [u8], &'a [u8]) {
    let smallest = tables.iter().map(|t| t.smallest_key.as_slice()).min();
    let largest = tables.iter().map(|t| t.largest_key.as_slice()).max();
    (
        smallest.expect("tables is not empty"),
        largest.expect("tables is not empty"),
    )
}

/// Ids of the tables of sorted, non-overlapping `level` whose ranges meet
/// `[smallest, largest]`.
pub fn overlapping<T: Shaped>(level: &[T], smallest: &[u8], largest: &[u8]) -> Vec<u64> {
    let first = level.partition_point(|t| t.meta().largest_key.as_slice() < smallest);
    let end = level.partition_point(|t| t.meta().smallest_key.as_slice() <= largest);
    level
        .get(first..end.max(first))
        .unwrap_or_default()
        .iter()
        .map(|t| t.meta().id)
        .collect()
}

/// Whether no two of `tables` have intersecting key ranges.
fn pairwise_disjoint(tables: &[&TableMeta]) -> bool {
    let mut sorted = tables.to_vec();
    sorted.sort_by(|a, b| a.smallest_key.cmp(&b.smallest_key));
    sorted
        .windows(2)
        .all(|pair| pair[0].largest_key < pair[1].smallest_key)
}

#[cfg(test)]
mod tests;
