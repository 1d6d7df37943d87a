//! `fractio check DIR` as a user runs it: the built binary on a real
//! directory. Goal: a sound database passes (exit 0), a damaged table or
//! log is reported with its file name (exit 1), and a directory that
//! cannot be checked (missing, or open in a running database) exits 2.
//! Method: a database written and closed through the engine on a temporary
//! directory, then damaged by hand between runs of the binary.

use fractio::Db;
use std::path::Path;
use std::process::Command;

fn check(dir: &Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_fractio"))
        .arg("check")
        .arg(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

fn files_ending(dir: &Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

#[test]
fn check_reports_damage_by_file_and_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    {
        let db = Db::builder(&dir).memtable_size(256 << 10).open().unwrap();
        for i in 0..6000u32 {
            db.insert(format!("key{i:06}"), [b'v'; 100]).unwrap();
        }
        db.flush().unwrap();
        for i in 0..100u32 {
            db.insert(format!("late{i:04}"), b"x").unwrap();
        }
    }
    let (code, text) = check(&dir);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(": 0 problems"), "{text}");

    // A flipped bit in a table's first data block.
    let table = files_ending(&dir, ".sst").remove(0);
    let mut bytes = std::fs::read(&table).unwrap();
    bytes[100] ^= 0x04;
    std::fs::write(&table, &bytes).unwrap();
    let (code, text) = check(&dir);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains(&table.display().to_string()), "{text}");
    bytes[100] ^= 0x04;
    std::fs::write(&table, &bytes).unwrap();

    // A flipped bit in the first log record.
    let log = files_ending(&dir, ".log").pop().unwrap();
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[12] ^= 0x01;
    std::fs::write(&log, &bytes).unwrap();
    let (code, text) = check(&dir);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains(&log.display().to_string()), "{text}");
    bytes[12] ^= 0x01;
    std::fs::write(&log, &bytes).unwrap();
    assert_eq!(check(&dir).0, 0);

    // Open in a running database: not checked.
    let db = Db::open(&dir).unwrap();
    let (code, text) = check(&dir);
    assert_eq!(code, 2, "{text}");
    drop(db);
    assert_eq!(check(&tmp.path().join("missing")).0, 2);
}
