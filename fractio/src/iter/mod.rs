//! Iteration over versions in internal order.
//!
//! [`InternalIterator`] is the cursor every source implements (memtables,
//! table blocks, whole tables, levels) and that [`merge`] combines. A
//! cursor yields *versions*: every `(user key, seq, kind, value)` it holds,
//! in internal order (user key ascending, sequence number descending), with
//! no snapshot filtering and no hiding of tombstones; that is the job of
//! the user-facing iterator built on top of the merge.
//!
//! Cursors own what they read (through `Arc`s), so they are `'static` and
//! can outlive the call that made them.

pub mod level;

use crate::types::{SeqNo, ValueKind};
use crate::Result;

/// A bidirectional cursor over versions in internal order.
///
/// Positioning methods return an error when the source could not be read
/// (an I/O error, a checksum mismatch); the cursor is then invalid.
/// `key`, `seq`, `kind` and `value` may only be called while `valid()`.
pub trait InternalIterator: Send {
    /// Whether the cursor is at an entry.
    fn valid(&self) -> bool;
    /// Moves to the first entry.
    fn seek_to_first(&mut self) -> Result<()>;
    /// Moves to the last entry.
    fn seek_to_last(&mut self) -> Result<()>;
    /// Moves to the first entry at or after `(key, seq)` in internal order:
    /// the newest version of `key` with a sequence number `<= seq`, or else
    /// the first version of the next larger key.
    fn seek(&mut self, key: &[u8], seq: SeqNo) -> Result<()>;
    /// Moves to the last entry at or before `(key, seq)` in internal order.
    /// `seek_for_prev(k, MAX_SEQNO)` lands on the last entry whose user key
    /// is strictly less than `k`; `seek_for_prev(k, 0)` on the last entry
    /// whose user key is `<= k`.
    fn seek_for_prev(&mut self, key: &[u8], seq: SeqNo) -> Result<()>;
    /// Moves to the next entry. REQUIRES: `valid()`.
    fn next(&mut self) -> Result<()>;
    /// Moves to the previous entry. REQUIRES: `valid()`.
    fn prev(&mut self) -> Result<()>;
    /// The user key of the current entry.
    fn key(&self) -> &[u8];
    /// The sequence number of the current entry.
    fn seq(&self) -> SeqNo;
    /// The kind of the current entry.
    fn kind(&self) -> ValueKind;
    /// The value of the current entry (empty for a tombstone).
    fn value(&self) -> &[u8];
}

impl<I: InternalIterator + ?Sized> InternalIterator for Box<I> {
    #[inline]
    fn valid(&self) -> bool {
        (**self).valid()
    }
    #[inline]
    fn seek_to_first(&mut self) -> Result<()> {
        (**self).seek_to_first()
    }
    #[inline]
    fn seek_to_last(&mut self) -> Result<()> {
        (**self).seek_to_last()
    }
    #[inline]
    fn seek(&mut self, key: &[u8], seq: SeqNo) -> Result<()> {
        (**self).seek(key, seq)
    }
    #[inline]
    fn seek_for_prev(&mut self, key: &[u8], seq: SeqNo) -> Result<()> {
        (**self).seek_for_prev(key, seq)
    }
    #[inline]
    fn next(&mut self) -> Result<()> {
        (**self).next()
    }
    #[inline]
    fn prev(&mut self) -> Result<()> {
        (**self).prev()
    }
    #[inline]
    fn key(&self) -> &[u8] {
        (**self).key()
    }
    #[inline]
    fn seq(&self) -> SeqNo {
        (**self).seq()
    }
    #[inline]
    fn kind(&self) -> ValueKind {
        (**self).kind()
    }
    #[inline]
    fn value(&self) -> &[u8] {
        (**self).value()
    }
}

pub mod db_iter;
pub mod merge;
pub mod vec_iter;

pub use db_iter::{prefix_bounds, CursorSource, Iter};
pub use merge::MergingIterator;
pub use vec_iter::VecIter;
