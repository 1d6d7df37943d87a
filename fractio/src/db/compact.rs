//! Compaction in the database: the background threads, installing a
//! compaction's result, `Db::compact`, and write backpressure.
//!
//! # Threads and locks
//! - `compaction_threads` threads loop: pick (under `versions`, then the
//!   [`Compactor`] state lock), mark the picked tables busy, run the job
//!   with no lock held, install, unmark. They sleep on `background_cv`
//!   and wake when a flush or a compaction installs a version.
//! - Installing follows the flush's order: manifest edit (synced) →
//!   `Version::apply` → new super version under the commit lock → drop the
//!   version lock → only then delete the consumed files. Readers holding
//!   the old version keep its tables open, so deleting is safe.
//! - Lock order: `versions` → compactor state; `versions` → `write`.
//!   Nothing here takes `write` while holding the compactor state or
//!   `background`.
//! - [`Db::compact`](crate::Db::compact) flushes, pauses automatic picks,
//!   waits for running jobs, and runs the manual steps in the caller's
//!   thread.
//!
//! # Backpressure
//! Every write checks one atomic flag ([`Compactor::throttled`]), set when
//! L0 holds `l0_slowdown_trigger` tables or more, or `max_sealed_memtables`
//! sealed memtables wait for a flush. When set, writes are rate-limited:
//! [`write_rate`] halves the allowed rate for each step of pressure, and
//! each write reserves its bytes in a token bucket, sleeping (with the
//! commit lock released) once it runs more than [`MIN_SLEEP`] ahead. Only
//! at `l0_stop_trigger` L0 tables do writes stop until compaction catches
//! up.
//!
//! # Crash safety
//! A crash before the manifest edit leaves unnamed output files (deleted
//! by the next `open`); after it, consumed files that were not yet deleted
//! (likewise). Either way the manifest names a complete set of tables.

use super::open::open_table;
use super::{DbInner, SuperVersion, WriteState};
use crate::compaction::job::{Job, JobEnv};
use crate::compaction::picker::{self, Compaction, PickerOptions, LAST_LEVEL};
use crate::options::{Options, LEVELS};
use crate::table::Table;
use crate::version::edit::{TableMeta, VersionEdit};
use crate::version::{TableHandle, Version};
use crate::{Error, Result};
use parking_lot::{Condvar, Mutex, MutexGuard};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The write rate allowed at the first step of slowdown: 64 MiB/s.
const SLOWDOWN_RATE: u64 = 64 << 20;
/// Halvings of the rate between the first step and the last before a stop.
const SLOWDOWN_STEPS: u64 = 8;
/// A writer sleeps only once the bucket runs this far ahead of the clock,
/// so delays are few sleeps of a millisecond or more, not a sleep a write.
const MIN_SLEEP: Duration = Duration::from_millis(1);
/// Sealed memtables: the active one's fill (per mille) from which writes
/// slow down while the flush is behind.
const MEMTABLE_SLOWDOWN_FILL: u64 = 500;
/// How long a compaction thread sleeps when it has nothing to do and is
/// not woken (a safety net: installs wake it).
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// The longest pause after a failed compaction before it is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The compaction side of a database: who is compacting what, the
/// backpressure inputs, and counters. A field of `DbInner`.
pub(crate) struct Compactor {
    /// Set while writes must be throttled (see the module doc).
    throttled: AtomicBool,
    l0_tables: AtomicUsize,
    sealed_memtables: AtomicUsize,
    state: Mutex<State>,
    /// Signalled when a job ends.
    idle: Condvar,
    /// Serialises `Db::compact` calls.
    manual: Mutex<()>,
    /// The token bucket: when the bytes reserved so far are paid for.
    bucket: Mutex<Instant>,
    pub(crate) trivial_moves: AtomicU64,
    pub(crate) slowdowns: AtomicU64,
    pub(crate) slowdown_micros: AtomicU64,
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
            throttled: AtomicBool::new(false),
            l0_tables: AtomicUsize::new(0),
            sealed_memtables: AtomicUsize::new(0),
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
            bucket: Mutex::new(Instant::now()),
            trivial_moves: AtomicU64::new(0),
            slowdowns: AtomicU64::new(0),
            slowdown_micros: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }
}

impl Compactor {
    /// Whether writes must go through the backpressure path: one load.
    #[inline]
    pub(crate) fn throttled(&self) -> bool {
        self.throttled.load(Ordering::Relaxed)
    }

    /// Records the shape of a newly stored super version.
    /// REQUIRES: called under the commit lock, right after the store, so
    /// that notes happen in the order of the stores.
    pub(crate) fn note(&self, super_version: &SuperVersion, options: &Options) {
        let l0 = super_version.version.level(0).len();
        let sealed = super_version.sealed.len();
        self.l0_tables.store(l0, Ordering::Relaxed);
        self.sealed_memtables.store(sealed, Ordering::Relaxed);
        let throttled = l0 >= options.l0_slowdown_trigger || sealed >= options.max_sealed_memtables;
        self.throttled.store(throttled, Ordering::Relaxed);
    }

    /// L0 tables and sealed memtables as last noted.
    pub(crate) fn shape(&self) -> (usize, usize) {
        (
            self.l0_tables.load(Ordering::Relaxed),
            self.sealed_memtables.load(Ordering::Relaxed),
        )
    }

    /// Running jobs and the last failure of an automatic compaction.
    pub(crate) fn activity(&self) -> (usize, Option<String>) {
        let state = self.state.lock();
        (state.running, state.last_error.clone())
    }

    /// Reserves `bytes` at `rate` bytes/s; returns how long the writer
    /// must wait for them.
    fn reserve(&self, bytes: usize, rate: u64) -> Duration {
        let now = Instant::now();
        let mut paid_until = self.bucket.lock();
        let cost = Duration::from_nanos((bytes as u64).saturating_mul(1_000_000_000) / rate.max(1));
        *paid_until = (*paid_until).max(now) + cost;
        paid_until.saturating_duration_since(now)
    }
}

/// The write rate (bytes/s) allowed with `l0` tables in L0, `sealed`
/// memtables waiting for a flush and the active one `fill` per mille
/// full, or `None` for no limit. Each step of pressure halves the rate.
pub(crate) fn write_rate(l0: usize, sealed: usize, fill: u64, options: &Options) -> Option<u64> {
    let mut steps = 0;
    if l0 >= options.l0_slowdown_trigger {
        let span = (options.l0_stop_trigger - options.l0_slowdown_trigger) as u64;
        let over = (l0 - options.l0_slowdown_trigger) as u64;
        steps = 1 + over * SLOWDOWN_STEPS / span.max(1);
    }
    if sealed >= options.max_sealed_memtables && fill >= MEMTABLE_SLOWDOWN_FILL {
        let over = fill.min(1000) - MEMTABLE_SLOWDOWN_FILL;
        steps = steps.max(1 + over * SLOWDOWN_STEPS / (1000 - MEMTABLE_SLOWDOWN_FILL));
    }
    (steps > 0).then(|| SLOWDOWN_RATE >> (steps - 1).min(SLOWDOWN_STEPS))
}

impl DbInner {
    /// Backpressure for a write of `bytes` bytes: stops while L0 is at the
    /// stop trigger, then delays by the token bucket. REQUIRES: the commit
    /// lock is held (`state`); it is released while sleeping.
    pub(super) fn throttle_write(
        &self,
        state: &mut MutexGuard<'_, WriteState>,
        bytes: usize,
    ) -> Result<()> {
        self.stop_while_l0_full(state)?;
        let (l0, sealed) = self.compaction.shape();
        let fill =
            (state.active.memory_used() as u64 * 1000) / state.active.capacity().max(1) as u64;
        let Some(rate) = write_rate(l0, sealed, fill, &self.options) else {
            return Ok(());
        };
        let wait = self.compaction.reserve(bytes, rate);
        if wait >= MIN_SLEEP {
            MutexGuard::unlocked(state, || std::thread::sleep(wait));
            let counters = &self.compaction;
            counters.slowdowns.fetch_add(1, Ordering::Relaxed);
            let micros = wait.as_micros() as u64;
            counters
                .slowdown_micros
                .fetch_add(micros, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Waits (the commit lock released) while L0 holds `l0_stop_trigger`
    /// tables or more; counted as a stall.
    fn stop_while_l0_full(&self, state: &mut MutexGuard<'_, WriteState>) -> Result<()> {
        let mut stopped = None;
        while self.compaction.shape().0 >= self.options.l0_stop_trigger {
            self.check_writable()?;
            if let Some(error) = self.background.lock().error.clone() {
                return Err(Error::ReadOnly(error));
            }
            stopped.get_or_insert_with(Instant::now);
            self.wake_background();
            self.write_room.wait_for(state, Duration::from_millis(50));
        }
        if let Some(started) = stopped {
            self.counters.stalls.fetch_add(1, Ordering::Relaxed);
            let micros = started.elapsed().as_micros() as u64;
            self.counters
                .stall_micros
                .fetch_add(micros, Ordering::Relaxed);
        }
        Ok(())
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
        let result = execute(inner, &compaction, &version);
        release(inner, &compaction);
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
        .map(|meta| {
            Ok((
                meta.id,
                open_table(&*inner.fs, &inner.dir, meta, &inner.cache)?,
            ))
        })
        .collect::<Result<HashMap<_, _>>>();
    if opened.is_err() {
        delete_tables(inner, outputs.iter().map(|t| t.id));
    }
    opened
}

/// Records the compaction in the manifest, installs the new version, then
/// deletes the consumed files. `outputs` (opened in `opened`) go to the
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
                opened.insert(handle.meta.id, handle.table.clone());
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
    if let Err(error) = versions.manifest.append(&edit) {
        return Err(inner.fail_writes("manifest write", error));
    }
    let version = current.apply(&edit, |meta| {
        opened
            .remove(&meta.id)
            .ok_or_else(|| Error::InvalidArgument(format!("table {} was not opened", meta.id)))
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
        delete_tables(inner, compaction.consumed().map(|(_, id)| id));
    }
    Ok(added.iter().map(|m| m.id).collect())
}

fn delete_tables(inner: &DbInner, ids: impl Iterator<Item = u64>) {
    for id in ids {
        let path = inner.dir.join(crate::compaction::output::table_name(id));
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

/// `Db::compact`: flushes every memtable, then merges every level into the
/// next, down to the deepest level holding data, and finally rewrites the
/// tables of that level that may still hold garbage (tombstones, or
/// versions kept for snapshots since released). Automatic compaction
/// pauses meanwhile; writes go on (and may meet backpressure).
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
    let result = execute(inner, compaction, version);
    release(inner, compaction);
    Ok(result?.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_halves_per_step_of_pressure() {
        let options = Options::default(); // slowdown 12, stop 20, 2 sealed
        assert_eq!(write_rate(11, 1, 999, &options), None);
        assert_eq!(write_rate(12, 0, 0, &options), Some(SLOWDOWN_RATE));
        assert_eq!(write_rate(13, 0, 0, &options), Some(SLOWDOWN_RATE / 2));
        assert_eq!(write_rate(19, 0, 0, &options), Some(SLOWDOWN_RATE >> 7));
        // Sealed memtables at the limit: slower as the active one fills.
        assert_eq!(write_rate(0, 2, 499, &options), None);
        assert_eq!(write_rate(0, 2, 500, &options), Some(SLOWDOWN_RATE));
        assert_eq!(write_rate(0, 2, 750, &options), Some(SLOWDOWN_RATE >> 4));
        assert_eq!(write_rate(0, 2, 1000, &options), Some(SLOWDOWN_RATE >> 8));
        // The stronger pressure wins.
        assert_eq!(write_rate(13, 2, 750, &options), Some(SLOWDOWN_RATE >> 4));
    }

    #[test]
    fn the_bucket_makes_writers_wait_only_when_ahead() {
        let compactor = Compactor::default();
        // 1 KiB at 1 MiB/s costs ~1 ms; the first write pays it alone.
        let first = compactor.reserve(1 << 10, 1 << 20);
        assert!(first <= Duration::from_millis(1), "{first:?}");
        let mut last = first;
        for _ in 0..9 {
            last = compactor.reserve(1 << 10, 1 << 20);
        }
        // Ten writes back to back run ~10 ms ahead of the clock.
        assert!(last >= Duration::from_millis(8), "{last:?}");
    }
}
