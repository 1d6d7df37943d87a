//! Prefaulting: a background thread backs the memory the write path is
//! about to touch — the active memtable's arena and the current log
//! segment's mapping — a few MiB ahead of use.
//!
//! The first write to a page costs the kernel a page allocation and zeroing
//! inside a page fault; profiling sequential inserts showed about 40% of
//! the time there. Done ahead in another thread, a writer finds its pages
//! ready. The work is a hint: if the writer gets ahead, it faults the page
//! itself, exactly as without the thread.
//!
//! Thread-safety: [`Ahead`] lives in the commit-locked `WriteState`; jobs
//! are sent at most once per [`CHUNK`] of growth, and each job holds the
//! memtable or segment it prepares alive until it is done.

use crate::memtable::Memtable;
use crate::wal::writer::Segment;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

/// Bytes prepared per job.
const CHUNK: usize = 2 << 20;
/// How far ahead of the write position memory is kept prepared.
const AHEAD: usize = 4 << 20;

/// A request to the prefault thread.
pub(crate) enum Job {
    /// Back memtable arena bytes `[from, to)`.
    Memtable(Arc<Memtable>, usize, usize),
    /// Back log segment bytes `[from, to)`.
    Log(Arc<Segment>, u64, u64),
    /// End the thread.
    Stop,
}

/// How far ahead the active memtable and segment have been prepared.
pub(crate) struct Ahead {
    sender: Sender<Job>,
    memtable: usize,
    log: u64,
}

impl Ahead {
    pub(crate) fn new(sender: Sender<Job>) -> Ahead {
        Ahead {
            sender,
            memtable: 0,
            log: 0,
        }
    }

    /// Called after each commit: asks for the next chunk of the memtable
    /// or the segment when the write position is less than [`AHEAD`]
    /// bytes from the prepared end. Two loads and compares in the common
    /// case.
    #[inline]
    pub(crate) fn keep_ahead(&mut self, memtable: &Arc<Memtable>, segment: &Arc<Segment>) {
        if memtable.memory_used() + AHEAD > self.memtable && self.memtable < memtable.capacity() {
            let from = self.memtable;
            self.memtable += CHUNK;
            let _ = self
                .sender
                .send(Job::Memtable(memtable.clone(), from, self.memtable));
        }
        if segment.written() + AHEAD as u64 > self.log && self.log < segment.capacity() {
            let from = self.log;
            self.log += CHUNK as u64;
            let _ = self.sender.send(Job::Log(segment.clone(), from, self.log));
        }
    }

    /// A new memtable takes the writes.
    pub(crate) fn new_memtable(&mut self) {
        self.memtable = 0;
    }

    /// A new segment takes the log.
    pub(crate) fn new_segment(&mut self) {
        self.log = 0;
    }

    /// Asks the thread to end.
    pub(crate) fn stop(&self) {
        let _ = self.sender.send(Job::Stop);
    }
}

/// The thread's loop.
pub(crate) fn run(jobs: Receiver<Job>) {
    for job in jobs {
        match job {
            Job::Memtable(memtable, from, to) => memtable.prefault(from, to),
            Job::Log(segment, from, to) => segment.prefault(from, to),
            Job::Stop => return,
        }
    }
}
