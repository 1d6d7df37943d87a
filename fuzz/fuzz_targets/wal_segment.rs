//! Fuzzes `wal::reader::read_segment`: arbitrary segment bytes must never
//! panic; every record handed out decodes to exactly `count` entries; an
//! error is a corruption naming the segment.
#![no_main]

use fractio::batch::EntryDecoder;
use fractio::wal::reader::read_segment;
use fractio::Error;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let (after, bytes) = match data.split_first() {
        // The first byte picks the sequence number the segment follows.
        Some((&selector, rest)) => (u64::from(selector) << (selector % 41), rest),
        None => (0, data),
    };
    let path = Path::new("000001.log");
    let result = read_segment(bytes, path, after, |record| {
        assert!(record.count > 0);
        let decoded = EntryDecoder::new(record.entries)
            .map(|entry| entry.expect("a returned record decodes"))
            .count();
        assert_eq!(decoded, record.count as usize);
        assert!(record.offset < bytes.len() as u64);
        Ok(())
    });
    if let Err(error) = result {
        assert!(matches!(error, Error::Corruption { ref file, .. } if file == path));
    }
});
