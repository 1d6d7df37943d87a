//! Compaction: rewriting tables to bound read cost and drop garbage.
//!
//! - [`retention`] decides which versions a rewrite (flush or compaction)
//!   may drop.
//! - [`picker`] chooses what to compact from a version's shape alone (a
//!   pure function).
//! - `output` filters a merged stream of versions (garbage collection) and
//!   writes what is kept into tables of a target size; flushes use it too.
//! - `job` runs one compaction's merge.
//!
//! The background threads, installing results, `Db::compact` and write
//! backpressure live in `db/compact.rs`.

pub(crate) mod job;
pub(crate) mod output;
pub mod picker;
pub mod retention;
