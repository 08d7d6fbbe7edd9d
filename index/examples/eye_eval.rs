//! Quick iris accuracy check of the eye encoder on a manifest (`path,person,eye,sample`):
//! failure to enrol, EER and FNMR at FMR 10⁻³ over all pairs, impostor mean and degrees of
//! freedom. `tunggal eval iris` is the full report; this runs without the service crate.
//!
//! `cargo run --release -p tunggal-index --example eye_eval -- DATA MANIFEST [name=value…]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rayon::prelude::*;
use tunggal_index::eval::{error_rates, operating_points};
use tunggal_index::eye::{EyeEncoder, EyeParams};
use tunggal_index::image::decode;
use tunggal_index::iris::{IrisComparison, IrisLayout, IrisMatcher};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (data, manifest) = (std::path::Path::new(&args[0]), &args[1]);
    let mut params = EyeParams::default();
    for a in &args[2..] {
        params.set(a).unwrap();
    }
    let enc = EyeEncoder::new(params).unwrap();
    let layout = IrisLayout::DAUGMAN_2048;
    let text = std::fs::read_to_string(manifest).unwrap();
    let entries: Vec<(String, String)> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_owned(), format!("{}|{}", f[1], f[2]))
        })
        .collect();
    let out: Vec<_> = entries
        .par_iter()
        .map(|(path, id)| {
            let img = decode(&std::fs::read(data.join(path)).unwrap(), None).unwrap();
            (id.clone(), path.clone(), enc.encode(&img, layout))
        })
        .collect();
    if let Ok(dump) = std::env::var("EYE_DUMP") {
        let mut csv = String::from("path,failure,px,py,pr,ix,iy,ir,ux,uy,uc,lx,ly,lc\n");
        for (_, path, r) in &out {
            let seg = match r {
                Ok(e) => Some(e.segmentation.clone()),
                Err(_) => {
                    let img = decode(&std::fs::read(data.join(path)).unwrap(), None).unwrap();
                    enc.segment(&img).ok()
                }
            };
            let fail = r.as_ref().err().map_or("", |e| e.reason());
            let lid = |l: Option<tunggal_index::eye::Eyelid>| {
                l.map_or(",,".to_owned(), |l| {
                    format!("{},{},{}", l.apex_x, l.apex_y, l.curvature)
                })
            };
            match seg {
                Some(s) => {
                    csv += &format!(
                        "{path},{fail},{},{},{},{},{},{},{},{}\n",
                        s.pupil.x,
                        s.pupil.y,
                        s.pupil.r,
                        s.iris.x,
                        s.iris.y,
                        s.iris.r,
                        lid(s.upper_eyelid),
                        lid(s.lower_eyelid)
                    )
                }
                None => csv += &format!("{path},{fail},,,,,,,,,,,,\n"),
            }
        }
        std::fs::write(dump, csv).unwrap();
    }
    let m = IrisMatcher::for_layout(layout);
    let mut fails = std::collections::BTreeMap::new();
    let ok: Vec<_> = out
        .iter()
        .filter_map(|(id, path, r)| match r {
            Ok(e) => Some((
                id.clone(),
                m.prepare(&e.template).ok()?,
                e.template.clone(),
                path.clone(),
            )),
            Err(e) => {
                *fails.entry(e.reason()).or_insert(0) += 1;
                None
            }
        })
        .collect();
    let pairs: Vec<(bool, f64, f64, usize, usize)> = (0..ok.len())
        .into_par_iter()
        .flat_map_iter(|x| {
            let ok = &ok;
            (x + 1..ok.len()).map(move |y| {
                let rec = tunggal_index::iris::record_of(&ok[y].2);
                let d = match m.compare(&ok[x].1, &rec) {
                    Ok(IrisComparison::Scored(s)) => s.hd_norm,
                    _ => 1.0,
                };
                (ok[x].0 == ok[y].0, d, unrotated(&ok[x].2, &ok[y].2), x, y)
            })
        })
        .collect();
    if let Some(n) = std::env::var("EYE_WORST")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut genuine: Vec<_> = pairs.iter().filter(|p| p.0).collect();
        genuine.sort_by(|a, b| b.1.total_cmp(&a.1));
        for p in genuine.iter().take(n) {
            println!("worst genuine {:.4} {} {}", p.1, ok[p.3].3, ok[p.4].3);
        }
    }
    let i0: Vec<f64> = pairs
        .iter()
        .filter(|p| !p.0 && p.2.is_finite())
        .map(|p| p.2)
        .collect();
    let mean0 = i0.iter().sum::<f64>() / i0.len().max(1) as f64;
    let var0 = i0.iter().map(|v| (v - mean0).powi(2)).sum::<f64>() / i0.len().max(1) as f64;
    println!(
        "impostor fractional HD without rotation: mean {mean0:.4} dof {:.0}",
        mean0 * (1.0 - mean0) / var0.max(1e-12)
    );
    let g: Vec<f64> = pairs.iter().filter(|p| p.0).map(|p| 1.0 - p.1).collect();
    let i: Vec<f64> = pairs.iter().filter(|p| !p.0).map(|p| 1.0 - p.1).collect();
    let eer = error_rates(&g, &i).map_or(f64::NAN, |r| r.eer);
    let fnmr3 = operating_points(&g, &i)
        .iter()
        .filter(|p| p.fmr <= 1e-3)
        .map(|p| p.fnmr)
        .fold(1.0, f64::min);
    let n = i.len().max(1) as f64;
    let mean = i.iter().map(|s| 1.0 - s).sum::<f64>() / n;
    let var = i.iter().map(|s| (1.0 - s - mean).powi(2)).sum::<f64>() / n;
    let gmean = g.iter().map(|s| 1.0 - s).sum::<f64>() / g.len().max(1) as f64;
    let fte = (out.len() - ok.len()) as f64 / out.len().max(1) as f64;
    println!(
        "EER {:.2}% FNMR@1e-3 {:.2}% FTE {:.1}% gen {gmean:.4} imp {mean:.4} dof {:.0} fails {fails:?} args {:?}",
        eer * 100.0,
        fnmr3 * 100.0,
        fte * 100.0,
        mean * (1.0 - mean) / var.max(1e-12),
        &args[2..]
    );
}

/// Fractional Hamming distance over the jointly valid bits at rotation 0 (NaN without any).
fn unrotated(a: &tunggal_index::iris::IrisTemplate, b: &tunggal_index::iris::IrisTemplate) -> f64 {
    let (differ, both) = a.unrotated_difference(b);
    if both == 0 {
        f64::NAN
    } else {
        differ as f64 / both as f64
    }
}
