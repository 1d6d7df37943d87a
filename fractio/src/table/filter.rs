//! The bloom filter of a table: cache-line blocked, so a lookup touches one
//! 64-byte line whatever the number of probes.
//!
//! Each key is reduced to its 64-bit [`key_hash`](crate::types::key_hash),
//! computed once per lookup by the caller. The high 32 bits pick the line
//! (`line = (hash >> 32) * lines >> 32`); the low 32 bits seed the probes
//! inside it: probe `i` sets/tests bit `h_i >> 23` of the 512-bit line, where
//! `h_0 = hash as u32` and `h_{i+1} = h_i * 0x9e3779b9` (wrapping).
//!
//! Filter block payload (before sealing; it is never compressed):
//!
//! ```text
//! +------------------------------------+------------------+
//! | lines: 64 bytes * n (n >= 1)       | num_probes: u8   |
//! +------------------------------------+------------------+
//!   bit b of a line = byte b / 8 of the line, bit b % 8 (LSB first)
//! ```
//!
//! `n = ceil(distinct keys * bits_per_key / 512)`; the number of probes is
//! chosen from `bits_per_key` at build time and stored, so readers need not
//! know the rule. A filter never answers "absent" for an added hash.

use super::format::{malformed, DecodeError};

/// Bytes of one line: one CPU cache line.
const LINE_BYTES: usize = 64;
const LINE_BITS: u32 = 512;
/// The multiplier that derives each probe from the previous one (the
/// 32-bit golden ratio, odd, so the sequence does not collapse).
const PROBE_MULTIPLIER: u32 = 0x9e37_79b9;
/// Probes a decoder accepts.
const MAX_PROBES: u8 = 30;

/// The number of probes for `bits_per_key`: a little below the
/// `bits * ln 2` of an unblocked filter, since lines fill unevenly (measured
/// by `false_positive_rate_is_under_one_percent`).
fn num_probes(bits_per_key: u32) -> u8 {
    let probes = (bits_per_key as f64 * 0.6).round() as u32;
    probes.clamp(1, MAX_PROBES as u32) as u8
}

/// Encodes the filter of `hashes` (one per distinct key) at `bits_per_key`
/// and appends the payload to `out`. REQUIRES: `bits_per_key > 0`.
pub fn build_filter(hashes: &[u64], bits_per_key: u32, out: &mut Vec<u8>) {
    assert!(bits_per_key > 0, "a filter needs bits");
    let bits = hashes.len() as u64 * bits_per_key as u64;
    let lines = bits.div_ceil(LINE_BITS as u64).clamp(1, u32::MAX as u64);
    let probes = num_probes(bits_per_key);
    let start = out.len();
    out.resize(start + lines as usize * LINE_BYTES, 0);
    let filter = &mut out[start..];
    for &hash in hashes {
        let line = line_of(hash, lines) * LINE_BYTES;
        let line = &mut filter[line..line + LINE_BYTES];
        let mut h = hash as u32;
        for _ in 0..probes {
            let bit = h >> (32 - 9);
            line[(bit / 8) as usize] |= 1 << (bit % 8);
            h = h.wrapping_mul(PROBE_MULTIPLIER);
        }
    }
    out.push(probes);
}

#[inline]
fn line_of(hash: u64, lines: u64) -> usize {
    (((hash >> 32) * lines) >> 32) as usize
}

/// A decoded filter, held in memory for the table's lifetime.
#[derive(Debug)]
pub struct Filter {
    lines: Vec<u8>,
    num_lines: u64,
    probes: u8,
}

impl Filter {
    /// Decodes a filter block payload.
    pub fn decode(mut payload: Vec<u8>) -> Result<Filter, DecodeError> {
        let Some(probes) = payload.pop() else {
            return malformed("empty filter block");
        };
        if probes == 0 || probes > MAX_PROBES {
            return malformed("filter probe count out of range");
        }
        if payload.is_empty() || payload.len() % LINE_BYTES != 0 {
            return malformed("filter size is not a whole number of lines");
        }
        let num_lines = (payload.len() / LINE_BYTES) as u64;
        if num_lines > u32::MAX as u64 {
            return malformed("filter has too many lines");
        }
        Ok(Filter {
            lines: payload,
            num_lines,
            probes,
        })
    }

    /// Whether a key with this hash may have been added; `false` is
    /// certain.
    #[inline]
    pub fn may_contain(&self, hash: u64) -> bool {
        let start = line_of(hash, self.num_lines) * LINE_BYTES;
        let Some(line) = self.lines.get(start..start + LINE_BYTES) else {
            return true;
        };
        let line: &[u8; LINE_BYTES] = line.try_into().unwrap_or(&[0xff; LINE_BYTES]);
        let mut h = hash as u32;
        for _ in 0..self.probes {
            let bit = h >> (32 - 9);
            if line[(bit / 8) as usize] & (1 << (bit % 8)) == 0 {
                return false;
            }
            h = h.wrapping_mul(PROBE_MULTIPLIER);
        }
        true
    }

    /// Bytes held in memory.
    pub fn size(&self) -> usize {
        self.lines.capacity()
    }

    /// The number of probes per key.
    pub fn probes(&self) -> u8 {
        self.probes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::key_hash;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn filter_of(hashes: &[u64], bits_per_key: u32) -> Filter {
        let mut out = Vec::new();
        build_filter(hashes, bits_per_key, &mut out);
        Filter::decode(out).unwrap()
    }

    fn fp_rate(keys: usize, bits_per_key: u32) -> f64 {
        let present: Vec<u64> = (0..keys)
            .map(|i| key_hash(format!("user{i:012}").as_bytes()))
            .collect();
        let filter = filter_of(&present, bits_per_key);
        assert!(
            present.iter().all(|&h| filter.may_contain(h)),
            "no false negatives"
        );
        let false_positives = (0..keys)
            .filter(|i| filter.may_contain(key_hash(format!("absent{i:012}").as_bytes())))
            .count();
        false_positives as f64 / keys as f64
    }

    /// Goal: the filter meets its budget. Method: 100k keys in, 100k other
    /// keys probed, at 10 bits/key (and a sanity check at other widths).
    #[test]
    fn false_positive_rate_is_under_one_percent() {
        let rate = fp_rate(100_000, 10);
        println!(
            "bloom false-positive rate at 10 bits/key: {:.3}%",
            rate * 100.0
        );
        assert!(rate <= 0.01, "fp rate {rate}");
        assert!(fp_rate(20_000, 5) < 0.12);
        assert!(fp_rate(20_000, 20) < 0.001);
    }

    #[test]
    fn size_follows_bits_per_key() {
        let hashes: Vec<u64> = (0..1000u64).map(|i| key_hash(&i.to_le_bytes())).collect();
        let filter = filter_of(&hashes, 10);
        assert_eq!(filter.lines.len(), 10_000usize.div_ceil(512) * 64);
        assert_eq!(filter.probes(), 6);
        let tiny = filter_of(&hashes[..1], 10);
        assert_eq!(tiny.lines.len(), 64);
        assert!(tiny.may_contain(hashes[0]));
    }

    #[test]
    fn malformed_filters_are_rejected() {
        assert!(Filter::decode(vec![]).is_err());
        assert!(Filter::decode(vec![6]).is_err(), "no lines");
        assert!(Filter::decode(vec![0; 65]).is_err(), "zero probes");
        assert!(Filter::decode(vec![0; 64]).is_err(), "partial line");
        let mut bad = vec![0; 65];
        bad[64] = 200;
        assert!(Filter::decode(bad).is_err(), "too many probes");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut rng = StdRng::seed_from_u64(0xf11);
        for _ in 0..3000 {
            let len = rng.gen_range(0..300);
            let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if let Ok(filter) = Filter::decode(bytes) {
                for _ in 0..10 {
                    let _ = filter.may_contain(rng.gen());
                }
            }
        }
    }
}
