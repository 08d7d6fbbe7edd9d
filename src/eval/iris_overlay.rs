//! Segmentation overlays and the per-image segmentation table of `eval iris`.
//!
//! An overlay is a PNG: the eye image in grey with the pupil contour (green), the pupil
//! circle (dark green), the limbus (red) and the eyelid parabolas (upper yellow, lower cyan)
//! drawn on it, and below it the normalised iris (`rows × cols`, row 0 next to the pupil at
//! the top) with the masked samples tinted red.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tunggal_index::eye::{EyeEncoder, EyeSegmentation, Eyelid, NormalisedIris};
use tunggal_index::image;
use tunggal_index::iris::IrisLayout;

use super::iris::ImageOutcome;

/// An RGB canvas.
struct Canvas {
    w: usize,
    h: usize,
    rgb: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Self {
        Self {
            w,
            h,
            rgb: vec![0; w * h * 3],
        }
    }

    fn put(&mut self, x: f32, y: f32, c: [u8; 3]) {
        if !(x >= 0.0 && y >= 0.0) {
            return;
        }
        let (x, y) = (x.round() as usize, y.round() as usize);
        if x < self.w && y < self.h {
            let i = (y * self.w + x) * 3;
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }

    fn grey(&mut self, x: usize, y: usize, v: u8) {
        self.put(x as f32, y as f32, [v, v, v]);
    }

    /// A closed curve `r(φ)` around `(cx, cy)` (φ counter-clockwise as viewed).
    fn curve(&mut self, cx: f32, cy: f32, r: &dyn Fn(f32) -> f32, c: [u8; 3]) {
        let steps = 720;
        for k in 0..steps {
            let phi = std::f32::consts::TAU * k as f32 / steps as f32;
            let rr = r(phi);
            self.put(cx + rr * phi.cos(), cy - rr * phi.sin(), c);
        }
    }

    fn lid(&mut self, lid: &Eyelid, x0: f32, x1: f32, c: [u8; 3]) {
        let mut x = x0;
        while x <= x1 {
            self.put(x, lid.y_at(x), c);
            x += 0.5;
        }
    }

    fn write_png(&self, path: &Path) -> anyhow::Result<()> {
        let file = std::fs::File::create(path).with_context(|| path.display().to_string())?;
        let mut enc =
            png::Encoder::new(std::io::BufWriter::new(file), self.w as u32, self.h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_image_data(&self.rgb)?;
        writer.finish()?;
        Ok(())
    }
}

/// Draws the segmentation (and the normalised iris, when given) over the image.
fn draw(
    pixels: &[u8],
    w: usize,
    h: usize,
    seg: Option<&EyeSegmentation>,
    polar: Option<&NormalisedIris>,
) -> Canvas {
    let (pw, ph) = polar.map_or((0, 0), |p| (p.cols, p.rows));
    let mut c = Canvas::new(w.max(pw), h + if ph > 0 { ph + 4 } else { 0 });
    for y in 0..h {
        for x in 0..w {
            c.grey(x, y, pixels[y * w + x]);
        }
    }
    if let Some(s) = seg {
        let (p, i) = (s.pupil, s.iris);
        c.curve(p.x, p.y, &|_| p.r, [0, 110, 0]);
        c.curve(p.x, p.y, &|phi| s.pupil_radius_at(phi), [0, 255, 0]);
        c.curve(i.x, i.y, &|_| i.r, [255, 40, 40]);
        let (x0, x1) = (i.x - i.r, i.x + i.r);
        if let Some(l) = &s.upper_eyelid {
            c.lid(l, x0, x1, [255, 230, 0]);
        }
        if let Some(l) = &s.lower_eyelid {
            c.lid(l, x0, x1, [0, 220, 255]);
        }
    }
    if let Some(p) = polar {
        let top = h + 4;
        for row in 0..p.rows {
            for col in 0..p.cols {
                let k = row * p.cols + col;
                let v = p.values[k].clamp(0.0, 255.0) as u8;
                let rgb = if p.valid[k] {
                    [v, v, v]
                } else {
                    [v / 2 + 100, v / 3, v / 3]
                };
                c.put(col as f32, (top + row) as f32, rgb);
            }
        }
    }
    c
}

/// Writes the overlay of one image into `dir`, named after its path and outcome; returns
/// the file written.
pub fn write_overlay(
    root: &Path,
    outcome: &ImageOutcome,
    encoder: &EyeEncoder,
    layout: IrisLayout,
    dir: &Path,
) -> anyhow::Result<PathBuf> {
    let bytes = std::fs::read(root.join(&outcome.entry.path))?;
    let img = image::decode(&bytes, None)?;
    let (seg, polar) = match encoder.normalise(&img, layout) {
        Ok((s, p)) => (Some(s), Some(p)),
        Err(_) => (outcome.segmentation.clone(), None),
    };
    let canvas = draw(
        img.pixels(),
        img.width() as usize,
        img.height() as usize,
        seg.as_ref(),
        polar.as_ref(),
    );
    let stem: String = outcome
        .entry
        .path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let tag = outcome.failure.as_deref().unwrap_or("enrolled");
    let path = dir.join(format!("{stem}__{tag}.png"));
    canvas.write_png(&path)?;
    Ok(path)
}

fn lid_fields(l: Option<&Eyelid>) -> String {
    l.map_or_else(
        || ",,".to_owned(),
        |l| format!("{:.1},{:.1},{:.5}", l.apex_x, l.apex_y, l.curvature),
    )
}

/// Writes one CSV line per image: outcome, circles, eyelids, contrasts and occlusion shares.
pub fn write_segmentation_csv(path: &Path, outcomes: &[ImageOutcome]) -> anyhow::Result<()> {
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| path.display().to_string())?,
    );
    writeln!(
        f,
        "path,failure,pupil_x,pupil_y,pupil_r,iris_x,iris_y,iris_r,\
         upper_apex_x,upper_apex_y,upper_curvature,lower_apex_x,lower_apex_y,lower_curvature,\
         pupil_contrast,iris_contrast,dilation,usable_share,eyelid_share,eyelash_share,\
         reflection_share,sharpness,quality,valid_bits,checks_failed"
    )?;
    for o in outcomes {
        write!(
            f,
            "{},{},",
            o.entry.path,
            o.failure.as_deref().unwrap_or("")
        )?;
        match &o.segmentation {
            Some(s) => write!(
                f,
                "{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{},{},{:.1},{:.1},{:.3},",
                s.pupil.x,
                s.pupil.y,
                s.pupil.r,
                s.iris.x,
                s.iris.y,
                s.iris.r,
                lid_fields(s.upper_eyelid.as_ref()),
                lid_fields(s.lower_eyelid.as_ref()),
                s.pupil_contrast,
                s.iris_contrast,
                s.dilation()
            )?,
            None => write!(f, ",,,,,,,,,,,,,,,")?,
        }
        match &o.quality {
            Some(q) => write!(
                f,
                "{:.3},{:.3},{:.3},{:.3},{:.3},{},",
                q.usable_share,
                q.eyelid_share,
                q.eyelash_share,
                q.reflection_share,
                q.sharpness,
                q.score
            )?,
            None => write!(f, ",,,,,,")?,
        }
        writeln!(
            f,
            "{},{}",
            o.valid_bits.map(|v| v.to_string()).unwrap_or_default(),
            o.checks_failed.join(" ")
        )?;
    }
    f.flush()?;
    Ok(())
}
