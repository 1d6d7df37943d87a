//! What a rewrite (a flush or a compaction) keeps, and the tables it
//! writes it to.
//!
//! - [`VersionFilter`] is the garbage collector: fed the versions of a
//!   merged cursor in internal order, it keeps what some reader still sees
//!   (see [`Retention`]) and drops a tombstone that is the newest version
//!   of its key once nothing older can remain below the output and no
//!   snapshot needs it.
//! - [`OutputWriter`] writes the kept versions to tables of about
//!   `table_size` bytes, each synced, and syncs the directory at the end.
//!   It never splits the versions of one key across two tables, so tables
//!   of one level keep disjoint key ranges.
//!
//! Both are used by one thread at a time. A writer that is dropped before
//! [`OutputWriter::finish`] returned `Ok` deletes every file it created:
//! a failed or cancelled rewrite leaves nothing behind (and a crash leaves
//! files no manifest names, which `open` deletes).

use super::retention::Retention;
use crate::fs::FileSystem;
use crate::options::Options;
use crate::table::{table_file_name, TableBuilder, TableOptions};
use crate::types::{SeqNo, ValueKind};
use crate::version::edit::TableMeta;
use crate::Result;
use std::path::Path;

/// Decides, version by version, what a rewrite keeps.
pub(crate) struct VersionFilter<'r> {
    retention: &'r Retention,
    /// The key of the previous version.
    key: Vec<u8>,
    /// The sequence number of the previous version of `key` (kept or not).
    newer: Option<SeqNo>,
    /// Whether a version of `key` was kept already.
    kept_of_key: bool,
}

/// A version the filter keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kept {
    /// No version of the same key was kept before it: an output table may
    /// end just before it.
    pub(crate) first_of_key: bool,
}

impl<'r> VersionFilter<'r> {
    pub(crate) fn new(retention: &'r Retention) -> VersionFilter<'r> {
        VersionFilter {
            retention,
            key: Vec::new(),
            newer: None,
            kept_of_key: false,
        }
    }

    /// Whether to keep `(key, seq, kind)`, the next version in internal
    /// order. `bottom(key)` says whether no older version of `key` can
    /// exist below the output; it is asked only about a tombstone that is
    /// the newest version of its key.
    pub(crate) fn keep(
        &mut self,
        key: &[u8],
        seq: SeqNo,
        kind: ValueKind,
        bottom: impl FnOnce(&[u8]) -> bool,
    ) -> Option<Kept> {
        if self.newer.is_none() || key != self.key.as_slice() {
            self.key.clear();
            self.key.extend_from_slice(key);
            self.newer = None;
            self.kept_of_key = false;
        }
        let newer = self.newer.replace(seq);
        if let Some(newer) = newer {
            debug_assert!(newer > seq, "versions of a key arrive newest first");
        }
        let kept = self.retention.keep(seq, newer)
            && !(newer.is_none()
                && kind == ValueKind::Tombstone
                && !self.retention.keep_tombstone_at_bottom(seq)
                && bottom(key));
        if !kept {
            return None;
        }
        let first_of_key = !self.kept_of_key;
        self.kept_of_key = true;
        Some(Kept { first_of_key })
    }
}

/// Writes versions into tables of about `table_size` bytes.
pub(crate) struct OutputWriter<'a> {
    fs: &'a dyn FileSystem,
    dir: &'a Path,
    table_options: TableOptions,
    table_size: u64,
    new_id: &'a mut dyn FnMut() -> u64,
    /// The table being written.
    current: Option<(u64, TableBuilder)>,
    /// Tables finished so far.
    done: Vec<TableMeta>,
    /// Every file created; deleted on drop unless `committed`.
    created: Vec<u64>,
    committed: bool,
}

impl<'a> OutputWriter<'a> {
    /// A writer of tables for `level` in `dir`; each new table takes the id
    /// `new_id()` returns.
    pub(crate) fn new(
        fs: &'a dyn FileSystem,
        dir: &'a Path,
        options: &Options,
        level: usize,
        table_size: u64,
        new_id: &'a mut dyn FnMut() -> u64,
    ) -> OutputWriter<'a> {
        OutputWriter {
            fs,
            dir,
            table_options: TableOptions {
                block_size: options.block_size,
                bloom_bits_per_key: options.bloom_bits_per_key,
                compression: options.compression_for(level),
            },
            table_size,
            new_id,
            current: None,
            done: Vec::new(),
            created: Vec::new(),
            committed: false,
        }
    }

    /// Appends a version (in internal order). A new table is started
    /// first when the current one has reached the target size and `kept`
    /// is the first version of its key.
    pub(crate) fn add(
        &mut self,
        key: &[u8],
        seq: SeqNo,
        kind: ValueKind,
        value: &[u8],
        kept: Kept,
    ) -> Result<()> {
        let full = self
            .current
            .as_ref()
            .is_some_and(|(_, builder)| builder.estimated_size() >= self.table_size);
        if full && kept.first_of_key {
            self.finish_table()?;
        }
        if self.current.is_none() {
            let id = (self.new_id)();
            let path = self.dir.join(table_file_name(id));
            self.created.push(id);
            let file = self.fs.create_writable(&path)?;
            self.current = Some((id, TableBuilder::new(file, self.table_options)));
        }
        let (_, builder) = self.current.as_mut().expect("just made");
        builder.add(key, seq, kind, value)
    }

    /// Finishes (and syncs) the table being written.
    fn finish_table(&mut self) -> Result<()> {
        let Some((id, builder)) = self.current.take() else {
            return Ok(());
        };
        let properties = builder.finish()?;
        self.done.push(TableMeta {
            id,
            file_size: properties.file_size,
            smallest_key: properties.smallest_key,
            largest_key: properties.largest_key,
            smallest_seq: properties.smallest_seq,
            largest_seq: properties.largest_seq,
            entries: properties.entries,
            tombstones: properties.tombstones,
        });
        Ok(())
    }

    /// Finishes the last table and syncs the directory; returns every
    /// table written (none if nothing was added), in key order.
    pub(crate) fn finish(mut self) -> Result<Vec<TableMeta>> {
        self.finish_table()?;
        if !self.done.is_empty() {
            self.fs.sync_dir(self.dir)?;
        }
        self.committed = true;
        Ok(std::mem::take(&mut self.done))
    }
}

impl Drop for OutputWriter<'_> {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        self.current = None;
        for id in &self.created {
            // Whatever cannot be deleted now is deleted at the next open.
            let _ = self.fs.remove_file(&self.dir.join(table_file_name(*id)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retention(snapshots: Vec<SeqNo>, horizon: SeqNo) -> Retention {
        Retention { snapshots, horizon }
    }

    /// Runs versions `(key, seq, kind)` through a filter; `bottom` for all.
    fn kept(
        retention: &Retention,
        versions: &[(&str, SeqNo, ValueKind)],
        bottom: bool,
    ) -> Vec<(String, SeqNo, bool)> {
        let mut filter = VersionFilter::new(retention);
        versions
            .iter()
            .filter_map(|&(key, seq, kind)| {
                let kept = filter.keep(key.as_bytes(), seq, kind, |_| bottom)?;
                Some((key.to_string(), seq, kept.first_of_key))
            })
            .collect()
    }

    use ValueKind::{Tombstone as T, Value as V};

    #[test]
    fn hidden_versions_go_unless_a_snapshot_sees_them() {
        let versions = [("a", 9, V), ("a", 5, V), ("a", 2, V), ("b", 3, V)];
        let none = retention(vec![], 100);
        assert_eq!(
            kept(&none, &versions, false),
            vec![("a".into(), 9, true), ("b".into(), 3, true)]
        );
        let snapshot = retention(vec![6], 100);
        assert_eq!(
            kept(&snapshot, &versions, false),
            vec![
                ("a".into(), 9, true),
                ("a".into(), 5, false),
                ("b".into(), 3, true)
            ]
        );
    }

    #[test]
    fn tombstones_go_only_at_the_bottom_and_unseen() {
        let versions = [("a", 9, T), ("a", 5, V), ("b", 3, V)];
        let none = retention(vec![], 100);
        // Above the bottom the tombstone must stay to hide older versions.
        assert_eq!(
            kept(&none, &versions, false),
            vec![("a".into(), 9, true), ("b".into(), 3, true)]
        );
        assert_eq!(kept(&none, &versions, true), vec![("b".into(), 3, true)]);
        // A snapshot at 6 still sees a = 5: both stay.
        let snapshot = retention(vec![6], 100);
        assert_eq!(kept(&snapshot, &versions, true).len(), 3);
        // A tombstone newer than the horizon stays (a reader may predate it).
        let young = retention(vec![], 8);
        assert_eq!(kept(&young, &versions, true).len(), 3);
    }

    #[test]
    fn the_writer_splits_at_the_target_size_but_never_inside_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let options = Options::default();
        let fs = crate::fs::StdFs;
        let mut next = 1;
        let mut new_id = || {
            next += 1;
            next
        };
        let mut writer = OutputWriter::new(&fs, dir.path(), &options, 1, 1, &mut new_id);
        let first = Kept { first_of_key: true };
        let later = Kept {
            first_of_key: false,
        };
        writer.add(b"a", 3, V, b"x", first).unwrap();
        writer.add(b"a", 2, V, b"y", later).unwrap(); // same key: same table
        writer.add(b"b", 1, V, b"z", first).unwrap();
        let tables = writer.finish().unwrap();
        assert_eq!(tables.len(), 2);
        assert_eq!(
            (tables[0].entries, tables[0].largest_key.as_slice()),
            (2, &b"a"[..])
        );
        assert_eq!(tables[1].smallest_key, b"b");
        assert!(dir.path().join(table_file_name(tables[1].id)).exists());

        // Dropped without finishing: its files are gone.
        let mut next = 10;
        let mut new_id = || {
            next += 1;
            next
        };
        let mut writer = OutputWriter::new(&fs, dir.path(), &options, 1, 1, &mut new_id);
        writer.add(b"a", 3, V, b"x", first).unwrap();
        writer.add(b"b", 2, V, b"x", first).unwrap();
        drop(writer);
        assert!(!dir.path().join(table_file_name(11)).exists());
        assert!(!dir.path().join(table_file_name(12)).exists());
    }
}
