//! Snapshot isolation and batch atomicity under concurrent writers: readers
//! never see half a batch, and a snapshot's answers never change while
//! writers (and the flushes they cause) go on.

use fractio::{Db, WriteBatch};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const ACCOUNTS: u32 = 20;

/// Writers move amounts between accounts in batches that keep the total
/// constant; readers check the total in snapshots and scans.
#[test]
fn batches_are_atomic_and_snapshots_stable_under_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::builder(dir.path())
        .memtable_size(128 << 10)
        .open()
        .unwrap();
    let mut init = WriteBatch::new();
    for a in 0..ACCOUNTS {
        init.insert(format!("acct{a:02}"), 1000u64.to_le_bytes());
    }
    db.write(init).unwrap();
    let total = ACCOUNTS as u64 * 1000;
    let stop = Arc::new(AtomicBool::new(false));

    let writers: Vec<_> = (0..2u32)
        .map(|w| {
            let db = db.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let from = (i * 7 + w) % ACCOUNTS;
                    let to = (i * 13 + 5 + w) % ACCOUNTS;
                    if from != to {
                        // The lock makes read-modify-write of two writers
                        // serial; the batch makes it atomic for readers.
                        let _guard = LOCK.lock().unwrap();
                        let a_now = read(&db.get(format!("acct{from:02}")).unwrap().unwrap());
                        if a_now == 0 {
                            i += 1;
                            continue;
                        }
                        let b_now = read(&db.get(format!("acct{to:02}")).unwrap().unwrap());
                        let mut batch = WriteBatch::new();
                        batch.insert(format!("acct{from:02}"), (a_now - 1).to_le_bytes());
                        batch.insert(format!("acct{to:02}"), (b_now + 1).to_le_bytes());
                        batch.insert(format!("pad{w}-{i}"), [0u8; 200]);
                        db.write(batch).unwrap();
                    }
                    i += 1;
                }
            })
        })
        .collect();

    let readers: Vec<_> = (0..2)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                for round in 0..300 {
                    let snapshot = db.snapshot();
                    let first: u64 = (0..ACCOUNTS)
                        .map(|a| read(&snapshot.get(format!("acct{a:02}")).unwrap().unwrap()))
                        .sum();
                    assert_eq!(first, total, "point reads in a snapshot, round {round}");
                    let scanned: u64 = snapshot
                        .prefix("acct")
                        .map(|item| read(&item.unwrap().1))
                        .sum();
                    assert_eq!(scanned, total, "scan in a snapshot");
                    let reversed: u64 = snapshot
                        .prefix("acct")
                        .rev()
                        .map(|item| read(&item.unwrap().1))
                        .sum();
                    assert_eq!(reversed, total, "reverse scan in a snapshot");
                    let live: u64 = db.prefix("acct").map(|item| read(&item.unwrap().1)).sum();
                    assert_eq!(live, total, "scan of the live database");
                }
            })
        })
        .collect();
    for reader in readers {
        reader.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().unwrap();
    }
}

static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn read(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().unwrap())
}
