//! The report: medians over rounds of every figure, their ratios to
//! fractio's, a table for people and JSON for machines.
//!
//! Absolute times drift on shared machines, so every figure is reported as
//! its median over the rounds and as a ratio to the baseline engine's
//! median in the same row: fractio when it ran, otherwise the first engine
//! of the row. A ratio is always `engine / baseline`; whether higher is
//! better depends on the figure (throughput: higher; everything else:
//! lower).

use super::args::{BenchArgs, EngineKind, Suite, Workload};
use super::measure::{Totals, WorkloadResult};
use super::worker::WorkerReport;
use serde_json::{json, Map, Value};
use std::fmt::Write;

/// One figure of a workload result: its name, how to read it, which way
/// is better.
pub struct Figure<T> {
    pub name: &'static str,
    pub get: fn(&T) -> Option<f64>,
    pub higher_is_better: bool,
}

macro_rules! figure {
    ($name:ident, higher) => {
        Figure {
            name: stringify!($name),
            get: |r| Some(r.$name as f64),
            higher_is_better: true,
        }
    };
    ($name:ident) => {
        Figure {
            name: stringify!($name),
            get: |r| Some(r.$name as f64),
            higher_is_better: false,
        }
    };
    ($name:ident, optional) => {
        Figure {
            name: stringify!($name),
            get: |r| r.$name,
            higher_is_better: false,
        }
    };
}

/// The figures of a workload, in report order.
pub const WORKLOAD_FIGURES: [Figure<WorkloadResult>; 14] = [
    figure!(ops_per_sec, higher),
    figure!(lat_p50_ns),
    figure!(lat_p95_ns),
    figure!(lat_p99_ns),
    figure!(lat_max_ns),
    figure!(secs),
    figure!(cpu_user_secs),
    figure!(cpu_sys_secs),
    figure!(peak_rss_bytes),
    figure!(disk_read_bytes),
    figure!(disk_write_bytes),
    figure!(user_write_bytes),
    figure!(write_amp, optional),
    figure!(disk_size_bytes),
];

/// The figures of a whole run, in report order.
pub const TOTAL_FIGURES: [Figure<Totals>; 9] = [
    figure!(secs),
    figure!(cpu_user_secs),
    figure!(cpu_sys_secs),
    figure!(peak_rss_bytes),
    figure!(disk_read_bytes),
    figure!(disk_write_bytes),
    figure!(user_write_bytes),
    figure!(write_amp, optional),
    figure!(disk_size_bytes),
];

/// Every worker report of a bench, and how to compare them.
pub struct Summary<'a> {
    args: &'a BenchArgs,
    engines: Vec<EngineKind>,
    baseline: EngineKind,
    reports: Vec<(u64, WorkerReport)>,
}

/// The median of some values; `None` when there are none.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

impl<'a> Summary<'a> {
    /// A summary of `reports` (each with its round) of `engines`.
    pub fn new(
        args: &'a BenchArgs,
        engines: Vec<EngineKind>,
        reports: Vec<(u64, WorkerReport)>,
    ) -> Summary<'a> {
        let baseline = if engines.contains(&EngineKind::Fractio) {
            EngineKind::Fractio
        } else {
            engines[0]
        };
        Summary {
            args,
            engines,
            baseline,
            reports,
        }
    }

    /// The engines, in report order.
    pub fn engines(&self) -> &[EngineKind] {
        &self.engines
    }

    /// The workloads that any engine reported, in run order.
    pub fn workloads(&self) -> Vec<Workload> {
        Workload::ALL
            .into_iter()
            .filter(|&w| self.results(None, w).next().is_some())
            .collect()
    }

    fn results(
        &self,
        engine: Option<EngineKind>,
        workload: Workload,
    ) -> impl Iterator<Item = &WorkloadResult> {
        self.reports
            .iter()
            .filter(move |(_, r)| engine.is_none_or(|e| r.engine == e))
            .flat_map(|(_, r)| &r.workloads)
            .filter(move |r| r.workload == workload)
    }

    /// Median of a figure of `workload` on `engine` over the rounds.
    pub fn workload_median(
        &self,
        engine: EngineKind,
        workload: Workload,
        figure: &Figure<WorkloadResult>,
    ) -> Option<f64> {
        median(
            self.results(Some(engine), workload)
                .filter_map(figure.get)
                .collect(),
        )
    }

    /// Median of a figure of the `suite` runs of `engine`.
    fn total_median(
        &self,
        engine: EngineKind,
        suite: Suite,
        figure: &Figure<Totals>,
    ) -> Option<f64> {
        let values = self
            .reports
            .iter()
            .filter(|(_, r)| r.engine == engine && r.suite == suite)
            .filter_map(|(_, r)| (figure.get)(&r.totals))
            .collect();
        median(values)
    }

    /// The engine a row's ratios refer to: the baseline if it has the row,
    /// else the first engine that has it.
    fn row_baseline(&self, has: impl Fn(EngineKind) -> bool) -> Option<EngineKind> {
        std::iter::once(self.baseline)
            .chain(self.engines.iter().copied())
            .find(|&e| has(e))
    }

    /// Suites that ran, in order.
    fn suites(&self) -> Vec<Suite> {
        [Suite::Lsm, Suite::Skiplist]
            .into_iter()
            .filter(|&s| self.reports.iter().any(|(_, r)| r.suite == s))
            .collect()
    }

    /// The results as JSON: configuration, medians with ratios per
    /// workload and per suite, and every raw run.
    pub fn json(&self) -> Value {
        let mut workloads = Map::new();
        for workload in self.workloads() {
            let base = self.row_baseline(|e| self.results(Some(e), workload).next().is_some());
            let mut engines = Map::new();
            for &engine in &self.engines {
                let mut figures = Map::new();
                for figure in &WORKLOAD_FIGURES {
                    let value = self.workload_median(engine, workload, figure);
                    let reference = base.and_then(|b| self.workload_median(b, workload, figure));
                    figures.insert(
                        figure.name.into(),
                        figure_json(value, reference, figure.higher_is_better),
                    );
                }
                if self.results(Some(engine), workload).next().is_some() {
                    engines.insert(engine.name().into(), Value::Object(figures));
                }
            }
            workloads.insert(workload.name().into(), Value::Object(engines));
        }
        let mut totals = Map::new();
        for suite in self.suites() {
            let has = |e: EngineKind| {
                self.reports
                    .iter()
                    .any(|(_, r)| r.engine == e && r.suite == suite)
            };
            let base = self.row_baseline(has);
            let mut engines = Map::new();
            for &engine in self.engines.iter().filter(|&&e| has(e)) {
                let mut figures = Map::new();
                for figure in &TOTAL_FIGURES {
                    let value = self.total_median(engine, suite, figure);
                    let reference = base.and_then(|b| self.total_median(b, suite, figure));
                    figures.insert(
                        figure.name.into(),
                        figure_json(value, reference, figure.higher_is_better),
                    );
                }
                engines.insert(engine.name().into(), Value::Object(figures));
            }
            totals.insert(suite_key(suite).into(), Value::Object(engines));
        }
        let runs: Vec<Value> = self
            .reports
            .iter()
            .map(|(round, report)| {
                let mut run = serde_json::to_value(report).unwrap_or(Value::Null);
                if let Value::Object(map) = &mut run {
                    map.insert("round".into(), json!(round));
                }
                run
            })
            .collect();
        json!({
            "config": self.config_json(),
            "baseline": self.baseline.name(),
            "ratio": "engine median / baseline median in the same row; baseline is fractio, or the row's first engine",
            "workloads": workloads,
            "totals": totals,
            "runs": runs,
        })
    }

    fn config_json(&self) -> Value {
        let a = self.args;
        json!({
            "ops": a.ops,
            "key_size": a.key_size,
            "value_size": a.value_size,
            "threads": a.threads,
            "durability": a.durability,
            "repeat": a.repeat,
            "engines": self.engines.iter().map(|e| e.name()).collect::<Vec<_>>(),
        })
    }

    /// The report as text, at most 100 columns wide.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let a = self.args;
        let _ = writeln!(
            out,
            "fractio bench: {} ops, key {} B, value {} B, {} threads, durability {}, {} round(s)",
            a.ops,
            a.key_size,
            a.value_size,
            a.threads,
            super::durability_name(a.durability),
            a.repeat
        );
        let _ = writeln!(
            out,
            "medians over rounds; ×r = engine / {} (the row's first engine where it has no figure)",
            self.baseline.name()
        );
        self.comparison(&mut out, "Throughput, Mops/s (higher is better)", 0, 1e-6);
        self.comparison(
            &mut out,
            "Latency p99, µs (sampled; lower is better)",
            3,
            1e-3,
        );
        self.totals_table(&mut out);
        for &engine in &self.engines {
            self.details(&mut out, engine);
        }
        out
    }

    /// One comparison section: workloads down, engines across, one figure
    /// (scaled by `scale`) with its ratio.
    fn comparison(&self, out: &mut String, title: &str, figure: usize, scale: f64) {
        let figure = &WORKLOAD_FIGURES[figure];
        let _ = writeln!(out, "\n{title}");
        let _ = write!(out, "{:<17}", "workload");
        for engine in &self.engines {
            let _ = write!(out, "{:<16}", engine.name());
        }
        out.push('\n');
        for workload in self.workloads() {
            let base = self.row_baseline(|e| self.workload_median(e, workload, figure).is_some());
            let reference = base.and_then(|b| self.workload_median(b, workload, figure));
            let _ = write!(out, "{:<17}", workload.name());
            for &engine in &self.engines {
                let value = self.workload_median(engine, workload, figure);
                let _ = write!(out, "{:<16}", cell(value, reference, scale));
            }
            out.push('\n');
        }
    }

    /// Whole-run figures per suite: figures down, engines across.
    fn totals_table(&self, out: &mut String) {
        const ROWS: [(usize, &str, f64); 7] = [
            (1, "cpu user, s", 1.0),
            (2, "cpu system, s", 1.0),
            (3, "peak RSS, MiB", 1.0 / (1 << 20) as f64),
            (4, "disk read, MiB", 1.0 / (1 << 20) as f64),
            (5, "disk write, MiB", 1.0 / (1 << 20) as f64),
            (7, "write amp", 1.0),
            (8, "on disk end, MiB", 1.0 / (1 << 20) as f64),
        ];
        for suite in self.suites() {
            let has = |e: EngineKind| {
                self.reports
                    .iter()
                    .any(|(_, r)| r.engine == e && r.suite == suite)
            };
            let engines: Vec<_> = self.engines.iter().copied().filter(|&e| has(e)).collect();
            let base = self.row_baseline(has);
            let _ = writeln!(
                out,
                "\nWhole {} run, open to final flush (lower is better)",
                suite_key(suite)
            );
            let _ = write!(out, "{:<17}", "figure");
            for engine in &engines {
                let _ = write!(out, "{:<16}", engine.name());
            }
            out.push('\n');
            for (index, label, scale) in ROWS {
                let figure = &TOTAL_FIGURES[index];
                let reference = base.and_then(|b| self.total_median(b, suite, figure));
                let _ = write!(out, "{label:<17}");
                for &engine in &engines {
                    let value = self.total_median(engine, suite, figure);
                    let _ = write!(out, "{:<16}", cell(value, reference, scale));
                }
                out.push('\n');
            }
        }
    }

    /// Every figure of every workload of one engine (medians).
    fn details(&self, out: &mut String, engine: EngineKind) {
        let workloads: Vec<_> = self
            .workloads()
            .into_iter()
            .filter(|&w| self.results(Some(engine), w).next().is_some())
            .collect();
        if workloads.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\n{}: per workload (medians; latency µs, CPU s, sizes MiB)",
            engine.name()
        );
        let _ = writeln!(
            out,
            "{:<16}{:>7}{:>7}{:>7}{:>7}{:>7}{:>7}{:>7}{:>7}{:>7}{:>7}{:>7}{:>6}",
            "workload",
            "Mops/s",
            "p50",
            "p95",
            "p99",
            "max",
            "usr",
            "sys",
            "RSS",
            "read",
            "write",
            "size",
            "WA"
        );
        let mib = 1.0 / (1 << 20) as f64;
        let columns: [(usize, f64); 12] = [
            (0, 1e-6),
            (1, 1e-3),
            (2, 1e-3),
            (3, 1e-3),
            (4, 1e-3),
            (6, 1.0),
            (7, 1.0),
            (8, mib),
            (9, mib),
            (10, mib),
            (13, mib),
            (12, 1.0),
        ];
        for workload in workloads {
            let _ = write!(out, "{:<16}", workload.name());
            for (i, (figure, scale)) in columns.into_iter().enumerate() {
                let value = self.workload_median(engine, workload, &WORKLOAD_FIGURES[figure]);
                let text = value.map_or_else(|| "-".to_string(), |v| number(v * scale));
                let width = if i == columns.len() - 1 { 6 } else { 7 };
                let _ = write!(out, "{text:>width$}");
            }
            out.push('\n');
        }
    }
}

/// The JSON key of a suite.
pub fn suite_key(suite: Suite) -> &'static str {
    match suite {
        Suite::Lsm => "lsm",
        Suite::Skiplist => "skiplist",
    }
}

fn figure_json(value: Option<f64>, reference: Option<f64>, higher_is_better: bool) -> Value {
    json!({
        "median": value,
        "ratio": ratio(value, reference),
        "better": if higher_is_better { "higher" } else { "lower" },
    })
}

fn ratio(value: Option<f64>, reference: Option<f64>) -> Option<f64> {
    match (value, reference) {
        (Some(v), Some(r)) if r > 0.0 => Some(v / r),
        _ => None,
    }
}

/// A table cell: a scaled value and its ratio, at most 15 characters.
fn cell(value: Option<f64>, reference: Option<f64>, scale: f64) -> String {
    let Some(v) = value else {
        return "-".to_string();
    };
    match ratio(value, reference) {
        Some(r) => format!("{} ×{}", number(v * scale), number(r)),
        None => number(v * scale),
    }
}

/// A number in at most 7 characters with 3 significant digits or so. The
/// thresholds sit where rounding would carry into one more digit.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".to_string()
    } else if a >= 999_999.5 {
        format!("{v:.2e}")
    } else if a >= 99.95 {
        format!("{v:.0}")
    } else if a >= 9.995 {
        format!("{v:.1}")
    } else if a >= 0.00995 {
        format!("{v:.2}")
    } else if a >= 0.000_999_5 {
        format!("{v:.3}")
    } else {
        format!("{v:.0e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn numbers_fit_seven_columns() {
        for v in [0.0, 0.001, 0.5, 9.99, 12.3, 999.9, 123_456.0, 9_876_543.0] {
            assert!(number(v).len() <= 7, "{v} -> {}", number(v));
        }
        assert_eq!(number(9.9999), "10.0");
        assert_eq!(number(99.97), "100");
        assert_eq!(number(0.0099999), "0.01");
    }
}
