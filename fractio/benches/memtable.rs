//! Memtable throughput: fractio's arena skiplist against
//! `crossbeam_skiplist::SkipMap<Vec<u8>, Vec<u8>>`, in the same run.
//!
//! 1M entries of 16-byte keys shaped like the seed benchmark's
//! (`prefix + 'k' padding + "_" + i`, e.g. `seqkkkkkkkk_1234`) and 100-byte
//! values. Keys are built before timing; building and dropping a table are
//! not timed. Four workloads: sequential and shuffled (fixed seed) insert
//! into an empty table, sequential and shuffled get from a full one.
//!
//! Run: `cargo bench -p fractio --bench memtable`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode, Throughput,
};
use crossbeam_skiplist::SkipMap;
use fractio::memtable::Memtable;
use fractio::types::{SeqNo, ValueKind, MAX_SEQNO};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

const ENTRIES: usize = 1_000_000;
const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 100;

type Key = [u8; KEY_LEN];

/// `prefix`, then `k`s, then `_i`: 16 bytes, distinguishing bytes last.
fn make_key(prefix: &[u8], i: usize) -> Key {
    let suffix = format!("_{i}");
    let mut key = [b'k'; KEY_LEN];
    key[..prefix.len()].copy_from_slice(prefix);
    key[KEY_LEN - suffix.len()..].copy_from_slice(suffix.as_bytes());
    key
}

/// The keys in insertion order (`i` ascending) and shuffled.
fn workloads() -> [(&'static str, Vec<Key>); 2] {
    let sequential: Vec<Key> = (0..ENTRIES).map(|i| make_key(b"seq", i)).collect();
    let mut random = sequential.clone();
    random.shuffle(&mut StdRng::seed_from_u64(0x5eed));
    [("sequential", sequential), ("random", random)]
}

fn fractio_table(keys: &[Key], value: &[u8]) -> Memtable {
    let table = Memtable::new(ENTRIES * Memtable::entry_size(KEY_LEN, VALUE_LEN) + (1 << 20));
    for (i, key) in keys.iter().enumerate() {
        assert!(table.insert(key, i as SeqNo + 1, ValueKind::Value, value));
    }
    table
}

fn crossbeam_map(keys: &[Key], value: &[u8]) -> SkipMap<Vec<u8>, Vec<u8>> {
    let map = SkipMap::new();
    for key in keys {
        map.insert(key.to_vec(), value.to_vec());
    }
    map
}

/// Times `iters` builds of a table from empty; dropping it is not timed.
fn time_builds<T>(iters: u64, build: impl Fn() -> T) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let table = black_box(build());
        total += start.elapsed();
        drop(table);
    }
    total
}

fn bench_inserts(c: &mut Criterion, keys: &[Key], name: &str, value: &[u8]) {
    let mut group = group(c, &format!("insert_{name}"));
    group.bench_function("fractio", |b| {
        b.iter_custom(|iters| time_builds(iters, || fractio_table(keys, value)))
    });
    group.bench_function("crossbeam", |b| {
        b.iter_custom(|iters| time_builds(iters, || crossbeam_map(keys, value)))
    });
    group.finish();
}

/// Looks every key of `probes` up in tables built from the same keys.
fn bench_gets(
    c: &mut Criterion,
    name: &str,
    probes: &[Key],
    table: &Memtable,
    map: &SkipMap<Vec<u8>, Vec<u8>>,
) {
    let mut group = group(c, &format!("get_{name}"));
    group.bench_function("fractio", |b| {
        b.iter(|| {
            for key in probes {
                let found = table.get(black_box(key), MAX_SEQNO);
                assert_eq!(found.map(|(_, _, v)| v.len()), Some(VALUE_LEN));
            }
        })
    });
    group.bench_function("crossbeam", |b| {
        b.iter(|| {
            for key in probes {
                let found = map.get(black_box(&key[..]));
                assert_eq!(found.map(|e| e.value().len()), Some(VALUE_LEN));
            }
        })
    });
    group.finish();
}

/// A group measuring 1M operations per iteration, with few samples so the
/// whole run stays under two minutes.
fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .throughput(Throughput::Elements(ENTRIES as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group
}

fn memtable(c: &mut Criterion) {
    let value = [b'v'; VALUE_LEN];
    let workloads = workloads();
    for (name, keys) in &workloads {
        bench_inserts(c, keys, name, &value);
    }
    let table = fractio_table(&workloads[0].1, &value);
    let map = crossbeam_map(&workloads[0].1, &value);
    for (name, probes) in &workloads {
        bench_gets(c, name, probes, &table, &map);
    }
}

criterion_group!(benches, memtable);
criterion_main!(benches);
