//! `tunggal extract`: minutiae templates and quality from fingerprint images; iris codes,
//! segmentation and quality from eye images (`--eye`, and ISO/IEC 19794-6 records always;
//! `extract_eye.rs`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use rayon::prelude::*;
use tunggal_index::extract::{self, Extractor, Raster, RecordFormat};
use tunggal_index::image::{self, FingerImage};

/// Output record format of `tunggal extract`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OutputFormat {
    /// ISO/IEC 19794-2:2005 (`.iso`).
    #[value(name = "iso19794-2")]
    Iso2005,
    /// ISO/IEC 19794-2:2011 (`.iso`).
    #[value(name = "iso19794-2-2011")]
    Iso2011,
    /// ANSI INCITS 378-2004 (`.ansi`).
    #[value(name = "ansi378")]
    Ansi378,
}

/// Arguments of `tunggal extract`.
#[derive(Debug, clap::Args)]
pub struct ExtractArgs {
    /// Images: PNG, TIFF, JPEG 2000, WSQ or ISO/IEC 19794-4 records; with `--eye`, eye
    /// images (PNG, JPEG, JPEG 2000, BMP); ISO/IEC 19794-6 iris records are eye images.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// The images are eye images: print each one's iris code, mask, segmentation and
    /// quality as a JSON line (`--out` also writes `OUT/<stem>.json`).
    #[arg(long)]
    eye: bool,
    /// Iris code layout of `--eye`: `daugman-2048` (the gallery's) or `open-iris`.
    #[arg(long, default_value = "daugman-2048")]
    iris_layout: String,
    /// Folder for the templates (named after each image); none writes nothing.
    #[arg(short = 'o', long = "out")]
    out: Option<PathBuf>,
    /// Record format.
    #[arg(long, value_enum, default_value = "iso19794-2")]
    format: OutputFormat,
    /// Resolution of the images in pixels per inch (default: the image's own, else 500).
    #[arg(long)]
    ppi: Option<f32>,
}

/// A decoded 8-bit grey image.
#[derive(Debug, Clone)]
pub struct GreyImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major grey levels.
    pub pixels: Vec<u8>,
}

/// Reads a fingerprint image in any format the image decoder accepts (PNG, TIFF, JPEG 2000,
/// WSQ, ISO/IEC 19794-4), sniffed from its bytes.
pub fn read_finger_image(path: &Path) -> anyhow::Result<FingerImage> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    image::decode(&bytes, None)
        .map_err(|e| anyhow::anyhow!("{}: {} ({e})", path.display(), e.reason()))
}

/// [`read_finger_image`], its pixels only.
pub fn read_image(path: &Path) -> anyhow::Result<GreyImage> {
    let img = read_finger_image(path)?;
    Ok(GreyImage {
        width: img.width() as usize,
        height: img.height() as usize,
        pixels: img.into_pixels(),
    })
}

impl ExtractArgs {
    /// Runs the extraction.
    pub fn run(self) -> anyhow::Result<()> {
        if let Some(dir) = &self.out {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let (eyes, fingers): (Vec<PathBuf>, Vec<PathBuf>) = self
            .images
            .iter()
            .cloned()
            .partition(|p| self.eye || super::extract_eye::is_iris_record(p));
        let eyes_done = if eyes.is_empty() {
            Ok(())
        } else {
            super::extract_eye::run(&eyes, self.out.as_deref(), &self.iris_layout)
        };
        if fingers.is_empty() {
            return eyes_done;
        }
        let extractor = Extractor::default();
        let (format, ext) = match self.format {
            OutputFormat::Iso2005 => (RecordFormat::Iso2005, "iso"),
            OutputFormat::Iso2011 => (RecordFormat::Iso2011, "iso"),
            OutputFormat::Ansi378 => (RecordFormat::Ansi378, "ansi"),
        };
        let results: Vec<anyhow::Result<String>> = fingers
            .par_iter()
            .map(|path| {
                let img = read_finger_image(path)?;
                let started = std::time::Instant::now();
                let x = extractor
                    .extract(&Raster {
                        width: img.width() as usize,
                        height: img.height() as usize,
                        ppi: self.ppi.or(img.ppi()).unwrap_or(500.0),
                        pixels: img.pixels(),
                    })
                    .map_err(|e| anyhow::anyhow!("{}: {} ({e})", path.display(), e.reason()))?;
                let ms = started.elapsed().as_secs_f64() * 1e3;
                if let Some(dir) = &self.out {
                    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
                    let bytes = extract::encode(&x.template, format)?;
                    std::fs::write(dir.join(format!("{stem}.{ext}")), bytes)?;
                }
                let status = x.unusable.map_or("ok", |u| u.reason());
                Ok(format!(
                    "{}\tquality {:>3}\tminutiae {:>3}\t{status}\t{ms:.1} ms",
                    path.display(),
                    x.quality,
                    x.template.minutiae.len()
                ))
            })
            .collect();
        let mut failed = 0;
        for r in results {
            match r {
                Ok(line) => println!("{line}"),
                Err(e) => {
                    failed += 1;
                    eprintln!("{e:#}");
                }
            }
        }
        anyhow::ensure!(failed == 0, "{failed} images failed");
        eyes_done
    }
}
