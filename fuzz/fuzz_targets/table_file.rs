//! Fuzzes a whole table file: `Table::open` on arbitrary bytes, then a full
//! scan, point reads of what the scan found and `verify`. Nothing may
//! panic, every error is a corruption naming the file, and whatever a
//! `verify`ed table yields must read back the same by point lookups.
#![no_main]

use fractio::cache::BlockCache;
use fractio::fs::{FileSystem, MemFs};
use fractio::iter::InternalIterator;
use fractio::table::Table;
use fractio::types::key_hash;
use fractio::Error;
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::Arc;

fn check(result: fractio::Result<()>, path: &Path) {
    if let Err(error) = result {
        assert!(
            matches!(error, Error::Corruption { ref file, .. } if file == path),
            "{error}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let fs = MemFs::new();
    let path = Path::new("/t/000001.sst");
    fs.create_dir_all(Path::new("/t")).unwrap();
    fs.put_file(path, data).unwrap();
    let file = fs.open_random(path).unwrap();
    let cache = Arc::new(BlockCache::new(1 << 20));
    let table = match Table::open(file, path.to_path_buf(), 1, cache) {
        Ok(table) => Arc::new(table),
        Err(error) => return check(Err(error), path),
    };
    let mut seen = Vec::new();
    let mut iter = table.iter();
    let mut scan = || -> fractio::Result<()> {
        iter.seek_to_first()?;
        while iter.valid() && seen.len() <= data.len() {
            seen.push((iter.key().to_vec(), iter.seq()));
            iter.next()?;
        }
        Ok(())
    };
    check(scan(), path);
    assert!(seen.len() <= data.len(), "the table cursor loops");
    for (key, seq) in &seen {
        check(table.get(key, key_hash(key), *seq).map(drop), path);
    }
    let verified = table.verify();
    let ok = verified.is_ok();
    check(verified, path);
    if ok {
        for (key, seq) in &seen {
            let found = table
                .get(key, key_hash(key), *seq)
                .expect("a verified table reads");
            assert_eq!(
                found.map(|f| f.0),
                Some(*seq),
                "a verified table lost a version"
            );
        }
    }
});
