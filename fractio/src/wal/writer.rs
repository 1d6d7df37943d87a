//! [`WalWriter`]: appends records to the current log segment.
//!
//! REQUIRES: one writer at a time (the database's commit lock).
//!
//! Group commit: [`Segment::sync_to`] may be called by any thread,
//! concurrently with appends. At most one caller at a time, the *leader*,
//! syncs; it syncs every byte appended before its sync started, not only
//! its own record. Callers that arrive while a sync runs wait for it as
//! *followers*; when it ends, every follower whose record it covered
//! returns at once (all are woken together), and one of the others becomes
//! the next leader, so the next sync covers every record appended during
//! the last one.
//!
//! Gathering: with several writers, the ones a sync releases append again
//! within microseconds, while the ones that arrived during it are already
//! waiting; a leader that synced at once would cover only the latter, and
//! the writers would settle into two groups taking turns, each sync
//! covering about half of them. So a leader first yields the processor
//! until as many records wait as there were writers around the last sync
//! (the records it covered plus those appended while it ran), or half the
//! last sync's duration has passed (never more than [`MAX_GATHER`]). A
//! lone writer never waits (the last sync saw one writer); when writers go
//! away, one sync waits out the time limit and the next expects only the
//! writers that came. Throughput of the mixed load under `Sync` with 8
//! threads on 2 cores: see DESIGN.md.
//!
//! The followers wait on the standard library's condition variable, which
//! wakes them all at once; `parking_lot`'s moves them onto its mutex and
//! wakes one per unlock, so the writers a sync released got going one
//! context switch after another, and the mixed load under `Sync` ran
//! 1.07x-1.23x faster with the standard one (6 alternating pairs).
//!
//! Invariant (what makes an acknowledged `Sync` write durable): `synced`
//! only ever holds a value `upto` that a leader read from `written` before
//! starting the sync that made `[0, upto)` durable; `written` is stored
//! after a record's bytes are in the file. So `synced >= end` means a sync
//! that started after the record was appended has completed.

use super::{segment_name, HEADER_LEN, PAYLOAD_PREFIX_LEN};
use crate::coding::checksum_parts;
use crate::fs::{FileSystem, LogFile, LogMode};
use crate::types::SeqNo;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The longest a sync leader gathers writers, however long the last sync
/// took: writers come back within the microseconds of their own work, so a
/// sync that stalled on the disk must not make the next one wait as long.
const MAX_GATHER: Duration = Duration::from_micros(500);

/// The group commit's state (see the module doc).
#[derive(Default)]
struct SyncState {
    /// Whether a leader is syncing.
    syncing: bool,
    /// `records` when the last sync started: it covered every record
    /// before that.
    last_start: u64,
    /// How many records waited around the last sync: the next leader
    /// gathers until as many wait.
    expected: u64,
    /// How long the last sync took; the next leader gathers for at most
    /// half of it.
    last_duration: Duration,
}

/// One open log segment.
pub struct Segment {
    /// The segment's file number.
    pub id: u64,
    file: Arc<dyn LogFile>,
    /// Bytes `[0, written)` hold complete records.
    written: AtomicU64,
    /// How many records were appended (stored after `written`).
    records: AtomicU64,
    /// Bytes `[0, synced)` are durable.
    synced: AtomicU64,
    /// Whether a leader is syncing, and what the next leader gathers for
    /// (see the module doc). Taken through [`Segment::state`].
    syncing: Mutex<SyncState>,
    /// Signalled when a leader's sync ends, successfully or not.
    sync_done: Condvar,
    /// Whether the segment's directory entry is durable; made so by the
    /// first sync, so a segment that is never synced costs no directory sync.
    dir_synced: AtomicBool,
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
}

impl Segment {
    /// Segment `id`, empty, over `file` in `dir`.
    fn new(id: u64, file: Arc<dyn LogFile>, fs: Arc<dyn FileSystem>, dir: &Path) -> Segment {
        Segment {
            id,
            file,
            written: AtomicU64::new(0),
            records: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            syncing: Mutex::new(SyncState::default()),
            sync_done: Condvar::new(),
            dir_synced: AtomicBool::new(false),
            fs,
            dir: dir.to_path_buf(),
        }
    }

    /// The group commit's state, locked. Poisoning is ignored: the state is
    /// a flag and counters, each changed whole while the lock is held, with
    /// nothing that can panic in between.
    fn state(&self) -> MutexGuard<'_, SyncState> {
        self.syncing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes every record up to byte `end` durable, sharing the sync with
    /// concurrent callers (see the module doc).
    pub fn sync_to(&self, end: u64) -> io::Result<()> {
        if self.synced.load(Ordering::Acquire) >= end {
            return Ok(());
        }
        {
            let mut state = self.state();
            loop {
                if self.synced.load(Ordering::Acquire) >= end {
                    return Ok(()); // a leader's sync covered us
                }
                if !state.syncing {
                    state.syncing = true;
                    break; // lead
                }
                state = self
                    .sync_done
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
        let result = self.lead_sync();
        self.state().syncing = false;
        self.sync_done.notify_all();
        result
    }

    /// The leader's sync: everything appended so far, once the writers
    /// the last sync saw had the time to append (see the module doc).
    fn lead_sync(&self) -> io::Result<()> {
        if !self.dir_synced.load(Ordering::Acquire) {
            self.fs.sync_dir(&self.dir)?;
            self.dir_synced.store(true, Ordering::Release);
        }
        let (last_start, expected, limit) = {
            let state = self.state();
            (
                state.last_start,
                state.expected,
                (state.last_duration / 2).min(MAX_GATHER),
            )
        };
        let gathering = Instant::now();
        while self.records.load(Ordering::Acquire) - last_start < expected
            && gathering.elapsed() < limit
        {
            std::thread::yield_now();
        }
        // `records` is stored after `written`: every record counted in
        // `start` ends at or before `upto`. Read after the leader's own
        // append completed, `upto` covers it and every record before it.
        let start = self.records.load(Ordering::Acquire);
        let upto = self.written.load(Ordering::Acquire);
        let syncing = Instant::now();
        self.file.sync(upto)?;
        self.synced.store(upto, Ordering::Release);
        let mut state = self.state();
        // Those covered, and those that came while the sync ran.
        state.expected = self.records.load(Ordering::Acquire) - last_start;
        state.last_start = start;
        state.last_duration = syncing.elapsed();
        Ok(())
    }

    /// Makes every record appended so far durable.
    pub fn sync_all(&self) -> io::Result<()> {
        self.sync_to(self.written.load(Ordering::Acquire))
    }

    /// Prepares bytes `[from, to)` of the segment for appends (see
    /// [`LogFile::prefault`]).
    pub fn prefault(&self, from: u64, to: u64) {
        self.file.prefault(from, to);
    }

    /// The segment's capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.file.capacity()
    }

    /// Bytes of complete records.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }
}

/// Where a record went: sync `segment` to `end` to make it durable.
pub struct Appended {
    /// The segment holding the record.
    pub segment: Arc<Segment>,
    /// The offset just past the record.
    pub end: u64,
}

/// Appends records to the newest segment.
pub struct WalWriter {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    /// How every segment's appends reach its file.
    mode: LogMode,
    segment: Arc<Segment>,
    offset: u64,
    capacity: u64,
    /// Reused buffer the record is assembled in.
    scratch: Vec<u8>,
}

impl WalWriter {
    /// Creates segment `id` in `dir` with room for `capacity` bytes; it and
    /// every later segment are created in `mode`.
    pub fn create(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        id: u64,
        capacity: u64,
        mode: LogMode,
    ) -> io::Result<WalWriter> {
        let segment = create_segment(&fs, dir, id, capacity, mode)?;
        Ok(WalWriter {
            fs,
            dir: dir.to_path_buf(),
            mode,
            segment,
            offset: 0,
            capacity,
            scratch: Vec::with_capacity(4096),
        })
    }

    /// The current segment.
    pub fn segment(&self) -> &Arc<Segment> {
        &self.segment
    }

    /// Appends one record holding `count` encoded entries (`entries`, split
    /// in parts to spare a copy) that take sequence numbers from `first_seq`.
    /// If the record does not fit in the current segment, segment `next_id`
    /// is created for it (`next_id` is only used then: see
    /// [`WalWriter::needs_roll`]).
    pub fn append(
        &mut self,
        first_seq: SeqNo,
        count: u32,
        entries: &[&[u8]],
    ) -> io::Result<Appended> {
        let entries_len: usize = entries.iter().map(|part| part.len()).sum();
        let payload_len = PAYLOAD_PREFIX_LEN + entries_len;
        let len = u32::try_from(payload_len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "log record too large"))?;
        let record_len = (HEADER_LEN + payload_len) as u64;
        debug_assert!(
            self.offset + record_len + HEADER_LEN as u64 <= self.capacity,
            "caller must roll first"
        );

        let scratch = &mut self.scratch;
        scratch.clear();
        scratch.extend_from_slice(&[0; 4]);
        scratch.extend_from_slice(&len.to_le_bytes());
        scratch.extend_from_slice(&first_seq.to_le_bytes());
        scratch.extend_from_slice(&count.to_le_bytes());
        for part in entries {
            scratch.extend_from_slice(part);
        }
        let crc = checksum_parts(&[&scratch[4..]]);
        scratch[..4].copy_from_slice(&crc.to_le_bytes());

        self.segment.file.write_at(self.offset, scratch)?;
        self.offset += record_len;
        self.segment.written.store(self.offset, Ordering::Release);
        // Only this writer stores the count (see the REQUIRES above).
        let records = self.segment.records.load(Ordering::Relaxed) + 1;
        self.segment.records.store(records, Ordering::Release);
        if self.scratch.capacity() > 1 << 20 {
            self.scratch = Vec::with_capacity(4096); // do not pin a huge buffer
        }
        Ok(Appended {
            segment: self.segment.clone(),
            end: self.offset,
        })
    }

    /// Whether a record of `entries_len` encoded bytes needs a new segment:
    /// a record must leave room after it for the zero header that ends the
    /// written part, so a segment whose records run to its very end can
    /// only have been cut short (see `reader.rs`).
    pub fn needs_roll(&self, entries_len: usize) -> bool {
        self.offset + record_len(entries_len) + HEADER_LEN as u64 > self.capacity
    }

    /// Starts segment `id`, with room for at least `min_capacity` bytes,
    /// and returns the old one. When `sync_old`, the old segment is synced
    /// first, so a later segment is never durable before an earlier one.
    pub fn roll(&mut self, id: u64, capacity: u64, sync_old: bool) -> io::Result<Arc<Segment>> {
        if sync_old {
            self.segment.sync_all()?;
        }
        let segment = create_segment(&self.fs, &self.dir, id, capacity, self.mode)?;
        self.offset = 0;
        self.capacity = capacity;
        Ok(std::mem::replace(&mut self.segment, segment))
    }
}

/// The bytes a record with `entries_len` bytes of entries takes.
pub fn record_len(entries_len: usize) -> u64 {
    (HEADER_LEN + PAYLOAD_PREFIX_LEN + entries_len) as u64
}

fn create_segment(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    id: u64,
    capacity: u64,
    mode: LogMode,
) -> io::Result<Arc<Segment>> {
    let file = fs.create_log(&dir.join(segment_name(id)), capacity, mode)?;
    Ok(Arc::new(Segment::new(id, file, fs.clone(), dir)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;
    use parking_lot::Mutex;

    /// A log file whose sync takes a while, like a disk's, and remembers
    /// how far it made the log durable and how often it was called.
    #[derive(Default)]
    struct SlowLog {
        durable: AtomicU64,
        syncs: AtomicU64,
    }

    impl LogFile for SlowLog {
        fn capacity(&self) -> u64 {
            u64::MAX
        }

        fn write_at(&self, _offset: u64, _data: &[u8]) -> io::Result<()> {
            Ok(())
        }

        fn sync(&self, upto: u64) -> io::Result<()> {
            std::thread::sleep(std::time::Duration::from_micros(300));
            self.durable.fetch_max(upto, Ordering::SeqCst);
            self.syncs.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn segment(file: Arc<SlowLog>) -> Segment {
        let segment = Segment::new(1, file, Arc::new(MemFs::new()), Path::new("/"));
        segment.dir_synced.store(true, Ordering::Relaxed); // no directory to sync
        segment
    }

    /// Appends a 100-byte record as `WalWriter::append` publishes one
    /// (bytes, then the record count) and returns its end.
    fn append(segment: &Segment, commit: &Mutex<u64>) -> u64 {
        let mut count = commit.lock();
        *count += 1;
        let end = *count * 100;
        segment.written.store(end, Ordering::Release);
        segment.records.store(*count, Ordering::Release);
        end
    }

    /// Goal: `sync_to` returns only once a sync that started after the
    /// record was appended has made it durable, and concurrent writers
    /// share syncs (the gathering of the module doc included). Method: six
    /// threads append and sync 50 records each through a log whose sync
    /// takes 300 µs; each checks the log's durable end after every return.
    #[test]
    fn concurrent_writers_share_syncs_and_return_only_when_durable() {
        let file = Arc::new(SlowLog::default());
        let segment = segment(Arc::clone(&file));
        let commit = Mutex::new(0);
        std::thread::scope(|scope| {
            for _ in 0..6 {
                scope.spawn(|| {
                    for _ in 0..50 {
                        let end = append(&segment, &commit);
                        segment.sync_to(end).unwrap();
                        assert!(file.durable.load(Ordering::SeqCst) >= end);
                    }
                });
            }
        });
        let syncs = file.syncs.load(Ordering::SeqCst);
        assert!(
            syncs < 300,
            "every one of 300 records had a sync of its own"
        );
        assert_eq!(segment.synced.load(Ordering::SeqCst), 300 * 100);
    }

    /// Goal: a lone writer's leader never waits for others: after its
    /// syncs the next leader expects only its own record. Method: one
    /// thread appends and syncs 20 records; check the gathering state.
    #[test]
    fn a_lone_writer_expects_no_one_else() {
        let file = Arc::new(SlowLog::default());
        let segment = segment(Arc::clone(&file));
        let commit = Mutex::new(0);
        for _ in 0..20 {
            let end = append(&segment, &commit);
            segment.sync_to(end).unwrap();
            assert!(segment.state().expected <= 1);
        }
        assert_eq!(file.syncs.load(Ordering::SeqCst), 20);
    }
}
