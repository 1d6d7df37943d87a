//! What a workload measures: a sampled latency histogram, and the process's
//! CPU time, peak memory and disk traffic around the workload.
//!
//! Timing every operation would cost two clock reads per operation, as much
//! as an in-memory lookup itself, so [`Sampler`] times one operation in
//! `every`. Resource figures come from `getrusage(RUSAGE_SELF)`,
//! `/proc/self/status` (VmHWM) and `/proc/self/io`; they cover the whole
//! process, background threads of the engine included.

use super::args::Workload;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant};

/// Sampling interval of point operations (a get or an insert, 100 ns to
/// tens of µs): two clock reads per 32 operations cost under 2%.
pub const SAMPLE_EVERY_POINT: u64 = 32;
/// Sampling interval of iterator steps, which take a few nanoseconds.
pub const SAMPLE_EVERY_STEP: u64 = 1024;

/// Records the latency of one operation in `every`, in nanoseconds.
pub struct Sampler {
    every: u64,
    count: u64,
    pending: Option<Instant>,
    hist: Histogram<u64>,
}

impl Sampler {
    /// A sampler that times operations `0, every, 2 * every, ...`.
    pub fn new(every: u64) -> Sampler {
        Sampler {
            every,
            count: 0,
            pending: None,
            hist: Histogram::new(3).expect("3 significant figures are valid"),
        }
    }

    /// Marks the start of an operation (and so the end of the previous
    /// one). Call it once per operation, first thing.
    #[inline]
    pub fn tick(&mut self) {
        if let Some(start) = self.pending.take() {
            self.record(start.elapsed());
        }
        if self.count % self.every == 0 {
            self.pending = Some(Instant::now());
        }
        self.count += 1;
    }

    /// Ends the last operation and returns the histogram.
    pub fn finish(mut self) -> Histogram<u64> {
        if let Some(start) = self.pending.take() {
            self.record(start.elapsed());
        }
        self.hist
    }

    #[cold]
    fn record(&mut self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        // `record` grows the histogram (it auto-resizes); clamp only what
        // it cannot hold at all.
        if self.hist.record(nanos).is_err() {
            self.hist.saturating_record(nanos);
        }
    }
}

/// The process's counters at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    at: Instant,
    cpu_user: Duration,
    cpu_sys: Duration,
    io_read_bytes: u64,
    io_write_bytes: u64,
}

impl Usage {
    /// Reads the counters now.
    pub fn now() -> Usage {
        let (cpu_user, cpu_sys) = cpu_times();
        let (io_read_bytes, io_write_bytes) = io_bytes();
        Usage {
            at: Instant::now(),
            cpu_user,
            cpu_sys,
            io_read_bytes,
            io_write_bytes,
        }
    }
}

/// CPU time of the process so far: (user, system).
fn cpu_times() -> (Duration, Duration) {
    // SAFETY: `getrusage` writes a `rusage` into the zeroed struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    (tv(usage.ru_utime), tv(usage.ru_stime))
}

/// Bytes the process made the storage layer read and write so far
/// (`read_bytes`, `write_bytes` of `/proc/self/io`); zero where the file
/// does not exist.
fn io_bytes() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    (
        proc_field(&text, "read_bytes:").unwrap_or(0),
        proc_field(&text, "write_bytes:").unwrap_or(0),
    )
}

/// Peak resident set size of the process so far, in bytes (VmHWM).
pub fn peak_rss_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    proc_field(&text, "VmHWM:").map_or(0, |kib| kib * 1024)
}

/// The number after `name` on its line of a `/proc` file.
fn proc_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// Bytes allocated on disk to all files under `path`, recursively (like
/// `du`: a sparse or preallocated file counts what it occupies); 0 when it
/// does not exist.
pub fn dir_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        match entry.metadata() {
            Ok(meta) if meta.is_dir() => total += dir_bytes(&entry.path()),
            Ok(meta) => total += meta.blocks() * 512,
            Err(_) => {}
        }
    }
    total
}

/// Everything measured about one run of one workload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkloadResult {
    pub workload: Workload,
    /// Operations done (keys visited, for scans).
    pub ops: u64,
    pub secs: f64,
    pub ops_per_sec: f64,
    /// Latency percentiles of the sampled operations, nanoseconds.
    pub lat_p50_ns: u64,
    pub lat_p95_ns: u64,
    pub lat_p99_ns: u64,
    pub lat_max_ns: u64,
    pub lat_samples: u64,
    pub cpu_user_secs: f64,
    pub cpu_sys_secs: f64,
    /// Peak resident memory of the process at the end of the workload.
    pub peak_rss_bytes: u64,
    pub disk_read_bytes: u64,
    pub disk_write_bytes: u64,
    /// Bytes of keys and values the workload asked to write.
    pub user_write_bytes: u64,
    /// `disk_write_bytes / user_write_bytes`; absent for a read workload.
    pub write_amp: Option<f64>,
    /// Bytes of the database directory at the end of the workload.
    pub disk_size_bytes: u64,
}

/// Turns counters taken before and after a workload into its result.
pub struct Outcome {
    pub workload: Workload,
    pub ops: u64,
    pub user_write_bytes: u64,
    pub hist: Histogram<u64>,
}

impl Outcome {
    /// The result of a workload that started at `before` and ends now,
    /// with the database in `dir`.
    pub fn finish(self, before: Usage, dir: &Path) -> WorkloadResult {
        let after = Usage::now();
        let secs = after.at.duration_since(before.at).as_secs_f64();
        let disk_write_bytes = after.io_write_bytes.saturating_sub(before.io_write_bytes);
        let hist = &self.hist;
        WorkloadResult {
            workload: self.workload,
            ops: self.ops,
            secs,
            ops_per_sec: self.ops as f64 / secs.max(1e-9),
            lat_p50_ns: hist.value_at_quantile(0.50),
            lat_p95_ns: hist.value_at_quantile(0.95),
            lat_p99_ns: hist.value_at_quantile(0.99),
            lat_max_ns: hist.max(),
            lat_samples: hist.len(),
            cpu_user_secs: (after.cpu_user.saturating_sub(before.cpu_user)).as_secs_f64(),
            cpu_sys_secs: (after.cpu_sys.saturating_sub(before.cpu_sys)).as_secs_f64(),
            peak_rss_bytes: peak_rss_bytes(),
            disk_read_bytes: after.io_read_bytes.saturating_sub(before.io_read_bytes),
            disk_write_bytes,
            user_write_bytes: self.user_write_bytes,
            write_amp: (self.user_write_bytes > 0)
                .then(|| disk_write_bytes as f64 / self.user_write_bytes as f64),
            disk_size_bytes: dir_bytes(dir),
        }
    }
}

/// Figures of a whole worker run: from opening the engine to its final
/// flush, every workload (selected or not) included.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Totals {
    pub secs: f64,
    pub cpu_user_secs: f64,
    pub cpu_sys_secs: f64,
    pub peak_rss_bytes: u64,
    pub disk_read_bytes: u64,
    pub disk_write_bytes: u64,
    pub user_write_bytes: u64,
    pub write_amp: Option<f64>,
    pub disk_size_bytes: u64,
}

impl Totals {
    /// The totals of a run that started at `before`, wrote
    /// `user_write_bytes` and keeps its files in `dir`.
    pub fn since(before: Usage, user_write_bytes: u64, dir: &Path) -> Totals {
        let after = Usage::now();
        let disk_write_bytes = after.io_write_bytes.saturating_sub(before.io_write_bytes);
        Totals {
            secs: after.at.duration_since(before.at).as_secs_f64(),
            cpu_user_secs: (after.cpu_user.saturating_sub(before.cpu_user)).as_secs_f64(),
            cpu_sys_secs: (after.cpu_sys.saturating_sub(before.cpu_sys)).as_secs_f64(),
            peak_rss_bytes: peak_rss_bytes(),
            disk_read_bytes: after.io_read_bytes.saturating_sub(before.io_read_bytes),
            disk_write_bytes,
            user_write_bytes,
            write_amp: (user_write_bytes > 0)
                .then(|| disk_write_bytes as f64 / user_write_bytes as f64),
            disk_size_bytes: dir_bytes(dir),
        }
    }
}

/// Runs a suite's workloads one after another: times each, counts the user
/// bytes every workload writes (selected or not: later ones read them), and
/// hands the selected workloads' results to `emit`.
pub struct Steps<'a> {
    dir: &'a Path,
    selected: &'a [Workload],
    emit: &'a mut dyn FnMut(WorkloadResult) -> super::error::Result<()>,
    /// User bytes written by the workloads run so far.
    pub written: u64,
}

impl<'a> Steps<'a> {
    /// Steps over a database in `dir`, reporting the `selected` workloads.
    pub fn new(
        dir: &'a Path,
        selected: &'a [Workload],
        emit: &'a mut dyn FnMut(WorkloadResult) -> super::error::Result<()>,
    ) -> Steps<'a> {
        Steps {
            dir,
            selected,
            emit,
            written: 0,
        }
    }

    /// Whether `workload` is reported.
    pub fn selects(&self, workload: Workload) -> bool {
        self.selected.contains(&workload)
    }

    /// Runs one workload.
    pub fn run(
        &mut self,
        workload: Workload,
        f: &dyn Fn() -> super::error::Result<Outcome>,
    ) -> super::error::Result<()> {
        let before = Usage::now();
        let result = f()?.finish(before, self.dir);
        self.written += result.user_write_bytes;
        if self.selects(workload) {
            (self.emit)(result)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampler_times_one_in_every() {
        // Goal: 100 ticks with every = 10 give 10 samples.
        let mut sampler = Sampler::new(10);
        for _ in 0..100 {
            sampler.tick();
        }
        assert_eq!(sampler.finish().len(), 10);
    }

    #[test]
    fn sampler_keeps_long_latencies() {
        // Goal: a 3 ms operation is recorded as such, not clamped.
        let mut sampler = Sampler::new(1);
        sampler.tick();
        std::thread::sleep(Duration::from_millis(3));
        let hist = sampler.finish();
        assert!(hist.max() >= 3_000_000, "{}", hist.max());
    }

    #[test]
    fn proc_files_parse() {
        assert!(peak_rss_bytes() > 0);
        assert_eq!(
            proc_field("a: 1\nwrite_bytes: 42\n", "write_bytes:"),
            Some(42)
        );
        let (user, _) = cpu_times();
        let _ = user;
    }
}
