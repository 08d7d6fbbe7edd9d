//! WSQ, JPEG and JPEG 2000 decoding against independent encoders, on synthetic fixtures
//! generated at test time (`tests/fixtures/images/make_fixtures.py`; skipped with a message
//! when python3, the NBIS `wsq` package or Pillow is absent).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod image_common;

use image_common::{fixtures, max_diff, psnr};
use tunggal_index::image::{decode, sniff, ImageFormat};

const CASES: [&str; 3] = ["ridges_256x320", "ridges_301x257", "ridges_97x131_hq"];

#[test]
fn wsq_fixtures_match_the_nbis_decoder_and_the_source() {
    let Some(fx) = fixtures() else { return };
    for name in CASES {
        let bytes = fx.read(&format!("{name}.wsq"));
        assert_eq!(sniff(&bytes), Some(ImageFormat::Wsq));
        let ours = decode(&bytes, None).unwrap();
        let source = fx.png(&format!("{name}.png"));
        let nbis = fx.png(&format!("{name}.nbis.png"));
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
    let Some(fx) = fixtures() else { return };
    for name in CASES {
        let bytes = fx.read(&format!("{name}.jp2"));
        assert_eq!(sniff(&bytes), Some(ImageFormat::Jpeg2000));
        let ours = decode(&bytes, None).unwrap();
        let source = fx.png(&format!("{name}.png"));
        assert_eq!(ours.pixels(), source.pixels(), "{name}");
    }
}

#[test]
fn jpeg_fixtures_decode_close_to_their_source() {
    let Some(fx) = fixtures() else { return };
    let source = fx.png("ridges_97x131_hq.png");
    for (name, min_psnr) in [
        ("ridges_97x131_hq.jpg", 30.0),
        ("ridges_97x131_hq.progressive.jpg", 25.0),
    ] {
        let bytes = fx.read(name);
        assert_eq!(sniff(&bytes), Some(ImageFormat::Jpeg), "{name}");
        let ours = decode(&bytes, None).unwrap();
        assert_eq!((ours.width(), ours.height()), (97, 131), "{name}");
        let psnr = psnr(&ours, &source);
        assert!(psnr > min_psnr, "{name}: PSNR {psnr:.2} dB");
        // Cut short: a typed error, never a panic.
        let err = decode(&bytes[..bytes.len() / 2], Some(ImageFormat::Jpeg));
        if let Err(e) = err {
            assert!(!e.reason().is_empty());
        }
        let err = decode(&bytes[..20], Some(ImageFormat::Jpeg)).unwrap_err();
        assert!(
            matches!(err.reason(), "image_truncated" | "image_corrupt"),
            "{name}: {err}"
        );
    }
}
