//! Iris accuracy on a folder of eye images listed by a manifest.
//!
//! The manifest is a CSV file with the header `path,person,eye,sample` and one image per
//! line, `path` relative to the data folder. A *database* is the first component of the
//! path (`casia-v1/001/U/001_1_1.jpg` is in `casia-v1`). Genuine pairs are two images of the
//! same person and eye; every other pair is an impostor pair. Every pair is scored, within
//! each database and pooled over all of them.
//!
//! An image that does not decode or fails to enrol is counted in the failure-to-enrol rate
//! and left out of the pairs (the rates are over enrolled images, as in ISO/IEC 19795-1 when
//! FTE is reported beside them). A pair the matcher cannot score (too few jointly valid
//! bits at every rotation) is kept with distance 1, its worst value. The score of a pair is
//! the matcher's normalised Hamming distance `hd_norm`; the error rates use `1 − hd_norm`
//! as similarity.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rayon::prelude::*;
use serde::Serialize;
use tunggal_index::eval::{error_rates, operating_points, ErrorRates, OperatingPoint};
use tunggal_index::eye::{EyeEncoder, EyeQuality, EyeSegmentation};
use tunggal_index::image;
use tunggal_index::iris::{record_of, IrisComparison, IrisLayout, IrisMatcher, IrisTemplate};

/// One manifest line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestEntry {
    /// Path relative to the data folder.
    pub path: String,
    /// Person identifier.
    pub person: String,
    /// Eye label (left, right, or whatever the collection uses).
    pub eye: String,
    /// Sample label.
    pub sample: String,
}

impl ManifestEntry {
    /// The database: the first component of the path.
    pub fn database(&self) -> &str {
        self.path.split(['/', '\\']).next().unwrap_or("")
    }
}

/// Reads a manifest (`path,person,eye,sample`, header first; blank lines skipped).
pub fn read_manifest(path: &Path) -> anyhow::Result<Vec<ManifestEntry>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let header = lines.next().map(|(_, l)| l.trim().to_ascii_lowercase());
    anyhow::ensure!(
        header.as_deref() == Some("path,person,eye,sample"),
        "{}: the first line must be `path,person,eye,sample`",
        path.display()
    );
    let mut out = Vec::new();
    for (n, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        anyhow::ensure!(
            fields.len() == 4 && !fields[0].is_empty() && !fields[1].is_empty(),
            "{} line {}: expected path,person,eye,sample",
            path.display(),
            n + 1
        );
        anyhow::ensure!(
            !fields[0].split(['/', '\\']).any(|c| c == ".."),
            "{} line {}: the path leaves the data folder",
            path.display(),
            n + 1
        );
        out.push(ManifestEntry {
            path: fields[0].to_owned(),
            person: fields[1].to_owned(),
            eye: fields[2].to_owned(),
            sample: fields[3].to_owned(),
        });
    }
    Ok(out)
}

/// The outcome of one image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageOutcome {
    /// Manifest line.
    pub entry: ManifestEntry,
    /// Failure reason (`image_*` for decoding, `iris_*` for the encoder), if it failed.
    pub failure: Option<String>,
    /// Failure message.
    pub message: Option<String>,
    /// Encoding CPU time of this image (decoding excluded), in milliseconds.
    pub encode_ms: f64,
    /// Image size.
    pub size: Option<(u32, u32)>,
    /// Segmentation (also for failures after segmentation, when available).
    pub segmentation: Option<EyeSegmentation>,
    /// Quality.
    pub quality: Option<EyeQuality>,
    /// Valid bits of the template.
    pub valid_bits: Option<u32>,
    /// Plausibility checks of the segmentation that failed (empty when all pass).
    pub checks_failed: Vec<&'static str>,
    /// The template (not serialised).
    #[serde(skip)]
    pub template: Option<IrisTemplate>,
}

/// Plausibility checks of a segmentation: pupil inside the iris, pupil/iris ratio within
/// 0.2–0.75, iris radius between 12 % and 60 % of the image's short side.
pub fn segmentation_checks(s: &EyeSegmentation, width: u32, height: u32) -> Vec<&'static str> {
    let mut failed = Vec::new();
    let offset = (s.pupil.x - s.iris.x).hypot(s.pupil.y - s.iris.y);
    if offset + s.pupil.r > s.iris.r {
        failed.push("pupil_outside_iris");
    }
    if !(0.2..=0.75).contains(&s.dilation()) {
        failed.push("dilation_outside_0.2_0.75");
    }
    let short = width.min(height) as f32;
    if !(0.12 * short..=0.6 * short).contains(&s.iris.r) {
        failed.push("iris_radius_implausible");
    }
    failed
}

/// Decodes and encodes every image (in parallel over images).
pub fn encode_all(
    root: &Path,
    entries: &[ManifestEntry],
    encoder: &EyeEncoder,
    layout: IrisLayout,
) -> Vec<ImageOutcome> {
    entries
        .par_iter()
        .map(|entry| {
            let mut out = ImageOutcome {
                entry: entry.clone(),
                failure: None,
                message: None,
                encode_ms: 0.0,
                size: None,
                segmentation: None,
                quality: None,
                valid_bits: None,
                checks_failed: Vec::new(),
                template: None,
            };
            let path: PathBuf = root.join(&entry.path);
            let decoded = std::fs::read(&path)
                .map_err(|e| ("image_unreadable".to_owned(), e.to_string()))
                .and_then(|bytes| {
                    image::decode(&bytes, None).map_err(|e| (e.reason().to_owned(), e.to_string()))
                });
            let img = match decoded {
                Ok(img) => img,
                Err((reason, message)) => {
                    out.failure = Some(reason);
                    out.message = Some(message);
                    return out;
                }
            };
            out.size = Some((img.width(), img.height()));
            let started = cpu_time::ThreadTime::now();
            let result = encoder.encode(&img, layout);
            out.encode_ms = started.elapsed().as_secs_f64() * 1e3;
            match result {
                Ok(enc) => {
                    out.checks_failed =
                        segmentation_checks(&enc.segmentation, img.width(), img.height());
                    out.valid_bits = Some(enc.template.valid_bits());
                    out.segmentation = Some(enc.segmentation);
                    out.quality = Some(enc.quality);
                    out.template = Some(enc.template);
                }
                Err(e) => {
                    out.failure = Some(e.reason().to_owned());
                    out.message = Some(e.to_string());
                    out.segmentation = encoder.segment(&img).ok();
                }
            }
            out
        })
        .collect()
}

/// One scored pair (indices into the outcomes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IrisPair {
    /// First image.
    pub a: usize,
    /// Second image.
    pub b: usize,
    /// Normalised Hamming distance (1 when the matcher could not score the pair).
    pub hd_norm: f64,
    /// Best rotation, in angular positions.
    pub rotation: i32,
    /// Same person and eye.
    pub genuine: bool,
    /// Whether the matcher scored the pair (enough jointly valid bits at some rotation).
    pub scored: bool,
    /// Fractional Hamming distance over the jointly valid bits without rotation (NaN when
    /// no bit is jointly valid): the spread of these over impostor pairs measures how
    /// independent the code bits are, before the rotation search lowers the minimum.
    pub hd_unrotated: f64,
}

/// Fractional Hamming distance of two templates at rotation 0 (NaN without common bits).
fn hd_unrotated(a: &IrisTemplate, b: &IrisTemplate) -> f64 {
    let (differ, both) = a.unrotated_difference(b);
    if both == 0 {
        f64::NAN
    } else {
        differ as f64 / both as f64
    }
}

/// Every pair of enrolled images among `members` (indices into `outcomes`), scored.
pub fn score_pairs(
    outcomes: &[ImageOutcome],
    members: &[usize],
    matcher: &IrisMatcher,
) -> Vec<IrisPair> {
    let prepared: Vec<(usize, tunggal_index::iris::IrisProbe, Vec<u64>)> = members
        .par_iter()
        .filter_map(|&i| {
            let t = outcomes[i].template.as_ref()?;
            let probe = matcher.prepare(t).ok()?;
            Some((i, probe, record_of(t)))
        })
        .collect();
    let n = prepared.len();
    (0..n)
        .into_par_iter()
        .flat_map_iter(|x| {
            let prepared = &prepared;
            ((x + 1)..n).map(move |y| {
                let (a, probe, _) = &prepared[x];
                let (b, _, record) = &prepared[y];
                let (hd_norm, rotation, scored) = match matcher.compare(probe, record) {
                    Ok(IrisComparison::Scored(s)) => (s.hd_norm, s.rotation, true),
                    _ => (1.0, 0, false),
                };
                let (ea, eb) = (&outcomes[*a].entry, &outcomes[*b].entry);
                let hd0 = match (&outcomes[*a].template, &outcomes[*b].template) {
                    (Some(ta), Some(tb)) => hd_unrotated(ta, tb),
                    _ => f64::NAN,
                };
                IrisPair {
                    hd_unrotated: hd0,
                    a: *a,
                    b: *b,
                    hd_norm,
                    rotation,
                    genuine: ea.person == eb.person && ea.eye == eb.eye,
                    scored,
                }
            })
        })
        .collect()
}

/// Figures of one database (or of the pooled set).
#[derive(Debug, Clone, Serialize)]
pub struct IrisReport {
    /// Database name (`all` for the pooled set).
    pub name: String,
    /// Images listed.
    pub images: usize,
    /// Images that failed to decode or to enrol.
    pub failures: usize,
    /// Failure-to-enrol rate (a fraction).
    pub fte: f64,
    /// Failures by reason.
    pub failure_reasons: BTreeMap<String, usize>,
    /// Enrolled images failing a segmentation plausibility check, by check.
    pub check_failures: BTreeMap<String, usize>,
    /// Error rates (similarity `1 − hd_norm`); `eer` is a fraction.
    pub rates: Option<ErrorRates>,
    /// Lowest FNMR with FMR ≤ 10⁻³.
    pub fnmr_at_fmr_1e3: Option<f64>,
    /// Lowest FNMR with FMR ≤ 10⁻⁴.
    pub fnmr_at_fmr_1e4: Option<f64>,
    /// `hd_norm` threshold at the EER operating point.
    pub eer_threshold: Option<f64>,
    /// Mean genuine `hd_norm`.
    pub genuine_mean: f64,
    /// Mean impostor `hd_norm`.
    pub impostor_mean: f64,
    /// Standard deviation of impostor `hd_norm`.
    pub impostor_std: f64,
    /// Degrees of freedom of the impostor distribution, `p (1 − p) / σ²`.
    pub impostor_dof: f64,
    /// Mean impostor fractional Hamming distance without rotation.
    pub impostor_mean_unrotated: f64,
    /// Degrees of freedom of the impostor distances without rotation.
    pub impostor_dof_unrotated: f64,
    /// Pairs the matcher could not score (too few jointly valid bits).
    pub unscored_pairs: usize,
    /// Mean encoding CPU time per image, in milliseconds.
    pub mean_encode_ms: f64,
    /// Mean quality score of the enrolled images.
    pub mean_quality: f64,
    /// DET points.
    #[serde(skip)]
    pub det: Vec<OperatingPoint>,
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n;
    (m, var.sqrt())
}

/// The figures of the images `members` and their scored pairs.
pub fn report(
    name: &str,
    outcomes: &[ImageOutcome],
    members: &[usize],
    pairs: &[IrisPair],
) -> IrisReport {
    let mut failure_reasons = BTreeMap::new();
    let mut check_failures = BTreeMap::new();
    let (mut ms, mut quality, mut enrolled) = (0.0, 0.0, 0usize);
    for &i in members {
        let o = &outcomes[i];
        ms += o.encode_ms;
        if let Some(r) = &o.failure {
            *failure_reasons.entry(r.clone()).or_insert(0) += 1;
        } else {
            enrolled += 1;
            quality += o.quality.map_or(0.0, |q| f64::from(q.score));
        }
        for c in &o.checks_failed {
            *check_failures.entry((*c).to_owned()).or_insert(0) += 1;
        }
    }
    let failures = members.len() - enrolled;
    let genuine: Vec<f64> = pairs
        .iter()
        .filter(|p| p.genuine)
        .map(|p| p.hd_norm)
        .collect();
    let impostor: Vec<f64> = pairs
        .iter()
        .filter(|p| !p.genuine)
        .map(|p| p.hd_norm)
        .collect();
    let sim = |v: &[f64]| v.iter().map(|d| 1.0 - d).collect::<Vec<f64>>();
    let (gs, is) = (sim(&genuine), sim(&impostor));
    let rates = error_rates(&gs, &is);
    let det = operating_points(&gs, &is);
    let fnmr_at = |limit: f64| {
        (!det.is_empty()).then(|| {
            det.iter()
                .filter(|p| p.fmr <= limit)
                .map(|p| p.fnmr)
                .fold(1.0, f64::min)
        })
    };
    let eer_threshold = rates.and_then(|r| {
        det.iter()
            .min_by(|a, b| {
                let da = (a.fmr + a.fnmr) / 2.0 - r.eer;
                let db = (b.fmr + b.fnmr) / 2.0 - r.eer;
                da.abs().total_cmp(&db.abs())
            })
            .map(|p| 1.0 - p.threshold)
    });
    let (genuine_mean, _) = mean_std(&genuine);
    let (impostor_mean, impostor_std) = mean_std(&impostor);
    let unrotated: Vec<f64> = pairs
        .iter()
        .filter(|p| !p.genuine && p.hd_unrotated.is_finite())
        .map(|p| p.hd_unrotated)
        .collect();
    let (mean0, std0) = mean_std(&unrotated);
    IrisReport {
        name: name.to_owned(),
        images: members.len(),
        failures,
        fte: failures as f64 / members.len().max(1) as f64,
        failure_reasons,
        check_failures,
        rates,
        fnmr_at_fmr_1e3: fnmr_at(1e-3),
        fnmr_at_fmr_1e4: fnmr_at(1e-4),
        eer_threshold,
        genuine_mean,
        impostor_mean,
        impostor_std,
        impostor_dof: impostor_mean * (1.0 - impostor_mean) / impostor_std.powi(2).max(1e-12),
        impostor_mean_unrotated: mean0,
        impostor_dof_unrotated: mean0 * (1.0 - mean0) / std0.powi(2).max(1e-12),
        unscored_pairs: pairs.iter().filter(|p| !p.scored).count(),
        mean_encode_ms: ms / members.len().max(1) as f64,
        mean_quality: quality / enrolled.max(1) as f64,
        det,
    }
}

/// Database names in manifest order, each with its members.
pub fn databases(outcomes: &[ImageOutcome]) -> Vec<(String, Vec<usize>)> {
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, o) in outcomes.iter().enumerate() {
        let db = o.entry.database();
        match out.iter_mut().find(|(n, _)| n == db) {
            Some((_, m)) => m.push(i),
            None => out.push((db.to_owned(), vec![i])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_is_parsed_and_paths_may_not_escape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.csv");
        std::fs::write(
            &path,
            "path,person,eye,sample\ncasia-v1/001/U/001_1_1.jpg,casia-v1:001,U,1\n\nmmu2/a.png,m:1,01,2\n",
        )
        .unwrap();
        let m = read_manifest(&path).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].database(), "casia-v1");
        assert_eq!(m[1].eye, "01");
        std::fs::write(&path, "path,person,eye,sample\n../x.png,p,L,1\n").unwrap();
        assert!(read_manifest(&path).is_err());
        std::fs::write(&path, "file,who\nx.png,p\n").unwrap();
        assert!(read_manifest(&path).is_err());
    }
}
