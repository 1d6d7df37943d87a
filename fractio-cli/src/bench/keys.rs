//! Keys and values of the workloads, built before any clock starts.
//!
//! A key has the seed's shape: a prefix, 'k' padding, `_` and the decimal
//! index, `key_size` bytes in all (`seqkkkkkkkk_1234`); when prefix and
//! index do not fit, the key is longer and has no padding. Keys of one set
//! live in one flat buffer so the measured loops never allocate; when every
//! key has the same length (the usual case) a key's place is computed from
//! its index, so fetching a key in a shuffled order costs the harness one
//! cache miss, not two, and the loops prefetch the next key
//! ([`KeySet::prefetch`]) so that miss overlaps the engine's work.
//!
//! A value is derived from its key's set and index, so a read can be
//! checked in place: its first 8 bytes are the index xor a hash of the set's
//! tag (little endian), the rest a slice of a pseudo-random pattern chosen by
//! the index. Values are incompressible, like most real payloads.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// The seed of every shuffle and of the value pattern: runs are repeatable.
pub const SEED: u64 = 0x05ee_df4a_c710;

/// Length of the pattern values are cut from; a power of two keeps the
/// offset computation a mask.
const PATTERN_LEN: usize = 1 << 16;

/// The keys of one prefix, indices `0..len`.
pub struct KeySet {
    bytes: Vec<u8>,
    layout: Layout,
    tag: u64,
}

/// Where key `i` lies in a [`KeySet`]'s bytes.
enum Layout {
    /// `len` keys of `width` bytes each: key `i` is at `i * width`.
    Fixed { width: usize, len: usize },
    /// `ends[i]` is the end of key `i`; key `i` starts at `ends[i - 1]`
    /// (or 0).
    Ends(Vec<usize>),
}

impl KeySet {
    /// Builds keys `0..len` with `prefix`, each `key_size` bytes when the
    /// prefix and index fit. `tag` tells this set's values from others'.
    pub fn new(prefix: &str, len: u64, key_size: usize, tag: u64) -> KeySet {
        let mut bytes = Vec::with_capacity(len as usize * key_size.max(prefix.len() + 8));
        let mut ends = Vec::with_capacity(len as usize);
        for i in 0..len {
            let suffix = format!("_{i}");
            let pad = key_size.saturating_sub(prefix.len() + suffix.len());
            bytes.extend_from_slice(prefix.as_bytes());
            bytes.resize(bytes.len() + pad, b'k');
            bytes.extend_from_slice(suffix.as_bytes());
            ends.push(bytes.len());
        }
        let width = ends.first().copied().unwrap_or(0);
        let fixed = ends
            .iter()
            .enumerate()
            .all(|(i, &end)| end == (i + 1) * width);
        let layout = if fixed {
            Layout::Fixed {
                width,
                len: ends.len(),
            }
        } else {
            Layout::Ends(ends)
        };
        KeySet { bytes, layout, tag }
    }

    /// Number of keys.
    pub fn len(&self) -> u64 {
        match &self.layout {
            Layout::Fixed { len, .. } => *len as u64,
            Layout::Ends(ends) => ends.len() as u64,
        }
    }

    /// Key `i`.
    #[inline]
    pub fn key(&self, i: u64) -> &[u8] {
        let i = i as usize;
        match &self.layout {
            Layout::Fixed { width, len } => {
                assert!(i < *len, "key {i} of {len}");
                &self.bytes[i * width..(i + 1) * width]
            }
            Layout::Ends(ends) => {
                let start = if i == 0 { 0 } else { ends[i - 1] };
                &self.bytes[start..ends[i]]
            }
        }
    }

    /// Asks the CPU to start loading key `i` (a hint, for fixed-width sets:
    /// the loops call it one operation ahead).
    #[inline]
    pub fn prefetch(&self, i: u64) {
        #[cfg(target_arch = "x86_64")]
        if let Layout::Fixed { width, len } = &self.layout {
            if (i as usize) < *len {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                let addr = self.bytes.as_ptr().wrapping_add(i as usize * width);
                // SAFETY: a prefetch is only a hint: it never faults and
                // has no effect the program can observe.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(addr.cast()) };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = i;
    }

    /// Length of the longest key (the last: indices only grow).
    pub fn max_key_len(&self) -> usize {
        let len = self.len();
        if len == 0 {
            0
        } else {
            self.key(len - 1).len()
        }
    }

    /// The tag that tells this set's values from other sets'.
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// Sum of the key lengths, for the user bytes a workload writes.
    pub fn key_bytes(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Indices of all keys in bytewise key order (which is not index order:
    /// the padding shrinks as the index grows).
    pub fn sorted_order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.key(a.into()).cmp(self.key(b.into())));
        order
    }
}

/// Indices `0..len` shuffled with [`SEED`] mixed with `salt`.
pub fn shuffled(len: u64, salt: u64) -> Vec<u32> {
    let mut order: Vec<u32> = (0..len as u32).collect();
    order.shuffle(&mut StdRng::seed_from_u64(SEED ^ salt));
    order
}

/// Makes and checks the values of every key set.
pub struct ValueGen {
    pattern: Vec<u8>,
    value_size: usize,
}

impl ValueGen {
    /// A generator of values of `value_size` bytes.
    pub fn new(value_size: usize) -> ValueGen {
        let mut rng = StdRng::seed_from_u64(SEED);
        let pattern = (0..PATTERN_LEN + value_size).map(|_| rng.gen()).collect();
        ValueGen {
            pattern,
            value_size,
        }
    }

    /// Size of every value.
    pub fn value_size(&self) -> usize {
        self.value_size
    }

    /// A buffer to [`fill`](Self::fill) values into.
    pub fn buffer(&self) -> Vec<u8> {
        vec![0; self.value_size]
    }

    /// Writes the value of key `i` of the set tagged `tag` into `buf`.
    #[inline]
    pub fn fill(&self, tag: u64, i: u64, buf: &mut [u8]) {
        let (head, tail) = self.parts(tag, i);
        let split = head.len();
        buf[..split].copy_from_slice(&head);
        buf[split..].copy_from_slice(tail);
    }

    /// Whether `value` is the value of key `i` of the set tagged `tag`.
    #[inline]
    pub fn matches(&self, tag: u64, i: u64, value: &[u8]) -> bool {
        if value.len() != self.value_size {
            return false;
        }
        let (head, tail) = self.parts(tag, i);
        let split = head.len();
        value[..split] == head[..] && &value[split..] == tail
    }

    /// The head (up to 8 bytes of index xor tag) and the tail (a slice of
    /// the pattern) of a value.
    #[inline]
    fn parts(&self, tag: u64, i: u64) -> (smallhead::Head, &[u8]) {
        let head = smallhead::Head::new(
            i ^ tag.wrapping_mul(0xd6e8_feb8_6659_fd93),
            self.value_size.min(8),
        );
        let offset = (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 48) as usize & (PATTERN_LEN - 1);
        let tail = &self.pattern[offset..offset + self.value_size - head.len()];
        (head, tail)
    }
}

mod smallhead {
    //! The first bytes of a value, on the stack.
    use std::ops::Deref;

    /// Up to 8 little-endian bytes of a number.
    pub struct Head {
        bytes: [u8; 8],
        len: usize,
    }

    impl Head {
        #[inline]
        pub fn new(n: u64, len: usize) -> Head {
            Head {
                bytes: n.to_le_bytes(),
                len,
            }
        }
    }

    impl Deref for Head {
        type Target = [u8];
        #[inline]
        fn deref(&self) -> &[u8] {
            &self.bytes[..self.len]
        }
    }
}

/// A fast, deterministic generator for the concurrent workloads' choices:
/// xorshift64*, one per thread, no shared state.
pub struct FastRng(u64);

impl FastRng {
    /// A generator seeded from [`SEED`] and `stream`.
    pub fn new(stream: u64) -> FastRng {
        FastRng((SEED ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1)
    }

    /// The next number.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_seed_shape() {
        // Goal: keys are prefix, padding, `_i`, of the asked size.
        let keys = KeySet::new("seq", 2000, 16, 1);
        assert_eq!(keys.key(0), b"seqkkkkkkkkkkk_0");
        assert_eq!(keys.key(1234), b"seqkkkkkkkk_1234");
        assert_eq!(keys.len(), 2000);
        let long = KeySet::new("prefix", 3, 4, 1);
        assert_eq!(long.key(2), b"prefix_2");
    }

    #[test]
    fn keys_of_different_lengths_are_found_by_their_ends() {
        // Goal: a set whose keys grow past the size (no fixed width) still
        // gives every key its own bytes.
        let keys = KeySet::new("p", 200, 3, 1);
        assert_eq!(keys.len(), 200);
        assert_eq!(keys.key(0), b"p_0");
        assert_eq!(keys.key(9), b"p_9");
        assert_eq!(keys.key(10), b"p_10");
        assert_eq!(keys.key(199), b"p_199");
        keys.prefetch(7);
        assert_eq!(keys.key_bytes(), 10 * 3 + 90 * 4 + 100 * 5);
    }

    #[test]
    fn values_verify_only_their_own_key() {
        // Goal: a value matches its key and no neighbour, in any size.
        for size in [0, 3, 8, 100] {
            let values = ValueGen::new(size);
            let mut buf = values.buffer();
            values.fill(7, 42, &mut buf);
            assert!(values.matches(7, 42, &buf));
            if size > 0 {
                assert!(!values.matches(7, 43, &buf));
                assert!(!values.matches(8, 42, &buf));
            }
        }
    }

    #[test]
    fn sorted_order_sorts_bytewise() {
        let keys = KeySet::new("r", 500, 8, 1);
        let order = keys.sorted_order();
        for pair in order.windows(2) {
            assert!(keys.key(pair[0].into()) < keys.key(pair[1].into()));
        }
    }
}
