//! Power loss and I/O errors, on the in-memory file system: what a write's
//! durability promised must survive, a failed log or manifest write must
//! turn the database read-only (reads still served) until it is reopened,
//! and a reopened database must hold exactly a prefix of the commit order.
//!
//! Method: a single writer applies seeded random writes (inserts, removes,
//! batches) to a `Db` on `MemFs`, wrapped in `FaultFs` when errors are
//! injected, while a `BTreeMap` oracle records each acknowledged write.
//! Power losses are `MemFs::crash_clone` (only synced bytes and durable
//! directory entries survive); the clone is reopened and compared with the
//! oracle. Seeds come from `FRACTIO_SEED` (printed; random by default);
//! `FRACTIO_SOAK=1` runs more cycles. Each test prints the faults it
//! injected.

use fractio::fs::fault::{Fault, Op};
use fractio::fs::{FaultFs, FileSystem, MemFs};
use fractio::{Db, Durability, Error, WriteBatch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;

const DIR: &str = "/db";

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

fn soak() -> bool {
    std::env::var_os("FRACTIO_SOAK").is_some()
}

fn seed(test: &str) -> u64 {
    let seed = std::env::var("FRACTIO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    println!("{test}: FRACTIO_SEED={seed}");
    seed
}

/// One write of the workload.
#[derive(Debug, Clone)]
enum Write {
    Insert(Vec<u8>, Vec<u8>),
    Remove(Vec<u8>),
    Batch(Vec<(Vec<u8>, Option<Vec<u8>>)>),
}

impl Write {
    fn random(rng: &mut StdRng, i: usize) -> Write {
        let key = |rng: &mut StdRng| format!("key{:04}", rng.gen_range(0..400)).into_bytes();
        // Values name the write that made them, so a stale or made-up value
        // cannot pass for the right one.
        let value = |rng: &mut StdRng, j: usize| {
            let mut value = format!("w{i}-{j}-").into_bytes();
            value.resize(value.len() + rng.gen_range(0..900), b'a' + (i % 26) as u8);
            value
        };
        match rng.gen_range(0..10) {
            0..=5 => Write::Insert(key(rng), value(rng, 0)),
            6 | 7 => Write::Remove(key(rng)),
            _ => Write::Batch(
                (0..rng.gen_range(1..8))
                    .map(|j| {
                        let v = rng.gen_bool(0.8).then(|| value(rng, j));
                        (key(rng), v)
                    })
                    .collect(),
            ),
        }
    }

    fn apply(&self, map: &mut Map) {
        match self {
            Write::Insert(k, v) => {
                map.insert(k.clone(), v.clone());
            }
            Write::Remove(k) => {
                map.remove(k);
            }
            Write::Batch(entries) => {
                for (k, v) in entries {
                    match v {
                        Some(v) => map.insert(k.clone(), v.clone()),
                        None => map.remove(k),
                    };
                }
            }
        }
    }

    fn perform(&self, db: &Db) -> fractio::Result<()> {
        match self {
            Write::Insert(k, v) => db.insert(k, v),
            Write::Remove(k) => db.remove(k),
            Write::Batch(entries) => {
                let mut batch = WriteBatch::new();
                for (k, v) in entries {
                    match v {
                        Some(v) => batch.insert(k, v),
                        None => batch.remove(k),
                    }
                }
                db.write(batch)
            }
        }
    }
}

/// Opens with 64 KiB memtables and compaction triggers small enough that
/// flushes and compactions run (and meet the faults) all the time.
fn open(fs: Arc<dyn FileSystem>, durability: Durability) -> fractio::Result<Db> {
    Db::builder(DIR)
        .fs(fs)
        .durability(durability)
        .memtable_size(64 << 10)
        .with(small_tree)
        .open()
}

fn small_tree(options: &mut fractio::Options) {
    options.l0_compaction_trigger = 2;
    options.l0_slowdown_trigger = 6;
    options.l0_stop_trigger = 12;
    options.l1_size = 256 << 10;
    options.level_size_multiplier = 4;
    options.table_size = 64 << 10;
}

fn contents(db: &Db) -> fractio::Result<Map> {
    db.iter()
        .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())))
        .collect()
}

/// Checks every key of `expected` (and a few absent ones) by point reads,
/// and the whole map by a scan.
fn assert_matches(db: &Db, expected: &Map, context: &str) {
    let found = contents(db).unwrap_or_else(|e| panic!("{context}: scan failed: {e}"));
    if &found != expected {
        let missing: Vec<_> = expected
            .keys()
            .filter(|k| found.get(*k) != expected.get(*k))
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .take(5)
            .collect();
        let extra: Vec<_> = found
            .keys()
            .filter(|k| !expected.contains_key(*k))
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .take(5)
            .collect();
        panic!(
            "{context}: {} keys expected, {} found; wrong or missing {missing:?}, extra {extra:?}",
            expected.len(),
            found.len()
        );
    }
    for (k, v) in expected {
        let got = db
            .get(k)
            .unwrap_or_else(|e| panic!("{context}: get failed: {e}"));
        assert_eq!(got.as_deref(), Some(v.as_slice()), "{context}: get");
    }
    for i in 0..400 {
        let key = format!("key{i:04}").into_bytes();
        if !expected.contains_key(&key) {
            assert_eq!(db.get(&key).unwrap(), None, "{context}: removed key");
        }
    }
}

/// The index `i` in `from..=to` such that the state after the first `i`
/// writes equals `found`.
fn matching_prefix(writes: &[Write], from: usize, to: usize, found: &Map) -> Option<usize> {
    let mut state = Map::new();
    for (i, write) in writes.iter().enumerate().take(to + 1) {
        if i >= from && &state == found {
            return Some(i);
        }
        if i < writes.len() {
            write.apply(&mut state);
        }
    }
    (to == writes.len() && &state == found).then_some(to)
}

/// `Sync` writes survive a power loss at any moment: during writes, during
/// background flushes, right after a flush deleted log segments. Method:
/// cycles of random writes on one file system, each ended by a crash clone
/// taken while the database is open; the clone must reopen to exactly the
/// acknowledged writes, and the next cycle continues on it.
#[test]
fn sync_writes_survive_power_loss() {
    let mut rng = StdRng::seed_from_u64(seed("sync_writes_survive_power_loss"));
    let cycles = if soak() { 1000 } else { 80 };
    let mut fs = MemFs::new();
    let mut oracle = Map::new();
    let mut writes_done = 0;
    for cycle in 0..cycles {
        let db = open(Arc::new(fs.clone()), Durability::Sync).unwrap();
        assert_matches(&db, &oracle, &format!("cycle {cycle} after reopen"));
        for _ in 0..rng.gen_range(0..300) {
            let write = Write::random(&mut rng, writes_done);
            write.perform(&db).unwrap();
            write.apply(&mut oracle);
            writes_done += 1;
            if rng.gen_bool(0.01) {
                db.flush().unwrap();
            }
        }
        fs = fs.crash_clone();
        drop(db);
    }
    println!("sync_writes_survive_power_loss: {cycles} power losses, {writes_done} writes");
}

/// `Sync` writes of concurrent threads, which share syncs (group commit),
/// survive a power loss taken while they run: every write acknowledged
/// before the crash clone was taken is in the reopened clone with its
/// value, and nothing is there that was never written. Method: threads
/// insert keys of their own (thread `t`, index `i`), each publishing how
/// many of its writes returned `Ok`; the main thread reads those counts,
/// then takes a crash clone, several times while the threads write (tiny
/// memtables, so segments roll and flushes run meanwhile). In every other
/// round a log sync takes 200 µs, as a disk's would, so writers wait for
/// one another and the sync leader gathers them (see `wal/writer.rs`).
#[test]
fn concurrent_sync_writes_survive_power_loss() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    const THREADS: usize = 4;
    const CLONES: usize = 6;
    let key = |t: usize, i: u64| format!("t{t}-{i:06}").into_bytes();
    let value = |t: usize, i: u64| {
        let mut value = format!("value of t{t}-{i}-").into_bytes();
        value.resize(60 + (i as usize * 7 + t) % 300, b'a' + t as u8);
        value
    };
    let rounds = if soak() { 100 } else { 8 };
    let mut checked = 0;
    for round in 0..rounds {
        let fs = MemFs::new();
        if round % 2 == 1 {
            fs.set_log_sync_latency(std::time::Duration::from_micros(200));
        }
        let db = open(Arc::new(fs.clone()), Durability::Sync).unwrap();
        let acked: Vec<AtomicU64> = (0..THREADS).map(|_| AtomicU64::new(0)).collect();
        let stop = AtomicBool::new(false);
        let clones = std::thread::scope(|scope| {
            for (t, acked) in acked.iter().enumerate() {
                let (db, stop) = (&db, &stop);
                scope.spawn(move || {
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        db.insert(key(t, i), value(t, i)).unwrap();
                        i += 1;
                        acked.store(i, Ordering::Release);
                    }
                });
            }
            let total = || acked.iter().map(|a| a.load(Ordering::Acquire)).sum::<u64>();
            let mut clones = Vec::new();
            for _ in 0..CLONES {
                let target = total() + 150;
                while total() < target {
                    std::thread::yield_now();
                }
                let before: Vec<u64> = acked.iter().map(|a| a.load(Ordering::Acquire)).collect();
                clones.push((before, fs.crash_clone()));
            }
            stop.store(true, Ordering::Relaxed);
            clones
        });
        let written: Vec<u64> = acked.iter().map(|a| a.load(Ordering::Acquire)).collect();
        drop(db);
        for (n, (before, clone)) in clones.into_iter().enumerate() {
            let context = format!("round {round}, clone {n} (acknowledged {before:?})");
            let db = open(Arc::new(clone), Durability::Sync).unwrap();
            let found = contents(&db).unwrap();
            for (t, &count) in before.iter().enumerate() {
                for i in 0..count {
                    let got = found.get(&key(t, i));
                    assert!(
                        got == Some(&value(t, i)),
                        "{context}: acknowledged write t{t}-{i} lost or wrong"
                    );
                    checked += 1;
                }
            }
            for (k, v) in &found {
                let name = String::from_utf8_lossy(k).into_owned();
                let (t, i) = name[1..]
                    .split_once('-')
                    .and_then(|(t, i)| Some((t.parse::<usize>().ok()?, i.parse::<u64>().ok()?)))
                    .unwrap_or_else(|| panic!("{context}: unknown key {name}"));
                assert!(
                    t < THREADS && i < written[t],
                    "{context}: never written: {name}"
                );
                assert!(v == &value(t, i), "{context}: wrong value for {name}");
            }
        }
    }
    println!("concurrent_sync_writes_survive_power_loss: {rounds} rounds, {checked} acknowledged writes checked");
}

/// With `Process` durability, everything before a successful `persist()`
/// survives a power loss; later writes may be lost, but the database
/// reopens to the state after some prefix of the writes (batches whole).
/// Method: random writes with random `persist()` calls, then a crash clone;
/// the recovered contents must equal the oracle after `i` writes for some
/// `i` at or after the last persist.
#[test]
fn persisted_writes_survive_and_the_rest_is_a_prefix() {
    let mut rng = StdRng::seed_from_u64(seed("persisted_writes_survive"));
    let cycles = if soak() { 1000 } else { 80 };
    let mut lost_total = 0;
    for cycle in 0..cycles {
        let fs = MemFs::new();
        let db = open(Arc::new(fs.clone()), Durability::Process).unwrap();
        let mut writes = Vec::new();
        let mut persisted = 0;
        for i in 0..rng.gen_range(1..600) {
            let write = Write::random(&mut rng, i);
            write.perform(&db).unwrap();
            writes.push(write);
            if rng.gen_bool(0.02) {
                db.persist().unwrap();
                persisted = writes.len();
            }
        }
        let crashed = fs.crash_clone();
        drop(db);
        let db = open(Arc::new(crashed), Durability::Process).unwrap();
        let found = contents(&db).unwrap();
        let prefix =
            matching_prefix(&writes, persisted, writes.len(), &found).unwrap_or_else(|| {
                panic!(
                    "cycle {cycle}: recovered state is no prefix of the {} writes \
                     at or after the {persisted} persisted",
                    writes.len()
                )
            });
        lost_total += writes.len() - prefix;
    }
    println!(
        "persisted_writes_survive: {cycles} power losses, {lost_total} unpersisted writes lost"
    );
}

/// A failing log write (EIO or ENOSPC, possibly after writing part of the
/// record) fails that write; the database then refuses writes with
/// `Error::ReadOnly` but serves every acknowledged write; reopened, it holds
/// them all and takes writes again. Method: for each error kind, a fault on
/// the n-th log write; then checks before and after reopening (the same
/// file system: the process restarted, no power loss).
#[test]
fn failed_log_write_makes_the_database_read_only() {
    let mut rng = StdRng::seed_from_u64(seed("failed_log_write"));
    let mut injected = 0;
    // Each fault fires after a random number of matching operations: log
    // writes are many, segment creations one per memtable.
    for (round, fault, skip) in [
        (0, Fault::on(Op::Write).files(".log"), 50..400),
        (1, Fault::on(Op::Write).files(".log").partial(), 50..400),
        (
            2,
            Fault::on(Op::Write).files(".log").no_space().partial(),
            50..400,
        ),
        (3, Fault::on(Op::Create).files(".log").no_space(), 0..3),
    ] {
        let mem = MemFs::new();
        let fs = FaultFs::new(Arc::new(mem.clone()));
        let db = open(Arc::new(fs.clone()), Durability::Process).unwrap();
        fs.inject(fault.after(rng.gen_range(skip)).once());
        let mut oracle = Map::new();
        let mut i = 0;
        let failed = loop {
            let write = Write::random(&mut rng, i);
            i += 1;
            match write.perform(&db) {
                Ok(()) => write.apply(&mut oracle),
                Err(error) => break (write, error),
            }
            assert!(i < 5000, "round {round}: the fault never fired");
        };
        println!("round {round}: failed with {}", failed.1);
        match &failed.1 {
            Error::Io(e) if round >= 2 => {
                assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "round {round}")
            }
            Error::Io(_) => {}
            other => panic!("round {round}: the failing write returned {other}"),
        }
        assert_read_only(&db, &oracle, &format!("round {round}"));
        injected += fs.total_injected();
        drop(db);

        let db = open(Arc::new(mem), Durability::Process).unwrap();
        assert_one_of(&db, &oracle, &failed.0, &format!("round {round} reopened"));
        db.insert("after", "reopen").unwrap();
    }
    println!("failed_log_write: {injected} faults injected");
}

/// After a failure: every write is refused with `ReadOnly`, reads serve the
/// acknowledged writes.
fn assert_read_only(db: &Db, oracle: &Map, context: &str) {
    for write in [
        Write::Insert(b"k".to_vec(), b"v".to_vec()),
        Write::Remove(b"key0001".to_vec()),
        Write::Batch(vec![(b"k".to_vec(), None)]),
    ] {
        match write.perform(db) {
            Err(Error::ReadOnly(_)) => {}
            other => panic!("{context}: a write after the failure returned {other:?}"),
        }
    }
    assert_matches(db, oracle, context);
}

/// The database holds the acknowledged writes, plus possibly the one whose
/// call failed (it may have reached the disk before the error).
fn assert_one_of(db: &Db, acked: &Map, uncertain: &Write, context: &str) {
    let found = contents(db).unwrap();
    if &found == acked {
        assert_matches(db, acked, context);
        return;
    }
    let mut with_failed = acked.clone();
    uncertain.apply(&mut with_failed);
    assert_matches(
        db,
        &with_failed,
        &format!("{context} (with the failed write)"),
    );
}

/// A failing log sync under `Durability::Sync` fails the write and turns
/// the database read-only; after a power loss, every write acknowledged
/// before is there. Same for `persist()` under `Process` durability.
#[test]
fn failed_log_sync_loses_nothing_acknowledged() {
    let mut rng = StdRng::seed_from_u64(seed("failed_log_sync"));
    let mut injected = 0;
    for durability in [Durability::Sync, Durability::Process] {
        for _ in 0..4 {
            let mem = MemFs::new();
            let fs = FaultFs::new(Arc::new(mem.clone()));
            let db = open(Arc::new(fs.clone()), durability).unwrap();
            fs.inject(
                Fault::on(Op::Sync)
                    .files(".log")
                    .after(rng.gen_range(0..300))
                    .once(),
            );
            let mut oracle = Map::new();
            let mut writes = Vec::new();
            let mut persisted = 0;
            let mut acked = 0;
            let mut i = 0;
            let failure = loop {
                let write = Write::random(&mut rng, i);
                i += 1;
                if let Err(error) = write.perform(&db) {
                    writes.push(write);
                    break error;
                }
                write.apply(&mut oracle);
                writes.push(write);
                acked = writes.len();
                if durability == Durability::Process && rng.gen_bool(0.05) {
                    match db.persist() {
                        Ok(()) => persisted = writes.len(),
                        Err(error) => break error,
                    }
                }
                assert!(i < 20_000, "the fault never fired");
            };
            println!("{durability:?}: failed with {failure}");
            // The failing call reports the I/O error itself; later calls are
            // refused.
            assert!(matches!(failure, Error::Io(_)), "{failure}");
            injected += fs.total_injected();
            let visible = contents(&db).unwrap();
            assert!(
                visible == oracle || durability == Durability::Sync,
                "a Process write that returned Ok is not visible"
            );
            assert!(matches!(db.insert("x", "y"), Err(Error::ReadOnly(_))));
            let crashed = mem.crash_clone();
            drop(db);
            let db = open(Arc::new(crashed), durability).unwrap();
            let found = contents(&db).unwrap();
            let from = match durability {
                Durability::Sync => acked,
                Durability::Process => persisted,
            };
            assert!(
                matching_prefix(&writes, from, writes.len(), &found).is_some(),
                "{durability:?}: lost writes acknowledged as durable (from {from} of {})",
                writes.len()
            );
        }
    }
    println!("failed_log_sync: {injected} faults injected");
}

/// A failing table write (EIO or ENOSPC) or manifest write or sync during
/// a flush: `flush()` fails, writes are refused, reads serve everything;
/// after a restart (and after a power loss, for `Sync` writes) nothing
/// acknowledged is lost and no orphan table is left behind.
#[test]
fn failed_flush_loses_nothing() {
    let mut rng = StdRng::seed_from_u64(seed("failed_flush"));
    let mut injected = 0;
    // Whether the contract requires the database to refuse writes after the
    // fault (a failed manifest write), or lets it choose (a table can be
    // written again later: the log still holds its data).
    let faults = [
        ("table write", false, Fault::on(Op::Write).files(".sst")),
        (
            "table write ENOSPC",
            false,
            Fault::on(Op::Write).files(".sst").no_space().partial(),
        ),
        ("table sync", false, Fault::on(Op::Sync).files(".sst")),
        ("table create", false, Fault::on(Op::Create).files(".sst")),
        (
            "manifest write",
            true,
            Fault::on(Op::Write).files("MANIFEST-").partial(),
        ),
        (
            "manifest sync",
            true,
            Fault::on(Op::Sync).files("MANIFEST-"),
        ),
        ("directory sync", false, Fault::on(Op::SyncDir)),
    ];
    for (what, must_refuse, fault) in faults {
        for power_loss in [false, true] {
            let mem = MemFs::new();
            let fs = FaultFs::new(Arc::new(mem.clone()));
            let db = open(Arc::new(fs.clone()), Durability::Sync).unwrap();
            let mut oracle = Map::new();
            for i in 0..rng.gen_range(0..200) {
                let write = Write::random(&mut rng, i);
                write.perform(&db).unwrap();
                write.apply(&mut oracle);
            }
            fs.inject(fault.clone().once());
            let mut i = 1000;
            let mut last_failed = None;
            // Write until a flush fails under the writer, or flush by hand.
            while fs.total_injected() == 0 && i < 1300 {
                let write = Write::random(&mut rng, i);
                i += 1;
                match write.perform(&db) {
                    Ok(()) => write.apply(&mut oracle),
                    Err(_) => {
                        last_failed = Some(write);
                        break;
                    }
                }
            }
            let flushed = db.flush();
            assert_eq!(fs.total_injected(), 1, "{what}: the fault never fired");
            injected += 1;
            // The writer may not have noticed yet; it must within a moment.
            let refused = (0..100).any(|_| {
                std::thread::sleep(std::time::Duration::from_millis(5));
                matches!(db.insert("k", "v"), Err(Error::ReadOnly(_)))
            });
            if must_refuse {
                assert!(
                    flushed.is_err() || last_failed.is_some(),
                    "{what}: the failed flush went unreported"
                );
                assert!(
                    refused,
                    "{what}: writes still accepted after a failed flush"
                );
            }
            // `k` may have been written before the flag was seen.
            let k_written = db.get("k").unwrap().is_some();
            let mut expected = oracle.clone();
            if k_written {
                expected.insert(b"k".to_vec(), b"v".to_vec());
            }
            let context = format!("{what}, power loss {power_loss}");
            match &last_failed {
                Some(write) => assert_one_of(&db, &expected, write, &context),
                None => assert_matches(&db, &expected, &context),
            }
            let reopened_fs = if power_loss {
                mem.crash_clone()
            } else {
                mem.clone()
            };
            drop(db);
            let db = open(Arc::new(reopened_fs.clone()), Durability::Sync).unwrap();
            match &last_failed {
                Some(write) => assert_one_of(&db, &expected, write, &context),
                None => assert_matches(&db, &expected, &context),
            }
            assert_no_orphans(&reopened_fs, &db, &context);
        }
    }
    println!("failed_flush: {injected} faults injected");
}

/// After reopening and flushing, what a failed flush left behind is gone:
/// one manifest, no temporary file, no log segment but the live ones.
fn assert_no_orphans(fs: &MemFs, db: &Db, context: &str) {
    db.flush().unwrap();
    let names: Vec<String> = fs
        .files()
        .iter()
        .filter_map(|p| Some(p.file_name()?.to_str()?.to_owned()))
        .collect();
    let count = |f: &dyn Fn(&str) -> bool| names.iter().filter(|n| f(n)).count();
    assert!(count(&|n| n.ends_with(".log")) <= 2, "{context}: {names:?}");
    assert_eq!(
        count(&|n| n.starts_with("MANIFEST-")),
        1,
        "{context}: {names:?}"
    );
    assert_eq!(count(&|n| n.ends_with(".tmp")), 0, "{context}: {names:?}");
}

/// Failing renames, creations and directory syncs while opening: `open`
/// fails, nothing is lost, and the next `open` (or one after a power loss)
/// succeeds with every write.
#[test]
fn failed_open_steps_leave_the_database_openable() {
    let mut rng = StdRng::seed_from_u64(seed("failed_open_steps"));
    let mut injected = 0;
    for fault in [
        Fault::on(Op::Rename),
        Fault::on(Op::Create).files("CURRENT.tmp"),
        Fault::on(Op::Create).files("MANIFEST-"),
        Fault::on(Op::Create).files(".log").no_space(),
        Fault::on(Op::Create).files(".sst").no_space(),
        Fault::on(Op::SyncDir),
        Fault::on(Op::Sync).files("MANIFEST-"),
        Fault::on(Op::Read).files(".log"),
        Fault::on(Op::Read).files("MANIFEST-"),
        Fault::on(Op::Remove),
        Fault::on(Op::List),
    ] {
        let mem = MemFs::new();
        let mut oracle = Map::new();
        {
            let db = open(Arc::new(mem.clone()), Durability::Sync).unwrap();
            for i in 0..rng.gen_range(1..400) {
                let write = Write::random(&mut rng, i);
                write.perform(&db).unwrap();
                write.apply(&mut oracle);
            }
        }
        let fs = FaultFs::new(Arc::new(mem.clone()));
        fs.inject(fault.clone());
        let result = open(Arc::new(fs.clone()), Durability::Sync);
        injected += fs.total_injected();
        match result {
            Err(error) => {
                assert!(
                    fs.total_injected() > 0,
                    "{fault:?}: failed without a fault: {error}"
                );
            }
            Ok(db) => {
                // Some steps may fail harmlessly (a leftover not deleted).
                assert_matches(
                    &db,
                    &oracle,
                    &format!("{fault:?}: opened despite the fault"),
                );
            }
        }
        for (how, reopen_fs) in [("after a power loss", mem.crash_clone()), ("", mem.clone())] {
            let files = reopen_fs.files();
            let db = open(Arc::new(reopen_fs), Durability::Sync).unwrap();
            let context = format!(
                "{fault:?}: reopened {how} (files {files:?}, {:?})",
                db.recovery_report()
            );
            assert_matches(&db, &oracle, &context);
        }
    }
    println!("failed_open_steps: {injected} faults injected");
}

/// Read errors on tables surface as errors, never as wrong or missing
/// values. Method: data flushed to tables, then reads with a 5% chance of
/// `EIO` per table read; every answer that is `Ok` must be right.
#[test]
fn read_errors_never_return_wrong_values() {
    let mut rng = StdRng::seed_from_u64(seed("read_errors"));
    let mem = MemFs::new();
    let fs = FaultFs::new(Arc::new(mem.clone()));
    let db = Db::builder(DIR)
        .fs(Arc::new(fs.clone()))
        .memtable_size(64 << 10)
        .block_cache_size(64 << 10)
        .open()
        .unwrap();
    let mut oracle = Map::new();
    for i in 0..1500 {
        let write = Write::random(&mut rng, i);
        write.perform(&db).unwrap();
        write.apply(&mut oracle);
    }
    db.flush().unwrap();
    fs.inject(
        Fault::on(Op::Read)
            .files(".sst")
            .probability(0.05, rng.gen()),
    );
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..3000 {
        let key = format!("key{:04}", rng.gen_range(0..400)).into_bytes();
        match db.get(&key) {
            Ok(value) => {
                assert_eq!(value.as_deref(), oracle.get(&key).map(Vec::as_slice));
                ok += 1;
            }
            Err(Error::Io(_)) => failed += 1,
            Err(other) => panic!("a read error became {other}"),
        }
    }
    for _ in 0..40 {
        let mut expected = oracle.iter();
        let mut complete = true;
        for item in db.iter() {
            match item {
                Ok((k, v)) => {
                    let (ek, ev) = expected.next().expect("a key that does not exist");
                    assert_eq!((k.as_ref(), v.as_ref()), (ek.as_slice(), ev.as_slice()));
                }
                Err(Error::Io(_)) => {
                    failed += 1;
                    complete = false;
                    break;
                }
                Err(other) => panic!("a read error became {other}"),
            }
        }
        // A scan that ended without an error visited every key.
        assert!(
            !complete || expected.next().is_none(),
            "a scan skipped keys"
        );
    }
    assert!(failed > 0 && ok > 0, "ok {ok}, failed {failed}");
    println!(
        "read_errors: {} faults injected over {} table reads; {ok} gets answered",
        fs.injected(Op::Read),
        fs.ops(Op::Read)
    );
    // Writes are unaffected by read errors.
    db.insert("still", "writable").unwrap();
}

/// A device that dies after `n` operations, at every `n` through a run of
/// writes, flushes and a reopen, followed by a power loss: the database
/// must reopen with every `Sync` write acknowledged before the failure
/// (and possibly the one that failed), never a hang, never a panic.
/// Compactions run in the background and by `compact()`.
/// Method: count the operations of a fault-free run, then rerun it with
/// `Fault::any().after(n)` for every `n`, crash-clone, reopen, compare.
/// Two workloads (twenty with `FRACTIO_SOAK`).
#[test]
fn a_dying_device_at_every_point_loses_nothing_acknowledged() {
    let base = seed("dying_device");
    let workloads = if soak() { 20 } else { 2 };
    let mut injected = 0;
    let mut points = 0;
    for workload in 0..workloads {
        let seed = base.wrapping_add(workload);
        let counting = FaultFs::new(Arc::new(MemFs::new()));
        dying_device_run(seed, &counting);
        let total: u64 = Op::ALL.iter().map(|&op| counting.ops(op)).sum();
        for n in 0..total {
            let mem = MemFs::new();
            let fs = FaultFs::new(Arc::new(mem.clone()));
            fs.inject(Fault::any().after(n));
            let (writes, acked) = dying_device_run(seed, &fs);
            injected += fs.total_injected();
            points += 1;
            let context = format!("seed {seed}: device died after {n} of {total} ops");
            let db = open(Arc::new(mem.crash_clone()), Durability::Sync)
                .unwrap_or_else(|e| panic!("{context}: reopen failed: {e}"));
            let found = contents(&db).unwrap();
            assert!(
                matching_prefix(&writes, acked, writes.len(), &found).is_some(),
                "{context}: acknowledged writes lost ({acked} acked)"
            );
        }
    }
    println!("dying_device: {points} crash points, {injected} faults injected");
}

/// Two sessions of `Sync` writes (a flush and a full compaction between
/// them) until the first failure; returns the writes tried and how many
/// were acknowledged.
fn dying_device_run(seed: u64, fs: &FaultFs) -> (Vec<Write>, usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut writes = Vec::new();
    let mut acked = 0;
    for session in 0..2 {
        let Ok(db) = open(Arc::new(fs.clone()), Durability::Sync) else {
            break;
        };
        for _ in 0..150 {
            let write = Write::random(&mut rng, writes.len());
            let result = write.perform(&db);
            writes.push(write);
            if result.is_err() {
                return (writes, acked);
            }
            acked = writes.len();
        }
        if session == 0 && (db.flush().is_err() || db.compact().is_err()) {
            break;
        }
    }
    (writes, acked)
}

/// Faults of every kind at random while a workload runs and reopens:
/// whatever fails, a reopen after a power loss keeps every acknowledged
/// `Sync` write. Method: 0.3% of all operations fail (EIO or ENOSPC, some
/// partial); after each failure the database is reopened on a crash clone.
#[test]
fn random_fault_storm_loses_nothing_acknowledged() {
    let seed = seed("fault_storm");
    let mut rng = StdRng::seed_from_u64(seed);
    let sessions = if soak() { 2000 } else { 150 };
    let mut mem = MemFs::new();
    let mut oracle = Map::new();
    let mut injected = 0;
    let mut failures = 0;
    for session in 0..sessions {
        let fs = FaultFs::new(Arc::new(mem.clone()));
        fs.inject(Fault::any().partial().probability(0.002, rng.gen()));
        fs.inject(
            Fault::on(Op::Write)
                .no_space()
                .probability(0.002, rng.gen()),
        );
        let db = match open(Arc::new(fs.clone()), Durability::Sync) {
            Ok(db) => db,
            Err(_) => {
                injected += fs.total_injected();
                failures += 1;
                mem = mem.crash_clone();
                continue;
            }
        };
        let mut uncertain = None;
        for i in 0..rng.gen_range(0..200) {
            let write = Write::random(&mut rng, session * 1000 + i);
            match write.perform(&db) {
                Ok(()) => write.apply(&mut oracle),
                Err(_) => {
                    uncertain = Some(write);
                    break;
                }
            }
        }
        injected += fs.total_injected();
        let crashed = mem.crash_clone();
        drop(db);
        fs.clear();
        let db = open(Arc::new(crashed.clone()), Durability::Sync)
            .unwrap_or_else(|e| panic!("session {session}: reopen failed: {e}"));
        if let Some(write) = uncertain {
            failures += 1;
            let found = contents(&db).unwrap();
            if found != oracle {
                write.apply(&mut oracle);
            }
        }
        assert_matches(&db, &oracle, &format!("session {session}"));
        drop(db);
        mem = crashed;
    }
    assert!(injected > 0, "no fault was injected");
    println!("fault_storm: {sessions} sessions, {failures} failed, {injected} faults injected");
}

/// Found by this test: a power loss during writeback can keep any subset
/// of the unsynced pages of a log segment (the kernel writes the dirty pages
/// of a mapping back in any order), so a later record may survive while an
/// earlier one is lost. With `Process` durability those writes were never
/// promised to survive, but the database must still reopen, to a prefix of
/// the commit order at or after the last `persist()`. The log reader takes
/// the hole for corruption (a bad record with a valid one after it), and a
/// strict open refuses the database. Method: like
/// `persisted_writes_survive_and_the_rest_is_a_prefix`, with
/// `MemFs::crash_clone_torn`; a refused open is retried with
/// `RecoveryMode::Salvage` (which must give a prefix) and counted.
#[test]
fn regression_power_loss_with_out_of_order_writeback_reopens() {
    let mut rng = StdRng::seed_from_u64(seed("torn_power_loss"));
    let cycles = if soak() { 1000 } else { 80 };
    let mut refused = Vec::new();
    for cycle in 0..cycles {
        let fs = MemFs::new();
        let db = open(Arc::new(fs.clone()), Durability::Process).unwrap();
        let mut writes = Vec::new();
        let mut persisted = 0;
        for i in 0..rng.gen_range(1..600) {
            let write = Write::random(&mut rng, i);
            write.perform(&db).unwrap();
            writes.push(write);
            if rng.gen_bool(0.02) {
                db.persist().unwrap();
                persisted = writes.len();
            }
        }
        let crashed = fs.crash_clone_torn(rng.gen());
        drop(db);
        let db = match open(Arc::new(crashed.clone()), Durability::Process) {
            Ok(db) => db,
            Err(error) => {
                refused.push(format!("cycle {cycle}: {error}"));
                Db::builder(DIR)
                    .fs(Arc::new(crashed))
                    .memtable_size(64 << 10)
                    .recovery(fractio::RecoveryMode::Salvage)
                    .open()
                    .unwrap()
            }
        };
        let found = contents(&db).unwrap();
        assert!(
            matching_prefix(&writes, persisted, writes.len(), &found).is_some(),
            "cycle {cycle}: recovered state is no prefix at or after the {persisted} persisted"
        );
    }
    assert!(
        refused.is_empty(),
        "{} of {cycles} power losses left a database that opens only with \
         RecoveryMode::Salvage:\n{}",
        refused.len(),
        refused.join("\n")
    );
}

/// Found by `failed_open_steps_leave_the_database_openable`: the flush
/// thread read the sealed memtables (to find the first log segment still
/// needed) from one super version, then the active memtable's first
/// segment under the commit lock — after a writer had sealed another
/// memtable in between. The manifest's log number then skipped the segment
/// of the newly sealed memtable, which was deleted; closing before that
/// memtable was flushed lost its writes (acknowledged `Sync` writes, after
/// a clean close, no crash). Method: bursts of writes through tiny
/// memtables, a clean close, a reopen; every write must be there.
#[test]
fn regression_flush_log_number_skips_a_newly_sealed_memtable() {
    let mut rng = StdRng::seed_from_u64(seed("regression_flush_log_number"));
    for round in 0..40 {
        let mem = MemFs::new();
        let mut oracle = Map::new();
        {
            let db = open(Arc::new(mem.clone()), Durability::Sync).unwrap();
            for i in 0..rng.gen_range(100..500) {
                let write = Write::random(&mut rng, i);
                write.perform(&db).unwrap();
                write.apply(&mut oracle);
            }
        }
        let db = open(Arc::new(mem), Durability::Sync).unwrap();
        assert_matches(&db, &oracle, &format!("round {round}, after a clean close"));
    }
}

/// `Sync` writers in several threads share log syncs (group commit); a
/// power loss at any moment must keep every write acknowledged before it,
/// whichever thread's sync covered it, and batches whole. Method: four
/// threads write unique keys (singles and batches) and publish each
/// acknowledgement; the main thread takes crash clones while they run and
/// checks each against the acknowledgements published before it. In every
/// other round a log sync takes 200 µs, so the writers' syncs are shared.
#[test]
fn concurrent_sync_writers_survive_power_loss() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;
    let mut rng = StdRng::seed_from_u64(seed("concurrent_sync_writers"));
    let rounds = if soak() { 100 } else { 10 };
    let mut checked = 0;
    for round in 0..rounds {
        let fs = MemFs::new();
        if round % 2 == 1 {
            fs.set_log_sync_latency(std::time::Duration::from_micros(200));
        }
        let db = open(Arc::new(fs.clone()), Durability::Sync).unwrap();
        let acked: Arc<Mutex<Vec<Vec<Vec<u8>>>>> = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let (db, acked, stop) = (db.clone(), acked.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) && i < 3000 {
                        let keys: Vec<Vec<u8>> = (0..if i % 3 == 0 { 4 } else { 1 })
                            .map(|j| format!("r{round}-t{t}-{i}-{j}").into_bytes())
                            .collect();
                        let mut batch = WriteBatch::new();
                        for key in &keys {
                            batch.insert(key, [b'v'; 200]);
                        }
                        db.write(batch).unwrap();
                        acked.lock().unwrap().push(keys);
                        i += 1;
                    }
                })
            })
            .collect();
        let mut clones = Vec::new();
        for _ in 0..3 {
            std::thread::sleep(std::time::Duration::from_millis(rng.gen_range(1..30)));
            let before = acked.lock().unwrap().len();
            clones.push((before, fs.crash_clone()));
        }
        stop.store(true, Ordering::Relaxed);
        for writer in writers {
            writer.join().unwrap();
        }
        drop(db);
        let acked = acked.lock().unwrap();
        for (before, crashed) in clones {
            let db = open(Arc::new(crashed), Durability::Sync).unwrap();
            let found = contents(&db).unwrap();
            for keys in &acked[..before] {
                for key in keys {
                    assert!(
                        found.contains_key(key),
                        "round {round}: acknowledged {} lost",
                        String::from_utf8_lossy(key)
                    );
                }
            }
            for keys in acked.iter() {
                let present = keys.iter().filter(|k| found.contains_key(*k)).count();
                assert!(
                    present == 0 || present == keys.len(),
                    "round {round}: torn batch"
                );
            }
            checked += 1;
        }
    }
    println!("concurrent_sync_writers: {checked} power losses under 4 writers");
}

/// Runs `f` in a thread and waits at most `seconds` for it: a hang (a
/// deadlock, a wait for a thread that died) fails the test instead of
/// stalling the suite. The thread is left behind when it hangs.
fn within<T: Send + 'static>(
    seconds: u64,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(f());
    });
    wait.recv_timeout(std::time::Duration::from_secs(seconds))
        .unwrap_or_else(|_| panic!("{what} did not return within {seconds} s"))
}

/// A compaction whose table write, table sync, table creation or table
/// read fails must lose nothing: `compact()` reports the error (or the
/// background compaction counts it and retries), every acknowledged write
/// stays readable, and a reopen — after a restart or a power loss — holds
/// them all and compacts cleanly. Method: data spread over several flushed
/// tables, then one fault armed and `compact()`.
#[test]
fn failed_compaction_loses_nothing() {
    let mut rng = StdRng::seed_from_u64(seed("failed_compaction"));
    let mut injected = 0;
    let faults = [
        Fault::on(Op::Write).files(".sst").partial(),
        Fault::on(Op::Write).files(".sst").no_space(),
        Fault::on(Op::Sync).files(".sst"),
        Fault::on(Op::Create).files(".sst"),
        Fault::on(Op::Read).files(".sst"),
    ];
    let rounds = if soak() { 20 } else { 3 };
    for fault in faults {
        for round in 0..rounds * 2 {
            let power_loss = round % 2 == 1;
            let (mem, oracle, fs) = compacted_database(&mut rng, fault.clone());
            injected += fs.total_injected();
            let context = format!("{fault:?}, power loss {power_loss}");
            let reopened = if power_loss { mem.crash_clone() } else { mem };
            let db = open(Arc::new(reopened), Durability::Sync)
                .unwrap_or_else(|e| panic!("{context}: reopen failed: {e}"));
            assert_matches(&db, &oracle, &format!("{context}, reopened"));
            let compacting = db.clone();
            within(60, "compact() after reopen", move || compacting.compact()).unwrap();
            assert_matches(&db, &oracle, &format!("{context}, compacted after reopen"));
        }
    }
    println!("failed_compaction: {injected} faults injected");
}

/// A database of a few hundred `Sync` writes over several flushed tables,
/// compacted with `fault` armed once; checks that reads serve everything
/// afterwards and closes it. Returns its file system, contents and the
/// fault-injecting wrapper (for the counts).
fn compacted_database(rng: &mut StdRng, fault: Fault) -> (MemFs, Map, FaultFs) {
    let mem = MemFs::new();
    let fs = FaultFs::new(Arc::new(mem.clone()));
    let db = open(Arc::new(fs.clone()), Durability::Sync).unwrap();
    let mut oracle = Map::new();
    for i in 0..rng.gen_range(300..900) {
        let write = Write::random(rng, i);
        write.perform(&db).unwrap();
        write.apply(&mut oracle);
    }
    db.flush().unwrap();
    fs.inject(fault.clone().once());
    let compacting = db.clone();
    let compacted = within(60, "compact()", move || compacting.compact());
    // A fault the compaction did not meet must not hit the reads below.
    fs.clear();
    // Reads still serve everything (after a failed manifest write the
    // database may refuse writes: that is allowed).
    assert_matches(
        &db,
        &oracle,
        &format!("{fault:?}: compact returned {compacted:?}"),
    );
    (mem, oracle, fs)
}

/// Found by `failed_compaction_loses_nothing`: after a manifest append
/// failed (a partial record) or its sync failed, compactions — the manual
/// one, and automatic ones already running — went on appending edits to
/// the same manifest. An edit then followed a torn record (the next open
/// fails with "manifest record checksum mismatch": the database no longer
/// opens) or an edit the engine believed failed but that was in the file
/// (the next open replays both: tables deleted twice, overlapping levels,
/// writes silently lost; the compaction thread trips the level-order
/// assertion and dies, and `compact()` then waits for it forever).
/// `compact()` also returned `Ok` after the failure. Method: a manifest
/// write or sync fails once during `compact()`; the database must reopen
/// (after a restart and after a power loss) with every write.
#[test]
fn regression_no_manifest_edit_after_a_failed_manifest_write() {
    let mut rng = StdRng::seed_from_u64(seed("manifest_after_failure"));
    let rounds = if soak() { 100 } else { 15 };
    let mut injected = 0;
    for fault in [
        Fault::on(Op::Write).files("MANIFEST-").partial(),
        Fault::on(Op::Sync).files("MANIFEST-"),
    ] {
        for round in 0..rounds {
            let (mem, oracle, fs) = compacted_database(&mut rng, fault.clone());
            injected += fs.total_injected();
            for (how, reopened) in [
                ("a restart", mem.clone()),
                ("a power loss", mem.crash_clone()),
            ] {
                let context = format!("{fault:?}, round {round}, after {how}");
                let db = open(Arc::new(reopened), Durability::Sync)
                    .unwrap_or_else(|e| panic!("{context}: reopen failed: {e}"));
                assert_matches(&db, &oracle, &context);
                let compacting = db.clone();
                within(60, "compact() after reopen", move || compacting.compact())
                    .unwrap_or_else(|e| panic!("{context}: compact failed: {e}"));
            }
        }
    }
    println!("manifest_after_failure: {injected} faults injected");
}
