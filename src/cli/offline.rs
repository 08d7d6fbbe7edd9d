//! `tunggal import` and `tunggal dedup-gallery`: offline operations on a data directory.
//! Both open the gallery engine themselves, which takes the data directory's exclusive lock:
//! stop `tunggal serve` first.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use indicatif::ProgressBar;

use super::serve::env_var;
use crate::cases::CaseStore;
use crate::engine::{EngineOptions, GalleryEngine};
use crate::ops::dedup_gallery::{self, DedupOptions};
use crate::ops::fsck;
use crate::ops::import::{self, ImportOptions};
use crate::service::{Overrides, ServiceConfig};

/// Where the data directory is.
#[derive(Debug, Args)]
pub struct DataDirArgs {
    /// Data directory (default: config, `TUNGGAL_DATA_DIR`, or ./tunggal-data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML settings file (the same as `tunggal serve --config`).
    #[arg(long)]
    config: Option<PathBuf>,
}

impl DataDirArgs {
    fn open(&self) -> anyhow::Result<(PathBuf, GalleryEngine)> {
        let flags = Overrides {
            data_dir: self.data_dir.clone(),
            ..Overrides::default()
        };
        let config = ServiceConfig::load(self.config.as_deref(), &env_var, &flags)?;
        crate::service::disk::make_private(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
        let cases = Arc::new(CaseStore::open_with(
            &config.data_dir,
            config.case_policy(),
        )?);
        eprintln!("opening the gallery in {}", config.data_dir.display());
        let engine = GalleryEngine::open(&config.data_dir, cases, EngineOptions::default())
            .with_context(|| {
                format!(
                    "opening the gallery in {} (is `tunggal serve` still running on it?)",
                    config.data_dir.display()
                )
            })?;
        Ok((config.data_dir, engine))
    }
}

/// A progress callback `(done, total)` that moves `progress`.
fn advance(progress: &ProgressBar) -> impl FnMut(usize, usize) + '_ {
    |done, total| {
        progress.set_length(total as u64);
        progress.set_position(done as u64);
    }
}

/// Options of `tunggal import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Directory of enrolment bodies (`000001.json`, … as written by `tunggal gen requests`).
    dir: PathBuf,
    #[command(flatten)]
    data: DataDirArgs,
    /// Records per chunk (one registry batch and one checkpoint each).
    #[arg(long, default_value_t = 512)]
    chunk: usize,
    /// Ignore the checkpoint and read the input from the start (records already enrolled
    /// are still skipped).
    #[arg(long)]
    restart: bool,
}

impl ImportArgs {
    /// Runs the import.
    pub fn run(self) -> anyhow::Result<()> {
        let (data_dir, engine) = self.data.open()?;
        let before = engine.gallery().len();
        let options = ImportOptions {
            input: self.dir,
            data_dir: data_dir.clone(),
            chunk: self.chunk,
            restart: self.restart,
        };
        let progress = super::progress_bar(0, "import");
        let report = import::import(&engine, &options, &mut advance(&progress))?;
        // The next open then checks none of the imported persons again.
        engine.settle()?;
        progress.finish_and_clear();
        if report.resumed_from > 0 {
            println!(
                "resumed after {} of {} files (checkpoint)",
                report.resumed_from, report.total
            );
        }
        println!(
            "imported {}, skipped {} (already present), rejected {} in {:.1} s: {} persons; \
             gallery {} -> {} persons",
            report.imported,
            report.already_present,
            report.rejected,
            report.seconds,
            super::rate(report.persons_per_second()),
            before,
            engine.gallery().len()
        );
        if report.rejected > 0 {
            println!("rejects: {}", data_dir.join(import::REJECTS_NAME).display());
        }
        Ok(())
    }
}

/// Options of `tunggal dedup-gallery`.
#[derive(Debug, Args)]
pub struct DedupGalleryArgs {
    #[command(flatten)]
    data: DataDirArgs,
    /// Fused-score threshold for a suspected pair (default: the engine's threshold for its
    /// target FPIR at this gallery size).
    #[arg(long)]
    threshold: Option<f32>,
    /// Probes per pass over the gallery.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Ignore the checkpoint and probe every person again (pairs that already have a case
    /// are not opened again).
    #[arg(long)]
    restart: bool,
}

impl DedupGalleryArgs {
    /// Runs the deduplication.
    pub fn run(self) -> anyhow::Result<()> {
        let (data_dir, engine) = self.data.open()?;
        let options = DedupOptions {
            data_dir,
            batch: self.batch,
            threshold: self.threshold,
            restart: self.restart,
        };
        let progress = super::progress_bar(0, "dedup-gallery");
        let report = dedup_gallery::dedup_gallery(&engine, &options, &mut advance(&progress))?;
        progress.finish_and_clear();
        if report.resumed_from > 0 {
            println!(
                "resumed after {} of {} persons (checkpoint)",
                report.resumed_from, report.persons
            );
        }
        println!(
            "probed {} of {} persons in {:.1} s ({} persons) at threshold {:.2}: \
             {} suspected pairs, {} already had a case, {} cases opened",
            report.probed,
            report.persons,
            report.seconds,
            super::rate(report.persons_per_second()),
            report.threshold,
            report.pairs,
            report.existing,
            report.opened
        );
        Ok(())
    }
}

/// Options of `tunggal fsck`.
#[derive(Debug, Args)]
pub struct FsckArgs {
    #[command(flatten)]
    data: DataDirArgs,
    /// Write a repaired copy of the data directory here (a new or empty directory); the
    /// original is never changed.
    #[arg(long)]
    salvage: Option<PathBuf>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

impl FsckArgs {
    /// Checks the data directory; exits non-zero when anything is damaged.
    pub fn run(self) -> anyhow::Result<()> {
        let flags = Overrides {
            data_dir: self.data.data_dir.clone(),
            ..Overrides::default()
        };
        let config = ServiceConfig::load(self.data.config.as_deref(), &env_var, &flags)?;
        let dir = config.data_dir;
        let report = fsck::check(&dir).with_context(|| {
            format!(
                "checking {} (is `tunggal serve` still running on it?)",
                dir.display()
            )
        })?;
        println!("data directory {}", dir.display());
        println!(
            "gallery: {} persons, checkpoint at entry {}, {} checkpointed records and {} blobs \
             checked",
            report.gallery_persons,
            report.checkpoint_lsn,
            report.records_checked,
            report.blobs_checked
        );
        for line in report.gallery_files.iter().chain(&report.logs) {
            println!("  {line}");
        }
        if let Some(v) = &report.log_verdict {
            println!("  the server refuses to open this log: {v}");
        }
        for line in report.state.iter().chain(&report.journals) {
            println!("{line}");
        }
        for line in &report.images {
            println!("{line}");
        }
        for p in report.persons.iter().chain(&report.image_refs) {
            println!(
                "person {} (request {}): {}",
                p.reference_id, p.request_id, p.what
            );
        }
        let salvage = match &self.salvage {
            Some(out) => {
                crate::service::disk::make_private(out)
                    .with_context(|| format!("creating {}", out.display()))?;
                let s = fsck::salvage(&dir, out)?;
                println!(
                    "salvaged copy in {}: log kept to entry {}, {} damaged records removed, {} \
                     persons marked lost (they must enrol again)",
                    s.out.display(),
                    s.log_kept_to
                        .map_or_else(|| "(unchanged)".to_owned(), |l| l.to_string()),
                    s.records_removed,
                    s.lost.len()
                );
                Some(s)
            }
            None => None,
        };
        if let Some(path) = &self.json {
            let json = serde_json::json!({ "check": report, "salvage": salvage });
            std::fs::write(path, serde_json::to_vec_pretty(&json)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        if report.clean {
            println!("fsck: clean");
            Ok(())
        } else {
            anyhow::bail!("fsck: damage found in {} (see above)", dir.display())
        }
    }
}

/// `tunggal migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    data: DataDirArgs,
}

impl MigrateArgs {
    /// Moves the journals of an older release into `state.sqlite3`, keeping them aside.
    pub fn run(self) -> anyhow::Result<()> {
        let flags = Overrides {
            data_dir: self.data.data_dir.clone(),
            ..Overrides::default()
        };
        let config = ServiceConfig::load(self.data.config.as_deref(), &env_var, &flags)?;
        let dir = config.data_dir.clone();
        let moved =
            crate::ops::migrate::run_with(&dir, &config.case_policy()).with_context(|| {
                format!(
                    "migrating {} (is `tunggal serve` still running on it?)",
                    dir.display()
                )
            })?;
        println!(
            "state store {} at schema version {}",
            dir.join(crate::state::STATE_FILE).display(),
            crate::state::schema::VERSION
        );
        if moved.is_empty() {
            println!("nothing to migrate");
        }
        for m in moved {
            println!(
                "{}: {} records, {} new in the store; kept aside as {}",
                m.journal,
                m.records,
                m.inserted,
                m.kept_as.display()
            );
        }
        Ok(())
    }
}

/// `tunggal compact-images`.
#[derive(Debug, Args)]
pub struct CompactImagesArgs {
    #[command(flatten)]
    data: DataDirArgs,
}

impl CompactImagesArgs {
    /// Compacts the image store of a data directory (server stopped) and prints what it
    /// reclaimed.
    pub fn run(self) -> anyhow::Result<()> {
        let (data_dir, engine) = self.data.open()?;
        let r = engine
            .compact_images()
            .with_context(|| format!("compacting the images of {}", data_dir.display()))?;
        println!(
            "images: {} segments rewritten into {}, {} images kept ({} persons' references \
             switched); {} bytes before, {} after, {} reclaimed, {:.2} s",
            r.segments_in,
            r.segments_out,
            r.images_kept,
            r.persons_switched,
            r.bytes_before,
            r.bytes_after,
            r.bytes_reclaimed,
            r.seconds
        );
        Ok(())
    }
}
