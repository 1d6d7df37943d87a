//! Memtable throughput: fractio's arena skiplist against
//! `crossbeam_skiplist::SkipMap<Vec<u8>, Vec<u8>>`, in the same run.
//!
//! 1M entries of 16-byte keys shaped like the seed benchmark's
//! (`prefix + 'k' padding + "_" + i`, e.g. `seqkkkkkkkk_1234`) and 100-byte
//! values. Keys are built before timing; building and dropping a table are
//! not timed. Four workloads: sequential and shuffled (fixed seed) insert
//! of the 1M keys into an empty table, and sequential and shuffled get from
//! a table holding all of them. One timed iteration is 100K operations,
//! taken in order from the 1M (inserts go on filling the same table, which
//! is replaced, untimed, once it holds all 1M), so the reported throughput
//! is the average over whole fills from empty to 1M entries.
//!
//! Run: `cargo bench -p fractio --bench memtable`.

use std::cell::{Cell, RefCell};
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
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
/// Operations per timed iteration: a tenth of the keys. Criterion times a
/// multiple of ten iterations, so the samples together always cover whole
/// passes over the keys (for inserts: whole fills from empty to 1M).
const CHUNK: usize = ENTRIES / 10;

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

fn new_fractio() -> Memtable {
    Memtable::new(ENTRIES * Memtable::entry_size(KEY_LEN, VALUE_LEN) + (1 << 20))
}

fn fractio_insert(table: &Memtable, i: usize, key: &Key, value: &[u8]) {
    assert!(table.insert(key, i as SeqNo + 1, ValueKind::Value, value));
}

fn crossbeam_insert(map: &SkipMap<Vec<u8>, Vec<u8>>, key: &Key, value: &[u8]) {
    map.insert(key.to_vec(), value.to_vec());
}

/// A table being filled with `keys` chunk by chunk.
struct Filling<T> {
    table: T,
    next: usize,
}

/// Times `iters` chunks of `CHUNK` inserts that go on filling one table in
/// the order of `keys`; after the last key a fresh table is made, untimed.
fn time_inserts<T>(
    iters: u64,
    keys: &[Key],
    filling: &RefCell<Filling<T>>,
    new: impl Fn() -> T,
    insert: impl Fn(&T, usize, &Key),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut filling = filling.borrow_mut();
    for _ in 0..iters {
        if filling.next == keys.len() {
            *filling = Filling {
                table: new(),
                next: 0,
            };
        }
        let from = filling.next;
        let start = Instant::now();
        for (i, key) in keys[from..from + CHUNK].iter().enumerate() {
            insert(&filling.table, from + i, key);
        }
        total += start.elapsed();
        filling.next = from + CHUNK;
    }
    total
}

fn bench_inserts(c: &mut Criterion, keys: &[Key], name: &str, value: &[u8]) {
    let mut group = group(c, &format!("insert_{name}"));
    let filling = RefCell::new(Filling {
        table: new_fractio(),
        next: 0,
    });
    group.bench_function("fractio", |b| {
        b.iter_custom(|iters| {
            let insert = |table: &Memtable, i, key: &Key| fractio_insert(table, i, key, value);
            time_inserts(iters, keys, &filling, new_fractio, insert)
        })
    });
    drop(filling);
    let filling = RefCell::new(Filling {
        table: SkipMap::new(),
        next: 0,
    });
    group.bench_function("crossbeam", |b| {
        b.iter_custom(|iters| {
            let insert = |map: &SkipMap<_, _>, _, key: &Key| crossbeam_insert(map, key, value);
            time_inserts(iters, keys, &filling, SkipMap::new, insert)
        })
    });
    group.finish();
}

/// Times `iters` chunks of `CHUNK` lookups, taking the probes in
/// order and wrapping around, so that consecutive samples cover them all.
fn time_gets(iters: u64, probes: &[Key], next: &Cell<usize>, get: impl Fn(&Key)) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        let from = next.get();
        probes[from..from + CHUNK].iter().for_each(&get);
        next.set((from + CHUNK) % probes.len());
    }
    start.elapsed()
}

/// Looks keys of `probes` up in tables holding all of them.
fn bench_gets(
    c: &mut Criterion,
    name: &str,
    probes: &[Key],
    table: &Memtable,
    map: &SkipMap<Vec<u8>, Vec<u8>>,
) {
    let mut group = group(c, &format!("get_{name}"));
    let next = Cell::new(0);
    group.bench_function("fractio", |b| {
        b.iter_custom(|iters| {
            time_gets(iters, probes, &next, |key| {
                let found = table.get(black_box(key), MAX_SEQNO);
                assert_eq!(found.map(|(_, _, v)| v.len()), Some(VALUE_LEN));
            })
        })
    });
    next.set(0);
    group.bench_function("crossbeam", |b| {
        b.iter_custom(|iters| {
            time_gets(iters, probes, &next, |key| {
                let found = map.get(black_box(&key[..]));
                assert_eq!(found.map(|e| e.value().len()), Some(VALUE_LEN));
            })
        })
    });
    group.finish();
}

/// A group measuring `CHUNK` operations per iteration, with few samples so
/// the whole run stays well under two minutes.
fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .throughput(Throughput::Elements(CHUNK as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(2));
    group
}

fn memtable(c: &mut Criterion) {
    let value = [b'v'; VALUE_LEN];
    let workloads = workloads();
    for (name, keys) in &workloads {
        bench_inserts(c, keys, name, &value);
    }
    let (table, map) = (new_fractio(), SkipMap::new());
    for (i, key) in workloads[0].1.iter().enumerate() {
        fractio_insert(&table, i, key, &value);
        crossbeam_insert(&map, key, &value);
    }
    for (name, probes) in &workloads {
        bench_gets(c, name, probes, &table, &map);
    }
}

criterion_group!(benches, memtable);
criterion_main!(benches);
