//! Recovery from damaged logs: a torn record at the end of the log is cut
//! off and reported; a damaged record with good records after it is
//! `Error::Corruption` naming the segment and offset, unless the caller
//! asks to salvage.

use fractio::{Db, Error, RecoveryMode};
use std::path::{Path, PathBuf};

/// Writes `n` single inserts and closes, leaving them in the log only.
fn write_log(dir: &Path, n: u32) {
    let db = Db::open(dir).unwrap();
    for i in 0..n {
        db.insert(format!("key{i:04}"), format!("value{i}"))
            .unwrap();
    }
}

fn newest_segment(dir: &Path) -> PathBuf {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().expect("a log segment")
}

#[test]
fn a_torn_last_record_is_cut_off_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 100);
    let segment = newest_segment(dir.path());
    let mut bytes = std::fs::read(&segment).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    // A crash in the middle of copying the last record: its tail never landed.
    for b in &mut bytes[end - 4..end] {
        *b = 0;
    }
    std::fs::write(&segment, &bytes).unwrap();

    let db = Db::open(dir.path()).unwrap();
    let report = db.recovery_report().clone();
    let (file, _, _) = report.torn_tail.expect("the torn tail is reported");
    assert_eq!(file, segment);
    for i in 0..99 {
        assert_eq!(
            db.get(format!("key{i:04}")).unwrap().unwrap(),
            format!("value{i}").as_bytes()
        );
    }
    assert_eq!(db.get("key0099").unwrap(), None);
    // The database works normally afterwards and reopens cleanly.
    db.insert("after", "x").unwrap();
    drop(db);
    let db = Db::open(dir.path()).unwrap();
    assert_eq!(db.recovery_report().torn_tail, None);
    assert_eq!(db.get("after").unwrap().unwrap(), b"x");
    assert_eq!(db.get("key0098").unwrap().unwrap(), b"value98");
}

#[test]
fn a_damaged_middle_record_is_corruption_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 100);
    let segment = newest_segment(dir.path());
    let mut bytes = std::fs::read(&segment).unwrap();
    // Records of `key000i` -> `valuei` take 36 bytes: damage the second.
    bytes[50] ^= 0x10;
    std::fs::write(&segment, &bytes).unwrap();

    match Db::open(dir.path()) {
        Err(Error::Corruption { file, offset, .. }) => {
            assert_eq!(file, segment);
            assert_eq!(offset, 36);
        }
        Err(other) => panic!("expected corruption, got {other}"),
        Ok(_) => panic!("expected corruption, the database opened"),
    }
    // Nothing was changed by the failed open: it fails the same way again.
    assert!(matches!(
        Db::open(dir.path()),
        Err(Error::Corruption { .. })
    ));

    // Salvage keeps the records before the damage.
    let db = Db::builder(dir.path())
        .recovery(RecoveryMode::Salvage)
        .open()
        .unwrap();
    assert!(db.recovery_report().salvaged.is_some());
    assert_eq!(db.get("key0000").unwrap().unwrap(), b"value0");
    assert_eq!(db.get("key0001").unwrap(), None);
    assert_eq!(db.get("key0050").unwrap(), None);
}

#[test]
fn a_damaged_table_is_corruption_naming_the_table() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::builder(dir.path())
            .memtable_size(256 << 10)
            .open()
            .unwrap();
        for i in 0..5000u32 {
            db.insert(format!("key{i:05}"), [b'x'; 100]).unwrap();
        }
        db.flush().unwrap();
    }
    let table = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "sst"))
        .expect("a table");
    let mut bytes = std::fs::read(&table).unwrap();
    bytes[100] ^= 0x01; // inside the first data block
    std::fs::write(&table, &bytes).unwrap();
    let db = Db::builder(dir.path())
        .memtable_size(256 << 10)
        .open()
        .unwrap();
    let mut corrupt = 0;
    for i in 0..5000u32 {
        match db.get(format!("key{i:05}")) {
            Ok(Some(value)) => assert_eq!(value, [b'x'; 100]),
            Ok(None) => {}
            Err(Error::Corruption { file, .. }) => {
                assert_eq!(file, table);
                corrupt += 1;
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert!(corrupt > 0, "the damaged block was never reported");
    let scan: Vec<_> = db.iter().collect();
    assert!(scan
        .iter()
        .any(|item| matches!(item, Err(Error::Corruption { .. }))));
}
