//! Every decoder of an on-disk format, fed thousands of random and mutated
//! inputs: it must never panic, never loop, and never return data that was
//! not encoded (a mutated input decodes to a prefix of the original, or to
//! an error naming the file) — the ordinary-`cargo test` counterpart of the
//! fuzz targets in `fuzz/`.
//!
//! Method: each test builds valid encodings of random contents with an
//! encoder written here from `docs/FORMAT.md` (so the format document is
//! checked too), checks they decode exactly, then mutates them (bit flips,
//! random bytes, zeroed ranges, truncation, insertions, deletions, spliced
//! copies) and checks the decoder's answer against the original. Seeded
//! with `FRACTIO_SEED` (printed; random by default); `FRACTIO_SOAK=1` runs
//! ten times more cases.

use fractio::batch::EntryDecoder;
use fractio::coding::{checksum, put_varint64};
use fractio::version::edit::{TableMeta, VersionEdit};
use fractio::version::manifest::decode_manifest;
use fractio::wal::reader::{read_segment, SegmentEnd};
use fractio::{Error, ValueKind, LEVELS, MAX_KEY_LEN};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;

/// Random and mutated inputs per decoder.
fn cases() -> usize {
    if std::env::var_os("FRACTIO_SOAK").is_some() {
        30_000
    } else {
        3_000
    }
}

fn seeded(test: &str) -> StdRng {
    let seed: u64 = std::env::var("FRACTIO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    println!("{test}: FRACTIO_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

/// One damaged copy of `bytes`.
fn mutate(rng: &mut StdRng, bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for _ in 0..rng.gen_range(1..4) {
        let len = out.len();
        match rng.gen_range(0..8) {
            0 | 1 if len > 0 => {
                let at = rng.gen_range(0..len);
                out[at] ^= 1 << rng.gen_range(0..8);
            }
            2 if len > 0 => {
                let at = rng.gen_range(0..len);
                out[at] = rng.gen();
            }
            3 if len > 0 => {
                let from = rng.gen_range(0..len);
                let to = rng.gen_range(from..=len.min(from + 64));
                out[from..to].fill(0);
            }
            4 if len > 0 => out.truncate(rng.gen_range(0..len)),
            5 => {
                let at = rng.gen_range(0..=len);
                let extra: Vec<u8> = (0..rng.gen_range(1..16)).map(|_| rng.gen()).collect();
                out.splice(at..at, extra);
            }
            6 if len > 0 => {
                let from = rng.gen_range(0..len);
                let to = rng.gen_range(from..=len.min(from + 32));
                out.drain(from..to);
            }
            _ if len > 1 => {
                // A copy of one part over another (a misdirected write).
                let from = rng.gen_range(0..len);
                let to = rng.gen_range(from..=len);
                let piece = out[from..to].to_vec();
                let at = rng.gen_range(0..=len - piece.len());
                out[at..at + piece.len()].copy_from_slice(&piece);
            }
            _ => out.push(rng.gen()),
        }
    }
    out
}

fn random_bytes(rng: &mut StdRng, max: usize) -> Vec<u8> {
    let len = rng.gen_range(0..=max);
    (0..len).map(|_| rng.gen()).collect()
}

/// A decoded (or to-be-encoded) batch entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: ValueKind,
    key: Vec<u8>,
    value: Vec<u8>,
}

fn random_entry(rng: &mut StdRng) -> Entry {
    let key_len = if rng.gen_bool(0.05) {
        rng.gen_range(1..400)
    } else {
        rng.gen_range(1..12)
    };
    let kind = if rng.gen_bool(0.25) {
        ValueKind::Tombstone
    } else {
        ValueKind::Value
    };
    let value_len = match kind {
        ValueKind::Tombstone => 0,
        ValueKind::Value if rng.gen_bool(0.05) => rng.gen_range(0..3000),
        ValueKind::Value => rng.gen_range(0..24),
    };
    Entry {
        kind,
        key: (0..key_len).map(|_| rng.gen_range(b'a'..=b'e')).collect(),
        value: (0..value_len).map(|_| rng.gen()).collect(),
    }
}

/// Encodes entries as `docs/FORMAT.md` ("Write batch") says.
fn encode_entries(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        out.push(entry.kind as u8);
        put_varint64(&mut out, entry.key.len() as u64);
        out.extend_from_slice(&entry.key);
        if entry.kind == ValueKind::Value {
            put_varint64(&mut out, entry.value.len() as u64);
            out.extend_from_slice(&entry.value);
        }
    }
    out
}

fn decode_entries(bytes: &[u8]) -> (Vec<Entry>, bool) {
    let mut entries = Vec::new();
    let mut decoder = EntryDecoder::new(bytes);
    for item in decoder.by_ref() {
        match item {
            Ok(entry) => entries.push(Entry {
                kind: entry.kind,
                key: entry.key.to_vec(),
                value: entry.value.to_vec(),
            }),
            Err(_) => {
                // An error ends the stream for good.
                assert!(
                    decoder.next().is_none(),
                    "the decoder went on after an error"
                );
                return (entries, false);
            }
        }
    }
    (entries, true)
}

#[test]
fn batch_entries_round_trip_and_reject_damage() {
    let mut rng = seeded("batch_entries");
    for _ in 0..cases() {
        let original: Vec<Entry> = (0..rng.gen_range(0..20))
            .map(|_| random_entry(&mut rng))
            .collect();
        let bytes = encode_entries(&original);
        assert_eq!(decode_entries(&bytes), (original.clone(), true));

        for input in [mutate(&mut rng, &bytes), random_bytes(&mut rng, 64)] {
            let (entries, _) = decode_entries(&input);
            for entry in &entries {
                assert!((1..=MAX_KEY_LEN).contains(&entry.key.len()));
                assert!(entry.kind == ValueKind::Value || entry.value.is_empty());
            }
            // Each entry takes at least two bytes of input plus its key and
            // value: nothing was made up.
            let floor: usize = entries
                .iter()
                .map(|e| 2 + e.key.len() + e.value.len())
                .sum();
            assert!(floor <= input.len());
        }
    }
}

/// One log record: first sequence number and its entries.
struct LogRecord {
    first_seq: u64,
    entries: Vec<Entry>,
    offset: usize,
}

/// Encodes one record as `docs/FORMAT.md` ("Write-ahead log") says.
fn encode_record(first_seq: u64, entries: &[Entry]) -> Vec<u8> {
    let encoded = encode_entries(entries);
    let len = (12 + encoded.len()) as u32;
    let mut body = len.to_le_bytes().to_vec();
    body.extend_from_slice(&first_seq.to_le_bytes());
    body.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    body.extend_from_slice(&encoded);
    let mut record = checksum(&body).to_le_bytes().to_vec();
    record.extend_from_slice(&body);
    record
}

/// A segment of random records after sequence number `after`, zero-padded.
fn random_segment(rng: &mut StdRng, after: u64) -> (Vec<u8>, Vec<LogRecord>) {
    let mut bytes = Vec::new();
    let mut records = Vec::new();
    let mut seq = after + 1;
    for _ in 0..rng.gen_range(0..12) {
        let entries: Vec<Entry> = (0..rng.gen_range(1..5))
            .map(|_| random_entry(rng))
            .collect();
        let offset = bytes.len();
        bytes.extend_from_slice(&encode_record(seq, &entries));
        seq += entries.len() as u64;
        records.push(LogRecord {
            first_seq: seq - entries.len() as u64,
            entries,
            offset,
        });
    }
    let padding = rng.gen_range(0..200);
    bytes.resize(bytes.len() + padding, 0);
    (bytes, records)
}

type ReadBack = (Result<SegmentEnd, Error>, Vec<(u64, Vec<Entry>, u64)>);

fn read_back(bytes: &[u8], after: u64) -> ReadBack {
    let mut seen = Vec::new();
    let end = read_segment(bytes, Path::new("000042.log"), after, |record| {
        let (entries, complete) = decode_entries(record.entries);
        assert!(complete, "a record passed to apply has undecodable entries");
        assert_eq!(entries.len(), record.count as usize);
        seen.push((record.first_seq, entries, record.offset));
        Ok(())
    });
    (end, seen)
}

#[test]
fn log_segments_yield_only_original_records() {
    let mut rng = seeded("log_segments");
    let path = Path::new("000042.log");
    for _ in 0..cases() {
        let after = if rng.gen_bool(0.5) {
            0
        } else {
            rng.gen_range(0..1 << 40)
        };
        let (bytes, records) = random_segment(&mut rng, after);
        let (end, seen) = read_back(&bytes, after);
        let used = records.last().map_or(0, |r| {
            r.offset + encode_record(r.first_seq, &r.entries).len()
        });
        assert_eq!(
            end.unwrap(),
            SegmentEnd::Clean {
                offset: used as u64
            }
        );
        assert_eq!(seen.len(), records.len());

        for input in [mutate(&mut rng, &bytes), random_bytes(&mut rng, 128)] {
            let (end, seen) = read_back(&input, after);
            // Every record handed out is an original one, at its offset
            // (a made-up record would need a checksum collision).
            for (first_seq, entries, offset) in &seen {
                let original = records
                    .iter()
                    .find(|r| r.offset as u64 == *offset)
                    .unwrap_or_else(|| panic!("a record at {offset} was never written"));
                assert_eq!(
                    (original.first_seq, &original.entries),
                    (*first_seq, entries)
                );
            }
            if let Err(error) = end {
                match error {
                    Error::Corruption { file, .. } => assert_eq!(file, path),
                    other => panic!("a decoder error that is not corruption: {other}"),
                }
            }
        }

        // A crash cuts the written part short: zeros from some point on.
        // That is a torn tail, never corruption, and keeps every whole
        // record before the cut.
        let cut = rng.gen_range(0..=bytes.len());
        let mut torn = bytes.clone();
        torn[cut..].fill(0);
        let (end, seen) = read_back(&torn, after);
        let whole = records
            .iter()
            .filter(|r| r.offset + encode_record(r.first_seq, &r.entries).len() <= cut)
            .count();
        assert!(end.is_ok(), "a cut at {cut} was reported as {end:?}");
        assert_eq!(seen.len(), whole, "cut at {cut}");
    }
}

fn random_meta(rng: &mut StdRng) -> TableMeta {
    let mut keys = [random_entry(rng).key, random_entry(rng).key];
    keys.sort();
    let smallest_seq = rng.gen_range(0..1 << 50);
    TableMeta {
        id: rng.gen_range(1..1 << 30),
        file_size: rng.gen(),
        smallest_key: keys[0].clone(),
        largest_key: keys[1].clone(),
        smallest_seq,
        largest_seq: smallest_seq + rng.gen_range(0..1000),
        entries: rng.gen_range(0..1 << 20),
        tombstones: rng.gen_range(0..100),
    }
}

fn random_edit(rng: &mut StdRng) -> VersionEdit {
    VersionEdit {
        log_number: rng.gen_bool(0.5).then(|| rng.gen_range(0..1 << 20)),
        next_file_number: rng.gen_bool(0.5).then(|| rng.gen_range(0..1 << 20)),
        last_seq: rng.gen_bool(0.5).then(|| rng.gen()),
        added: (0..rng.gen_range(0..4))
            .map(|_| (rng.gen_range(0..LEVELS), random_meta(rng)))
            .collect(),
        deleted: (0..rng.gen_range(0..4))
            .map(|_| (rng.gen_range(0..LEVELS), rng.gen_range(1..1 << 30)))
            .collect(),
    }
}

fn assert_sane(edit: &VersionEdit) {
    for (level, meta) in &edit.added {
        assert!(*level < LEVELS);
        assert!(meta.smallest_key <= meta.largest_key);
        assert!(meta.smallest_seq <= meta.largest_seq);
    }
    for (level, _) in &edit.deleted {
        assert!(*level < LEVELS);
    }
}

#[test]
fn version_edits_round_trip_and_reject_damage() {
    let mut rng = seeded("version_edits");
    for _ in 0..cases() {
        let edit = random_edit(&mut rng);
        let bytes = edit.encode();
        assert_eq!(VersionEdit::decode(&bytes).as_ref(), Ok(&edit));
        for input in [mutate(&mut rng, &bytes), random_bytes(&mut rng, 64)] {
            if let Ok(decoded) = VersionEdit::decode(&input) {
                assert_sane(&decoded);
                // What decodes re-encodes to something that decodes the same.
                assert_eq!(VersionEdit::decode(&decoded.encode()), Ok(decoded));
            }
        }
    }
}

/// Frames edits as `docs/FORMAT.md` ("Manifest") says.
fn encode_manifest(edits: &[VersionEdit]) -> Vec<u8> {
    let mut out = Vec::new();
    for edit in edits {
        let payload = edit.encode();
        let mut body = (payload.len() as u32).to_le_bytes().to_vec();
        body.extend_from_slice(&payload);
        out.extend_from_slice(&checksum(&body).to_le_bytes());
        out.extend_from_slice(&body);
    }
    out
}

#[test]
fn manifests_decode_to_a_prefix_of_their_edits_or_fail() {
    let mut rng = seeded("manifests");
    let path = Path::new("MANIFEST-000007");
    for _ in 0..cases() {
        let edits: Vec<VersionEdit> = (0..rng.gen_range(1..6))
            .map(|_| random_edit(&mut rng))
            .collect();
        let bytes = encode_manifest(&edits);
        assert_eq!(decode_manifest(&bytes, path).unwrap(), edits);
        for input in [mutate(&mut rng, &bytes), random_bytes(&mut rng, 64)] {
            match decode_manifest(&input, path) {
                Ok(decoded) => {
                    assert!(!decoded.is_empty());
                    decoded.iter().for_each(assert_sane);
                    if input.len() >= 8 && decoded.len() <= edits.len() {
                        // Decoded edits are original ones (or the input was
                        // random, and a checksum matched by chance: 2^-32).
                        assert_eq!(decoded, edits[..decoded.len()]);
                    }
                }
                Err(Error::Corruption { file, .. }) => assert_eq!(file, path),
                Err(other) => panic!("a decoder error that is not corruption: {other}"),
            }
        }
    }
}

/// Found by `manifests_decode_to_a_prefix_of_their_edits_or_fail`'s author
/// reading `decode_manifest`: a damaged *length* field in a record that is
/// not the last one made the record look cut off at the end of the file,
/// so every later edit was silently dropped (at open: their tables deleted
/// as obsolete, their data lost, no error). Method: three edits, the
/// middle record's length made huge; the decode must be corruption.
#[test]
fn regression_manifest_damaged_length_is_not_a_torn_tail() {
    let path = Path::new("MANIFEST-000003");
    let mut rng = StdRng::seed_from_u64(3);
    let edits: Vec<VersionEdit> = (0..3).map(|_| random_edit(&mut rng)).collect();
    let bytes = encode_manifest(&edits);
    let second = 8 + edits[0].encode().len();
    for damage in [0x80u8, 0x01, 0x40] {
        let mut damaged = bytes.clone();
        damaged[second + 7] ^= damage; // the length's high byte
        match decode_manifest(&damaged, path) {
            Err(Error::Corruption { file, offset, .. }) => {
                assert_eq!(file, path);
                assert_eq!(offset, second as u64);
            }
            other => panic!("damage {damage:#x}: expected corruption, got {other:?}"),
        }
    }
}

/// Found by reading `wal::reader::find_valid_record`: after a torn last
/// record, the reader scans the torn record's own bytes for a valid record,
/// so a value that holds an encoded log record (an application storing a
/// replicated log, or a backup of a segment) turns a harmless torn tail
/// into `Error::Corruption`, and a strict open refuses the database after
/// an ordinary crash. Method: a record whose value embeds a valid record
/// with later sequence numbers is cut short after the embedded copy; the
/// segment must read as a torn tail holding the first record.
#[test]
fn regression_torn_record_embedding_a_record_is_a_torn_tail() {
    let first = encode_record(
        1,
        &[Entry {
            kind: ValueKind::Value,
            key: b"a".to_vec(),
            value: b"1".to_vec(),
        }],
    );
    let inner = encode_record(
        100,
        &[Entry {
            kind: ValueKind::Value,
            key: b"replicated".to_vec(),
            value: b"payload".to_vec(),
        }],
    );
    let mut value = inner.clone();
    value.extend_from_slice(&[7u8; 64]);
    let second = encode_record(
        2,
        &[Entry {
            kind: ValueKind::Value,
            key: b"log".to_vec(),
            value,
        }],
    );
    let mut segment = first.clone();
    segment.extend_from_slice(&second);
    // The crash came before the last 32 bytes of the second record landed.
    let cut = segment.len() - 32;
    segment.truncate(cut);
    segment.resize(4096, 0);
    let (end, seen) = read_back(&segment, 0);
    assert_eq!(seen.len(), 1);
    assert!(
        matches!(end, Ok(SegmentEnd::Torn { offset, .. }) if offset == first.len() as u64),
        "{end:?}"
    );
}
