//! JPEG 2000 work caps: a generated lossless fixture (`image_common`, skipped with a message
//! when it cannot be generated) with its headers edited to claim many
//! tiles, levels or layers is refused before decoding, as a JP2 file and as a raw codestream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod image_common;

use std::time::{Duration, Instant};

use image_common::fixtures;
use tunggal_index::image::{decode, ImageFormat};

/// An edit applied to the fixture's codestream.
type Edit = Box<dyn Fn(&mut [u8])>;

/// Offsets inside the fixture's codestream (SOC, a 41-byte SIZ for one component, COD).
const XTSIZ: usize = 24;
const YTSIZ: usize = 28;
const COD_LAYERS: usize = 51;
const COD_LEVELS: usize = 54;
const COD_XCB: usize = 55;
const COD_YCB: usize = 56;

/// The fixture as a JP2 file and the offset of its codestream.
fn fixture_jp2() -> Option<(Vec<u8>, usize)> {
    let bytes = fixtures()?.read("ridges_97x131_hq.jp2");
    let at = bytes.windows(4).position(|w| w == b"jp2c").unwrap() + 4;
    assert_eq!(&bytes[at..at + 4], &[0xff, 0x4f, 0xff, 0x51]);
    assert_eq!(&bytes[at + 45..at + 47], &[0xff, 0x52], "COD follows SIZ");
    Some((bytes, at))
}

/// The fixture edited, as a JP2 file and as a raw codestream (`None`: no fixtures).
fn edited(edit: &dyn Fn(&mut [u8])) -> Option<[Vec<u8>; 2]> {
    let (mut jp2, at) = fixture_jp2()?;
    edit(&mut jp2[at..]);
    let raw = jp2[at..].to_vec();
    Some([jp2, raw])
}

fn set_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[test]
fn the_unedited_fixture_passes_the_caps_in_both_forms() {
    let Some(forms) = edited(&|_: &mut [u8]| {}) else {
        return;
    };
    for bytes in forms {
        let img = decode(&bytes, Some(ImageFormat::Jpeg2000)).unwrap();
        assert_eq!((img.width(), img.height()), (97, 131));
    }
}

#[test]
fn hostile_structure_is_refused_before_decoding() {
    if fixture_jp2().is_none() {
        return;
    }
    let start = Instant::now();
    let cases: [(&str, Edit, &str); 5] = [
        (
            "1x1 tiles (12,707 of them)",
            Box::new(|b: &mut [u8]| {
                set_u32(b, XTSIZ, 1);
                set_u32(b, YTSIZ, 1);
            }),
            "image_too_large",
        ),
        (
            "20 decomposition levels",
            Box::new(|b: &mut [u8]| b[COD_LEVELS] = 20),
            "image_too_large",
        ),
        (
            "65,535 layers in 63 tiles",
            Box::new(|b: &mut [u8]| {
                set_u32(b, XTSIZ, 16);
                set_u32(b, YTSIZ, 16);
                b[COD_LAYERS..COD_LAYERS + 2].copy_from_slice(&[0xff, 0xff]);
            }),
            "image_too_large",
        ),
        (
            "2^11 x 2^11 code-blocks",
            Box::new(|b: &mut [u8]| {
                b[COD_XCB] = 9;
                b[COD_YCB] = 9;
            }),
            "image_corrupt",
        ),
        (
            "zero tile width",
            Box::new(|b: &mut [u8]| set_u32(b, XTSIZ, 0)),
            "image_corrupt",
        ),
    ];
    for (name, edit, reason) in cases {
        for bytes in edited(&*edit).unwrap() {
            let err = decode(&bytes, Some(ImageFormat::Jpeg2000)).unwrap_err();
            assert_eq!(err.reason(), reason, "{name}: {err}");
        }
    }
    assert!(start.elapsed() < Duration::from_secs(5));
}
