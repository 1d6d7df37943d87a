//! The `fractio` command-line tool.
//!
//! Each subcommand lives in its own module: `bench` runs the benchmark suite
//! on fractio and its peers, `check` verifies every checksum of a database
//! directory. A subcommand is a variant of [`Command`] plus a module with a
//! `run` function that returns an exit code.

mod bench;
mod check;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// fractio: an embedded LSM-tree key-value storage engine.
#[derive(Debug, Parser)]
#[command(name = "fractio", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the benchmark suite on fractio and, side by side, on its peers.
    Bench(bench::BenchArgs),
    /// Runs one engine's suite in this process and prints its result as
    /// JSON; `bench` starts one of these per engine and round.
    #[command(hide = true)]
    BenchWorker(bench::WorkerArgs),
    /// Verify every checksum of a closed database directory (manifest,
    /// tables, log); exit code 1 if anything is damaged.
    Check(check::CheckArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench(args) => bench::run(args),
        Command::BenchWorker(args) => bench::worker::run(args),
        Command::Check(args) => check::run(args),
    }
}
