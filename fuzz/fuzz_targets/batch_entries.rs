//! Fuzzes `batch::EntryDecoder`: arbitrary bytes must never panic, decoded
//! entries respect the key and value limits, and an error ends the stream.
#![no_main]

use fractio::batch::EntryDecoder;
use fractio::{ValueKind, MAX_KEY_LEN, MAX_VALUE_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut decoder = EntryDecoder::new(data);
    let mut consumed = 0usize;
    while let Some(entry) = decoder.next() {
        match entry {
            Ok(entry) => {
                assert!((1..=MAX_KEY_LEN).contains(&entry.key.len()));
                assert!(entry.value.len() <= MAX_VALUE_LEN);
                assert!(entry.kind == ValueKind::Value || entry.value.is_empty());
                consumed += 2 + entry.key.len() + entry.value.len();
                assert!(consumed <= data.len());
            }
            Err(_) => {
                assert!(decoder.next().is_none());
                break;
            }
        }
    }
});
