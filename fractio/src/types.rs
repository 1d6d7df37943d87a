//! Core types shared by every layer: sequence numbers, entry kinds, limits
//! and the internal-key order.
//!
//! Every stored entry is a *version* of a user key: `(user_key, seq, kind,
//! value)`. Versions are ordered by user key ascending (bytewise), then by
//! sequence number descending, so that a forward scan meets the newest
//! version of a key first. Sequence numbers are unique per entry, so the
//! kind never takes part in the order.

use std::cmp::Ordering;

/// A sequence number: the commit order of a write. Every entry of a write
/// batch takes its own, consecutive, number.
pub type SeqNo = u64;

/// The largest sequence number a write may take. Sequence numbers are
/// stored in 56 bits next to an 8-bit kind; `MAX_SEQNO` itself is never
/// assigned, so `(key, MAX_SEQNO)` sorts before every real version of `key`.
pub const MAX_SEQNO: SeqNo = (1 << 56) - 1;

/// The longest user key accepted: 64 KiB. Keys are prefix-compressed in
/// table blocks and their length is stored as a varint; the limit keeps a
/// single entry well inside a block and a log record.
pub const MAX_KEY_LEN: usize = 64 << 10;

/// The longest value accepted: 64 MiB. One log record and one memtable
/// allocation must hold a whole value.
pub const MAX_VALUE_LEN: usize = 64 << 20;

/// What an entry records about its key. The numbers are on disk (log
/// records and table blocks): never renumber them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ValueKind {
    /// The key was removed at this sequence number.
    Tombstone = 0,
    /// The key was set to the entry's value at this sequence number.
    Value = 1,
}

impl ValueKind {
    /// Decodes a stored kind byte; `None` for an unknown byte.
    #[inline]
    pub fn from_u8(byte: u8) -> Option<ValueKind> {
        match byte {
            0 => Some(ValueKind::Tombstone),
            1 => Some(ValueKind::Value),
            _ => None,
        }
    }
}

/// Compares two versions in internal order: user key ascending, then
/// sequence number descending.
#[inline]
pub fn compare_internal(a_key: &[u8], a_seq: SeqNo, b_key: &[u8], b_seq: SeqNo) -> Ordering {
    match a_key.cmp(b_key) {
        Ordering::Equal => b_seq.cmp(&a_seq),
        other => other,
    }
}

/// The hash of a user key used by bloom filters. Computed once per lookup
/// and handed to every table that is probed.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// The smallest byte string greater than every string that starts with
/// `prefix`, or `None` when there is none (the prefix is empty or all 0xff).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_order_is_key_then_newest_first() {
        assert_eq!(compare_internal(b"a", 1, b"b", 9), Ordering::Less);
        assert_eq!(compare_internal(b"a", 9, b"a", 1), Ordering::Less);
        assert_eq!(compare_internal(b"a", 1, b"a", 9), Ordering::Greater);
        assert_eq!(compare_internal(b"ab", 5, b"a", 5), Ordering::Greater);
        assert_eq!(compare_internal(b"a", 5, b"a", 5), Ordering::Equal);
    }

    #[test]
    fn prefix_successor_skips_trailing_ff() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
        assert_eq!(prefix_successor(b""), None);
    }

    #[test]
    fn kinds_round_trip() {
        for kind in [ValueKind::Tombstone, ValueKind::Value] {
            assert_eq!(ValueKind::from_u8(kind as u8), Some(kind));
        }
        assert_eq!(ValueKind::from_u8(7), None);
    }
}
