//! Whole-table tests: builder → file → `Table`, checked against a sorted
//! `Vec` model; absent-key lookups; corruption of every region.

use super::format::{Footer, FOOTER_LEN};
use super::*;
use crate::cache::BlockCache;
use crate::fs::{FileSystem, RandomAccessFile, StdFs, WritableFile};
use crate::iter::InternalIterator;
use crate::types::{compare_internal, key_hash, SeqNo, ValueKind, MAX_KEY_LEN, MAX_SEQNO};
use crate::{Compression, Error, Slice};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::cmp::Ordering;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

type Entry = (Vec<u8>, SeqNo, ValueKind, Vec<u8>);

/// A key with this many versions spans several 4 KiB blocks.
const HOT_VERSIONS: usize = 300;

/// Random keys with 1..4 versions each (unique seqs, newest first),
/// tombstones, empty values, values larger than a block, two 64 KiB keys,
/// and one key with [`HOT_VERSIONS`] versions; in internal order.
fn model(seed: u64, keys: usize) -> Vec<Entry> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut user_keys: Vec<Vec<u8>> = (0..keys)
        .map(|_| {
            let mut key = format!("k{:08}", rng.gen_range(0..keys * 4)).into_bytes();
            key.extend(std::iter::repeat_n(b'~', rng.gen_range(0..4)));
            key
        })
        .collect();
    user_keys.push(vec![b'm'; MAX_KEY_LEN]);
    let mut long = vec![b'm'; MAX_KEY_LEN - 1];
    long.push(b'n');
    user_keys.push(long);
    user_keys.push(b"k-hot".to_vec());
    user_keys.push(Vec::new());
    user_keys.sort();
    user_keys.dedup();

    let mut versions: Vec<usize> = user_keys
        .iter()
        .map(|key| {
            if key == b"k-hot" {
                HOT_VERSIONS
            } else {
                rng.gen_range(1..=4)
            }
        })
        .collect();
    versions.iter_mut().for_each(|v| *v = (*v).max(1));
    let total: usize = versions.iter().sum();
    let mut seqs: Vec<SeqNo> = (1..=2 * total as SeqNo).collect();
    seqs.shuffle(&mut rng);

    let mut entries = Vec::with_capacity(total);
    let mut next_seq = seqs.into_iter();
    for (key, count) in user_keys.iter().zip(versions) {
        let mut key_seqs: Vec<SeqNo> = next_seq.by_ref().take(count).collect();
        key_seqs.sort_unstable_by(|a, b| b.cmp(a));
        for seq in key_seqs {
            let (kind, value) = if rng.gen_bool(0.15) {
                (ValueKind::Tombstone, Vec::new())
            } else {
                let len = match rng.gen_range(0..100) {
                    0..5 => 0,
                    5..7 => rng.gen_range(5000..12000),
                    _ => rng.gen_range(1..200),
                };
                let fill = (seq % 251) as u8;
                (
                    ValueKind::Value,
                    (0..len).map(|i| fill.wrapping_add(i as u8)).collect(),
                )
            };
            entries.push((key.clone(), seq, kind, value));
        }
    }
    entries
}

fn options(compression: Compression) -> TableOptions {
    TableOptions {
        compression,
        ..TableOptions::default()
    }
}

/// Uncompressed, and without a filter: every lookup in the key range
/// searches a block.
fn unfiltered() -> TableOptions {
    TableOptions {
        bloom_bits_per_key: 0,
        ..options(Compression::None)
    }
}

fn write_table(path: &Path, entries: &[Entry], options: TableOptions) -> TableProperties {
    let mut builder = TableBuilder::new(StdFs.create_writable(path).unwrap(), options);
    for (key, seq, kind, value) in entries {
        builder.add(key, *seq, *kind, value).unwrap();
    }
    assert_eq!(builder.entries(), entries.len() as u64);
    builder.finish().unwrap()
}

fn open(path: &Path, cache: &Arc<BlockCache>) -> crate::Result<Arc<Table>> {
    let file = StdFs.open_random(path)?;
    Table::open(file, path.to_path_buf(), 7, Arc::clone(cache))
}

/// [`model`]`(seed, keys)` written uncompressed to `dir/t.sst` and opened
/// with a cache of its own.
fn model_table(dir: &Path, seed: u64, keys: usize) -> (Vec<Entry>, Arc<Table>) {
    let entries = model(seed, keys);
    let path = dir.join("t.sst");
    write_table(&path, &entries, options(Compression::None));
    let table = open(&path, &Arc::new(BlockCache::new(1 << 20))).unwrap();
    (entries, table)
}

/// What `get(key, snapshot)` must return according to the model.
fn expected(entries: &[Entry], key: &[u8], snapshot: SeqNo) -> Option<(SeqNo, ValueKind, Vec<u8>)> {
    let start =
        entries.partition_point(|e| compare_internal(&e.0, e.1, key, snapshot) == Ordering::Less);
    entries
        .get(start)
        .filter(|e| e.0 == key)
        .map(|e| (e.1, e.2, e.3.clone()))
}

fn get(
    table: &Table,
    key: &[u8],
    snapshot: SeqNo,
) -> crate::Result<Option<(SeqNo, ValueKind, Vec<u8>)>> {
    Ok(table
        .get(key, key_hash(key), snapshot)?
        .map(|(seq, kind, value)| (seq, kind, value.to_vec())))
}

fn current(iter: &TableIter) -> Option<Entry> {
    iter.valid().then(|| {
        (
            iter.key().to_vec(),
            iter.seq(),
            iter.kind(),
            iter.value().to_vec(),
        )
    })
}

fn scan_forward(iter: &mut TableIter) -> crate::Result<Vec<Entry>> {
    let mut out = Vec::new();
    iter.seek_to_first()?;
    while let Some(entry) = current(iter) {
        out.push(entry);
        iter.next()?;
    }
    Ok(out)
}

/// Goal: every version is found at exactly the snapshots that see it.
/// Method: for every key, `get` at every version's seq, one below it and
/// at the maximum, compared with the model; with and without LZ4.
#[test]
fn get_matches_the_model_at_every_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let entries = model(1, 3000);
    for compression in [Compression::None, Compression::Lz4] {
        let path = dir.path().join(format!("{compression:?}.sst"));
        let properties = write_table(&path, &entries, options(compression));
        let cache = Arc::new(BlockCache::new(256 << 10));
        let table = open(&path, &cache).unwrap();
        assert_eq!(table.properties(), &properties);
        assert!(properties.data_blocks > 50);
        for (key, seq, _, _) in &entries {
            for snapshot in [*seq, seq - 1, MAX_SEQNO] {
                assert_eq!(
                    get(&table, key, snapshot).unwrap(),
                    expected(&entries, key, snapshot)
                );
            }
        }
        for absent in [&b"k"[..], b"k00000000!", b"l", b"zzz", &[0xff; 9]] {
            assert_eq!(get(&table, absent, MAX_SEQNO).unwrap(), None);
        }
        table.verify().unwrap();
    }
}

#[test]
fn properties_describe_the_entries() {
    let dir = tempfile::tempdir().unwrap();
    let entries = model(2, 500);
    let path = dir.path().join("t.sst");
    let properties = write_table(&path, &entries, options(Compression::None));
    assert_eq!(properties.entries, entries.len() as u64);
    assert_eq!(
        properties.tombstones,
        entries
            .iter()
            .filter(|e| e.2 == ValueKind::Tombstone)
            .count() as u64
    );
    assert_eq!(properties.smallest_key, entries[0].0);
    assert_eq!(properties.largest_key, entries.last().unwrap().0);
    assert_eq!(
        properties.smallest_seq,
        entries.iter().map(|e| e.1).min().unwrap()
    );
    assert_eq!(
        properties.largest_seq,
        entries.iter().map(|e| e.1).max().unwrap()
    );
    assert_eq!(
        properties.file_size,
        std::fs::metadata(&path).unwrap().len()
    );
    let table = open(&path, &Arc::new(BlockCache::new(1 << 20))).unwrap();
    assert_eq!(table.properties(), &properties);
    assert_eq!(table.index().len() as u64, properties.data_blocks);
    assert!(table.pinned_bytes() > 0);
    assert_eq!((table.id(), table.path()), (7, path.as_path()));
}

/// Goal: the versions of one key split over several blocks are all found.
/// Method: the hot key's versions span blocks (checked through the index);
/// every snapshot between them finds the right one.
#[test]
fn versions_spanning_blocks_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, table) = model_table(dir.path(), 3, 200);
    let index = table.index();
    let hot_blocks = (0..index.len())
        .filter(|&i| index.last_key(i).unwrap().0 == b"k-hot")
        .count();
    assert!(hot_blocks >= 2, "hot key ends {hot_blocks} blocks");
    let hot: Vec<&Entry> = entries.iter().filter(|e| e.0 == b"k-hot").collect();
    assert_eq!(hot.len(), HOT_VERSIONS);
    for version in &hot {
        let found = get(&table, b"k-hot", version.1).unwrap().unwrap();
        assert_eq!(
            (found.0, found.1, &found.2),
            (version.1, version.2, &version.3)
        );
    }
    assert_eq!(
        get(&table, b"k-hot", hot.last().unwrap().1 - 1).unwrap(),
        None
    );
}

/// Goal: cursors agree with the model in both directions, across blocks.
/// Method: full forward and reverse scans; seeks and seek_for_prevs at
/// random keys and seqs; random walks that change direction.
#[test]
fn iterator_matches_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let entries = model(4, 2000);
    let mut rng = StdRng::seed_from_u64(40);
    for compression in [Compression::None, Compression::Lz4] {
        let path = dir.path().join(format!("{compression:?}.sst"));
        write_table(&path, &entries, options(compression));
        let table = open(&path, &Arc::new(BlockCache::new(512 << 10))).unwrap();
        let mut iter = table.iter();
        assert_eq!(scan_forward(&mut iter).unwrap(), entries);

        let mut backward = Vec::new();
        iter.seek_to_last().unwrap();
        while let Some(entry) = current(&iter) {
            backward.push(entry);
            iter.prev().unwrap();
        }
        backward.reverse();
        assert_eq!(backward, entries);

        for _ in 0..2000 {
            let probe = &entries[rng.gen_range(0..entries.len())];
            let key = match rng.gen_range(0..3) {
                0 => probe.0.clone(),
                1 => format!("k{:08}", rng.gen_range(0..9000)).into_bytes(),
                _ => [probe.0.as_slice(), b"\0"].concat(),
            };
            let seq = match rng.gen_range(0..4) {
                0 => 0,
                1 => MAX_SEQNO,
                2 => probe.1,
                _ => rng.gen_range(0..2 * entries.len() as SeqNo),
            };
            let at = entries
                .partition_point(|e| compare_internal(&e.0, e.1, &key, seq) == Ordering::Less);
            iter.seek(&key, seq).unwrap();
            assert_eq!(current(&iter).as_ref(), entries.get(at));

            let before = entries
                .partition_point(|e| compare_internal(&e.0, e.1, &key, seq) != Ordering::Greater);
            iter.seek_for_prev(&key, seq).unwrap();
            assert_eq!(
                current(&iter).as_ref(),
                before.checked_sub(1).map(|i| &entries[i])
            );

            // A short walk from the seek position, changing direction.
            let mut position = at;
            iter.seek(&key, seq).unwrap();
            for _ in 0..20 {
                if !iter.valid() {
                    break;
                }
                if rng.gen_bool(0.5) {
                    iter.next().unwrap();
                    position += 1;
                } else {
                    iter.prev().unwrap();
                    position = position.wrapping_sub(1);
                }
                assert_eq!(current(&iter).as_ref(), entries.get(position));
            }
        }
    }
}

#[test]
fn empty_table_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.sst");
    let properties = write_table(&path, &[], options(Compression::Lz4));
    assert_eq!(
        (
            properties.entries,
            properties.data_blocks,
            properties.smallest_seq
        ),
        (0, 0, 0)
    );
    let table = open(&path, &Arc::new(BlockCache::new(1 << 20))).unwrap();
    assert_eq!(get(&table, b"a", MAX_SEQNO).unwrap(), None);
    let mut iter = table.iter();
    assert!(scan_forward(&mut iter).unwrap().is_empty());
    iter.seek_to_last().unwrap();
    assert!(!iter.valid());
    iter.seek_for_prev(b"z", 0).unwrap();
    assert!(!iter.valid());
    table.verify().unwrap();
}

/// Goal: a lookup of a key the table does not hold usually reads no data
/// block at all. Method: 20k keys in, 20k absent keys looked up in random
/// order, then in key order; only filter false positives (~1%) read a
/// block. (A lookup may also search the block the thread's last lookup
/// searched, if it is cached and holds the key's place: that reads
/// nothing.)
#[test]
fn absent_keys_read_no_data_block() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<Entry> = (0..20_000)
        .map(|i| {
            (
                format!("user{i:08}").into_bytes(),
                5,
                ValueKind::Value,
                b"v".to_vec(),
            )
        })
        .collect();
    let path = dir.path().join("t.sst");
    write_table(&path, &entries, options(Compression::None));
    let cache = Arc::new(BlockCache::new(1 << 20));
    let table = open(&path, &cache).unwrap();
    let (before, before_lookups) = (cache.misses(), cache.hits() + cache.misses());
    let mut order: Vec<u32> = (0..20_000).collect();
    order.shuffle(&mut StdRng::seed_from_u64(3));
    for &i in &order {
        let key = format!("user{i:08}x");
        assert_eq!(get(&table, key.as_bytes(), MAX_SEQNO).unwrap(), None);
    }
    let reads = cache.misses() - before;
    println!("absent keys that read a data block: {reads} of 20000");
    assert!(reads <= 300, "{reads} absent keys read a data block");
    // Blocks searched at all, read or cached: the false positives, and keys
    // that land in the block the last false positive searched (~1% each).
    let lookups = cache.hits() + cache.misses() - before_lookups;
    assert!(lookups <= 800, "{lookups} absent keys reached a data block");
    // In key order, none is read from disk beyond the false positives.
    let misses = cache.misses();
    for i in 0..20_000 {
        let key = format!("user{i:08}x");
        assert_eq!(get(&table, key.as_bytes(), MAX_SEQNO).unwrap(), None);
    }
    let reads = cache.misses() - misses;
    assert!(reads <= 300, "{reads} absent keys in order read a block");

    // Without a filter every lookup inside the key range needs a block.
    let path = dir.path().join("nofilter.sst");
    write_table(&path, &entries, unfiltered());
    let cache = Arc::new(BlockCache::new(1 << 20));
    let table = open(&path, &cache).unwrap();
    assert!(table.may_contain(key_hash(b"anything")));
    let before = cache.misses();
    assert_eq!(get(&table, b"user00000001x", MAX_SEQNO).unwrap(), None);
    assert_eq!(cache.misses(), before + 1);
}

/// Goal: keys looked up in order through a gap of a table (between two
/// runs of its keys) are answered from the gap the first fruitless block
/// search learned, without touching a block, while every key around the
/// gap is still found. Method: a table without a filter (so that only the
/// gap can spare the block search), cache lookups counted.
#[test]
fn absent_keys_in_a_learned_gap_touch_no_block() {
    let dir = tempfile::tempdir().unwrap();
    let entry = |key: String| (key.into_bytes(), 5, ValueKind::Value, b"v".to_vec());
    let entries: Vec<Entry> = (0..5000)
        .map(|i| entry(format!("a{i:06}")))
        .chain((0..5000).map(|i| entry(format!("z{i:06}"))))
        .collect();
    let path = dir.path().join("gap.sst");
    write_table(&path, &entries, unfiltered());
    let cache = Arc::new(BlockCache::new(1 << 20));
    let table = open(&path, &cache).unwrap();
    let lookups = || cache.hits() + cache.misses();
    assert_eq!(get(&table, b"m000000", MAX_SEQNO).unwrap(), None);
    let before = lookups();
    assert!(before > 0, "the first lookup searched a block");
    for i in 1..5000 {
        let key = format!("m{i:06}");
        assert_eq!(get(&table, key.as_bytes(), MAX_SEQNO).unwrap(), None);
    }
    assert_eq!(lookups(), before, "lookups in the gap searched a block");
    // The gap's ends and the keys around it are answered by their blocks.
    for key in ["z000000", "a004999", "z004999", "a000000"] {
        assert_eq!(
            get(&table, key.as_bytes(), MAX_SEQNO).unwrap(),
            Some((5, ValueKind::Value, b"v".to_vec())),
            "{key}"
        );
    }
    for key in ["m000000", "a004999~", "z0000", "zz"] {
        assert_eq!(
            get(&table, key.as_bytes(), MAX_SEQNO).unwrap(),
            None,
            "{key}"
        );
    }
}

/// Goal: lookups answered by a learned gap agree with the model, for runs
/// of keys in order (present keys, absent keys between them, older
/// snapshots) interleaved with another table's lookups. Method: random
/// sorted runs over two model tables, every answer checked.
#[test]
fn lookups_through_learned_gaps_match_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(BlockCache::new(64 << 20));
    let mut tables = Vec::new();
    for seed in [21, 22] {
        let entries = model(seed, 3000);
        let path = dir.path().join(format!("{seed}.sst"));
        write_table(&path, &entries, options(Compression::None));
        tables.push((open(&path, &cache).unwrap(), entries));
    }
    let mut rng = StdRng::seed_from_u64(23);
    for _ in 0..200 {
        let (table, entries) = &tables[rng.gen_range(0..2)];
        let start = rng.gen_range(0..entries.len());
        let mut keys: Vec<Vec<u8>> = entries[start..]
            .iter()
            .take(rng.gen_range(1..60))
            .map(|(key, ..)| {
                let mut key = key.clone();
                match rng.gen_range(0..3) {
                    0 => {}
                    1 => key.push(rng.gen()),
                    _ => {
                        if let Some(last) = key.last_mut() {
                            *last = last.wrapping_add(1);
                        }
                    }
                }
                key
            })
            .collect();
        keys.sort();
        for key in keys {
            let snapshot = if rng.gen_bool(0.2) {
                rng.gen_range(0..200)
            } else {
                MAX_SEQNO
            };
            assert_eq!(
                get(table, &key, snapshot).unwrap(),
                expected(entries, &key, snapshot),
                "{key:?} at {snapshot}"
            );
        }
    }
}

#[test]
fn cached_blocks_are_reused() {
    let dir = tempfile::tempdir().unwrap();
    let entries = model(5, 300);
    let path = dir.path().join("t.sst");
    write_table(&path, &entries, options(Compression::Lz4));
    let cache = Arc::new(BlockCache::new(8 << 20));
    let table = open(&path, &cache).unwrap();
    let key = &entries[10].0;
    get(&table, key, MAX_SEQNO).unwrap();
    let (hits, misses) = (cache.hits(), cache.misses());
    get(&table, key, MAX_SEQNO).unwrap();
    assert_eq!((cache.hits(), cache.misses()), (hits + 1, misses));

    // A scan that does not fill the cache leaves it as it was.
    let used = cache.used_bytes();
    let mut iter = table.iter_without_cache_fill();
    assert_eq!(scan_forward(&mut iter).unwrap(), entries);
    assert_eq!(cache.used_bytes(), used);
    let mut iter = table.iter();
    scan_forward(&mut iter).unwrap();
    assert!(cache.used_bytes() > used);
}

#[test]
fn lz4_shrinks_compressible_tables() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<Entry> = (0..5000)
        .map(|i| {
            (
                format!("key{i:06}").into_bytes(),
                1,
                ValueKind::Value,
                b"abcdefgh".repeat(8),
            )
        })
        .collect();
    let plain = write_table(
        &dir.path().join("a.sst"),
        &entries,
        options(Compression::None),
    );
    let small = write_table(
        &dir.path().join("b.sst"),
        &entries,
        options(Compression::Lz4),
    );
    assert!(
        small.file_size * 2 < plain.file_size,
        "{} vs {}",
        small.file_size,
        plain.file_size
    );
}

#[test]
fn tables_are_shared_between_threads() {
    fn is_send_sync<T: Send + Sync>() {}
    fn is_send<T: Send + 'static>() {}
    is_send_sync::<Table>();
    is_send_sync::<BlockCache>();
    is_send::<TableIter>();

    let dir = tempfile::tempdir().unwrap();
    let entries = Arc::new(model(6, 1000));
    let path = dir.path().join("t.sst");
    write_table(&path, &entries, options(Compression::Lz4));
    let table = open(&path, &Arc::new(BlockCache::new(64 << 10))).unwrap();
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let (table, entries) = (Arc::clone(&table), Arc::clone(&entries));
            std::thread::spawn(move || {
                for entry in entries.iter().skip(t).step_by(2) {
                    assert_eq!(
                        get(&table, &entry.0, entry.1).unwrap(),
                        expected(&entries, &entry.0, entry.1)
                    );
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
}

// ---------------------------------------------------------------------
// Corruption

/// 20,000 keys with 100-byte values (hundreds of 4 KiB blocks).
fn ordered_entries() -> Vec<Entry> {
    (0..20_000u32)
        .map(|i| {
            let value = (0..100).map(|b| (i as u8).wrapping_add(b)).collect();
            (
                format!("ord{i:08}").into_bytes(),
                9,
                ValueKind::Value,
                value,
            )
        })
        .collect()
}

/// [`ordered_entries`] written uncompressed to `dir/t.sst`.
fn ordered_table(dir: &Path) -> (Vec<Entry>, PathBuf) {
    let entries = ordered_entries();
    let path = dir.join("t.sst");
    write_table(&path, &entries, options(Compression::None));
    (entries, path)
}

/// [`ordered_table`], open with an empty cache large enough for it.
fn ordered_table_open(dir: &Path) -> (Vec<Entry>, Arc<Table>, Arc<BlockCache>) {
    let (entries, path) = ordered_table(dir);
    let cache = Arc::new(BlockCache::new(64 << 20));
    let table = open(&path, &cache).unwrap();
    (entries, table, cache)
}

/// Goal: a default-sized data block lies in one 4 KiB page of the file, so
/// a lookup that misses the cache reads one page, and the padding that
/// aligns blocks stays small. Method: check every block's place in a table
/// of 100-byte values, and the padding rule in a table of mixed entries.
#[test]
fn data_blocks_lie_in_one_page_each() {
    let dir = tempfile::tempdir().unwrap();
    let (_, table, _) = ordered_table_open(dir.path());
    let mut padding = 0;
    let mut end = 0;
    for i in 0..table.index().len() {
        let handle = table.index().handle(i).unwrap();
        assert!(handle.size <= 4096, "block {i}: {handle:?}");
        assert_eq!(
            handle.offset / 4096,
            (handle.end() - 1) / 4096,
            "block {i}: {handle:?}"
        );
        padding += handle.offset - end;
        end = handle.end();
    }
    assert!(padding * 40 < end, "{padding} bytes of padding in {end}");

    // Blocks of every size: padding only ever moves a block to a page
    // boundary, by at most 512 bytes, and the table still verifies.
    let path = dir.path().join("mixed.sst");
    for compression in [Compression::None, Compression::Lz4] {
        write_table(&path, &model(0xa11, 3000), options(compression));
        let table = open(&path, &Arc::new(BlockCache::new(1 << 20))).unwrap();
        table.verify().unwrap();
        let mut end = 0;
        for i in 0..table.index().len() {
            let handle = table.index().handle(i).unwrap();
            let gap = handle.offset - end;
            assert!(
                gap == 0 || (gap <= 512 && handle.offset % 4096 == 0),
                "{i}: {handle:?}"
            );
            end = handle.end();
        }
    }
}

/// Goal: a scan looks each block up in the cache once: a miss is read
/// from disk, not looked up again (which cost a second lookup and counted
/// a second miss). Method: scan a table through an empty cache large
/// enough for it, then again; count hits and misses.
#[test]
fn a_scan_looks_each_block_up_once() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, table, cache) = ordered_table_open(dir.path());
    let blocks = table.properties().data_blocks;
    assert!(blocks > 100, "{blocks} blocks");
    let mut iter = table.iter();
    assert_eq!(scan_forward(&mut iter).unwrap(), entries);
    assert_eq!((cache.hits(), cache.misses()), (0, blocks));
    let mut iter = table.iter();
    assert_eq!(scan_forward(&mut iter).unwrap(), entries);
    assert_eq!((cache.hits(), cache.misses()), (blocks, blocks));
    // A seek to a block that is not cached counts one miss too.
    let cold_cache = Arc::new(BlockCache::new(64 << 20));
    let cold = open(table.path(), &cold_cache).unwrap();
    let mut iter = cold.iter();
    iter.seek(&entries[5000].0, MAX_SEQNO).unwrap();
    assert_eq!(current(&iter), Some(entries[5000].clone()));
    assert_eq!((cold_cache.hits(), cold_cache.misses()), (0, 1));
}

/// Goal: a cursor told its reader's upper bound reads no block past the
/// one that holds the bound, however it reads ahead, and still reads any
/// block it is moved to. Method: scan an uncached table up to a bound a
/// few blocks in, with and without telling the cursor, through a file
/// that records the furthest byte read; then step past the bound.
#[test]
fn reading_ahead_stops_at_the_upper_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, path) = ordered_table(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    let bound = &entries[150].0;
    // How the cursor is told: not at all, the block, or the bound itself
    // (the block searched for when it first reads ahead).
    for (told, inclusive) in [
        (None, false),
        (Some(false), false),
        (Some(false), true),
        (Some(true), false),
        (Some(true), true),
    ] {
        let file = Arc::new(FurthestRead(MemFile(bytes.clone()), AtomicU64::new(0)));
        let cache = Arc::new(BlockCache::new(64 << 20));
        let table = Table::open(Arc::clone(&file) as _, path.clone(), 7, cache).unwrap();
        let limit = table.last_block_for_bound(bound, inclusive);
        assert!((3..10).contains(&limit), "{limit}");
        let limit_end = table.index().handle(limit).unwrap().end();
        file.1.store(0, AtomicOrdering::Relaxed); // forget the footer, index, filter
        let mut iter = table.iter();
        match told {
            Some(false) => iter.set_read_limit(limit),
            Some(true) => iter.set_upper_bound(Slice::copy_from(bound), inclusive),
            None => {}
        }
        iter.seek_to_first().unwrap();
        let mut seen = Vec::new();
        while iter.valid() && iter.key() < bound.as_slice() {
            seen.push(current(&iter).unwrap());
            iter.next().unwrap();
        }
        assert_eq!(seen, entries[..150]);
        let furthest = file.1.load(AtomicOrdering::Relaxed);
        if told.is_some() {
            assert_eq!(furthest, limit_end, "read past the bound's block");
        } else {
            assert!(
                furthest > limit_end + (16 << 10),
                "read ahead to {furthest}"
            );
        }
        // Past the bound, the cursor reads on.
        let mut rest = Vec::new();
        while iter.valid() {
            rest.push(current(&iter).unwrap());
            iter.next().unwrap();
        }
        assert_eq!(rest, entries[150..]);
    }
}

/// A file that records the end of the furthest read.
struct FurthestRead(MemFile, AtomicU64);

impl RandomAccessFile for FurthestRead {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.1
            .fetch_max(offset + buf.len() as u64, AtomicOrdering::Relaxed);
        self.0.read_exact_at(buf, offset)
    }

    fn size(&self) -> u64 {
        self.0.size()
    }
}

/// Goal: a long scan through a full cache reads through it: it leaves the
/// cached blocks where they are (but for the few blocks it reads before
/// reading ahead), and a second scan of the same blocks caches them.
/// Method: fill a small cache by point lookups in reverse key order (no
/// read-ahead), scan the whole table twice, compare the cached blocks.
#[test]
fn a_one_pass_scan_leaves_a_full_cache_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, path) = ordered_table(dir.path());
    let cache = Arc::new(BlockCache::new(256 << 10));
    let table = open(&path, &cache).unwrap();
    let blocks = table.properties().data_blocks as usize;
    let cached = |table: &Table| -> Vec<usize> {
        (0..blocks)
            .filter(|&i| table.cached_block(i).is_some())
            .collect()
    };
    for (key, ..) in entries.iter().rev() {
        get(&table, key, MAX_SEQNO).unwrap();
    }
    let hot = cached(&table);
    assert!(hot.len() > 20, "{} blocks cached", hot.len());
    assert!(cache.used_bytes() + (8 << 10) > 256 << 10, "full");

    let mut iter = table.iter();
    assert_eq!(scan_forward(&mut iter).unwrap(), entries);
    drop(iter);
    let after = cached(&table);
    let lost = hot.iter().filter(|i| !after.contains(i)).count();
    assert!(lost <= 2, "a one-pass scan evicted {lost} of {}", hot.len());

    let mut iter = table.iter();
    assert_eq!(scan_forward(&mut iter).unwrap(), entries);
    let scanned = cached(&table)
        .into_iter()
        .filter(|i| !hot.contains(i) && *i > 2)
        .count();
    assert!(scanned > 0, "the second pass cached nothing");
}

/// Goal: a lookup that goes straight to the block the thread's last lookup
/// searched (skipping filter and index) answers exactly as the full path:
/// present keys, absent keys between them, keys past a block's end, older
/// snapshots, and lookups alternating between two tables. Method: walk two
/// tables' keys in order on one thread, interleaved, comparing every answer
/// with the model.
#[test]
fn lookups_that_reuse_the_last_block_answer_as_the_full_path() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, path) = ordered_table(dir.path());
    let other_entries = model(9, 2000);
    let other_path = dir.path().join("other.sst");
    write_table(&other_path, &other_entries, options(Compression::None));
    let cache = Arc::new(BlockCache::new(64 << 20));
    let (table, other) = (
        open(&path, &cache).unwrap(),
        open(&other_path, &cache).unwrap(),
    );
    for (n, (key, seq, kind, value)) in entries.iter().enumerate() {
        assert_eq!(
            get(&table, key, MAX_SEQNO).unwrap(),
            Some((*seq, *kind, value.clone()))
        );
        let mut between = key.clone();
        between.push(0);
        assert_eq!(
            get(&table, &between, MAX_SEQNO).unwrap(),
            None,
            "{between:?}"
        );
        assert_eq!(get(&table, key, seq - 1).unwrap(), None, "older snapshot");
        if n % 10 == 0 {
            let (key, ..) = &other_entries[n / 10 % other_entries.len()];
            for snapshot in [MAX_SEQNO, 50] {
                let want = expected(&other_entries, key, snapshot);
                assert_eq!(get(&other, key, snapshot).unwrap(), want);
            }
        }
    }
    assert_eq!(
        get(&table, b"ord99999999", MAX_SEQNO).unwrap(),
        None,
        "past the end"
    );
}

/// Goal: lookups of keys in key order read blocks ahead, so most blocks
/// come in a few reads, and every value is still right. Method: count
/// cache misses (reads for a lookup) over a table of hundreds of blocks,
/// then look the keys up again in random order from a cold cache.
#[test]
fn lookups_in_key_order_read_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, table, cache) = ordered_table_open(dir.path());
    let blocks = table.properties().data_blocks;
    assert!(blocks > 300, "{blocks} blocks");
    for (key, seq, kind, value) in &entries {
        let got = get(&table, key, MAX_SEQNO).unwrap();
        assert_eq!(got, Some((*seq, *kind, value.clone())));
    }
    let misses = cache.misses();
    println!("{misses} lookup misses for {blocks} blocks in key order");
    assert!(misses * 8 <= blocks, "{misses} misses for {blocks} blocks");

    let cache = Arc::new(BlockCache::new(64 << 20));
    let table = open(table.path(), &cache).unwrap();
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(5));
    for i in order {
        let (key, seq, kind, value) = &entries[i];
        let got = get(&table, key, MAX_SEQNO).unwrap();
        assert_eq!(got, Some((*seq, *kind, value.clone())));
    }
}

/// Goal: the blocks point lookups cache live in frames of the cache's
/// pool (on huge pages), whether read alone or read ahead and copied, and
/// a cache too small for a pool keeps them on the heap. Method: look keys
/// up in key order (read ahead) and shuffled (one block per miss), then
/// inspect every cached block.
#[test]
fn cached_blocks_live_in_frames() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, path) = ordered_table(dir.path());
    let order: Vec<usize> = (0..entries.len()).collect();
    let shuffled = {
        let mut order = order.clone();
        order.shuffle(&mut StdRng::seed_from_u64(9));
        order
    };
    for (lookups, cache_size, framed) in [
        (&order, 64 << 20, true),
        (&shuffled, 64 << 20, true),
        (&shuffled, 1 << 20, false),
    ] {
        let table = open(&path, &Arc::new(BlockCache::new(cache_size))).unwrap();
        for &i in lookups {
            let (key, seq, kind, value) = &entries[i];
            let got = get(&table, key, MAX_SEQNO).unwrap();
            assert_eq!(got, Some((*seq, *kind, value.clone())));
        }
        let cached: Vec<bool> = (0..table.index().len())
            .filter_map(|i| table.cached_block(i))
            .map(|block| block.in_frame())
            .collect();
        assert!(cached.len() > 10, "{} blocks cached", cached.len());
        assert!(
            cached.iter().all(|&in_frame| in_frame == framed),
            "cache of {cache_size} bytes: {} of {} blocks in frames",
            cached.iter().filter(|&&f| f).count(),
            cached.len()
        );
    }
}

/// Goal: a damaged block read ahead is not cached and not hidden: the
/// lookup that needs it reports it (file and block offset), and lookups
/// on both sides still work. Method: flip a byte inside block 40, look up
/// every key in order.
#[test]
fn a_damaged_block_read_ahead_is_reported_by_its_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, path) = ordered_table(dir.path());
    let cache = Arc::new(BlockCache::new(64 << 20));
    let damaged = open(&path, &cache).unwrap().index().handle(40).unwrap();
    flip_byte(&path, damaged.offset + 30);
    let table = open(&path, &cache).unwrap();
    let mut failed = 0;
    for (key, seq, kind, value) in &entries {
        match get(&table, key, MAX_SEQNO) {
            Ok(got) => assert_eq!(got, Some((*seq, *kind, value.clone()))),
            Err(err) => {
                assert_corruption(err, &path, Some(damaged.offset));
                failed += 1;
            }
        }
    }
    assert!(failed > 0, "the damaged block went unnoticed");
    assert!(
        failed < 100,
        "{failed} lookups failed: more than one block's keys"
    );
}

/// Goal: a read ahead that fails does not fail the lookup, which needs one
/// block of it. Method: through a faulty file system, make the read of
/// the first lookup that reads ahead fail once.
#[test]
fn a_failed_read_ahead_falls_back_to_the_block_needed() {
    use crate::fs::fault::{Fault, FaultFs, Op};
    let dir = tempfile::tempdir().unwrap();
    let (entries, path) = ordered_table(dir.path());
    let fs = FaultFs::new(Arc::new(StdFs));
    let cache = Arc::new(BlockCache::new(64 << 20));
    let table = Table::open(fs.open_random(&path).unwrap(), path.clone(), 7, cache).unwrap();
    let first_of_second = entries
        .iter()
        .position(|e| table.index().find(&e.0, MAX_SEQNO) == 1)
        .unwrap();
    // Block 0 is read alone; block 1 follows it, so its lookup reads ahead.
    let got = get(&table, &entries[0].0, MAX_SEQNO).unwrap();
    assert_eq!(got.map(|g| g.2), Some(entries[0].3.clone()));
    fs.inject(Fault::on(Op::Read).once());
    let (key, seq, kind, value) = &entries[first_of_second];
    let got = get(&table, key, MAX_SEQNO).unwrap();
    assert_eq!(got, Some((*seq, *kind, value.clone())));
    assert_eq!(fs.injected(Op::Read), 1, "the read ahead was tried");
}

fn footer_of(path: &Path) -> Footer {
    Footer::decode(&std::fs::read(path).unwrap()).unwrap()
}

fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

fn assert_corruption(err: Error, path: &Path, offset: Option<u64>) {
    match err {
        Error::Corruption {
            file, offset: at, ..
        } => {
            assert_eq!(file, path);
            if let Some(offset) = offset {
                assert_eq!(at, offset);
            }
        }
        other => panic!("expected a corruption, got {other:?}"),
    }
}

/// Gets every key and scans the table: every value returned must be the
/// model's; returns the first error met.
fn read_everything(table: &Arc<Table>, entries: &[Entry]) -> Option<Error> {
    let mut first_error = None;
    for (key, seq, _, _) in entries {
        match get(table, key, *seq) {
            Ok(found) => assert_eq!(found, expected(entries, key, *seq), "wrong value, no error"),
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    match scan_forward(&mut table.iter()) {
        Ok(scanned) => assert_eq!(scanned, entries, "scan returned wrong entries"),
        Err(err) => {
            first_error.get_or_insert(err);
        }
    }
    first_error
}

/// Goal: a damaged byte in any region is reported as a corruption naming
/// the file and the damaged block, and no wrong value is ever returned.
/// Method: flip one byte in a data block, the index, the filter, the
/// properties and the footer of a fresh copy of a table, then open it and
/// read everything.
#[test]
fn a_flipped_byte_in_each_region_is_a_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let entries = model(7, 600);
    let clean = dir.path().join("clean.sst");
    write_table(&clean, &entries, options(Compression::Lz4));
    let footer = footer_of(&clean);
    let size = std::fs::metadata(&clean).unwrap().len();
    let regions = [
        ("first data block", 0, 10),
        ("data block", footer.filter.offset / 2, 0),
        (
            "filter",
            footer.filter.offset,
            footer.filter.size as u64 / 2,
        ),
        ("index", footer.index.offset, footer.index.size as u64 / 2),
        ("properties", footer.properties.offset, 3),
        ("footer", size - FOOTER_LEN as u64, 5),
    ];
    for (name, block_offset, delta) in regions {
        let path = dir.path().join(format!("{name}.sst"));
        std::fs::copy(&clean, &path).unwrap();
        flip_byte(&path, block_offset + delta);
        let cache = Arc::new(BlockCache::new(1 << 20));
        match open(&path, &cache) {
            Err(err) => {
                assert!(
                    !name.contains("data"),
                    "{name}: open should not read data blocks"
                );
                assert_corruption(err, &path, Some(block_offset));
            }
            Ok(table) => {
                assert!(name.contains("data"), "{name}: damage not found at open");
                let err = read_everything(&table, &entries).expect("damage not noticed");
                // The mid-file offset is not a block start: only check the path.
                let at = (block_offset == 0).then_some(0);
                assert_corruption(err, &path, at);
                assert_corruption(table.verify().unwrap_err(), &path, at);
            }
        }
    }
}

#[test]
fn truncated_tables_are_corruptions() {
    let dir = tempfile::tempdir().unwrap();
    let entries = model(8, 300);
    let clean = dir.path().join("clean.sst");
    write_table(&clean, &entries, options(Compression::None));
    let bytes = std::fs::read(&clean).unwrap();
    for keep in [
        0,
        10,
        FOOTER_LEN,
        bytes.len() / 2,
        bytes.len() - FOOTER_LEN,
        bytes.len() - 1,
    ] {
        let path = dir.path().join(format!("cut{keep}.sst"));
        std::fs::write(&path, &bytes[..keep]).unwrap();
        let err = open(&path, &Arc::new(BlockCache::new(1 << 20))).unwrap_err();
        assert_corruption(err, &path, None);
    }
}

/// A table file in memory, for tests that open thousands of variants.
struct MemFile(Vec<u8>);

impl RandomAccessFile for MemFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let bytes = start
            .checked_add(buf.len())
            .and_then(|end| self.0.get(start..end))
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }

    fn size(&self) -> u64 {
        self.0.len() as u64
    }
}

struct MemWriter(Arc<Mutex<Vec<u8>>>);

impl WritableFile for MemWriter {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn table_bytes(entries: &[Entry], options: TableOptions) -> Vec<u8> {
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let mut builder = TableBuilder::new(Box::new(MemWriter(Arc::clone(&bytes))), options);
    for (key, seq, kind, value) in entries {
        builder.add(key, *seq, *kind, value).unwrap();
    }
    builder.finish().unwrap();
    let bytes = bytes.lock().unwrap().clone();
    bytes
}

fn open_bytes(bytes: Vec<u8>) -> crate::Result<Arc<Table>> {
    let cache = Arc::new(BlockCache::new(1 << 20));
    Table::open(Arc::new(MemFile(bytes)), PathBuf::from("mem.sst"), 1, cache)
}

fn small_entries() -> Vec<Entry> {
    (0..120u64)
        .map(|i| {
            let kind = if i % 9 == 0 {
                ValueKind::Tombstone
            } else {
                ValueKind::Value
            };
            let value = if kind == ValueKind::Value {
                format!("value-{i}").repeat(3).into_bytes()
            } else {
                Vec::new()
            };
            (
                format!("key{:04}", i / 2).into_bytes(),
                1000 - i,
                kind,
                value,
            )
        })
        .collect()
}

/// Goal: no single damaged byte anywhere in a table goes unnoticed.
/// Method: flip each byte of a small multi-block table in turn; `open` or
/// `verify` must report a corruption, and reads never return a wrong value.
#[test]
fn every_single_byte_flip_is_detected() {
    let entries = small_entries();
    for compression in [Compression::None, Compression::Lz4] {
        let options = TableOptions {
            block_size: 512,
            compression,
            ..TableOptions::default()
        };
        let clean = table_bytes(&entries, options);
        assert!(open_bytes(clean.clone()).unwrap().properties().data_blocks >= 3);
        for at in 0..clean.len() {
            let mut bytes = clean.clone();
            bytes[at] ^= 0x01;
            match open_bytes(bytes) {
                Err(err) => assert!(err.is_corruption()),
                Ok(table) => {
                    assert!(
                        table.verify().unwrap_err().is_corruption(),
                        "flip at {at} not found"
                    );
                    read_everything(&table, &entries);
                }
            }
        }
    }
}

/// Goal: `verify` catches properties that lie about the entries even when
/// every checksum is right. Method: rewrite the properties block (and the
/// footer) with one entry too many, sealed properly.
#[test]
fn verify_checks_properties_against_entries() {
    let entries = small_entries();
    let clean = table_bytes(&entries, TableOptions::default());
    open_bytes(clean.clone()).unwrap().verify().unwrap();
    let footer = Footer::decode(&clean).unwrap();
    let table = open_bytes(clean.clone()).unwrap();
    let mut lying = table.properties().clone();
    lying.entries += 1;
    let mut payload = Vec::new();
    lying.encode_to(&mut payload);
    let mut bytes = clean[..footer.properties.offset as usize].to_vec();
    let size = format::seal_block(&payload, false, &mut Vec::new(), &mut bytes);
    let footer = Footer {
        properties: format::BlockHandle {
            offset: footer.properties.offset,
            size: size as u32,
        },
        ..footer
    };
    bytes.extend_from_slice(&footer.encode());
    let table = open_bytes(bytes).unwrap();
    assert_eq!(table.properties().entries, entries.len() as u64 + 1);
    let err = table.verify().unwrap_err();
    assert!(err.to_string().contains("entries differs"), "{err}");
}

/// Goal: arbitrary damage never panics the reader. Method: random byte
/// changes (several at once) and random cuts of a valid table, then open,
/// gets, scans and verify.
#[test]
fn mangled_tables_never_panic() {
    let entries = small_entries();
    let clean = table_bytes(
        &entries,
        TableOptions {
            block_size: 512,
            ..TableOptions::default()
        },
    );
    let mut rng = StdRng::seed_from_u64(0xdead);
    for _ in 0..2000 {
        let mut bytes = clean.clone();
        for _ in 0..rng.gen_range(1..8) {
            let at = rng.gen_range(0..bytes.len());
            bytes[at] = rng.gen();
        }
        if rng.gen_bool(0.1) {
            bytes.truncate(rng.gen_range(0..bytes.len()));
        }
        if let Ok(table) = open_bytes(bytes) {
            let _ = table.verify();
            read_everything(&table, &entries);
        }
    }
}

/// Not a benchmark (this is a debug build): prints rough costs so large
/// regressions are visible in test output. Asserts only the results.
#[test]
fn lookup_and_scan_costs() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<Entry> = (0..100_000)
        .map(|i| {
            (
                format!("user{:012}", i * 7).into_bytes(),
                1,
                ValueKind::Value,
                vec![b'v'; 100],
            )
        })
        .collect();
    let path = dir.path().join("t.sst");
    write_table(&path, &entries, options(Compression::None));
    let table = open(&path, &Arc::new(BlockCache::new(64 << 20))).unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let probes: Vec<(Vec<u8>, u64)> = (0..100_000)
        .map(|_| {
            let key = format!("user{:012}", rng.gen_range(0..100_000) * 7).into_bytes();
            let hash = key_hash(&key);
            (key, hash)
        })
        .collect();
    let start = Instant::now();
    for (key, hash) in &probes {
        table.get(key, *hash, MAX_SEQNO).unwrap().unwrap();
    }
    let cold_ns = start.elapsed().as_nanos() / probes.len() as u128;
    let start = Instant::now();
    for (key, hash) in &probes {
        assert!(table.get(key, *hash, MAX_SEQNO).unwrap().is_some());
    }
    let get_ns = start.elapsed().as_nanos() / probes.len() as u128;
    let start = Instant::now();
    let mut iter = table.iter();
    iter.seek(b"user000000070000", MAX_SEQNO).unwrap();
    let mut scanned = 0;
    while iter.valid() && scanned < 10_000 {
        scanned += 1;
        iter.next().unwrap();
    }
    let scan_us = start.elapsed().as_micros();
    assert_eq!(scanned, 10_000);
    let start = Instant::now();
    iter.seek_for_prev(b"user000000140000", MAX_SEQNO).unwrap();
    let mut reversed = 0;
    while iter.valid() && reversed < 10_000 {
        reversed += 1;
        iter.prev().unwrap();
    }
    let reverse_us = start.elapsed().as_micros();
    assert_eq!(reversed, 10_000);
    let hot: Vec<(Vec<u8>, u64)> = probes
        .iter()
        .take(500)
        .cloned()
        .cycle()
        .take(probes.len())
        .collect();
    let start = Instant::now();
    for (key, hash) in &hot {
        assert!(table.get(key, *hash, MAX_SEQNO).unwrap().is_some());
    }
    let hot_ns = start.elapsed().as_nanos() / probes.len() as u128;
    let start = Instant::now();
    for (key, hash) in &probes {
        let mut absent = key.clone();
        absent.push(b'x');
        assert!(table.get(&absent, hash ^ 1, MAX_SEQNO).unwrap().is_none());
    }
    let absent_ns = start.elapsed().as_nanos() / probes.len() as u128;
    println!(
        "get: {cold_ns} ns first pass (block reads), {get_ns} ns cached, {hot_ns} ns hot set, \
         {absent_ns} ns absent; \
         10k-entry scan: {scan_us} us forward, {reverse_us} us reverse; pinned {} bytes",
        table.pinned_bytes()
    );
}

/// Goal: `next_key` lands on the first version of the next larger key from
/// any version of any key: also when the key's versions go on in the next
/// block (the hot key), when one key is a prefix of the next (`~`
/// suffixes) and at the table's end. Method: walks of random `next` and
/// `next_key` steps compared with the model, and `next_key` after a seek
/// to every fifth version.
#[test]
fn next_key_passes_every_version_of_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, table) = model_table(dir.path(), 5, 2000);
    let past = |at: usize| {
        let key = &entries[at].0;
        at + entries[at..].iter().take_while(|e| e.0 == *key).count()
    };
    let mut rng = StdRng::seed_from_u64(51);
    let mut scratch = Vec::new();
    for _ in 0..4 {
        let mut iter = table.iter();
        iter.seek_to_first().unwrap();
        let mut at = 0;
        let mut steps = 0;
        while at < entries.len() {
            assert_eq!(current(&iter).as_ref(), Some(&entries[at]), "at {at}");
            if rng.gen_bool(0.4) {
                iter.next().unwrap();
                at += 1;
            } else {
                iter.next_key(&mut scratch).unwrap();
                at = past(at);
            }
            steps += 1;
        }
        assert!(!iter.valid());
        assert!(steps < entries.len(), "next_key took {steps} steps");
    }
    for at in (0..entries.len()).step_by(5) {
        let mut iter = table.iter();
        iter.seek(&entries[at].0, entries[at].1).unwrap();
        iter.next_key(&mut scratch).unwrap();
        assert_eq!(current(&iter).as_ref(), entries.get(past(at)), "from {at}");
    }
}
