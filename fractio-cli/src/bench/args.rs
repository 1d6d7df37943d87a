//! Command-line arguments of `fractio bench` and of its hidden worker, and
//! the names of engines, suites and workloads they accept.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Default number of operations per workload. The seed measured 1M ops.
pub const OPS_DEFAULT: u64 = 1_000_000;
/// Default key size in bytes, as the seed.
pub const KEY_SIZE_DEFAULT: usize = 16;
/// Default value size in bytes, as the seed.
pub const VALUE_SIZE_DEFAULT: usize = 100;
/// Default threads of the concurrent mixed workload of the LSM suite: four
/// per core on the 2-core machines this runs on, enough to contend. The
/// seed used 200 workers, which the skiplist suite keeps.
pub const THREADS_DEFAULT: u64 = 8;

/// `fractio bench`: the seed's benchmark suite on fractio and its peers.
#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct BenchArgs {
    /// Operations per workload.
    #[arg(long, default_value_t = OPS_DEFAULT, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub ops: u64,
    /// Key size in bytes (keys are `prefix`, 'k' padding, `_i`).
    #[arg(long, default_value_t = KEY_SIZE_DEFAULT)]
    pub key_size: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = VALUE_SIZE_DEFAULT)]
    pub value_size: usize,
    /// Threads of the concurrent mixed workload (70% reads, 30% writes).
    #[arg(long, default_value_t = THREADS_DEFAULT, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub threads: u64,
    /// Directory for the databases (a fresh subdirectory per run, removed
    /// afterwards). Default: a temporary directory.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// When an acknowledged write is safe: `process` survives a crash of the
    /// process, `sync` a power loss (fsync per write).
    #[arg(long, value_enum, default_value_t = DurabilityArg::Process)]
    pub durability: DurabilityArg,
    /// Engines to run, comma separated. Default: every engine compiled in.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub engines: Vec<EngineKind>,
    /// Rounds: every engine runs this many times, engines alternating; the
    /// report gives medians.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub repeat: u64,
    /// Also write the results, with medians and ratios, as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also draw the throughput per workload and engine as an SVG chart.
    #[arg(long)]
    pub chart: Option<PathBuf>,
    /// Workloads to report, comma separated. Default: all. The writes that
    /// populate the database run regardless.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub workloads: Vec<Workload>,
    /// Test hook: makes one read of every engine return a wrong value, to
    /// prove that verification fails the run.
    #[arg(long, hide = true)]
    pub inject_corruption: bool,
}

const AFTER_HELP: &str = "\
Workloads (LSM suite, every engine): seq-write, rand-write, seq-read, rand-read, range-scan,
prefix-scan, delete, contains, concurrent.
Skiplist suite (fractio's memtable and a bare crossbeam SkipMap): sl-seq-insert, sl-seq-lookup,
sl-rand-lookup, sl-iter-fwd, sl-iter-rev, sl-insert-remove, sl-concurrent.
Peers rocksdb, fjall and lsm-tree are cargo features of fractio-cli, off by default.";

/// The hidden `bench-worker` subcommand: one engine, one suite, one round.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    #[arg(long, value_enum)]
    pub engine: EngineKind,
    #[arg(long, value_enum)]
    pub suite: Suite,
    #[arg(long)]
    pub ops: u64,
    #[arg(long)]
    pub key_size: usize,
    #[arg(long)]
    pub value_size: usize,
    #[arg(long)]
    pub threads: u64,
    /// The database directory; must not exist yet.
    #[arg(long)]
    pub dir: PathBuf,
    #[arg(long, value_enum)]
    pub durability: DurabilityArg,
    #[arg(long, value_delimiter = ',', value_enum)]
    pub workloads: Vec<Workload>,
    #[arg(long)]
    pub inject_corruption: bool,
}

/// Durability asked of every engine that has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DurabilityArg {
    /// An acknowledged write survives a crash of the process.
    Process,
    /// An acknowledged write survives a power loss.
    Sync,
}

/// An engine the bench knows. Whether it is compiled in is
/// [`super::engines::compiled_in`]'s business.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum EngineKind {
    Fractio,
    Rocksdb,
    Fjall,
    LsmTree,
    Skiplist,
}

impl EngineKind {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Fractio => "fractio",
            EngineKind::Rocksdb => "rocksdb",
            EngineKind::Fjall => "fjall",
            EngineKind::LsmTree => "lsm-tree",
            EngineKind::Skiplist => "skiplist",
        }
    }

    /// Whether the engine takes part in the skiplist suite: fractio through
    /// its memtable, skiplist as the crossbeam baseline.
    pub fn runs_skiplist_suite(self) -> bool {
        matches!(self, EngineKind::Fractio | EngineKind::Skiplist)
    }
}

/// A group of workloads that share one database (or one skiplist) and run
/// in one worker process, in order.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Suite {
    /// The LSM-tree workloads of the seed, on a database.
    Lsm,
    /// The skiplist workloads of the seed, on an in-memory skiplist.
    Skiplist,
}

/// One workload of a suite, in the order the suites run them.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    SeqWrite,
    RandWrite,
    SeqRead,
    RandRead,
    RangeScan,
    PrefixScan,
    Delete,
    Contains,
    Concurrent,
    SlSeqInsert,
    SlSeqLookup,
    SlRandLookup,
    SlIterFwd,
    SlIterRev,
    SlInsertRemove,
    SlConcurrent,
}

impl Workload {
    /// Every workload, in run order.
    pub const ALL: [Workload; 16] = [
        Workload::SeqWrite,
        Workload::RandWrite,
        Workload::SeqRead,
        Workload::RandRead,
        Workload::RangeScan,
        Workload::PrefixScan,
        Workload::Delete,
        Workload::Contains,
        Workload::Concurrent,
        Workload::SlSeqInsert,
        Workload::SlSeqLookup,
        Workload::SlRandLookup,
        Workload::SlIterFwd,
        Workload::SlIterRev,
        Workload::SlInsertRemove,
        Workload::SlConcurrent,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::SeqWrite => "seq-write",
            Workload::RandWrite => "rand-write",
            Workload::SeqRead => "seq-read",
            Workload::RandRead => "rand-read",
            Workload::RangeScan => "range-scan",
            Workload::PrefixScan => "prefix-scan",
            Workload::Delete => "delete",
            Workload::Contains => "contains",
            Workload::Concurrent => "concurrent",
            Workload::SlSeqInsert => "sl-seq-insert",
            Workload::SlSeqLookup => "sl-seq-lookup",
            Workload::SlRandLookup => "sl-rand-lookup",
            Workload::SlIterFwd => "sl-iter-fwd",
            Workload::SlIterRev => "sl-iter-rev",
            Workload::SlInsertRemove => "sl-insert-remove",
            Workload::SlConcurrent => "sl-concurrent",
        }
    }

    /// The suite the workload belongs to.
    pub fn suite(self) -> Suite {
        match self {
            Workload::SlSeqInsert
            | Workload::SlSeqLookup
            | Workload::SlRandLookup
            | Workload::SlIterFwd
            | Workload::SlIterRev
            | Workload::SlInsertRemove
            | Workload::SlConcurrent => Suite::Skiplist,
            _ => Suite::Lsm,
        }
    }
}

/// The workloads selected by `--workloads` (all when the list is empty).
pub fn selected_workloads(list: &[Workload]) -> Vec<Workload> {
    if list.is_empty() {
        return Workload::ALL.to_vec();
    }
    Workload::ALL
        .iter()
        .copied()
        .filter(|w| list.contains(w))
        .collect()
}
