//! FVC-style folders of fingerprint images: decoding, extraction with the minutiae
//! extractor, and the extraction figures (time, failure to enrol) per database.
//!
//! A folder of images (`{finger}_{impression}.tif` and the other image kinds) becomes an
//! [`FvcDatabase`] of extracted templates, so it is scored exactly as a folder of templates.
//! A failure to enrol (an image that does not decode, that the extractor refuses, or that
//! fails the extractor's enrolment rule) keeps its place with an empty template: the
//! matcher scores an empty template 0, its lowest score, against anything, so per the FVC
//! protocol every genuine pair of that image counts as a false non-match and every
//! impostor pair as a correct rejection.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rayon::prelude::*;
use serde::Serialize;
use tunggal_datasets::fvc::{FvcDatabase, FvcSample};
use tunggal_index::extract::{Extractor, Raster};
use tunggal_index::image::{self, FingerImage};
use tunggal_index::template::FingerTemplate;

/// File extensions read as images.
pub const IMAGE_EXTENSIONS: [&str; 7] = ["tif", "tiff", "png", "wsq", "jp2", "j2k", "fir"];

/// Resolution used when neither the image nor a flag gives one.
pub const DEFAULT_PPI: f32 = 500.0;

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn parse_stem(stem: &str) -> Option<(u32, u32)> {
    let (f, i) = stem.split_once('_')?;
    Some((f.parse().ok()?, i.parse().ok()?))
}

/// Resolutions given on the command line: `--ppi N` for every database, `--ppi NAME=N` for
/// one. An image's own resolution wins; then the database's, then the global one, then 500.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PpiPlan {
    /// For every database.
    pub global: Option<f32>,
    /// Per database folder name.
    pub per_database: HashMap<String, f32>,
}

impl PpiPlan {
    /// Parses the `--ppi` values.
    pub fn parse(values: &[String]) -> anyhow::Result<Self> {
        let mut plan = Self::default();
        for v in values {
            let (name, number) = match v.split_once('=') {
                Some((n, x)) => (Some(n.trim()), x),
                None => (None, v.as_str()),
            };
            let ppi: f32 = number
                .trim()
                .parse()
                .ok()
                .filter(|p: &f32| {
                    (tunggal_index::extract::MIN_PPI..=tunggal_index::extract::MAX_PPI).contains(p)
                })
                .with_context(|| format!("--ppi {v:?}: expected N or DATABASE=N, N in 250…2000"))?;
            match name {
                Some(n) if !n.is_empty() => {
                    plan.per_database.insert(n.to_owned(), ppi);
                }
                Some(_) => anyhow::bail!("--ppi {v:?}: empty database name"),
                None => plan.global = Some(ppi),
            }
        }
        Ok(plan)
    }

    /// The resolution for an image of `database` whose own resolution is `own`.
    pub fn resolve(&self, database: &str, own: Option<f32>) -> f32 {
        own.or_else(|| self.per_database.get(database).copied())
            .or(self.global)
            .unwrap_or(DEFAULT_PPI)
    }
}

/// One image file of a database, decoded (or why not).
#[derive(Debug)]
pub struct ImageSample {
    /// File stem, for example `101_1`.
    pub stem: String,
    /// Finger number.
    pub finger: u32,
    /// Impression number.
    pub impression: u32,
    /// The decoded image, or the decoder's machine-readable reason.
    pub image: Result<FingerImage, &'static str>,
}

/// One database folder of images, sorted by finger then impression.
#[derive(Debug)]
pub struct ImageDatabase {
    /// Folder name.
    pub name: String,
    /// The images.
    pub samples: Vec<ImageSample>,
}

fn image_files(dir: &Path) -> anyhow::Result<Vec<(PathBuf, String, u32, u32)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if !is_image(&path) {
            continue;
        }
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
            continue;
        };
        if let Some((f, i)) = parse_stem(&stem) {
            out.push((path, stem, f, i));
        }
    }
    out.sort_by_key(|s| (s.2, s.3));
    Ok(out)
}

fn sub_folders(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .with_context(|| format!("reading {}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Whether some database folder under `root` holds `{finger}_{impression}` image files.
pub fn is_image_root(root: &Path) -> anyhow::Result<bool> {
    for dir in sub_folders(root)? {
        if !image_files(&dir)?.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Reads and decodes every image database under `root` (in parallel). A file that cannot
/// be read is an error; one that does not decode is kept with the decoder's reason.
pub fn load_root(root: &Path) -> anyhow::Result<Vec<ImageDatabase>> {
    let mut out = Vec::new();
    for dir in sub_folders(root)? {
        let files = image_files(&dir)?;
        if files.is_empty() {
            continue;
        }
        let samples = files
            .into_par_iter()
            .map(|(path, stem, finger, impression)| {
                let bytes =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                Ok(ImageSample {
                    stem,
                    finger,
                    impression,
                    image: image::decode(&bytes, None).map_err(|e| e.reason()),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("db")
            .to_owned();
        out.push(ImageDatabase { name, samples });
    }
    Ok(out)
}

/// Extraction figures of one database.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExtractionReport {
    /// Folder name.
    pub name: String,
    /// Images in the folder.
    pub images: usize,
    /// Resolutions used (ppi), each with its image count.
    pub ppi: BTreeMap<String, usize>,
    /// Mean extraction time per extracted image, milliseconds of thread CPU time.
    pub mean_ms: f64,
    /// Total extraction CPU time, seconds.
    pub total_cpu_s: f64,
    /// Failures to enrol.
    pub failures: usize,
    /// Failures to enrol by machine-readable reason.
    pub reasons: BTreeMap<String, usize>,
    /// Mean quality (0–100) of the enrolled images.
    pub mean_quality: f64,
}

struct Outcome {
    template: Option<FingerTemplate>,
    reason: Option<&'static str>,
    ppi: f32,
    cpu_s: f64,
    quality: u8,
}

fn extract_one(
    extractor: &Extractor,
    ppi: f32,
    image: &Result<FingerImage, &'static str>,
) -> Outcome {
    let mut out = Outcome {
        template: None,
        reason: None,
        ppi,
        cpu_s: 0.0,
        quality: 0,
    };
    let img = match image {
        Ok(img) => img,
        Err(reason) => {
            out.reason = Some(reason);
            return out;
        }
    };
    let started = cpu_time::ThreadTime::now();
    let result = extractor.extract(&Raster {
        width: img.width() as usize,
        height: img.height() as usize,
        ppi,
        pixels: img.pixels(),
    });
    out.cpu_s = started.elapsed().as_secs_f64();
    match result {
        Err(e) => out.reason = Some(e.reason()),
        Ok(x) => {
            out.quality = x.quality;
            match x.unusable {
                Some(u) => out.reason = Some(u.reason()),
                None => out.template = Some(x.template),
            }
        }
    }
    out
}

/// Extracts every image of every database in parallel. Returns the databases of templates
/// (a failure to enrol as an empty template) and the extraction figures.
pub fn extract_all(
    databases: &[ImageDatabase],
    extractor: &Extractor,
    ppi: &PpiPlan,
) -> (Vec<FvcDatabase>, Vec<ExtractionReport>) {
    let mut dbs = Vec::with_capacity(databases.len());
    let mut reports = Vec::with_capacity(databases.len());
    for db in databases {
        let outcomes: Vec<Outcome> = db
            .samples
            .par_iter()
            .map(|s| {
                let own = s.image.as_ref().ok().and_then(FingerImage::ppi);
                extract_one(extractor, ppi.resolve(&db.name, own), &s.image)
            })
            .collect();
        let mut report = ExtractionReport {
            name: db.name.clone(),
            images: db.samples.len(),
            ppi: BTreeMap::new(),
            mean_ms: 0.0,
            total_cpu_s: 0.0,
            failures: 0,
            reasons: BTreeMap::new(),
            mean_quality: 0.0,
        };
        let mut samples = Vec::with_capacity(outcomes.len());
        let (mut timed, mut enrolled) = (0usize, 0usize);
        for (s, o) in db.samples.iter().zip(outcomes) {
            *report.ppi.entry(format!("{}", o.ppi)).or_default() += 1;
            report.total_cpu_s += o.cpu_s;
            if s.image.is_ok() {
                timed += 1;
            }
            if let Some(r) = o.reason {
                report.failures += 1;
                *report.reasons.entry(r.to_owned()).or_default() += 1;
            } else {
                enrolled += 1;
                report.mean_quality += f64::from(o.quality);
            }
            samples.push(FvcSample {
                stem: s.stem.clone(),
                finger: s.finger,
                impression: s.impression,
                template: o.template.unwrap_or_default(),
            });
        }
        report.mean_ms = report.total_cpu_s * 1e3 / timed.max(1) as f64;
        report.mean_quality /= enrolled.max(1) as f64;
        reports.push(report);
        dbs.push(FvcDatabase {
            name: db.name.clone(),
            samples,
        });
    }
    (dbs, reports)
}

/// The figures over every database together.
pub fn total(reports: &[ExtractionReport]) -> ExtractionReport {
    let mut t = ExtractionReport {
        name: "all".into(),
        images: 0,
        ppi: BTreeMap::new(),
        mean_ms: 0.0,
        total_cpu_s: 0.0,
        failures: 0,
        reasons: BTreeMap::new(),
        mean_quality: 0.0,
    };
    let mut quality_weight = 0usize;
    for r in reports {
        t.images += r.images;
        t.total_cpu_s += r.total_cpu_s;
        t.failures += r.failures;
        for (k, v) in &r.ppi {
            *t.ppi.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &r.reasons {
            *t.reasons.entry(k.clone()).or_default() += v;
        }
        let enrolled = r.images - r.failures;
        t.mean_quality += r.mean_quality * enrolled as f64;
        quality_weight += enrolled;
    }
    t.mean_ms = t.total_cpu_s * 1e3 / t.images.max(1) as f64;
    t.mean_quality /= quality_weight.max(1) as f64;
    t
}

/// Prints the extraction table.
pub fn print(reports: &[ExtractionReport]) {
    println!(
        "{:<10} {:>6} {:>10} {:>10} {:>7} {:>5}  {:<14} failure-to-enrol reasons",
        "database", "images", "ms/image", "CPU s", "quality", "FTE", "ppi"
    );
    let all = total(reports);
    for r in reports.iter().chain(std::iter::once(&all)) {
        let ppi: Vec<String> = r.ppi.keys().cloned().collect();
        let reasons: Vec<String> = r.reasons.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "{:<10} {:>6} {:>10.2} {:>10.2} {:>7.1} {:>5}  {:<14} {}",
            r.name,
            r.images,
            r.mean_ms,
            r.total_cpu_s,
            r.mean_quality,
            r.failures,
            ppi.join(","),
            if reasons.is_empty() {
                "-".to_owned()
            } else {
                reasons.join(", ")
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_comes_from_the_image_then_the_database_then_the_flag() {
        let plan = PpiPlan::parse(&["DB2_B=569".into(), "450".into()]).unwrap();
        assert_eq!(plan.resolve("DB2_B", Some(1000.0)), 1000.0);
        assert_eq!(plan.resolve("DB2_B", None), 569.0);
        assert_eq!(plan.resolve("DB1_B", None), 450.0);
        assert_eq!(PpiPlan::default().resolve("DB1_B", None), DEFAULT_PPI);
        assert!(PpiPlan::parse(&["DB2_B=abc".into()]).is_err());
        assert!(PpiPlan::parse(&["10".into()]).is_err());
        assert!(PpiPlan::parse(&["=500".into()]).is_err());
    }

    #[test]
    fn an_empty_template_scores_zero_against_anything() {
        use tunggal_index::finger::{FingerMatcher, MccParams};
        use tunggal_index::template::Minutia;
        let matcher = FingerMatcher::new(MccParams::default());
        let empty = FingerTemplate::default();
        let minutiae = (0..30u16)
            .map(|i| Minutia {
                x: 40 + (i * 37) % 200,
                y: 50 + (i * 53) % 250,
                angle: (i * 29 % 256) as u8,
                kind: tunggal_index::template::MinutiaKind::Ending,
                quality: 60,
            })
            .collect();
        let full = FingerTemplate {
            width: 300,
            height: 400,
            position: 0,
            quality: 60,
            minutiae,
        };
        let (e, f) = (matcher.prepare(&empty), matcher.prepare(&full));
        assert!(matcher.compare(&f, &f) > 0.0);
        assert_eq!(matcher.compare(&e, &f), 0.0);
        assert_eq!(matcher.compare(&f, &e), 0.0);
        assert_eq!(matcher.compare(&e, &e), 0.0);
    }
}
