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
//!
//! A [`KeyRange`] tells the code that builds a cursor which user keys the
//! caller will look at, so that it can leave out sources that hold none of
//! them ([`source`]) and stop merging children that have passed the range
//! ([`merge`]). It is a hint: a cursor made for a range holds every version
//! inside it, and maybe some outside.

pub mod level;

use std::ops::Bound;

use crate::table::TableIter;
use crate::types::{compare_user_keys, user_keys_equal, SeqNo, ValueKind};
use crate::Result;

/// The user keys a cursor is made for: between `lower` and `upper`.
#[derive(Clone, Copy, Debug)]
pub struct KeyRange<'a> {
    /// The lower bound.
    pub lower: Bound<&'a [u8]>,
    /// The upper bound.
    pub upper: Bound<&'a [u8]>,
}

impl<'a> KeyRange<'a> {
    /// Every key.
    pub const ALL: KeyRange<'static> = KeyRange {
        lower: Bound::Unbounded,
        upper: Bound::Unbounded,
    };

    /// The range between `lower` and `upper`.
    pub fn new(lower: Bound<&'a [u8]>, upper: Bound<&'a [u8]>) -> KeyRange<'a> {
        KeyRange { lower, upper }
    }

    /// Whether `key` is not below the lower bound.
    #[inline]
    pub fn above_lower(&self, key: &[u8]) -> bool {
        match self.lower {
            Bound::Unbounded => true,
            Bound::Included(bound) => compare_user_keys(key, bound).is_ge(),
            Bound::Excluded(bound) => compare_user_keys(key, bound).is_gt(),
        }
    }

    /// Whether `key` is not above the upper bound.
    #[inline]
    pub fn below_upper(&self, key: &[u8]) -> bool {
        match self.upper {
            Bound::Unbounded => true,
            Bound::Included(bound) => compare_user_keys(key, bound).is_le(),
            Bound::Excluded(bound) => compare_user_keys(key, bound).is_lt(),
        }
    }

    /// Whether some key in `[smallest, largest]` may be in the range.
    #[inline]
    pub fn overlaps(&self, smallest: &[u8], largest: &[u8]) -> bool {
        self.above_lower(largest) && self.below_upper(smallest)
    }
}

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

    /// Moves past every remaining version of the current user key, to the
    /// first entry of the next larger key (or to invalid). `scratch` is a
    /// buffer to copy the key into: the default way
    /// ([`next_key_by_copy`]) copies it, then steps until the key differs;
    /// cursors that can tell a new key without the copy (a block's prefix
    /// compression, a memtable's nodes that stay put) override it.
    /// REQUIRES: `valid()`.
    fn next_key(&mut self, scratch: &mut Vec<u8>) -> Result<()> {
        next_key_by_copy(self, scratch)
    }

    /// The table cursor whose entries are this cursor's next ones, from
    /// the current entry on for as long as the table's cursor stays in
    /// its current block: a table's own cursor, a level's current table's,
    /// a merge's whose other children are all behind it. A caller may step
    /// it forward inside that block ([`TableIter::next_in_block`]) instead
    /// of stepping this cursor, which is then where the table's cursor is.
    /// `None` when there is no such table cursor (the default).
    fn table_cursor(&mut self) -> Option<&mut TableIter> {
        None
    }
}

/// [`InternalIterator::next_key`] the default way: copies the current key
/// into `scratch`, then steps forward until the cursor is past it.
/// REQUIRES: `cursor.valid()`.
#[inline]
pub fn next_key_by_copy<I: InternalIterator + ?Sized>(
    cursor: &mut I,
    scratch: &mut Vec<u8>,
) -> Result<()> {
    scratch.clear();
    scratch.extend_from_slice(cursor.key());
    loop {
        cursor.next()?;
        if !cursor.valid() || !user_keys_equal(cursor.key(), scratch) {
            return Ok(());
        }
    }
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
    #[inline]
    fn next_key(&mut self, scratch: &mut Vec<u8>) -> Result<()> {
        (**self).next_key(scratch)
    }
    #[inline]
    fn table_cursor(&mut self) -> Option<&mut TableIter> {
        (**self).table_cursor()
    }
}

pub mod db_iter;
pub mod merge;
pub mod source;
pub mod vec_iter;

pub use db_iter::{prefix_bounds, CursorSource, Iter};
pub use merge::MergingIterator;
pub use source::{DbCursor, SourceCursor};
pub use vec_iter::VecIter;
