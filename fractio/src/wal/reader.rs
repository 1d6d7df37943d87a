//! Reads a log segment back at recovery.
//!
//! Classification of a record that fails its checksum (or is cut short):
//! - if no valid record follows it in the segment, it is a **torn tail**:
//!   a write interrupted by a crash, never acknowledged as durable. The
//!   segment ends there and the caller reports it.
//! - if a valid record follows it, acknowledged data lies beyond damaged
//!   bytes: that is **corruption**, reported as [`Error::Corruption`] with
//!   the file and offset (the caller may choose to salvage).
//!
//! A record with a valid checksum whose contents do not decode is always
//! corruption. The reader never panics on arbitrary bytes.

use super::{HEADER_LEN, PAYLOAD_PREFIX_LEN};
use crate::batch::EntryDecoder;
use crate::coding::{checksum, get_u32, get_u64};
use crate::types::SeqNo;
use crate::{Error, Result};
use std::path::Path;

/// One record read back.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Sequence number of the first entry.
    pub first_seq: SeqNo,
    /// Number of entries.
    pub count: u32,
    /// The encoded entries (see `batch.rs`), already checked to decode.
    pub entries: &'a [u8],
    /// Offset of the record in the segment.
    pub offset: u64,
}

/// How a segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentEnd {
    /// After the last record: a zero header or the end of the file.
    Clean {
        /// Offset just past the last record.
        offset: u64,
    },
    /// At a torn record; the bytes from `offset` on were dropped.
    Torn {
        /// Where the torn record starts.
        offset: u64,
        /// Bytes dropped (the non-zero extent of the torn record).
        bytes: u64,
    },
}

enum Step<'a> {
    Record(Record<'a>, usize),
    End,
    Bad(&'static str),
}

/// Reads the records of one segment (`bytes`, read from `path`) in order,
/// calling `apply` for each. `after_seq` is the last sequence number seen
/// before this segment (it helps tell a torn tail from corruption).
pub fn read_segment(
    bytes: &[u8],
    path: &Path,
    after_seq: SeqNo,
    mut apply: impl FnMut(Record<'_>) -> Result<()>,
) -> Result<SegmentEnd> {
    let mut pos = 0usize;
    let mut last_seq = after_seq;
    loop {
        match step(bytes, pos) {
            Step::Record(record, next) => {
                if let Err(reason) = check_entries(&record) {
                    return Err(Error::corruption(path, pos as u64, reason));
                }
                last_seq = record.first_seq + record.count as u64 - 1;
                apply(record)?;
                pos = next;
            }
            Step::End => return Ok(SegmentEnd::Clean { offset: pos as u64 }),
            Step::Bad(reason) => {
                // With a plausible length, the bad record's own bytes are its
                // payload: look for a later record only past them.
                let claimed = get_u32(bytes, pos + 4)
                    .map(|len| pos + HEADER_LEN + len as usize)
                    .filter(|&end| {
                        end > pos + HEADER_LEN + PAYLOAD_PREFIX_LEN && end <= bytes.len()
                    })
                    .unwrap_or(pos + 1);
                if let Some(later) = find_valid_record(bytes, claimed, last_seq) {
                    return Err(Error::corruption(
                        path,
                        pos as u64,
                        format!("{reason}; a valid record follows at offset {later}"),
                    ));
                }
                let nonzero_end = bytes
                    .iter()
                    .rposition(|&b| b != 0)
                    .map_or(pos, |i| i + 1)
                    .max(pos);
                return Ok(SegmentEnd::Torn {
                    offset: pos as u64,
                    bytes: (nonzero_end - pos) as u64,
                });
            }
        }
    }
}

fn step(bytes: &[u8], pos: usize) -> Step<'_> {
    let rest = &bytes[pos.min(bytes.len())..];
    if rest.len() < HEADER_LEN {
        // A writer always leaves room for a zero header after its last
        // record, and segments are created at full size: records that run
        // to the end of the file (or to less than a header before it) mean
        // the file was cut short, and acknowledged records may be gone.
        // An empty file holds nothing (created, never written).
        return match (pos, rest.iter().all(|&b| b == 0)) {
            (0, true) => Step::End,
            (_, true) => Step::Bad("the segment ends without the zero header after its records"),
            (_, false) => Step::Bad("truncated record header"),
        };
    }
    let (Some(crc), Some(len)) = (get_u32(rest, 0), get_u32(rest, 4)) else {
        return Step::Bad("truncated record header");
    };
    if crc == 0 && len == 0 {
        return if rest.iter().all(|&b| b == 0) {
            Step::End
        } else {
            Step::Bad("zero record header before written bytes")
        };
    }
    match decode_at(rest) {
        Some(mut record) => {
            record.offset = pos as u64;
            Step::Record(record, pos + HEADER_LEN + record_payload_len(rest))
        }
        None => Step::Bad(
            if (len as usize) < PAYLOAD_PREFIX_LEN || HEADER_LEN + len as usize > rest.len() {
                "record length out of range"
            } else {
                "record checksum mismatch"
            },
        ),
    }
}

fn record_payload_len(rest: &[u8]) -> usize {
    get_u32(rest, 4).unwrap_or(0) as usize
}

/// Decodes a record at the start of `rest` if its length and checksum hold.
fn decode_at(rest: &[u8]) -> Option<Record<'_>> {
    let crc = get_u32(rest, 0)?;
    let len = get_u32(rest, 4)? as usize;
    if len < PAYLOAD_PREFIX_LEN {
        return None;
    }
    let body = rest.get(4..HEADER_LEN.checked_add(len)?)?;
    if checksum(body) != crc {
        return None;
    }
    let payload = &body[4..];
    let first_seq = get_u64(payload, 0)?;
    let count = get_u32(payload, 8)?;
    Some(Record {
        first_seq,
        count,
        entries: &payload[PAYLOAD_PREFIX_LEN..],
        offset: 0,
    })
}

fn check_entries(record: &Record<'_>) -> std::result::Result<(), &'static str> {
    if record.count == 0 {
        return Err("record with no entries");
    }
    if record.first_seq == 0 || record.first_seq.checked_add(record.count as u64).is_none() {
        return Err("record sequence number out of range");
    }
    let mut decoded = 0u32;
    for entry in EntryDecoder::new(record.entries) {
        entry?;
        decoded += 1;
    }
    if decoded != record.count {
        return Err("record entry count mismatch");
    }
    Ok(())
}

/// Looks for a record with a valid checksum at any offset from `from`
/// whose sequence numbers come after `after_seq`. Runs only after a bad
/// record; zero runs are skipped quickly.
fn find_valid_record(bytes: &[u8], from: usize, after_seq: SeqNo) -> Option<usize> {
    let mut pos = from;
    while pos + HEADER_LEN + PAYLOAD_PREFIX_LEN <= bytes.len() {
        if bytes[pos] == 0 && get_u64(bytes, pos).unwrap_or(0) == 0 {
            pos += 1;
            continue;
        }
        let rest = &bytes[pos..];
        let plausible = get_u64(rest, HEADER_LEN)
            .is_some_and(|seq| seq > after_seq && seq - after_seq <= 1 << 40);
        if plausible && decode_at(rest).is_some() {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::encode_entry;
    use crate::types::ValueKind;

    fn record(first_seq: SeqNo, keys: &[&str]) -> Vec<u8> {
        let mut entries = Vec::new();
        for key in keys {
            encode_entry(&mut entries, ValueKind::Value, key.as_bytes(), b"v");
        }
        let len = (PAYLOAD_PREFIX_LEN + entries.len()) as u32;
        let mut body = len.to_le_bytes().to_vec();
        body.extend_from_slice(&first_seq.to_le_bytes());
        body.extend_from_slice(&(keys.len() as u32).to_le_bytes());
        body.extend_from_slice(&entries);
        let mut out = checksum(&body).to_le_bytes().to_vec();
        out.extend_from_slice(&body);
        out
    }

    fn segment(records: &[Vec<u8>], capacity: usize) -> Vec<u8> {
        let mut bytes: Vec<u8> = records.concat();
        bytes.resize(capacity, 0);
        bytes
    }

    fn read(bytes: &[u8]) -> (Result<SegmentEnd>, Vec<SeqNo>) {
        let mut seqs = Vec::new();
        let end = read_segment(bytes, Path::new("000001.log"), 0, |r| {
            seqs.push(r.first_seq);
            Ok(())
        });
        (end, seqs)
    }

    #[test]
    fn reads_every_record_then_stops_at_zeros() {
        let bytes = segment(&[record(1, &["a", "b"]), record(3, &["c"])], 4096);
        let (end, seqs) = read(&bytes);
        assert_eq!(seqs, vec![1, 3]);
        let used = (record(1, &["a", "b"]).len() + record(3, &["c"]).len()) as u64;
        assert_eq!(end.unwrap(), SegmentEnd::Clean { offset: used });
    }

    #[test]
    fn a_cut_last_record_is_a_torn_tail() {
        let first = record(1, &["a"]);
        let second = record(2, &["b"]);
        let mut bytes = segment(&[first.clone(), second.clone()], 4096);
        // The crash happened in the middle of copying the second record.
        for b in &mut bytes[first.len() + second.len() - 3..first.len() + second.len()] {
            *b = 0;
        }
        let (end, seqs) = read(&bytes);
        assert_eq!(seqs, vec![1]);
        assert!(
            matches!(end.unwrap(), SegmentEnd::Torn { offset, .. } if offset == first.len() as u64)
        );
    }

    #[test]
    fn a_bad_record_followed_by_a_good_one_is_corruption() {
        let first = record(1, &["a"]);
        let mut bytes = segment(&[first.clone(), record(2, &["b"]), record(3, &["c"])], 4096);
        bytes[first.len() + 10] ^= 0x40;
        let (end, seqs) = read(&bytes);
        assert_eq!(seqs, vec![1]);
        match end {
            Err(Error::Corruption { file, offset, .. }) => {
                assert_eq!(file, Path::new("000001.log"));
                assert_eq!(offset, first.len() as u64);
            }
            other => panic!("expected corruption, got {other:?}"),
        }
    }

    #[test]
    fn garbage_never_panics() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let good = segment(&[record(1, &["a"]), record(2, &["bb", "cc"])], 256);
        for _ in 0..3000 {
            let mut bytes = good.clone();
            for _ in 0..rng.gen_range(1..6) {
                let at = rng.gen_range(0..bytes.len());
                bytes[at] = rng.gen();
            }
            if rng.gen_bool(0.2) {
                bytes.truncate(rng.gen_range(0..bytes.len()));
            }
            let _ = read(&bytes);
        }
        for len in 0..64 {
            let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let _ = read(&bytes);
        }
    }
}
