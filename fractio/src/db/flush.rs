//! Flushing sealed memtables to L0 tables, in a background thread.
//!
//! The oldest sealed memtable is flushed first. A flush: writes the table
//! (synced), appends a version edit to the manifest (synced) that adds the
//! table and advances the log number past the memtable's segments, installs
//! the new super version, and only then deletes the segments. A crash
//! before the manifest edit leaves an orphan table (deleted at the next
//! open) and the log intact; a crash after it leaves obsolete segments
//! (likewise deleted).

use super::{DbInner, SuperVersion};
use crate::compaction::output::{OutputWriter, VersionFilter};
use crate::compaction::retention::Retention;
use crate::fs::FileSystem;
use crate::iter::InternalIterator;
use crate::options::Options;
use crate::version::edit::{TableMeta, VersionEdit};
use crate::Result;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The flush thread's loop: flush while sealed memtables wait, sleep
/// otherwise, stop at shutdown.
pub(crate) fn run(inner: &Arc<DbInner>) {
    loop {
        {
            let mut background = inner.background.lock();
            if background.shutdown {
                return;
            }
            if inner.super_version.load().sealed.is_empty() {
                inner
                    .background_cv
                    .wait_for(&mut background, Duration::from_millis(200));
                continue;
            }
        }
        if let Err(error) = flush_oldest(inner) {
            let reason = format!("flush failed: {error}");
            inner.background.lock().error = Some(reason.clone());
            inner.fail_writes("flush", error);
            inner.write_room.notify_all();
            return;
        }
        inner.background.lock().flushes_done += 1;
        inner.write_room.notify_all();
    }
}

/// Flushes the oldest sealed memtable.
fn flush_oldest(inner: &Arc<DbInner>) -> Result<()> {
    let Some(sealed) = inner.super_version.load().sealed.last().cloned() else {
        return Ok(());
    };
    let retention = inner.retention();
    let id = inner.next_file.fetch_add(1, Ordering::Relaxed);
    let mut cursor = sealed.memtable.iter();
    let meta = write_table(
        &*inner.fs,
        &inner.dir,
        &inner.options,
        0,
        id,
        &mut cursor,
        &retention,
        false,
    )?;
    if let Some(meta) = &meta {
        inner.counters.flushes.fetch_add(1, Ordering::Relaxed);
        inner
            .counters
            .flush_bytes
            .fetch_add(meta.file_size, Ordering::Relaxed);
    }

    let mut versions = inner.versions.lock();
    // The next memtable's segments are still needed: the log number moves
    // to the first of them. Read under the commit lock, where rotations
    // happen, so the sealed list and the active memtable agree.
    let log_number = {
        let state = inner.write.lock();
        let current = inner.super_version.load();
        let position = current
            .sealed
            .iter()
            .position(|s| Arc::ptr_eq(s, &sealed))
            .expect("only the flush thread removes sealed memtables");
        if position > 0 {
            current.sealed[position - 1].first_segment
        } else {
            state.active_first_segment
        }
    };
    let edit = VersionEdit {
        log_number: Some(log_number),
        next_file_number: Some(inner.next_file.load(Ordering::Relaxed)),
        last_seq: Some(sealed.last_seq),
        added: meta.into_iter().map(|meta| (0, meta)).collect(),
        deleted: Vec::new(),
    };
    versions.record(inner, &edit)?;
    let version = Arc::new(
        versions
            .current
            .apply(&edit, |meta| inner.tables.handle(meta.clone(), None))?,
    );
    versions.current = version.clone();
    versions.log_number = log_number;
    let obsolete = {
        let mut state = inner.write.lock();
        let current = inner.super_version.load_full();
        inner.super_version.store(Arc::new(SuperVersion {
            active: current.active.clone(),
            sealed: current
                .sealed
                .iter()
                .filter(|s| !Arc::ptr_eq(s, &sealed))
                .cloned()
                .collect(),
            version,
            active_sealed_at: current.active_sealed_at.clone(),
        }));
        // Compaction hook: the L0 count feeds backpressure.
        inner
            .compaction
            .note(&inner.super_version.load(), &inner.options);
        let split = state.segments.partition_point(|s| s.id < log_number);
        state.segments.drain(..split).collect::<Vec<_>>()
    };
    drop(versions);
    // Compaction hook: a new L0 table may call for a compaction.
    inner.wake_background();
    for segment in obsolete {
        let path = inner.dir.join(crate::wal::segment_name(segment.id));
        // A segment that cannot be deleted now is deleted at the next open.
        let _ = inner.fs.remove_file(&path);
    }
    Ok(())
}

/// Writes the versions `cursor` yields (from its first) that `retention`
/// keeps to table `id` in `dir`, synced. `bottom`: no older versions of
/// these keys exist below the output, so tombstones no reader needs are
/// dropped. Returns `None` (and leaves no file) when nothing is kept.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_table(
    fs: &dyn FileSystem,
    dir: &Path,
    options: &Options,
    level: usize,
    id: u64,
    cursor: &mut dyn InternalIterator,
    retention: &Retention,
    bottom: bool,
) -> Result<Option<TableMeta>> {
    // One table, whatever its size: the id is handed out once.
    let mut ids = std::iter::once(id);
    let mut new_id = || ids.next().expect("a flush writes one table");
    let mut writer = OutputWriter::new(fs, dir, options, level, u64::MAX, &mut new_id);
    let mut filter = VersionFilter::new(retention);
    cursor.seek_to_first()?;
    while cursor.valid() {
        let (key, seq, kind) = (cursor.key(), cursor.seq(), cursor.kind());
        if let Some(kept) = filter.keep(key, seq, kind, |_| bottom) {
            writer.add(key, seq, kind, cursor.value(), kept)?;
        }
        cursor.next()?;
    }
    Ok(writer.finish()?.pop())
}

impl DbInner {
    /// The readers a rewrite starting now must keep versions for.
    pub(crate) fn retention(&self) -> Retention {
        let mut horizon = 0;
        let snapshots = self.snapshots.sequence_numbers_and(|| {
            horizon = self.visible_seq();
        });
        Retention { snapshots, horizon }
    }
}
