//! `Db::compact`: compact everything down, in the caller's thread.
//!
//! Steps: flush every memtable; pause automatic picks and wait for running
//! jobs; merge each level into the next (every table of the level, with
//! every table of the next its key range meets), down to the deepest level
//! holding data, where tombstones and versions no snapshot needs are
//! dropped; finally rewrite the tables of that level that may still hold
//! garbage (tombstones, or versions once kept for snapshots now released).
//! Writes go on meanwhile (and may meet backpressure, since automatic
//! compaction waits). Concurrent calls run one after the other.

use super::{execute, levels_of, mark_busy, Busy};
use crate::compaction::picker::{self, Compaction, LAST_LEVEL};
use crate::db::DbInner;
use crate::version::Version;
use crate::Result;
use std::collections::HashSet;

/// Compacts everything down (see the module doc) and waits.
pub(crate) fn compact_all(inner: &DbInner) -> Result<()> {
    inner.flush_and_wait()?;
    let _manual = inner.compaction.manual.lock();
    {
        let mut state = inner.compaction.state.lock();
        state.paused += 1;
        while state.running > 0 {
            inner.compaction.idle.wait(&mut state);
        }
    }
    let result = manual_steps(inner);
    inner.compaction.state.lock().paused -= 1;
    inner.wake_background();
    result
}

fn manual_steps(inner: &DbInner) -> Result<()> {
    let current = || inner.versions.lock().current.clone();
    let version = current();
    let Some(deepest) = picker::deepest_nonempty(&levels_of(&version)) else {
        return Ok(()); // no tables at all
    };
    let target = deepest.clamp(1, LAST_LEVEL);
    let mut fresh = HashSet::new();
    for level in 0..target {
        let version = current();
        let busy = HashSet::new();
        if let Some(compaction) = picker::manual(&levels_of(&version), level, &busy) {
            fresh = run_manual(inner, &compaction, &version)?;
        }
    }
    let version = current();
    let suspect = inner.compaction.state.lock().suspect.clone();
    let levels = levels_of(&version);
    if let Some(compaction) = picker::garbage_rewrite(&levels, target, &fresh, &suspect) {
        run_manual(inner, &compaction, &version)?;
    }
    Ok(())
}

/// Runs one manual compaction in the caller's thread.
fn run_manual(inner: &DbInner, compaction: &Compaction, version: &Version) -> Result<HashSet<u64>> {
    mark_busy(&mut inner.compaction.state.lock(), compaction);
    let result = {
        let _busy = Busy(inner, compaction);
        execute(inner, compaction, version)
    };
    Ok(result?.into_iter().collect())
}
