//! Fuzzes the table block decoders: `format::unseal_block` (checksum and
//! LZ4) and `block::Block::decode` with its cursor and point lookup, on
//! arbitrary bytes. Nothing may panic; a cursor that walks the block both
//! ways stays inside it.
#![no_main]

use fractio::table::block::Block;
use fractio::table::format::unseal_block;
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    // The sealed form: checksum and decompression must fail cleanly.
    let payload = unseal_block(data.to_vec()).unwrap_or_else(|_| data.to_vec());
    let Ok(block) = Block::decode(payload) else {
        return;
    };
    let block = Arc::new(block);
    let mut iter = block.iter();
    let mut forward = 0usize;
    if iter.seek_to_first().is_ok() {
        while iter.valid() && forward <= data.len() {
            let (key, seq) = (iter.key().to_vec(), iter.seq());
            let _ = block.get(&key, seq);
            forward += 1;
            if iter.next().is_err() {
                break;
            }
        }
    }
    let mut backward = 0usize;
    if iter.seek_to_last().is_ok() {
        while iter.valid() && backward <= data.len() {
            backward += 1;
            if iter.prev().is_err() {
                break;
            }
        }
    }
    // Every entry takes at least one byte: a walk longer than the input
    // would mean the cursor loops.
    assert!(forward <= data.len() && backward <= data.len());
    let _ = iter.seek(b"key", u64::MAX >> 8);
    let _ = iter.seek_for_prev(b"key", 0);
});
