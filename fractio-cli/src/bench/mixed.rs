//! The concurrent mixed workload of both suites: many threads, 70% reads
//! and 30% writes, every read checked.
//!
//! Reads pick random keys of a set written before the workload; writes
//! insert keys of another set, each thread its own stripe (thread `t`
//! writes indices `t, t + T, t + 2T, …`), so a read never races a write of
//! the same key and its expected value is always known. (Racing them would
//! test atomicity of overwrites rather than throughput — and crossbeam's
//! `SkipMap::insert` does show a concurrent reader the key missing while it
//! replaces an entry.) After the clock stops, every key written must be
//! there with its value.

use super::args::Workload;
use super::error::{Mismatch, Result};
use super::keys::{FastRng, KeySet, ValueGen};
use super::measure::{Outcome, Sampler, SAMPLE_EVERY_POINT};

/// Share of writes, in tenths.
const WRITE_TENTHS: u64 = 3;

/// What the workload runs on: two closures over the engine under test.
pub struct Mixed<'a, W, R> {
    pub workload: Workload,
    /// Keys read, all present with their values.
    pub read_keys: &'a KeySet,
    /// Keys written, at least as many as operations.
    pub write_keys: &'a KeySet,
    pub values: &'a ValueGen,
    /// Writes a key and value.
    pub write: W,
    /// Reads key `i` of the given set and checks it (`Err`: what is wrong).
    pub read: R,
}

impl<W, R> Mixed<'_, W, R>
where
    W: Fn(&[u8], &[u8]) -> Result<()> + Sync,
    R: Fn(&KeySet, u64) -> Result<Result<(), String>> + Sync,
{
    /// Runs `total` operations on `threads` threads; returns the outcome
    /// and the writes of each thread, for [`verify`](Self::verify).
    pub fn run(&self, threads: u64, total: u64) -> Result<(Outcome, Vec<u64>)> {
        let threads = threads.clamp(1, total.max(1));
        let results: Vec<Result<(Sampler, u64)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let ops = total / threads + u64::from(t < total % threads);
                    scope.spawn(move || self.thread(t, threads, ops))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a concurrent worker panicked"))
                .collect()
        });
        let mut hist = Sampler::new(1).finish();
        let mut writes = Vec::with_capacity(threads as usize);
        for result in results {
            let (sampler, thread_writes) = result?;
            hist.add(sampler.finish()).expect("histograms auto-resize");
            writes.push(thread_writes);
        }
        let record_bytes = self.write_keys.key_bytes() / self.write_keys.len().max(1)
            + self.values.value_size() as u64;
        let outcome = Outcome {
            workload: self.workload,
            ops: total,
            user_write_bytes: writes.iter().sum::<u64>() * record_bytes,
            hist,
        };
        Ok((outcome, writes))
    }

    /// One thread: `ops` operations; returns its sampler and its writes.
    fn thread(&self, thread: u64, threads: u64, ops: u64) -> Result<(Sampler, u64)> {
        let (read_keys, write_keys, values) = (self.read_keys, self.write_keys, self.values);
        let mut rng = FastRng::new(100 + thread);
        let mut buf = values.buffer();
        let mut sampler = Sampler::new(SAMPLE_EVERY_POINT);
        let mut writes = 0;
        // An operation is drawn one ahead: a write (None) or a read of key
        // `i`, whose key is prefetched while the current operation runs.
        let draw =
            |rng: &mut FastRng| (rng.below(10) >= WRITE_TENTHS).then(|| rng.below(read_keys.len()));
        let mut next = draw(&mut rng);
        for _ in 0..ops {
            let op = next;
            next = draw(&mut rng);
            if let Some(i) = next {
                read_keys.prefetch(i);
            }
            sampler.tick();
            match op {
                None => {
                    let i = writes * threads + thread;
                    values.fill(write_keys.tag(), i, &mut buf);
                    (self.write)(write_keys.key(i), &buf)?;
                    writes += 1;
                }
                Some(i) => {
                    (self.read)(read_keys, i)?.map_err(|detail| {
                        Mismatch::error(self.workload.name(), read_keys.key(i), detail)
                    })?;
                }
            }
        }
        Ok((sampler, writes))
    }

    /// Checks that every key the threads wrote (`writes[t]` by thread `t`)
    /// reads back with its value. Call it after the workload's clock.
    pub fn verify(&self, writes: &[u64]) -> Result<()> {
        let threads = writes.len() as u64;
        for (t, &count) in writes.iter().enumerate() {
            for j in 0..count {
                let i = j * threads + t as u64;
                (self.read)(self.write_keys, i)?.map_err(|detail| {
                    Mismatch::error(self.workload.name(), self.write_keys.key(i), detail)
                })?;
            }
        }
        Ok(())
    }
}
