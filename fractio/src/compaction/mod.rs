//! Compaction: rewriting tables to bound read cost and drop garbage.
//!
//! [`retention`] decides which versions a rewrite (flush or compaction) may
//! drop.

pub mod retention;
