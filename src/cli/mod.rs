//! Command-line interface.

mod bench;
mod eval;
mod gen;
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
    /// Generate synthetic data sets.
    Gen(gen::GenArgs),
    /// Run the HTTP service.
    Serve(serve::ServeArgs),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(serve::KeysCommand),
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Eval(cmd) => cmd.run(),
            Command::Bench(cmd) => cmd.run(),
            Command::Gen(args) => args.run(),
            Command::Serve(args) => args.run(),
            Command::Keys(cmd) => cmd.run(),
        }
    }
}
