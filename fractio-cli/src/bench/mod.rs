//! `fractio bench`: the seed's benchmark suite on fractio and, side by side,
//! on its peers.
//!
//! The parent process plans the runs — every engine, every suite it takes
//! part in, `--repeat` rounds, engines alternating so that drift of a
//! shared machine spreads over all of them — and starts each as a worker
//! process of its own (`fractio bench-worker`, see [`worker`]). It reads
//! their JSON reports, and prints medians and ratios ([`report`]), as a
//! table, JSON and an SVG chart. A worker that fails (a wrong read above
//! all) fails the whole bench with a non-zero exit.

pub mod args;
mod chart;
mod engine;
mod engines;
mod error;
mod keys;
mod lsm_suite;
mod measure;
mod mixed;
mod report;
mod skiplist_suite;
pub mod worker;

pub use args::{BenchArgs, WorkerArgs};

use args::{selected_workloads, EngineKind, Suite, Workload};
use error::{Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use worker::{suite_name, WorkerReport};

/// Runs the bench; prints the report, or the error.
pub fn run(args: BenchArgs) -> ExitCode {
    match run_bench(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("fractio bench failed: {err}");
            ExitCode::FAILURE
        }
    }
}

/// One worker run.
struct Job {
    round: u64,
    engine: EngineKind,
    suite: Suite,
    /// Selected workloads of the suite: progress steps of the job.
    workloads: Vec<Workload>,
}

fn run_bench(args: &BenchArgs) -> Result<()> {
    let engines = resolve_engines(&args.engines)?;
    let jobs = plan(args, &engines);
    if jobs.is_empty() {
        return Err(Error::Usage(
            "no selected workload runs on the selected engines".into(),
        ));
    }
    let base = BaseDir::new(args.dir.as_deref())?;
    let steps = jobs.iter().map(|j| j.workloads.len() as u64).sum();
    let progress = ProgressBar::new(steps).with_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    let mut reports = Vec::with_capacity(jobs.len());
    for job in &jobs {
        progress.set_message(format!(
            "round {}/{}: {} ({})",
            job.round + 1,
            args.repeat,
            job.engine.name(),
            suite_name(job.suite)
        ));
        let report = run_job(args, job, base.path(), &progress);
        reports.push((job.round, report.inspect_err(|_| progress.abandon())?));
    }
    progress.finish_and_clear();
    let summary = report::Summary::new(args, engines, reports);
    print!("{}", summary.table());
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&summary.json())
            .map_err(|e| Error::Worker(e.to_string()))?;
        std::fs::write(path, text + "\n")?;
    }
    if let Some(path) = &args.chart {
        chart::draw(&summary, path)?;
    }
    Ok(())
}

/// The engines to run: those asked for (each compiled in), or all.
fn resolve_engines(asked: &[EngineKind]) -> Result<Vec<EngineKind>> {
    let available = engines::compiled_in();
    if asked.is_empty() {
        return Ok(available);
    }
    let mut chosen = Vec::new();
    for &engine in asked {
        if !available.contains(&engine) {
            return Err(Error::Usage(engines::missing_reason(engine)));
        }
        if !chosen.contains(&engine) {
            chosen.push(engine);
        }
    }
    Ok(chosen)
}

/// Every worker run, in order: per round, every engine, each round
/// starting one engine further so no engine always runs first.
fn plan(args: &BenchArgs, engines: &[EngineKind]) -> Vec<Job> {
    let selected = selected_workloads(&args.workloads);
    let mut jobs = Vec::new();
    for round in 0..args.repeat {
        for k in 0..engines.len() {
            let engine = engines[(k + round as usize) % engines.len()];
            for suite in [Suite::Lsm, Suite::Skiplist] {
                if suite == Suite::Skiplist && !engine.runs_skiplist_suite() {
                    continue;
                }
                let workloads: Vec<_> = selected
                    .iter()
                    .copied()
                    .filter(|w| w.suite() == suite)
                    .collect();
                if !workloads.is_empty() {
                    jobs.push(Job {
                        round,
                        engine,
                        suite,
                        workloads,
                    });
                }
            }
        }
    }
    jobs
}

/// Runs one job in a worker process and reads its report; its directory
/// is removed afterwards.
fn run_job(
    args: &BenchArgs,
    job: &Job,
    base: &Path,
    progress: &ProgressBar,
) -> Result<WorkerReport> {
    let dir = base.join(format!(
        "{}-{}-r{}",
        job.engine.name(),
        report::suite_key(job.suite),
        job.round
    ));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let mut child = worker_command(args, job, &dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut report = None;
    let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    for line in stdout.lines() {
        let line = line?;
        if line.starts_with("progress ") {
            progress.inc(1);
        } else if let Some(json) = line.strip_prefix("result ") {
            report = Some(
                serde_json::from_str::<WorkerReport>(json)
                    .map_err(|e| Error::Worker(e.to_string()))?,
            );
        }
    }
    let status = child.wait()?;
    let stderr_text = stderr_reader.join().unwrap_or_default();
    if std::env::var_os("FRACTIO_BENCH_STATS").is_some() {
        eprint!("{stderr_text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let failed = |why: String| {
        Error::Worker(format!(
            "{} ({}, round {}) failed: {why}",
            job.engine.name(),
            suite_name(job.suite),
            job.round + 1
        ))
    };
    if !status.success() {
        let why = stderr_text.trim();
        return Err(failed(if why.is_empty() {
            status.to_string()
        } else {
            why.to_string()
        }));
    }
    report.ok_or_else(|| failed("the worker printed no result".into()))
}

/// The `bench-worker` command line of a job.
fn worker_command(args: &BenchArgs, job: &Job, dir: &Path) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("fractio"));
    let mut command = Command::new(exe);
    let workloads: Vec<_> = job.workloads.iter().map(|w| w.name()).collect();
    command
        .arg("bench-worker")
        .args(["--engine", job.engine.name()])
        .args(["--suite", report::suite_key(job.suite)])
        .args(["--ops", &args.ops.to_string()])
        .args(["--key-size", &args.key_size.to_string()])
        .args(["--value-size", &args.value_size.to_string()])
        .args(["--threads", &args.threads.to_string()])
        .arg("--dir")
        .arg(dir)
        .args(["--durability", durability_name(args.durability)])
        .args(["--workloads", &workloads.join(",")]);
    if args.inject_corruption {
        command.arg("--inject-corruption");
    }
    command
}

pub(crate) fn durability_name(durability: args::DurabilityArg) -> &'static str {
    match durability {
        args::DurabilityArg::Process => "process",
        args::DurabilityArg::Sync => "sync",
    }
}

/// Where the runs' directories go: `--dir`, or a temporary directory
/// removed when the bench ends.
enum BaseDir {
    Given(PathBuf),
    Temporary(tempfile::TempDir),
}

impl BaseDir {
    fn new(given: Option<&Path>) -> Result<BaseDir> {
        Ok(match given {
            Some(path) => {
                std::fs::create_dir_all(path)?;
                BaseDir::Given(path.to_path_buf())
            }
            None => BaseDir::Temporary(
                tempfile::Builder::new()
                    .prefix("fractio-bench-")
                    .tempdir()?,
            ),
        })
    }

    fn path(&self) -> &Path {
        match self {
            BaseDir::Given(path) => path,
            BaseDir::Temporary(dir) => dir.path(),
        }
    }
}
