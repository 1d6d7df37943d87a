//! Options of a database, their defaults and their validation.

use crate::fs::{FileSystem, StdFs};
use crate::{Error, Result};
use std::sync::Arc;

/// When a write that returned `Ok` is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// The write survives the death of the process (kill -9, a panic), not
    /// a power loss or an operating-system crash. The log append is a copy
    /// into a shared file mapping: no system call per write. Call
    /// [`Db::persist`](crate::Db::persist) to make everything written so
    /// far survive a power loss.
    #[default]
    Process,
    /// The write survives a power loss: the log is synced before the write
    /// returns. Concurrent writers share one sync (group commit). A write
    /// that has not returned yet may be seen by readers before it is
    /// durable, and lost by a power loss or the death of the process.
    Sync,
}

/// Block compression of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Blocks are stored as they are.
    #[default]
    None,
    /// Blocks are compressed with LZ4 when that saves at least 1/8th.
    Lz4,
}

/// What `open` does when the log holds a corrupted record that is not a
/// torn write at its very end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Refuse to open: return [`Error::Corruption`](crate::Error::Corruption).
    #[default]
    Strict,
    /// Keep every record before the first bad one, drop the rest of the
    /// log, report what was dropped in the open's stats, and open.
    Salvage,
}

/// The options of a database. Build them with [`Db::builder`](crate::Db::builder).
#[derive(Debug, Clone)]
pub struct Options {
    /// Bytes of entries a memtable takes before it is sealed and a new one
    /// takes the writes. Default 32 MiB.
    pub memtable_size: usize,
    /// Sealed memtables waiting for a flush before writers wait. Default 2.
    pub max_sealed_memtables: usize,
    /// Durability of writes. Default [`Durability::Process`].
    pub durability: Durability,
    /// Uncompressed size of a table data block. Default 4 KiB.
    pub block_size: usize,
    /// Bytes of the block cache. Default 32 MiB (as RocksDB and fjall).
    pub block_cache_size: usize,
    /// Bloom filter bits per key (0 turns filters off). Default 10.
    pub bloom_bits_per_key: u32,
    /// Compression per level: entry `i` applies to level `i`, the last entry
    /// to every deeper level. Default: none for L0 and L1, LZ4 below.
    pub compression: Vec<Compression>,
    /// Target size of a table written by compaction. Default 64 MiB.
    pub table_size: u64,
    /// L0 tables that trigger a compaction into L1. Default 4.
    pub l0_compaction_trigger: usize,
    /// L0 tables from which writes are slowed down. Default 12.
    pub l0_slowdown_trigger: usize,
    /// L0 tables at which writes stop until compaction catches up. Default 20.
    pub l0_stop_trigger: usize,
    /// Target size of L1. Default 256 MiB.
    pub l1_size: u64,
    /// Each level below L1 is this many times the size of the one above.
    /// Default 10.
    pub level_size_multiplier: u64,
    /// Background compaction threads. Default 2.
    pub compaction_threads: usize,
    /// Table files kept open at once (each open table holds a file
    /// descriptor and its index and filter in memory); the least recently
    /// used are closed, and opened again when read. Default 1024.
    pub max_open_tables: usize,
    /// Size past which the manifest (the log of version changes) is
    /// replaced by a new one holding just the current state. Default
    /// 64 MiB.
    pub max_manifest_size: u64,
    /// What `open` does with a corrupted log. Default [`RecoveryMode::Strict`].
    pub recovery: RecoveryMode,
    /// The file system. Default the real one.
    pub fs: Arc<dyn FileSystem>,
}

/// The number of levels, L0 to L6.
pub const LEVELS: usize = 7;

impl Default for Options {
    fn default() -> Options {
        Options {
            memtable_size: 32 << 20,
            max_sealed_memtables: 2,
            durability: Durability::Process,
            block_size: 4 << 10,
            block_cache_size: 32 << 20,
            bloom_bits_per_key: 10,
            compression: vec![Compression::None, Compression::None, Compression::Lz4],
            table_size: 64 << 20,
            l0_compaction_trigger: 4,
            l0_slowdown_trigger: 12,
            l0_stop_trigger: 20,
            l1_size: 256 << 20,
            level_size_multiplier: 10,
            compaction_threads: 2,
            max_open_tables: 1024,
            max_manifest_size: 64 << 20,
            recovery: RecoveryMode::Strict,
            fs: Arc::new(StdFs),
        }
    }
}

impl Options {
    /// The compression of tables written to `level`.
    pub fn compression_for(&self, level: usize) -> Compression {
        self.compression
            .get(level)
            .or(self.compression.last())
            .copied()
            .unwrap_or_default()
    }

    /// Checks that the options make sense together.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::InvalidArgument(what.to_string()));
        if self.memtable_size < 64 << 10 || self.memtable_size > 2 << 30 {
            return bad("memtable_size must be between 64 KiB and 2 GiB");
        }
        if self.max_sealed_memtables == 0 {
            return bad("max_sealed_memtables must be at least 1");
        }
        if self.block_size < 256 || self.block_size > 1 << 20 {
            return bad("block_size must be between 256 bytes and 1 MiB");
        }
        if self.bloom_bits_per_key > 64 {
            return bad("bloom_bits_per_key must be at most 64");
        }
        if self.table_size < 64 << 10 {
            return bad("table_size must be at least 64 KiB");
        }
        if self.l0_compaction_trigger == 0
            || self.l0_slowdown_trigger < self.l0_compaction_trigger
            || self.l0_stop_trigger <= self.l0_slowdown_trigger
        {
            return bad("need 0 < l0_compaction_trigger <= l0_slowdown_trigger < l0_stop_trigger");
        }
        if self.level_size_multiplier < 2 {
            return bad("level_size_multiplier must be at least 2");
        }
        if self.l1_size == 0 {
            return bad("l1_size must be positive");
        }
        if self.compaction_threads == 0 || self.compaction_threads > 64 {
            return bad("compaction_threads must be between 1 and 64");
        }
        if self.max_manifest_size < 1 << 10 {
            return bad("max_manifest_size must be at least 1 KiB");
        }
        if self.max_open_tables < 2 {
            return bad("max_open_tables must be at least 2");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_refused() {
        Options::default().validate().unwrap();
        let mut options = Options {
            memtable_size: 10,
            ..Options::default()
        };
        assert!(matches!(options.validate(), Err(Error::InvalidArgument(_))));
        options.memtable_size = 1 << 20;
        options.l0_stop_trigger = options.l0_slowdown_trigger;
        assert!(options.validate().is_err());
    }

    #[test]
    fn compression_repeats_the_last_entry() {
        let options = Options::default();
        assert_eq!(options.compression_for(0), Compression::None);
        assert_eq!(options.compression_for(6), Compression::Lz4);
    }
}
