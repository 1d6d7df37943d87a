//! Fuzzes `version::manifest::decode_manifest`: arbitrary bytes must never
//! panic; success yields at least one edit; failure is a corruption naming
//! the manifest.
#![no_main]

use fractio::version::manifest::decode_manifest;
use fractio::Error;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("MANIFEST-000001");
    match decode_manifest(data, path) {
        Ok(edits) => assert!(!edits.is_empty()),
        Err(error) => {
            assert!(matches!(error, Error::Corruption { ref file, .. } if file == path))
        }
    }
});
