//! The `tunggal` command: server, tools and benchmarks.

mod cli;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    cli::Cli::parse().run()
}
