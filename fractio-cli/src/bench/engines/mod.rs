//! The adapters of the engines under test, each behind the
//! [`Engine`](super::engine::Engine) trait, and which ones this build has.
//!
//! `fractio` and `skiplist` are always built; the peers are cargo features of fractio-cli
//! (`rocksdb`, `fjall`, `lsm-tree`) so the default build never compiles
//! RocksDB.

use super::args::EngineKind;

#[cfg(feature = "fjall")]
pub mod fjall;
pub mod fractio;
#[cfg(feature = "lsm-tree")]
pub mod lsm_tree;
#[cfg(feature = "rocksdb")]
pub mod rocksdb;
pub mod skiplist;

/// The engines this binary can run, in report order.
pub fn compiled_in() -> Vec<EngineKind> {
    let mut engines = Vec::new();
    engines.push(EngineKind::Fractio);
    if cfg!(feature = "rocksdb") {
        engines.push(EngineKind::Rocksdb);
    }
    if cfg!(feature = "fjall") {
        engines.push(EngineKind::Fjall);
    }
    if cfg!(feature = "lsm-tree") {
        engines.push(EngineKind::LsmTree);
    }
    engines.push(EngineKind::Skiplist);
    engines
}

/// Why `engine` cannot run in this build.
pub fn missing_reason(engine: EngineKind) -> String {
    match engine {
        EngineKind::Fractio | EngineKind::Skiplist => {
            unreachable!("fractio and the skiplist are always built")
        }
        peer => format!(
            "engine {0} is not compiled in: build fractio-cli with `--features {0}`",
            peer.name()
        ),
    }
}
