//! Range scans over tables, for profiling the scan path in isolation.
//!
//! Loads N entries (default 1M) of the seed's shape (16-byte keys, 100-byte
//! values) in key order with the default options, flushes and compacts,
//! then runs scans of 10,000 consecutive keys from random starts until
//! ROUNDS x N keys were visited (through `Iter::next_ref`, as the bench),
//! checking every key and value and each scan's count, and prints the rate and the block cache counters.
//!
//! `cargo run --release -p fractio --example scans [N] [ROUNDS]`; under
//! `perf record -g` the load phase is a small part of the profile with
//! ROUNDS of 5 or more. With `NOCHECK=1` the keys and values are not
//! compared (only the counts are): the example's own comparison (a key
//! formatted byte by byte, then loaded whole) took a fifth of the samples.

use rand::{Rng, SeedableRng};
use std::time::Instant;

const SCAN: u64 = 10_000;

fn key(i: u64) -> [u8; 16] {
    let mut key = *b"seqkkkk_00000000";
    let mut rest = i;
    for digit in key[8..].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    key
}

fn value(i: u64) -> [u8; 100] {
    let mut value = [b'v'; 100];
    value[..8].copy_from_slice(&i.to_le_bytes());
    value
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let dir = tempfile::tempdir().unwrap();
    let db = fractio::Db::open(dir.path()).unwrap();
    let started = Instant::now();
    for i in 0..n {
        db.insert(key(i), value(i)).unwrap();
    }
    db.flush().unwrap();
    db.compact().unwrap();
    println!("loaded {n} in {:.1} s", started.elapsed().as_secs_f64());
    let stats = db.stats();
    let (hits0, misses0) = (stats.block_cache_hits, stats.block_cache_misses);

    let check = std::env::var_os("NOCHECK").is_none();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let scans = (n * rounds).div_ceil(SCAN);
    let started = Instant::now();
    let mut visited = 0u64;
    for _ in 0..scans {
        let start = rng.gen_range(0..n - SCAN);
        let mut expect = start;
        let mut iter = db.range(key(start)..key(start + SCAN));
        while let Some(item) = iter.next_ref() {
            let (k, v) = item.unwrap();
            if check {
                assert_eq!(k, &key(expect)[..]);
                assert_eq!(v, &value(expect)[..]);
            } else {
                std::hint::black_box((k, v));
            }
            expect += 1;
        }
        assert_eq!(expect, start + SCAN);
        visited += SCAN;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = db.stats();
    println!(
        "scanned {visited} keys: {:.2} Mkeys/s; cache hits {} misses {}",
        visited as f64 / elapsed / 1e6,
        stats.block_cache_hits - hits0,
        stats.block_cache_misses - misses0,
    );
}
