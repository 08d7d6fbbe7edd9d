//! Command-line interface.

mod bench;
mod calibrate;
mod client;
mod demo_keys;
mod drill;
mod drill_cluster;
mod eval;
mod eval_iris;
pub mod extract;
mod extract_eye;
mod gen;
mod gen_requests;
mod loadgen;
mod offline;
mod reshard;
mod serve;
mod serve_cluster;
mod shard;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressState, ProgressStyle};

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
    /// Extract minutiae from fingerprint images (TIFF, PNG), write templates, print quality;
    /// with `--eye`, iris codes, segmentation and quality of eye images as JSON.
    Extract(extract::ExtractArgs),
    /// Throughput reports.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Learn finger calibration tables from labelled real pairs and decided cases.
    Calibrate(calibrate::CalibrateArgs),
    /// Generate synthetic data sets.
    Gen(gen::GenArgs),
    /// Run the HTTP service.
    Serve(serve::ServeArgs),
    /// One replica of one partition of the gallery in cluster mode (NATS JetStream).
    Shard(shard::ShardArgs),
    /// Announce the switch of a cluster to a new shard count at a log sequence.
    Reshard(reshard::ReshardArgs),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(serve::KeysCommand),
    /// Send one enrolment body (`POST /v1/enrolments`) and print the verdict.
    Enrol(client::ClientArgs),
    /// Send one identification (`POST /v1/identify`; an enrolment body's biometrics are
    /// taken from it) and print the candidates.
    Identify(client::ClientArgs),
    /// Send one verification against an enrolled person (`POST /v1/verify`; an enrolment
    /// body's biometrics are taken from it) and print whether it matched.
    Verify(client::VerifyArgs),
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
    /// Reclaim the kept images of deleted persons and of replaced images (server stopped;
    /// `POST /v1/admin/images/compact` does the same while it runs).
    CompactImages(offline::CompactImagesArgs),
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Eval(cmd) => cmd.run(),
            Command::Extract(args) => args.run(),
            Command::Bench(cmd) => cmd.run(),
            Command::Calibrate(args) => args.run(),
            Command::Gen(args) => args.run(),
            Command::Serve(args) => args.run(),
            Command::Keys(cmd) => cmd.run(),
            Command::Shard(args) => args.run(),
            Command::Reshard(args) => args.run(),
            Command::Enrol(args) => args.run(client::Kind::Enrol),
            Command::Identify(args) => args.run(client::Kind::Identify),
            Command::Verify(args) => args.run(),
            Command::Loadgen(args) => args.run(),
            Command::Drill(cmd) => cmd.run(),
            Command::Import(args) => args.run(),
            Command::DedupGallery(args) => args.run(),
            Command::Fsck(args) => args.run(),
            Command::Migrate(args) => args.run(),
            Command::CompactImages(args) => args.run(),
        }
    }
}

/// A progress bar of `len` items labelled `what`, its rate in whole items per second.
pub(crate) fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{what} {{bar:40}} {{pos}}/{{len}} [{{elapsed_precise}}, {{rate}}, eta {{eta}}]"
    )) {
        bar.set_style(style.with_key(
            "rate",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}", rate(state.per_sec()));
            },
        ));
    }
    bar
}

/// Items per second with the precision a reader needs: `1,166/s`, `12.3/s`, `0.42/s`.
pub(crate) fn rate(per_sec: f64) -> String {
    if !per_sec.is_finite() {
        return "-/s".to_owned();
    }
    if per_sec >= 100.0 {
        let whole = per_sec.round() as u64;
        let digits = whole.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        format!("{out}/s")
    } else if per_sec >= 10.0 {
        format!("{per_sec:.1}/s")
    } else {
        format!("{per_sec:.2}/s")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates_are_shown_with_sensible_precision() {
        assert_eq!(super::rate(1_166.094_5), "1,166/s");
        assert_eq!(super::rate(123_456.7), "123,457/s");
        assert_eq!(super::rate(12.345), "12.3/s");
        assert_eq!(super::rate(0.4213), "0.42/s");
        assert_eq!(super::rate(f64::NAN), "-/s");
    }
}
