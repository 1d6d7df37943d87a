//! [`OpenTables`] and [`TableHandle`]: how versions hold their tables.
//!
//! A version names each table by a [`TableHandle`]: the table's manifest
//! record and the opened [`Table`]. Versions share handles: a new version
//! keeps the handles of the tables it keeps, and a trivial move keeps the
//! same handle in its new level. Opened tables count their file against
//! `max_open_tables` (see [`OpenFiles`]).
//!
//! Files and handles: a table file is deleted when its handle is dropped
//! after a compaction consumed the table (marked it obsolete). So a file
//! stays on disk as long as any version — held by a reader, an iterator or
//! a running compaction — names it and may need to open it again.

use crate::cache::BlockCache;
use crate::fs::FileSystem;
use crate::table::{table_file_name, OpenFiles, Table};
use crate::version::TableMeta;
use crate::Result;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Opens a database's tables.
pub struct OpenTables {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    cache: Arc<BlockCache>,
    files: Arc<OpenFiles>,
}

impl std::fmt::Debug for OpenTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenTables")
            .field("dir", &self.dir)
            .field("files", &self.files)
            .finish()
    }
}

impl OpenTables {
    /// Tables in `dir`, read through `fs`, their blocks cached in `cache`,
    /// at most `max_open_files` files open at a time.
    pub fn new(
        fs: Arc<dyn FileSystem>,
        dir: PathBuf,
        cache: Arc<BlockCache>,
        max_open_files: usize,
    ) -> Arc<OpenTables> {
        let files = OpenFiles::new(fs.clone(), max_open_files);
        Arc::new(OpenTables {
            fs,
            dir,
            cache,
            files,
        })
    }

    /// A handle for the table `meta` names; `opened` is the table if the
    /// caller opened it already, otherwise it is opened (and checked) now.
    pub fn handle(
        self: &Arc<Self>,
        meta: TableMeta,
        opened: Option<Arc<Table>>,
    ) -> Result<Arc<TableHandle>> {
        let table = match opened {
            Some(table) => table,
            None => self.open_file(&meta)?,
        };
        Ok(Arc::new(TableHandle {
            meta,
            table,
            obsolete: AtomicBool::new(false),
            tables: Arc::clone(self),
        }))
    }

    /// Opens and checks the table file `meta` names.
    pub fn open_file(&self, meta: &TableMeta) -> Result<Arc<Table>> {
        let path = self.dir.join(table_file_name(meta.id));
        let file = self.files.open(&path)?;
        Table::open_in(
            file,
            path,
            meta.id,
            Arc::clone(&self.cache),
            Some(&self.files),
        )
    }

    /// Deletes the file of table `id` (best effort: a file that cannot be
    /// deleted now is an orphan, deleted at the next open).
    pub fn delete_file(&self, id: u64) {
        let _ = self.fs.remove_file(&self.dir.join(table_file_name(id)));
    }

    /// Table files open now.
    pub fn open_files(&self) -> usize {
        self.files.open_count()
    }
}

/// A live table: its manifest record and the opened table.
pub struct TableHandle {
    /// What the manifest records about it.
    pub meta: TableMeta,
    /// The opened table.
    pub table: Arc<Table>,
    /// Consumed by a compaction: delete the file when the handle goes.
    obsolete: AtomicBool,
    tables: Arc<OpenTables>,
}

impl TableHandle {
    /// Marks the table consumed by a compaction: its file is deleted once
    /// no version names it any more.
    pub fn mark_obsolete(&self) {
        self.obsolete.store(true, Ordering::Relaxed);
    }
}

impl Drop for TableHandle {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Relaxed) {
            self.tables.delete_file(self.meta.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{FileSystem, MemFs};
    use crate::table::{TableBuilder, TableOptions};
    use crate::types::{key_hash, ValueKind, MAX_SEQNO};
    use crate::{Error, Slice};

    fn meta(id: u64) -> TableMeta {
        let key = format!("k{id}").into_bytes();
        TableMeta {
            id,
            file_size: 0,
            smallest_key: key.clone(),
            largest_key: key,
            smallest_seq: 1,
            largest_seq: 1,
            entries: 1,
            tombstones: 0,
        }
    }

    /// Writes `count` one-entry tables (ids 1..=count, key `k{id}`); the
    /// cache holds nothing, so every read needs the file.
    fn tables(count: u64, max_open_files: usize) -> (Arc<MemFs>, Arc<OpenTables>) {
        let fs = Arc::new(MemFs::new());
        let dir = PathBuf::from("/db");
        fs.create_dir_all(&dir).unwrap();
        for id in 1..=count {
            let file = fs.create_writable(&dir.join(table_file_name(id))).unwrap();
            let mut builder = TableBuilder::new(file, TableOptions::default());
            builder
                .add(format!("k{id}").as_bytes(), 1, ValueKind::Value, b"v")
                .unwrap();
            builder.finish().unwrap();
        }
        let cache = Arc::new(BlockCache::new(0));
        let opener = OpenTables::new(fs.clone(), dir, cache, max_open_files);
        (fs, opener)
    }

    fn read(handle: &TableHandle) -> crate::Result<Option<Slice>> {
        let key = &handle.meta.smallest_key;
        let found = handle.table.get(key, key_hash(key), MAX_SEQNO)?;
        Ok(found.map(|(_, _, value)| value))
    }

    #[test]
    fn at_most_max_open_files_stay_open() {
        let (_fs, opener) = tables(40, 16);
        let handles: Vec<_> = (1..=40)
            .map(|id| opener.handle(meta(id), None).unwrap())
            .collect();
        assert_eq!(opener.open_files(), 16);
        for round in 0..3 {
            for handle in &handles {
                assert_eq!(
                    read(handle).unwrap().as_deref(),
                    Some(&b"v"[..]),
                    "round {round}"
                );
                assert!(opener.open_files() <= 16);
            }
        }
        drop(handles);
        assert_eq!(opener.open_files(), 0);
    }

    #[test]
    fn recently_read_tables_keep_their_file() {
        let (fs, opener) = tables(40, 16);
        let hot = opener.handle(meta(1), None).unwrap();
        let mut cold = Vec::new();
        for id in 2..=40 {
            read(&hot).unwrap();
            cold.push(opener.handle(meta(id), None).unwrap());
        }
        // Its file is still open: reading works even once it is deleted.
        fs.remove_file(&PathBuf::from("/db").join(table_file_name(1)))
            .unwrap();
        assert_eq!(read(&hot).unwrap().as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn a_missing_file_is_corruption_naming_it() {
        let (fs, opener) = tables(20, 16);
        let handles: Vec<_> = (1..=20)
            .map(|id| opener.handle(meta(id), None).unwrap())
            .collect();
        // Table 1 was the first closed to make room.
        fs.remove_file(&PathBuf::from("/db").join(table_file_name(1)))
            .unwrap();
        match read(&handles[0]) {
            Err(Error::Corruption { file, .. }) => assert!(file.ends_with(table_file_name(1))),
            other => panic!("expected corruption, got {other:?}"),
        }
    }

    #[test]
    fn obsolete_files_go_with_their_last_handle() {
        let (fs, opener) = tables(2, 16);
        let path = |id| PathBuf::from("/db").join(table_file_name(id));
        let consumed = opener.handle(meta(1), None).unwrap();
        let kept = opener.handle(meta(2), None).unwrap();
        consumed.mark_obsolete();
        let reader = Arc::clone(&consumed);
        drop(consumed);
        assert!(fs.exists(&path(1)), "a reader still holds the handle");
        assert_eq!(read(&reader).unwrap().as_deref(), Some(&b"v"[..]));
        drop(reader);
        assert!(!fs.exists(&path(1)));
        drop(kept);
        assert!(fs.exists(&path(2)), "a table still live is never deleted");
    }
}
