//! The `fjall` engine (cargo feature `fjall`): one keyspace of a fjall 3
//! database with default options.
//!
//! Durability: by default (`manual_journal_persist(false)`) fjall flushes
//! its journal to the OS buffers (`PersistMode::Buffer`) on every write,
//! so an acknowledged write survives a process crash, not a power loss —
//! the same promise as RocksDB's and fractio's defaults. `--durability
//! sync` adds `persist(PersistMode::SyncData)` after every write.

use crate::bench::args::DurabilityArg;
use crate::bench::engine::Engine;
use crate::bench::error::{engine_err, Result};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use std::path::Path;

/// A fjall database and its one keyspace.
pub struct FjallEngine {
    db: Database,
    keyspace: Keyspace,
    sync: bool,
}

impl FjallEngine {
    /// Creates a database in `dir`.
    pub fn open(dir: &Path, durability: DurabilityArg) -> Result<FjallEngine> {
        let db = Database::builder(dir).open().map_err(engine_err)?;
        let keyspace = db
            .keyspace("bench", KeyspaceCreateOptions::default)
            .map_err(engine_err)?;
        Ok(FjallEngine {
            db,
            keyspace,
            sync: durability == DurabilityArg::Sync,
        })
    }

    fn after_write(&self) -> Result<()> {
        if self.sync {
            self.db.persist(PersistMode::SyncData).map_err(engine_err)?;
        }
        Ok(())
    }

    fn visit_all(iter: fjall::Iter, mut visit: impl FnMut(&[u8], &[u8]) -> bool) -> Result<()> {
        for guard in iter {
            let (key, value) = guard.into_inner().map_err(engine_err)?;
            if !visit(&key, &value) {
                break;
            }
        }
        Ok(())
    }
}

impl Engine for FjallEngine {
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.keyspace.insert(key, value).map_err(engine_err)?;
        self.after_write()
    }

    fn remove(&self, key: &[u8]) -> Result<()> {
        self.keyspace.remove(key).map_err(engine_err)?;
        self.after_write()
    }

    fn get<R>(&self, key: &[u8], check: impl FnOnce(Option<&[u8]>) -> R) -> Result<R> {
        let value = self.keyspace.get(key).map_err(engine_err)?;
        Ok(check(value.as_deref()))
    }

    fn contains(&self, key: &[u8]) -> Result<bool> {
        self.keyspace.contains_key(key).map_err(engine_err)
    }

    fn range(
        &self,
        start: &[u8],
        end: &[u8],
        visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        Self::visit_all(self.keyspace.range(start..end), visit)
    }

    fn prefix(&self, prefix: &[u8], visit: impl FnMut(&[u8], &[u8]) -> bool) -> Result<()> {
        Self::visit_all(self.keyspace.prefix(prefix), visit)
    }

    fn finish(&self) -> Result<()> {
        self.keyspace
            .rotate_memtable_and_wait()
            .map_err(engine_err)?;
        self.db.persist(PersistMode::SyncAll).map_err(engine_err)
    }
}
