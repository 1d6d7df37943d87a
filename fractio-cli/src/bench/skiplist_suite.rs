//! The skiplist suite: the seed's skiplist workloads on an in-memory
//! ordered map — fractio's own memtable skiplist, and a bare crossbeam
//! `SkipMap` as the baseline.
//!
//! 1. `sl-seq-insert`: keys `sl…_i` for `i` in `0..ops`, in index order.
//! 2. `sl-seq-lookup`: every key in index order, value checked.
//! 3. `sl-rand-lookup`: every key in a shuffled order, value checked.
//! 4. `sl-iter-fwd` / 5. `sl-iter-rev`: a full iteration forward, then
//!    backward; every key (in key order), value and the count checked.
//! 6. `sl-insert-remove`: for other keys `slx…_i`, insert then remove, two
//!    operations per key; afterwards (untimed) every one must be absent.
//! 7. `sl-concurrent`: 200 workers (the seed's count), `ops` operations in
//!    all, 70% lookups of `sl` keys (checked), 30% inserts of `slc` keys
//!    (see [`super::mixed`]); afterwards every `slc` key written must be
//!    there.
//!
//! `sl-seq-insert` populates the map and always runs.

use super::args::Workload;
use super::engine::Corrupting;
use super::error::{Error, Mismatch, Result};
use super::keys::{shuffled, KeySet, ValueGen};
use super::measure::{
    Outcome, Sampler, Steps, WorkloadResult, SAMPLE_EVERY_POINT, SAMPLE_EVERY_STEP,
};
use super::mixed::Mixed;
use std::path::Path;
use std::sync::Mutex;

/// Workers of `sl-concurrent`, as the seed.
pub const SKIPLIST_WORKERS: u64 = 200;

const TAG_SL: u64 = 3;
const TAG_SLX: u64 = 4;
const TAG_SLC: u64 = 6;

/// An in-memory ordered map under test. Safe to use from many threads.
pub trait OrderedMap: Sync {
    /// Writes `value` under `key`.
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()>;
    /// Removes `key`.
    fn remove(&self, key: &[u8]) -> Result<()>;
    /// Reads `key` and hands the value (or its absence) to `check`.
    fn get<R>(&self, key: &[u8], check: impl FnOnce(Option<&[u8]>) -> R) -> R;
    /// Visits every live entry, in key order or (`reverse`) the opposite,
    /// until `visit` returns `false`.
    fn for_each(&self, reverse: bool, visit: impl FnMut(&[u8], &[u8]) -> bool) -> Result<()>;
}

impl OrderedMap for super::engines::skiplist::SkipListEngine {
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.map().insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn remove(&self, key: &[u8]) -> Result<()> {
        self.map().remove(key);
        Ok(())
    }

    fn get<R>(&self, key: &[u8], check: impl FnOnce(Option<&[u8]>) -> R) -> R {
        let entry = self.map().get(key);
        check(entry.as_ref().map(|e| e.value().as_slice()))
    }

    fn for_each(&self, reverse: bool, mut visit: impl FnMut(&[u8], &[u8]) -> bool) -> Result<()> {
        if reverse {
            for entry in self.map().iter().rev() {
                if !visit(entry.key(), entry.value()) {
                    break;
                }
            }
        } else {
            for entry in self.map().iter() {
                if !visit(entry.key(), entry.value()) {
                    break;
                }
            }
        }
        Ok(())
    }
}

impl<M: OrderedMap> OrderedMap for Corrupting<M> {
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner().insert(key, value)
    }

    fn remove(&self, key: &[u8]) -> Result<()> {
        self.inner().remove(key)
    }

    fn get<R>(&self, key: &[u8], check: impl FnOnce(Option<&[u8]>) -> R) -> R {
        if !self.next_read_is_corrupted() {
            return self.inner().get(key, check);
        }
        self.inner()
            .get(key, |value| check(Some(&super::engine::corrupt(value))))
    }

    fn for_each(&self, reverse: bool, visit: impl FnMut(&[u8], &[u8]) -> bool) -> Result<()> {
        self.inner().for_each(reverse, visit)
    }
}

/// Keys and orders, built before any clock.
pub struct SkipListData {
    sl: KeySet,
    slx: KeySet,
    /// Keys `sl-concurrent` writes.
    slc: KeySet,
    lookup_order: Vec<u32>,
    sorted: Vec<u32>,
    values: ValueGen,
}

impl SkipListData {
    /// Builds everything for `ops` operations per workload.
    pub fn new(ops: u64, key_size: usize, value_size: usize) -> SkipListData {
        let sl = KeySet::new("sl", ops, key_size, TAG_SL);
        SkipListData {
            slx: KeySet::new("slx", ops, key_size, TAG_SLX),
            slc: KeySet::new("slc", ops, key_size, TAG_SLC),
            lookup_order: shuffled(ops, 4),
            sorted: sl.sorted_order(),
            sl,
            values: ValueGen::new(value_size),
        }
    }

    /// The longest key the suite inserts.
    pub fn max_key_len(&self) -> usize {
        self.sl
            .max_key_len()
            .max(self.slx.max_key_len())
            .max(self.slc.max_key_len())
    }

    /// Entries the whole suite inserts, for sizing a memtable.
    pub fn inserted_entries(&self) -> u64 {
        self.sl.len() + self.slc.len() + 2 * self.slx.len()
    }
}

/// Runs the suite on `map`, handing each selected workload's result to
/// `emit` as soon as it is done. `dir` is only measured (nothing there).
/// Returns the user bytes written by all workloads run.
pub fn run<M: OrderedMap>(
    map: &M,
    data: &SkipListData,
    dir: &Path,
    selected: &[Workload],
    emit: &mut dyn FnMut(WorkloadResult) -> Result<()>,
) -> Result<u64> {
    let suite = Suite {
        map,
        data,
        concurrent_writes: Mutex::new(Vec::new()),
    };
    let mut steps = Steps::new(dir, selected, emit);
    steps.run(Workload::SlSeqInsert, &|| suite.seq_insert())?;
    let optional: [(Workload, &dyn Fn() -> Result<Outcome>); 6] = [
        (Workload::SlSeqLookup, &|| {
            suite.lookup(Workload::SlSeqLookup, None)
        }),
        (Workload::SlRandLookup, &|| {
            suite.lookup(Workload::SlRandLookup, Some(&data.lookup_order))
        }),
        (Workload::SlIterFwd, &|| suite.iterate(false)),
        (Workload::SlIterRev, &|| suite.iterate(true)),
        (Workload::SlInsertRemove, &|| suite.insert_remove()),
        (Workload::SlConcurrent, &|| suite.concurrent()),
    ];
    for (workload, f) in optional {
        if steps.selects(workload) {
            steps.run(workload, f)?;
            match workload {
                Workload::SlInsertRemove => suite.verify_removed()?,
                Workload::SlConcurrent => suite.verify_concurrent()?,
                _ => {}
            }
        }
    }
    Ok(steps.written)
}

struct Suite<'a, M> {
    map: &'a M,
    data: &'a SkipListData,
    /// Writes per worker of the last `sl-concurrent` run.
    concurrent_writes: Mutex<Vec<u64>>,
}

/// Checks a lookup of key `i` of the set tagged `tag`.
#[inline]
fn check_value(values: &ValueGen, tag: u64, i: u64, got: Option<&[u8]>) -> Result<(), String> {
    match got {
        Some(value) if values.matches(tag, i, value) => Ok(()),
        Some(value) => Err(format!("wrong value of {} bytes", value.len())),
        None => Err("expected a value, found none".to_string()),
    }
}

impl<M: OrderedMap> Suite<'_, M> {
    fn seq_insert(&self) -> Result<Outcome> {
        let (sl, values) = (&self.data.sl, &self.data.values);
        let mut buf = values.buffer();
        let mut sampler = Sampler::new(SAMPLE_EVERY_POINT);
        for i in 0..sl.len() {
            sampler.tick();
            values.fill(sl.tag(), i, &mut buf);
            self.map.insert(sl.key(i), &buf)?;
        }
        Ok(Outcome {
            workload: Workload::SlSeqInsert,
            ops: sl.len(),
            user_write_bytes: sl.key_bytes() + sl.len() * values.value_size() as u64,
            hist: sampler.finish(),
        })
    }

    fn lookup(&self, workload: Workload, order: Option<&[u32]>) -> Result<Outcome> {
        let (sl, values) = (&self.data.sl, &self.data.values);
        let mut sampler = Sampler::new(SAMPLE_EVERY_POINT);
        for n in 0..sl.len() {
            sampler.tick();
            let i = order.map_or(n, |order| order[n as usize].into());
            let key = sl.key(i);
            self.map
                .get(key, |got| check_value(values, sl.tag(), i, got))
                .map_err(|detail| Mismatch::error(workload.name(), key, detail))?;
        }
        Ok(Outcome {
            workload,
            ops: sl.len(),
            user_write_bytes: 0,
            hist: sampler.finish(),
        })
    }

    fn iterate(&self, reverse: bool) -> Result<Outcome> {
        let workload = if reverse {
            Workload::SlIterRev
        } else {
            Workload::SlIterFwd
        };
        let (sl, values, sorted) = (&self.data.sl, &self.data.values, &self.data.sorted);
        let mut sampler = Sampler::new(SAMPLE_EVERY_STEP);
        let mut seen = 0usize;
        let mut failure: Option<Error> = None;
        self.map.for_each(reverse, |key, value| {
            sampler.tick();
            let position = if reverse {
                sorted.len().checked_sub(seen + 1)
            } else {
                Some(seen).filter(|&p| p < sorted.len())
            };
            let Some(position) = position else {
                failure = Some(Mismatch::error(
                    workload.name(),
                    key,
                    "more entries than inserted",
                ));
                return false;
            };
            let i = u64::from(sorted[position]);
            let verdict = if key != sl.key(i) {
                Err(format!(
                    "expected key {:?}",
                    String::from_utf8_lossy(sl.key(i))
                ))
            } else {
                check_value(values, sl.tag(), i, Some(value))
            };
            if let Err(detail) = verdict {
                failure = Some(Mismatch::error(workload.name(), key, detail));
                return false;
            }
            seen += 1;
            true
        })?;
        if let Some(failure) = failure {
            return Err(failure);
        }
        if seen != sorted.len() {
            let detail = format!(
                "iteration returned {seen} entries, expected {}",
                sorted.len()
            );
            return Err(Mismatch::error(workload.name(), b"", detail));
        }
        Ok(Outcome {
            workload,
            ops: seen as u64,
            user_write_bytes: 0,
            hist: sampler.finish(),
        })
    }

    fn insert_remove(&self) -> Result<Outcome> {
        let (slx, values) = (&self.data.slx, &self.data.values);
        let mut buf = values.buffer();
        let mut sampler = Sampler::new(SAMPLE_EVERY_POINT);
        for i in 0..slx.len() {
            sampler.tick();
            values.fill(slx.tag(), i, &mut buf);
            self.map.insert(slx.key(i), &buf)?;
            sampler.tick();
            self.map.remove(slx.key(i))?;
        }
        Ok(Outcome {
            workload: Workload::SlInsertRemove,
            ops: 2 * slx.len(),
            user_write_bytes: 2 * slx.key_bytes() + slx.len() * values.value_size() as u64,
            hist: sampler.finish(),
        })
    }

    /// After `sl-insert-remove`: every removed key absent. Untimed.
    fn verify_removed(&self) -> Result<()> {
        let slx = &self.data.slx;
        for i in 0..slx.len() {
            let key = slx.key(i);
            if self.map.get(key, |got| got.is_some()) {
                let detail = "removed key is still present";
                return Err(Mismatch::error(
                    Workload::SlInsertRemove.name(),
                    key,
                    detail,
                ));
            }
        }
        Ok(())
    }

    #[allow(clippy::type_complexity)]
    fn mixed(
        &self,
    ) -> Mixed<
        '_,
        impl Fn(&[u8], &[u8]) -> Result<()> + Sync + '_,
        impl Fn(&KeySet, u64) -> Result<Result<(), String>> + Sync + '_,
    > {
        let (map, values) = (self.map, &self.data.values);
        Mixed {
            workload: Workload::SlConcurrent,
            read_keys: &self.data.sl,
            write_keys: &self.data.slc,
            values,
            write: move |key: &[u8], value: &[u8]| map.insert(key, value),
            read: move |keys: &KeySet, i: u64| {
                Ok(map.get(keys.key(i), |got| check_value(values, keys.tag(), i, got)))
            },
        }
    }

    fn concurrent(&self) -> Result<Outcome> {
        let total = self.data.sl.len();
        let (outcome, writes) = self.mixed().run(SKIPLIST_WORKERS, total)?;
        *self.concurrent_writes.lock().expect("not poisoned") = writes;
        Ok(outcome)
    }

    /// After `sl-concurrent`: every key written is there. Untimed.
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
    fn the_suite_passes_on_crossbeam() {
        // Goal: every workload runs and verifies on a correct map.
        let data = SkipListData::new(2000, 16, 30);
        let map = SkipListEngine::new();
        let dir = tempfile::tempdir().unwrap();
        let mut seen = Vec::new();
        run(&map, &data, dir.path(), &Workload::ALL, &mut |r| {
            seen.push(r.workload);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 7);
    }

    #[test]
    fn a_corrupted_lookup_fails_the_suite() {
        // Goal: the corruption hook is caught by the lookup check.
        let data = SkipListData::new(500, 16, 30);
        let map = Corrupting::new(SkipListEngine::new(), 10);
        let dir = tempfile::tempdir().unwrap();
        let err = run(&map, &data, dir.path(), &Workload::ALL, &mut |_| Ok(())).unwrap_err();
        assert!(matches!(err, Error::Mismatch(_)), "{err}");
    }
}
