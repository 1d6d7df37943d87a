//! [`VecIter`]: an [`InternalIterator`] over an in-memory, sorted list of
//! entries, for tests and small helpers.
//!
//! It owns its entries behind an `Arc`, so cloning a `VecIter` (or making
//! many over one list with [`VecIter::shared`]) copies nothing. It can also
//! play a failing source: [`VecIter::fail_after`] makes every positioning
//! call after the first `n` return an error, which is how the merge and the
//! database iterator are tested against read failures.
//!
//! Invariants: the entries are in internal order (user key ascending, then
//! sequence number descending; equal `(key, seq)` pairs keep the order they
//! were given in); the position is an index into them, and
//! `pos == entries.len()` means "not valid".

use std::fmt;
use std::sync::Arc;

use crate::iter::InternalIterator;
use crate::types::{compare_internal, SeqNo, ValueKind};
use crate::{Error, Result};

/// One stored version of a user key, as a [`VecIter`] holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The user key.
    pub key: Vec<u8>,
    /// The sequence number of the write.
    pub seq: SeqNo,
    /// Whether the write set a value or removed the key.
    pub kind: ValueKind,
    /// The value (empty for a tombstone).
    pub value: Vec<u8>,
}

impl Entry {
    /// A version that sets `key` to `value`.
    pub fn value(key: impl Into<Vec<u8>>, seq: SeqNo, value: impl Into<Vec<u8>>) -> Entry {
        Entry {
            key: key.into(),
            seq,
            kind: ValueKind::Value,
            value: value.into(),
        }
    }

    /// A version that removes `key`.
    pub fn tombstone(key: impl Into<Vec<u8>>, seq: SeqNo) -> Entry {
        Entry {
            key: key.into(),
            seq,
            kind: ValueKind::Tombstone,
            value: Vec::new(),
        }
    }
}

/// A bidirectional cursor over a sorted list of [`Entry`]s.
#[derive(Clone)]
pub struct VecIter {
    entries: Arc<[Entry]>,
    /// The current entry; `entries.len()` when not valid.
    pos: usize,
    /// Positioning calls left before every further one fails; `None` never
    /// fails.
    calls_before_failure: Option<usize>,
}

impl VecIter {
    /// A cursor over `entries`, which it sorts into internal order first
    /// (stably, so equal `(key, seq)` pairs keep their given order).
    pub fn new(mut entries: Vec<Entry>) -> VecIter {
        entries.sort_by(|a, b| compare_internal(&a.key, a.seq, &b.key, b.seq));
        VecIter::shared(entries.into())
    }

    /// A cursor over entries already in internal order, shared with other
    /// cursors. Panics if they are not sorted.
    pub fn shared(entries: Arc<[Entry]>) -> VecIter {
        assert!(
            entries
                .windows(2)
                .all(|w| compare_internal(&w[0].key, w[0].seq, &w[1].key, w[1].seq).is_le()),
            "VecIter::shared needs entries in internal order"
        );
        let pos = entries.len();
        VecIter {
            entries,
            pos,
            calls_before_failure: None,
        }
    }

    /// Makes the first `calls` positioning calls (seeks, `next`, `prev`)
    /// behave normally and every later one fail with an I/O error, leaving
    /// the cursor invalid.
    pub fn fail_after(mut self, calls: usize) -> VecIter {
        self.calls_before_failure = Some(calls);
        self
    }

    /// The entries, in internal order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Counts one positioning call and fails it if the budget is spent.
    fn tick(&mut self) -> Result<()> {
        match &mut self.calls_before_failure {
            Some(0) => {
                self.pos = self.entries.len();
                Err(Error::Io(std::io::Error::other(
                    "injected failure in a test cursor",
                )))
            }
            Some(left) => {
                *left -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    #[inline]
    fn current(&self) -> &Entry {
        assert!(self.valid(), "VecIter read while not valid");
        &self.entries[self.pos]
    }
}

impl InternalIterator for VecIter {
    #[inline]
    fn valid(&self) -> bool {
        self.pos < self.entries.len()
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.tick()?;
        self.pos = 0;
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.tick()?;
        // An empty list gives 0 == len: not valid.
        self.pos = self.entries.len().saturating_sub(1);
        Ok(())
    }

    fn seek(&mut self, key: &[u8], seq: SeqNo) -> Result<()> {
        self.tick()?;
        self.pos = self
            .entries
            .partition_point(|e| compare_internal(&e.key, e.seq, key, seq).is_lt());
        Ok(())
    }

    fn seek_for_prev(&mut self, key: &[u8], seq: SeqNo) -> Result<()> {
        self.tick()?;
        let after = self
            .entries
            .partition_point(|e| compare_internal(&e.key, e.seq, key, seq).is_le());
        self.pos = after.checked_sub(1).unwrap_or(self.entries.len());
        Ok(())
    }

    #[inline]
    fn next(&mut self) -> Result<()> {
        assert!(self.valid(), "VecIter::next while not valid");
        self.tick()?;
        self.pos += 1;
        Ok(())
    }

    #[inline]
    fn prev(&mut self) -> Result<()> {
        assert!(self.valid(), "VecIter::prev while not valid");
        self.tick()?;
        self.pos = self.pos.checked_sub(1).unwrap_or(self.entries.len());
        Ok(())
    }

    #[inline]
    fn key(&self) -> &[u8] {
        &self.current().key
    }

    #[inline]
    fn seq(&self) -> SeqNo {
        self.current().seq
    }

    #[inline]
    fn kind(&self) -> ValueKind {
        self.current().kind
    }

    #[inline]
    fn value(&self) -> &[u8] {
        &self.current().value
    }
}

impl fmt::Debug for VecIter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VecIter")
            .field("len", &self.entries.len())
            .field("pos", &self.pos)
            .field("calls_before_failure", &self.calls_before_failure)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::MAX_SEQNO;

    fn sample() -> VecIter {
        VecIter::new(vec![
            Entry::value("b", 3, "b3"),
            Entry::value("a", 1, "a1"),
            Entry::tombstone("b", 5),
            Entry::value("c", 2, "c2"),
        ])
    }

    fn at(it: &VecIter) -> Option<(Vec<u8>, SeqNo)> {
        it.valid().then(|| (it.key().to_vec(), it.seq()))
    }

    #[test]
    fn sorts_and_walks_both_ways() {
        // Goal: entries come out in internal order whichever way we walk.
        let mut it = sample();
        assert!(!it.valid());
        it.seek_to_first().unwrap();
        let mut forward = Vec::new();
        while let Some(pos) = at(&it) {
            forward.push(pos);
            it.next().unwrap();
        }
        let expect: Vec<(Vec<u8>, SeqNo)> = vec![
            (b"a".to_vec(), 1),
            (b"b".to_vec(), 5),
            (b"b".to_vec(), 3),
            (b"c".to_vec(), 2),
        ];
        assert_eq!(forward, expect);
        it.seek_to_last().unwrap();
        let mut backward = Vec::new();
        while let Some(pos) = at(&it) {
            backward.push(pos);
            it.prev().unwrap();
        }
        backward.reverse();
        assert_eq!(backward, expect);
    }

    #[test]
    fn seeks_follow_the_trait_contract() {
        // Goal: seek and seek_for_prev land where InternalIterator documents.
        let mut it = sample();
        it.seek(b"b", MAX_SEQNO).unwrap();
        assert_eq!(at(&it), Some((b"b".to_vec(), 5)));
        it.seek(b"b", 4).unwrap();
        assert_eq!(at(&it), Some((b"b".to_vec(), 3)));
        it.seek(b"b", 2).unwrap();
        assert_eq!(at(&it), Some((b"c".to_vec(), 2)));
        it.seek(b"d", MAX_SEQNO).unwrap();
        assert_eq!(at(&it), None);
        it.seek_for_prev(b"b", MAX_SEQNO).unwrap();
        assert_eq!(at(&it), Some((b"a".to_vec(), 1)));
        it.seek_for_prev(b"b", 0).unwrap();
        assert_eq!(at(&it), Some((b"b".to_vec(), 3)));
        it.seek_for_prev(b"b", 4).unwrap();
        assert_eq!(at(&it), Some((b"b".to_vec(), 5)));
        it.seek_for_prev(b"a", MAX_SEQNO).unwrap();
        assert_eq!(at(&it), None);
    }

    #[test]
    fn empty_is_never_valid() {
        let mut it = VecIter::new(Vec::new());
        it.seek_to_first().unwrap();
        assert!(!it.valid());
        it.seek_to_last().unwrap();
        assert!(!it.valid());
        it.seek_for_prev(b"x", 0).unwrap();
        assert!(!it.valid());
    }

    #[test]
    fn fails_after_the_budget_and_stays_failed() {
        // Goal: the failure injection counts positioning calls only.
        let mut it = sample().fail_after(2);
        it.seek_to_first().unwrap();
        assert_eq!(it.key(), b"a");
        it.next().unwrap();
        assert!(it.next().is_err());
        assert!(!it.valid());
        assert!(it.seek_to_first().is_err());
        assert!(!it.valid());
    }
}
