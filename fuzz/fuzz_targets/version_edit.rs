//! Fuzzes `VersionEdit::decode`: arbitrary bytes must never panic, and an
//! edit that decodes is sane (levels in range, ranges not inverted) and
//! survives a re-encode unchanged.
#![no_main]

use fractio::version::VersionEdit;
use fractio::LEVELS;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(edit) = VersionEdit::decode(data) {
        for (level, meta) in &edit.added {
            assert!(*level < LEVELS);
            assert!(meta.smallest_key <= meta.largest_key);
            assert!(meta.smallest_seq <= meta.largest_seq);
        }
        assert!(edit.deleted.iter().all(|(level, _)| *level < LEVELS));
        assert_eq!(VersionEdit::decode(&edit.encode()), Ok(edit));
    }
});
