//! [`Iter`]: the user-facing iterator over a snapshot of the database.
//!
//! An `Iter` turns a cursor over *versions* (usually a
//! [`MergingIterator`](crate::iter::merge::MergingIterator) over every
//! memtable and table) into user entries: for every user key within the
//! bounds, the newest version with `seq <= snapshot`, skipping keys whose
//! newest visible version is a tombstone. Versions newer than the snapshot
//! are invisible.
//!
//! It is double-ended: `next` walks up from the lower bound, `next_back`
//! down from the upper bound, each with its own cursor made lazily by the
//! first call at that end (one [`CursorSource::cursor`] call each). The two
//! ends meet in the middle like a slice iterator's: no key twice, none
//! skipped.
//!
//! Invariants between calls, while not finished:
//! - The front cursor, once made, is at the first version of the first user
//!   key it has not yet passed: every key below that one has been yielded
//!   or found invisible. The back cursor, once made, is at the last (oldest)
//!   version of the last user key it has not yet passed.
//! - So a key is still to come at the back only while it is `>=` the front
//!   cursor's key, and at the front only while it is `<=` the back cursor's
//!   key; an invalid cursor means its end has passed every key. Both
//!   cursors see the same versions up to the snapshot, so these checks need
//!   no copy of the last key yielded.
//! - Once either end returns `None` or an error has been yielded, both ends
//!   return `None` forever.
//!
//! [`Iter::next_ref`] is the forward step without the copies: it lends the
//! key and value where the cursor holds them (a cached block, a memtable)
//! until the next call; [`Iterator::next`] is that step with the entry
//! copied. While an entry is lent the front cursor stays at it; the next
//! call at either end first moves the front past that key's older
//! versions, so the invariants above hold again before anything else
//! happens (and the back never sees a lent key as still to come).
//! While one table is the only source ahead, its usual step (to the next
//! key, a visible value inside the bounds) is taken on that table's cursor
//! inside its block ([`InternalIterator::table_cursor`]) rather than
//! through the merge; every other case takes the full step.
//!
//! Per item the forward path copies the key and the value once, into the
//! returned [`Slice`]s (inline up to 118 bytes, so no heap allocation), and
//! compares keys in place. It moves past a key's older versions with
//! [`InternalIterator::next_key`], which copies the key into a reusable
//! buffer only where a cursor cannot tell a new key without (a table
//! block's last entry, more than one source at the key). The backward
//! path meets the oldest version of a key first, so it keeps a copy of the
//! newest visible value seen so far while it walks to the newer ones.

use std::fmt;
use std::iter::FusedIterator;
use std::ops::{Bound, Deref};
use std::sync::Arc;

use crate::iter::source::DbCursor;
use crate::iter::{InternalIterator, KeyRange};
use crate::types::{
    compare_user_keys, prefix_successor_slice, user_keys_equal, SeqNo, ValueKind, MAX_SEQNO,
};
use crate::{Key, Result, Slice, Value};

/// Something an [`Iter`] can read from: a pinned set of memtables and
/// tables.
pub trait CursorSource: Send + Sync {
    /// A new, unpositioned cursor over every version the source holds whose
    /// user key is in `range`, in internal order; it may hold versions
    /// outside the range too (see [`KeyRange`]). Cursors made by one source
    /// must agree on every version in the range up to any snapshot an
    /// [`Iter`] reads at.
    fn cursor(&self, range: KeyRange<'_>) -> Result<DbCursor>;
}

/// The bounds `(Included(prefix), Excluded(successor))` that select exactly
/// the keys starting with `prefix`; the upper bound is `Unbounded` when no
/// successor exists (an empty or all-0xff prefix). Bounds are `Slice`s so
/// that a scan of a short prefix allocates nothing for them.
pub fn prefix_bounds(prefix: &[u8]) -> (Bound<Slice>, Bound<Slice>) {
    let upper = match prefix_successor_slice(prefix) {
        Some(successor) => Bound::Excluded(successor),
        None => Bound::Unbounded,
    };
    (Bound::Included(Slice::copy_from(prefix)), upper)
}

/// A double-ended iterator over the user entries of a snapshot within a
/// key range, in key order. Yields `Err` at most once, then only `None`.
pub struct Iter {
    source: Arc<dyn CursorSource>,
    snapshot: SeqNo,
    lower: Bound<Slice>,
    upper: Bound<Slice>,
    front: Option<DbCursor>,
    back: Option<DbCursor>,
    /// The buffer the front's `next_key` may copy the key it passes
    /// into; reused.
    key_buf: Vec<u8>,
    /// Whether the front cursor is at the entry `next_ref` lent last, not
    /// yet past that key's older versions.
    lent: bool,
    done: bool,
}

impl Iter {
    /// Iterates the keys of `source` between `lower` and `upper` as of
    /// `snapshot`. Makes no cursor until the first call.
    pub fn new(
        source: Arc<dyn CursorSource>,
        snapshot: SeqNo,
        lower: Bound<Slice>,
        upper: Bound<Slice>,
    ) -> Iter {
        Iter {
            source,
            snapshot,
            lower,
            upper,
            front: None,
            back: None,
            key_buf: Vec::new(),
            lent: false,
            done: false,
        }
    }

    /// The next entry from the front, lent instead of copied: the key and
    /// value borrow the iterator until the next call. Otherwise exactly
    /// [`Iterator::next`] (the two may be mixed, and with `next_back`):
    /// `Err` at most once, then `None` forever.
    #[inline]
    pub fn next_ref(&mut self) -> Option<Result<(&[u8], &[u8])>> {
        if self.lent && self.back.is_none() {
            match self.next_in_block() {
                Ok(true) => {
                    let front = self.front.as_mut().expect("an entry was lent");
                    let table = front.table_cursor().expect("stepped just now");
                    return Some(Ok((table.key(), table.value())));
                }
                Ok(false) => {}
                Err(err) => {
                    self.done = true;
                    return Some(Err(err));
                }
            }
        }
        if let Err(err) = self.prepare_step()? {
            return Some(Err(err));
        }
        match self.find_front() {
            Ok(true) => {
                self.lent = true;
                let front = self.front.as_ref().expect("found by find_front");
                Some(Ok((front.key(), front.value())))
            }
            Ok(false) => {
                self.done = true;
                None
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }

    /// The common step of `next_ref` in a scan of one table's or level's
    /// entries (every other source behind it or done), taken on the table
    /// cursor inside its block instead of through the merge: past the lent
    /// key's older versions to the next key, which is lent again if its
    /// newest version is visible, a value and inside the upper bound.
    /// `Ok(true)`: the front is at it (and `lent` still set). `Ok(false)`:
    /// anything else (the block ends, another source is ahead, a version
    /// newer than the snapshot, a tombstone, the bound), left to the full
    /// step from where the front is: `lent` says whether that is still a
    /// version of the lent key. REQUIRES: `lent`, no back cursor.
    #[inline]
    fn next_in_block(&mut self) -> Result<bool> {
        let Some(table) = self.front.as_mut().and_then(|front| front.table_cursor()) else {
            return Ok(false);
        };
        loop {
            match table.next_in_block()? {
                None => return Ok(false),
                Some(true) => {}
                Some(false) => break,
            }
        }
        let upper = KeyRange::new(Bound::Unbounded, self.upper.as_ref().map(Slice::deref));
        let visible = table.seq() <= self.snapshot
            && table.kind() == ValueKind::Value
            && upper.below_upper(table.key());
        self.lent = visible;
        Ok(visible)
    }

    /// What every step at either end does first: `None` when done, and
    /// moving the front past an entry lent by `next_ref` (whose error, if
    /// any, is this step's to yield: `Some(Err)`).
    #[inline]
    fn prepare_step(&mut self) -> Option<Result<()>> {
        if self.done {
            return None;
        }
        let mut result = Ok(());
        if self.lent {
            self.lent = false;
            let front = self.front.as_mut().expect("an entry was lent");
            result = front.next_key(&mut self.key_buf);
        }
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }

    /// Runs one step at either end and keeps the "error once, then `None`
    /// forever" promise.
    #[inline]
    fn finish_step(&mut self, step: Result<Option<(Key, Value)>>) -> Option<Result<(Key, Value)>> {
        match step {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }

    /// The range both cursors are made for.
    fn range(&self) -> KeyRange<'_> {
        KeyRange::new(
            self.lower.as_ref().map(Slice::deref),
            self.upper.as_ref().map(Slice::deref),
        )
    }

    /// Makes the front cursor, at the first version of the first key inside
    /// the lower bound.
    fn open_front(&self) -> Result<DbCursor> {
        let mut cursor = self.source.cursor(self.range())?;
        match &self.lower {
            Bound::Unbounded => cursor.seek_to_first()?,
            Bound::Included(key) => cursor.seek(key, MAX_SEQNO)?,
            Bound::Excluded(key) => {
                // (key, 0) is the last version `key` can have.
                cursor.seek(key, 0)?;
                while cursor.valid() && cursor.key() == &key[..] {
                    cursor.next()?;
                }
            }
        }
        Ok(cursor)
    }

    /// Makes the back cursor, at the last version of the last key inside
    /// the upper bound.
    fn open_back(&self) -> Result<DbCursor> {
        let mut cursor = self.source.cursor(self.range())?;
        match &self.upper {
            Bound::Unbounded => cursor.seek_to_last()?,
            Bound::Included(key) => cursor.seek_for_prev(key, 0)?,
            Bound::Excluded(key) => cursor.seek_for_prev(key, MAX_SEQNO)?,
        }
        Ok(cursor)
    }

    /// Moves the front cursor to the newest visible version of the next key
    /// that has a value there, and leaves it there; false at the end.
    #[inline]
    fn find_front(&mut self) -> Result<bool> {
        if self.front.is_none() {
            self.front = Some(self.open_front()?);
        }
        let Iter {
            snapshot,
            lower,
            upper,
            front,
            back,
            key_buf,
            ..
        } = self;
        let range = KeyRange::new(
            lower.as_ref().map(Slice::deref),
            upper.as_ref().map(Slice::deref),
        );
        let front = front.as_mut().expect("front cursor was just made");
        let back = back.as_ref();
        loop {
            if !front.valid() {
                return Ok(false);
            }
            // Every version newer than the snapshot is skipped on its own,
            // so the first visible one of a key is its newest visible one.
            if front.seq() > *snapshot {
                front.next()?;
                continue;
            }
            let key = front.key();
            if !range.below_upper(key)
                || back.is_some_and(|b| !b.valid() || compare_user_keys(key, b.key()).is_gt())
            {
                return Ok(false);
            }
            match front.kind() {
                ValueKind::Value => return Ok(true),
                ValueKind::Tombstone => front.next_key(key_buf)?,
            }
        }
    }

    /// Finds the next visible entry from the back; `None` at the end.
    fn step_back(&mut self) -> Result<Option<(Key, Value)>> {
        if self.back.is_none() {
            self.back = Some(self.open_back()?);
        }
        let Iter {
            snapshot,
            lower,
            upper,
            front,
            back,
            ..
        } = self;
        let range = KeyRange::new(
            lower.as_ref().map(Slice::deref),
            upper.as_ref().map(Slice::deref),
        );
        let snapshot = *snapshot;
        let back = back.as_mut().expect("back cursor was just made");
        let front = front.as_ref();
        loop {
            if !back.valid() {
                return Ok(None);
            }
            // Walking backward, the versions of a key come oldest first, so
            // once one is too new the rest of the key is too.
            if back.seq() > snapshot {
                back.prev()?;
                continue;
            }
            let key = back.key();
            if !range.above_lower(key)
                || front.is_some_and(|f| !f.valid() || compare_user_keys(key, f.key()).is_lt())
            {
                return Ok(None);
            }
            let key = Slice::copy_from(key);
            let mut newest = visible_value(back);
            loop {
                back.prev()?;
                if !back.valid() || !user_keys_equal(back.key(), &key) {
                    break;
                }
                if back.seq() <= snapshot {
                    newest = visible_value(back);
                }
            }
            if let Some(value) = newest {
                return Ok(Some((key, value)));
            }
        }
    }
}

/// The value of the cursor's version, `None` for a tombstone.
#[inline]
fn visible_value(cursor: &impl InternalIterator) -> Option<Value> {
    match cursor.kind() {
        ValueKind::Value => Some(Slice::copy_from(cursor.value())),
        ValueKind::Tombstone => None,
    }
}

impl Iterator for Iter {
    type Item = Result<(Key, Value)>;

    /// [`next_ref`](Iter::next_ref)'s entry, copied: the front stays at it
    /// until the next call, which moves it past the key's older versions
    /// first (an error there is that call's to yield).
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let item = self.next_ref()?;
        Some(item.map(|(key, value)| (Slice::copy_from(key), Slice::copy_from(value))))
    }
}

impl DoubleEndedIterator for Iter {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        if let Err(err) = self.prepare_step()? {
            return Some(Err(err));
        }
        let step = self.step_back();
        self.finish_step(step)
    }
}

impl FusedIterator for Iter {}

impl fmt::Debug for Iter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("snapshot", &self.snapshot)
            .field("lower", &self.lower)
            .field("upper", &self.upper)
            .field("front_open", &self.front.is_some())
            .field("back_open", &self.back.is_some())
            .field("done", &self.done)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use crate::slice::INLINE_CAPACITY;
    use crate::types::prefix_successor;
    use std::collections::{BTreeMap, VecDeque};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::cache::BlockCache;
    use crate::fs::{FileSystem, MemFs};
    use crate::iter::merge::MergingIterator;
    use crate::iter::source::SourceCursor;
    use crate::iter::vec_iter::{Entry, VecIter};
    use crate::table::{write_test_table, Table, TableOptions};
    use crate::Error;
    use std::path::{Path, PathBuf};

    type Pair = (Vec<u8>, Vec<u8>);

    /// A source over fixed children, counting the cursors it makes and
    /// optionally making child `fail.0` fail after `fail.1` calls (in every
    /// cursor), or failing to make a cursor at all.
    struct TestSource {
        children: Vec<Arc<[Entry]>>,
        /// The children written as tables, when cursors are to read them
        /// (and take the step inside a block, `Iter::next_in_block`).
        tables: Option<Vec<Arc<Table>>>,
        cursors_made: AtomicUsize,
        fail: Option<(usize, usize)>,
        fail_to_open: bool,
    }

    impl TestSource {
        fn new(children: Vec<Vec<Entry>>) -> TestSource {
            let children = children
                .into_iter()
                .map(|c| Arc::from(VecIter::new(c).entries()))
                .collect();
            TestSource {
                children,
                tables: None,
                cursors_made: AtomicUsize::new(0),
                fail: None,
                fail_to_open: false,
            }
        }

        /// The same children read from tables of small blocks (about a
        /// dozen entries each).
        fn in_tables(children: Vec<Vec<Entry>>) -> TestSource {
            let mut source = TestSource::new(children);
            let fs = MemFs::new();
            fs.create_dir_all(Path::new("/t")).unwrap();
            let options = TableOptions {
                block_size: 256,
                ..TableOptions::default()
            };
            let tables = (0..)
                .zip(&source.children)
                .map(|(id, entries)| {
                    let path = PathBuf::from(format!("/t/{id}.sst"));
                    let rows = entries
                        .iter()
                        .map(|e| (&e.key[..], e.seq, e.kind, &e.value[..]));
                    write_test_table(&fs, &path, rows, options);
                    let cache = Arc::new(BlockCache::new(1 << 20));
                    Table::open(fs.open_random(&path).unwrap(), path, id, cache).unwrap()
                })
                .collect();
            source.tables = Some(tables);
            source
        }
    }

    impl CursorSource for TestSource {
        fn cursor(&self, range: KeyRange<'_>) -> Result<DbCursor> {
            self.cursors_made.fetch_add(1, Ordering::Relaxed);
            if self.fail_to_open {
                return Err(Error::Io(std::io::Error::other("cannot open")));
            }
            if let Some(tables) = &self.tables {
                let children = tables
                    .iter()
                    .map(|t| SourceCursor::Table(t.iter()))
                    .collect();
                return Ok(MergingIterator::with_range(children, range));
            }
            let children = self
                .children
                .iter()
                .enumerate()
                .map(|(i, entries)| {
                    let cursor = VecIter::shared(entries.clone());
                    let cursor = match self.fail {
                        Some((child, calls)) if child == i => cursor.fail_after(calls),
                        _ => cursor,
                    };
                    SourceCursor::Boxed(Box::new(cursor))
                })
                .collect();
            // With a range, so that the merge drops children that have left
            // it, as the database's cursors do.
            Ok(MergingIterator::with_range(children, range))
        }
    }

    fn iter(
        source: &Arc<TestSource>,
        snapshot: SeqNo,
        bounds: &(Bound<Slice>, Bound<Slice>),
    ) -> Iter {
        Iter::new(source.clone(), snapshot, bounds.0.clone(), bounds.1.clone())
    }

    fn unbounded() -> (Bound<Slice>, Bound<Slice>) {
        (Bound::Unbounded, Bound::Unbounded)
    }

    fn pairs(items: impl Iterator<Item = Result<(Key, Value)>>) -> Vec<Pair> {
        items
            .map(|item| {
                let (key, value) = item.expect("no error expected");
                (key.to_vec(), value.to_vec())
            })
            .collect()
    }

    fn lent(item: Option<Result<(&[u8], &[u8])>>) -> Option<Pair> {
        item.map(|item| {
            let (key, value) = item.expect("no error expected");
            (key.to_vec(), value.to_vec())
        })
    }

    /// Every entry, through `next_ref`.
    fn lent_all(mut it: Iter) -> Vec<Pair> {
        std::iter::from_fn(|| lent(it.next_ref())).collect()
    }

    fn pair(item: Option<Result<(Key, Value)>>) -> Option<Pair> {
        item.map(|item| {
            let (key, value) = item.expect("no error expected");
            (key.to_vec(), value.to_vec())
        })
    }

    /// The oracle: the newest version of each key with `seq <= snapshot`,
    /// tombstones dropped, within the bounds.
    fn oracle(
        children: &[Vec<Entry>],
        snapshot: SeqNo,
        bounds: &(Bound<Slice>, Bound<Slice>),
    ) -> Vec<Pair> {
        let mut newest: BTreeMap<Vec<u8>, &Entry> = BTreeMap::new();
        for entry in children.iter().flatten().filter(|e| e.seq <= snapshot) {
            let slot = newest.entry(entry.key.clone()).or_insert(entry);
            if entry.seq > slot.seq {
                *slot = entry;
            }
        }
        newest
            .into_iter()
            .filter(|(key, entry)| {
                let range = KeyRange::new(
                    bounds.0.as_ref().map(Slice::deref),
                    bounds.1.as_ref().map(Slice::deref),
                );
                entry.kind == ValueKind::Value && range.above_lower(key) && range.below_upper(key)
            })
            .map(|(key, entry)| (key, entry.value.clone()))
            .collect()
    }

    fn random_key(rng: &mut StdRng) -> Vec<u8> {
        const ALPHABET: [u8; 6] = [0x00, 0x01, b'a', b'b', 0xfe, 0xff];
        let len = rng.gen_range(0..=3);
        (0..len).map(|_| *ALPHABET.choose(rng).unwrap()).collect()
    }

    /// Several children holding several versions of overlapping keys,
    /// tombstones, and now and then a value too long to be inline.
    fn random_children(rng: &mut StdRng) -> (Vec<Vec<Entry>>, SeqNo) {
        let count = rng.gen_range(0..=4);
        let total = if count == 0 { 0 } else { rng.gen_range(0..80) };
        let keys: Vec<Vec<u8>> = (0..rng.gen_range(1..20)).map(|_| random_key(rng)).collect();
        // Sequence number 0 is real (it is the one an exclusive lower bound
        // must step over after seeking to `(key, 0)`).
        let mut seqs: Vec<SeqNo> = (0..total as SeqNo).collect();
        seqs.shuffle(rng);
        let mut children = vec![Vec::new(); count];
        for seq in seqs {
            let key = keys.choose(rng).unwrap().clone();
            let entry = if rng.gen_bool(0.3) {
                Entry::tombstone(key, seq)
            } else if rng.gen_bool(0.05) {
                Entry::value(key, seq, vec![seq as u8; 200])
            } else {
                Entry::value(key, seq, format!("v{seq}"))
            };
            children[rng.gen_range(0..count)].push(entry);
        }
        (children, total as SeqNo)
    }

    fn random_bound(rng: &mut StdRng) -> Bound<Slice> {
        match rng.gen_range(0..3) {
            0 => Bound::Unbounded,
            1 => Bound::Included(random_key(rng).into()),
            _ => Bound::Excluded(random_key(rng).into()),
        }
    }

    fn random_bounds(rng: &mut StdRng) -> (Bound<Slice>, Bound<Slice>) {
        if rng.gen_bool(0.2) {
            let prefix = random_key(rng);
            prefix_bounds(&prefix)
        } else {
            (random_bound(rng), random_bound(rng))
        }
    }

    fn random_snapshot(rng: &mut StdRng, max_seq: SeqNo) -> SeqNo {
        if rng.gen_bool(0.2) {
            MAX_SEQNO
        } else {
            rng.gen_range(0..=max_seq + 1)
        }
    }

    #[test]
    fn random_scans_match_the_oracle() {
        // Goal: forward, reverse, and random mixes of next/next_back yield
        // exactly the oracle's entries, each once, in order. Method: a few
        // hundred random sources, snapshots and bounds against a BTreeMap.
        let mut rng = StdRng::seed_from_u64(0x6974_6572);
        for case in 0..400 {
            let (children, max_seq) = random_children(&mut rng);
            let snapshot = random_snapshot(&mut rng, max_seq);
            let bounds = random_bounds(&mut rng);
            let expect = oracle(&children, snapshot, &bounds);
            // Every other case reads tables.
            let source = Arc::new(if case % 2 == 0 {
                TestSource::new(children.clone())
            } else {
                TestSource::in_tables(children.clone())
            });
            let context = format!("case {case} snapshot {snapshot} bounds {bounds:?} {children:?}");

            assert_eq!(
                pairs(iter(&source, snapshot, &bounds)),
                expect,
                "forward {context}"
            );
            assert_eq!(
                lent_all(iter(&source, snapshot, &bounds)),
                expect,
                "lent {context}"
            );
            let mut backward = pairs(iter(&source, snapshot, &bounds).rev());
            backward.reverse();
            assert_eq!(backward, expect, "reverse {context}");
            assert_eq!(source.cursors_made.load(Ordering::Relaxed), 3);

            let mut model: VecDeque<Pair> = expect.iter().cloned().collect();
            let mut it = iter(&source, snapshot, &bounds);
            loop {
                let (got, want) = match rng.gen_range(0..3) {
                    0 => (pair(it.next()), model.pop_front()),
                    1 => (lent(it.next_ref()), model.pop_front()),
                    _ => (pair(it.next_back()), model.pop_back()),
                };
                assert_eq!(got, want, "interleaved {context}");
                if got.is_none() {
                    break;
                }
            }
            assert_eq!(pair(it.next()), None);
            assert_eq!(pair(it.next_back()), None);
            assert!(source.cursors_made.load(Ordering::Relaxed) <= 5);
        }
    }

    #[test]
    fn random_failures_yield_one_error_then_none() {
        // Goal: whenever a cursor fails, the items yielded before are still
        // right (front ones a prefix of the oracle, back ones a suffix), the
        // error comes exactly once, and then both ends stay `None`.
        let mut rng = StdRng::seed_from_u64(0x6661_696c);
        let mut errors_seen = 0;
        for case in 0..400 {
            let (children, max_seq) = random_children(&mut rng);
            if children.is_empty() {
                continue;
            }
            let snapshot = random_snapshot(&mut rng, max_seq);
            let bounds = random_bounds(&mut rng);
            let mut model: VecDeque<Pair> = oracle(&children, snapshot, &bounds).into();
            let mut source = TestSource::new(children.clone());
            source.fail = Some((rng.gen_range(0..children.len()), rng.gen_range(0..30)));
            let source = Arc::new(source);
            let mut it = iter(&source, snapshot, &bounds);
            let mut failed = false;
            for _ in 0..200 {
                let front = rng.gen_range(0..3);
                let got = match front {
                    0 => it.next(),
                    // Lent entries copied, to be checked like owned ones.
                    1 => it.next_ref().map(|item| {
                        item.map(|(key, value)| (Slice::copy_from(key), Slice::copy_from(value)))
                    }),
                    _ => it.next_back(),
                };
                let front = front < 2;
                match got {
                    Some(Err(_)) => {
                        assert!(!failed, "case {case}: a second error");
                        failed = true;
                    }
                    Some(Ok((key, value))) => {
                        assert!(!failed, "case {case}: an item after the error");
                        let want = if front {
                            model.pop_front()
                        } else {
                            model.pop_back()
                        };
                        assert_eq!(Some((key.to_vec(), value.to_vec())), want, "case {case}");
                    }
                    None => {
                        assert!(failed || model.is_empty(), "case {case}: ended early");
                        break;
                    }
                }
            }
            errors_seen += usize::from(failed);
            assert!(it.next().is_none() && it.next_back().is_none());
        }
        assert!(errors_seen > 60, "only {errors_seen} cases failed at all");
    }

    #[test]
    fn reverse_keeps_the_newest_visible_version() {
        // Goal: walking backward meets the oldest version first, yet yields
        // the newest one visible at the snapshot, and hides a key whose
        // newest visible version is a tombstone.
        let children = vec![
            vec![Entry::value("k", 5, "five"), Entry::value("z", 9, "z9")],
            vec![Entry::tombstone("k", 3), Entry::value("a", 4, "a4")],
            vec![Entry::value("k", 1, "one"), Entry::value("k", 2, "two")],
        ];
        let source = Arc::new(TestSource::new(children));
        let expect_k = [
            None,
            Some("one"),
            Some("two"),
            None,
            None,
            Some("five"),
            Some("five"),
        ];
        for (snapshot, want) in expect_k.iter().enumerate() {
            let snapshot = snapshot as SeqNo;
            let bounds = (Bound::Included(b"k".into()), Bound::Included(b"k".into()));
            let want = want.map(|v| (b"k".to_vec(), v.as_bytes().to_vec()));
            assert_eq!(pair(iter(&source, snapshot, &bounds).next_back()), want);
            assert_eq!(pair(iter(&source, snapshot, &bounds).next()), want);
        }
        let all: Vec<Pair> = pairs(iter(&source, 4, &unbounded()).rev());
        assert_eq!(all, vec![(b"a".to_vec(), b"a4".to_vec())]);
    }

    #[test]
    fn both_ends_meet_in_the_middle() {
        // Goal: alternating ends yield each key once and stop together.
        let entries = ["a", "b", "c", "d", "e"]
            .iter()
            .enumerate()
            .map(|(i, k)| Entry::value(*k, i as SeqNo + 1, *k))
            .collect();
        let source = Arc::new(TestSource::new(vec![
            entries,
            vec![Entry::tombstone("c", 9)],
        ]));
        let mut it = iter(&source, MAX_SEQNO, &unbounded());
        let key = |item: Option<Result<(Key, Value)>>| pair(item).map(|(k, _)| k);
        assert_eq!(key(it.next()), Some(b"a".to_vec()));
        assert_eq!(key(it.next_back()), Some(b"e".to_vec()));
        assert_eq!(key(it.next()), Some(b"b".to_vec()));
        assert_eq!(key(it.next_back()), Some(b"d".to_vec()));
        assert_eq!(key(it.next_back()), None);
        assert_eq!(key(it.next()), None);
        assert_eq!(source.cursors_made.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_failing_cursor_yields_its_error_once() {
        // Goal: an error in the middle of a scan, in either direction, is
        // yielded once after the items before it, then `None` at both ends.
        let entries: Vec<Entry> = (0..10u64)
            .map(|i| Entry::value(format!("k{i}"), i + 1, "v"))
            .collect();
        for reverse in [false, true] {
            let mut source = TestSource::new(vec![entries.clone(), Vec::new()]);
            source.fail = Some((0, 4));
            let source = Arc::new(source);
            let mut it = iter(&source, MAX_SEQNO, &unbounded());
            let mut results = Vec::new();
            loop {
                let item = if reverse { it.next_back() } else { it.next() };
                match item {
                    Some(item) => results.push(item.is_ok()),
                    None => break,
                }
            }
            // The seek and three steps succeed. Forward, the fourth item is
            // complete before the step past it fails, so it comes out before
            // the error; backward, an item is only complete after that step.
            let expect: &[bool] = if reverse {
                &[true, true, true, false]
            } else {
                &[true, true, true, true, false]
            };
            assert_eq!(results, expect, "reverse {reverse}");
            assert!(it.next().is_none() && it.next_back().is_none());
            assert!(it.next().is_none() && it.next_back().is_none());
        }
    }

    #[test]
    fn iter_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<Iter>();
        assert_send::<MergingIterator>();
    }

    #[test]
    fn a_source_that_cannot_open_fails_once() {
        let mut source = TestSource::new(vec![vec![Entry::value("a", 1, "x")]]);
        source.fail_to_open = true;
        let source = Arc::new(source);
        let mut it = iter(&source, MAX_SEQNO, &unbounded());
        assert!(matches!(it.next_back(), Some(Err(_))));
        assert!(it.next().is_none() && it.next_back().is_none());
        assert_eq!(source.cursors_made.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn empty_and_invisible_sources_yield_nothing() {
        // Goal: no children, empty children, only tombstones, and only
        // versions newer than the snapshot all give an empty iteration.
        let shapes = vec![
            vec![],
            vec![vec![], vec![]],
            vec![
                vec![Entry::tombstone("a", 1)],
                vec![Entry::tombstone("b", 2)],
            ],
            vec![
                vec![Entry::value("a", 7, "x")],
                vec![Entry::value("b", 8, "y")],
            ],
        ];
        for children in shapes {
            let source = Arc::new(TestSource::new(children));
            assert_eq!(iter(&source, 5, &unbounded()).count(), 0);
            assert_eq!(iter(&source, 5, &unbounded()).rev().count(), 0);
        }
    }

    #[test]
    fn prefix_bounds_select_exactly_the_prefix() {
        // Goal: prefixes ending in 0xff (no simple successor) and the empty
        // prefix select the keys that start with them, nothing more.
        let keys: [&[u8]; 10] = [
            b"",
            b"a",
            b"a\xff",
            b"a\xff\x00",
            b"a\xff\xff",
            b"b",
            b"\xfe\xff",
            b"\xff",
            b"\xff\x00",
            b"\xff\xff",
        ];
        let entries: Vec<Entry> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| Entry::value(k.to_vec(), i as SeqNo + 1, k.to_vec()))
            .collect();
        let source = Arc::new(TestSource::new(vec![entries]));
        let prefixes: [&[u8]; 7] = [b"", b"a", b"a\xff", b"\xff", b"\xff\xff", b"\xfe", b"c"];
        for prefix in prefixes {
            let bounds = prefix_bounds(prefix);
            let want: Vec<Vec<u8>> = keys
                .iter()
                .filter(|k| k.starts_with(prefix))
                .map(|k| k.to_vec())
                .collect();
            let got: Vec<Vec<u8>> = pairs(iter(&source, MAX_SEQNO, &bounds))
                .into_iter()
                .map(|p| p.0)
                .collect();
            assert_eq!(got, want, "prefix {prefix:?}");
            let mut back: Vec<Vec<u8>> = pairs(iter(&source, MAX_SEQNO, &bounds).rev())
                .into_iter()
                .map(|p| p.0)
                .collect();
            back.reverse();
            assert_eq!(back, want, "prefix {prefix:?} reversed");
        }
        assert_eq!(
            prefix_bounds(b"a\xff"),
            (
                Bound::Included(b"a\xff".into()),
                Bound::Excluded(b"b".into())
            )
        );
        assert_eq!(
            prefix_bounds(b"\xff"),
            (Bound::Included(b"\xff".into()), Bound::Unbounded)
        );
        // Successors built on the stack and, past a `Slice`'s inline
        // capacity, on the heap agree with `prefix_successor`.
        for len in [
            1,
            INLINE_CAPACITY - 1,
            INLINE_CAPACITY,
            INLINE_CAPACITY + 1,
            300,
        ] {
            for tail in [0, 1, 3] {
                let mut prefix = vec![b'p'; len];
                prefix.extend(std::iter::repeat_n(0xff, tail));
                let want = prefix_successor(&prefix).expect("a byte below 0xff");
                assert_eq!(
                    prefix_bounds(&prefix),
                    (
                        Bound::Included(prefix.as_slice().into()),
                        Bound::Excluded(want.into())
                    ),
                    "prefix of {len} + {tail} bytes"
                );
            }
        }
    }
}
