//! The LSM suite: the seed's workloads on one database, in the seed's
//! order, each read checked against what was written.
//!
//! 1. `seq-write`: keys `seq…_i` for `i` in `0..ops`, in index order.
//! 2. `rand-write`: keys `rand…_i`, in an order shuffled with a fixed seed.
//! 3. `seq-read`: every `seq` key in index order, value checked.
//! 4. `rand-read`: every `rand` key in another shuffled order, value checked.
//! 5. `range-scan`: scans of 10,000 consecutive `seq` keys from random
//!    starts, `ops` keys in all; every key and value checked, and the count.
//! 6. `prefix-scan`: scans of prefixes that select 10 `rand` keys each
//!    (`randkkkkk_12345` → `_123450` … `_123459`), about `ops` keys in all; keys, values and count checked.
//! 7. `delete`: removes the even `seq` keys; afterwards (untimed) every
//!    removed key must be absent and every other one present.
//! 8. `contains`: `contains_key` of every `rand` key, all present.
//! 9. `concurrent`: `threads` threads, `ops` operations in all, 70% reads
//!    of random `rand` keys (checked), 30% inserts of `conc` keys (see
//!    [`super::mixed`]); afterwards (untimed) every `conc` key written must
//!    be there.
//!
//! An operation of a scan is one key visited. The two write workloads
//! populate the database and always run; the others run when selected.

use super::args::Workload;
use super::engine::Engine;
use super::error::{Error, Mismatch, Result};
use super::keys::{shuffled, FastRng, KeySet, ValueGen};
use super::measure::{
    Outcome, Sampler, Steps, WorkloadResult, SAMPLE_EVERY_POINT, SAMPLE_EVERY_STEP,
};
use super::mixed::Mixed;
use std::path::Path;
use std::sync::Mutex;

/// Keys per range scan, as the seed.
pub const RANGE_SCAN_KEYS: u64 = 10_000;

/// Tags that tell the values of the key sets apart.
const TAG_SEQ: u64 = 1;
const TAG_RAND: u64 = 2;
const TAG_CONC: u64 = 5;

/// Keys, orders and expected scan results, all built before any clock.
pub struct LsmData {
    seq: KeySet,
    rand: KeySet,
    /// Keys the concurrent workload writes.
    conc: KeySet,
    rand_write_order: Vec<u32>,
    rand_read_order: Vec<u32>,
    /// `seq` indices in key order.
    seq_sorted: Vec<u32>,
    range_scan_keys: u64,
    /// Positions in `seq_sorted` where range scans start.
    range_starts: Vec<u64>,
    /// `rand` indices in key order.
    rand_sorted: Vec<u32>,
    prefix_scans: Vec<PrefixScan>,
    values: ValueGen,
}

/// One prefix scan: the prefix is `rand` key `key` without its last byte;
/// it selects `count` keys from position `first` of `rand_sorted`.
struct PrefixScan {
    key: u64,
    first: usize,
    count: usize,
}

impl LsmData {
    /// Builds everything for `ops` operations per workload.
    pub fn new(ops: u64, key_size: usize, value_size: usize) -> LsmData {
        let seq = KeySet::new("seq", ops, key_size, TAG_SEQ);
        let rand = KeySet::new("rand", ops, key_size, TAG_RAND);
        let seq_sorted = seq.sorted_order();
        let rand_sorted = rand.sorted_order();
        let range_scan_keys = RANGE_SCAN_KEYS.min(ops - 1);
        let scans = (ops / range_scan_keys.max(1)).max(1);
        let mut rng = FastRng::new(1);
        let range_starts = (0..scans)
            .map(|_| rng.below(ops - range_scan_keys))
            .collect();
        let prefix_scans = prefix_scans(&rand, &rand_sorted, ops);
        LsmData {
            rand_write_order: shuffled(ops, 1),
            rand_read_order: shuffled(ops, 2),
            conc: KeySet::new("conc", ops, key_size, TAG_CONC),
            seq,
            rand,
            seq_sorted,
            range_scan_keys,
            range_starts,
            rand_sorted,
            prefix_scans,
            values: ValueGen::new(value_size),
        }
    }

    fn ops(&self) -> u64 {
        self.seq.len()
    }
}

/// Prefixes that select the 10 keys sharing all index digits but the last
/// (the padding differs between digit counts, so no other key matches),
/// shuffled; at most `ops / 10`. The expected keys are found by search in
/// key order all the same, so the check holds for any key shape.
fn prefix_scans(rand: &KeySet, sorted: &[u32], ops: u64) -> Vec<PrefixScan> {
    let groups: Vec<u64> = (1..ops / 10).collect();
    let wanted = (ops / 10).max(1) as usize;
    let mut scans = Vec::with_capacity(wanted.min(groups.len()));
    for pick in shuffled(groups.len() as u64, 3).into_iter().take(wanted) {
        let key = groups[pick as usize] * 10;
        let full = rand.key(key);
        let prefix = &full[..full.len() - 1];
        let first = sorted.partition_point(|&i| rand.key(i.into()) < prefix);
        let count = sorted[first..]
            .iter()
            .take_while(|&&i| rand.key(i.into()).starts_with(prefix))
            .count();
        scans.push(PrefixScan { key, first, count });
    }
    scans
}

/// Runs the suite on `engine` in `dir`, handing each selected workload's
/// result to `emit` as soon as it is done. Returns the user bytes written
/// by all workloads run, selected or not.
pub fn run<E: Engine>(
    engine: &E,
    data: &LsmData,
    dir: &Path,
    threads: u64,
    selected: &[Workload],
    emit: &mut dyn FnMut(WorkloadResult) -> Result<()>,
) -> Result<u64> {
    let suite = Suite {
        engine,
        data,
        threads,
        concurrent_writes: Mutex::new(Vec::new()),
    };
    let mut steps = Steps::new(dir, selected, emit);
    steps.run(Workload::SeqWrite, &|| suite.seq_write())?;
    steps.run(Workload::RandWrite, &|| suite.rand_write())?;
    let optional: [(Workload, &dyn Fn() -> Result<Outcome>); 7] = [
        (Workload::SeqRead, &|| suite.seq_read()),
        (Workload::RandRead, &|| suite.rand_read()),
        (Workload::RangeScan, &|| suite.range_scan()),
        (Workload::PrefixScan, &|| suite.prefix_scan()),
        (Workload::Delete, &|| suite.delete()),
        (Workload::Contains, &|| suite.contains()),
        (Workload::Concurrent, &|| suite.concurrent()),
    ];
    for (workload, f) in optional {
        if steps.selects(workload) {
            steps.run(workload, f)?;
            match workload {
                Workload::Delete => suite.verify_deleted()?,
                Workload::Concurrent => suite.verify_concurrent()?,
                _ => {}
            }
        }
    }
    Ok(steps.written)
}

struct Suite<'a, E> {
    engine: &'a E,
    data: &'a LsmData,
    threads: u64,
    /// Writes per thread of the last `concurrent` run.
    concurrent_writes: Mutex<Vec<u64>>,
}

/// Checks a read of key `i` of the set tagged `tag`; `Err` describes what
/// came back instead. Allocates only on failure.
#[inline]
fn check_value(values: &ValueGen, tag: u64, i: u64, got: Option<&[u8]>) -> Result<(), String> {
    match got {
        Some(value) if values.matches(tag, i, value) => Ok(()),
        Some(value) => Err(describe_wrong(values, tag, i, value)),
        None => Err("expected a value, found none".to_string()),
    }
}

#[cold]
fn describe_wrong(values: &ValueGen, tag: u64, i: u64, value: &[u8]) -> String {
    let mut expected = values.buffer();
    values.fill(tag, i, &mut expected);
    let shown = value.len().min(16);
    let start = value
        .iter()
        .zip(&expected)
        .position(|(a, b)| a != b)
        .unwrap_or(value.len().min(expected.len()));
    format!(
        "wrong value: {} bytes (expected {}), first difference at byte {start}, got {:02x?}…",
        value.len(),
        expected.len(),
        &value[..shown]
    )
}

impl<E: Engine> Suite<'_, E> {
    fn write_all(&self, keys: &KeySet, order: impl Iterator<Item = u64>) -> Result<Outcome> {
        let values = &self.data.values;
        let mut buf = values.buffer();
        let mut sampler = Sampler::new(SAMPLE_EVERY_POINT);
        let mut ops = 0;
        let mut order = order.peekable();
        while let Some(i) = order.next() {
            if let Some(&next) = order.peek() {
                keys.prefetch(next);
            }
            sampler.tick();
            values.fill(keys.tag(), i, &mut buf);
            self.engine.insert(keys.key(i), &buf)?;
            ops += 1;
        }
        Ok(Outcome {
            workload: Workload::SeqWrite,
            ops,
            user_write_bytes: keys.key_bytes() + ops * values.value_size() as u64,
            hist: sampler.finish(),
        })
    }

    fn seq_write(&self) -> Result<Outcome> {
        self.write_all(&self.data.seq, 0..self.data.ops())
    }

    fn rand_write(&self) -> Result<Outcome> {
        let order = self.data.rand_write_order.iter().map(|&i| u64::from(i));
        let outcome = self.write_all(&self.data.rand, order)?;
        Ok(Outcome {
            workload: Workload::RandWrite,
            ..outcome
        })
    }

    fn read_all(
        &self,
        workload: Workload,
        keys: &KeySet,
        order: impl Iterator<Item = u64>,
    ) -> Result<Outcome> {
        let values = &self.data.values;
        let mut sampler = Sampler::new(SAMPLE_EVERY_POINT);
        let mut ops = 0;
        let mut order = order.peekable();
        while let Some(i) = order.next() {
            if let Some(&next) = order.peek() {
                keys.prefetch(next);
            }
            sampler.tick();
            let key = keys.key(i);
            self.engine
                .get(key, |got| check_value(values, keys.tag(), i, got))?
                .map_err(|detail| Mismatch::error(workload.name(), key, detail))?;
            ops += 1;
        }
        Ok(Outcome {
            workload,
            ops,
            user_write_bytes: 0,
            hist: sampler.finish(),
        })
    }

    fn seq_read(&self) -> Result<Outcome> {
        self.read_all(Workload::SeqRead, &self.data.seq, 0..self.data.ops())
    }

    fn rand_read(&self) -> Result<Outcome> {
        let order = self.data.rand_read_order.iter().map(|&i| u64::from(i));
        self.read_all(Workload::RandRead, &self.data.rand, order)
    }

    /// Visits the keys `expected` (indices of `keys`) through `scan`,
    /// checking every key, value and the count.
    fn check_scan(
        &self,
        workload: Workload,
        keys: &KeySet,
        expected: &[u32],
        sampler: &mut Sampler,
        scan: impl FnOnce(&mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<()>,
    ) -> Result<()> {
        let values = &self.data.values;
        let mut seen = 0usize;
        let mut failure: Option<Error> = None;
        scan(&mut |key, value| {
            sampler.tick();
            let Some(&i) = expected.get(seen) else {
                failure = Some(Mismatch::error(
                    workload.name(),
                    key,
                    "key beyond the scan's end",
                ));
                return false;
            };
            let i = u64::from(i);
            if key != keys.key(i) {
                let detail = format!("expected key {:?}", String::from_utf8_lossy(keys.key(i)));
                failure = Some(Mismatch::error(workload.name(), key, detail));
                return false;
            }
            if let Err(detail) = check_value(values, keys.tag(), i, Some(value)) {
                failure = Some(Mismatch::error(workload.name(), key, detail));
                return false;
            }
            seen += 1;
            true
        })?;
        if let Some(failure) = failure {
            return Err(failure);
        }
        if seen != expected.len() {
            let first = expected.first().map_or(&b""[..], |&i| keys.key(i.into()));
            let detail = format!("scan returned {seen} keys, expected {}", expected.len());
            return Err(Mismatch::error(workload.name(), first, detail));
        }
        Ok(())
    }

    fn range_scan(&self) -> Result<Outcome> {
        let data = self.data;
        let len = data.range_scan_keys as usize;
        let mut sampler = Sampler::new(SAMPLE_EVERY_STEP);
        for &start in &data.range_starts {
            let start = start as usize;
            let expected = &data.seq_sorted[start..start + len];
            let first = data.seq.key(data.seq_sorted[start].into());
            let end = data.seq.key(data.seq_sorted[start + len].into());
            self.check_scan(
                Workload::RangeScan,
                &data.seq,
                expected,
                &mut sampler,
                |visit| self.engine.range(first, end, visit),
            )?;
        }
        Ok(Outcome {
            workload: Workload::RangeScan,
            ops: data.range_starts.len() as u64 * len as u64,
            user_write_bytes: 0,
            hist: sampler.finish(),
        })
    }

    fn prefix_scan(&self) -> Result<Outcome> {
        let data = self.data;
        let mut sampler = Sampler::new(SAMPLE_EVERY_STEP);
        let mut ops = 0;
        for scan in &data.prefix_scans {
            let full = data.rand.key(scan.key);
            let prefix = &full[..full.len() - 1];
            let expected = &data.rand_sorted[scan.first..scan.first + scan.count];
            self.check_scan(
                Workload::PrefixScan,
                &data.rand,
                expected,
                &mut sampler,
                |visit| self.engine.prefix(prefix, visit),
            )?;
            ops += scan.count as u64;
        }
        Ok(Outcome {
            workload: Workload::PrefixScan,
            ops,
            user_write_bytes: 0,
            hist: sampler.finish(),
        })
    }

    fn delete(&self) -> Result<Outcome> {
        let seq = &self.data.seq;
        let mut sampler = Sampler::new(SAMPLE_EVERY_POINT);
        let (mut ops, mut key_bytes) = (0, 0);
        for i in (0..self.data.ops()).step_by(2) {
            sampler.tick();
            let key = seq.key(i);
            self.engine.remove(key)?;
            ops += 1;
            key_bytes += key.len() as u64;
        }
        Ok(Outcome {
            workload: Workload::Delete,
            ops,
            user_write_bytes: key_bytes,
            hist: sampler.finish(),
        })
    }

    /// After `delete`: removed keys absent, the others intact. Untimed.
    fn verify_deleted(&self) -> Result<()> {
        let (seq, values) = (&self.data.seq, &self.data.values);
        for i in 0..self.data.ops() {
            let key = seq.key(i);
            let verdict = self.engine.get(key, |got| match (i % 2 == 0, got) {
                (true, None) => Ok(()),
                (true, Some(_)) => Err("deleted key is still present".to_string()),
                (false, got) => check_value(values, seq.tag(), i, got),
            })?;
            verdict.map_err(|detail| Mismatch::error(Workload::Delete.name(), key, detail))?;
        }
        Ok(())
    }

    fn contains(&self) -> Result<Outcome> {
        let rand = &self.data.rand;
        let mut sampler = Sampler::new(SAMPLE_EVERY_POINT);
        let order = &self.data.rand_write_order;
        for (n, &i) in order.iter().enumerate() {
            if let Some(&next) = order.get(n + 1) {
                rand.prefetch(next.into());
            }
            sampler.tick();
            let key = rand.key(i.into());
            if !self.engine.contains(key)? {
                let detail = "contains_key is false for a written key";
                return Err(Mismatch::error(Workload::Contains.name(), key, detail));
            }
        }
        Ok(Outcome {
            workload: Workload::Contains,
            ops: self.data.ops(),
            user_write_bytes: 0,
            hist: sampler.finish(),
        })
    }

    #[allow(clippy::type_complexity)]
    fn mixed(
        &self,
    ) -> Mixed<
        '_,
        impl Fn(&[u8], &[u8]) -> Result<()> + Sync + '_,
        impl Fn(&KeySet, u64) -> Result<Result<(), String>> + Sync + '_,
    > {
        let (engine, values) = (self.engine, &self.data.values);
        Mixed {
            workload: Workload::Concurrent,
            read_keys: &self.data.rand,
            write_keys: &self.data.conc,
            values,
            write: move |key: &[u8], value: &[u8]| engine.insert(key, value),
            read: move |keys: &KeySet, i: u64| {
                engine.get(keys.key(i), |got| check_value(values, keys.tag(), i, got))
            },
        }
    }

    fn concurrent(&self) -> Result<Outcome> {
        let (outcome, writes) = self.mixed().run(self.threads, self.data.ops())?;
        *self.concurrent_writes.lock().expect("not poisoned") = writes;
        Ok(outcome)
    }

    /// After `concurrent`: every key written is there. Untimed.
    fn verify_concurrent(&self) -> Result<()> {
        self.mixed()
            .verify(&self.concurrent_writes.lock().expect("not poisoned"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::engines::skiplist::SkipListEngine;

    #[test]
    fn prefix_scans_select_ten_keys() {
        // Goal: with 2000 keys, each prefix selects keys 10g..10g+9.
        let rand = KeySet::new("rand", 2000, 16, TAG_RAND);
        let sorted = rand.sorted_order();
        let scans = prefix_scans(&rand, &sorted, 2000);
        assert_eq!(scans.len(), 199);
        assert!(scans.iter().all(|s| s.count == 10 && s.key >= 10));
    }

    #[test]
    fn the_suite_passes_on_the_skiplist() {
        // Goal: every workload runs and verifies on a correct engine.
        let data = LsmData::new(3000, 16, 20);
        let engine = SkipListEngine::new();
        let dir = tempfile::tempdir().unwrap();
        let mut seen = Vec::new();
        run(&engine, &data, dir.path(), 4, &Workload::ALL, &mut |r| {
            seen.push(r.workload);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 9);
    }
}
