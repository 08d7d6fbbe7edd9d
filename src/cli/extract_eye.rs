//! `tunggal extract --eye`: iris codes, segmentation and quality from eye images, one JSON
//! object per image on standard output (and, with `--out`, in `OUT/<stem>.json`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rayon::prelude::*;
use serde_json::{json, Value};
use tunggal_index::eye::{EyeEncoder, EyeParams};
use tunggal_index::image::{self, ImageFormat};
use tunggal_index::iris::IrisLayout;

use crate::enrolment::validate::{decode_eye, EYE_IMAGE_FORMATS};

/// The JSON of one eye image: code, mask, segmentation and quality, or the failure to enrol
/// with the boundaries found, if any.
pub fn eye_json(encoder: &EyeEncoder, layout: IrisLayout, path: &Path) -> anyhow::Result<Value> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let format = image::sniff(&bytes)
        .filter(|f| EYE_IMAGE_FORMATS.contains(f))
        .with_context(|| {
            format!(
                "{}: not an eye image (PNG, JPEG, JPEG 2000, BMP or ISO/IEC 19794-6)",
                path.display()
            )
        })?;
    let img =
        decode_eye(&bytes, format, None).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let started = std::time::Instant::now();
    let encoded = encoder.encode(&img, layout);
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let mut out = json!({
        "path": path.display().to_string(),
        "format": format.name(),
        "width": img.width(),
        "height": img.height(),
        "layout": layout.name().unwrap_or("custom"),
        "ms": (ms * 10.0).round() / 10.0,
    });
    match encoded {
        Ok(x) => {
            out["code"] = json!(B64.encode(x.template.code_bytes()));
            out["mask"] = json!(B64.encode(x.template.mask_bytes()));
            out["valid_bits"] = json!(x.template.valid_bits());
            out["quality"] = serde_json::to_value(x.quality)?;
            out["segmentation"] = serde_json::to_value(&x.segmentation)?;
        }
        Err(e) if e.is_failure_to_enrol() => {
            out["unusable"] = json!(e.reason());
            out["detail"] = json!(e.to_string());
            if let Ok(s) = encoder.segment(&img) {
                out["segmentation"] = serde_json::to_value(&s)?;
            }
        }
        Err(e) => anyhow::bail!("{}: {} ({e})", path.display(), e.reason()),
    }
    Ok(out)
}

/// Runs `extract --eye` over `images`.
pub fn run(images: &[PathBuf], out: Option<&Path>, layout: &str) -> anyhow::Result<()> {
    let layout = IrisLayout::from_name(layout)
        .with_context(|| format!("unknown iris layout {layout:?} (daugman-2048, open-iris)"))?;
    let encoder = EyeEncoder::new(EyeParams::default())?;
    let results: Vec<anyhow::Result<Value>> = images
        .par_iter()
        .map(|path| {
            let v = eye_json(&encoder, layout, path)?;
            if let Some(dir) = out {
                let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
                std::fs::write(
                    dir.join(format!("{stem}.json")),
                    serde_json::to_vec_pretty(&v)?,
                )?;
            }
            Ok(v)
        })
        .collect();
    let mut failed = 0;
    for r in results {
        match r {
            Ok(v) => println!("{v}"),
            Err(e) => {
                failed += 1;
                eprintln!("{e:#}");
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} images failed");
    Ok(())
}

/// Whether a file is an ISO/IEC 19794-6 iris record (handled as an eye image without
/// `--eye`).
pub fn is_iris_record(path: &Path) -> bool {
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && image::sniff(&head) == Some(ImageFormat::Iso19794_6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_featureless_image_fails_to_enrol_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flat.png");
        let flat = image::FingerImage::new(160, 120, None, vec![128; 160 * 120]).unwrap();
        std::fs::write(&path, image::encode_png(&flat).unwrap()).unwrap();
        let encoder = EyeEncoder::new(EyeParams::default()).unwrap();
        let v = eye_json(&encoder, IrisLayout::DAUGMAN_2048, &path).unwrap();
        assert_eq!(v["width"], 160);
        assert!(v["unusable"].as_str().unwrap().starts_with("iris_"), "{v}");
        assert!(v.get("code").is_none());
        assert!(!is_iris_record(&path));
    }
}
