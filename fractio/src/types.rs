//! Core types shared by every layer: sequence numbers, entry kinds, limits
//! and the internal-key order.
//!
//! Every stored entry is a *version* of a user key: `(user_key, seq, kind,
//! value)`. Versions are ordered by user key ascending (bytewise), then by
//! sequence number descending, so that a forward scan meets the newest
//! version of a key first. Sequence numbers are unique per entry, so the
//! kind never takes part in the order.

use crate::slice::{Slice, INLINE_CAPACITY};
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

/// `a.cmp(b)` for user keys, without a `memcmp` call when the shorter key
/// is 8 to 16 bytes long: two big-endian word loads per key (overlapping
/// when shorter than 16) decide it. Other lengths go to the slice order.
#[inline(always)]
pub fn compare_user_keys(a: &[u8], b: &[u8]) -> Ordering {
    let len = a.len().min(b.len());
    if let (Some(a_head), Some(b_head)) = (a.get(..len), b.get(..len)) {
        if let (Some(a0), Some(b0), Some(a1), Some(b1)) = (
            a_head.first_chunk::<8>(),
            b_head.first_chunk::<8>(),
            a_head.last_chunk::<8>(),
            b_head.last_chunk::<8>(),
        ) {
            if len <= 16 {
                // The words cover the common length; where they overlap
                // they agree once the first pair is equal, so the second
                // pair orders the first differing byte after it.
                let first = u64::from_be_bytes(*a0).cmp(&u64::from_be_bytes(*b0));
                let last = u64::from_be_bytes(*a1).cmp(&u64::from_be_bytes(*b1));
                return first.then(last).then(a.len().cmp(&b.len()));
            }
        }
    }
    a.cmp(b)
}

/// `a == b` for user keys, without a `bcmp` call for keys of 8 to 16
/// bytes (see [`compare_user_keys`]).
#[inline(always)]
pub fn user_keys_equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if let (Some(a0), Some(b0), Some(a1), Some(b1)) = (
        a.first_chunk::<8>(),
        b.first_chunk::<8>(),
        a.last_chunk::<8>(),
        b.last_chunk::<8>(),
    ) {
        if a.len() <= 16 {
            let diff = (u64::from_ne_bytes(*a0) ^ u64::from_ne_bytes(*b0))
                | (u64::from_ne_bytes(*a1) ^ u64::from_ne_bytes(*b1));
            return diff == 0;
        }
    }
    a == b
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
    prefix_successor_slice(prefix).map(|successor| successor.to_vec())
}

/// [`prefix_successor`] as a [`Slice`]: `prefix` without its trailing 0xff
/// bytes, the last one left incremented. Built on the stack, so a successor
/// that fits a `Slice` inline costs no allocation (a prefix scan's bound).
pub(crate) fn prefix_successor_slice(prefix: &[u8]) -> Option<Slice> {
    let last = prefix.iter().rposition(|&byte| byte < 0xff)?;
    let fill = |successor: &mut [u8]| {
        successor.copy_from_slice(&prefix[..=last]);
        successor[last] += 1;
    };
    let mut inline = [0u8; INLINE_CAPACITY];
    Some(match inline.get_mut(..=last) {
        Some(successor) => {
            fill(successor);
            Slice::copy_from(successor)
        }
        None => {
            let mut successor = vec![0; last + 1];
            fill(&mut successor);
            Slice::from(successor)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_key_compare_and_equality_agree_with_slices() {
        // Goal: the word-at-a-time paths (shorter key 8 to 16 bytes, with
        // overlapping words) and the fallbacks order and equate exactly as
        // the slice operations. Method: every pair of keys of length 0 to
        // 24 over a two-letter alphabet, long shared prefixes common.
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let keys: Vec<Vec<u8>> = (0..600)
            .map(|i| (0..i % 25).map(|_| b"ab"[rng.gen_range(0..2)]).collect())
            .collect();
        for a in &keys {
            for b in &keys {
                assert_eq!(compare_user_keys(a, b), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(user_keys_equal(a, b), a == b, "{a:?} vs {b:?}");
            }
        }
        let (low, high) = (
            b"\x00\x00\x00\x00\x00\x00\x00\x00\xff",
            b"\x00\x00\x00\x00\x00\x00\x00\x01",
        );
        assert_eq!(
            compare_user_keys(low, high),
            Ordering::Less,
            "bytes are unsigned"
        );
    }

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
