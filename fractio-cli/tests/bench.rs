//! `fractio bench` end to end: the built binary runs the suites with tiny
//! sizes on every engine compiled in, and a corrupted read fails the run.
//!
//! Method: run `fractio` as a child process (as a user would), check the
//! exit code, the table on stdout and the JSON file.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// Tiny but not trivial: enough keys for 10,000-key range scans to be cut
/// down and for prefix scans of 10 keys.
const OPS: &str = "2000";

fn fractio(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fractio"))
        .args(args)
        .output()
        .expect("the fractio binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the whole bench on `engine` with tiny sizes and checks the table
/// and the JSON: every workload of its suites reported with a positive
/// throughput.
fn bench_engine(engine: &str, suites_rows: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let chart = dir.path().join("out.svg");
    let data = dir.path().join("data");
    let out = fractio(&[
        "bench",
        "--ops",
        OPS,
        "--threads",
        "3",
        "--engines",
        engine,
        "--dir",
        data.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--chart",
        chart.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "{engine}: {}\n{stdout}",
        text(&out.stderr)
    );
    assert!(stdout.contains("Throughput, Mops/s"), "{stdout}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for row in suites_rows {
        assert!(stdout.contains(row), "{row} missing:\n{stdout}");
        let median = &report["workloads"][row][engine]["ops_per_sec"]["median"];
        assert!(median.as_f64().is_some_and(|v| v > 0.0), "{row}: {median}");
    }
    assert_eq!(report["config"]["ops"], 2000);
    assert!(std::fs::read_to_string(&chart).unwrap().contains("<svg"));
    let leftovers = std::fs::read_dir(&data).unwrap().count();
    assert_eq!(leftovers, 0, "run directories are removed");
}

const LSM_ROWS: [&str; 9] = [
    "seq-write",
    "rand-write",
    "seq-read",
    "rand-read",
    "range-scan",
    "prefix-scan",
    "delete",
    "contains",
    "concurrent",
];

const SKIPLIST_ROWS: [&str; 7] = [
    "sl-seq-insert",
    "sl-seq-lookup",
    "sl-rand-lookup",
    "sl-iter-fwd",
    "sl-iter-rev",
    "sl-insert-remove",
    "sl-concurrent",
];

#[test]
fn help_describes_the_commands() {
    let out = fractio(&["--help"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("bench"));
    let out = fractio(&["bench", "--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for option in [
        "--ops",
        "--key-size",
        "--value-size",
        "--threads",
        "--dir",
        "--durability",
    ] {
        assert!(help.contains(option), "{option} missing from help");
    }
    for option in ["--engines", "--repeat", "--json", "--chart", "--workloads"] {
        assert!(help.contains(option), "{option} missing from help");
    }
    assert!(
        !help.contains("inject-corruption"),
        "the test hook stays hidden"
    );
}

#[test]
fn skiplist_runs_both_suites() {
    let rows: Vec<&str> = LSM_ROWS.iter().chain(&SKIPLIST_ROWS).copied().collect();
    bench_engine("skiplist", &rows);
}

#[test]
fn fractio_runs_both_suites() {
    let rows: Vec<&str> = LSM_ROWS.iter().chain(&SKIPLIST_ROWS).copied().collect();
    bench_engine("fractio", &rows);
}

#[cfg(feature = "rocksdb")]
#[test]
fn rocksdb_runs_the_lsm_suite() {
    bench_engine("rocksdb", &LSM_ROWS);
}

#[cfg(feature = "fjall")]
#[test]
fn fjall_runs_the_lsm_suite() {
    bench_engine("fjall", &LSM_ROWS);
}

#[cfg(feature = "lsm-tree")]
#[test]
fn lsm_tree_runs_the_lsm_suite() {
    bench_engine("lsm-tree", &LSM_ROWS);
}

/// Runs the bench with one corrupted read and checks it fails loudly.
fn corrupted_read_fails(engine: &str, workloads: &str) {
    let out = fractio(&[
        "bench",
        "--ops",
        OPS,
        "--engines",
        engine,
        "--workloads",
        workloads,
        "--inject-corruption",
    ]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "a wrong read must fail the run");
    assert!(stderr.contains("verification mismatch"), "{stderr}");
    assert!(stderr.contains(engine), "{stderr}");
    assert!(
        !text(&out.stdout).contains("Throughput"),
        "no table for a failed run"
    );
}

#[test]
fn a_corrupted_read_fails_the_lsm_suite() {
    corrupted_read_fails("skiplist", "seq-read");
}

#[test]
fn a_corrupted_lookup_fails_the_skiplist_suite() {
    corrupted_read_fails("skiplist", "sl-seq-lookup");
}

#[test]
fn a_corrupted_read_fails_fractio() {
    corrupted_read_fails("fractio", "rand-read");
    corrupted_read_fails("fractio", "sl-rand-lookup");
}

#[cfg(feature = "rocksdb")]
#[test]
fn a_corrupted_read_fails_rocksdb() {
    corrupted_read_fails("rocksdb", "rand-read");
}

#[test]
fn repeat_reports_medians_of_every_round() {
    // Goal: --repeat runs every engine that many times, and --workloads
    // reports only what was asked.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let out = fractio(&[
        "bench",
        "--ops",
        "500",
        "--engines",
        "skiplist",
        "--repeat",
        "3",
        "--workloads",
        "rand-read,sl-iter-fwd",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6, "3 rounds of 2 suites");
    let workloads = report["workloads"].as_object().unwrap();
    let names: Vec<&String> = workloads.keys().collect();
    assert_eq!(names, ["rand-read", "sl-iter-fwd"]);
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("seq-write"), "{stdout}");
}

#[test]
fn sync_durability_runs_on_every_engine() {
    // Goal: the fsync-per-write configuration of every engine compiled in
    // works (few operations: each write waits for the disk).
    let out = fractio(&[
        "bench",
        "--ops",
        "200",
        "--durability",
        "sync",
        "--workloads",
        "seq-write,rand-read",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("durability sync"), "{stdout}");
    assert!(stdout.contains("rand-read"), "{stdout}");
}

#[test]
fn an_engine_not_compiled_in_is_refused() {
    let missing = ["rocksdb", "fjall", "lsm-tree"]
        .into_iter()
        .find(|e| !compiled_in(e));
    let Some(engine) = missing else {
        return; // every peer is compiled in
    };
    let out = fractio(&["bench", "--ops", "100", "--engines", engine]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--features"),
        "{}",
        text(&out.stderr)
    );
}

fn compiled_in(engine: &str) -> bool {
    let features = [
        ("rocksdb", cfg!(feature = "rocksdb")),
        ("fjall", cfg!(feature = "fjall")),
        ("lsm-tree", cfg!(feature = "lsm-tree")),
    ];
    features.iter().all(|&(name, on)| name != engine || on)
}

#[test]
fn a_given_dir_is_kept_but_emptied() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data");
    let out = fractio(&[
        "bench",
        "--ops",
        "300",
        "--engines",
        "skiplist",
        "--dir",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(Path::new(&data).is_dir());
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);
}
