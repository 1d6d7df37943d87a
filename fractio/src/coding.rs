//! Little helpers for the on-disk encodings: LEB128 varints and fixed-width
//! little-endian integers, and the CRC-32C-style checksum used by every
//! format (CRC-32 (IEEE) as computed by `crc32fast`, masked as below).
//!
//! Decoders never panic: on short or malformed input they return `None`.

/// Appends `value` as a LEB128 varint (1 to 10 bytes).
#[inline]
pub fn put_varint64(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends `value` as a LEB128 varint (1 to 5 bytes).
#[inline]
pub fn put_varint32(out: &mut Vec<u8>, value: u32) {
    put_varint64(out, value as u64)
}

/// Writes `value` as a varint at the start of `out` (which must have room
/// for 10 bytes) and returns the bytes used. No allocation.
#[inline]
pub fn encode_varint64(out: &mut [u8], mut value: u64) -> usize {
    let mut i = 0;
    while value >= 0x80 {
        out[i] = (value as u8) | 0x80;
        value >>= 7;
        i += 1;
    }
    out[i] = value as u8;
    i + 1
}

/// The encoded length of `value` as a varint.
#[inline]
pub fn varint_len(mut value: u64) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

/// Decodes a varint at the start of `input`: the value and the bytes used.
#[inline]
pub fn get_varint64(input: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &byte) in input.iter().enumerate().take(10) {
        let bits = (byte & 0x7f) as u64;
        if i == 9 && byte > 1 {
            return None; // overflows 64 bits
        }
        value |= bits << (7 * i);
        if byte < 0x80 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Decodes a varint that must fit in 32 bits.
#[inline]
pub fn get_varint32(input: &[u8]) -> Option<(u32, usize)> {
    match get_varint64(input) {
        Some((value, used)) if value <= u32::MAX as u64 => Some((value as u32, used)),
        _ => None,
    }
}

/// Appends a little-endian u32.
#[inline]
pub fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends a little-endian u64.
#[inline]
pub fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Reads a little-endian u32 at `offset`.
#[inline]
pub fn get_u32(input: &[u8], offset: usize) -> Option<u32> {
    let bytes = input.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// Reads a little-endian u64 at `offset`.
#[inline]
pub fn get_u64(input: &[u8], offset: usize) -> Option<u64> {
    let bytes = input.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// A cursor over encoded bytes; every read returns `None` once the input
/// is exhausted or malformed.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `input`.
    pub fn new(input: &'a [u8]) -> Reader<'a> {
        Reader { input, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    /// Whether every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos == self.input.len()
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Option<u8> {
        let byte = *self.input.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    /// Reads a little-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        let value = get_u32(self.input, self.pos)?;
        self.pos += 4;
        Some(value)
    }

    /// Reads a little-endian u64.
    pub fn u64(&mut self) -> Option<u64> {
        let value = get_u64(self.input, self.pos)?;
        self.pos += 8;
        Some(value)
    }

    /// Reads a varint.
    pub fn varint64(&mut self) -> Option<u64> {
        let (value, used) = get_varint64(&self.input[self.pos..])?;
        self.pos += used;
        Some(value)
    }

    /// Reads a varint that fits in 32 bits.
    pub fn varint32(&mut self) -> Option<u32> {
        let (value, used) = get_varint32(&self.input[self.pos..])?;
        self.pos += used;
        Some(value)
    }

    /// Reads `len` bytes.
    pub fn bytes(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(len)?;
        let bytes = self.input.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    /// Reads a varint length followed by that many bytes.
    pub fn length_prefixed(&mut self) -> Option<&'a [u8]> {
        let len = self.varint64()?;
        self.bytes(usize::try_from(len).ok()?)
    }
}

/// Appends a varint length and the bytes.
#[inline]
pub fn put_length_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint64(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

const CRC_MASK_DELTA: u32 = 0xa282_ead8;

/// The checksum stored by every format: CRC-32 of `data`, rotated and
/// offset so that a checksum of bytes that themselves contain checksums
/// (and a run of zeros) is not trivially zero.
#[inline]
pub fn checksum(data: &[u8]) -> u32 {
    mask(crc32fast::hash(data))
}

/// The checksum of the concatenation of `parts`.
#[inline]
pub fn checksum_parts(parts: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for part in parts {
        hasher.update(part);
    }
    mask(hasher.finalize())
}

#[inline]
fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(CRC_MASK_DELTA)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for value in [0u64, 1, 127, 128, 300, 1 << 32, u64::MAX] {
            let mut out = Vec::new();
            put_varint64(&mut out, value);
            assert_eq!(out.len(), varint_len(value));
            assert_eq!(get_varint64(&out), Some((value, out.len())));
            let mut fixed = [0u8; 10];
            let used = encode_varint64(&mut fixed, value);
            assert_eq!(&fixed[..used], &out[..]);
        }
    }

    #[test]
    fn malformed_varints_are_rejected() {
        assert_eq!(get_varint64(&[]), None);
        assert_eq!(get_varint64(&[0x80]), None);
        assert_eq!(get_varint64(&[0xff; 11]), None);
        assert_eq!(get_varint32(&[0xff, 0xff, 0xff, 0xff, 0x1f]), None);
    }

    #[test]
    fn reader_stops_at_the_end() {
        let mut out = Vec::new();
        put_u32(&mut out, 7);
        put_length_prefixed(&mut out, b"abc");
        let mut reader = Reader::new(&out);
        assert_eq!(reader.u32(), Some(7));
        assert_eq!(reader.length_prefixed(), Some(&b"abc"[..]));
        assert!(reader.is_empty());
        assert_eq!(reader.u8(), None);
        assert_eq!(Reader::new(&[5, 1]).length_prefixed(), None);
    }

    #[test]
    fn checksum_of_zeros_is_not_zero() {
        assert_ne!(checksum(&[0; 16]), 0);
        assert_eq!(checksum(b"abcdef"), checksum_parts(&[b"abc", b"def"]));
    }
}
