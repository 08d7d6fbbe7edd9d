//! `tunggal extract`: minutiae templates and quality from fingerprint images.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rayon::prelude::*;
use tunggal_index::extract::{self, Extractor, Raster, RecordFormat};

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
    /// Images: 8-bit greyscale TIFF or PNG.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Folder for the templates (named after each image); none writes nothing.
    #[arg(short = 'o', long = "out")]
    out: Option<PathBuf>,
    /// Record format.
    #[arg(long, value_enum, default_value = "iso19794-2")]
    format: OutputFormat,
    /// Resolution of the images in pixels per inch.
    #[arg(long, default_value_t = 500.0)]
    ppi: f32,
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

/// Reads an 8-bit greyscale TIFF or PNG (by extension; other PNG colour types are converted
/// to grey by taking the first channel).
pub fn read_image(path: &Path) -> anyhow::Result<GreyImage> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = std::io::BufReader::new(file);
    match ext.as_str() {
        "tif" | "tiff" => {
            let mut dec = tiff::decoder::Decoder::new(reader)?;
            let (w, h) = dec.dimensions()?;
            let colour = dec.colortype()?;
            anyhow::ensure!(
                colour == tiff::ColorType::Gray(8),
                "{}: only 8-bit greyscale TIFF is supported, found {colour:?}",
                path.display()
            );
            let tiff::decoder::DecodingResult::U8(pixels) = dec.read_image()? else {
                anyhow::bail!("{}: unexpected TIFF sample type", path.display());
            };
            Ok(GreyImage {
                width: w as usize,
                height: h as usize,
                pixels,
            })
        }
        "png" => {
            let mut dec = png::Decoder::new(reader);
            dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
            let mut r = dec.read_info()?;
            let mut buf = vec![0; r.output_buffer_size()];
            let info = r.next_frame(&mut buf)?;
            let channels = info.color_type.samples();
            let pixels = buf[..info.buffer_size()]
                .chunks_exact(channels)
                .map(|c| c[0])
                .collect();
            Ok(GreyImage {
                width: info.width as usize,
                height: info.height as usize,
                pixels,
            })
        }
        other => anyhow::bail!("{}: unsupported image type {other:?}", path.display()),
    }
}

impl ExtractArgs {
    /// Runs the extraction.
    pub fn run(self) -> anyhow::Result<()> {
        let extractor = Extractor::default();
        if let Some(dir) = &self.out {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let (format, ext) = match self.format {
            OutputFormat::Iso2005 => (RecordFormat::Iso2005, "iso"),
            OutputFormat::Iso2011 => (RecordFormat::Iso2011, "iso"),
            OutputFormat::Ansi378 => (RecordFormat::Ansi378, "ansi"),
        };
        let results: Vec<anyhow::Result<String>> = self
            .images
            .par_iter()
            .map(|path| {
                let img = read_image(path)?;
                let started = std::time::Instant::now();
                let x = extractor
                    .extract(&Raster {
                        width: img.width,
                        height: img.height,
                        ppi: self.ppi,
                        pixels: &img.pixels,
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
        Ok(())
    }
}
