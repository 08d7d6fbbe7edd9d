//! Command-line interface.

mod bench;
mod calibrate;
mod client;
mod drill;
mod eval;
mod gen;
mod gen_requests;
mod loadgen;
mod offline;
mod serve;

use clap::{Parser, Subcommand};

/// Tunggal: central biometric deduplication and identification engine.
#[derive(Debug, Parser)]
#[command(name = "tunggal", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Accuracy evaluation on labelled data.
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// Throughput reports.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Learn finger calibration tables from labelled real pairs and decided cases.
    Calibrate(calibrate::CalibrateArgs),
    /// Generate synthetic data sets.
    Gen(gen::GenArgs),
    /// Run the HTTP service.
    Serve(serve::ServeArgs),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(serve::KeysCommand),
    /// Send one enrolment body (`POST /v1/enrolments`) and print the verdict.
    Enrol(client::ClientArgs),
    /// Send one identification body (`POST /v1/identify`) and print the candidates.
    Identify(client::ClientArgs),
    /// Drive a running server with synthetic enrolments and check every verdict.
    Loadgen(loadgen::LoadgenArgs),
    /// Fault drills against a `tunggal serve` child process.
    #[command(subcommand)]
    Drill(drill::DrillCommand),
    /// Bulk-load a directory of enrolment bodies without search (server stopped; resumable).
    Import(offline::ImportArgs),
    /// Open a case for every suspected duplicate pair in the gallery (server stopped;
    /// resumable).
    DedupGallery(offline::DedupGalleryArgs),
    /// Check every file of a data directory without changing it (server stopped); with
    /// `--salvage OUT`, write a repaired copy.
    Fsck(offline::FsckArgs),
    /// Move the journals of an older release into the state store `state.sqlite3` (server
    /// stopped; the journals are kept aside, never deleted).
    Migrate(offline::MigrateArgs),
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Eval(cmd) => cmd.run(),
            Command::Bench(cmd) => cmd.run(),
            Command::Calibrate(args) => args.run(),
            Command::Gen(args) => args.run(),
            Command::Serve(args) => args.run(),
            Command::Keys(cmd) => cmd.run(),
            Command::Enrol(args) => args.run("/v1/enrolments"),
            Command::Identify(args) => args.run("/v1/identify"),
            Command::Loadgen(args) => args.run(),
            Command::Drill(cmd) => cmd.run(),
            Command::Import(args) => args.run(),
            Command::DedupGallery(args) => args.run(),
            Command::Fsck(args) => args.run(),
            Command::Migrate(args) => args.run(),
        }
    }
}
