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
//! Invariants, with more than one child:
//! - `heap` holds the index of every valid child and no other, arranged as
//!   a binary heap: a min-heap in that total order while moving forward, a
//!   max-heap while moving backward. `heap[0]` is the current entry.
//! - Moving forward, every valid child is at its first entry at or after
//!   the current one; moving backward, at its last entry at or before it.
//!   A direction switch re-seeks every other child to restore this (as
//!   LevelDB's merging iterator does).
//! - After a child reports an error the heap is emptied, so the merge is
//!   not valid until it is positioned again.
//!
//! With exactly one child the merge delegates to it and keeps no heap; with
//! none it is never valid.
//!
//! A `MergingIterator` is `Send` (its children are) and is used by one
//! thread at a time.

use std::fmt;

use crate::iter::InternalIterator;
use crate::types::{SeqNo, ValueKind};
use crate::Result;

/// A cursor over the union of its children, in internal order.
pub struct MergingIterator {
    inner: Inner,
}

enum Inner {
    /// No children: never valid.
    Empty,
    /// One child: every call is passed straight through.
    Single(Box<dyn InternalIterator>),
    /// Two or more children, merged with a heap.
    Heap(HeapMerge),
}

impl MergingIterator {
    /// Merges `children`, given newest source first. The result is not
    /// positioned: call a seek method first.
    pub fn new(mut children: Vec<Box<dyn InternalIterator>>) -> MergingIterator {
        let inner = match children.len() {
            0 => Inner::Empty,
            1 => Inner::Single(children.pop().expect("one child")),
            _ => Inner::Heap(HeapMerge {
                heap: Vec::with_capacity(children.len()),
                children,
                forward: true,
                key_buf: Vec::new(),
            }),
        };
        MergingIterator { inner }
    }
}

/// Which way the heap is ordered: the type parameter of the heap helpers,
/// so the comparison is chosen at compile time.
const FORWARD: bool = true;
const BACKWARD: bool = false;

struct HeapMerge {
    children: Vec<Box<dyn InternalIterator>>,
    /// Indices of the valid children, as a heap (see the module invariants).
    heap: Vec<usize>,
    /// Whether the heap is a min-heap (moving forward).
    forward: bool,
    /// Holds the current key during a direction switch, while the other
    /// children move.
    key_buf: Vec<u8>,
}

impl HeapMerge {
    /// Whether child `a` belongs nearer the top than child `b`: before it in
    /// the merged order when `FWD`, after it otherwise.
    #[inline]
    fn above<const FWD: bool>(&self, a: usize, b: usize) -> bool {
        let (ca, cb) = (&self.children[a], &self.children[b]);
        // Keys usually differ: only then ask for the sequence numbers
        // (compare_internal's order, with two fewer calls).
        let order = ca
            .key()
            .cmp(cb.key())
            .then_with(|| cb.seq().cmp(&ca.seq()))
            .then(a.cmp(&b));
        if FWD {
            order.is_lt()
        } else {
            order.is_gt()
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

    /// Rebuilds the heap from the valid children, ordered for `forward`.
    fn rebuild(&mut self, forward: bool) {
        self.forward = forward;
        self.heap.clear();
        self.heap
            .extend((0..self.children.len()).filter(|&i| self.children[i].valid()));
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
        mut op: impl FnMut(&mut dyn InternalIterator) -> Result<()>,
    ) -> Result<()> {
        for child in &mut self.children {
            if let Err(err) = op(child.as_mut()) {
                self.heap.clear();
                return Err(err);
            }
        }
        self.rebuild(forward);
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
        self.rebuild(true);
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
        self.rebuild(false);
        debug_assert_eq!(self.heap.first(), Some(&cur));
        Ok(())
    }

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

    /// Restores the heap after the top child moved: drops it if it ran out,
    /// else sifts it down to its place.
    #[inline]
    fn fix_top<const FWD: bool>(&mut self) {
        if !self.children[self.heap[0]].valid() {
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
    fn current(&self) -> &dyn InternalIterator {
        self.children[self.heap[0]].as_ref()
    }
}

impl MergingIterator {
    /// The child the cursor is at. REQUIRES: `valid()`.
    #[inline]
    fn current(&self) -> &dyn InternalIterator {
        match &self.inner {
            Inner::Empty => panic!("MergingIterator read while not valid"),
            Inner::Single(child) => child.as_ref(),
            Inner::Heap(merge) => merge.current(),
        }
    }
}

impl InternalIterator for MergingIterator {
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

impl fmt::Debug for MergingIterator {
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
            4..=6 if model.valid() => {
                merged.next().unwrap();
                model.next().unwrap();
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
        let mut none = MergingIterator::new(Vec::new());
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
