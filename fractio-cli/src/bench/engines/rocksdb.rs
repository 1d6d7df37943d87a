//! The `rocksdb` engine (cargo feature `rocksdb`): RocksDB through the
//! `rocksdb` crate with its default options (64 MiB memtable, leveled
//! compaction, 2 background jobs). No compression library but LZ4 is
//! compiled in, so its default (Snappy) falls back to none.
//!
//! Durability: the default `WriteOptions` append every write to the WAL
//! through the OS page cache without fsync, so an acknowledged write
//! survives a process crash, not a power loss; `--durability sync` sets
//! `sync = true` (fsync per write).

use crate::bench::args::DurabilityArg;
use crate::bench::engine::Engine;
use crate::bench::error::{engine_err, Result};
use rocksdb::{Options, WriteOptions, DB};
use std::path::Path;

/// A RocksDB database.
pub struct RocksDbEngine {
    db: DB,
    write_options: WriteOptions,
}

impl RocksDbEngine {
    /// Creates a database in `dir`.
    pub fn open(dir: &Path, durability: DurabilityArg) -> Result<RocksDbEngine> {
        let mut options = Options::default();
        options.create_if_missing(true);
        let db = DB::open(&options, dir).map_err(engine_err)?;
        let mut write_options = WriteOptions::default();
        write_options.set_sync(durability == DurabilityArg::Sync);
        Ok(RocksDbEngine { db, write_options })
    }

    /// Visits entries from `start` while `keep(key)` and `visit` agree.
    fn scan(
        &self,
        start: &[u8],
        keep: impl Fn(&[u8]) -> bool,
        mut visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        let mut iter = self.db.raw_iterator();
        iter.seek(start);
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            if !keep(key) || !visit(key, value) {
                break;
            }
            iter.next();
        }
        iter.status().map_err(engine_err)
    }
}

impl Engine for RocksDbEngine {
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.db
            .put_opt(key, value, &self.write_options)
            .map_err(engine_err)
    }

    fn remove(&self, key: &[u8]) -> Result<()> {
        self.db
            .delete_opt(key, &self.write_options)
            .map_err(engine_err)
    }

    fn get<R>(&self, key: &[u8], check: impl FnOnce(Option<&[u8]>) -> R) -> Result<R> {
        let value = self.db.get_pinned(key).map_err(engine_err)?;
        Ok(check(value.as_deref()))
    }

    fn contains(&self, key: &[u8]) -> Result<bool> {
        Ok(self.db.get_pinned(key).map_err(engine_err)?.is_some())
    }

    fn range(
        &self,
        start: &[u8],
        end: &[u8],
        visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        self.scan(start, |key| key < end, visit)
    }

    fn prefix(&self, prefix: &[u8], visit: impl FnMut(&[u8], &[u8]) -> bool) -> Result<()> {
        self.scan(prefix, |key| key.starts_with(prefix), visit)
    }

    fn finish(&self) -> Result<()> {
        self.db.flush().map_err(engine_err)
    }
}
