//! The `tunggal` command: server, tools and benchmarks.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    tunggal::cli::Cli::parse().run()
}
