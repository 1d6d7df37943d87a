//! Tests of the memtable: a model test against a `BTreeMap` oracle, lookup
//! and cursor edge cases, a full arena, concurrent writers and readers, and
//! extreme entry sizes.

use std::cmp::{Ordering, Reverse};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering as MemOrder};
use std::sync::{Arc, Barrier};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::skiplist::race_window;
use super::*;
use crate::types::{compare_internal, MAX_KEY_LEN, MAX_SEQNO};

type Model = BTreeMap<(Vec<u8>, Reverse<SeqNo>), (ValueKind, Vec<u8>)>;
type Entry = (Vec<u8>, SeqNo, ValueKind, Vec<u8>);

fn entry_at(iter: &MemtableIter) -> Entry {
    (
        iter.key().to_vec(),
        iter.seq(),
        iter.kind(),
        iter.value().to_vec(),
    )
}

fn model_entry(
    (key, seq): &(Vec<u8>, Reverse<SeqNo>),
    (kind, value): &(ValueKind, Vec<u8>),
) -> Entry {
    (key.clone(), seq.0, *kind, value.clone())
}

fn forward(table: &Arc<Memtable>) -> Vec<Entry> {
    let mut iter = table.iter();
    iter.seek_to_first().unwrap();
    let mut out = Vec::new();
    while iter.valid() {
        out.push(entry_at(&iter));
        iter.next().unwrap();
    }
    out
}

fn backward(table: &Arc<Memtable>) -> Vec<Entry> {
    let mut iter = table.iter();
    iter.seek_to_last().unwrap();
    let mut out = Vec::new();
    while iter.valid() {
        out.push(entry_at(&iter));
        iter.prev().unwrap();
    }
    out
}

/// The entry a cursor is at, or `None` when it is not valid.
fn current(iter: &MemtableIter) -> Option<Entry> {
    iter.valid().then(|| entry_at(iter))
}

/// Short keys over a 3-letter alphabet, so that keys repeat (many versions)
/// and are prefixes of one another.
fn random_key(rng: &mut StdRng) -> Vec<u8> {
    let len = rng.gen_range(0..=4);
    (0..len).map(|_| b"abc"[rng.gen_range(0..3)]).collect()
}

/// `n` in a normal run; under Miri, which interprets every step (about a
/// thousand times slower), a fiftieth of it and at least 4.
fn scaled(n: u64) -> u64 {
    if cfg!(miri) {
        (n / 50).max(4)
    } else {
        n
    }
}

/// Inserts per thread of the tests with threads: under Miri, whose
/// scheduler hands the readers' scans as many turns as the writers, far
/// fewer.
fn per_thread(n: u64) -> u64 {
    if cfg!(miri) {
        (n / 400).max(4)
    } else {
        n
    }
}

/// The table is shared between threads and a cursor moves between them.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    const fn send<T: Send>() {}
    send_sync::<Memtable>();
    send::<MemtableIter>();
};

/// Goal: every read path agrees with a `BTreeMap` oracle. Method: insert
/// 3,000 random versions (repeated keys, unique random seqs, a quarter of
/// them tombstones) in random order, then compare full scans both ways and
/// random gets, seeks and seek_for_prevs with the oracle's answers.
#[test]
fn memtable_matches_btreemap_model() {
    let mut rng = StdRng::seed_from_u64(0x6d656d);
    let table = Arc::new(Memtable::new(1 << 20));
    let mut model = Model::new();
    let mut seqs: Vec<SeqNo> = (1..=scaled(3_000)).map(|s| s * 7).collect();
    seqs.shuffle(&mut rng);
    for seq in seqs {
        let key = random_key(&mut rng);
        let (kind, value) = if rng.gen_ratio(1, 4) {
            (ValueKind::Tombstone, Vec::new())
        } else {
            (ValueKind::Value, format!("v{seq}").into_bytes())
        };
        assert!(table.insert(&key, seq, kind, &value));
        model.insert((key, Reverse(seq)), (kind, value));
    }

    let expected: Vec<Entry> = model.iter().map(|(k, v)| model_entry(k, v)).collect();
    assert_eq!(forward(&table), expected);
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(backward(&table), reversed);

    let mut iter = table.iter();
    for _ in 0..scaled(3_000) {
        let key = random_key(&mut rng);
        let seq = match rng.gen_range(0..4) {
            0 => 0,
            1 => MAX_SEQNO,
            _ => rng.gen_range(0..22_000),
        };
        let probe = (key.clone(), Reverse(seq));

        let want_get = model
            .range(probe.clone()..)
            .next()
            .filter(|((k, _), _)| *k == key)
            .map(|((_, s), (kind, value))| (s.0, *kind, value.as_slice()));
        assert_eq!(table.get(&key, seq), want_get, "get {key:?} at {seq}");

        iter.seek(&key, seq).unwrap();
        let want = model
            .range(probe.clone()..)
            .next()
            .map(|(k, v)| model_entry(k, v));
        assert_eq!(current(&iter), want, "seek {key:?} {seq}");

        iter.seek_for_prev(&key, seq).unwrap();
        let want = model
            .range(..=probe)
            .next_back()
            .map(|(k, v)| model_entry(k, v));
        assert_eq!(current(&iter), want, "seek_for_prev {key:?} {seq}");

        // A short random walk from the seek_for_prev position.
        let mut at = expected.partition_point(|e| (&e.0, Reverse(e.1)) <= (&key, Reverse(seq)));
        while iter.valid() && rng.gen_ratio(3, 4) {
            let forwards = rng.gen();
            if forwards {
                iter.next().unwrap();
            } else {
                iter.prev().unwrap();
                at -= 1;
            }
            let want = if forwards {
                expected.get(at)
            } else {
                at.checked_sub(1).map(|i| &expected[i])
            };
            assert_eq!(current(&iter).as_ref(), want, "walk from {key:?} {seq}");
            at += usize::from(forwards);
        }
    }
}

/// Goal: order holds when keys share long prefixes (across the 8-byte
/// words of the key comparison, up to the longest key) and are prefixes of
/// one another. Method: keys of a long common stem and a short random
/// tail, inserted plainly and split in two, compared with a `BTreeMap`,
/// with seeks.
#[test]
fn memtable_orders_keys_with_long_shared_prefixes() {
    let mut rng = StdRng::seed_from_u64(0x6c6370);
    // Under Miri, which interprets every byte compared, the longest stem
    // is 1 KiB rather than the largest key.
    let longest = if cfg!(miri) { 1 << 10 } else { MAX_KEY_LEN - 4 };
    let capacity = if cfg!(miri) { 1 << 20 } else { 64 << 20 };
    for stem_len in [7, 8, 9, 23, longest] {
        let table = Arc::new(Memtable::new(capacity));
        let mut model = Model::new();
        let stem: Vec<u8> = (0..stem_len).map(|i| b'a' + (i % 3) as u8).collect();
        for seq in 1..=scaled(600) {
            let mut key = stem[..rng.gen_range(stem_len - 3..=stem_len)].to_vec();
            key.extend(random_key(&mut rng));
            let value = seq.to_le_bytes();
            if rng.gen() {
                assert!(table.insert(&key, seq, ValueKind::Value, &value));
            } else {
                let prepared = table.prepare(&key);
                assert!(table.insert_prepared(&prepared, &key, seq, ValueKind::Value, &value));
            }
            model.insert((key, Reverse(seq)), (ValueKind::Value, value.to_vec()));
        }
        let expected: Vec<Entry> = model.iter().map(|(k, v)| model_entry(k, v)).collect();
        assert_eq!(forward(&table), expected, "stem {stem_len}");
        let mut iter = table.iter();
        for ((key, Reverse(seq)), _) in model.iter().step_by(7) {
            iter.seek(key, *seq).unwrap();
            assert_eq!(
                current(&iter).map(|e| (e.0, e.1)),
                Some((key.clone(), *seq))
            );
            iter.seek_for_prev(key, *seq + 1).unwrap();
            let before = model.range(..=(key.clone(), Reverse(*seq + 1))).next_back();
            assert_eq!(
                current(&iter).map(|e| (e.0, e.1)),
                before.map(|((k, s), _)| (k.clone(), s.0))
            );
        }
    }
}

/// Goal: an insert split in two (`prepare`, then `insert_prepared`) lands
/// in order however many inserts came between its halves, and one prepared
/// for another memtable is a plain insert. Method: keep up to 64 prepared
/// inserts pending while plain and prepared inserts go in, in random order,
/// some of them prepared on a different memtable; compare every entry and
/// lookup (through the key filter) with a `BTreeMap`.
#[test]
fn memtable_prepared_inserts_match_the_model() {
    let mut rng = StdRng::seed_from_u64(0x707265);
    let table = Arc::new(Memtable::new(4 << 20));
    let other = Memtable::new(1 << 20);
    let mut model = Model::new();
    let mut pending: Vec<(Vec<u8>, Prepared)> = Vec::new();
    let mut seq = 0;
    for step in 0..scaled(20_000) {
        let roll = rng.gen_range(0..10);
        if roll < 4 && pending.len() < 64 {
            let key = random_key(&mut rng);
            let on = if rng.gen_ratio(1, 10) {
                &other
            } else {
                &*table
            };
            pending.push((key.clone(), on.prepare(&key)));
            continue;
        }
        seq += 1;
        let value = format!("v{seq}").into_bytes();
        let key = if roll < 7 && !pending.is_empty() {
            let (key, prepared) = pending.swap_remove(rng.gen_range(0..pending.len()));
            assert!(table.insert_prepared(&prepared, &key, seq, ValueKind::Value, &value));
            key
        } else {
            let key = random_key(&mut rng);
            assert!(table.insert(&key, seq, ValueKind::Value, &value));
            key
        };
        model.insert((key, Reverse(seq)), (ValueKind::Value, value));
        if step % 4_000 == 0 {
            let expected: Vec<Entry> = model.iter().map(|(k, v)| model_entry(k, v)).collect();
            assert_eq!(forward(&table), expected, "at step {step}");
        }
    }
    let expected: Vec<Entry> = model.iter().map(|(k, v)| model_entry(k, v)).collect();
    assert_eq!(forward(&table), expected);
    let mut reversed = expected;
    reversed.reverse();
    assert_eq!(backward(&table), reversed);
    table.list.assert_levels_ordered();
    for ((key, Reverse(seq)), (kind, value)) in &model {
        let newest = model
            .range((key.clone(), Reverse(MAX_SEQNO))..)
            .next()
            .map(|((_, s), _)| s.0);
        if newest == Some(*seq) {
            let got = table.get_filtered(key, crate::types::key_hash(key), MAX_SEQNO);
            assert_eq!(got, Some((*seq, *kind, value.as_slice())), "{key:?}");
        }
    }
}

/// Goal: `get` returns the newest version visible at the snapshot, returns
/// tombstones as such, and sees nothing older than the oldest version.
#[test]
fn memtable_get_respects_snapshots_and_tombstones() {
    let table = Memtable::new(1 << 16);
    assert!(table.is_empty());
    assert!(table.insert(b"k", 10, ValueKind::Value, b"ten"));
    assert!(table.insert(b"k", 20, ValueKind::Tombstone, b""));
    assert!(table.insert(b"k", 30, ValueKind::Value, b"thirty"));
    assert!(table.insert(b"j", 25, ValueKind::Value, b"jay"));
    assert!(table.insert(b"ka", 5, ValueKind::Value, b"kay-a"));
    assert!(!table.is_empty());

    assert_eq!(table.get(b"k", 9), None, "older than every version");
    assert_eq!(
        table.get(b"k", 10),
        Some((10, ValueKind::Value, &b"ten"[..]))
    );
    assert_eq!(
        table.get(b"k", 19),
        Some((10, ValueKind::Value, &b"ten"[..]))
    );
    assert_eq!(
        table.get(b"k", 20),
        Some((20, ValueKind::Tombstone, &b""[..]))
    );
    assert_eq!(
        table.get(b"k", 29),
        Some((20, ValueKind::Tombstone, &b""[..]))
    );
    assert_eq!(
        table.get(b"k", MAX_SEQNO),
        Some((30, ValueKind::Value, &b"thirty"[..]))
    );
    assert_eq!(table.get(b"j", 24), None);
    assert_eq!(
        table.get(b"ka", 100),
        Some((5, ValueKind::Value, &b"kay-a"[..]))
    );
    assert_eq!(table.get(b"", MAX_SEQNO), None, "a missing key before all");
    assert_eq!(table.get(b"kb", MAX_SEQNO), None, "a missing key after all");
    assert_eq!(table.get(b"jz", MAX_SEQNO), None, "a missing key between");
}

/// Goal: every cursor method behaves at the edges: an empty table, targets
/// before the first and after the last entry, between two versions of one
/// key, and at sequence numbers 0 and `MAX_SEQNO`.
#[test]
fn memtable_cursor_edge_cases() {
    let empty = Arc::new(Memtable::new(4096));
    let mut iter = empty.iter();
    assert!(!iter.valid(), "a new cursor is unpositioned");
    iter.seek_to_first().unwrap();
    assert!(!iter.valid());
    iter.seek_to_last().unwrap();
    assert!(!iter.valid());
    iter.seek(b"a", MAX_SEQNO).unwrap();
    assert!(!iter.valid());
    iter.seek_for_prev(b"a", 0).unwrap();
    assert!(!iter.valid());

    let table = Arc::new(Memtable::new(1 << 16));
    for (key, seq) in [(&b"b"[..], 5), (b"b", 3), (b"d", 9), (b"d", 4), (b"d", 1)] {
        assert!(table.insert(key, seq, ValueKind::Value, key));
    }
    let mut iter = table.iter();
    let at = |iter: &MemtableIter| iter.valid().then(|| (iter.key().to_vec(), iter.seq()));
    let kv = |key: &[u8], seq| Some((key.to_vec(), seq));

    iter.seek_to_first().unwrap();
    assert_eq!(at(&iter), kv(b"b", 5));
    iter.prev().unwrap();
    assert!(!iter.valid(), "prev from the first entry");
    iter.seek_to_last().unwrap();
    assert_eq!(at(&iter), kv(b"d", 1));
    iter.next().unwrap();
    assert!(!iter.valid(), "next from the last entry");

    iter.seek(b"a", 0).unwrap();
    assert_eq!(at(&iter), kv(b"b", 5), "seek before the first key");
    iter.seek(b"e", MAX_SEQNO).unwrap();
    assert!(!iter.valid(), "seek after the last key");
    iter.seek(b"d", 0).unwrap();
    assert!(!iter.valid(), "seek past every version of the last key");
    iter.seek(b"d", 6).unwrap();
    assert_eq!(at(&iter), kv(b"d", 4), "seek between versions");
    iter.seek(b"d", 4).unwrap();
    assert_eq!(at(&iter), kv(b"d", 4), "seek onto a version");
    iter.seek(b"b", MAX_SEQNO).unwrap();
    assert_eq!(
        at(&iter),
        kv(b"b", 5),
        "MAX_SEQNO lands on the newest version"
    );
    iter.seek(b"c", 7).unwrap();
    assert_eq!(at(&iter), kv(b"d", 9), "seek between keys");

    iter.seek_for_prev(b"a", 0).unwrap();
    assert!(!iter.valid(), "seek_for_prev before the first key");
    iter.seek_for_prev(b"b", 6).unwrap();
    assert!(
        !iter.valid(),
        "seek_for_prev before the newest first version"
    );
    iter.seek_for_prev(b"z", 0).unwrap();
    assert_eq!(at(&iter), kv(b"d", 1), "seek_for_prev after the last key");
    iter.seek_for_prev(b"d", MAX_SEQNO).unwrap();
    assert_eq!(
        at(&iter),
        kv(b"b", 3),
        "MAX_SEQNO: last entry of a smaller key"
    );
    iter.seek_for_prev(b"b", 0).unwrap();
    assert_eq!(at(&iter), kv(b"b", 3), "seq 0: last version of the key");
    iter.seek_for_prev(b"d", 5).unwrap();
    assert_eq!(at(&iter), kv(b"d", 9), "seek_for_prev between versions");
    iter.seek_for_prev(b"d", 4).unwrap();
    assert_eq!(at(&iter), kv(b"d", 4), "seek_for_prev onto a version");
    iter.prev().unwrap();
    assert_eq!(at(&iter), kv(b"d", 9), "prev between versions of one key");
    iter.prev().unwrap();
    assert_eq!(at(&iter), kv(b"b", 3), "prev across keys");
}

/// Goal: a full arena refuses inserts without damaging what it holds, and
/// `entry_size` is a true worst case. Method: fill a small table until an
/// insert fails, then check the failed key is absent and every accepted
/// entry reads back; a table sized for exactly one worst-case entry takes it.
#[test]
fn memtable_full_arena_refuses_inserts_and_stays_intact() {
    let table = Arc::new(Memtable::new(8 << 10));
    let value = [7u8; 100];
    let mut accepted = 0u64;
    while table.insert(
        format!("key{accepted:05}").as_bytes(),
        accepted + 1,
        ValueKind::Value,
        &value,
    ) {
        accepted += 1;
    }
    assert!(
        accepted > 20,
        "an 8 KiB arena holds dozens of 100-byte entries"
    );
    let used = table.memory_used();
    assert!(used <= table.capacity());
    let failed = format!("key{accepted:05}");
    assert_eq!(table.get(failed.as_bytes(), MAX_SEQNO), None);
    assert!(!table.insert(b"big", 1, ValueKind::Value, &[1u8; 4096]));
    assert_eq!(table.memory_used(), used, "a refused insert takes no room");

    let entries = forward(&table);
    assert_eq!(entries.len() as u64, accepted);
    for (i, (key, seq, kind, val)) in entries.into_iter().enumerate() {
        assert_eq!(key, format!("key{i:05}").into_bytes());
        assert_eq!(
            (seq, kind, val.as_slice()),
            (i as u64 + 1, ValueKind::Value, &value[..])
        );
    }

    let head_only = Memtable::new(0).memory_used();
    for round in 0..64 {
        let exact = Memtable::new(head_only + Memtable::entry_size(3, 10));
        assert!(
            exact.insert(b"abc", round, ValueKind::Value, &[0; 10]),
            "whatever the tower height"
        );
    }
    let too_small = Memtable::new(head_only + 8);
    assert!(!too_small.insert(b"", 1, ValueKind::Tombstone, b""));
    assert!(too_small.is_empty());
}

/// Goal: entries with empty values, empty keys and 64 KiB keys round-trip
/// through get and the cursor.
#[test]
fn memtable_extreme_entry_sizes() {
    let table = Arc::new(Memtable::new(1 << 20));
    let long_a = vec![b'a'; MAX_KEY_LEN];
    let mut long_b = long_a.clone();
    *long_b.last_mut().unwrap() = b'b';
    assert!(table.insert(&long_b, 1, ValueKind::Value, b"bee"));
    assert!(table.insert(&long_a, 2, ValueKind::Value, b""));
    assert!(table.insert(&long_a, 3, ValueKind::Tombstone, b""));
    assert!(table.insert(b"", 4, ValueKind::Value, b""));
    assert!(table.insert(b"zero", 5, ValueKind::Value, b""));

    assert_eq!(table.get(&long_a, 2), Some((2, ValueKind::Value, &b""[..])));
    assert_eq!(
        table.get(&long_a, 9),
        Some((3, ValueKind::Tombstone, &b""[..]))
    );
    assert_eq!(
        table.get(&long_b, 9),
        Some((1, ValueKind::Value, &b"bee"[..]))
    );
    assert_eq!(
        table.get(&long_a[..MAX_KEY_LEN - 1], 9),
        None,
        "a prefix is another key"
    );
    assert_eq!(table.get(b"", 9), Some((4, ValueKind::Value, &b""[..])));
    assert_eq!(table.get(b"zero", 9), Some((5, ValueKind::Value, &b""[..])));

    let keys: Vec<(Vec<u8>, SeqNo)> = forward(&table).into_iter().map(|e| (e.0, e.1)).collect();
    let want = vec![
        (Vec::new(), 4),
        (long_a.clone(), 3),
        (long_a, 2),
        (long_b, 1),
        (b"zero".to_vec(), 5),
    ];
    assert_eq!(keys, want);
}

/// Scans the whole table forwards or backwards, asserting that it is in
/// order and that `get` finds every 97th entry scanned; returns its length.
fn checked_scan(table: &Arc<Memtable>, forwards: bool) -> usize {
    let mut iter = table.iter();
    let (mut last_key, mut last_seq, mut len) = (Vec::new(), 0, 0);
    let want = if forwards {
        Ordering::Less
    } else {
        Ordering::Greater
    };
    if forwards {
        iter.seek_to_first()
    } else {
        iter.seek_to_last()
    }
    .unwrap();
    while iter.valid() {
        if len > 0 {
            let order = compare_internal(&last_key, last_seq, iter.key(), iter.seq());
            assert_eq!(order, want, "entry {len} of a scan is out of order");
        }
        if len % 97 == 0 {
            let found = table.get(iter.key(), MAX_SEQNO);
            assert_eq!(found, Some((iter.seq(), iter.kind(), iter.value())));
        }
        last_key.clear();
        last_key.extend_from_slice(iter.key());
        (last_seq, len) = (iter.seq(), len + 1);
        if forwards { iter.next() } else { iter.prev() }.unwrap();
    }
    len
}

/// Goal: concurrent inserts lose nothing and readers always see a sorted
/// list. Method: 4 threads insert interleaved disjoint keys (neighbours in
/// the order, and yielding between search and link, so their CASes
/// collide) while 2 threads scan forward and backward and look up what they
/// scanned; afterwards every key is found.
#[test]
fn memtable_concurrent_inserts_and_reads() {
    const WRITERS: u64 = 4;
    let per_writer = per_thread(20_000);
    let table = Arc::new(Memtable::new(64 << 20));
    let done = Arc::new(AtomicBool::new(false));
    let key = |i: u64, w: u64| format!("{i:06}-{w}").into_bytes();

    let readers: Vec<_> = [true, false]
        .into_iter()
        .map(|forwards| {
            let (table, done) = (Arc::clone(&table), Arc::clone(&done));
            std::thread::spawn(move || {
                let (mut scans, mut last_len) = (0, 0);
                while !done.load(MemOrder::Acquire) || scans < 2 {
                    let len = checked_scan(&table, forwards);
                    assert!(len >= last_len, "entries never disappear");
                    (scans, last_len) = (scans + 1, len);
                    std::thread::yield_now();
                }
            })
        })
        .collect();
    let start = Arc::new(Barrier::new(WRITERS as usize));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (table, start) = (Arc::clone(&table), Arc::clone(&start));
            std::thread::spawn(move || {
                race_window::enable();
                start.wait();
                for i in 0..per_writer {
                    let k = key(i, w);
                    let seq = w * per_writer + i + 1;
                    // Half the writers split their inserts (prepare, then
                    // link), so both paths race each other.
                    if w % 2 == 0 {
                        assert!(table.insert(&k, seq, ValueKind::Value, &k));
                    } else {
                        let prepared = table.prepare(&k);
                        assert!(table.insert_prepared(&prepared, &k, seq, ValueKind::Value, &k));
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    done.store(true, MemOrder::Release);
    for reader in readers {
        reader.join().unwrap();
    }

    for w in 0..WRITERS {
        for i in 0..per_writer {
            let k = key(i, w);
            assert_eq!(
                table.get(&k, MAX_SEQNO),
                Some((w * per_writer + i + 1, ValueKind::Value, &k[..]))
            );
        }
    }
    assert_eq!(forward(&table).len() as u64, WRITERS * per_writer);
    table.list.assert_levels_ordered();
}

/// Goal: inserts of keys in order, which search from the thread's finger
/// instead of descending from the head, put every node on every level in
/// its place: alone, with several threads running ascending runs through
/// the same stretch of keys (so that another thread's node often lands
/// right after a finger, and links race), and with each thread switching
/// between two memtables (so that its finger belongs to the other one).
/// Method: runs starting at random keys, through plain and prepared
/// inserts and the race window, then a `BTreeMap` model checked by scans
/// both ways and by a lookup of every key, and every level checked to be
/// ordered and a sublist of the one below (lookups stay right even over a
/// misplaced upper-level node, so only this finds one); the
/// single-threaded appends must have been served by fingers.
#[test]
fn memtable_ordered_runs_match_the_model() {
    const THREADS: u64 = 4;
    let runs = scaled(60);
    // Keys of the first run; the second fills its gaps.
    let n = scaled(2_000);
    let tables = [
        Arc::new(Memtable::new(16 << 20)),
        Arc::new(Memtable::new(16 << 20)),
    ];
    let key = |i: u64, thread: u64| format!("k{i:07}/{thread}").into_bytes();
    let insert = |table: &Memtable, k: &[u8], seq: SeqNo, prepared: bool| {
        if prepared {
            let p = table.prepare(k);
            assert!(table.insert_prepared(&p, k, seq, ValueKind::Value, k));
        } else {
            assert!(table.insert(k, seq, ValueKind::Value, k));
        }
    };
    // Alone: one ascending run (each key right after the last one, so a
    // finger serves all but the first and those taller than every node
    // before them: a handful), then a second through its gaps
    // (each key right after a node of the first run: a full descent).
    let searches = super::skiplist::FINGER_SEARCHES.load(MemOrder::Relaxed);
    for i in 0..n {
        insert(&tables[0], &key(2 * i, 9), i + 1, i % 2 == 0);
    }
    let served = super::skiplist::FINGER_SEARCHES.load(MemOrder::Relaxed) - searches;
    assert!(served >= n - 20, "fingers served {served} of {n} appends");
    for i in 0..n {
        insert(&tables[0], &key(2 * i + 1, 9), n + 1 + i, i % 2 == 1);
    }

    let start = Arc::new(Barrier::new(THREADS as usize));
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (tables, start) = (tables.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                race_window::enable();
                let mut rng = StdRng::seed_from_u64(t);
                let mut written = Vec::new();
                start.wait();
                for run in 0..runs {
                    let table = &tables[(run % 2) as usize];
                    let first = rng.gen_range(0..2 * n);
                    let len = rng.gen_range(1..scaled(300));
                    for (at, i) in (first..first + len).enumerate() {
                        let seq = 10_000 + (t * runs + run) * 1_000 + at as u64;
                        let k = key(i, t);
                        if written.contains(&(run % 2, i)) {
                            continue;
                        }
                        insert(table, &k, seq, rng.gen_bool(0.5));
                        written.push((run % 2, i));
                    }
                }
                written
            })
        })
        .collect();
    let mut models = [Model::new(), Model::new()];
    for i in 0..2 * n {
        let seq = if i % 2 == 0 { i / 2 + 1 } else { n + 1 + i / 2 };
        models[0].insert((key(i, 9), Reverse(seq)), (ValueKind::Value, key(i, 9)));
    }
    let written: Vec<Vec<(u64, u64)>> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    for (t, written) in written.iter().enumerate() {
        for &(table, i) in written {
            let k = key(i, t as u64);
            // Only keys are compared below: the seq is a placeholder.
            models[table as usize].insert((k.clone(), Reverse(0)), (ValueKind::Value, k));
        }
    }
    for (table, model) in tables.iter().zip(&models) {
        let expected: Vec<Vec<u8>> = model.keys().map(|(k, _)| k.clone()).collect();
        let scanned: Vec<Vec<u8>> = forward(table).into_iter().map(|e| e.0).collect();
        assert_eq!(scanned, expected);
        let mut back: Vec<Vec<u8>> = backward(table).into_iter().map(|e| e.0).collect();
        back.reverse();
        assert_eq!(back, expected);
        for k in &expected {
            let (_, kind, value) = table.get(k, MAX_SEQNO).expect("every key is found");
            assert_eq!((kind, value), (ValueKind::Value, &k[..]));
        }
        table.list.assert_levels_ordered();
    }
}

/// Goal: an arena's untouched pages cost no resident memory. Method: make
/// a 1 GiB table, insert a little, and check the process RSS grew by far
/// less than 1 GiB (other tests may run at once, hence the wide margin).
#[cfg(target_os = "linux")]
#[cfg_attr(miri, ignore = "reads /proc, which Miri cannot")]
#[test]
fn memtable_untouched_arena_costs_no_rss() {
    fn rss_bytes() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4096
    }
    let before = rss_bytes();
    let table = Memtable::new(1 << 30);
    for i in 0..1_000u64 {
        assert!(table.insert(&i.to_be_bytes(), i + 1, ValueKind::Value, &[1; 100]));
    }
    let grown = rss_bytes().saturating_sub(before);
    assert!(
        grown < 256 << 20,
        "RSS grew by {grown} bytes for a 1 GiB arena"
    );
    assert_eq!(table.capacity(), 1 << 30);
}

/// Goal: inserts that race for the very same link all land. Method: 4
/// threads insert versions of one user key with ascending, disjoint
/// sequence numbers, so every insert goes to the front of that key's
/// versions, and yield between search and link, so the CASes collide as
/// often as possible (a blind store instead of the CAS fails this test);
/// a reader scans meanwhile. Afterwards each version is found and the scan holds them all,
/// newest first.
#[test]
fn memtable_concurrent_inserts_at_one_spot() {
    const WRITERS: u64 = 4;
    let per_writer = per_thread(20_000);
    let table = Arc::new(Memtable::new(64 << 20));
    assert!(table.insert(b"a", 1, ValueKind::Value, b"before"));
    assert!(table.insert(b"c", 1, ValueKind::Value, b"after"));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (table, done) = (Arc::clone(&table), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(MemOrder::Acquire) {
                let seqs: Vec<SeqNo> = forward(&table).iter().map(|e| e.1).collect();
                assert!(seqs[1..seqs.len() - 1].windows(2).all(|w| w[0] > w[1]));
            }
        })
    };
    let start = Arc::new(Barrier::new(WRITERS as usize));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (table, start) = (Arc::clone(&table), Arc::clone(&start));
            std::thread::spawn(move || {
                race_window::enable();
                start.wait();
                for i in 0..per_writer {
                    let seq = 2 + i * WRITERS + w;
                    let value = seq.to_le_bytes();
                    if w % 2 == 0 {
                        assert!(table.insert(b"b", seq, ValueKind::Value, &value));
                    } else {
                        let prepared = table.prepare(b"b");
                        assert!(table.insert_prepared(
                            &prepared,
                            b"b",
                            seq,
                            ValueKind::Value,
                            &value
                        ));
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    done.store(true, MemOrder::Release);
    reader.join().unwrap();

    let entries = forward(&table);
    assert_eq!(entries.len() as u64, 2 + WRITERS * per_writer);
    let versions = &entries[1..entries.len() - 1];
    for (entry, seq) in versions.iter().zip((2..2 + WRITERS * per_writer).rev()) {
        assert_eq!((&entry.0[..], entry.1), (&b"b"[..], seq));
        assert_eq!(
            table.get(b"b", seq),
            Some((seq, ValueKind::Value, &seq.to_le_bytes()[..]))
        );
    }
}

#[test]
fn memtable_key_range_excludes_only_keys_outside_it() {
    // Goal: a lookup skips the memtable for a key outside the range of
    // keys inserted (empty, below the first, above the last), never for a
    // key inserted, whatever the insert order and with appends racing.
    let key = |i: u64| format!("k{i:08}").into_bytes();
    let found = |table: &Memtable, k: &[u8]| {
        table
            .get_filtered(k, crate::types::key_hash(k), SeqNo::MAX)
            .is_some()
    };
    for order in ["ascending", "descending", "random"] {
        let table = Memtable::new(8 << 20);
        assert!(table.list.excludes(&key(5)), "empty");
        let mut keys: Vec<u64> = (1..=scaled(3_000)).map(|i| i * 2).collect();
        match order {
            "descending" => keys.reverse(),
            "random" => keys.shuffle(&mut StdRng::seed_from_u64(9)),
            _ => {}
        }
        let (mut low, mut high) = (u64::MAX, 0);
        for (n, &i) in keys.iter().enumerate() {
            assert!(table.insert(&key(i), n as SeqNo + 1, ValueKind::Value, b"v"));
            (low, high) = (low.min(i), high.max(i));
            assert!(found(&table, &key(i)), "{order}: just inserted {i}");
            assert!(table.list.excludes(&key(low - 1)), "{order}: below {low}");
            assert!(table.list.excludes(&key(high + 1)), "{order}: above {high}");
            if n % 97 == 0 {
                for &j in &keys[..=n] {
                    assert!(!table.list.excludes(&key(j)), "{order}: {j} inserted");
                }
            }
        }
        // Versions of the last key: still found, still the bound.
        assert!(table.insert(&key(high), 1 << 40, ValueKind::Value, b"w"));
        assert!(found(&table, &key(high)));
        assert!(table.list.excludes(&key(high + 1)));
    }
    // Appends racing at the end of level 0: every key stays findable.
    const WRITERS: u64 = 4;
    let appends = per_thread(20_000);
    let table = Arc::new(Memtable::new(16 << 20));
    let barrier = Arc::new(Barrier::new(WRITERS as usize));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (table, barrier) = (Arc::clone(&table), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                for i in (0..appends).filter(|i| i % WRITERS == w) {
                    assert!(table.insert(&key(i), i + 1, ValueKind::Value, b"v"));
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    for i in 0..appends {
        assert!(found(&table, &key(i)), "{i} after racing appends");
    }
    // Racing appends may leave `last` behind; the next append sets it.
    assert!(table.insert(&key(appends), 1 << 40, ValueKind::Value, b"v"));
    assert!(table.list.excludes(&key(appends + 1)));
    assert!(found(&table, &key(appends)));
}

/// Goal: `next_key` (which compares node keys in place) lands on the first
/// version of the next larger key from every version of every key,
/// including at the end. Method: random keys with up to 6 versions each;
/// from each entry, one `next_key` compared with the model's order.
#[test]
fn memtable_next_key_passes_every_version() {
    let mut rng = StdRng::seed_from_u64(0x6e6b);
    let table = Arc::new(Memtable::new(1 << 20));
    let mut model = Model::new();
    let mut seq = 1;
    for _ in 0..scaled(400) {
        let key = random_key(&mut rng);
        for _ in 0..rng.gen_range(1..=6) {
            seq += 1;
            assert!(table.insert(&key, seq, ValueKind::Value, b"v"));
            model.insert(
                (key.clone(), Reverse(seq)),
                (ValueKind::Value, b"v".to_vec()),
            );
        }
    }
    let expected: Vec<Entry> = model.iter().map(|(k, v)| model_entry(k, v)).collect();
    let mut scratch = Vec::new();
    for (at, entry) in expected.iter().enumerate() {
        let mut iter = table.iter();
        iter.seek(&entry.0, entry.1).unwrap();
        assert_eq!(current(&iter).as_ref(), Some(entry));
        iter.next_key(&mut scratch).unwrap();
        let past = expected[at..].iter().find(|e| e.0 != entry.0);
        assert_eq!(current(&iter).as_ref(), past, "from {at}");
    }
}
