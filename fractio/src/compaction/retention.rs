//! [`Retention`]: which versions of a key a rewrite must keep.
//!
//! Versions of one key, newest first, have sequence numbers
//! `q0 > q1 > q2 ...`. A reader at sequence number `s` sees version `i` iff
//! `q_i <= s < q_{i-1}` (version 0: iff `q0 <= s`). Readers are the live
//! snapshots and every reader that starts from now on, all of which read at
//! `horizon` (the visible sequence number when the rewrite began) or later.
//! A version may be dropped iff no reader sees it.
//!
//! The newest version is always kept, except a tombstone in the last level
//! that holds its key, which no reader needs once nothing older remains
//! below it (see `keep_tombstone`).

use crate::types::SeqNo;

/// The readers a rewrite must keep versions for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// Live snapshots' sequence numbers, ascending.
    pub snapshots: Vec<SeqNo>,
    /// Every other reader reads at this sequence number or later.
    pub horizon: SeqNo,
}

impl Retention {
    /// Whether a version with sequence number `seq` must be kept, given the
    /// sequence number of the next newer version of the same key (`None`
    /// if it is the newest).
    #[inline]
    pub fn keep(&self, seq: SeqNo, newer: Option<SeqNo>) -> bool {
        let Some(newer) = newer else {
            return true;
        };
        if newer > self.horizon {
            return true; // a reader at the horizon still sees this version
        }
        // Any snapshot in [seq, newer)?
        let first = self.snapshots.partition_point(|&s| s < seq);
        self.snapshots.get(first).is_some_and(|&s| s < newer)
    }

    /// Whether a tombstone with sequence number `seq` (the newest version
    /// kept of its key) must be kept when no older version of its key can
    /// exist below the output: only if a snapshot older than it exists,
    /// since that snapshot might see an older version that this rewrite
    /// also keeps.
    #[inline]
    pub fn keep_tombstone_at_bottom(&self, seq: SeqNo) -> bool {
        seq > self.horizon || self.snapshots.first().is_some_and(|&s| s < seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_only_versions_no_reader_sees() {
        let none = Retention {
            snapshots: vec![],
            horizon: 100,
        };
        assert!(none.keep(50, None));
        assert!(!none.keep(50, Some(60)));
        assert!(none.keep(50, Some(101))); // the newer one is not visible to all

        let with_snapshot = Retention {
            snapshots: vec![55, 80],
            horizon: 100,
        };
        assert!(with_snapshot.keep(50, Some(60))); // snapshot 55 sees it
        assert!(!with_snapshot.keep(60, Some(70)));
        assert!(with_snapshot.keep(70, Some(90))); // snapshot 80
        assert!(with_snapshot.keep(55, Some(56))); // snapshot exactly at seq
        assert!(!with_snapshot.keep(56, Some(80))); // 80 sees the newer one
    }

    #[test]
    fn bottom_tombstones_go_unless_an_older_snapshot_lives() {
        let none = Retention {
            snapshots: vec![],
            horizon: 100,
        };
        assert!(!none.keep_tombstone_at_bottom(50));
        assert!(none.keep_tombstone_at_bottom(101));
        let old = Retention {
            snapshots: vec![10],
            horizon: 100,
        };
        assert!(old.keep_tombstone_at_bottom(50));
        assert!(!old.keep_tombstone_at_bottom(5));
    }
}
