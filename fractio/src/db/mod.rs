//! [`Db`]: the database handle, its public API, and the commit path.
//!
//! # Threads and locks
//! - Readers take no lock: they load the visible sequence number (an
//!   atomic) and the current [`SuperVersion`] (an `ArcSwap`), then search
//!   the memtables and tables it names.
//! - Writers serialise on `write` (the commit lock) for: assigning sequence
//!   numbers, appending the log record (a copy into a mapped segment),
//!   inserting into the active memtable, and publishing the new visible
//!   sequence number. A `Sync` writer then syncs the log *outside* the lock,
//!   sharing the sync with every writer that appended meanwhile (group
//!   commit).
//! - A background flush thread writes sealed memtables to L0 tables; the
//!   version lock (`versions`) serialises manifest edits. Lock order:
//!   `versions` before `write`.
//!
//! # Invariants
//! - A write is visible (its sequence number `<= visible_seq`) only once all
//!   of its entries are in the memtable, and only after every lower sequence
//!   number is visible: `visible_seq` only moves under the commit lock.
//! - Every entry of the active memtable is in a log segment with id `>=`
//!   its `first_segment`; every sealed memtable's entries are in segments
//!   `>=` its own `first_segment`. Segments below the manifest's
//!   `log_number` hold nothing that is not in a table.

mod flush;
mod open;
mod prefault;
pub mod snapshot;
mod super_version;
// Compaction hooks: background compaction, `compact()`, `stats()`.
mod compact;
pub mod stats;

use crate::batch::{check_entry, encoded_entry_len, EntryDecoder, WriteBatch};
use crate::cache::BlockCache;
use crate::coding::encode_varint64;
use crate::fs::{FileLock, FileSystem};
use crate::iter::db_iter::{prefix_bounds, CursorSource, Iter};
use crate::memtable::Memtable;
use crate::options::{Compression, Durability, Options, RecoveryMode};
use crate::types::{SeqNo, ValueKind};
use crate::version::manifest::{self, ManifestWriter};
use crate::version::OpenTables;
use crate::version::{Version, VersionEdit};
use crate::wal::writer::{Appended, Segment, WalWriter};
use crate::{Error, Result, Slice, Value};
use arc_swap::ArcSwap;
use parking_lot::{Condvar, Mutex, MutexGuard};
use snapshot::{Snapshot, SnapshotList};
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
pub use super_version::{Sealed, SuperVersion};

pub use open::RecoveryReport;

/// An open database. Cheap to clone; `Send + Sync`; any number of threads
/// may read and write at once. The database closes when the last clone is
/// dropped (background work stops; everything written stays durable as
/// its [`Durability`] promised).
#[derive(Clone)]
pub struct Db {
    handle: Arc<Handle>,
}

/// Owns the background threads; dropping it stops them.
struct Handle {
    inner: Arc<DbInner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

pub(crate) struct DbInner {
    pub(crate) dir: PathBuf,
    pub(crate) options: Options,
    pub(crate) fs: Arc<dyn FileSystem>,
    pub(crate) cache: Arc<BlockCache>,
    /// Opens table files, keeping at most `max_open_tables` open.
    pub(crate) tables: Arc<OpenTables>,
    /// The memtables and tables readers search.
    pub(crate) super_version: ArcSwap<SuperVersion>,
    /// Writes up to this sequence number are visible.
    visible_seq: AtomicU64,
    /// The commit lock.
    pub(crate) write: Mutex<WriteState>,
    /// Signalled when a flush frees room for writers.
    pub(crate) write_room: Condvar,
    /// The manifest and current version; taken before `write`.
    pub(crate) versions: Mutex<VersionState>,
    /// The next unused file number.
    pub(crate) next_file: AtomicU64,
    pub(crate) snapshots: SnapshotList,
    /// Set after a failed log or manifest write: writes are refused.
    read_only: AtomicBool,
    read_only_reason: Mutex<String>,
    /// Wakes background threads.
    pub(crate) background: Mutex<BackgroundState>,
    pub(crate) background_cv: Condvar,
    pub(crate) recovery: RecoveryReport,
    /// The prefault thread's queue, until the thread takes it.
    pub(crate) prefault_jobs: Mutex<Option<std::sync::mpsc::Receiver<prefault::Job>>>,
    pub(crate) counters: Counters,
    /// Compaction hook: running compactions, backpressure inputs.
    pub(crate) compaction: compact::Compactor,
    _lock: Box<dyn FileLock>,
}

pub(crate) struct WriteState {
    pub(crate) last_seq: SeqNo,
    pub(crate) wal: WalWriter,
    pub(crate) active: Arc<Memtable>,
    /// The first log segment holding entries of the active memtable.
    pub(crate) active_first_segment: u64,
    /// Segments not yet deleted, oldest first.
    pub(crate) segments: Vec<Arc<Segment>>,
    /// Keeps the memory of the next writes prepared.
    pub(crate) ahead: prefault::Ahead,
}

pub(crate) struct VersionState {
    pub(crate) manifest: ManifestWriter,
    pub(crate) current: Arc<Version>,
    pub(crate) log_number: u64,
    /// The largest `last_seq` recorded in the manifest.
    pub(crate) last_seq: SeqNo,
}

impl VersionState {
    /// Records `edit` in the manifest (synced). When the manifest has grown
    /// past `Options::max_manifest_size`, a new one holding the current
    /// state as one edit replaces it first. A failure makes the database
    /// read-only: what the manifest on disk says is no longer known.
    pub(crate) fn record(&mut self, inner: &DbInner, edit: &VersionEdit) -> Result<()> {
        if self.manifest.bytes() > inner.options.max_manifest_size {
            self.roll(inner)
                .map_err(|e| inner.fail_writes("manifest rewrite", e))?;
        }
        self.manifest
            .append(edit)
            .map_err(|e| inner.fail_writes("manifest write", e))?;
        if let Some(seq) = edit.last_seq {
            self.last_seq = self.last_seq.max(seq);
        }
        Ok(())
    }

    /// Writes a new manifest holding the current state, points `CURRENT`
    /// at it and deletes the old one.
    fn roll(&mut self, inner: &DbInner) -> Result<()> {
        let id = inner.next_file.fetch_add(1, Ordering::Relaxed);
        let mut snapshot = self.current.snapshot_edit();
        snapshot.log_number = Some(self.log_number);
        snapshot.last_seq = Some(self.last_seq);
        snapshot.next_file_number = Some(id + 1);
        let manifest = ManifestWriter::create(&*inner.fs, &inner.dir, id, &snapshot)?;
        let old = std::mem::replace(&mut self.manifest, manifest);
        // A manifest that cannot be deleted now is deleted at the next open.
        let _ = inner
            .fs
            .remove_file(&inner.dir.join(manifest::manifest_name(old.id())));
        Ok(())
    }
}

#[derive(Default)]
pub(crate) struct BackgroundState {
    pub(crate) shutdown: bool,
    /// Bumped whenever work may be waiting.
    pub(crate) work_epoch: u64,
    /// Bumped after each finished flush.
    pub(crate) flushes_done: u64,
    pub(crate) error: Option<String>,
}

/// Cumulative counters, updated by background work.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) flushes: AtomicU64,
    pub(crate) flush_bytes: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) compaction_bytes_written: AtomicU64,
    pub(crate) compaction_bytes_read: AtomicU64,
    pub(crate) stall_micros: AtomicU64,
    pub(crate) stalls: AtomicU64,
}

/// Builds a [`Db`] with options.
pub struct DbBuilder {
    path: PathBuf,
    options: Options,
}

impl DbBuilder {
    /// Bytes a memtable takes before it is sealed (default 32 MiB).
    pub fn memtable_size(mut self, bytes: usize) -> DbBuilder {
        self.options.memtable_size = bytes;
        self
    }

    /// Durability of writes (default [`Durability::Process`]).
    pub fn durability(mut self, durability: Durability) -> DbBuilder {
        self.options.durability = durability;
        self
    }

    /// Bytes of the block cache (default 32 MiB).
    pub fn block_cache_size(mut self, bytes: usize) -> DbBuilder {
        self.options.block_cache_size = bytes;
        self
    }

    /// Compression of every level.
    pub fn compression(mut self, compression: Compression) -> DbBuilder {
        self.options.compression = vec![compression];
        self
    }

    /// What to do with a corrupted log (default [`RecoveryMode::Strict`]).
    pub fn recovery(mut self, mode: RecoveryMode) -> DbBuilder {
        self.options.recovery = mode;
        self
    }

    /// The file system (default the real one).
    pub fn fs(mut self, fs: Arc<dyn FileSystem>) -> DbBuilder {
        self.options.fs = fs;
        self
    }

    /// Changes any option.
    pub fn with(mut self, change: impl FnOnce(&mut Options)) -> DbBuilder {
        change(&mut self.options);
        self
    }

    /// Replaces all options.
    pub fn options(mut self, options: Options) -> DbBuilder {
        self.options = options;
        self
    }

    /// Opens (creating if missing) the database.
    pub fn open(self) -> Result<Db> {
        self.options.validate()?;
        let inner = Arc::new(open::open(&self.path, self.options)?);
        let flusher = {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("fractio-flush".into())
                .spawn(move || flush::run(&inner))
                .map_err(Error::Io)?
        };
        let jobs = inner.prefault_jobs.lock().take().expect("taken once");
        let prefaulter = std::thread::Builder::new()
            .name("fractio-prefault".into())
            .spawn(move || prefault::run(jobs))
            .map_err(Error::Io)?;
        let mut handle = Handle {
            inner,
            threads: Mutex::new(vec![flusher, prefaulter]),
        };
        // Compaction hook: on an error the dropped handle joins what started.
        compact::start(&handle.inner, handle.threads.get_mut())?;
        Ok(Db {
            handle: Arc::new(handle),
        })
    }
}

impl Db {
    /// Opens the database at `path` with default options, creating the
    /// directory if it is missing.
    pub fn open(path: impl AsRef<Path>) -> Result<Db> {
        Db::builder(path).open()
    }

    /// A builder for opening with options.
    pub fn builder(path: impl AsRef<Path>) -> DbBuilder {
        DbBuilder {
            path: path.as_ref().to_path_buf(),
            options: Options::default(),
        }
    }

    fn inner(&self) -> &Arc<DbInner> {
        &self.handle.inner
    }

    /// Sets `key` to `value`.
    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.inner()
            .commit_single(ValueKind::Value, key.as_ref(), value.as_ref())
    }

    /// Removes `key` (a no-op if it is absent).
    pub fn remove(&self, key: impl AsRef<[u8]>) -> Result<()> {
        self.inner()
            .commit_single(ValueKind::Tombstone, key.as_ref(), &[])
    }

    /// Applies every entry of `batch` atomically: readers and a restart see
    /// all of them or none.
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        self.inner().commit_batch(&batch)
    }

    /// The value of `key`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        self.inner().get_at(key.as_ref(), None)
    }

    /// `read` applied to the value of `key` (`None` without one), lent
    /// where it lies (a memtable, a cached block) instead of copied out:
    /// no copy, and no allocation for a value too long to be stored
    /// inline in a [`Value`]. `read` runs before the call returns, with
    /// the current state of the database pinned; a long `read` delays the
    /// release of memtables and tables replaced meanwhile.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let db = fractio::Db::open(dir.path())?;
    /// db.insert(b"key", b"value")?;
    /// assert_eq!(db.get_with(b"key", |value| value.map(<[u8]>::len))?, Some(5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_with<R>(
        &self,
        key: impl AsRef<[u8]>,
        read: impl FnOnce(Option<&[u8]>) -> R,
    ) -> Result<R> {
        self.inner().get_with_at(key.as_ref(), None, read)
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        self.inner().contains_at(key.as_ref(), None)
    }

    /// A point-in-time view.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(self.inner().clone())
    }

    /// The entries with keys in `range`, in key order (reverse with `.rev()`).
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter {
        self.inner().range_at(range, None)
    }

    /// The entries whose keys start with `prefix`.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Iter {
        let (lower, upper) = prefix_bounds(prefix.as_ref());
        self.inner().iter_at(lower, upper, None)
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> Iter {
        self.range::<&[u8], _>(..)
    }

    /// Makes everything written so far survive a power loss.
    pub fn persist(&self) -> Result<()> {
        let segments = self.inner().write.lock().segments.clone();
        for segment in segments {
            segment
                .sync_all()
                .map_err(|e| self.inner().fail_writes("log sync", e))?;
        }
        Ok(())
    }

    /// Writes every memtable to tables and waits until done.
    pub fn flush(&self) -> Result<()> {
        self.inner().flush_and_wait()
    }

    /// Compacts everything down: flushes every memtable, merges each level
    /// into the next down to the deepest level holding data (dropping every
    /// version and tombstone no snapshot needs), and waits until done.
    /// Automatic compaction pauses meanwhile; writes may go on.
    pub fn compact(&self) -> Result<()> {
        compact::compact_all(self.inner())
    }

    /// The tree's shape and the cumulative work of flushes and compactions.
    pub fn stats(&self) -> stats::Stats {
        self.inner().stats()
    }

    /// What `open` found in the log.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner().recovery
    }

    /// The directory of the database.
    pub fn path(&self) -> &Path {
        &self.inner().dir
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inner.write.lock().ahead.stop();
        self.inner.background.lock().shutdown = true;
        self.inner.background_cv.notify_all();
        self.inner.write_room.notify_all();
        for thread in self.threads.get_mut().drain(..) {
            let _ = thread.join();
        }
    }
}

impl DbInner {
    #[inline]
    pub(crate) fn visible_seq(&self) -> SeqNo {
        self.visible_seq.load(Ordering::Acquire)
    }

    /// Runs `read` on a super version that holds every write up to the
    /// reader's sequence number (`seq`, or the visible one, read after the
    /// super version was loaded so a flush cannot hide a version from it).
    #[inline]
    fn read<T>(&self, seq: Option<SeqNo>, read: impl FnOnce(&SuperVersion, SeqNo) -> T) -> T {
        loop {
            let super_version = self.super_version.load();
            let seq = seq.unwrap_or_else(|| self.visible_seq());
            if super_version.serves(seq) {
                return read(&super_version, seq);
            }
        }
    }

    pub(crate) fn get_at(&self, key: &[u8], seq: Option<SeqNo>) -> Result<Option<Value>> {
        check_key(key)?;
        self.read(seq, |sv, seq| sv.get(key, seq))
    }

    pub(crate) fn get_with_at<R>(
        &self,
        key: &[u8],
        seq: Option<SeqNo>,
        read: impl FnOnce(Option<&[u8]>) -> R,
    ) -> Result<R> {
        check_key(key)?;
        self.read(seq, |sv, seq| sv.get_with(key, seq, read))
    }

    pub(crate) fn contains_at(&self, key: &[u8], seq: Option<SeqNo>) -> Result<bool> {
        check_key(key)?;
        self.read(seq, |sv, seq| sv.contains(key, seq))
    }

    pub(crate) fn range_at<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        range: R,
        seq: Option<SeqNo>,
    ) -> Iter {
        let owned = |bound: Bound<&K>| bound.map(|key| Slice::copy_from(key.as_ref()));
        self.iter_at(owned(range.start_bound()), owned(range.end_bound()), seq)
    }

    pub(crate) fn iter_at(
        &self,
        lower: Bound<Slice>,
        upper: Bound<Slice>,
        seq: Option<SeqNo>,
    ) -> Iter {
        loop {
            let super_version = self.super_version.load_full();
            let seq = seq.unwrap_or_else(|| self.visible_seq());
            if super_version.serves(seq) {
                let source: Arc<dyn CursorSource> = super_version;
                return Iter::new(source, seq, lower, upper);
            }
        }
    }

    fn check_writable(&self) -> Result<()> {
        if self.read_only.load(Ordering::Relaxed) {
            return Err(Error::ReadOnly(self.read_only_reason.lock().clone()));
        }
        Ok(())
    }

    /// Records a failed log or manifest write: from now on writes are
    /// refused, because what is on disk is no longer known. Returns the
    /// error for the failing call itself.
    pub(crate) fn fail_writes(&self, what: &str, error: impl Into<Error>) -> Error {
        let error = error.into();
        {
            let mut stored = self.read_only_reason.lock();
            if stored.is_empty() {
                *stored = format!("{what} failed: {error}");
            }
        }
        self.read_only.store(true, Ordering::Release);
        self.write_room.notify_all();
        error
    }

    fn commit_single(&self, kind: ValueKind, key: &[u8], value: &[u8]) -> Result<()> {
        check_entry(key, value)?;
        self.check_writable()?;
        // The entry's encoding, in parts so the key and value are copied
        // once, straight into the log.
        let mut head = [0u8; 11];
        head[0] = kind as u8;
        let head_len = 1 + encode_varint64(&mut head[1..], key.len() as u64);
        let mut value_head = [0u8; 10];
        let value_head_len = match kind {
            ValueKind::Value => encode_varint64(&mut value_head, value.len() as u64),
            ValueKind::Tombstone => 0,
        };
        let parts: [&[u8]; 4] = [&head[..head_len], key, &value_head[..value_head_len], value];
        let entries_len = encoded_entry_len(kind, key, value);
        let mem_needed = Memtable::entry_size(key.len(), value.len());
        // The descent that finds the entry's place, with its cache misses,
        // happens before the commit lock; under it the insert only links.
        let prepared = self.super_version.load().active.prepare(key);
        let mut state = self.write.lock();
        self.make_room(&mut state, mem_needed, entries_len, false)?;
        let seq = state.last_seq + 1;
        let appended = state
            .wal
            .append(seq, 1, &parts)
            .map_err(|e| self.fail_writes("log write", e))?;
        let inserted = state
            .active
            .insert_prepared(&prepared, key, seq, kind, value);
        assert!(inserted, "memtable room was reserved");
        self.publish(state, seq, &appended)
    }

    fn commit_batch(&self, batch: &WriteBatch) -> Result<()> {
        batch.check()?;
        if batch.is_empty() {
            return Ok(());
        }
        self.check_writable()?;
        let encoded = batch.encoded();
        let mem_needed: usize = EntryDecoder::new(encoded)
            .map(|entry| {
                let entry = entry.expect("a checked batch decodes");
                Memtable::entry_size(entry.key.len(), entry.value.len())
            })
            .sum();
        let count = batch.len() as u32;
        let mut state = self.write.lock();
        self.make_room(&mut state, mem_needed, encoded.len(), false)?;
        let first = state.last_seq + 1;
        let appended = state
            .wal
            .append(first, count, &[encoded])
            .map_err(|e| self.fail_writes("log write", e))?;
        for (i, entry) in EntryDecoder::new(encoded).enumerate() {
            let entry = entry.expect("a checked batch decodes");
            let inserted =
                state
                    .active
                    .insert(entry.key, first + i as u64, entry.kind, entry.value);
            assert!(inserted, "memtable room was reserved");
        }
        self.publish(state, first + count as u64 - 1, &appended)
    }

    /// Ends a commit whose entries up to `last_seq` are in the log and the
    /// memtable: makes them visible, keeps the prefault thread ahead,
    /// releases the commit lock and, under `Durability::Sync`, waits until
    /// the log record is durable.
    #[inline]
    fn publish(
        &self,
        mut state: MutexGuard<'_, WriteState>,
        last_seq: SeqNo,
        appended: &Appended,
    ) -> Result<()> {
        state.last_seq = last_seq;
        self.visible_seq.store(last_seq, Ordering::Release);
        let WriteState {
            ahead, active, wal, ..
        } = &mut *state;
        ahead.keep_ahead(active, wal.segment());
        drop(state);
        if self.options.durability == Durability::Sync {
            appended
                .segment
                .sync_to(appended.end)
                .map_err(|e| self.fail_writes("log sync", e))?;
        }
        Ok(())
    }

    /// Makes sure the active memtable has `mem_needed` bytes free and the
    /// log segment room for `entries_len` bytes of entries, sealing the
    /// memtable (always, with `seal`) or rolling the segment if not. Waits
    /// (bounded by flush progress) while too many sealed memtables wait for
    /// a flush.
    fn make_room(
        &self,
        state: &mut MutexGuard<'_, WriteState>,
        mem_needed: usize,
        entries_len: usize,
        seal: bool,
    ) -> Result<()> {
        // Compaction hook: backpressure, one relaxed load unless L0 or the
        // sealed memtables pile up.
        if self.compaction.throttled() && !seal {
            self.throttle_write(state, entries_len)?;
        }
        let memtable_full =
            seal || state.active.memory_used() + mem_needed > state.active.capacity();
        if !memtable_full && !state.wal.needs_roll(entries_len) {
            return Ok(());
        }
        if memtable_full {
            self.wait_for_sealed_room(state)?;
        }
        // Re-check: the state may have changed while waiting.
        self.check_writable()?;
        let memtable_full =
            seal || state.active.memory_used() + mem_needed > state.active.capacity();
        let segment_id = self.next_file.fetch_add(1, Ordering::Relaxed);
        let capacity = self.segment_capacity(entries_len);
        let sync_old = self.options.durability == Durability::Sync;
        state
            .wal
            .roll(segment_id, capacity, sync_old)
            .map_err(|e| self.fail_writes("log segment creation", e))?;
        let segment = state.wal.segment().clone();
        state.segments.push(segment);
        state.ahead.new_segment();
        if memtable_full {
            state.ahead.new_memtable();
            let memtable = Arc::new(Memtable::new(
                self.options.memtable_size.max(mem_needed + 4096),
            ));
            let sealed = Sealed {
                memtable: std::mem::replace(&mut state.active, memtable.clone()),
                first_segment: std::mem::replace(&mut state.active_first_segment, segment_id),
                last_seq: state.last_seq,
            };
            let current = self.super_version.load_full();
            current
                .active_sealed_at
                .store(state.last_seq, Ordering::Release);
            let mut sealed_list = Vec::with_capacity(current.sealed.len() + 1);
            sealed_list.push(Arc::new(sealed));
            sealed_list.extend(current.sealed.iter().cloned());
            self.super_version.store(Arc::new(SuperVersion {
                active: memtable,
                sealed: sealed_list,
                version: current.version.clone(),
                active_sealed_at: Arc::new(AtomicU64::new(SeqNo::MAX)),
            }));
            // Compaction hook: the sealed count feeds backpressure.
            self.compaction
                .note(&self.super_version.load(), &self.options);
            self.wake_background();
        }
        Ok(())
    }

    fn wait_for_sealed_room(&self, state: &mut MutexGuard<'_, WriteState>) -> Result<()> {
        let mut waited = None;
        while self.super_version.load().sealed.len() >= self.options.max_sealed_memtables {
            self.check_writable()?;
            if let Some(error) = self.background.lock().error.clone() {
                return Err(Error::ReadOnly(error));
            }
            waited.get_or_insert_with(std::time::Instant::now);
            self.wake_background();
            self.write_room.wait_for(state, Duration::from_millis(50));
        }
        if let Some(started) = waited {
            self.counters.stalls.fetch_add(1, Ordering::Relaxed);
            self.counters
                .stall_micros
                .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The capacity of a new log segment: room for a full memtable's worth
    /// of records, or for one record of `entries_len` bytes.
    pub(crate) fn segment_capacity(&self, entries_len: usize) -> u64 {
        let usual = (self.options.memtable_size as u64) * 5 / 4 + (64 << 10);
        usual.max(crate::wal::writer::record_len(entries_len) + 4096)
    }

    pub(crate) fn wake_background(&self) {
        self.background.lock().work_epoch += 1;
        self.background_cv.notify_all();
    }

    fn flush_and_wait(&self) -> Result<()> {
        // Seal the active memtable if it holds anything, then wait until
        // the newest sealed memtable — and so, flushes being oldest first,
        // every one before it — is gone. Later writes do not prolong the wait.
        let target = {
            let mut state = self.write.lock();
            if !state.active.is_empty() {
                self.make_room(&mut state, 0, 0, true)?;
            }
            self.super_version.load().sealed.first().cloned()
        };
        let Some(target) = target else {
            return Ok(());
        };
        loop {
            if let Some(error) = self.background.lock().error.clone() {
                return Err(Error::ReadOnly(error));
            }
            let pending = self
                .super_version
                .load()
                .sealed
                .iter()
                .any(|s| Arc::ptr_eq(s, &target));
            if !pending {
                return Ok(());
            }
            self.wake_background();
            let mut state = self.write.lock();
            self.write_room
                .wait_for(&mut state, Duration::from_millis(20));
        }
    }
}

fn check_key(key: &[u8]) -> Result<()> {
    if key.is_empty() || key.len() > crate::types::MAX_KEY_LEN {
        return Err(Error::InvalidArgument(format!(
            "key length {} is outside 1..={}",
            key.len(),
            crate::types::MAX_KEY_LEN
        )));
    }
    Ok(())
}

/// `Db` and `Snapshot` can be shared between threads.
const _: fn() = || {
    fn check<T: Send + Sync>() {}
    check::<Db>();
    check::<Snapshot>();
};
