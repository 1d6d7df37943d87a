//! Every public API call of `Db`, `WriteBatch` and `Snapshot`, checked
//! against what it promises, on a real directory.

use fractio::{Db, Durability, Error, WriteBatch, MAX_KEY_LEN, MAX_VALUE_LEN};
use std::ops::Bound;

fn small_db(dir: &std::path::Path) -> Db {
    Db::builder(dir).memtable_size(256 << 10).open().unwrap()
}

fn collect(
    iter: impl Iterator<Item = fractio::Result<(fractio::Key, fractio::Value)>>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    iter.map(|item| {
        let (key, value) = item.unwrap();
        (key.to_vec(), value.to_vec())
    })
    .collect()
}

#[test]
fn insert_get_contains_remove() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db")).unwrap();
    assert_eq!(db.get(b"a").unwrap(), None);
    assert!(!db.contains_key(b"a").unwrap());
    db.insert(b"a", b"1").unwrap();
    db.insert(b"b", b"2").unwrap();
    assert_eq!(db.get(b"a").unwrap().unwrap(), b"1");
    assert!(db.contains_key(b"b").unwrap());
    db.insert(b"a", b"3").unwrap();
    assert_eq!(db.get(b"a").unwrap().unwrap(), b"3");
    db.remove(b"a").unwrap();
    assert_eq!(db.get(b"a").unwrap(), None);
    assert!(!db.contains_key(b"a").unwrap());
    db.remove(b"never-there").unwrap();
    db.insert(b"empty", b"").unwrap();
    assert_eq!(db.get(b"empty").unwrap().unwrap(), b"");
    assert!(db.contains_key(b"empty").unwrap());
}

#[test]
fn batches_apply_in_order_and_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    db.insert(b"gone", b"x").unwrap();
    let mut batch = WriteBatch::new();
    batch.insert(b"k", b"first");
    batch.insert(b"k", b"second");
    batch.remove(b"gone");
    batch.insert(b"new", b"n");
    assert_eq!(batch.len(), 4);
    db.write(batch).unwrap();
    assert_eq!(db.get(b"k").unwrap().unwrap(), b"second");
    assert_eq!(db.get(b"gone").unwrap(), None);
    assert_eq!(db.get(b"new").unwrap().unwrap(), b"n");
    db.write(WriteBatch::new()).unwrap();
}

#[test]
fn ranges_prefixes_and_reverse() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    for i in 0..2000u32 {
        db.insert(format!("key{i:05}"), format!("value{i}"))
            .unwrap();
    }
    for i in (0..2000u32).step_by(3) {
        db.remove(format!("key{i:05}")).unwrap();
    }
    db.insert(b"other", b"o").unwrap();
    let expected: Vec<(Vec<u8>, Vec<u8>)> = (0..2000u32)
        .filter(|i| i % 3 != 0)
        .map(|i| {
            (
                format!("key{i:05}").into_bytes(),
                format!("value{i}").into_bytes(),
            )
        })
        .collect();

    let all = collect(db.iter());
    assert_eq!(all.len(), expected.len() + 1);
    assert_eq!(&all[..expected.len()], &expected[..]);

    assert_eq!(collect(db.prefix(b"key")), expected);
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(collect(db.prefix(b"key").rev()), reversed);

    let range = collect(db.range(&b"key00100"[..]..&b"key00200"[..]));
    let want: Vec<_> = expected
        .iter()
        .filter(|(k, _)| k.as_slice() >= &b"key00100"[..] && k.as_slice() < &b"key00200"[..])
        .cloned()
        .collect();
    assert_eq!(range, want);
    let inclusive = collect(db.range(&b"key00101"[..]..=&b"key00104"[..]));
    assert_eq!(
        inclusive.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        vec![
            b"key00101".to_vec(),
            b"key00103".to_vec(),
            b"key00104".to_vec()
        ]
    );
    let after =
        collect(db.range::<&[u8], _>((Bound::Excluded(&b"key01998"[..]), Bound::Unbounded)));
    assert_eq!(after.len(), 2); // key01999 and other

    // Both ends at once meet in the middle without repeating a key.
    let mut iter = db.prefix(b"key");
    let mut seen = Vec::new();
    while let Some(item) = iter.next() {
        seen.push(item.unwrap().0.to_vec());
        match iter.next_back() {
            Some(item) => seen.push(item.unwrap().0.to_vec()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        expected.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn snapshots_keep_their_view() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    db.insert(b"a", b"1").unwrap();
    db.insert(b"b", b"1").unwrap();
    let snapshot = db.snapshot();
    db.insert(b"a", b"2").unwrap();
    db.remove(b"b").unwrap();
    db.insert(b"c", b"2").unwrap();
    // Push the data through flushes so the snapshot reads tables too.
    for i in 0..5000u32 {
        db.insert(format!("fill{i:06}"), [7u8; 100]).unwrap();
    }
    db.flush().unwrap();
    assert_eq!(snapshot.get(b"a").unwrap().unwrap(), b"1");
    assert_eq!(snapshot.get(b"b").unwrap().unwrap(), b"1");
    assert_eq!(snapshot.get(b"c").unwrap(), None);
    assert!(snapshot.contains_key(b"b").unwrap());
    assert_eq!(
        collect(snapshot.range(&b"a"[..]..&b"d"[..])),
        vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"1".to_vec())
        ]
    );
    assert_eq!(collect(snapshot.prefix(b"fill")).len(), 0);
    assert_eq!(collect(snapshot.iter()).len(), 2);
    assert_eq!(db.get(b"a").unwrap().unwrap(), b"2");
    assert_eq!(db.get(b"b").unwrap(), None);
    assert!(snapshot.seq() < db.snapshot().seq());
}

#[test]
fn reopen_after_clean_close_and_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = small_db(dir.path());
        for i in 0..3000u32 {
            db.insert(format!("k{i:05}"), format!("v{i}")).unwrap();
        }
        db.flush().unwrap();
        for i in 3000..4000u32 {
            db.insert(format!("k{i:05}"), format!("v{i}")).unwrap();
        }
        db.remove(b"k00007").unwrap();
    }
    let db = small_db(dir.path());
    for i in 0..4000u32 {
        let got = db.get(format!("k{i:05}")).unwrap();
        if i == 7 {
            assert_eq!(got, None);
        } else {
            assert_eq!(got.unwrap(), format!("v{i}").as_bytes(), "key {i}");
        }
    }
    assert_eq!(db.iter().count(), 3999);
    db.insert(b"after", b"reopen").unwrap();
    drop(db);
    let db = small_db(dir.path());
    assert_eq!(db.get(b"after").unwrap().unwrap(), b"reopen");
}

#[test]
fn oversized_and_empty_input_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    db.insert(b"keep", b"me").unwrap();
    let long_key = vec![b'k'; MAX_KEY_LEN + 1];
    assert!(matches!(
        db.insert(&long_key, b"v"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        db.insert(b"", b"v"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(db.remove(b""), Err(Error::InvalidArgument(_))));
    assert!(matches!(db.get(b""), Err(Error::InvalidArgument(_))));
    let long_value = vec![0u8; MAX_VALUE_LEN + 1];
    assert!(matches!(
        db.insert(b"k", &long_value),
        Err(Error::InvalidArgument(_))
    ));
    let mut batch = WriteBatch::new();
    batch.insert(b"batch-a", b"1");
    batch.insert(&long_key, b"2");
    assert!(matches!(db.write(batch), Err(Error::InvalidArgument(_))));
    assert_eq!(db.get(b"batch-a").unwrap(), None);
    assert_eq!(db.get(b"keep").unwrap().unwrap(), b"me");
    // The largest accepted key works.
    let max_key = vec![b'm'; MAX_KEY_LEN];
    db.insert(&max_key, b"big").unwrap();
    assert_eq!(db.get(&max_key).unwrap().unwrap(), b"big");
    assert!(matches!(
        Db::builder(dir.path().join("bad")).memtable_size(1).open(),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn a_second_open_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    assert!(matches!(Db::open(dir.path()), Err(Error::Locked(_))));
    drop(db);
    Db::open(dir.path()).unwrap();
}

#[test]
fn large_values_and_sync_durability() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::builder(dir.path())
        .durability(Durability::Sync)
        .memtable_size(1 << 20)
        .open()
        .unwrap();
    let big = vec![42u8; 3 << 20]; // larger than the memtable and its segment
    db.insert(b"big", &big).unwrap();
    db.insert(b"small", b"s").unwrap();
    db.persist().unwrap();
    assert_eq!(db.get(b"big").unwrap().unwrap(), big.as_slice());
    drop(db);
    let db = Db::open(dir.path()).unwrap();
    assert_eq!(db.get(b"big").unwrap().unwrap(), big.as_slice());
    assert_eq!(db.get(b"small").unwrap().unwrap(), b"s");
}

#[test]
fn db_is_shared_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..2000u32 {
                    db.insert(format!("t{t}-{i:05}"), i.to_le_bytes()).unwrap();
                    if i % 7 == 0 {
                        assert_eq!(
                            db.get(format!("t{t}-{i:05}")).unwrap().unwrap(),
                            i.to_le_bytes()
                        );
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(db.iter().count(), 8000);
}

/// Goal: `get_with` lends exactly what `get` returns, from a memtable and
/// from tables, at the head and in a snapshot, calls its closure once
/// (also with `None`), and rejects a bad key without calling it.
#[test]
fn get_with_lends_what_get_returns() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let long = vec![7u8; 5000]; // beyond a `Value`'s inline bytes
    let lend = |db: &Db, key: &[u8]| {
        let mut calls = 0;
        let got = db
            .get_with(key, |value| {
                calls += 1;
                value.map(<[u8]>::to_vec)
            })
            .unwrap();
        assert_eq!(calls, 1, "{key:?}");
        assert_eq!(got, db.get(key).unwrap().map(|v| v.to_vec()), "{key:?}");
        got
    };
    db.insert(b"a", b"1").unwrap();
    db.insert(b"long", &long).unwrap();
    db.insert(b"empty", b"").unwrap();
    db.insert(b"gone", b"x").unwrap();
    db.remove(b"gone").unwrap();
    let snapshot = db.snapshot();
    for round in 0..2 {
        assert_eq!(lend(&db, b"a").as_deref(), Some(&b"1"[..]), "round {round}");
        assert_eq!(lend(&db, b"long"), Some(long.clone()));
        assert_eq!(lend(&db, b"empty").as_deref(), Some(&b""[..]));
        assert_eq!(lend(&db, b"gone"), None);
        assert_eq!(lend(&db, b"never"), None);
        db.flush().unwrap(); // the second round reads tables
        assert!(db.stats().table_files() > 0);
    }
    db.insert(b"a", b"2").unwrap();
    db.remove(b"long").unwrap();
    assert_eq!(
        snapshot.get_with(b"a", |v| v.map(<[u8]>::to_vec)).unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(
        snapshot.get_with(b"long", |v| v.map(<[u8]>::len)).unwrap(),
        Some(5000)
    );
    assert!(!db.get_with(b"long", |v| v.is_some()).unwrap());
    // The closure may read the database again.
    let nested = db.get_with(b"a", |v| (v.map(<[u8]>::to_vec), db.get(b"empty").unwrap()));
    assert_eq!(
        nested.unwrap(),
        (Some(b"2".to_vec()), Some(fractio::Slice::copy_from(b"")))
    );
    let mut called = false;
    let err = db.get_with(vec![0u8; MAX_KEY_LEN + 1], |_| called = true);
    assert!(matches!(err, Err(Error::InvalidArgument(_))), "{err:?}");
    assert!(!called);
}
