//! The worker: one engine, one suite, one round, in a process of its own
//! (`fractio bench-worker`), so engines do not share a heap, a page cache
//! footprint or peak-RSS figure.
//!
//! Protocol on stdout, one line each: `progress <workload>` when a
//! workload is done, then `result <json>` with a [`WorkerReport`]. On a
//! failure it prints the error on stderr and exits with
//! [`EXIT_MISMATCH`] (a read returned the wrong thing) or 1.

use super::args::{selected_workloads, EngineKind, Suite, WorkerArgs, Workload};
use super::engine::{Corrupting, Engine};
use super::engines::{self, skiplist::SkipListEngine};
use super::error::{Error, Result};
use super::lsm_suite::{self, LsmData};
use super::measure::{Totals, Usage, WorkloadResult};
use super::skiplist_suite::{self, OrderedMap, SkipListData};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Exit code of a worker whose verification failed.
pub const EXIT_MISMATCH: u8 = 3;

/// What a worker prints at the end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerReport {
    pub engine: EngineKind,
    pub suite: Suite,
    pub workloads: Vec<WorkloadResult>,
    pub totals: Totals,
}

/// Runs the worker; the exit code tells the parent how it went.
pub fn run(args: WorkerArgs) -> ExitCode {
    match run_worker(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{} ({}): {err}", args.engine.name(), suite_name(args.suite));
            match err {
                Error::Mismatch(_) => ExitCode::from(EXIT_MISMATCH),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// The name of a suite in messages.
pub fn suite_name(suite: Suite) -> &'static str {
    match suite {
        Suite::Lsm => "lsm suite",
        Suite::Skiplist => "skiplist suite",
    }
}

fn run_worker(args: &WorkerArgs) -> Result<()> {
    let selected: Vec<_> = selected_workloads(&args.workloads)
        .into_iter()
        .filter(|w| w.suite() == args.suite)
        .collect();
    std::fs::create_dir_all(&args.dir)?;
    let stdout = std::io::stdout();
    let mut results = Vec::new();
    let mut emit = |result: WorkloadResult| -> Result<()> {
        writeln!(stdout.lock(), "progress {}", result.workload.name())?;
        results.push(result);
        Ok(())
    };
    let totals = match args.suite {
        Suite::Lsm => run_lsm(args, &selected, &mut emit)?,
        Suite::Skiplist => run_skiplist(args, &selected, &mut emit)?,
    };
    let report = WorkerReport {
        engine: args.engine,
        suite: args.suite,
        workloads: results,
        totals,
    };
    let json = serde_json::to_string(&report).map_err(|e| Error::Worker(e.to_string()))?;
    writeln!(stdout.lock(), "result {json}")?;
    Ok(())
}

type Emit<'a> = &'a mut dyn FnMut(WorkloadResult) -> Result<()>;

/// Everything an LSM run needs besides the engine.
struct LsmRun<'a> {
    args: &'a WorkerArgs,
    data: LsmData,
    selected: &'a [Workload],
}

impl LsmRun<'_> {
    /// Runs the suite on `engine` (corrupting one read when asked), then
    /// flushes it; returns the totals since `before`.
    fn drive<E: Engine>(&self, engine: E, before: Usage, emit: Emit) -> Result<Totals> {
        if self.args.inject_corruption {
            let nth = corrupted_read(self.args.ops);
            return self.go(&Corrupting::new(engine, nth), before, emit);
        }
        self.go(&engine, before, emit)
    }

    fn go<E: Engine>(&self, engine: &E, before: Usage, emit: Emit) -> Result<Totals> {
        let dir = &self.args.dir;
        let threads = self.args.threads;
        let written = lsm_suite::run(engine, &self.data, dir, threads, self.selected, emit)?;
        engine.finish()?;
        Ok(Totals::since(before, written, dir))
    }
}

/// The read to corrupt under `--inject-corruption`: halfway through the
/// first read workload of a suite.
fn corrupted_read(ops: u64) -> u64 {
    ops / 2 + 1
}

fn run_lsm(args: &WorkerArgs, selected: &[Workload], emit: Emit) -> Result<Totals> {
    let run = LsmRun {
        args,
        data: LsmData::new(args.ops, args.key_size, args.value_size),
        selected,
    };
    let before = Usage::now();
    let dir: &Path = &args.dir;
    match args.engine {
        EngineKind::Skiplist => run.drive(SkipListEngine::new(), before, emit),
        EngineKind::Fractio => {
            let engine = engines::fractio::FractioEngine::open(dir, args.durability)?;
            run.drive(engine, before, emit)
        }
        #[cfg(feature = "rocksdb")]
        EngineKind::Rocksdb => {
            let engine = engines::rocksdb::RocksDbEngine::open(dir, args.durability)?;
            run.drive(engine, before, emit)
        }
        #[cfg(feature = "fjall")]
        EngineKind::Fjall => {
            let engine = engines::fjall::FjallEngine::open(dir, args.durability)?;
            run.drive(engine, before, emit)
        }
        #[cfg(feature = "lsm-tree")]
        EngineKind::LsmTree => {
            let engine = engines::lsm_tree::LsmTreeEngine::open(dir)?;
            run.drive(engine, before, emit)
        }
        #[allow(unreachable_patterns)]
        other => Err(Error::Usage(engines::missing_reason(other))),
    }
}

fn run_skiplist(args: &WorkerArgs, selected: &[Workload], emit: Emit) -> Result<Totals> {
    let data = SkipListData::new(args.ops, args.key_size, args.value_size);
    let before = Usage::now();
    match args.engine {
        EngineKind::Skiplist => {
            drive_map(SkipListEngine::new(), args, &data, selected, before, emit)
        }
        EngineKind::Fractio => {
            let (entries, key_len) = (data.inserted_entries(), data.max_key_len());
            let map = engines::fractio::MemtableMap::new(entries, key_len, args.value_size);
            drive_map(map, args, &data, selected, before, emit)
        }
        other => Err(Error::Usage(format!(
            "the skiplist suite does not run on {}",
            other.name()
        ))),
    }
}

fn drive_map<M: OrderedMap>(
    map: M,
    args: &WorkerArgs,
    data: &SkipListData,
    selected: &[Workload],
    before: Usage,
    emit: Emit,
) -> Result<Totals> {
    let written = if args.inject_corruption {
        let map = Corrupting::new(map, corrupted_read(args.ops));
        skiplist_suite::run(&map, data, &args.dir, selected, emit)?
    } else {
        skiplist_suite::run(&map, data, &args.dir, selected, emit)?
    };
    Ok(Totals::since(before, written, &args.dir))
}
