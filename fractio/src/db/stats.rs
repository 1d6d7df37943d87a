//! [`Stats`]: a point-in-time report of the tree's shape and the
//! cumulative work of flushes and compactions, from [`Db::stats`].
//!
//! Gathering takes no lock on the write path: the level shape comes from
//! the current super version (an `ArcSwap` load) and the counters are
//! relaxed atomic loads, so the numbers are each exact but not taken at
//! one instant together.
//!
//! [`Db::stats`]: crate::Db::stats

use super::DbInner;
use crate::options::LEVELS;
use std::fmt;
use std::sync::atomic::Ordering;

/// The tables of one level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LevelStats {
    /// Table files.
    pub files: usize,
    /// Bytes of those files.
    pub bytes: u64,
}

/// What [`Db::stats`](crate::Db::stats) reports.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Per level, L0 first.
    pub levels: Vec<LevelStats>,
    /// Memtables sealed and waiting for a flush.
    pub sealed_memtables: usize,
    /// Memtables written to L0 tables.
    pub flushes: u64,
    /// Bytes of the L0 tables flushes wrote.
    pub flush_bytes: u64,
    /// Compactions that merged and rewrote tables.
    pub compactions: u64,
    /// Compactions that moved tables a level down without rewriting them.
    pub trivial_moves: u64,
    /// Bytes of the tables compactions read.
    pub compaction_bytes_read: u64,
    /// Bytes of the tables compactions wrote.
    pub compaction_bytes_written: u64,
    /// Compactions running now.
    pub running_compactions: usize,
    /// Automatic compactions that failed (and were retried).
    pub compaction_failures: u64,
    /// The last failure of an automatic compaction.
    pub last_compaction_error: Option<String>,
    /// Writes stopped: by `l0_stop_trigger` L0 tables, or by
    /// `max_sealed_memtables` sealed memtables.
    pub stalls: u64,
    /// Microseconds writes spent stopped.
    pub stall_micros: u64,
    /// Of the stalls, those caused by `l0_stop_trigger` L0 tables (the
    /// rest waited for a flush).
    pub l0_stops: u64,
    /// Microseconds of those.
    pub l0_stop_micros: u64,
    /// Writes delayed by the gradual slowdown.
    pub slowdowns: u64,
    /// Microseconds writes spent delayed (summed over writers).
    pub slowdown_micros: u64,
    /// Block cache hits.
    pub block_cache_hits: u64,
    /// Block cache misses.
    pub block_cache_misses: u64,
    /// Bytes of blocks the block cache holds now.
    pub block_cache_bytes: u64,
    /// Table files open now (at most `Options::max_open_tables`).
    pub open_tables: usize,
}

impl Stats {
    /// Tables in L0.
    pub fn l0_tables(&self) -> usize {
        self.levels.first().map_or(0, |level| level.files)
    }

    /// Table files in every level.
    pub fn table_files(&self) -> usize {
        self.levels.iter().map(|level| level.files).sum()
    }

    /// Bytes of every table.
    pub fn table_bytes(&self) -> u64 {
        self.levels.iter().map(|level| level.bytes).sum()
    }

    /// Bytes written to tables by flushes and compactions together.
    pub fn bytes_written(&self) -> u64 {
        self.flush_bytes + self.compaction_bytes_written
    }

    /// Table bytes written per byte flushed: 1.0 with no compaction, and
    /// 0.0 before the first flush. (The log adds one more write of each
    /// byte, not counted here.)
    pub fn write_amplification(&self) -> f64 {
        if self.flush_bytes == 0 {
            return 0.0;
        }
        self.bytes_written() as f64 / self.flush_bytes as f64
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "level  files        bytes")?;
        for (level, stats) in self.levels.iter().enumerate() {
            writeln!(f, "L{level:<5}{:>6} {:>12}", stats.files, stats.bytes)?;
        }
        writeln!(
            f,
            "flushes {} ({} bytes), compactions {} + {} moves (read {} bytes, wrote {} bytes), \
             write amplification {:.2}",
            self.flushes,
            self.flush_bytes,
            self.compactions,
            self.trivial_moves,
            self.compaction_bytes_read,
            self.compaction_bytes_written,
            self.write_amplification()
        )?;
        write!(
            f,
            "stalls {} ({} ms; L0 stops {}, {} ms), slowdowns {} ({} ms), sealed memtables {}, \
             running compactions {}",
            self.stalls,
            self.stall_micros / 1000,
            self.l0_stops,
            self.l0_stop_micros / 1000,
            self.slowdowns,
            self.slowdown_micros / 1000,
            self.sealed_memtables,
            self.running_compactions
        )
    }
}

impl DbInner {
    /// Gathers [`Stats`].
    pub(crate) fn stats(&self) -> Stats {
        let super_version = self.super_version.load();
        let levels = (0..LEVELS)
            .map(|level| {
                let tables = super_version.version.level(level);
                LevelStats {
                    files: tables.len(),
                    bytes: tables.iter().map(|t| t.meta.file_size).sum(),
                }
            })
            .collect();
        let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        let (counters, compaction) = (&self.counters, &self.compaction);
        let (running_compactions, last_compaction_error) = compaction.activity();
        Stats {
            levels,
            sealed_memtables: super_version.sealed.len(),
            flushes: load(&counters.flushes),
            flush_bytes: load(&counters.flush_bytes),
            compactions: load(&counters.compactions),
            trivial_moves: load(&compaction.trivial_moves),
            compaction_bytes_read: load(&counters.compaction_bytes_read),
            compaction_bytes_written: load(&counters.compaction_bytes_written),
            running_compactions,
            compaction_failures: load(&compaction.failures),
            last_compaction_error,
            stalls: load(&counters.stalls),
            stall_micros: load(&counters.stall_micros),
            l0_stops: load(&compaction.throttle.l0_stops),
            l0_stop_micros: load(&compaction.throttle.l0_stop_micros),
            slowdowns: load(&compaction.throttle.slowdowns),
            slowdown_micros: load(&compaction.throttle.slowdown_micros),
            block_cache_hits: self.cache.hits(),
            block_cache_misses: self.cache.misses(),
            block_cache_bytes: self.cache.used_bytes() as u64,
            open_tables: self.tables.open_files(),
        }
    }
}
