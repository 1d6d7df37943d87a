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
//! the last one. A leader whose predecessor had followers first yields the
//! processor a few times: the followers just released are likely to append
//! again within microseconds, and waiting that long for them costs less
//! than leaving their records to one more sync (8 threads on 2 cores:
//! 20-35% fewer syncs).
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
use parking_lot::{Condvar, Mutex};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// How many times a leader yields the processor before its sync when the
/// last sync had followers.
const GATHER_YIELDS: usize = 4;

/// The group commit's state.
#[derive(Default)]
struct SyncState {
    /// Whether a leader is syncing.
    syncing: bool,
    /// Callers waiting for the running sync.
    followers: usize,
    /// How many waited for the last sync.
    last_followers: usize,
}

/// One open log segment.
pub struct Segment {
    /// The segment's file number.
    pub id: u64,
    file: Arc<dyn LogFile>,
    /// Bytes `[0, written)` hold complete records.
    written: AtomicU64,
    /// Bytes `[0, synced)` are durable.
    synced: AtomicU64,
    /// Whether a leader is syncing, and how many followers wait for it
    /// (see the module doc).
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
    /// Makes every record up to byte `end` durable, sharing the sync with
    /// concurrent callers (see the module doc).
    pub fn sync_to(&self, end: u64) -> io::Result<()> {
        if self.synced.load(Ordering::Acquire) >= end {
            return Ok(());
        }
        {
            let mut state = self.syncing.lock();
            loop {
                if self.synced.load(Ordering::Acquire) >= end {
                    return Ok(()); // a leader's sync covered us
                }
                if !state.syncing {
                    state.syncing = true;
                    break; // lead
                }
                state.followers += 1;
                self.sync_done.wait(&mut state);
            }
        }
        let result = self.lead_sync();
        {
            let mut state = self.syncing.lock();
            state.syncing = false;
            state.last_followers = std::mem::take(&mut state.followers);
        }
        self.sync_done.notify_all();
        result
    }

    /// The leader's sync: everything appended so far.
    fn lead_sync(&self) -> io::Result<()> {
        if !self.dir_synced.load(Ordering::Acquire) {
            self.fs.sync_dir(&self.dir)?;
            self.dir_synced.store(true, Ordering::Release);
        }
        // Read after the leader's own append completed: covers it and every
        // record appended before this point.
        let mut upto = self.written.load(Ordering::Acquire);
        // The followers the last sync released are likely about to append
        // again: let them, so this sync covers their records too instead of
        // leaving them to the next one.
        if self.syncing.lock().last_followers > 0 {
            for _ in 0..GATHER_YIELDS {
                std::thread::yield_now();
            }
            upto = self.written.load(Ordering::Acquire);
        }
        self.file.sync(upto)?;
        self.synced.store(upto, Ordering::Release);
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
    Ok(Arc::new(Segment {
        id,
        file,
        written: AtomicU64::new(0),
        synced: AtomicU64::new(0),
        syncing: Mutex::new(SyncState::default()),
        sync_done: Condvar::new(),
        dir_synced: AtomicBool::new(false),
        fs: fs.clone(),
        dir: dir.to_path_buf(),
    }))
}
