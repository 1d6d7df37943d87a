//! The interface every benchmarked key-value store implements, so that one
//! generic workload code drives fractio and its peers alike.
//!
//! Methods take borrowed keys and values and hand reads to a closure, so
//! the bench itself allocates nothing per operation: whatever an adapter
//! allocates, the engine's own API needs. Implementations must be safe to
//! call from many threads at once (the concurrent workload does).

use super::error::Result;
use std::sync::atomic::{AtomicU64, Ordering};

/// A key-value store under test.
pub trait Engine: Send + Sync {
    /// Writes `value` under `key`.
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()>;

    /// Removes `key`.
    fn remove(&self, key: &[u8]) -> Result<()>;

    /// Reads `key` and hands the value (or its absence) to `check`.
    fn get<R>(&self, key: &[u8], check: impl FnOnce(Option<&[u8]>) -> R) -> Result<R>;

    /// Whether `key` is present.
    fn contains(&self, key: &[u8]) -> Result<bool>;

    /// Visits the entries with `start <= key < end` in key order until
    /// `visit` returns `false`.
    fn range(
        &self,
        start: &[u8],
        end: &[u8],
        visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()>;

    /// Visits the entries whose key starts with `prefix` in key order until
    /// `visit` returns `false`.
    fn prefix(&self, prefix: &[u8], visit: impl FnMut(&[u8], &[u8]) -> bool) -> Result<()>;

    /// Makes everything written so far reach the engine's files (memtables
    /// flushed to tables), so the size on disk at the end is comparable.
    /// Not timed.
    fn finish(&self) -> Result<()>;
}

/// An engine (or map) that returns one wrong value: the `n`-th read
/// (counting from 1) gets its last byte flipped. A test hook that proves a
/// wrong read fails the run; never used in a measured run.
pub struct Corrupting<E> {
    inner: E,
    reads: AtomicU64,
    nth: u64,
}

impl<E> Corrupting<E> {
    /// Wraps `inner`; its `nth` read comes back corrupted.
    pub fn new(inner: E, nth: u64) -> Corrupting<E> {
        Corrupting {
            inner,
            reads: AtomicU64::new(0),
            nth,
        }
    }

    /// The wrapped engine.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    /// Counts a read; whether it is the one to corrupt.
    pub fn next_read_is_corrupted(&self) -> bool {
        self.reads.fetch_add(1, Ordering::Relaxed) + 1 == self.nth
    }
}

/// A wrong version of `value`: its last byte flipped, or some bytes where
/// there was no value.
#[cold]
pub fn corrupt(value: Option<&[u8]>) -> Vec<u8> {
    let mut wrong = value.map_or_else(|| b"corrupted".to_vec(), <[u8]>::to_vec);
    match wrong.last_mut() {
        Some(last) => *last ^= 0xff,
        None => wrong.push(0),
    }
    wrong
}

impl<E: Engine> Engine for Corrupting<E> {
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner.insert(key, value)
    }

    fn remove(&self, key: &[u8]) -> Result<()> {
        self.inner.remove(key)
    }

    fn get<R>(&self, key: &[u8], check: impl FnOnce(Option<&[u8]>) -> R) -> Result<R> {
        if !self.next_read_is_corrupted() {
            return self.inner.get(key, check);
        }
        self.inner.get(key, |value| check(Some(&corrupt(value))))
    }

    fn contains(&self, key: &[u8]) -> Result<bool> {
        self.inner.contains(key)
    }

    fn range(
        &self,
        start: &[u8],
        end: &[u8],
        visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        self.inner.range(start, end, visit)
    }

    fn prefix(&self, prefix: &[u8], visit: impl FnMut(&[u8], &[u8]) -> bool) -> Result<()> {
        self.inner.prefix(prefix, visit)
    }

    fn finish(&self) -> Result<()> {
        self.inner.finish()
    }
}
