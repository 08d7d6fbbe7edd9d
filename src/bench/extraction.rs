//! Minutiae extraction throughput (`tunggal bench extract`).

use std::fmt;
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use tunggal_index::extract::{Extractor, Raster};

use crate::eval::images::{self, PpiPlan};

/// One decoded image to extract.
#[derive(Debug, Clone)]
pub struct BenchImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Resolution in pixels per inch.
    pub ppi: f32,
    /// Row-major grey levels.
    pub pixels: Vec<u8>,
}

impl BenchImage {
    fn raster(&self) -> Raster<'_> {
        Raster {
            width: self.width,
            height: self.height,
            ppi: self.ppi,
            pixels: &self.pixels,
        }
    }
}

/// Every image of an FVC-style image root that decodes, at its database's resolution.
pub fn load_images(root: &Path, ppi: &PpiPlan) -> anyhow::Result<Vec<BenchImage>> {
    let mut out = Vec::new();
    for db in images::load_root(root)? {
        for s in db.samples {
            if let Ok(img) = s.image {
                let ppi = ppi.resolve(&db.name, img.ppi());
                out.push(BenchImage {
                    width: img.width() as usize,
                    height: img.height() as usize,
                    ppi,
                    pixels: img.into_pixels(),
                });
            }
        }
    }
    Ok(out)
}

/// `count` synthetic 288×384 500 ppi ridge patterns (concentric ridges around varied
/// centres, periods 8–10 pixels, inside an elliptic finger area on a light background).
pub fn synthetic_images(count: usize) -> Vec<BenchImage> {
    let (width, height) = (288usize, 384usize);
    (0..count)
        .map(|k| {
            let kf = k as f32;
            let (cx, cy) = (
                144.0 + 30.0 * (kf * 1.7).sin(),
                192.0 + 40.0 * (kf * 2.3).cos(),
            );
            let period = 8.0 + (k % 5) as f32 * 0.5;
            let pixels = (0..width * height)
                .map(|i| {
                    let (x, y) = ((i % width) as f32, (i / width) as f32);
                    let inside = ((x - 144.0) / 125.0).powi(2) + ((y - 192.0) / 170.0).powi(2);
                    if inside > 1.0 {
                        return 235;
                    }
                    let r = ((x - cx).powi(2) + (y - cy).powi(2) * 1.3).sqrt();
                    let phase = r * std::f32::consts::TAU / period + 0.02 * x * (kf + 1.0).sin();
                    (128.0 + 100.0 * phase.sin()) as u8
                })
                .collect();
            BenchImage {
                width,
                height,
                ppi: 500.0,
                pixels,
            }
        })
        .collect()
}

/// What `tunggal bench extract` measured.
#[derive(Debug, Clone)]
pub struct ExtractReport {
    /// Where the images came from.
    pub source: String,
    /// Distinct images cycled through.
    pub images: usize,
    /// Mean pixels per image (as given, before resampling to 500 ppi).
    pub mean_pixels: f64,
    /// Images per CPU-second of the measuring thread (robust to a busy machine).
    pub per_cpu_second: f64,
    /// Images per second of wall time on one thread.
    pub single_core_per_s: f64,
    /// Share of the wall time the measuring thread actually ran.
    pub cpu_share: f64,
    /// Images per second, all cores (rayon).
    pub machine_per_s: f64,
    /// Threads used for the machine figure.
    pub threads: usize,
}

impl fmt::Display for ExtractReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "images               {} ({})", self.images, self.source)?;
        writeln!(f, "mean pixels          {:.0} per image", self.mean_pixels)?;
        writeln!(
            f,
            "extraction           {:.2} ms CPU per image on one core ({:.1} images per CPU-second; {:.1} /s wall, thread ran {:.0}% of the time)",
            1e3 / self.per_cpu_second.max(1e-9),
            self.per_cpu_second,
            self.single_core_per_s,
            self.cpu_share * 100.0
        )?;
        write!(
            f,
            "extraction           {:.1} images/s machine ({} threads)",
            self.machine_per_s, self.threads
        )
    }
}

/// Extracts `images` round after round for about `seconds` on one thread, then as long on
/// every rayon thread. Images the extractor refuses count as done (their time is spent).
pub fn extract_throughput(
    images: &[BenchImage],
    extractor: &Extractor,
    seconds: f64,
    source: &str,
) -> anyhow::Result<ExtractReport> {
    anyhow::ensure!(!images.is_empty(), "no images to extract");
    let mean_pixels =
        images.iter().map(|i| i.pixels.len()).sum::<usize>() as f64 / images.len() as f64;
    let started = Instant::now();
    let cpu_started = cpu_time::ThreadTime::now();
    let mut count = 0usize;
    let mut minutiae = 0usize;
    while count == 0 || started.elapsed().as_secs_f64() < seconds {
        for img in images {
            if let Ok(x) = extractor.extract(&img.raster()) {
                minutiae += x.template.minutiae.len();
            }
            count += 1;
            if started.elapsed().as_secs_f64() >= seconds {
                break;
            }
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_started.elapsed().as_secs_f64();
    let threads = rayon::current_num_threads();
    let started = Instant::now();
    let mut machine_count = 0usize;
    while machine_count == 0 || started.elapsed().as_secs_f64() < seconds {
        machine_count += images
            .par_iter()
            .map(|img| {
                if let Ok(x) = extractor.extract(&img.raster()) {
                    std::hint::black_box(x.template.minutiae.len());
                }
                1usize
            })
            .sum::<usize>();
    }
    let machine_per_s = machine_count as f64 / started.elapsed().as_secs_f64();
    std::hint::black_box(minutiae);
    Ok(ExtractReport {
        source: source.to_owned(),
        images: images.len(),
        mean_pixels,
        per_cpu_second: count as f64 / cpu.max(1e-9),
        single_core_per_s: count as f64 / wall,
        cpu_share: cpu / wall,
        machine_per_s,
        threads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_images_extract_and_the_report_counts_them() {
        let imgs = synthetic_images(3);
        assert_eq!(imgs.len(), 3);
        assert_eq!(imgs[0].pixels.len(), 288 * 384);
        assert_ne!(imgs[0].pixels, imgs[1].pixels);
        let r = extract_throughput(&imgs, &Extractor::default(), 0.0, "synthetic").unwrap();
        assert_eq!(r.images, 3);
        assert!(r.per_cpu_second > 0.0 && r.machine_per_s > 0.0);
        assert!(extract_throughput(&[], &Extractor::default(), 0.0, "none").is_err());
    }
}
