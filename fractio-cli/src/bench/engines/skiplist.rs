//! The `skiplist` engine: a bare `crossbeam_skiplist::SkipMap` of owned
//! byte vectors, the seed's baseline. No log, no files: it measures what an
//! in-memory ordered map costs, the ceiling an LSM-tree's write path and
//! memtable reads can approach.

use crate::bench::engine::Engine;
use crate::bench::error::Result;
use crossbeam_skiplist::SkipMap;
use std::ops::Bound;

/// A `SkipMap<Vec<u8>, Vec<u8>>`.
#[derive(Default)]
pub struct SkipListEngine {
    map: SkipMap<Vec<u8>, Vec<u8>>,
}

impl SkipListEngine {
    /// An empty map.
    pub fn new() -> SkipListEngine {
        SkipListEngine::default()
    }

    /// The map itself, for the skiplist suite.
    pub fn map(&self) -> &SkipMap<Vec<u8>, Vec<u8>> {
        &self.map
    }
}

impl Engine for SkipListEngine {
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.map.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn remove(&self, key: &[u8]) -> Result<()> {
        self.map.remove(key);
        Ok(())
    }

    fn get<R>(&self, key: &[u8], check: impl FnOnce(Option<&[u8]>) -> R) -> Result<R> {
        let entry = self.map.get(key);
        Ok(check(entry.as_ref().map(|e| e.value().as_slice())))
    }

    fn contains(&self, key: &[u8]) -> Result<bool> {
        Ok(self.map.contains_key(key))
    }

    fn range(
        &self,
        start: &[u8],
        end: &[u8],
        mut visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        let bounds = (Bound::Included(start), Bound::Excluded(end));
        for entry in self.map.range::<[u8], _>(bounds) {
            if !visit(entry.key(), entry.value()) {
                break;
            }
        }
        Ok(())
    }

    fn prefix(&self, prefix: &[u8], mut visit: impl FnMut(&[u8], &[u8]) -> bool) -> Result<()> {
        let bounds = (Bound::Included(prefix), Bound::Unbounded);
        for entry in self.map.range::<[u8], _>(bounds) {
            if !entry.key().starts_with(prefix) || !visit(entry.key(), entry.value()) {
                break;
            }
        }
        Ok(())
    }

    fn finish(&self) -> Result<()> {
        Ok(())
    }
}
