//! Fuzzes the decoders of a table's metadata: the footer, block handles,
//! the bloom filter, the index (over a decoded block) and the properties.
//! The first byte picks the decoder; nothing may panic.
#![no_main]

use fractio::table::block::Block;
use fractio::table::filter::Filter;
use fractio::table::format::{BlockHandle, Footer};
use fractio::table::index::Index;
use fractio::table::TableProperties;
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 5 {
        0 => {
            if let Ok(footer) = Footer::decode(bytes) {
                // A decoded footer encodes back to the bytes it came from.
                assert_eq!(
                    &footer.encode()[..],
                    &bytes[bytes.len() - footer.encode().len()..]
                );
            }
        }
        1 => {
            let _ = BlockHandle::decode(bytes);
        }
        2 => {
            if let Ok(filter) = Filter::decode(bytes.to_vec()) {
                for hash in [0, 1, u64::MAX, 0x9e37_79b9_7f4a_7c15] {
                    let _ = filter.may_contain(hash);
                }
            }
        }
        3 => {
            if let Ok(block) = Block::decode(bytes.to_vec()) {
                if let Ok(index) = Index::decode(Arc::new(block)) {
                    for key in [&b""[..], b"a", b"zzzz"] {
                        let i = index.find(key, 0);
                        let _ = (index.handle(i), index.last_key(i));
                    }
                }
            }
        }
        _ => {
            if let Ok(properties) = TableProperties::decode(bytes) {
                assert!(properties.tombstones <= properties.entries);
                assert!(properties.smallest_seq <= properties.largest_seq);
            }
        }
    }
});
