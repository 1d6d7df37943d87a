//! Opening a database: lock the directory, read the manifest, open the
//! tables, replay the log into memtables, flush what was replayed to L0
//! tables, start a new manifest and a new log segment, and delete every
//! file the new manifest does not need.
//!
//! Crash safety: nothing is deleted until the new manifest (which no
//! longer needs it) is durable and named by `CURRENT`. A crash at any point
//! of `open` leaves the previous state, and the next `open` starts over.

use super::flush::write_table;
use super::{BackgroundState, Counters, DbInner, SuperVersion, VersionState, WriteState};
use crate::batch::EntryDecoder;
use crate::cache::BlockCache;
use crate::compaction::retention::Retention;
use crate::fs::{FileSystem, LogMode};
use crate::memtable::Memtable;
use crate::options::{Durability, Options, RecoveryMode};
use crate::types::SeqNo;
use crate::version::edit::{TableMeta, VersionEdit};
use crate::version::manifest::{self, ManifestWriter};
use crate::version::OpenTables;
use crate::version::Version;
use crate::wal::reader::{read_segment, SegmentEnd};
use crate::wal::writer::WalWriter;
use crate::wal::{parse_segment_name, segment_name};
use crate::{Error, Result};
use arc_swap::ArcSwap;
use parking_lot::{Condvar, Mutex};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

/// What `open` found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Log segments replayed.
    pub segments_replayed: usize,
    /// Log records (batches) replayed.
    pub records_replayed: u64,
    /// A torn write at the end of the log that was cut off: the segment,
    /// the offset and the bytes dropped.
    pub torn_tail: Option<(PathBuf, u64, u64)>,
    /// With [`RecoveryMode::Salvage`]: the corruption that ended the replay
    /// early (everything after it was dropped).
    pub salvaged: Option<String>,
    /// Files deleted because no version needed them.
    pub obsolete_files_deleted: usize,
}

pub(crate) fn open(dir: &Path, options: Options) -> Result<DbInner> {
    let fs = options.fs.clone();
    fs.create_dir_all(dir)?;
    let lock = fs.lock(&dir.join("LOCK")).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock => Error::Locked(dir.to_path_buf()),
        _ => Error::Io(e),
    })?;
    let cache = Arc::new(BlockCache::new(options.block_cache_size));
    let tables = OpenTables::new(
        fs.clone(),
        dir.to_path_buf(),
        cache.clone(),
        options.max_open_tables,
    );
    let names = fs.list(dir)?;

    let mut state = match manifest::read_current(&*fs, dir)? {
        Some((_, path)) => ManifestState::read(&*fs, &path)?,
        None => {
            if names
                .iter()
                .any(|n| n.ends_with(".sst") || n.starts_with("MANIFEST-"))
            {
                return Err(Error::corruption(
                    dir.join(manifest::CURRENT),
                    0,
                    "CURRENT is missing but the directory holds tables or manifests",
                ));
            }
            ManifestState::default()
        }
    };
    let max_file = names
        .iter()
        .filter_map(|n| file_number(n))
        .max()
        .unwrap_or(0);
    state.next_file = state.next_file.max(max_file + 1).max(1);

    let mut version = Version::empty();
    let edit = VersionEdit {
        added: state.tables.values().cloned().collect(),
        ..VersionEdit::default()
    };
    version = version.apply(&edit, |meta| tables.handle(meta.clone(), None))?;

    let mut report = RecoveryReport::default();
    let next_file = AtomicU64::new(state.next_file);
    let (version, last_seq) = replay(
        dir,
        &options,
        &tables,
        &names,
        &state,
        version,
        &next_file,
        &mut report,
    )?;

    // A fresh segment for new writes, then a fresh manifest naming it.
    let segment_id = next_file.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let capacity = (options.memtable_size as u64) * 5 / 4 + (64 << 10);
    // `Sync` writes wait for a sync anyway: their appends need not reach
    // the file before it (see `LogMode`).
    let log_mode = match options.durability {
        Durability::Process => LogMode::Mapped,
        Durability::Sync => LogMode::Buffered,
    };
    let wal = WalWriter::create(fs.clone(), dir, segment_id, capacity, log_mode)?;
    let manifest_id = next_file.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut snapshot = version.snapshot_edit();
    snapshot.log_number = Some(segment_id);
    snapshot.last_seq = Some(last_seq);
    snapshot.next_file_number = Some(manifest_id + 1);
    let manifest = ManifestWriter::create(&*fs, dir, manifest_id, &snapshot)?;

    report.obsolete_files_deleted = delete_obsolete(&*fs, dir, &version, segment_id, manifest_id)?;

    let version = Arc::new(version);
    let active = Arc::new(Memtable::new(options.memtable_size));
    let (prefault_sender, prefault_jobs) = std::sync::mpsc::channel();
    let segment = wal.segment().clone();
    let super_version = SuperVersion {
        active: active.clone(),
        sealed: Vec::new(),
        version: version.clone(),
        active_sealed_at: Arc::new(AtomicU64::new(SeqNo::MAX)),
    };
    Ok(DbInner {
        dir: dir.to_path_buf(),
        fs,
        cache,
        tables,
        super_version: ArcSwap::from_pointee(super_version),
        visible_seq: AtomicU64::new(last_seq),
        write: Mutex::new(WriteState {
            last_seq,
            wal,
            active,
            active_first_segment: segment_id,
            segments: vec![segment],
            ahead: super::prefault::Ahead::new(prefault_sender),
        }),
        write_room: Condvar::new(),
        versions: Mutex::new(VersionState {
            manifest,
            current: version,
            log_number: segment_id,
            last_seq,
        }),
        next_file: AtomicU64::new(manifest_id + 1),
        snapshots: Default::default(),
        read_only: AtomicBool::new(false),
        read_only_reason: Mutex::new(String::new()),
        background: Mutex::new(BackgroundState::default()),
        background_cv: Condvar::new(),
        recovery: report,
        prefault_jobs: Mutex::new(Some(prefault_jobs)),
        counters: Counters::default(),
        compaction: Default::default(),
        options,
        _lock: lock,
    })
}

/// What the manifest says.
#[derive(Default)]
struct ManifestState {
    /// The manifest read, if any.
    path: Option<PathBuf>,
    tables: BTreeMap<u64, (usize, TableMeta)>,
    log_number: u64,
    next_file: u64,
    last_seq: SeqNo,
}

impl ManifestState {
    fn read(fs: &dyn FileSystem, path: &Path) -> Result<ManifestState> {
        let mut state = ManifestState {
            path: Some(path.to_path_buf()),
            ..ManifestState::default()
        };
        for edit in manifest::read_manifest(fs, path)? {
            for (_, id) in &edit.deleted {
                state.tables.remove(id);
            }
            for (level, meta) in edit.added {
                state.tables.insert(meta.id, (level, meta));
            }
            if let Some(n) = edit.log_number {
                state.log_number = state.log_number.max(n);
            }
            if let Some(n) = edit.next_file_number {
                state.next_file = state.next_file.max(n);
            }
            if let Some(n) = edit.last_seq {
                state.last_seq = state.last_seq.max(n);
            }
        }
        Ok(state)
    }
}

fn file_number(name: &str) -> Option<u64> {
    if let Some(id) = parse_segment_name(name) {
        return Some(id);
    }
    if let Some(id) = manifest::parse_manifest_name(name) {
        return Some(id);
    }
    let digits = name.strip_suffix(".sst")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Replays the log segments at or above the manifest's log number into
/// memtables, writing each full memtable (and the last one) to an L0 table.
#[allow(clippy::too_many_arguments)]
fn replay(
    dir: &Path,
    options: &Options,
    tables: &Arc<OpenTables>,
    names: &[String],
    state: &ManifestState,
    mut version: Version,
    next_file: &AtomicU64,
    report: &mut RecoveryReport,
) -> Result<(Version, SeqNo)> {
    let fs = &*options.fs;
    let mut segments: Vec<u64> = names
        .iter()
        .filter_map(|n| parse_segment_name(n))
        .filter(|&id| id >= state.log_number)
        .collect();
    segments.sort_unstable();

    let mut last_seq = state.last_seq;
    let mut memtable = Memtable::new(options.memtable_size);
    let mut added = Vec::new();
    // The last segment replayed that ended cleanly, and where.
    let mut previous_end: Option<(PathBuf, u64)> = None;
    for (index, &id) in segments.iter().enumerate() {
        let path = dir.join(segment_name(id));
        let bytes = fs.read_all(&path)?;
        report.segments_replayed += 1;
        let mut gap = false;
        let result = read_segment(&bytes, &path, last_seq, |record| {
            let record_last = record.first_seq + record.count as u64 - 1;
            if record_last <= last_seq {
                return Ok(()); // already in a table
            }
            if record.first_seq != last_seq + 1 {
                // Records follow each other without a gap, from the
                // manifest's last sequence number on: acknowledged writes
                // are missing (a lost manifest edit, a deleted segment).
                if last_seq == state.last_seq {
                    if let Some(manifest) = &state.path {
                        return Err(Error::corruption(
                            manifest,
                            0,
                            format!(
                                "the manifest ends at sequence number {last_seq} but the log \
                                 continues at {} in {}: manifest edits are missing",
                                record.first_seq,
                                path.display()
                            ),
                        ));
                    }
                }
                if options.durability == Durability::Process && record.offset == 0 {
                    // The previous segment lost its unsynced tail to a power
                    // loss (in `Process` durability a segment is not synced
                    // when the next one starts): recovery stops at the gap.
                    gap = true;
                    return Err(Error::InvalidArgument(String::new()));
                }
                if let (0, Some((previous, end))) = (record.offset, &previous_end) {
                    // The previous segment ended cleanly, yet short of where
                    // this one goes on: records are missing at its end (it
                    // was cut at a record boundary), which is where the
                    // damage is reported.
                    return Err(Error::corruption(
                        previous,
                        *end,
                        format!(
                            "the log ends at sequence number {last_seq} here but continues \
                             at {} in {}: records are missing",
                            record.first_seq,
                            path.display()
                        ),
                    ));
                }
                return Err(Error::corruption(
                    &path,
                    record.offset,
                    format!(
                        "log does not continue the sequence: expected {}, found {}",
                        last_seq + 1,
                        record.first_seq
                    ),
                ));
            }
            let needed: usize = EntryDecoder::new(record.entries)
                .flatten()
                .map(|e| Memtable::entry_size(e.key.len(), e.value.len()))
                .sum();
            if memtable.memory_used() + needed > memtable.capacity() {
                let full = std::mem::replace(
                    &mut memtable,
                    Memtable::new(options.memtable_size.max(needed + 4096)),
                );
                if let Some(meta) = flush_replayed(dir, options, full, next_file)? {
                    added.push(meta);
                }
            }
            for (i, entry) in EntryDecoder::new(record.entries).flatten().enumerate() {
                let inserted = memtable.insert(
                    entry.key,
                    record.first_seq + i as u64,
                    entry.kind,
                    entry.value,
                );
                assert!(inserted, "room was made");
            }
            last_seq = record_last;
            report.records_replayed += 1;
            Ok(())
        });
        // A power loss can lose unsynced pages of the log in any order: a
        // whole zero page where records should be is that, not damage, and
        // the log ends there (everything after it, in this segment and
        // later ones, was never synced). Point-in-time recovery.
        let lost_page = match &result {
            Err(Error::Corruption { file, offset, .. }) if *file == path => {
                lost_page_at_or_after(&bytes, *offset)
            }
            _ => None,
        };
        if gap {
            report.torn_tail = Some((path.clone(), 0, 0));
            break;
        }
        if let Some(offset) = lost_page {
            let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            report.torn_tail = Some((
                path.clone(),
                offset,
                end.saturating_sub(offset as usize) as u64,
            ));
            break;
        }
        // A write is torn only by a crash in the middle of it, and writes
        // go to the newest segment: a torn record with log data after it,
        // in a later segment, is damage.
        // Unless a page of the torn record itself is missing, in
        // `Process` durability: the power loss tore it, and the log ends there.
        if let Ok(SegmentEnd::Torn {
            offset,
            bytes: dropped,
        }) = result
        {
            if options.durability == Durability::Process
                && (record_lost_a_page(&bytes, offset) || unsynced_page_part_lost(&bytes, offset))
            {
                report.torn_tail = Some((path.clone(), offset, dropped));
                break;
            }
        }
        let result = match result {
            Ok(SegmentEnd::Torn { offset, .. })
                if later_segments_hold_data(fs, dir, &segments[index + 1..])? =>
            {
                Err(Error::corruption(
                    &path,
                    offset,
                    "damaged record at the end of a segment followed by newer log data",
                ))
            }
            other => other,
        };
        previous_end = None;
        match result {
            Ok(SegmentEnd::Clean { offset }) => previous_end = Some((path.clone(), offset)),
            Ok(SegmentEnd::Torn { offset, bytes }) => {
                report.torn_tail = Some((path.clone(), offset, bytes));
            }
            Err(error @ Error::Corruption { .. }) => match options.recovery {
                RecoveryMode::Strict => return Err(error),
                RecoveryMode::Salvage => {
                    report.salvaged = Some(error.to_string());
                    break;
                }
            },
            Err(error) => return Err(error),
        }
    }
    if let Some(meta) = flush_replayed(dir, options, memtable, next_file)? {
        added.push(meta);
    }
    if !added.is_empty() {
        let edit = VersionEdit {
            added: added.into_iter().map(|meta| (0, meta)).collect(),
            ..VersionEdit::default()
        };
        version = version.apply(&edit, |meta| tables.handle(meta.clone(), None))?;
    }
    Ok((version, last_seq))
}

/// `offset` (where a bad record starts) if the bytes there show a page lost
/// to a power loss rather than damage: zeros from `offset` to the end of its
/// 4 KiB page (the rest of a page last written back before these bytes
/// were), or a whole zero page later, with written bytes after it.
fn lost_page_at_or_after(bytes: &[u8], offset: u64) -> Option<u64> {
    const PAGE: usize = 4096;
    let end = bytes.iter().rposition(|&b| b != 0)? + 1;
    if unsynced_page_part_lost(bytes, offset) {
        return Some(offset);
    }
    let start = offset as usize;
    let mut page = start.next_multiple_of(PAGE);
    while page + PAGE <= end {
        if bytes[page..page + PAGE].iter().all(|&b| b == 0) {
            return Some(offset);
        }
        page += PAGE;
    }
    None
}

/// Whether the record at `offset` is missing a whole page of its bytes
/// (zeros from a 4 KiB boundary inside it to its end or to the next
/// boundary): the mark of a power loss, which a flipped bit does not leave.
fn record_lost_a_page(bytes: &[u8], offset: u64) -> bool {
    const PAGE: usize = 4096;
    let start = offset as usize;
    let claimed = crate::coding::get_u32(bytes, start + 4).map(|len| start + 8 + len as usize);
    let record_end = claimed
        .filter(|&end| end <= bytes.len())
        .unwrap_or(bytes.len());
    let mut page = (start + 1).next_multiple_of(PAGE);
    while page < record_end {
        let stop = (page + PAGE).min(record_end);
        if bytes[page..stop].iter().all(|&b| b == 0) {
            return true;
        }
        page += PAGE;
    }
    false
}

/// Whether the bytes from `offset` (a record's start) to the next 4 KiB
/// boundary are all zeros while the segment holds data after them: the
/// unsynced part of a page that was synced up to `offset` was lost in a
/// power loss, and a later page reached the disk. Neither a valid record
/// (its header is never zero) nor a flipped bit leaves that.
fn unsynced_page_part_lost(bytes: &[u8], offset: u64) -> bool {
    const PAGE: usize = 4096;
    let start = offset as usize;
    let page_end = (start + 1).next_multiple_of(PAGE);
    let data_after = bytes
        .get(page_end..)
        .is_some_and(|rest| rest.iter().any(|&b| b != 0));
    data_after
        && bytes
            .get(start..page_end)
            .is_some_and(|run| run.iter().all(|&b| b == 0))
}

/// Whether any of the segments `ids` holds a record (a non-zero header).
fn later_segments_hold_data(fs: &dyn FileSystem, dir: &Path, ids: &[u64]) -> Result<bool> {
    for &id in ids {
        let bytes = fs.read_all(&dir.join(segment_name(id)))?;
        if bytes.iter().take(8).any(|&b| b != 0) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Writes a replayed memtable to an L0 table (synced), returning its
/// record, or `None` if it is empty.
fn flush_replayed(
    dir: &Path,
    options: &Options,
    memtable: Memtable,
    next_file: &AtomicU64,
) -> Result<Option<TableMeta>> {
    if memtable.is_empty() {
        return Ok(None);
    }
    let memtable = Arc::new(memtable);
    let id = next_file.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut cursor = memtable.iter();
    let retention = Retention {
        snapshots: Vec::new(),
        horizon: SeqNo::MAX,
    };
    write_table(
        &*options.fs,
        dir,
        options,
        0,
        id,
        &mut cursor,
        &retention,
        false,
    )
}

/// Deletes files no longer needed: segments below `log_number`, other
/// manifests, tables not in `version`, leftovers of interrupted renames.
fn delete_obsolete(
    fs: &dyn FileSystem,
    dir: &Path,
    version: &Version,
    log_number: u64,
    manifest_id: u64,
) -> Result<usize> {
    let live: std::collections::HashSet<u64> = version.tables().map(|(_, t)| t.meta.id).collect();
    let mut deleted = 0;
    for name in fs.list(dir)? {
        let obsolete = if let Some(id) = parse_segment_name(&name) {
            id < log_number
        } else if let Some(id) = manifest::parse_manifest_name(&name) {
            id != manifest_id
        } else if let Some(id) = name
            .strip_suffix(".sst")
            .and_then(|d| d.parse::<u64>().ok())
        {
            !live.contains(&id)
        } else {
            name == "CURRENT.tmp" || name.ends_with(".sst.tmp")
        };
        if obsolete {
            fs.remove_file(&dir.join(&name))?;
            deleted += 1;
        }
    }
    if deleted > 0 {
        fs.sync_dir(dir)?;
    }
    Ok(deleted)
}
