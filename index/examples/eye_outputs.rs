//! One line per image of a manifest (`path,person,eye,sample`) with a CRC-32 of everything
//! the eye encoder returns for it: the `Debug` form of `encode` in each named layout (code,
//! mask, quality and segmentation, or the failure with its figures) and of `segment`. `Debug`
//! prints every `f32` in its shortest round-trip form, so equal lines mean bit-identical
//! outputs. With `--check FILE` the lines are compared with an earlier run's and every
//! difference is listed; the exit status is 1 when any differs.
//!
//! `cargo run --release -p tunggal-index --example eye_outputs -- DATA MANIFEST [--check FILE] [name=value…]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rayon::prelude::*;
use tunggal_index::eye::{EyeEncoder, EyeParams};
use tunggal_index::image::decode;
use tunggal_index::iris::IrisLayout;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (data, manifest) = (std::path::Path::new(&args[0]), &args[1]);
    let mut params = EyeParams::default();
    let mut check = None;
    let mut rest = args[2..].iter();
    while let Some(a) = rest.next() {
        if a == "--check" {
            check = Some(rest.next().expect("--check FILE").clone());
        } else {
            params.set(a).unwrap();
        }
    }
    let enc = EyeEncoder::new(params).unwrap();
    let text = std::fs::read_to_string(manifest).unwrap();
    let paths: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .filter(|p| !p.trim().is_empty())
        .collect();
    let lines: Vec<String> = paths
        .par_iter()
        .map(|path| {
            let img = decode(&std::fs::read(data.join(path)).unwrap(), None).unwrap();
            let mut line = (*path).to_owned();
            for (name, layout) in IrisLayout::NAMED {
                let r = enc.encode(&img, layout);
                let status = r.as_ref().map_or_else(|e| e.reason(), |_| "ok");
                let crc = crc32fast::hash(format!("{r:?}").as_bytes());
                line += &format!("\t{name}:{status}:{crc:08x}");
            }
            let seg = enc.segment(&img);
            line += &format!(
                "\tsegment:{:08x}",
                crc32fast::hash(format!("{seg:?}").as_bytes())
            );
            line
        })
        .collect();
    match check {
        None => {
            for l in &lines {
                println!("{l}");
            }
        }
        Some(file) => {
            let old = std::fs::read_to_string(file).unwrap();
            let old: Vec<&str> = old.lines().collect();
            let mut differ = 0usize;
            for (i, l) in lines.iter().enumerate() {
                if old.get(i) != Some(&l.as_str()) {
                    differ += 1;
                    println!("differs: {l}\n    was: {}", old.get(i).unwrap_or(&"(none)"));
                }
            }
            if old.len() != lines.len() {
                println!("{} lines before, {} now", old.len(), lines.len());
                differ += 1;
            }
            println!("{} images, {differ} differ", lines.len());
            if differ > 0 {
                std::process::exit(1);
            }
        }
    }
}
