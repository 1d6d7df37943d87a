//! Fuzzes a whole table file: `Table::open`, then a full scan, point reads
//! of what the scan found and `verify`. Nothing may panic, every error is a
//! corruption naming the file, and whatever a `verify`ed table yields must
//! read back the same by point lookups.
//!
//! Half the inputs are taken as the file itself; the other half build a
//! valid table from the input's first part (keys and values cut from it)
//! and then damage it at the offsets the rest of the input names, so the
//! fuzzer reaches the index, filter and block decoders behind the footer's
//! checksum.
#![no_main]

use fractio::cache::BlockCache;
use fractio::fs::{FileSystem, MemFs};
use fractio::iter::InternalIterator;
use fractio::table::{Table, TableBuilder, TableOptions};
use fractio::types::key_hash;
use fractio::{Compression, Error, ValueKind};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::Arc;

fn check(result: fractio::Result<()>, path: &Path) {
    if let Err(error) = result {
        assert!(
            matches!(error, Error::Corruption { ref file, .. } if file == path),
            "{error}"
        );
    }
}

/// A valid table built from `spec`, damaged as `damage` says: each 3-byte
/// group is an offset (2 bytes, scaled to the file) and an XOR mask.
fn built_table(spec: &[u8], damage: &[u8]) -> Vec<u8> {
    let fs = MemFs::new();
    let path = Path::new("/b/000001.sst");
    fs.create_dir_all(Path::new("/b")).unwrap();
    let options = TableOptions {
        block_size: 256 + (spec.first().copied().unwrap_or(0) as usize) * 16,
        bloom_bits_per_key: u32::from(spec.get(1).copied().unwrap_or(0) % 16),
        compression: if spec.get(2).is_some_and(|b| b & 1 == 1) {
            Compression::Lz4
        } else {
            Compression::None
        },
    };
    let mut builder = TableBuilder::new(fs.create_writable(path).unwrap(), options);
    // Sorted, distinct keys with one version each, values cut from the spec.
    let mut keys: Vec<Vec<u8>> = spec.chunks(3).map(|c| c.to_vec()).collect();
    keys.sort();
    keys.dedup();
    for (i, key) in keys.iter().enumerate() {
        let kind = if key[0] & 0x80 == 0 {
            ValueKind::Value
        } else {
            ValueKind::Tombstone
        };
        let value = spec.get(i..(i * 7) % spec.len().max(1)).unwrap_or_default();
        let value = if kind == ValueKind::Value { value } else { &[] };
        builder.add(key, 1000 + i as u64, kind, value).unwrap();
    }
    if keys.is_empty() {
        builder.add(b"k", 1, ValueKind::Value, b"v").unwrap();
    }
    builder.finish().unwrap();
    let mut bytes = fs.read_all(path).unwrap();
    for group in damage.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([group[0], group[1]])) * bytes.len() / 65536;
        bytes[at] ^= group[2].max(1);
    }
    bytes
}

fuzz_target!(|input: &[u8]| {
    let built;
    let data = match input.split_first() {
        Some((&mode, rest)) if mode & 1 == 1 => {
            let split = rest.len() * 3 / 4;
            built = built_table(&rest[..split], &rest[split..]);
            &built[..]
        }
        _ => input,
    };
    let fs = MemFs::new();
    let path = Path::new("/t/000001.sst");
    fs.create_dir_all(Path::new("/t")).unwrap();
    fs.put_file(path, data).unwrap();
    let file = fs.open_random(path).unwrap();
    let cache = Arc::new(BlockCache::new(1 << 20));
    let table = match Table::open(file, path.to_path_buf(), 1, cache) {
        Ok(table) => Arc::new(table),
        Err(error) => return check(Err(error), path),
    };
    let mut seen = Vec::new();
    let mut iter = table.iter();
    let mut scan = || -> fractio::Result<()> {
        iter.seek_to_first()?;
        while iter.valid() && seen.len() <= data.len() {
            seen.push((iter.key().to_vec(), iter.seq()));
            iter.next()?;
        }
        Ok(())
    };
    check(scan(), path);
    assert!(seen.len() <= data.len(), "the table cursor loops");
    for (key, seq) in &seen {
        check(table.get(key, key_hash(key), *seq).map(drop), path);
    }
    let verified = table.verify();
    let ok = verified.is_ok();
    check(verified, path);
    if ok {
        for (key, seq) in &seen {
            let found = table
                .get(key, key_hash(key), *seq)
                .expect("a verified table reads");
            assert_eq!(
                found.map(|f| f.0),
                Some(*seq),
                "a verified table lost a version"
            );
        }
    }
});
