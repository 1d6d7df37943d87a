//! The `fractio` engine: a [`fractio::Db`] with its default options (32 MiB
//! memtable, `Durability::Process`), and for the skiplist suite fractio's
//! own memtable skiplist, [`fractio::memtable::Memtable`].
//!
//! Point reads go through `Db::get_with`, which lends the value where it
//! lies instead of copying it out (as the RocksDB engine reads through
//! `get_pinned`).
//!
//! Durability: `Durability::Process` (the default) appends each write to a
//! mapped log segment, so an acknowledged write survives a process crash,
//! not a power loss; `--durability sync` opens with `Durability::Sync`.

use crate::bench::args::DurabilityArg;
use crate::bench::engine::Engine;
use crate::bench::error::{engine_err, Error, Result};
use crate::bench::skiplist_suite::OrderedMap;
use fractio::iter::InternalIterator;
use fractio::memtable::Memtable;
use fractio::types::MAX_SEQNO;
use fractio::{Db, Durability, ValueKind};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A fractio database.
pub struct FractioEngine {
    db: Db,
}

impl FractioEngine {
    /// Creates a database in `dir`.
    pub fn open(dir: &Path, durability: DurabilityArg) -> Result<FractioEngine> {
        let durability = match durability {
            DurabilityArg::Process => Durability::Process,
            DurabilityArg::Sync => Durability::Sync,
        };
        let db = Db::builder(dir)
            .durability(durability)
            .open()
            .map_err(engine_err)?;
        Ok(FractioEngine { db })
    }

    /// Visits the entries lent by `next_ref` (no copy per entry, as the
    /// RocksDB engine reads its raw iterator's key and value in place).
    fn visit_all(
        mut iter: fractio::Iter,
        mut visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        while let Some(item) = iter.next_ref() {
            let (key, value) = item.map_err(engine_err)?;
            if !visit(key, value) {
                break;
            }
        }
        Ok(())
    }
}

impl Engine for FractioEngine {
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.db.insert(key, value).map_err(engine_err)
    }

    fn remove(&self, key: &[u8]) -> Result<()> {
        self.db.remove(key).map_err(engine_err)
    }

    fn get<R>(&self, key: &[u8], check: impl FnOnce(Option<&[u8]>) -> R) -> Result<R> {
        self.db.get_with(key, check).map_err(engine_err)
    }

    fn contains(&self, key: &[u8]) -> Result<bool> {
        self.db.contains_key(key).map_err(engine_err)
    }

    #[inline(never)]
    fn range(
        &self,
        start: &[u8],
        end: &[u8],
        visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        Self::visit_all(self.db.range(start..end), visit)
    }

    #[inline(never)]
    fn prefix(&self, prefix: &[u8], visit: impl FnMut(&[u8], &[u8]) -> bool) -> Result<()> {
        Self::visit_all(self.db.prefix(prefix), visit)
    }

    fn finish(&self) -> Result<()> {
        if std::env::var_os("FRACTIO_BENCH_STATS").is_some() {
            eprintln!("{:#?}", self.db.stats());
        }
        self.db.flush().map_err(engine_err)
    }
}

/// fractio's memtable skiplist used as a plain map: every write takes the
/// next sequence number, a removal is a tombstone, a lookup reads the
/// newest version.
pub struct MemtableMap {
    table: Arc<Memtable>,
    seq: AtomicU64,
}

impl MemtableMap {
    /// A memtable whose arena holds `entries` entries of `key_size` and
    /// `value_size` bytes at worst (the arena is mapped lazily: untouched
    /// pages cost no memory).
    pub fn new(entries: u64, key_size: usize, value_size: usize) -> MemtableMap {
        let bytes = entries.saturating_mul(Memtable::entry_size(key_size, value_size) as u64);
        let capacity = bytes.min(u64::from(u32::MAX)) as usize;
        MemtableMap {
            table: Arc::new(Memtable::new(capacity)),
            seq: AtomicU64::new(0),
        }
    }

    fn put(&self, key: &[u8], kind: ValueKind, value: &[u8]) -> Result<()> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        if self.table.insert(key, seq, kind, value) {
            return Ok(());
        }
        Err(Error::Engine(format!(
            "the memtable is full ({} bytes); lower --ops",
            self.table.capacity()
        )))
    }
}

impl OrderedMap for MemtableMap {
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.put(key, ValueKind::Value, value)
    }

    fn remove(&self, key: &[u8]) -> Result<()> {
        self.put(key, ValueKind::Tombstone, b"")
    }

    fn get<R>(&self, key: &[u8], check: impl FnOnce(Option<&[u8]>) -> R) -> R {
        match self.table.get(key, MAX_SEQNO) {
            Some((_, ValueKind::Value, value)) => check(Some(value)),
            _ => check(None),
        }
    }

    /// Visits the raw versions as the cursor yields them, with no merging
    /// of versions: this measures the skiplist, like the crossbeam
    /// baseline. The suite iterates while every key has exactly one
    /// version; a tombstone or an older version would fail its checks.
    fn for_each(&self, reverse: bool, mut visit: impl FnMut(&[u8], &[u8]) -> bool) -> Result<()> {
        let mut cursor = self.table.iter();
        if reverse {
            cursor.seek_to_last().map_err(engine_err)?;
        } else {
            cursor.seek_to_first().map_err(engine_err)?;
        }
        while cursor.valid() {
            if !visit(cursor.key(), cursor.value()) {
                break;
            }
            if reverse {
                cursor.prev().map_err(engine_err)?;
            } else {
                cursor.next().map_err(engine_err)?;
            }
        }
        Ok(())
    }
}
