//! The framing shared by every part of a table file: block handles, the
//! on-disk block trailer (compression type + checksum), the footer, the
//! format version and the decode error of all table decoders.
//!
//! A table file, front to back (see `docs/FORMAT.md`, "Tables"):
//!
//! ```text
//! +--------------+-----+--------------+--------+-------+------------+--------+
//! | data block 0 | ... | data block n | filter | index | properties | footer |
//! +--------------+-----+--------------+--------+-------+------------+--------+
//! ```
//!
//! Every block on disk is a *sealed* block:
//!
//! ```text
//! +-------------------+-----------------+----------------------------------+
//! | payload (n bytes) | type: u8        | checksum: u32 LE                 |
//! |                   | 0 none, 1 LZ4   | checksum(payload ++ type)        |
//! +-------------------+-----------------+----------------------------------+
//! LZ4 payload = varint32 uncompressed length ++ LZ4 block (no frame)
//! ```
//!
//! The footer is the last [`FOOTER_LEN`] bytes of the file (version 1):
//!
//! ```text
//! offset  size  field
//!      0     8  index block offset       u64 LE
//!      8     4  index block size         u32 LE (sealed bytes, trailer included)
//!     12     8  filter block offset      u64 LE
//!     20     4  filter block size        u32 LE (0 = the table has no filter)
//!     24     8  properties block offset  u64 LE
//!     32     4  properties block size    u32 LE
//!     36     4  format version           u32 LE
//!     40     4  checksum of bytes [0, 40)
//!     44     8  magic "fractSST"
//! ```
//!
//! The last 16 bytes (version, checksum, magic) keep their place in every
//! future version, so a reader can tell a foreign file, a newer version and
//! a damaged footer apart before it knows the footer's length.
//!
//! Decoders here never panic: every read is bounds-checked and every
//! failure is a [`DecodeError`], which the table reader turns into an
//! [`Error::Corruption`](crate::Error::Corruption) naming file and offset.

use crate::coding::{self, Reader};
use crate::types::{MAX_KEY_LEN, MAX_VALUE_LEN};
use std::fmt;

/// The table format version this build writes (and the only one it reads).
///
/// - 1: prefix-compressed data and index blocks with restart points, one
///   `u64` trailer (`seq << 8 | kind`) per entry, optional LZ4 per block,
///   cache-line blocked bloom filter, properties block, 52-byte footer.
pub const FORMAT_VERSION: u32 = 1;

/// The last 8 bytes of every table file.
pub const MAGIC: [u8; 8] = *b"fractSST";

/// The size of the version-1 footer.
pub const FOOTER_LEN: usize = 52;

/// Where the version, the checksum and the magic sit in the footer: the
/// last 16 bytes, in every format version.
const VERSION_AT: usize = FOOTER_LEN - 16;
const CHECKSUM_AT: usize = FOOTER_LEN - 12;
const MAGIC_AT: usize = FOOTER_LEN - 8;

/// Bytes after every block payload: compression type (1) + checksum (4).
pub const BLOCK_TRAILER_LEN: usize = 5;

/// The largest uncompressed block payload a decoder accepts: one entry
/// with the longest key and the longest value, plus headers. Bounds the
/// buffer an LZ4 header can make the reader allocate.
pub const MAX_BLOCK_LEN: usize = MAX_VALUE_LEN + MAX_KEY_LEN + 1024;

/// LZ4 cannot expand input by more than 255 times (a match token of 255
/// plus one byte per further 255 bytes); a header claiming more is bogus.
const LZ4_MAX_RATIO: usize = 255;

/// What went wrong decoding table bytes. Cheap to build on the hot path;
/// the reader adds the file and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Shorthand used by the decoders of this module tree.
pub(crate) fn malformed<T>(reason: &'static str) -> Result<T, DecodeError> {
    Err(DecodeError(reason))
}

/// How a block's payload is stored. The numbers are on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BlockType {
    /// The payload is the block.
    Raw = 0,
    /// The payload is a varint32 length and an LZ4 block.
    Lz4 = 1,
}

/// Where a sealed block lives in the file: its first byte and its length
/// on disk, trailer included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockHandle {
    /// Offset of the block's first byte.
    pub offset: u64,
    /// Sealed length: payload + [`BLOCK_TRAILER_LEN`].
    pub size: u32,
}

impl BlockHandle {
    /// The offset just past the block.
    pub fn end(&self) -> u64 {
        self.offset + self.size as u64
    }

    /// Appends the handle as two varints (offset, size): the value of an
    /// index entry.
    pub fn encode_to(&self, out: &mut Vec<u8>) {
        coding::put_varint64(out, self.offset);
        coding::put_varint32(out, self.size);
    }

    /// Decodes a handle written by [`BlockHandle::encode_to`]; the input
    /// must hold nothing else.
    pub fn decode(input: &[u8]) -> Result<BlockHandle, DecodeError> {
        let mut reader = Reader::new(input);
        let (Some(offset), Some(size)) = (reader.varint64(), reader.varint32()) else {
            return malformed("bad block handle");
        };
        if !reader.is_empty() {
            return malformed("trailing bytes after block handle");
        }
        if (size as usize) < BLOCK_TRAILER_LEN {
            return malformed("block handle smaller than a block trailer");
        }
        if offset.checked_add(size as u64).is_none() {
            return malformed("block handle overflows");
        }
        Ok(BlockHandle { offset, size })
    }
}

/// The fixed-size record at the end of a table file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// The index block.
    pub index: BlockHandle,
    /// The filter block; `size == 0` when the table has no filter.
    pub filter: BlockHandle,
    /// The properties block.
    pub properties: BlockHandle,
}

impl Footer {
    /// Encodes the footer: exactly [`FOOTER_LEN`] bytes.
    pub fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut out = Vec::with_capacity(FOOTER_LEN);
        for handle in [self.index, self.filter, self.properties] {
            coding::put_u64(&mut out, handle.offset);
            coding::put_u32(&mut out, handle.size);
        }
        coding::put_u32(&mut out, FORMAT_VERSION);
        let crc = coding::checksum(&out);
        coding::put_u32(&mut out, crc);
        out.extend_from_slice(&MAGIC);
        let mut footer = [0u8; FOOTER_LEN];
        footer.copy_from_slice(&out);
        footer
    }

    /// Decodes the last bytes of a table file. `input` may be longer than
    /// the footer: only its last [`FOOTER_LEN`] bytes are read. Checks, in
    /// order, the magic, the version and the checksum.
    pub fn decode(input: &[u8]) -> Result<Footer, DecodeError> {
        let Some(start) = input.len().checked_sub(FOOTER_LEN) else {
            return malformed("file too short for a table footer");
        };
        let footer = input.get(start..).unwrap_or_default();
        if footer.get(MAGIC_AT..) != Some(&MAGIC[..]) {
            return malformed("bad magic number: not a table file");
        }
        if coding::get_u32(footer, VERSION_AT) != Some(FORMAT_VERSION) {
            return malformed("unsupported table format version (this build reads version 1)");
        }
        let covered = footer.get(..CHECKSUM_AT).unwrap_or_default();
        if coding::get_u32(footer, CHECKSUM_AT) != Some(coding::checksum(covered)) {
            return malformed("footer checksum mismatch");
        }
        let mut reader = Reader::new(footer);
        let mut handle = || -> Option<BlockHandle> {
            Some(BlockHandle {
                offset: reader.u64()?,
                size: reader.u32()?,
            })
        };
        let (Some(index), Some(filter), Some(properties)) = (handle(), handle(), handle()) else {
            return malformed("truncated footer");
        };
        Ok(Footer {
            index,
            filter,
            properties,
        })
    }
}

/// Appends `payload` to `out` as a sealed block, LZ4-compressed when
/// `compress` is set and that saves at least 1/8th of the payload.
/// `scratch` is a reusable compression buffer. Returns the sealed length.
pub fn seal_block(
    payload: &[u8],
    compress: bool,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> usize {
    let start = out.len();
    let mut kind = BlockType::Raw;
    if compress && !payload.is_empty() {
        scratch.clear();
        coding::put_varint32(scratch, payload.len() as u32);
        let header = scratch.len();
        scratch.resize(
            header + lz4_flex::block::get_maximum_output_size(payload.len()),
            0,
        );
        // Compression into a buffer of the maximum output size cannot fail.
        if let Ok(written) = lz4_flex::block::compress_into(payload, &mut scratch[header..]) {
            scratch.truncate(header + written);
            if scratch.len() <= payload.len() - payload.len() / 8 {
                kind = BlockType::Lz4;
            }
        }
    }
    match kind {
        BlockType::Raw => out.extend_from_slice(payload),
        BlockType::Lz4 => out.extend_from_slice(scratch),
    }
    out.push(kind as u8);
    let crc = coding::checksum(&out[start..]);
    coding::put_u32(out, crc);
    out.len() - start
}

/// What a sealed block holds, once its checksum is verified.
#[derive(Debug, PartialEq, Eq)]
pub enum Unsealed {
    /// A raw payload: the first `n` of the sealed bytes (`Raw(n)`).
    Raw(usize),
    /// A compressed payload, decompressed.
    Decompressed(Vec<u8>),
}

/// Verifies a sealed block's checksum (`sealed` is the whole block as read
/// from disk) and says where its payload is.
pub fn unseal(sealed: &[u8]) -> Result<Unsealed, DecodeError> {
    let Some(body_len) = sealed.len().checked_sub(4) else {
        return malformed("block shorter than its trailer");
    };
    let Some(payload_len) = body_len.checked_sub(1) else {
        return malformed("block shorter than its trailer");
    };
    let stored = coding::get_u32(sealed, body_len);
    let body = sealed.get(..body_len).unwrap_or_default();
    if stored != Some(coding::checksum(body)) {
        return malformed("block checksum mismatch");
    }
    match sealed.get(payload_len).copied() {
        Some(t) if t == BlockType::Raw as u8 => Ok(Unsealed::Raw(payload_len)),
        Some(t) if t == BlockType::Lz4 as u8 => Ok(Unsealed::Decompressed(decompress(
            sealed.get(..payload_len).unwrap_or_default(),
        )?)),
        _ => malformed("unknown block compression type"),
    }
}

/// [`unseal`], returning the uncompressed payload; for a raw block the
/// buffer is reused (no copy).
pub fn unseal_block(mut sealed: Vec<u8>) -> Result<Vec<u8>, DecodeError> {
    match unseal(&sealed)? {
        Unsealed::Raw(len) => {
            sealed.truncate(len);
            Ok(sealed)
        }
        Unsealed::Decompressed(payload) => Ok(payload),
    }
}

/// Decodes an LZ4 payload: varint32 uncompressed length + LZ4 block.
fn decompress(payload: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let Some((len, used)) = coding::get_varint32(payload) else {
        return malformed("bad LZ4 length header");
    };
    let len = len as usize;
    let compressed = payload.get(used..).unwrap_or_default();
    if len > MAX_BLOCK_LEN || len > compressed.len().saturating_mul(LZ4_MAX_RATIO) + 16 {
        return malformed("LZ4 length header out of range");
    }
    let mut out = vec![0u8; len];
    match lz4_flex::block::decompress_into(compressed, &mut out) {
        Ok(written) if written == len => Ok(out),
        Ok(_) => malformed("LZ4 block shorter than its length header"),
        Err(_) => malformed("bad LZ4 block"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn sealed(payload: &[u8], compress: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let len = seal_block(payload, compress, &mut Vec::new(), &mut out);
        assert_eq!(len, out.len());
        out
    }

    #[test]
    fn footer_round_trips_and_checks_magic_version_checksum() {
        let footer = Footer {
            index: BlockHandle {
                offset: 100,
                size: 50,
            },
            filter: BlockHandle { offset: 0, size: 0 },
            properties: BlockHandle {
                offset: 150,
                size: 30,
            },
        };
        let bytes = footer.encode();
        let mut file = vec![7u8; 10];
        file.extend_from_slice(&bytes);
        assert_eq!(Footer::decode(&file), Ok(footer));

        let mut bad = bytes;
        bad[FOOTER_LEN - 1] ^= 1;
        assert_eq!(
            Footer::decode(&bad).unwrap_err().0,
            "bad magic number: not a table file"
        );
        let mut bad = bytes;
        bad[VERSION_AT] = 2;
        assert!(Footer::decode(&bad).unwrap_err().0.contains("version"));
        let mut bad = bytes;
        bad[3] ^= 0x10;
        assert_eq!(
            Footer::decode(&bad).unwrap_err().0,
            "footer checksum mismatch"
        );
        assert!(Footer::decode(&bytes[1..]).is_err());
    }

    #[test]
    fn blocks_seal_raw_or_lz4_and_unseal() {
        let text = b"the same words again and again ".repeat(40);
        let raw = sealed(&text, false);
        assert_eq!(raw.len(), text.len() + BLOCK_TRAILER_LEN);
        assert_eq!(raw[text.len()], BlockType::Raw as u8);
        assert_eq!(unseal_block(raw).unwrap(), text);

        let lz4 = sealed(&text, true);
        assert!(lz4.len() < text.len() / 4, "repetitive text compresses");
        assert_eq!(lz4[lz4.len() - 5], BlockType::Lz4 as u8);
        assert_eq!(unseal_block(lz4).unwrap(), text);

        // Random bytes do not compress by 1/8th: stored raw.
        let mut rng = StdRng::seed_from_u64(1);
        let noise: Vec<u8> = (0..4096).map(|_| rng.gen()).collect();
        let stored = sealed(&noise, true);
        assert_eq!(stored[noise.len()], BlockType::Raw as u8);
        assert_eq!(unseal_block(stored).unwrap(), noise);
        assert_eq!(unseal_block(sealed(b"", true)).unwrap(), b"");
    }

    #[test]
    fn any_flipped_bit_is_a_checksum_error() {
        let text = b"abcdefgh".repeat(100);
        for compress in [false, true] {
            let block = sealed(&text, compress);
            for i in 0..block.len() {
                let mut bad = block.clone();
                bad[i] ^= 0x04;
                assert!(unseal_block(bad).is_err(), "flip at {i} went unnoticed");
            }
        }
    }

    #[test]
    fn handles_round_trip_and_reject_garbage() {
        let handle = BlockHandle {
            offset: 1 << 40,
            size: 4101,
        };
        let mut out = Vec::new();
        handle.encode_to(&mut out);
        assert_eq!(BlockHandle::decode(&out), Ok(handle));
        out.push(0);
        assert!(BlockHandle::decode(&out).is_err());
        assert!(
            BlockHandle::decode(&[0, 3]).is_err(),
            "smaller than a trailer"
        );
        assert!(BlockHandle::decode(&[]).is_err());
    }

    /// Goal: no decoder of this module panics on arbitrary bytes. Method:
    /// random inputs, and valid encodings with random bytes changed (for
    /// sealed blocks, with the checksum fixed up so the LZ4 decoder runs).
    #[test]
    fn decoders_survive_arbitrary_bytes() {
        let mut rng = StdRng::seed_from_u64(0xf00d);
        let text = b"key-000123 value-value-value ".repeat(30);
        let seeds = [sealed(&text, true), sealed(&text, false)];
        let footer = Footer {
            index: BlockHandle { offset: 9, size: 9 },
            filter: BlockHandle { offset: 1, size: 8 },
            properties: BlockHandle {
                offset: 18,
                size: 7,
            },
        }
        .encode();
        for round in 0..3000 {
            let len = rng.gen_range(0..80);
            let random: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let _ = Footer::decode(&random);
            let _ = BlockHandle::decode(&random);
            let _ = unseal_block(random);

            let mut footer = footer;
            for _ in 0..rng.gen_range(1..4) {
                footer[rng.gen_range(0..FOOTER_LEN)] = rng.gen();
            }
            let _ = Footer::decode(&footer);

            let mut block = seeds[round % 2].clone();
            let body = block.len() - 4;
            for _ in 0..rng.gen_range(1..6) {
                block[rng.gen_range(0..body)] = rng.gen();
            }
            if rng.gen_bool(0.5) {
                block.truncate(rng.gen_range(5..=body) - 1);
                block.push(BlockType::Lz4 as u8);
            } else {
                block.truncate(body);
            }
            let crc = coding::checksum(&block);
            coding::put_u32(&mut block, crc);
            if let Ok(payload) = unseal_block(block) {
                assert!(payload.len() <= MAX_BLOCK_LEN);
            }
        }
    }
}
