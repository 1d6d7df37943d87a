//! Crash test: a child process writes (single inserts and batches, from
//! several threads) and reports every acknowledged write on stdout; the
//! parent kills it with SIGKILL at a random moment — often in the middle of
//! a flush, since the memtable is tiny — reopens the database and checks
//! that every acknowledged write is there with its value, that every batch
//! is all-or-nothing, and that nothing appears that was never written.
//!
//! The child is this test binary itself, re-run with `--exact crash_child`
//! and `FRACTIO_CRASH_DIR` set. CI runs 12 cycles on one database;
//! `FRACTIO_SOAK=1` runs 200, on a fresh database every 12 (each cycle
//! re-checks every earlier cycle of its database, and a release-built
//! child writes far more per cycle: on one database the checks grew
//! quadratically and 200 cycles did not finish in 30 minutes).

use fractio::{Db, WriteBatch};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const THREADS: usize = 3;
const BATCH_LEN: usize = 5;
/// Kill cycles on one database.
const CYCLES_PER_DB: u64 = 12;

fn open(dir: &Path) -> Db {
    Db::builder(dir).memtable_size(128 << 10).open().unwrap()
}

fn value_for(key: &str) -> Vec<u8> {
    let mut value = key.as_bytes().to_vec();
    value.resize(40 + key.len() % 50, b'v');
    value
}

/// The child: writes until killed (or 60 s pass), printing each
/// acknowledged write after it returned `Ok`.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("FRACTIO_CRASH_DIR") else {
        return; // run as an ordinary test: nothing to do
    };
    let cycle: u64 = std::env::var("FRACTIO_CRASH_CYCLE")
        .unwrap()
        .parse()
        .unwrap();
    let db = open(Path::new(&dir));
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    writeln!(out.lock().unwrap(), "ready").unwrap();
    let started = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = db.clone();
            let out = out.clone();
            std::thread::spawn(move || {
                let mut i = 0u64;
                while started.elapsed() < Duration::from_secs(60) {
                    if i % 4 == 3 {
                        let mut batch = WriteBatch::new();
                        for j in 0..BATCH_LEN {
                            let key = format!("c{cycle}-t{t}-b{i}-{j}");
                            batch.insert(&key, value_for(&key));
                        }
                        db.write(batch).unwrap();
                    } else {
                        let key = format!("c{cycle}-t{t}-s{i}");
                        db.insert(&key, value_for(&key)).unwrap();
                    }
                    let mut out = out.lock().unwrap();
                    writeln!(out, "ack {t} {i}").unwrap();
                    out.flush().unwrap();
                    i += 1;
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

fn keys_of(cycle: u64, t: usize, i: u64) -> Vec<String> {
    if i % 4 == 3 {
        (0..BATCH_LEN)
            .map(|j| format!("c{cycle}-t{t}-b{i}-{j}"))
            .collect()
    } else {
        vec![format!("c{cycle}-t{t}-s{i}")]
    }
}

#[test]
fn kill_during_writes_and_flushes_loses_nothing_acknowledged() {
    let soak = std::env::var("FRACTIO_SOAK").is_ok();
    let cycles = if soak { 200 } else { CYCLES_PER_DB };
    let seed: u64 = std::env::var("FRACTIO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    println!("crash test seed {seed} (FRACTIO_SEED={seed} reproduces the kill timing)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    // Per cycle, per thread: the highest acknowledged write index.
    let mut acked: BTreeMap<(u64, usize), u64> = BTreeMap::new();
    // The first cycle on the current database.
    let mut first = 0;

    for cycle in 0..cycles {
        if cycle > first && cycle % CYCLES_PER_DB == 0 {
            dir = tempfile::tempdir().unwrap();
            acked.clear();
            first = cycle;
        }
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("FRACTIO_CRASH_DIR", dir.path())
            .env("FRACTIO_CRASH_CYCLE", cycle.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(line) => lines.push(line),
                    Err(_) => break,
                }
            }
            lines
        });
        // Let it open and write for a random while, then kill it.
        std::thread::sleep(Duration::from_millis(rng.gen_range(150..900)));
        child.kill().unwrap();
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        assert!(
            lines.iter().any(|l| l.ends_with("ready")),
            "cycle {cycle}: the child never opened the database (seed {seed})"
        );
        for line in &lines {
            let mut parts = line.split(' ');
            if parts.next() == Some("ack") {
                let t: usize = parts.next().unwrap().parse().unwrap();
                let i: u64 = parts.next().unwrap().parse().unwrap();
                let best = acked.entry((cycle, t)).or_insert(0);
                *best = (*best).max(i + 1);
            }
        }

        // Reopen and check every cycle so far.
        let db = open(dir.path());
        println!("cycle {cycle}: {:?}", db.recovery_report());
        let present: BTreeSet<String> = db
            .iter()
            .map(|item| {
                let (key, value) = item.unwrap();
                let key = String::from_utf8(key.to_vec()).unwrap();
                assert_eq!(value.as_ref(), value_for(&key).as_slice(), "value of {key}");
                key
            })
            .collect();
        for c in first..=cycle {
            for t in 0..THREADS {
                let done = acked.get(&(c, t)).copied().unwrap_or(0);
                // Every acknowledged write, whole.
                for i in 0..done {
                    for key in keys_of(c, t, i) {
                        assert!(
                            present.contains(&key),
                            "acknowledged {key} lost (seed {seed})"
                        );
                    }
                }
                // At most the one write in flight beyond them, and whole.
                let in_flight = keys_of(c, t, done);
                let found = in_flight.iter().filter(|k| present.contains(*k)).count();
                assert!(
                    found == 0 || found == in_flight.len(),
                    "torn batch {in_flight:?} (seed {seed})"
                );
                for key in keys_of(c, t, done + 1) {
                    assert!(
                        !present.contains(&key),
                        "{key} was never written (seed {seed})"
                    );
                }
            }
        }
        let expected_max: usize = (first..=cycle)
            .flat_map(|c| (0..THREADS).map(move |t| (c, t)))
            .map(|(c, t)| {
                let done = acked.get(&(c, t)).copied().unwrap_or(0);
                (0..=done).map(|i| keys_of(c, t, i).len()).sum::<usize>()
            })
            .sum();
        assert!(
            present.len() <= expected_max,
            "unexpected keys (seed {seed})"
        );
        drop(db);
    }
}
