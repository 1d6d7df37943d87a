//! Point reads from tables, for profiling the read path in isolation.
//!
//! Loads N entries (default 2M) of the seed's shape (16-byte keys, 100-byte
//! values) in random order with the default options, so most of them end
//! up in tables, compacts, then reads every key in another random order
//! (checking each value) and looks up as many absent keys, outside the
//! tables' key ranges and inside them, and prints the rates and the block
//! cache counters.
//!
//! `POINT_READS_CACHE_MIB` sets the block cache size, `POINT_READS_BLOCK`
//! the block size in bytes; `POINT_READS_NO_COMPACT` skips the final full
//! compaction, so reads meet the levels the background work left (several
//! L0 tables, as in the bench), and `POINT_READS_STATS` prints them.
//!
//! `cargo run --release -p fractio --example point_reads [N] [ROUNDS]`;
//! under `perf record -g` the load phase is a small part of the profile
//! with ROUNDS of 3 or more.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::time::Instant;

fn key(prefix: &[u8; 3], i: u64) -> [u8; 16] {
    let mut key = [b'k'; 16];
    let digits = format!("_{i}");
    key[16 - digits.len()..].copy_from_slice(digits.as_bytes());
    key[..3].copy_from_slice(prefix);
    key
}

fn value(i: u64) -> [u8; 100] {
    let mut value = [b'v'; 100];
    value[..8].copy_from_slice(&i.to_le_bytes());
    value
}

/// A bijection of `0..n` (the prime does not divide n).
fn permute(i: u64, n: u64, prime: u64) -> u64 {
    (i * prime) % n
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let rounds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let dir = tempfile::tempdir().unwrap();
    let mut builder = fractio::Db::builder(dir.path());
    if let Some(mib) = std::env::var("POINT_READS_CACHE_MIB")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    {
        builder = builder.block_cache_size(mib << 20);
    }
    if let Some(bytes) = std::env::var("POINT_READS_BLOCK")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    {
        builder = builder.with(|options| options.block_size = bytes);
    }
    let db = builder.open().unwrap();
    let started = Instant::now();
    for i in 0..n {
        let j = permute(i, n, 1_000_000_007);
        db.insert(key(b"rnd", j), value(j)).unwrap();
    }
    db.flush().unwrap();
    if std::env::var_os("POINT_READS_NO_COMPACT").is_none() {
        db.compact().unwrap();
    }
    println!("loaded {n} in {:.1} s", started.elapsed().as_secs_f64());
    let stats = db.stats();
    if std::env::var_os("POINT_READS_STATS").is_some() {
        println!("{stats:#?}");
    }
    let (hits0, misses0) = (stats.block_cache_hits, stats.block_cache_misses);

    // A real shuffle: a strided permutation has one fixed reuse distance
    // per block and defeats any cache.
    let mut order: Vec<u64> = (0..n).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(7));
    let started = Instant::now();
    for _ in 0..rounds {
        for &j in &order {
            let got = db.get(key(b"rnd", j)).unwrap().expect("present");
            assert_eq!(&got[..], &value(j)[..]);
        }
    }
    let present = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for _ in 0..rounds {
        for i in 0..n {
            assert!(db.get(key(b"abs", i)).unwrap().is_none());
            assert!(!db.contains_key(key(b"rne", i)).unwrap());
        }
    }
    let absent = started.elapsed().as_secs_f64();
    // Absent keys inside the tables' key ranges: only filters keep these
    // from reading blocks.
    let started = Instant::now();
    for _ in 0..rounds {
        for &j in &order {
            // The last digit replaced by ':' (just above '9'): between
            // stored keys.
            let mut absent = key(b"rnd", j);
            absent[15] = b':';
            assert!(db.get(absent).unwrap().is_none());
        }
    }
    let inside = started.elapsed().as_secs_f64();
    let stats = db.stats();
    println!(
        "present: {:.3} Mops/s; absent: {:.3} Mops/s, in range {:.3}; cache hits {} misses {}",
        (n * rounds) as f64 / present / 1e6,
        (2 * n * rounds) as f64 / absent / 1e6,
        (n * rounds) as f64 / inside / 1e6,
        stats.block_cache_hits - hits0,
        stats.block_cache_misses - misses0,
    );
}
