//! Leveled compaction, garbage collection, backpressure, `compact()` and
//! `stats()`, on real directories with small memtables and tables so that
//! many flushes and compactions happen in little time.
//!
//! The kill -9 test re-runs this binary as a child (as `tests/crash.rs`
//! does): the child overwrites and removes keys while compactions run,
//! reporting every acknowledged operation; the parent kills it, reopens
//! (with automatic compaction held off), checks every key against a
//! model, and checks that the directory holds exactly the tables the
//! manifest names. `FRACTIO_SOAK=1` runs the full sizes and more cycles.

use fractio::{Db, DbBuilder};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn soak() -> bool {
    std::env::var("FRACTIO_SOAK").is_ok()
}

/// Tiny memtables and tables, low level targets: compaction all the time.
fn small(dir: &Path) -> DbBuilder {
    Db::builder(dir).memtable_size(256 << 10).with(|o| {
        o.table_size = 256 << 10;
        o.l1_size = 1 << 20;
        o.level_size_multiplier = 4;
    })
}

/// Options that keep automatic compaction from starting: for inspecting a
/// directory exactly as `open` left it.
fn quiet(dir: &Path) -> Db {
    small(dir)
        .with(|o| {
            o.l0_compaction_trigger = 1000;
            o.l0_slowdown_trigger = 1001;
            o.l0_stop_trigger = 1002;
            o.l1_size = 1 << 50;
        })
        .open()
        .unwrap()
}

fn key(i: u64) -> Vec<u8> {
    format!("key{i:08}").into_bytes()
}

/// 100 incompressible bytes, different per key and round.
fn value(i: u64, round: u64) -> Vec<u8> {
    let mut state =
        i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ round.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (0..100)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Bytes of the `.sst` files in `dir`, and their count.
fn table_files(dir: &Path) -> (u64, usize) {
    let mut bytes = 0;
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().ends_with(".sst") {
            bytes += entry.metadata().unwrap().len();
            count += 1;
        }
    }
    (bytes, count)
}

/// The directory holds exactly the tables the version names: no orphan,
/// none missing (compared by count and total bytes). Background flushes
/// and compactions may be writing files meanwhile, so the listing counts
/// only when none ran before, during or after it (the stats, counters
/// included, are the same before and after, with nothing running and no
/// memtable waiting for a flush).
fn assert_no_orphans(db: &Db) {
    for _ in 0..200 {
        let before = db.stats();
        let listed = table_files(db.path());
        let after = db.stats();
        if before != after || after.running_compactions > 0 || after.sealed_memtables > 0 {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let live = (after.table_bytes(), after.table_files());
        assert_eq!(listed, live, "table (bytes, files) vs live tables\n{after}");
        for entry in std::fs::read_dir(db.path()).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().to_string();
            assert!(!name.ends_with(".tmp"), "leftover {name}");
        }
        return;
    }
    panic!("compaction never settled");
}

fn manifests(dir: &Path) -> Vec<(String, u64)> {
    let mut found: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("MANIFEST-"))
        .map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            (name, e.metadata().unwrap().len())
        })
        .collect();
    found.sort();
    found
}

/// Goal: the manifest does not grow without bound between opens. Method:
/// with a 4 KiB limit, run enough flushes and compactions to write many
/// times that in edits; the directory holds one manifest, a little over
/// the limit at most, `CURRENT` names it, and everything reads back after
/// a reopen.
#[test]
fn the_manifest_is_replaced_when_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        small(dir.path())
            .with(|o| o.max_manifest_size = 4 << 10)
            .open()
            .unwrap()
    };
    let db = open();
    let first = manifests(dir.path());
    let n = 20_000u64;
    for round in 0..3 {
        for i in 0..n {
            db.insert(key(i), value(i, round)).unwrap();
        }
        db.flush().unwrap();
    }
    db.compact().unwrap();
    let stats = db.stats();
    assert!(stats.flushes + stats.compactions >= 20, "{stats}");
    let now = manifests(dir.path());
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now, first, "the manifest was never replaced");
    assert!(now[0].1 < 16 << 10, "{now:?}");
    let current = std::fs::read_to_string(dir.path().join("CURRENT")).unwrap();
    assert_eq!(current.trim(), now[0].0);
    assert_no_orphans(&db);
    drop(db);
    let db = open();
    for i in 0..n {
        assert_eq!(db.get(key(i)).unwrap().as_deref(), Some(&value(i, 2)[..]));
    }
}

/// Goal: overwriting every key five times and compacting leaves about one
/// copy on disk. Method: write N keys × 5 rounds (shuffled order, new
/// 100-byte values each round), `compact()`, compare table bytes to the
/// bytes of one copy of the keys and values, and read everything back.
#[test]
fn overwrites_then_compact_leave_about_one_copy() {
    let keys: u64 = if soak() { 1_000_000 } else { 100_000 };
    let dir = tempfile::tempdir().unwrap();
    let db = small(dir.path()).open().unwrap();
    let mut order: Vec<u64> = (0..keys).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for round in 0..5 {
        order.shuffle(&mut rng);
        for &i in &order {
            db.insert(key(i), value(i, round)).unwrap();
        }
    }
    let before = db.stats();
    db.compact().unwrap();
    let stats = db.stats();
    let one_copy = keys * (key(0).len() as u64 + 100);
    let amplification = stats.table_bytes() as f64 / one_copy as f64;
    println!("before compact():\n{before}\nafter:\n{stats}");
    println!(
        "space amplification {amplification:.3} ({} / {one_copy})",
        stats.table_bytes()
    );
    assert!(
        amplification <= 1.3,
        "space amplification {amplification:.3}"
    );
    let nonempty = stats.levels.iter().filter(|l| l.files > 0).count();
    assert_eq!(nonempty, 1, "everything ends in one level\n{stats}");
    assert_no_orphans(&db);
    let mut count = 0;
    for item in db.iter() {
        let (k, v) = item.unwrap();
        let i: u64 = std::str::from_utf8(&k[3..]).unwrap().parse().unwrap();
        assert_eq!(v.as_ref(), value(i, 4).as_slice(), "key {i}");
        count += 1;
    }
    assert_eq!(count, keys);
}

/// Goal: compactions leave the block cache to readers: no block of a
/// table they read (about to be deleted) or write goes into it. Method:
/// write keys with no read and `compact()` them into a sorted level; hold
/// an iterator (which keeps the tables it saw, so their cached blocks
/// would stay); overwrite some keys and `compact()` again, which merges
/// them into the sorted level, reading it; the cache holds nothing. A read
/// then fills it.
#[test]
fn compactions_leave_the_block_cache_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = small(dir.path()).block_cache_size(64 << 20).open().unwrap();
    let mut order: Vec<u64> = (0..40_000).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for round in 0..2 {
        order.shuffle(&mut rng);
        for &i in &order {
            db.insert(key(i), value(i, round)).unwrap();
        }
    }
    db.compact().unwrap();
    let stats = db.stats();
    assert_eq!(stats.levels[0].files, 0, "{stats}");
    assert!(stats.levels[1..].iter().any(|l| l.files > 1), "{stats}");
    let pinned = db.iter();
    for i in (0..40_000).step_by(7) {
        db.insert(key(i), value(i, 2)).unwrap();
    }
    db.compact().unwrap();
    let stats = db.stats();
    assert_eq!(stats.block_cache_bytes, 0, "{stats}");
    drop(pinned);
    assert_eq!(db.get(key(7)).unwrap().as_deref(), Some(&value(7, 2)[..]));
    assert!(db.stats().block_cache_bytes > 0);
}

/// Goal: deleting every key and compacting leaves no table bytes. Method:
/// write, let compactions spread the data over levels, remove every key,
/// `compact()`, then look at the directory and reopen.
#[test]
fn deleting_every_key_then_compacting_leaves_no_tables() {
    let keys: u64 = if soak() { 1_000_000 } else { 50_000 };
    let dir = tempfile::tempdir().unwrap();
    let db = small(dir.path()).open().unwrap();
    for i in 0..keys {
        db.insert(key(i), value(i, 0)).unwrap();
    }
    db.flush().unwrap();
    for i in 0..keys {
        db.remove(key(i)).unwrap();
    }
    db.compact().unwrap();
    let stats = db.stats();
    println!("{stats}");
    assert_eq!(stats.table_bytes(), 0, "{stats}");
    assert_eq!(table_files(dir.path()), (0, 0));
    assert_eq!(db.iter().count(), 0);
    drop(db);
    let db = quiet(dir.path());
    assert_eq!(db.iter().count(), 0);
    assert_eq!(db.stats().table_bytes(), 0);
}

/// Goal: a snapshot taken before compactions reads exactly its view after
/// them, and once it is dropped `compact()` collects what it pinned.
/// Method: write v0, snapshot, overwrite half and remove a quarter,
/// snapshot again, compact; check both snapshots and the present with
/// `get` and scans; drop the snapshots, compact, check the bytes shrank.
#[test]
fn snapshots_taken_before_compaction_keep_their_view() {
    let keys = 20_000u64;
    let dir = tempfile::tempdir().unwrap();
    let db = small(dir.path()).open().unwrap();
    for i in 0..keys {
        db.insert(key(i), value(i, 0)).unwrap();
    }
    let first = db.snapshot();
    for i in 0..keys {
        match i % 4 {
            0 => db.remove(key(i)).unwrap(),
            1 => db.insert(key(i), value(i, 1)).unwrap(),
            _ => {}
        }
    }
    let second = db.snapshot();
    for i in (0..keys).step_by(2) {
        db.insert(key(i), value(i, 2)).unwrap();
    }
    db.compact().unwrap();
    let pinned = db.stats().table_bytes();

    let at_second = |i: u64| match i % 4 {
        0 => None,
        1 => Some(value(i, 1)),
        _ => Some(value(i, 0)),
    };
    let now = |i: u64| {
        if i % 2 == 0 {
            Some(value(i, 2))
        } else {
            at_second(i)
        }
    };
    for i in 0..keys {
        assert_eq!(
            first.get(key(i)).unwrap().unwrap(),
            value(i, 0),
            "first, key {i}"
        );
        assert_eq!(
            second.get(key(i)).unwrap().map(|v| v.to_vec()),
            at_second(i)
        );
        assert_eq!(db.get(key(i)).unwrap().map(|v| v.to_vec()), now(i));
    }
    assert_eq!(first.iter().count() as u64, keys);
    let expected: u64 = (0..keys).filter(|i| at_second(*i).is_some()).count() as u64;
    assert_eq!(second.iter().count() as u64, expected);
    for item in second.iter() {
        let (k, v) = item.unwrap();
        let i: u64 = std::str::from_utf8(&k[3..]).unwrap().parse().unwrap();
        assert_eq!(Some(v.to_vec()), at_second(i));
    }

    drop(first);
    drop(second);
    db.compact().unwrap();
    let stats = db.stats();
    let live = (0..keys).filter(|i| now(*i).is_some()).count() as u64;
    let one_copy = live * (key(0).len() as u64 + 100);
    println!(
        "pinned {pinned} bytes, then {} for {one_copy}",
        stats.table_bytes()
    );
    assert!(stats.table_bytes() < pinned);
    assert!(
        stats.table_bytes() as f64 <= one_copy as f64 * 1.3,
        "{stats}"
    );
    for i in 0..keys {
        assert_eq!(db.get(key(i)).unwrap().map(|v| v.to_vec()), now(i));
    }
}

/// Goal: background compaction under a random workload never changes an
/// answer. Method: random inserts and removes over a small key space,
/// mirrored in a `BTreeMap`; snapshots with a copy of the model taken now
/// and then; reads checked along the way; `compact()` at times; at the
/// end every snapshot and the present are compared entry by entry.
#[test]
fn random_operations_match_a_model_while_compacting() {
    let ops = if soak() { 400_000 } else { 60_000 };
    let dir = tempfile::tempdir().unwrap();
    let db = small(dir.path())
        .with(|o| o.table_size = 64 << 10)
        .open()
        .unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut snapshots = Vec::new();
    for op in 0..ops {
        let i = rng.gen_range(0..3000u64);
        if rng.gen_bool(0.3) {
            db.remove(key(i)).unwrap();
            model.remove(&key(i));
        } else {
            let v = value(i, op);
            let len = rng.gen_range(0..100);
            db.insert(key(i), &v[..len]).unwrap();
            model.insert(key(i), v[..len].to_vec());
        }
        if op % 5000 == 0 {
            snapshots.push((db.snapshot(), model.clone()));
            if snapshots.len() > 4 {
                snapshots.remove(0);
            }
        }
        if op % 20_000 == 10_000 {
            db.compact().unwrap();
        }
        if op % 1000 == 0 {
            let probe = key(rng.gen_range(0..3000u64));
            assert_eq!(
                db.get(&probe).unwrap().map(|v| v.to_vec()),
                model.get(&probe).cloned()
            );
        }
    }
    let entries = |iter: fractio::Iter| -> Vec<(Vec<u8>, Vec<u8>)> {
        iter.map(|item| {
            let (k, v) = item.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect()
    };
    let expected: Vec<_> = model.into_iter().collect();
    assert_eq!(entries(db.iter()), expected);
    assert_eq!(db.iter().rev().count(), expected.len());
    for (snapshot, model) in &snapshots {
        let expected: Vec<_> = model.clone().into_iter().collect();
        assert_eq!(entries(snapshot.iter()), expected);
    }
    let stats = db.stats();
    println!("{stats}");
    assert!(stats.compactions > 0);
    assert_no_orphans(&db);
}

/// Goal: `stats()` accounts for flush and compaction bytes and the shape.
/// Method: write enough for several levels, compact, check the counters'
/// relations (not exact values, which depend on timing).
#[test]
fn stats_report_levels_and_write_amplification() {
    let dir = tempfile::tempdir().unwrap();
    let db = small(dir.path()).open().unwrap();
    let fresh = db.stats();
    assert_eq!(fresh.levels.len(), fractio::LEVELS);
    assert_eq!((fresh.flushes, fresh.table_bytes()), (0, 0));
    assert_eq!(fresh.write_amplification(), 0.0);
    for round in 0..2 {
        for i in 0..30_000u64 {
            db.insert(key(i), value(i, round)).unwrap();
        }
    }
    db.compact().unwrap();
    let stats = db.stats();
    println!("{stats}");
    assert!(stats.flushes > 0 && stats.flush_bytes > 0);
    assert!(stats.compactions > 0 && stats.compaction_bytes_written > 0);
    assert!(stats.compaction_bytes_read >= stats.compaction_bytes_written / 2);
    assert!(stats.write_amplification() > 1.0);
    assert_eq!(
        stats.bytes_written(),
        stats.flush_bytes + stats.compaction_bytes_written
    );
    assert_eq!((stats.l0_tables(), stats.sealed_memtables), (0, 0));
    assert_eq!(stats.running_compactions, 0);
    assert!(stats.last_compaction_error.is_none());
    assert!(stats.levels.iter().skip(1).any(|l| l.files > 0));
    assert!(stats.to_string().contains("write amplification"));
    assert_no_orphans(&db);
}

/// Goal: writes slow down before they stop, and L0 stays bounded. Method:
/// with low L0 triggers, write flat out from two threads while sampling
/// the L0 count; then check that L0 never went far past the stop trigger
/// and that every write was applied.
#[test]
fn backpressure_bounds_l0_under_a_write_flood() {
    let dir = tempfile::tempdir().unwrap();
    let db = small(dir.path())
        .with(|o| {
            o.memtable_size = 64 << 10;
            o.table_size = 64 << 10;
            o.l0_compaction_trigger = 2;
            o.l0_slowdown_trigger = 3;
            o.l0_stop_trigger = 6;
        })
        .open()
        .unwrap();
    let per_thread = if soak() { 200_000 } else { 40_000 };
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (db, done) = (db.clone(), done.clone());
        std::thread::spawn(move || {
            let mut max_l0 = 0;
            while !done.load(Ordering::Relaxed) {
                max_l0 = max_l0.max(db.stats().l0_tables());
                std::thread::sleep(Duration::from_millis(1));
            }
            max_l0
        })
    };
    let writers: Vec<_> = (0..2u64)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut slowest = Duration::ZERO;
                for i in 0..per_thread {
                    let i = t * per_thread + i;
                    let started = Instant::now();
                    db.insert(key(i), value(i, 0)).unwrap();
                    slowest = slowest.max(started.elapsed());
                }
                slowest
            })
        })
        .collect();
    let slowest = writers.into_iter().map(|w| w.join().unwrap()).max();
    done.store(true, Ordering::Relaxed);
    let max_l0 = sampler.join().unwrap();
    let stats = db.stats();
    println!("max L0 {max_l0}, slowest write {slowest:?}\n{stats}");
    // Writes stop at 6; memtables sealed before that (2 at most) may still
    // be flushed on top.
    assert!(max_l0 <= 6 + 2, "L0 reached {max_l0}");
    db.compact().unwrap();
    assert_eq!(db.iter().count() as u64, 2 * per_thread);
}

/// Goal: a sustained random-write load the machine can sustain meets
/// gradual slowdowns, not long stalls; reports write amplification and
/// stall figures. Method: random 100-byte writes for a while (long under
/// `FRACTIO_SOAK`), timing every write.
#[test]
fn sustained_random_writes_report() {
    let (writes, memtable, table, l1) = if soak() {
        (5_000_000u64, 16 << 20, 8 << 20, 64 << 20)
    } else {
        (200_000, 256 << 10, 256 << 10, 1 << 20)
    };
    let dir = tempfile::tempdir().unwrap();
    let db = Db::builder(dir.path())
        .memtable_size(memtable)
        .with(|o| {
            o.table_size = table;
            o.l1_size = l1;
        })
        .open()
        .unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut slowest = Duration::ZERO;
    let mut over_100ms = 0;
    let started = Instant::now();
    for n in 0..writes {
        let i = rng.gen_range(0..writes);
        let t = Instant::now();
        db.insert(key(i), value(i, n)).unwrap();
        let took = t.elapsed();
        slowest = slowest.max(took);
        over_100ms += (took >= Duration::from_millis(100)) as u64;
    }
    let elapsed = started.elapsed();
    let stats = db.stats();
    println!(
        "{writes} random writes in {elapsed:?} ({:.0}/s), slowest {slowest:?}, \
         {over_100ms} writes >= 100 ms\n{stats}",
        writes as f64 / elapsed.as_secs_f64()
    );
    assert!(stats.compactions + stats.trivial_moves > 0);
    assert!(stats.write_amplification() >= 1.0);
}

// ---------------------------------------------------------------------------
// kill -9 during compaction

const CHILD_THREADS: u64 = 2;
const CHILD_KEYS: u64 = 3000;

fn child_key(t: u64, j: u64) -> Vec<u8> {
    format!("t{t}-{j:05}").into_bytes()
}

/// Operation `i` of thread `t` in `cycle`: the key it touches and the
/// value it leaves (`None`: a removal).
fn child_op(cycle: u64, t: u64, i: u64) -> (Vec<u8>, Option<Vec<u8>>) {
    let j = (i * 7919) % CHILD_KEYS;
    let value = (i % 5 != 4).then(|| {
        let mut v = format!("c{cycle}-t{t}-i{i}-").into_bytes();
        v.resize(80, b'x');
        v
    });
    (child_key(t, j), value)
}

fn child_options(dir: &Path) -> Db {
    small(dir)
        .with(|o| {
            o.memtable_size = 64 << 10;
            o.table_size = 64 << 10;
            o.l1_size = 256 << 10;
            o.l0_compaction_trigger = 2;
            // The manifest is replaced every few edits, kills included.
            o.max_manifest_size = 4 << 10;
        })
        .open()
        .unwrap()
}

/// The child: overwrites and removes keys until killed, printing each
/// acknowledged operation; a third thread calls `compact()` now and then.
#[test]
fn compaction_crash_child() {
    let Ok(dir) = std::env::var("FRACTIO_COMPACTION_CRASH_DIR") else {
        return; // run as an ordinary test: nothing to do
    };
    let cycle: u64 = std::env::var("FRACTIO_CRASH_CYCLE")
        .unwrap()
        .parse()
        .unwrap();
    let db = child_options(Path::new(&dir));
    let out = Arc::new(Mutex::new(std::io::stdout()));
    writeln!(out.lock().unwrap(), "ready").unwrap();
    {
        let db = db.clone();
        let out = out.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(150));
            db.compact().unwrap();
            let stats = db.stats();
            let mut out = out.lock().unwrap();
            writeln!(out, "compactions {}", stats.compactions).unwrap();
        });
    }
    let threads: Vec<_> = (0..CHILD_THREADS)
        .map(|t| {
            let db = db.clone();
            let out = out.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                for i in 0.. {
                    if started.elapsed() > Duration::from_secs(60) {
                        break; // never outlive a parent that died
                    }
                    match child_op(cycle, t, i) {
                        (key, Some(value)) => db.insert(key, value).unwrap(),
                        (key, None) => db.remove(key).unwrap(),
                    }
                    let mut out = out.lock().unwrap();
                    writeln!(out, "ack {t} {i}").unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn kill_during_compaction_loses_nothing_and_leaves_no_orphans() {
    let cycles = if soak() { 100 } else { 8 };
    let seed: u64 = std::env::var("FRACTIO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    println!("seed {seed} (FRACTIO_SEED={seed} reproduces the kill timing)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut compactions_seen = 0;
    for cycle in 0..cycles {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "compaction_crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("FRACTIO_COMPACTION_CRASH_DIR", dir.path())
            .env("FRACTIO_CRASH_CYCLE", cycle.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(rng.gen_range(300..1500)));
        child.kill().unwrap();
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        assert!(
            lines.iter().any(|l| l.ends_with("ready")),
            "cycle {cycle}: child never opened"
        );
        let mut acked = [0u64; CHILD_THREADS as usize];
        for line in &lines {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.as_slice() {
                ["ack", t, i] => {
                    let t: usize = t.parse().unwrap();
                    acked[t] = acked[t].max(i.parse::<u64>().unwrap() + 1);
                }
                ["compactions", n] => compactions_seen = compactions_seen.max(n.parse().unwrap()),
                _ => {}
            }
        }

        let db = quiet(dir.path());
        assert_no_orphans(&db);
        let present: BTreeMap<Vec<u8>, Vec<u8>> = db
            .iter()
            .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
            .collect();
        for t in 0..CHILD_THREADS {
            for i in 0..acked[t as usize] {
                match child_op(cycle, t, i) {
                    (key, Some(value)) => model.insert(key, value),
                    (key, None) => model.remove(&key),
                };
            }
            // The operation in flight may or may not have landed.
            let (key, value) = child_op(cycle, t, acked[t as usize]);
            let found = present.get(&key);
            if found != model.get(&key) {
                assert_eq!(found, value.as_ref(), "in-flight {key:?} (seed {seed})");
                match value {
                    Some(value) => model.insert(key, value),
                    None => model.remove(&key),
                };
            }
        }
        if present != model {
            let keys: std::collections::BTreeSet<_> = present.keys().chain(model.keys()).collect();
            let differing: Vec<_> = keys
                .into_iter()
                .filter(|k| present.get(*k) != model.get(*k))
                .take(5)
                .map(|k| {
                    let show =
                        |v: Option<&Vec<u8>>| v.map(|v| String::from_utf8_lossy(v).to_string());
                    (
                        String::from_utf8_lossy(k).to_string(),
                        show(present.get(k)),
                        show(model.get(k)),
                    )
                })
                .collect();
            panic!(
                "cycle {cycle}: (key, found, expected) {differing:?} acked {acked:?} (seed {seed})"
            );
        }
        drop(db);
    }
    println!("child reported up to {compactions_seen} compactions in a life");
    assert!(compactions_seen > 0, "the child never compacted");
}
