//! [`OpenFiles`]: at most `max_open_tables` table files open at once.
//!
//! An open [`Table`] keeps its index, filter and properties in memory for
//! its whole life, but its file descriptor only while it is among the most
//! recently read: when more than `capacity` tables hold a file, the least
//! recently used close theirs (CLOCK: a table read since the hand last
//! passed it gets a second chance). A table needs its file only to read a
//! data block the cache does not hold, so lookups answered by the filter or
//! the cache never touch any of this; a read that finds the file closed
//! opens it again.
//!
//! Invariants: `open` counts the tables of this set holding a file; each
//! has exactly one queue entry; entries of dropped tables are stale and
//! skipped (the drop released the count).

use super::reader::Table;
use crate::fs::{FileSystem, RandomAccessFile};
use crate::{Error, Result};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

/// The set of table files a database keeps open.
pub struct OpenFiles {
    fs: Arc<dyn FileSystem>,
    capacity: usize,
    /// Tables holding an open file.
    open: AtomicUsize,
    /// Tables holding an open file, in CLOCK order.
    queue: Mutex<VecDeque<Weak<Table>>>,
}

impl std::fmt::Debug for OpenFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenFiles")
            .field("capacity", &self.capacity)
            .field("open", &self.open_count())
            .finish()
    }
}

impl OpenFiles {
    /// At most `capacity` (at least 1) files of `fs` open at once.
    pub fn new(fs: Arc<dyn FileSystem>, capacity: usize) -> Arc<OpenFiles> {
        Arc::new(OpenFiles {
            fs,
            capacity: capacity.max(1),
            open: AtomicUsize::new(0),
            queue: Mutex::default(),
        })
    }

    /// Table files open now.
    pub fn open_count(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Opens the table file at `path` (the first time or again); a file
    /// that is not there is a corruption: the manifest names it.
    pub fn open(&self, path: &Path) -> Result<Arc<dyn RandomAccessFile>> {
        self.fs.open_random(path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::corruption(path, 0, "table named by the manifest is missing")
            } else {
                Error::Io(e)
            }
        })
    }

    /// Counts a table that just opened its file, after closing the files
    /// of others until it fits. Counting under the queue's mutex, after
    /// making room, means the count never passes `capacity` while room can
    /// be made, not even for an instant (readers of `open_count` run
    /// concurrently with background threads opening tables).
    pub(crate) fn track(&self, table: Weak<Table>) {
        let mut queue = self.queue.lock();
        // A table is passed over at most once before it is closed.
        let mut budget = 2 * queue.len();
        while self.open_count() >= self.capacity && budget > 0 {
            budget -= 1;
            let Some(entry) = queue.pop_front() else {
                break;
            };
            let Some(victim) = entry.upgrade() else {
                continue; // Dropped: its drop released the count.
            };
            if victim.file_recently_used() {
                queue.push_back(entry);
            } else if victim.close_file() {
                self.open.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.open.fetch_add(1, Ordering::Relaxed);
        queue.push_back(table);
        if queue.len() > 2 * self.open_count() + 64 {
            queue.retain(|entry| entry.strong_count() > 0);
        }
    }

    /// Releases the count of a dropped table that held its file.
    pub(crate) fn untrack(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}
