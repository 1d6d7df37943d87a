//! The `lsm-tree` engine (cargo feature `lsm-tree`): the bare `lsm-tree`
//! crate under fjall, a tree with no journal and no background workers.
//!
//! Durability: none. Writes live in the memtable until a flush; a process
//! crash loses them, whatever `--durability` says. The adapter does what a
//! storage engine around the tree would: it hands out sequence numbers,
//! flushes the memtable to a table when it reaches 64 MiB (fractio's and
//! RocksDB's memtable size) and runs a leveled compaction when level 0 has
//! 4 tables — inline, in the writing thread that crossed the threshold.

use crate::bench::engine::Engine;
use crate::bench::error::{engine_err, Result};
use lsm_tree::compaction::Leveled;
use lsm_tree::{AbstractTree, AnyTree, Config, Guard, SequenceNumberCounter};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Memtable size at which the adapter flushes.
const MEMTABLE_BYTES: u64 = 64 << 20;
/// Level-0 tables that make the adapter compact.
const L0_COMPACTION_TRIGGER: usize = 4;

/// An `lsm_tree` tree with its sequence numbers.
pub struct LsmTreeEngine {
    tree: AnyTree,
    seqno: SequenceNumberCounter,
    /// Held by the one writer that flushes; others go on writing.
    maintenance: Mutex<()>,
}

impl LsmTreeEngine {
    /// Creates a tree in `dir`.
    pub fn open(dir: &Path) -> Result<LsmTreeEngine> {
        let seqno = SequenceNumberCounter::default();
        let visible = SequenceNumberCounter::default();
        let tree = Config::new(dir, seqno.clone(), visible)
            .open()
            .map_err(engine_err)?;
        Ok(LsmTreeEngine {
            tree,
            seqno,
            maintenance: Mutex::new(()),
        })
    }

    /// The snapshot a read sees: every write made so far.
    fn read_seqno(&self) -> u64 {
        self.seqno.get()
    }

    /// Flushes and compacts when the memtable is full.
    fn after_write(&self, memtable_bytes: u64) -> Result<()> {
        if memtable_bytes < MEMTABLE_BYTES {
            return Ok(());
        }
        let Ok(_guard) = self.maintenance.try_lock() else {
            return Ok(());
        };
        self.flush_and_compact()
    }

    fn flush_and_compact(&self) -> Result<()> {
        let threshold = self.seqno.get();
        self.tree
            .flush_active_memtable(threshold)
            .map_err(engine_err)?;
        if self.tree.level_table_count(0).unwrap_or(0) >= L0_COMPACTION_TRIGGER {
            self.tree
                .compact(Arc::new(Leveled::default()), threshold)
                .map_err(engine_err)?;
        }
        Ok(())
    }

    fn visit_all(
        iter: impl Iterator<Item = lsm_tree::IterGuardImpl>,
        mut visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        for guard in iter {
            let (key, value) = guard.into_inner().map_err(engine_err)?;
            if !visit(&key, &value) {
                break;
            }
        }
        Ok(())
    }
}

impl Engine for LsmTreeEngine {
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let (_, memtable_bytes) = self.tree.insert(key, value, self.seqno.next());
        self.after_write(memtable_bytes)
    }

    fn remove(&self, key: &[u8]) -> Result<()> {
        let (_, memtable_bytes) = self.tree.remove(key, self.seqno.next());
        self.after_write(memtable_bytes)
    }

    fn get<R>(&self, key: &[u8], check: impl FnOnce(Option<&[u8]>) -> R) -> Result<R> {
        let value = self.tree.get(key, self.read_seqno()).map_err(engine_err)?;
        Ok(check(value.as_deref()))
    }

    fn contains(&self, key: &[u8]) -> Result<bool> {
        self.tree
            .contains_key(key, self.read_seqno())
            .map_err(engine_err)
    }

    fn range(
        &self,
        start: &[u8],
        end: &[u8],
        visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        Self::visit_all(self.tree.range(start..end, self.read_seqno(), None), visit)
    }

    fn prefix(&self, prefix: &[u8], visit: impl FnMut(&[u8], &[u8]) -> bool) -> Result<()> {
        Self::visit_all(self.tree.prefix(prefix, self.read_seqno(), None), visit)
    }

    fn finish(&self) -> Result<()> {
        let _guard = self.maintenance.lock().map_err(engine_err)?;
        self.flush_and_compact()
    }
}
