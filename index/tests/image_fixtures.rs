//! WSQ and JPEG 2000 decoding against independent encoders, on committed synthetic fixtures
//! (see `tests/fixtures/images/make_fixtures.py`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod image_common;

use image_common::{fixture, fixture_png, max_diff, psnr};
use tunggal_index::image::{decode, sniff, ImageFormat};

const CASES: [&str; 3] = ["ridges_256x320", "ridges_301x257", "ridges_97x131_hq"];

#[test]
fn wsq_fixtures_match_the_nbis_decoder_and_the_source() {
    for name in CASES {
        let bytes = fixture(&format!("{name}.wsq"));
        assert_eq!(sniff(&bytes), Some(ImageFormat::Wsq));
        let ours = decode(&bytes, None).unwrap();
        let source = fixture_png(&format!("{name}.png"));
        let nbis = fixture_png(&format!("{name}.nbis.png"));
        assert_eq!(
            (ours.width(), ours.height()),
            (source.width(), source.height())
        );
        assert_eq!(
            ours.ppi(),
            Some(500.0),
            "{name}: PPI from the NIST_COM comment"
        );
        let vs_nbis = max_diff(&ours, &nbis);
        let differing = ours
            .pixels()
            .iter()
            .zip(nbis.pixels())
            .filter(|(a, b)| a != b)
            .count();
        let ours_psnr = psnr(&ours, &source);
        let nbis_psnr = psnr(&nbis, &source);
        println!(
            "{name}: PSNR vs source {ours_psnr:.2} dB (NBIS decoder {nbis_psnr:.2} dB); \
             vs NBIS output max diff {vs_nbis}, {differing} pixels differ"
        );
        // The same coefficients through the same filters: at most rounding differences.
        assert!(vs_nbis <= 1, "{name}: max difference {vs_nbis} from NBIS");
        assert!(
            differing * 100 <= ours.pixels().len(),
            "{name}: {differing} pixels differ from NBIS"
        );
        assert!((ours_psnr - nbis_psnr).abs() < 0.05, "{name}");
        assert!(ours_psnr > 25.0, "{name}: PSNR {ours_psnr:.2} dB");
    }
}

#[test]
fn jpeg2000_fixtures_decode_losslessly() {
    for name in CASES {
        let bytes = fixture(&format!("{name}.jp2"));
        assert_eq!(sniff(&bytes), Some(ImageFormat::Jpeg2000));
        let ours = decode(&bytes, None).unwrap();
        let source = fixture_png(&format!("{name}.png"));
        assert_eq!(ours.pixels(), source.pixels(), "{name}");
    }
}
