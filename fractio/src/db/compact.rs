//! Compaction in the database: the background threads, installing a
//! compaction's result, and the [`Compactor`] state they share.
//! [`backpressure`] slows writes down when compaction falls behind;
//! [`manual`] is `Db::compact`.
//!
//! # Threads and locks
//! - `compaction_threads` threads loop: pick (under `versions`, then the
//!   compactor's state lock), mark the picked tables busy, run the job with
//!   no lock held, install, unmark. They sleep on `background_cv` and wake
//!   when a flush or a compaction installs a version.
//! - Installing follows the flush's order: manifest edit (synced) →
//!   `Version::apply` → new super version under the commit lock → drop the
//!   version lock → only then delete the consumed files. Readers holding
//!   the old version keep its tables open, so deleting is safe.
//! - Lock order: `versions` → compactor state; `versions` → `write`.
//!   Nothing here takes `write` while holding the compactor state or
//!   `background`.
//! - Picks are made from the current version under `versions`, so a pick
//!   never misses a table another compaction installed; busy tables are
//!   never picked twice, so running jobs work on disjoint key ranges.
//!
//! # Crash safety
//! A crash before the manifest edit leaves unnamed output files (deleted
//! by the next `open`); after it, consumed files that were not yet deleted
//! (likewise). Either way the manifest names a complete set of tables.

mod backpressure;
mod manual;

pub(crate) use manual::compact_all;

use super::{DbInner, SuperVersion};
use crate::compaction::job::{Job, JobEnv};
use crate::compaction::picker::{self, Compaction, PickerOptions};
use crate::options::{Options, LEVELS};
use crate::table::{table_file_name, Table};
use crate::version::edit::{TableMeta, VersionEdit};
use crate::version::{TableHandle, Version};
use crate::{Error, Result};
use backpressure::Throttle;
use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a compaction thread sleeps when it has nothing to do and is
/// not woken (a safety net: installs wake it).
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// The longest pause after a failed compaction before it is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The compaction side of a database: who is compacting what, the
/// backpressure state, and counters. A field of `DbInner`.
pub(crate) struct Compactor {
    pub(crate) throttle: Throttle,
    state: Mutex<State>,
    /// Signalled when a job ends.
    idle: Condvar,
    /// Serialises `Db::compact` calls.
    manual: Mutex<()>,
    pub(crate) trivial_moves: AtomicU64,
    pub(crate) failures: AtomicU64,
}

struct State {
    /// Ids of the tables running jobs consume.
    busy: HashSet<u64>,
    running: usize,
    /// Per level, the largest key of the table last picked.
    cursors: Vec<Vec<u8>>,
    /// `Db::compact` calls waiting or running: no automatic picks.
    paused: usize,
    /// Automatic compactions failed in a row, and the last error.
    failures_in_row: u32,
    last_error: Option<String>,
    /// Live tables a compaction wrote while snapshots lived: they may hold
    /// versions kept only for those snapshots (see `Db::compact`).
    suspect: HashSet<u64>,
}

impl Default for Compactor {
    fn default() -> Compactor {
        Compactor {
            throttle: Throttle::default(),
            state: Mutex::new(State {
                busy: HashSet::new(),
                running: 0,
                cursors: vec![Vec::new(); LEVELS],
                paused: 0,
                failures_in_row: 0,
                last_error: None,
                suspect: HashSet::new(),
            }),
            idle: Condvar::new(),
            manual: Mutex::new(()),
            trivial_moves: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }
}

impl Compactor {
    /// Whether writes must take the backpressure path: one relaxed load.
    #[inline]
    pub(crate) fn throttled(&self) -> bool {
        self.throttle.throttled()
    }

    /// Records the shape of a newly stored super version (L0 tables,
    /// sealed memtables) for backpressure. REQUIRES: called under the
    /// commit lock, right after the store.
    pub(crate) fn note(&self, super_version: &SuperVersion, options: &Options) {
        self.throttle.note(super_version, options);
    }

    /// Running jobs and the last failure of an automatic compaction.
    pub(crate) fn activity(&self) -> (usize, Option<String>) {
        let state = self.state.lock();
        (state.running, state.last_error.clone())
    }
}

/// Starts the compaction threads, adding them to `threads`.
pub(crate) fn start(inner: &Arc<DbInner>, threads: &mut Vec<JoinHandle<()>>) -> Result<()> {
    {
        let _state = inner.write.lock();
        inner
            .compaction
            .note(&inner.super_version.load(), &inner.options);
    }
    for i in 0..inner.options.compaction_threads {
        let inner = inner.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fractio-compact-{i}"))
            .spawn(move || run(&inner))
            .map_err(Error::Io)?;
        threads.push(thread);
    }
    Ok(())
}

/// A compaction thread's loop: pick, run, install; sleep when there is
/// nothing to do; back off after a failure; stop at shutdown.
fn run(inner: &Arc<DbInner>) {
    loop {
        let epoch = {
            let background = inner.background.lock();
            if background.shutdown {
                return;
            }
            background.work_epoch
        };
        let Some((compaction, version)) = claim(inner) else {
            let mut background = inner.background.lock();
            if !background.shutdown && background.work_epoch == epoch {
                inner.background_cv.wait_for(&mut background, IDLE_WAIT);
            }
            continue;
        };
        let result = {
            let _busy = Busy(inner, &compaction);
            execute(inner, &compaction, &version)
        };
        match result {
            Ok(_) => inner.compaction.state.lock().failures_in_row = 0,
            Err(error) => {
                if inner.read_only.load(Ordering::Relaxed) {
                    let reason = format!("compaction failed: {error}");
                    inner.background.lock().error.get_or_insert(reason);
                    inner.write_room.notify_all();
                    return;
                }
                back_off(inner, &error);
            }
        }
    }
}

/// Picks an automatic compaction and marks its tables busy.
fn claim(inner: &DbInner) -> Option<(Compaction, Arc<Version>)> {
    if inner.read_only.load(Ordering::Relaxed) {
        return None;
    }
    let versions = inner.versions.lock();
    let version = versions.current.clone();
    let mut state = inner.compaction.state.lock();
    if state.paused > 0 {
        return None;
    }
    let levels = levels_of(&version);
    let options = PickerOptions::new(&inner.options);
    let compaction = picker::pick(&levels, &options, &state.busy, &state.cursors)?;
    state.cursors[compaction.level] = compaction.cursor.clone();
    mark_busy(&mut state, &compaction);
    drop(state);
    drop(versions);
    Some((compaction, version))
}

fn mark_busy(state: &mut State, compaction: &Compaction) {
    for (_, id) in compaction.consumed() {
        let fresh = state.busy.insert(id);
        assert!(fresh, "table {id} picked by two compactions");
    }
    state.running += 1;
}

/// Releases a compaction's tables when dropped — also when the job
/// panics — so `compact()` and the pickers never wait for a job that died.
pub(super) struct Busy<'a>(pub(super) &'a DbInner, pub(super) &'a Compaction);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        release(self.0, self.1);
    }
}

/// Unmarks a finished compaction's tables and wakes whoever waits.
fn release(inner: &DbInner, compaction: &Compaction) {
    {
        let mut state = inner.compaction.state.lock();
        for (_, id) in compaction.consumed() {
            state.busy.remove(&id);
        }
        state.running -= 1;
    }
    inner.compaction.idle.notify_all();
    inner.wake_background();
}

/// Waits after a failed automatic compaction: 100 ms, doubling per
/// failure in a row up to [`MAX_BACKOFF`], or until shutdown.
fn back_off(inner: &DbInner, error: &Error) {
    let failures = {
        let mut state = inner.compaction.state.lock();
        state.failures_in_row = state.failures_in_row.saturating_add(1);
        state.last_error = Some(error.to_string());
        state.failures_in_row
    };
    inner.compaction.failures.fetch_add(1, Ordering::Relaxed);
    let pause = Duration::from_millis(100 << failures.min(7)).min(MAX_BACKOFF);
    let until = Instant::now() + pause;
    let mut background = inner.background.lock();
    while !background.shutdown && Instant::now() < until {
        inner.background_cv.wait_until(&mut background, until);
    }
}

fn levels_of(version: &Version) -> Vec<&[Arc<TableHandle>]> {
    (0..LEVELS).map(|level| version.level(level)).collect()
}

/// Runs `compaction` (picked from `version`, its tables marked busy) and
/// installs the result. Returns the ids of the tables it added.
fn execute(inner: &DbInner, compaction: &Compaction, version: &Version) -> Result<Vec<u64>> {
    if compaction.trivial_move {
        let moved = install(inner, compaction, Vec::new(), HashMap::new())?;
        inner
            .compaction
            .trivial_moves
            .fetch_add(1, Ordering::Relaxed);
        return Ok(moved);
    }
    let job = Job::new(compaction.clone(), version, inner.retention());
    let mut new_id = || inner.next_file.fetch_add(1, Ordering::Relaxed);
    let cancelled = || inner.background.lock().shutdown;
    let env = JobEnv {
        fs: &*inner.fs,
        dir: &inner.dir,
        options: &inner.options,
        new_id: &mut new_id,
        cancelled: &cancelled,
    };
    let Some(outputs) = job.run(env)? else {
        return Ok(Vec::new()); // shutting down; the inputs stay
    };
    let written: u64 = outputs.iter().map(|t| t.file_size).sum();
    let opened = open_outputs(inner, &outputs)?;
    let added = install(inner, compaction, outputs, opened)?;
    if !job.retention.snapshots.is_empty() {
        inner.compaction.state.lock().suspect.extend(&added);
    }
    let counters = &inner.counters;
    counters.compactions.fetch_add(1, Ordering::Relaxed);
    let read = job.bytes_read();
    counters
        .compaction_bytes_read
        .fetch_add(read, Ordering::Relaxed);
    counters
        .compaction_bytes_written
        .fetch_add(written, Ordering::Relaxed);
    Ok(added)
}

/// Opens the output tables before the version lock is taken. On an error
/// the outputs are deleted (no manifest names them yet).
fn open_outputs(inner: &DbInner, outputs: &[TableMeta]) -> Result<HashMap<u64, Arc<Table>>> {
    let opened = outputs
        .iter()
        .map(|meta| Ok((meta.id, inner.tables.open_file(meta)?)))
        .collect::<Result<HashMap<_, _>>>();
    if opened.is_err() {
        delete_tables(inner, outputs.iter().map(|t| t.id));
    }
    opened
}

/// Records the compaction in the manifest, installs the new version, then
/// marks the consumed tables obsolete (each file is deleted when the last
/// version naming it goes). `outputs` (opened in `opened`) go to the
/// output level; for a trivial move the inputs themselves do. Returns the
/// ids added to the output level.
fn install(
    inner: &DbInner,
    compaction: &Compaction,
    outputs: Vec<TableMeta>,
    mut opened: HashMap<u64, Arc<Table>>,
) -> Result<Vec<u64>> {
    let mut versions = inner.versions.lock();
    let current = versions.current.clone();
    let mut added = outputs;
    if compaction.trivial_move {
        for handle in current.level(compaction.level) {
            if compaction.inputs.contains(&handle.meta.id) {
                added.push(handle.meta.clone());
            }
        }
    }
    let edit = VersionEdit {
        next_file_number: Some(inner.next_file.load(Ordering::Relaxed)),
        added: added
            .iter()
            .map(|m| (compaction.output_level, m.clone()))
            .collect(),
        deleted: compaction.consumed().collect(),
        ..VersionEdit::default()
    };
    versions.record(inner, &edit)?;
    // A trivially moved table keeps its handle; outputs get new ones.
    let version = current.apply(&edit, |meta| {
        let table = opened
            .remove(&meta.id)
            .ok_or_else(|| Error::InvalidArgument(format!("table {} was not opened", meta.id)))?;
        inner.tables.handle(meta.clone(), Some(table))
    })?;
    debug_assert!(
        levels_are_disjoint(&version),
        "compaction broke a level's order"
    );
    let version = Arc::new(version);
    versions.current = version.clone();
    {
        let _state = inner.write.lock();
        let current = inner.super_version.load_full();
        let next = Arc::new(SuperVersion {
            active: current.active.clone(),
            sealed: current.sealed.clone(),
            version,
            active_sealed_at: current.active_sealed_at.clone(),
        });
        inner.compaction.note(&next, &inner.options);
        inner.super_version.store(next);
    }
    drop(versions);
    inner.write_room.notify_all();
    if !compaction.trivial_move {
        let mut state = inner.compaction.state.lock();
        for (_, id) in compaction.consumed() {
            state.suspect.remove(&id);
        }
        drop(state);
        // Each file goes when the last version naming it does: readers of
        // older versions may still open it.
        for (level, id) in compaction.consumed() {
            if let Some(handle) = current.level(level).iter().find(|t| t.meta.id == id) {
                handle.mark_obsolete();
            }
        }
    }
    Ok(added.iter().map(|m| m.id).collect())
}

fn delete_tables(inner: &DbInner, ids: impl Iterator<Item = u64>) {
    for id in ids {
        let path = inner.dir.join(table_file_name(id));
        // A file that cannot be deleted now is deleted at the next open.
        let _ = inner.fs.remove_file(&path);
    }
}

/// Whether every level below L0 is sorted with disjoint ranges.
fn levels_are_disjoint(version: &Version) -> bool {
    (1..LEVELS).all(|level| {
        let tables = version.level(level);
        tables
            .windows(2)
            .all(|pair| pair[0].meta.largest_key < pair[1].meta.smallest_key)
    })
}
