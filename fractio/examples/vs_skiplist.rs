//! Single-threaded insert and get through the whole engine (log on, default
//! durability) next to a bare `crossbeam_skiplist::SkipMap`, in one run,
//! with a memtable large enough to hold every entry: the seed's workload of
//! 1M keys of 16 bytes and values of 100 bytes.
//!
//! `cargo run --release -p fractio --example vs_skiplist [entries]`
//!
//! Prints Mops/s per workload and the ratio fractio / skiplist. Every read
//! is checked.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::time::Instant;

/// A key of the seed's shape: prefix, 'k' padding, `_i`, 16 bytes.
fn key(prefix: &str, i: u64) -> Vec<u8> {
    let suffix = format!("_{i}");
    let mut key = prefix.as_bytes().to_vec();
    key.resize(16 - suffix.len(), b'k');
    key.extend_from_slice(suffix.as_bytes());
    key
}

fn mops(n: usize, started: Instant) -> f64 {
    n as f64 / started.elapsed().as_secs_f64() / 1e6
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let seq: Vec<Vec<u8>> = (0..n as u64).map(|i| key("seq", i)).collect();
    let mut rnd: Vec<Vec<u8>> = (0..n as u64).map(|i| key("rnd", i)).collect();
    rnd.shuffle(&mut rand::rngs::StdRng::seed_from_u64(42));
    let value = vec![b'v'; 100];

    let dir = tempfile::tempdir().unwrap();
    let db = fractio::Db::builder(dir.path())
        .memtable_size(1 << 30)
        .open()
        .unwrap();
    let mut fractio = Vec::new();
    let t = Instant::now();
    for k in &seq {
        db.insert(k, &value).unwrap();
    }
    fractio.push(mops(n, t));
    let t = Instant::now();
    for k in &rnd {
        db.insert(k, &value).unwrap();
    }
    fractio.push(mops(n, t));
    let t = Instant::now();
    for k in &seq {
        assert_eq!(db.get(k).unwrap().unwrap(), value);
    }
    fractio.push(mops(n, t));
    let t = Instant::now();
    for k in &rnd {
        assert_eq!(db.get(k).unwrap().unwrap(), value);
    }
    fractio.push(mops(n, t));
    drop(db);

    let map = crossbeam_skiplist::SkipMap::new();
    let mut skiplist = Vec::new();
    let t = Instant::now();
    for k in &seq {
        map.insert(k.clone(), value.clone());
    }
    skiplist.push(mops(n, t));
    let t = Instant::now();
    for k in &rnd {
        map.insert(k.clone(), value.clone());
    }
    skiplist.push(mops(n, t));
    let t = Instant::now();
    for k in &seq {
        assert_eq!(map.get(k).unwrap().value(), &value);
    }
    skiplist.push(mops(n, t));
    let t = Instant::now();
    for k in &rnd {
        assert_eq!(map.get(k).unwrap().value(), &value);
    }
    skiplist.push(mops(n, t));

    println!("workload      fractio Mops/s  skiplist Mops/s  ratio");
    for (i, name) in ["seq insert", "rand insert", "seq get", "rand get"]
        .iter()
        .enumerate()
    {
        println!(
            "{name:<13} {:>14.2} {:>16.2} {:>6.2}",
            fractio[i],
            skiplist[i],
            fractio[i] / skiplist[i]
        );
    }
}
