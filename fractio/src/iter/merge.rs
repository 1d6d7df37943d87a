//! [`MergingIterator`]: one cursor over the union of several child cursors,
//! in internal order.
//!
//! Children are given newest source first (active memtable, sealed
//! memtables, level-0 tables newest first, then the levels). Sequence
//! numbers are unique across children, so the order is total; should two
//! children ever hold the same `(key, seq)`, the lower child index comes
//! first. The merged stream is therefore ordered by `(key ascending, seq
//! descending, child index ascending)`, and `prev` walks exactly that order
//! backwards.
//!
//! The merge is generic over its child type: the database's cursors merge
//! a [`SourceCursor`](crate::iter::source::SourceCursor) enum, so a step
//! costs a `match` instead of a virtual call; other users merge boxed
//! cursors (the default).
//!
//! Invariants, with more than one child:
//! - `heap` holds the index of every valid child that has not been dropped
//!   for leaving the range (below), and no other, arranged as a binary
//!   heap: a min-heap in that total order while moving forward, a max-heap
//!   while moving backward. `heap[0]` is the current entry.
//! - Moving forward, every valid child is at its first entry at or after
//!   the current one; moving backward, at its last entry at or before it.
//!   A direction switch re-seeks every other child to restore this (as
//!   LevelDB's merging iterator does).
//! - After a child reports an error the heap is emptied, so the merge is
//!   not valid until it is positioned again.
//!
//! A merge made [`with_range`](MergingIterator::with_range) may leave out
//! versions whose user key is outside the range: moving forward, a child
//! whose key is above the upper bound is dropped from the heap (its later
//! entries are all above it too); moving backward, likewise below the lower
//! bound. Dropping is optional (it is skipped while only one child is left,
//! since the caller checks its bounds anyway) and never loses a version
//! inside the range; a dropped child comes back when the merge is
//! positioned again or changes direction. So inside the range the merge is
//! exact, outside it it may end early.
//!
//! With exactly one child and no range the merge delegates to it and keeps
//! no heap; with none it is never valid.
//!
//! `next_key` moving forward hands the step to the current child when
//! neither of the heap's next two children (one of which is second in the
//! merged order) is at the same user key, then restores the heap as `next`
//! does; otherwise it steps and compares. `table_cursor` lends the current
//! child's table cursor only while that child is the heap's only one.
//!
//! A `MergingIterator` is `Send` (its children are) and is used by one
//! thread at a time.

use std::fmt;
use std::ops::Bound;

use crate::iter::{next_key_by_copy, InternalIterator, KeyRange};
use crate::table::TableIter;
use crate::types::{compare_user_keys, user_keys_equal, SeqNo, ValueKind};
use crate::{Result, Slice};

/// A cursor over the union of its children, in internal order.
pub struct MergingIterator<C = Box<dyn InternalIterator>> {
    inner: Inner<C>,
}

#[expect(
    clippy::large_enum_variant,
    reason = "one per cursor, made once per scan: inline bounds save an allocation"
)]
enum Inner<C> {
    /// No children: never valid.
    Empty,
    /// One child: every call is passed straight through.
    Single(C),
    /// Two or more children (or one with a range), merged with a heap.
    Heap(HeapMerge<C>),
}

impl<C: InternalIterator> MergingIterator<C> {
    /// Merges `children`, given newest source first. The result is not
    /// positioned: call a seek method first.
    pub fn new(children: Vec<C>) -> MergingIterator<C> {
        Self::build(children, Bound::Unbounded, Bound::Unbounded)
    }

    /// Merges `children` for a caller that only looks at keys in `range`
    /// (see the module docs: versions outside it may be left out).
    pub fn with_range(children: Vec<C>, range: KeyRange<'_>) -> MergingIterator<C> {
        let owned = |bound: Bound<&[u8]>| bound.map(Slice::copy_from);
        Self::build(children, owned(range.lower), owned(range.upper))
    }

    fn build(mut children: Vec<C>, lower: Bound<Slice>, upper: Bound<Slice>) -> MergingIterator<C> {
        let bounded = !matches!((&lower, &upper), (Bound::Unbounded, Bound::Unbounded));
        let inner = match children.len() {
            0 => Inner::Empty,
            1 if !bounded => Inner::Single(children.pop().expect("one child")),
            _ => Inner::Heap(HeapMerge {
                heap: Vec::with_capacity(children.len()),
                children,
                forward: true,
                key_buf: Vec::new(),
                lower,
                upper,
            }),
        };
        MergingIterator { inner }
    }
}

/// Which way the heap is ordered: the type parameter of the heap helpers,
/// so the comparison is chosen at compile time.
const FORWARD: bool = true;
const BACKWARD: bool = false;

struct HeapMerge<C> {
    children: Vec<C>,
    /// Indices of the valid children, as a heap (see the module invariants).
    heap: Vec<usize>,
    /// Whether the heap is a min-heap (moving forward).
    forward: bool,
    /// Holds the current key during a direction switch, while the other
    /// children move.
    key_buf: Vec<u8>,
    /// The range of `with_range` (unbounded for `new`).
    lower: Bound<Slice>,
    upper: Bound<Slice>,
}

impl<C: InternalIterator> HeapMerge<C> {
    /// Whether child `a` belongs nearer the top than child `b`: before it in
    /// the merged order when `FWD`, after it otherwise.
    #[inline]
    fn above<const FWD: bool>(&self, a: usize, b: usize) -> bool {
        let (ca, cb) = (&self.children[a], &self.children[b]);
        // Keys usually differ: only then ask for the sequence numbers
        // (compare_internal's order, with two fewer calls).
        let order = compare_user_keys(ca.key(), cb.key())
            .then_with(|| cb.seq().cmp(&ca.seq()))
            .then(a.cmp(&b));
        if FWD {
            order.is_lt()
        } else {
            order.is_gt()
        }
    }

    /// Whether a child at `key` may still hold versions in the range when
    /// moving forward (`FWD`) or backward: false once it has passed the
    /// upper (lower) bound.
    #[inline]
    fn ahead_in_range<const FWD: bool>(&self, key: &[u8]) -> bool {
        if FWD {
            match &self.upper {
                Bound::Unbounded => true,
                Bound::Included(bound) => compare_user_keys(key, bound).is_le(),
                Bound::Excluded(bound) => compare_user_keys(key, bound).is_lt(),
            }
        } else {
            match &self.lower {
                Bound::Unbounded => true,
                Bound::Included(bound) => compare_user_keys(key, bound).is_ge(),
                Bound::Excluded(bound) => compare_user_keys(key, bound).is_gt(),
            }
        }
    }

    fn sift_down<const FWD: bool>(&mut self, mut pos: usize) {
        let len = self.heap.len();
        loop {
            let left = 2 * pos + 1;
            if left >= len {
                return;
            }
            let right = left + 1;
            let mut best = left;
            if right < len && self.above::<FWD>(self.heap[right], self.heap[left]) {
                best = right;
            }
            if !self.above::<FWD>(self.heap[best], self.heap[pos]) {
                return;
            }
            self.heap.swap(pos, best);
            pos = best;
        }
    }

    /// Rebuilds the heap from the valid children, ordered for `forward`;
    /// with `drop_out_of_range`, leaves out the children that have passed
    /// the range in that direction.
    fn rebuild(&mut self, forward: bool, drop_out_of_range: bool) {
        self.forward = forward;
        self.heap.clear();
        for i in 0..self.children.len() {
            let child = &self.children[i];
            let keep = child.valid()
                && (!drop_out_of_range
                    || if forward {
                        self.ahead_in_range::<FORWARD>(child.key())
                    } else {
                        self.ahead_in_range::<BACKWARD>(child.key())
                    });
            if keep {
                self.heap.push(i);
            }
        }
        for pos in (0..self.heap.len() / 2).rev() {
            if forward {
                self.sift_down::<FORWARD>(pos);
            } else {
                self.sift_down::<BACKWARD>(pos);
            }
        }
    }

    /// Repositions every child with `op`, then rebuilds the heap for
    /// `forward`. On an error the merge is left invalid.
    fn position_all(
        &mut self,
        forward: bool,
        mut op: impl FnMut(&mut C) -> Result<()>,
    ) -> Result<()> {
        for child in &mut self.children {
            if let Err(err) = op(child) {
                self.heap.clear();
                return Err(err);
            }
        }
        self.rebuild(forward, true);
        Ok(())
    }

    /// Puts every child other than the current one at its first entry after
    /// the current entry, and orders the heap for moving forward.
    /// REQUIRES: valid, moving backward.
    fn switch_to_forward(&mut self) -> Result<()> {
        let cur = self.heap[0];
        self.key_buf.clear();
        self.key_buf.extend_from_slice(self.children[cur].key());
        let seq = self.children[cur].seq();
        for (i, child) in self.children.iter_mut().enumerate() {
            if i == cur {
                continue;
            }
            child.seek(&self.key_buf, seq)?;
            // An equal (key, seq) in a lower child sorts before the current
            // entry, so it has already been passed.
            if i < cur && child.valid() && child.seq() == seq && child.key() == self.key_buf {
                child.next()?;
            }
        }
        // Nothing is dropped here: the current child must stay on top even
        // if it is outside the range.
        self.rebuild(true, false);
        debug_assert_eq!(self.heap.first(), Some(&cur));
        Ok(())
    }

    /// Puts every child other than the current one at its last entry before
    /// the current entry, and orders the heap for moving backward.
    /// REQUIRES: valid, moving forward.
    fn switch_to_backward(&mut self) -> Result<()> {
        let cur = self.heap[0];
        self.key_buf.clear();
        self.key_buf.extend_from_slice(self.children[cur].key());
        let seq = self.children[cur].seq();
        for (i, child) in self.children.iter_mut().enumerate() {
            if i == cur {
                continue;
            }
            child.seek_for_prev(&self.key_buf, seq)?;
            // An equal (key, seq) in a higher child sorts after the current
            // entry, so moving backward it has already been passed.
            if i > cur && child.valid() && child.seq() == seq && child.key() == self.key_buf {
                child.prev()?;
            }
        }
        self.rebuild(false, false);
        debug_assert_eq!(self.heap.first(), Some(&cur));
        Ok(())
    }

    #[inline]
    fn next(&mut self) -> Result<()> {
        assert!(
            !self.heap.is_empty(),
            "MergingIterator::next while not valid"
        );
        if !self.forward {
            let switched = self.switch_to_forward();
            self.clear_on_error(switched)?;
        }
        let top = self.heap[0];
        let moved = self.children[top].next();
        self.clear_on_error(moved)?;
        self.fix_top::<FORWARD>();
        Ok(())
    }

    /// Whether the current child alone holds versions of the current key,
    /// moving forward: a child at another version of it would be second
    /// in the merged order, which is one of the top's two children in the
    /// heap. REQUIRES: valid.
    #[inline]
    fn top_alone_at_key(&self) -> bool {
        let top = self.heap[0];
        self.forward
            && self.heap[1..self.heap.len().min(3)]
                .iter()
                .all(|&i| !user_keys_equal(self.children[i].key(), self.children[top].key()))
    }

    /// Moves the current child past the current key and restores the heap.
    /// REQUIRES: [`top_alone_at_key`](Self::top_alone_at_key).
    #[inline]
    fn next_key_alone(&mut self, scratch: &mut Vec<u8>) -> Result<()> {
        let top = self.heap[0];
        let moved = self.children[top].next_key(scratch);
        self.clear_on_error(moved)?;
        self.fix_top::<FORWARD>();
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        assert!(
            !self.heap.is_empty(),
            "MergingIterator::prev while not valid"
        );
        if self.forward {
            let switched = self.switch_to_backward();
            self.clear_on_error(switched)?;
        }
        let top = self.heap[0];
        let moved = self.children[top].prev();
        self.clear_on_error(moved)?;
        self.fix_top::<BACKWARD>();
        Ok(())
    }

    /// Restores the heap after the top child moved: drops it if it ran out
    /// (or, with other children left, passed the range), else sifts it
    /// down to its place. A lone child needs no comparison at all.
    #[inline(always)]
    fn fix_top<const FWD: bool>(&mut self) {
        let child = &self.children[self.heap[0]];
        if !child.valid() {
            self.heap.swap_remove(0);
        } else if self.heap.len() == 1 {
            return;
        } else if !self.ahead_in_range::<FWD>(child.key()) {
            self.heap.swap_remove(0);
        }
        self.sift_down::<FWD>(0);
    }

    fn clear_on_error(&mut self, result: Result<()>) -> Result<()> {
        if result.is_err() {
            self.heap.clear();
        }
        result
    }

    #[inline]
    fn current(&self) -> &C {
        &self.children[self.heap[0]]
    }
}

impl<C: InternalIterator> MergingIterator<C> {
    /// The child the cursor is at. REQUIRES: `valid()`.
    #[inline]
    fn current(&self) -> &C {
        match &self.inner {
            Inner::Empty => panic!("MergingIterator read while not valid"),
            Inner::Single(child) => child,
            Inner::Heap(merge) => merge.current(),
        }
    }
}

impl<C: InternalIterator> InternalIterator for MergingIterator<C> {
    #[inline]
    fn valid(&self) -> bool {
        match &self.inner {
            Inner::Empty => false,
            Inner::Single(child) => child.valid(),
            Inner::Heap(merge) => !merge.heap.is_empty(),
        }
    }

    fn seek_to_first(&mut self) -> Result<()> {
        match &mut self.inner {
            Inner::Empty => Ok(()),
            Inner::Single(child) => child.seek_to_first(),
            Inner::Heap(merge) => merge.position_all(true, |c| c.seek_to_first()),
        }
    }

    fn seek_to_last(&mut self) -> Result<()> {
        match &mut self.inner {
            Inner::Empty => Ok(()),
            Inner::Single(child) => child.seek_to_last(),
            Inner::Heap(merge) => merge.position_all(false, |c| c.seek_to_last()),
        }
    }

    fn seek(&mut self, key: &[u8], seq: SeqNo) -> Result<()> {
        match &mut self.inner {
            Inner::Empty => Ok(()),
            Inner::Single(child) => child.seek(key, seq),
            Inner::Heap(merge) => merge.position_all(true, |c| c.seek(key, seq)),
        }
    }

    fn seek_for_prev(&mut self, key: &[u8], seq: SeqNo) -> Result<()> {
        match &mut self.inner {
            Inner::Empty => Ok(()),
            Inner::Single(child) => child.seek_for_prev(key, seq),
            Inner::Heap(merge) => merge.position_all(false, |c| c.seek_for_prev(key, seq)),
        }
    }

    #[inline]
    fn next(&mut self) -> Result<()> {
        match &mut self.inner {
            Inner::Empty => panic!("MergingIterator::next while not valid"),
            Inner::Single(child) => child.next(),
            Inner::Heap(merge) => merge.next(),
        }
    }

    #[inline]
    fn prev(&mut self) -> Result<()> {
        match &mut self.inner {
            Inner::Empty => panic!("MergingIterator::prev while not valid"),
            Inner::Single(child) => child.prev(),
            Inner::Heap(merge) => merge.prev(),
        }
    }

    /// Delegated to the current child when no other child is at a version
    /// of the current key (see the module docs); otherwise, or moving
    /// backward, the default way.
    #[inline]
    fn next_key(&mut self, scratch: &mut Vec<u8>) -> Result<()> {
        if let Inner::Heap(merge) = &self.inner {
            assert!(
                !merge.heap.is_empty(),
                "MergingIterator::next_key while not valid"
            );
            if !merge.top_alone_at_key() {
                return next_key_by_copy(self, scratch);
            }
        }
        match &mut self.inner {
            Inner::Empty => panic!("MergingIterator::next_key while not valid"),
            Inner::Single(child) => child.next_key(scratch),
            Inner::Heap(merge) => merge.next_key_alone(scratch),
        }
    }

    /// The current child's, while it is the only child left moving forward:
    /// stepping it keeps the heap as it is (one valid child).
    #[inline]
    fn table_cursor(&mut self) -> Option<&mut TableIter> {
        match &mut self.inner {
            Inner::Empty => None,
            Inner::Single(child) => child.table_cursor(),
            Inner::Heap(merge) if merge.forward && merge.heap.len() == 1 => {
                merge.children[merge.heap[0]].table_cursor()
            }
            Inner::Heap(_) => None,
        }
    }

    #[inline]
    fn key(&self) -> &[u8] {
        self.current().key()
    }

    #[inline]
    fn seq(&self) -> SeqNo {
        self.current().seq()
    }

    #[inline]
    fn kind(&self) -> ValueKind {
        self.current().kind()
    }

    #[inline]
    fn value(&self) -> &[u8] {
        self.current().value()
    }
}

impl<C: InternalIterator> fmt::Debug for MergingIterator<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (children, valid) = match &self.inner {
            Inner::Empty => (0, false),
            Inner::Single(child) => (1, child.valid()),
            Inner::Heap(merge) => (merge.children.len(), !merge.heap.is_empty()),
        };
        f.debug_struct("MergingIterator")
            .field("children", &children)
            .field("valid", &valid)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::iter::vec_iter::{Entry, VecIter};
    use crate::types::MAX_SEQNO;

    /// What a cursor shows: `None` when not valid.
    type Seen = Option<(Vec<u8>, SeqNo, ValueKind, Vec<u8>)>;

    fn seen(it: &dyn InternalIterator) -> Seen {
        it.valid()
            .then(|| (it.key().to_vec(), it.seq(), it.kind(), it.value().to_vec()))
    }

    fn boxed(children: &[Vec<Entry>]) -> Vec<Box<dyn InternalIterator>> {
        children
            .iter()
            .map(|c| Box::new(VecIter::new(c.clone())) as Box<dyn InternalIterator>)
            .collect()
    }

    /// The merged order as one sorted list: a stable sort of the children
    /// concatenated in index order puts equal (key, seq) pairs in child
    /// order, which is the tie rule the merge promises.
    fn model(children: &[Vec<Entry>]) -> VecIter {
        VecIter::new(children.concat())
    }

    fn random_key(rng: &mut StdRng) -> Vec<u8> {
        const ALPHABET: [u8; 5] = [0x00, b'a', b'b', b'c', 0xff];
        let len = rng.gen_range(0..=2);
        (0..len).map(|_| *ALPHABET.choose(rng).unwrap()).collect()
    }

    /// Children with overlapping keys and unique sequence numbers, except
    /// that with `ties` some entries are repeated in a later child under the
    /// same (key, seq) with a different value.
    fn random_children(rng: &mut StdRng, ties: bool) -> Vec<Vec<Entry>> {
        let count = rng.gen_range(0..=5);
        let total = rng.gen_range(0..40);
        let mut seqs: Vec<SeqNo> = (1..=total as SeqNo).collect();
        seqs.shuffle(rng);
        let mut children = vec![Vec::new(); count];
        if count == 0 {
            return children;
        }
        for seq in seqs {
            let child = rng.gen_range(0..count);
            let key = random_key(rng);
            let entry = if rng.gen_bool(0.3) {
                Entry::tombstone(key, seq)
            } else {
                Entry::value(key, seq, format!("c{child}s{seq}"))
            };
            if ties && child + 1 < count && rng.gen_bool(0.2) {
                let mut twin = entry.clone();
                twin.value = format!("twin{seq}").into_bytes();
                children[rng.gen_range(child + 1..count)].push(twin);
            }
            children[child].push(entry);
        }
        children
    }

    /// Applies one random operation to both cursors.
    fn random_op(rng: &mut StdRng, merged: &mut MergingIterator, model: &mut VecIter) {
        let key = random_key(rng);
        let seq = match rng.gen_range(0..4) {
            0 => 0,
            1 => MAX_SEQNO,
            _ => rng.gen_range(0..45),
        };
        let op = rng.gen_range(0..10);
        match op {
            0 => {
                merged.seek_to_first().unwrap();
                model.seek_to_first().unwrap();
            }
            1 => {
                merged.seek_to_last().unwrap();
                model.seek_to_last().unwrap();
            }
            2 => {
                merged.seek(&key, seq).unwrap();
                model.seek(&key, seq).unwrap();
            }
            3 => {
                merged.seek_for_prev(&key, seq).unwrap();
                model.seek_for_prev(&key, seq).unwrap();
            }
            4..=5 if model.valid() => {
                merged.next().unwrap();
                model.next().unwrap();
            }
            6 if model.valid() => {
                // The model passes the key the default way, by copy.
                merged.next_key(&mut Vec::new()).unwrap();
                model.next_key(&mut Vec::new()).unwrap();
            }
            _ if model.valid() => {
                merged.prev().unwrap();
                model.prev().unwrap();
            }
            _ => {
                merged.seek(&key, seq).unwrap();
                model.seek(&key, seq).unwrap();
            }
        }
    }

    #[test]
    fn full_scans_match_the_sorted_model() {
        // Goal: a forward and a backward walk list every version of every
        // child exactly once, in the merged order. Method: random children
        // (0 to 5, overlapping keys), compared with one sorted list.
        let mut rng = StdRng::seed_from_u64(0x6d65_7267);
        for _ in 0..300 {
            let ties = rng.gen_bool(0.3);
            let children = random_children(&mut rng, ties);
            let expect: Vec<Seen> = model(&children)
                .entries()
                .iter()
                .map(|e| Some((e.key.clone(), e.seq, e.kind, e.value.clone())))
                .collect();
            let mut merged = MergingIterator::new(boxed(&children));
            assert!(!merged.valid());
            merged.seek_to_first().unwrap();
            let mut forward = Vec::new();
            while merged.valid() {
                forward.push(seen(&merged));
                merged.next().unwrap();
            }
            assert_eq!(forward, expect);
            merged.seek_to_last().unwrap();
            let mut backward = Vec::new();
            while merged.valid() {
                backward.push(seen(&merged));
                merged.prev().unwrap();
            }
            backward.reverse();
            assert_eq!(backward, expect);
        }
    }

    #[test]
    fn random_seeks_and_direction_switches_match_the_model() {
        // Goal: seeks, and next/prev in any mix (each switch of direction
        // re-seeks the other children), agree with the sorted model at
        // every step, including on (key, seq) ties between children.
        let mut rng = StdRng::seed_from_u64(0x7377_6974);
        for case in 0..400 {
            let children = random_children(&mut rng, case % 3 == 0);
            let mut merged = MergingIterator::new(boxed(&children));
            let mut model = model(&children);
            for step in 0..120 {
                random_op(&mut rng, &mut merged, &mut model);
                assert_eq!(
                    seen(&merged),
                    seen(&model),
                    "case {case} step {step}: {children:?}"
                );
            }
        }
    }

    fn random_bound(rng: &mut StdRng) -> Bound<Vec<u8>> {
        match rng.gen_range(0..3) {
            0 => Bound::Unbounded,
            1 => Bound::Included(random_key(rng)),
            _ => Bound::Excluded(random_key(rng)),
        }
    }

    #[test]
    fn a_ranged_merge_is_exact_inside_its_range() {
        // Goal: a merge made with a range, which drops children that have
        // left it, agrees with the sorted model whenever the model is at a
        // version inside the range, through seeks, walks and direction
        // switches; it may end early or differ only outside the range.
        // Method: random children, ranges and operations; whenever the model
        // leaves the range (or ends), both are repositioned by a seek.
        let mut rng = StdRng::seed_from_u64(0x7261_6e67);
        let mut compared = 0;
        for case in 0..400 {
            let children = random_children(&mut rng, case % 3 == 0);
            let (lower, upper) = (random_bound(&mut rng), random_bound(&mut rng));
            let range = KeyRange::new(
                lower.as_ref().map(Vec::as_slice),
                upper.as_ref().map(Vec::as_slice),
            );
            let mut merged = MergingIterator::with_range(boxed(&children), range);
            let mut model = model(&children);
            for step in 0..120 {
                let inside = model.valid() && {
                    let key = model.key();
                    range.above_lower(key) && range.below_upper(key)
                };
                if inside {
                    assert_eq!(
                        seen(&merged),
                        seen(&model),
                        "case {case} step {step}: {range:?} {children:?}"
                    );
                    compared += 1;
                    random_op(&mut rng, &mut merged, &mut model);
                } else {
                    let key = random_key(&mut rng);
                    let seq = rng.gen_range(0..45);
                    let (a, b) = match rng.gen_range(0..4) {
                        0 => (merged.seek_to_first(), model.seek_to_first()),
                        1 => (merged.seek_to_last(), model.seek_to_last()),
                        2 => (merged.seek(&key, seq), model.seek(&key, seq)),
                        _ => (
                            merged.seek_for_prev(&key, seq),
                            model.seek_for_prev(&key, seq),
                        ),
                    };
                    a.and(b).expect("no failing children");
                }
            }
        }
        assert!(compared > 10_000, "only {compared} steps inside the range");
    }

    #[test]
    fn a_ranged_merge_drops_children_that_left_the_range() {
        // Goal: the fast path really drops: once the only child inside the
        // range is left, the others (past the range) are no longer merged.
        let low: Vec<Entry> = (0..5u8)
            .map(|i| Entry::value(vec![b'a', i], u64::from(i) + 1, "low"))
            .collect();
        let high = vec![Entry::value("z", 9, "high")];
        let range = KeyRange::new(Bound::Unbounded, Bound::Excluded(b"m"));
        let mut merged = MergingIterator::with_range(boxed(&[low.clone(), high]), range);
        merged.seek_to_first().unwrap();
        let Inner::Heap(heap) = &merged.inner else {
            panic!("a ranged merge keeps a heap");
        };
        assert_eq!(heap.heap, vec![0], "the child at \"z\" is past the range");
        let mut count = 0;
        while merged.valid() {
            assert!(merged.key() < b"m".as_slice());
            merged.next().unwrap();
            count += 1;
        }
        assert_eq!(count, low.len());
    }

    #[test]
    fn ties_go_to_the_lower_child_first() {
        // Goal: the documented tie rule, forward and backward and across a
        // switch in the middle of a tie.
        let children = vec![
            vec![Entry::value("k", 7, "first")],
            vec![Entry::value("k", 7, "second")],
            vec![Entry::value("k", 7, "third")],
        ];
        let mut merged = MergingIterator::new(boxed(&children));
        merged.seek_to_first().unwrap();
        assert_eq!(merged.value(), b"first");
        merged.next().unwrap();
        assert_eq!(merged.value(), b"second");
        merged.prev().unwrap();
        assert_eq!(merged.value(), b"first");
        merged.next().unwrap();
        merged.next().unwrap();
        assert_eq!(merged.value(), b"third");
        merged.next().unwrap();
        assert!(!merged.valid());
        merged.seek_to_last().unwrap();
        assert_eq!(merged.value(), b"third");
        merged.prev().unwrap();
        assert_eq!(merged.value(), b"second");
        merged.next().unwrap();
        assert_eq!(merged.value(), b"third");
    }

    #[test]
    fn zero_and_one_child() {
        // Goal: the trivial shapes (no heap) behave like their child.
        let mut none: MergingIterator = MergingIterator::new(Vec::new());
        none.seek_to_first().unwrap();
        assert!(!none.valid());
        none.seek_for_prev(b"z", 0).unwrap();
        assert!(!none.valid());

        let only = vec![vec![Entry::value("a", 2, "x"), Entry::tombstone("b", 3)]];
        let mut one = MergingIterator::new(boxed(&only));
        one.seek(b"a", 1).unwrap();
        assert_eq!(
            seen(&one),
            Some((b"b".to_vec(), 3, ValueKind::Tombstone, vec![]))
        );
        one.prev().unwrap();
        assert_eq!(one.value(), b"x");
        one.prev().unwrap();
        assert!(!one.valid());
    }

    #[test]
    fn a_failing_child_makes_the_merge_fail_and_invalid() {
        // Goal: an error from any child, in a seek or a step or during a
        // direction switch, is returned and leaves the merge invalid.
        let entries = |tag: &str| -> Vec<Entry> {
            (0..10u64)
                .map(|i| Entry::value(format!("{tag}{i}"), i + 1, "v"))
                .collect()
        };
        for budget in 0..8 {
            let children: Vec<Box<dyn InternalIterator>> = vec![
                Box::new(VecIter::new(entries("a"))),
                Box::new(VecIter::new(entries("b")).fail_after(budget)),
            ];
            let mut merged = MergingIterator::new(children);
            let mut result = merged.seek_to_first();
            let mut step = 0;
            while result.is_ok() && merged.valid() {
                // Alternate directions now and then to exercise switches.
                result = if step % 4 == 3 {
                    merged.prev()
                } else {
                    merged.next()
                };
                step += 1;
            }
            assert!(result.is_err(), "budget {budget}");
            assert!(!merged.valid());
            assert!(merged.seek(b"a", MAX_SEQNO).is_err());
            assert!(!merged.valid());
        }
    }
}
