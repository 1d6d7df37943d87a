//! Snapshots: point-in-time views by sequence number, and the list of live
//! ones that compaction must respect.
//!
//! A snapshot reads the current memtables and tables, ignoring every
//! version newer than its sequence number. Compaction and flush keep any
//! version that a live snapshot still sees, so the snapshot stays stable
//! while the tree changes under it. The list is touched only when a
//! snapshot is made or dropped and when background work asks for the
//! oldest one, never on the read or write path.

use super::DbInner;
use crate::iter::db_iter::{prefix_bounds, Iter};
use crate::types::SeqNo;
use crate::{Result, Value};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::ops::RangeBounds;
use std::sync::Arc;

/// Live snapshots: sequence number → how many snapshots hold it.
#[derive(Default)]
pub(crate) struct SnapshotList {
    live: Mutex<BTreeMap<SeqNo, usize>>,
}

impl SnapshotList {
    /// Registers a snapshot at `current()`, read under the list's lock so
    /// that a concurrent [`SnapshotList::sequence_numbers_and`] sees either
    /// the registration or a sequence number no newer than the snapshot's.
    fn register(&self, current: impl FnOnce() -> SeqNo) -> SeqNo {
        let mut live = self.live.lock();
        let seq = current();
        *live.entry(seq).or_insert(0) += 1;
        seq
    }

    fn release(&self, seq: SeqNo) {
        let mut live = self.live.lock();
        if let Some(count) = live.get_mut(&seq) {
            *count -= 1;
            if *count == 0 {
                live.remove(&seq);
            }
        }
    }

    /// The sequence numbers of live snapshots, ascending; `also` runs
    /// under the list's lock (to read the visible sequence number
    /// consistently with the list).
    pub(crate) fn sequence_numbers_and(&self, also: impl FnOnce()) -> Vec<SeqNo> {
        let live = self.live.lock();
        also();
        live.keys().copied().collect()
    }
}

/// A consistent, read-only view of the database as of the moment it was
/// taken. Cheap to make; holding one keeps the versions it sees from being
/// compacted away.
pub struct Snapshot {
    db: Arc<DbInner>,
    seq: SeqNo,
}

impl Snapshot {
    pub(crate) fn new(db: Arc<DbInner>) -> Snapshot {
        let seq = db.snapshots.register(|| db.visible_seq());
        Snapshot { db, seq }
    }

    /// The snapshot's sequence number: it sees exactly the writes up to it.
    pub fn seq(&self) -> SeqNo {
        self.seq
    }

    /// The value of `key` as of the snapshot.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        self.db.get_at(key.as_ref(), Some(self.seq))
    }

    /// `read` applied to the value of `key` as of the snapshot (`None`
    /// without one), lent instead of copied (see [`Db::get_with`]).
    ///
    /// [`Db::get_with`]: crate::Db::get_with
    pub fn get_with<R>(
        &self,
        key: impl AsRef<[u8]>,
        read: impl FnOnce(Option<&[u8]>) -> R,
    ) -> Result<R> {
        self.db.get_with_at(key.as_ref(), Some(self.seq), read)
    }

    /// Whether `key` had a value as of the snapshot.
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        self.db.contains_at(key.as_ref(), Some(self.seq))
    }

    /// The entries with keys in `range` as of the snapshot.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter {
        self.db.range_at(range, Some(self.seq))
    }

    /// The entries whose keys start with `prefix` as of the snapshot.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Iter {
        let (lower, upper) = prefix_bounds(prefix.as_ref());
        self.db.iter_at(lower, upper, Some(self.seq))
    }

    /// Every entry as of the snapshot.
    pub fn iter(&self) -> Iter {
        self.range::<&[u8], _>(..)
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.db.snapshots.release(self.seq);
    }
}
