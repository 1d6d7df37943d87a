//! fractio: an embedded LSM-tree key-value storage engine.
//!
//! Writes go to a write-ahead log and a concurrent arena skiplist (the
//! memtable); full memtables are flushed to sorted table files in the
//! background and compacted level by level. Reads see a consistent snapshot
//! by sequence number.

pub mod batch;
pub mod cache;
pub mod coding;
pub mod compaction;
mod db;
mod error;
pub mod fs;
pub mod iter;
pub mod memtable;
mod options;
mod prefetch;
mod slice;
pub mod table;
pub mod types;
pub mod version;
pub mod wal;

pub use batch::WriteBatch;
pub use db::snapshot::Snapshot;
pub use db::stats::{LevelStats, Stats};
pub use db::{Db, DbBuilder, RecoveryReport};
pub use error::{Error, Result};
pub use iter::db_iter::Iter;
pub use options::{Compression, Durability, Options, RecoveryMode, LEVELS};
pub use slice::{Key, Slice, Value, INLINE_CAPACITY};
pub use types::{SeqNo, ValueKind, MAX_KEY_LEN, MAX_VALUE_LEN};
