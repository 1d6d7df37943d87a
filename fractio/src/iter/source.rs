//! [`SourceCursor`]: the cursor over one source of a database read (a
//! memtable, an L0 table, a level), and [`DbCursor`], the merge of them
//! that a database [`Iter`](crate::iter::Iter) walks.
//!
//! The kinds of source are few and known, so a cursor over one is an enum
//! and a step is a `match` the compiler can inline, not a virtual call
//! through a `Box`. [`SourceCursor::Boxed`] takes any other cursor (tests,
//! helpers) at the price of the virtual call.

use crate::iter::level::{LevelIter, VersionLevel};
use crate::iter::merge::MergingIterator;
use crate::iter::InternalIterator;
use crate::memtable::MemtableIter;
use crate::table::TableIter;
use crate::types::{SeqNo, ValueKind};
use crate::Result;

/// A cursor over one source of a read.
pub enum SourceCursor {
    /// A memtable (active or sealed).
    Memtable(MemtableIter),
    /// One table (level 0).
    Table(TableIter),
    /// The tables of a sorted level that overlap the read's range.
    Level(LevelIter<VersionLevel>),
    /// Any other cursor.
    Boxed(Box<dyn InternalIterator>),
}

/// The cursor a database iterator walks: every source merged.
pub type DbCursor = MergingIterator<SourceCursor>;

/// Calls `$call` on whichever cursor `$self` holds.
macro_rules! dispatch {
    ($self:expr, $cursor:ident => $call:expr) => {
        match $self {
            SourceCursor::Memtable($cursor) => $call,
            SourceCursor::Table($cursor) => $call,
            SourceCursor::Level($cursor) => $call,
            SourceCursor::Boxed($cursor) => $call,
        }
    };
}

impl InternalIterator for SourceCursor {
    #[inline]
    fn valid(&self) -> bool {
        dispatch!(self, c => c.valid())
    }

    fn seek_to_first(&mut self) -> Result<()> {
        dispatch!(self, c => c.seek_to_first())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        dispatch!(self, c => c.seek_to_last())
    }

    fn seek(&mut self, key: &[u8], seq: SeqNo) -> Result<()> {
        dispatch!(self, c => c.seek(key, seq))
    }

    fn seek_for_prev(&mut self, key: &[u8], seq: SeqNo) -> Result<()> {
        dispatch!(self, c => c.seek_for_prev(key, seq))
    }

    #[inline]
    fn next(&mut self) -> Result<()> {
        dispatch!(self, c => c.next())
    }

    #[inline]
    fn prev(&mut self) -> Result<()> {
        dispatch!(self, c => c.prev())
    }

    #[inline]
    fn key(&self) -> &[u8] {
        dispatch!(self, c => c.key())
    }

    #[inline]
    fn seq(&self) -> SeqNo {
        dispatch!(self, c => c.seq())
    }

    #[inline]
    fn kind(&self) -> ValueKind {
        dispatch!(self, c => c.kind())
    }

    #[inline]
    fn value(&self) -> &[u8] {
        dispatch!(self, c => c.value())
    }

    #[inline]
    fn next_key(&mut self, scratch: &mut Vec<u8>) -> Result<()> {
        dispatch!(self, c => c.next_key(scratch))
    }

    #[inline]
    fn table_cursor(&mut self) -> Option<&mut TableIter> {
        match self {
            SourceCursor::Memtable(_) => None,
            SourceCursor::Table(c) => Some(c),
            SourceCursor::Level(c) => c.table_cursor(),
            SourceCursor::Boxed(c) => c.table_cursor(),
        }
    }
}
