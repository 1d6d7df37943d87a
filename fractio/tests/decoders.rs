//! Every decoder of an on-disk format (log segments, batch entries,
//! version edits, manifests, and the table's blocks, filter, index,
//! properties, footer and whole files), fed thousands of random and mutated
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
use fractio::cache::BlockCache;
use fractio::coding::{checksum, put_varint64};
use fractio::fs::{FileSystem, MemFs};
use fractio::iter::InternalIterator;
use fractio::table::block::{Block, BlockBuilder};
use fractio::table::filter::{build_filter, Filter};
use fractio::table::format::{
    seal_block, unseal_block, BlockHandle, DecodeError, Footer, FOOTER_LEN,
};
use fractio::table::index::Index;
use fractio::table::{Table, TableBuilder, TableOptions, TableProperties};
use fractio::types::key_hash;
use fractio::version::edit::{TableMeta, VersionEdit};
use fractio::version::manifest::decode_manifest;
use fractio::wal::reader::{read_segment, SegmentEnd};
use fractio::{Compression, Error, ValueKind, LEVELS, MAX_KEY_LEN};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::sync::Arc;

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
    // A writer leaves at least a zero header (8 bytes) after its records.
    let padding = rng.gen_range(8..200);
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
        if used > 0 {
            // Cut at the end of its records (or inside the zero header
            // after them), the segment reads as torn there, never as clean.
            let cut = used + rng.gen_range(0..8);
            let (end, seen) = read_back(&bytes[..cut], after);
            assert_eq!(
                end.unwrap(),
                SegmentEnd::Torn {
                    offset: used as u64,
                    bytes: 0
                }
            );
            assert_eq!(seen.len(), records.len());
        }

        for input in [mutate(&mut rng, &bytes), random_bytes(&mut rng, 128)] {
            let (end, seen) = read_back(&input, after);
            // Every record handed out is an original one (a made-up record
            // would need a checksum collision). A misdirected write can copy
            // a whole record elsewhere, so not necessarily at its offset:
            // replay catches that by its sequence numbers.
            for (first_seq, entries, offset) in &seen {
                assert!(
                    records
                        .iter()
                        .any(|r| (r.first_seq, &r.entries) == (*first_seq, entries)),
                    "a record at {offset} (seq {first_seq}) was never written"
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
        // (A record whose last bytes were zeros anyway is still whole.)
        let whole = records
            .iter()
            .take_while(|r| {
                let end = r.offset + encode_record(r.first_seq, &r.entries).len();
                torn[r.offset..end] == bytes[r.offset..end]
            })
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

/// One version of a table entry.
type Version = (Vec<u8>, u64, ValueKind, Vec<u8>);

/// Random versions in internal order: keys ascending, each with one to
/// three versions, newest first.
fn random_versions(rng: &mut StdRng, max_keys: usize) -> Vec<Version> {
    let mut keys: Vec<Vec<u8>> = (0..rng.gen_range(1..max_keys))
        .map(|_| random_entry(rng).key)
        .collect();
    keys.sort();
    keys.dedup();
    let mut versions = Vec::new();
    for key in keys {
        let mut seq = rng.gen_range(1000..1 << 40);
        for _ in 0..rng.gen_range(1..4) {
            let entry = random_entry(rng);
            versions.push((key.clone(), seq, entry.kind, entry.value));
            seq -= rng.gen_range(1..100);
        }
    }
    versions
}

/// A sealed block of `versions` (compressed or not) and its payload.
fn sealed_block(versions: &[Version], compress: bool) -> (Vec<u8>, Vec<u8>) {
    let mut builder = BlockBuilder::new(16);
    for (key, seq, kind, value) in versions {
        builder.add(key, *seq, *kind, value);
    }
    let payload = builder.finish().to_vec();
    let mut sealed = Vec::new();
    seal_block(&payload, compress, &mut Vec::new(), &mut sealed);
    (sealed, payload)
}

/// Every version of a decoded block, forward, then checked backward; `Err`
/// if the block reports damage.
fn block_versions(block: &Arc<Block>) -> Result<Vec<Version>, DecodeError> {
    let mut iter = block.iter();
    let mut out = Vec::new();
    iter.seek_to_first()?;
    while iter.valid() {
        out.push((
            iter.key().to_vec(),
            iter.seq(),
            iter.kind(),
            iter.value().to_vec(),
        ));
        iter.next()?;
    }
    let mut back = Vec::new();
    iter.seek_to_last()?;
    while iter.valid() && back.len() <= out.len() {
        back.push((
            iter.key().to_vec(),
            iter.seq(),
            iter.kind(),
            iter.value().to_vec(),
        ));
        iter.prev()?;
    }
    back.reverse();
    // A block whose entries are damaged may still iterate; it must at least
    // iterate the same way in both directions or report the damage.
    if back != out {
        return Err(DecodeError("directions disagree"));
    }
    Ok(out)
}

#[test]
fn table_blocks_unseal_decode_and_iterate_or_fail_cleanly() {
    let mut rng = seeded("table_blocks");
    for _ in 0..cases() {
        let versions = random_versions(&mut rng, 40);
        let (sealed, payload) = sealed_block(&versions, rng.gen_bool(0.5));
        let unsealed = unseal_block(sealed.clone()).unwrap();
        assert_eq!(unsealed, payload);
        let block = Arc::new(Block::decode(unsealed).unwrap());
        assert_eq!(block_versions(&block).unwrap(), versions);
        for (key, seq, kind, value) in &versions {
            let found = block.get(key, *seq).unwrap();
            assert_eq!(found, Some((*seq, *kind, value.as_slice())));
        }

        // A damaged sealed block fails its checksum (or is unchanged).
        let damaged = mutate(&mut rng, &sealed);
        if let Ok(payload_back) = unseal_block(damaged.clone()) {
            assert_eq!(payload_back, payload, "a damaged block passed its checksum");
        }
        // Damaged or random payloads (past the checksum) never panic.
        for input in [mutate(&mut rng, &payload), random_bytes(&mut rng, 96)] {
            if let Ok(block) = Block::decode(input) {
                let block = Arc::new(block);
                let _ = block_versions(&block);
                let (key, seq, _, _) = &versions[rng.gen_range(0..versions.len())];
                let _ = block.get(key, *seq);
                let mut iter = block.iter();
                let _ = iter.seek(key, *seq);
                let _ = iter.seek_for_prev(key, *seq);
            }
        }
    }
}

#[test]
fn table_filters_index_properties_and_footers_decode_or_fail_cleanly() {
    let mut rng = seeded("table_metadata");
    for _ in 0..cases() {
        // Filter: knows every key it was built with.
        let hashes: Vec<u64> = (0..rng.gen_range(1..200)).map(|_| rng.gen()).collect();
        let mut filter_bytes = Vec::new();
        build_filter(&hashes, rng.gen_range(1..20), &mut filter_bytes);
        let filter = Filter::decode(filter_bytes.clone()).unwrap();
        assert!(hashes.iter().all(|&h| filter.may_contain(h)));
        for input in [mutate(&mut rng, &filter_bytes), random_bytes(&mut rng, 80)] {
            if let Ok(filter) = Filter::decode(input) {
                for _ in 0..8 {
                    let _ = filter.may_contain(rng.gen());
                }
            }
        }

        // Index: a block of handles that follow each other.
        let mut offset = 0u64;
        let index_versions: Vec<Version> = random_versions(&mut rng, 20)
            .into_iter()
            .map(|(key, seq, _, _)| {
                let handle = BlockHandle {
                    offset,
                    size: rng.gen_range(6..5000),
                };
                offset = handle.end() + rng.gen_range(0..3);
                let mut value = Vec::new();
                handle.encode_to(&mut value);
                (key, seq, ValueKind::Value, value)
            })
            .collect();
        let (_, index_payload) = sealed_block(&index_versions, false);
        let index = Index::decode(Arc::new(Block::decode(index_payload.clone()).unwrap())).unwrap();
        assert_eq!(index.len(), index_versions.len());
        for (i, (key, seq, _, _)) in index_versions.iter().enumerate() {
            assert_eq!(index.last_key(i), Some((key.as_slice(), *seq)));
            assert_eq!(index.find(key, *seq), i);
        }
        for input in [mutate(&mut rng, &index_payload), random_bytes(&mut rng, 96)] {
            let Ok(block) = Block::decode(input) else {
                continue;
            };
            if let Ok(index) = Index::decode(Arc::new(block)) {
                for (key, seq, _, _) in index_versions.iter().take(4) {
                    let i = index.find(key, *seq);
                    let _ = (index.handle(i), index.last_key(i));
                }
            }
        }

        // Properties and footer: round trips, and damage never panics.
        let mut keys = [random_entry(&mut rng).key, random_entry(&mut rng).key];
        keys.sort();
        let [smallest_key, largest_key] = keys;
        let properties = TableProperties {
            smallest_key,
            largest_key,
            smallest_seq: rng.gen_range(0..1 << 40),
            largest_seq: rng.gen_range(1 << 40..1 << 50),
            entries: rng.gen_range(1000..1 << 30),
            tombstones: rng.gen_range(0..1000),
            file_size: 0,
            data_blocks: rng.gen_range(0..1 << 20),
        };
        let mut properties_bytes = Vec::new();
        properties.encode_to(&mut properties_bytes);
        assert_eq!(
            TableProperties::decode(&properties_bytes).unwrap(),
            properties
        );
        for input in [
            mutate(&mut rng, &properties_bytes),
            random_bytes(&mut rng, 64),
        ] {
            let _ = TableProperties::decode(&input);
        }
        let footer = Footer {
            index: BlockHandle {
                offset: rng.gen(),
                size: rng.gen(),
            },
            filter: BlockHandle {
                offset: rng.gen(),
                size: rng.gen(),
            },
            properties: BlockHandle {
                offset: rng.gen(),
                size: rng.gen(),
            },
        };
        let footer_bytes = footer.encode();
        assert_eq!(Footer::decode(&footer_bytes).unwrap(), footer);
        for input in [mutate(&mut rng, &footer_bytes), random_bytes(&mut rng, 64)] {
            if let Ok(decoded) = Footer::decode(&input) {
                // Only damage beyond the footer's last bytes can pass.
                assert!(input.len() >= FOOTER_LEN);
                assert_eq!(decoded, footer, "a damaged footer passed its checksum");
            }
        }
    }
}

/// Writes `versions` as a table file and returns its bytes.
fn table_bytes(versions: &[Version], options: TableOptions) -> Vec<u8> {
    let fs = MemFs::new();
    let path = Path::new("/t/000009.sst");
    fs.create_dir_all(Path::new("/t")).unwrap();
    let mut builder = TableBuilder::new(fs.create_writable(path).unwrap(), options);
    for (key, seq, kind, value) in versions {
        builder.add(key, *seq, *kind, value).unwrap();
    }
    builder.finish().unwrap();
    fs.read_all(path).unwrap()
}

/// Opens table bytes and reads everything: every version by a scan, a
/// point read of each original version, and `verify`. Every answer must be
/// the original one or a corruption naming the file.
fn read_table(bytes: &[u8], versions: &[Version]) -> Result<Vec<Version>, Error> {
    let fs = MemFs::new();
    let path = Path::new("/t/000009.sst");
    fs.create_dir_all(Path::new("/t")).unwrap();
    fs.put_file(path, bytes).unwrap();
    let file = fs.open_random(path).unwrap();
    let cache = Arc::new(BlockCache::new(1 << 20));
    let table = Table::open(file, path.to_path_buf(), 9, cache)?;
    for (key, seq, kind, value) in versions {
        if let Some(found) = table.get(key, key_hash(key), *seq)? {
            assert_eq!(
                (found.0, found.1, found.2.as_ref()),
                (*seq, *kind, value.as_slice())
            );
        }
    }
    let mut iter = table.iter();
    let mut out = Vec::new();
    iter.seek_to_first()?;
    while iter.valid() {
        out.push((
            iter.key().to_vec(),
            iter.seq(),
            iter.kind(),
            iter.value().to_vec(),
        ));
        iter.next()?;
    }
    table.verify()?;
    Ok(out)
}

#[test]
fn whole_tables_read_back_exactly_or_report_corruption() {
    let mut rng = seeded("whole_tables");
    let path = Path::new("/t/000009.sst");
    for _ in 0..cases() / 10 {
        let versions = random_versions(&mut rng, 300);
        let options = TableOptions {
            block_size: rng.gen_range(256..4096),
            bloom_bits_per_key: rng.gen_range(0..12),
            compression: if rng.gen_bool(0.5) {
                Compression::Lz4
            } else {
                Compression::None
            },
        };
        let bytes = table_bytes(&versions, options);
        assert_eq!(read_table(&bytes, &versions).unwrap(), versions);
        for _ in 0..10 {
            let damaged = mutate(&mut rng, &bytes);
            match read_table(&damaged, &versions) {
                // Every byte of a table is under a checksum: whatever reads
                // back whole is the original.
                Ok(read) => assert_eq!(read, versions, "a damaged table read back differently"),
                Err(Error::Corruption { file, .. }) => assert_eq!(file, path),
                Err(other) => panic!("a damaged table gave {other}, not corruption"),
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
