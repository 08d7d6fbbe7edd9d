//! PNG, TIFF and ISO/IEC 19794-4 decoding on synthetic images written by independent
//! encoders (the `png` and `tiff` crates), and refusals of bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod image_common;

use std::io::Cursor;
use std::time::{Duration, Instant};

use image_common::fixtures;
use tunggal_index::image::{
    decode, decode_iso_record, sniff, FingerImage, ImageError, ImageFormat, MAX_SIDE,
};

fn pattern(w: u32, h: u32) -> Vec<u8> {
    (0..w * h)
        .map(|i| ((i % w) * 7 + (i / w) * 3) as u8)
        .collect()
}

fn write_png(w: u32, h: u32, colour: png::ColorType, depth: png::BitDepth, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(colour);
        enc.set_depth(depth);
        enc.set_pixel_dims(Some(png::PixelDimensions {
            xppu: 19_685, // 500 ppi in pixels per metre
            yppu: 19_685,
            unit: png::Unit::Meter,
        }));
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(data).unwrap();
    }
    out
}

#[test]
fn png_grey_round_trip_keeps_pixels_and_resolution() {
    let (w, h) = (123, 77);
    let px = pattern(w, h);
    let bytes = write_png(w, h, png::ColorType::Grayscale, png::BitDepth::Eight, &px);
    assert_eq!(sniff(&bytes), Some(ImageFormat::Png));
    let img = decode(&bytes, None).unwrap();
    assert_eq!((img.width(), img.height()), (w, h));
    assert_eq!(img.pixels(), &px[..]);
    let ppi = img.ppi().unwrap();
    assert!((ppi - 500.0).abs() < 0.1, "{ppi}");
}

#[test]
fn png_16_bit_and_rgb_become_8_bit_grey() {
    let (w, h) = (40, 30);
    let px = pattern(w, h);
    let wide: Vec<u8> = px.iter().flat_map(|&v| [v, 0x5a]).collect();
    let img = decode(
        &write_png(
            w,
            h,
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            &wide,
        ),
        None,
    )
    .unwrap();
    assert_eq!(img.pixels(), &px[..], "16-bit keeps the high byte");

    let rgb: Vec<u8> = px.iter().flat_map(|&v| [v, v, v]).collect();
    let img = decode(
        &write_png(w, h, png::ColorType::Rgb, png::BitDepth::Eight, &rgb),
        None,
    )
    .unwrap();
    assert_eq!(img.pixels(), &px[..], "grey RGB stays the same grey");
    let red: Vec<u8> = px.iter().flat_map(|_| [255, 0, 0]).collect();
    let img = decode(
        &write_png(w, h, png::ColorType::Rgb, png::BitDepth::Eight, &red),
        None,
    )
    .unwrap();
    assert!(img.pixels().iter().all(|&v| v == 76), "BT.601 luma of red");
}

fn write_tiff_grey8(w: u32, h: u32, data: &[u8], dpi: Option<u32>) -> Vec<u8> {
    use tiff::encoder::{colortype, Rational, TiffEncoder};
    let mut out = Cursor::new(Vec::new());
    {
        let mut enc = TiffEncoder::new(&mut out).unwrap();
        let mut image = enc.new_image::<colortype::Gray8>(w, h).unwrap();
        if let Some(dpi) = dpi {
            image.resolution(tiff::tags::ResolutionUnit::Inch, Rational { n: dpi, d: 1 });
        }
        image.write_data(data).unwrap();
    }
    out.into_inner()
}

#[test]
fn tiff_round_trips_grey8_grey16_and_rgb() {
    use tiff::encoder::{colortype, TiffEncoder};
    let (w, h) = (61, 45);
    let px = pattern(w, h);
    let bytes = write_tiff_grey8(w, h, &px, Some(569));
    assert_eq!(sniff(&bytes), Some(ImageFormat::Tiff));
    let img = decode(&bytes, None).unwrap();
    assert_eq!(img.pixels(), &px[..]);
    assert_eq!(img.ppi(), Some(569.0));
    // A placeholder resolution such as 1 dpi (as in the FVC files) is not taken.
    assert_eq!(
        decode(&write_tiff_grey8(w, h, &px, Some(1)), None)
            .unwrap()
            .ppi(),
        None
    );

    let wide: Vec<u16> = px.iter().map(|&v| u16::from(v) << 8 | 0x33).collect();
    let mut out = Cursor::new(Vec::new());
    TiffEncoder::new(&mut out)
        .unwrap()
        .write_image::<colortype::Gray16>(w, h, &wide)
        .unwrap();
    assert_eq!(decode(&out.into_inner(), None).unwrap().pixels(), &px[..]);

    let rgb: Vec<u8> = px.iter().flat_map(|&v| [v, v, v]).collect();
    let mut out = Cursor::new(Vec::new());
    TiffEncoder::new(&mut out)
        .unwrap()
        .write_image::<colortype::RGB8>(w, h, &rgb)
        .unwrap();
    assert_eq!(decode(&out.into_inner(), None).unwrap().pixels(), &px[..]);

    let cmyk: Vec<u8> = px.iter().flat_map(|&v| [v, v, v, v]).collect();
    let mut out = Cursor::new(Vec::new());
    TiffEncoder::new(&mut out)
        .unwrap()
        .write_image::<colortype::CMYK8>(w, h, &cmyk)
        .unwrap();
    let err = decode(&out.into_inner(), None).unwrap_err();
    assert_eq!(err.reason(), "image_unsupported_pixels", "{err}");
}

/// An ISO/IEC 19794-4:2005 record with one view per payload.
fn iso_2005(views: &[(&[u8], u16, u16)], compression: u8, ppi: u16) -> Vec<u8> {
    let body: usize = views.iter().map(|(d, _, _)| 14 + d.len()).sum();
    let total = 36 + body;
    let mut r = Vec::new();
    r.extend_from_slice(b"FIR\0");
    r.extend_from_slice(b"010\0");
    r.extend_from_slice(&(total as u64).to_be_bytes()[2..]);
    r.extend_from_slice(&[0; 4]); // CBEFF product
    r.extend_from_slice(&[0; 2]); // device
    r.extend_from_slice(&31u16.to_be_bytes()); // acquisition level
    r.push(views.len() as u8);
    r.push(1); // ppi
    r.extend_from_slice(&ppi.to_be_bytes());
    r.extend_from_slice(&ppi.to_be_bytes());
    r.extend_from_slice(&ppi.to_be_bytes());
    r.extend_from_slice(&ppi.to_be_bytes());
    r.push(8);
    r.push(compression);
    r.extend_from_slice(&[0; 2]);
    for (i, (data, w, h)) in views.iter().enumerate() {
        r.extend_from_slice(&((14 + data.len()) as u32).to_be_bytes());
        r.push(i as u8 + 1); // position
        r.push(1);
        r.push(1);
        r.push(80); // quality
        r.push(0); // live-scan plain
        r.extend_from_slice(&w.to_be_bytes());
        r.extend_from_slice(&h.to_be_bytes());
        r.push(0);
        r.extend_from_slice(data);
    }
    r
}

/// An ISO/IEC 19794-4:2011 record with one representation (resolution in px/cm).
fn iso_2011(data: &[u8], w: u16, h: u16, compression: u8, ppcm: u16) -> Vec<u8> {
    let mut rep = Vec::new();
    rep.extend_from_slice(&[0; 9]); // capture date
    rep.push(0); // technology
    rep.extend_from_slice(&[0; 4]); // vendor, type
    rep.push(1); // one quality block
    rep.extend_from_slice(&[66, 0, 0, 0, 0]);
    rep.push(7); // position
    rep.push(1); // representation number
    rep.push(2); // px/cm
    for _ in 0..4 {
        rep.extend_from_slice(&ppcm.to_be_bytes());
    }
    rep.push(8);
    rep.push(compression);
    rep.push(0);
    rep.extend_from_slice(&w.to_be_bytes());
    rep.extend_from_slice(&h.to_be_bytes());
    rep.extend_from_slice(data);
    let rep_len = 4 + rep.len();
    let total = 16 + rep_len;
    let mut r = Vec::new();
    r.extend_from_slice(b"FIR\0");
    r.extend_from_slice(b"020\0");
    r.extend_from_slice(&(total as u32).to_be_bytes());
    r.extend_from_slice(&1u16.to_be_bytes());
    r.push(0);
    r.push(1);
    r.extend_from_slice(&(rep_len as u32).to_be_bytes());
    r.extend_from_slice(&rep);
    r
}

#[test]
fn iso_2005_records_with_raw_wsq_jp2_and_png_payloads() {
    let Some(fx) = fixtures() else { return };
    let source = fx.png("ridges_256x320.png");
    let raw = source.pixels().to_vec();
    let record = iso_2005(&[(&raw, 256, 320), (&raw, 256, 320)], 0, 569);
    assert_eq!(sniff(&record), Some(ImageFormat::Iso19794_4));
    let views = decode_iso_record(&record).unwrap();
    assert_eq!(views.len(), 2);
    assert_eq!(views[1].position, 2);
    assert_eq!(views[0].quality, Some(80));
    assert_eq!(views[0].image.pixels(), source.pixels());
    assert_eq!(views[0].image.ppi(), Some(569.0));
    assert_eq!(decode(&record, None).unwrap(), views[0].image);

    for (file, code) in [
        ("ridges_256x320.wsq", 2),
        ("ridges_256x320.jp2", 4),
        ("ridges_256x320.png", 5),
    ] {
        let payload = fx.read(file);
        let record = iso_2005(&[(&payload, 256, 320)], code, 500);
        let views = decode_iso_record(&record).unwrap();
        let alone = decode(&payload, None).unwrap();
        assert_eq!(views[0].image.pixels(), alone.pixels(), "{file}");
        assert_eq!(views[0].image.ppi(), Some(500.0), "{file}");
    }

    // The header's size must match the payload's.
    let payload = fx.read("ridges_256x320.png");
    let err = decode_iso_record(&iso_2005(&[(&payload, 256, 300)], 5, 500)).unwrap_err();
    assert_eq!(err.reason(), "image_corrupt", "{err}");
}

#[test]
fn iso_2011_records_with_lossless_jp2_and_wsq() {
    let Some(fx) = fixtures() else { return };
    let source = fx.png("ridges_301x257.png");
    for (file, code) in [("ridges_301x257.jp2", 5), ("ridges_301x257.wsq", 2)] {
        let payload = fx.read(file);
        let record = iso_2011(&payload, 301, 257, code, 197);
        let views = decode_iso_record(&record).unwrap();
        assert_eq!(views.len(), 1);
        assert_eq!(views[0].position, 7);
        assert_eq!(views[0].quality, Some(66));
        let ppi = views[0].image.ppi().unwrap();
        assert!((ppi - 500.38).abs() < 0.01, "{ppi}");
        if code == 5 {
            assert_eq!(views[0].image.pixels(), source.pixels());
        }
    }
    let raw = source.pixels().to_vec();
    let views = decode_iso_record(&iso_2011(&raw, 301, 257, 0, 197)).unwrap();
    assert_eq!(views[0].image.pixels(), source.pixels());
}

#[test]
fn truncated_records_and_files_are_refused_not_panicking() {
    let Some(fx) = fixtures() else { return };
    let raw = fx.png("ridges_97x131_hq.png").pixels().to_vec();
    let inputs = [
        fx.read("ridges_97x131_hq.wsq"),
        fx.read("ridges_97x131_hq.jp2"),
        fx.read("ridges_97x131_hq.png"),
        write_tiff_grey8(97, 131, &raw, None),
        iso_2005(&[(&raw, 97, 131)], 0, 500),
        iso_2011(&fx.read("ridges_97x131_hq.wsq"), 97, 131, 2, 197),
    ];
    for bytes in &inputs {
        let format = sniff(bytes).unwrap();
        assert!(decode(bytes, None).is_ok(), "{format:?} intact");
        let step = (bytes.len() / 97).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            let started = Instant::now();
            let result = decode(&bytes[..cut], Some(format));
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{format:?} cut {cut}"
            );
            if let Err(e) = result {
                assert!(!e.reason().is_empty());
            }
        }
    }
    // WSQ and ISO refuse every cut short of the data they need.
    let wsq = &inputs[0];
    for cut in 0..wsq.len() - 2 {
        assert!(
            decode(&wsq[..cut], Some(ImageFormat::Wsq)).is_err(),
            "cut {cut}"
        );
    }
    let err = decode(&inputs[4][..inputs[4].len() - 1], None).unwrap_err();
    assert_eq!(err.reason(), "image_truncated", "{err}");
}

#[test]
fn headers_claiming_huge_images_are_refused_before_allocating() {
    let started = Instant::now();
    // PNG: IHDR of 60,000 × 60,000.
    let mut png_bytes = write_png(
        4,
        4,
        png::ColorType::Grayscale,
        png::BitDepth::Eight,
        &[0; 16],
    );
    png_bytes[16..20].copy_from_slice(&60_000u32.to_be_bytes());
    png_bytes[20..24].copy_from_slice(&60_000u32.to_be_bytes());
    let crc = crc32(&png_bytes[12..29]);
    png_bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    let err = decode(&png_bytes, None).unwrap_err();
    assert_eq!(err.reason(), "image_too_large", "{err}");

    // WSQ: frame header of 60,000 × 60,000 (height then width at offsets 4–7 of the SOF body).
    if let Some(fx) = fixtures() {
        let mut wsq = fx.read("ridges_97x131_hq.wsq");
        let sof = wsq.windows(2).position(|w| w == [0xff, 0xa2]).unwrap();
        wsq[sof + 6..sof + 8].copy_from_slice(&60_000u16.to_be_bytes());
        wsq[sof + 8..sof + 10].copy_from_slice(&60_000u16.to_be_bytes());
        let err = decode(&wsq, None).unwrap_err();
        assert_eq!(err, too_large(60_000, 60_000));
        // A frame within the limits but larger than the coded data fills: refused as corrupt
        // (before the pixel plane and the inverse transform), never decoded with zeros.
        for (h, w) in [(2_000u16, 2_000u16), (131, 98), (132, 97)] {
            let mut wsq = fx.read("ridges_97x131_hq.wsq");
            wsq[sof + 6..sof + 8].copy_from_slice(&h.to_be_bytes());
            wsq[sof + 8..sof + 10].copy_from_slice(&w.to_be_bytes());
            let err = decode(&wsq, None).unwrap_err();
            assert_eq!(err.reason(), "image_corrupt", "{w}x{h}: {err}");
        }
    }

    // ISO 19794-4: an uncompressed view claiming 60,000 × 60,000.
    let record = iso_2005(&[(&[0u8; 64], 60_000, 60_000)], 0, 500);
    assert_eq!(
        decode(&record, None).unwrap_err(),
        too_large(60_000, 60_000)
    );

    // TIFF: width and height tags of 60,000.
    let mut tiff_bytes = write_tiff_grey8(8, 8, &[0; 64], None);
    patch_tiff_dimension(&mut tiff_bytes, 256, 60_000);
    patch_tiff_dimension(&mut tiff_bytes, 257, 60_000);
    let err = decode(&tiff_bytes, None).unwrap_err();
    assert_eq!(err, too_large(60_000, 60_000));

    // More than 2,000 a side but a modest pixel count is refused too.
    let record = iso_2005(&[(&[0u8; 64], MAX_SIDE as u16 + 1, 2)], 0, 500);
    assert_eq!(
        decode(&record, None).unwrap_err().reason(),
        "image_too_large"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

fn too_large(width: u64, height: u64) -> ImageError {
    ImageError::TooLarge {
        width,
        height,
        max_side: MAX_SIDE,
        max_pixels: u64::from(MAX_SIDE) * u64::from(MAX_SIDE),
    }
}

/// Rewrites a SHORT or LONG tag's value in a little-endian TIFF's first IFD.
fn patch_tiff_dimension(bytes: &mut [u8], tag: u16, value: u32) {
    assert_eq!(&bytes[..2], b"II");
    let ifd = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    let count = u16::from_le_bytes([bytes[ifd], bytes[ifd + 1]]) as usize;
    for i in 0..count {
        let e = ifd + 2 + 12 * i;
        if u16::from_le_bytes([bytes[e], bytes[e + 1]]) == tag {
            bytes[e + 2..e + 4].copy_from_slice(&4u16.to_le_bytes()); // LONG
            bytes[e + 4..e + 8].copy_from_slice(&1u32.to_le_bytes());
            bytes[e + 8..e + 12].copy_from_slice(&value.to_le_bytes());
            return;
        }
    }
    unreachable!("tag {tag} not found");
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn unknown_and_empty_inputs_get_reasons() {
    assert_eq!(decode(&[], None).unwrap_err().reason(), "image_truncated");
    assert_eq!(
        decode(b"GIF89a....", None).unwrap_err().reason(),
        "image_unsupported_format"
    );
    assert_eq!(
        decode(b"GIF89a....", Some(ImageFormat::Wsq))
            .unwrap_err()
            .reason(),
        "image_unsupported_format"
    );
    let err = FingerImage::new(0, 10, None, vec![]).unwrap_err();
    assert_eq!(err.reason(), "image_empty");
    for name in ["png", "tif", "jp2", "wsq", "iso19794-4"] {
        let format = ImageFormat::from_name(name).unwrap();
        assert_eq!(ImageFormat::from_name(format.name()), Some(format));
    }
}

/// `bytes` (a PNG file) with the data of its first `kind` chunk replaced and the CRC redone.
fn replace_png_chunk(bytes: &[u8], kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut at = 8;
    while at + 12 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if &bytes[at + 4..at + 8] == kind {
            let mut out = bytes[..at].to_vec();
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut body = kind.to_vec();
            body.extend_from_slice(data);
            out.extend_from_slice(&body);
            out.extend_from_slice(&crc32(&body).to_be_bytes());
            out.extend_from_slice(&bytes[at + 12 + len..]);
            return out;
        }
        at += 12 + len;
    }
    unreachable!("no {kind:?} chunk");
}

#[test]
fn indexed_png_with_an_oversized_or_empty_palette_is_refused_not_panicking() {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 4, 3);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(vec![0u8, 0, 0, 255, 255, 255]);
        let mut writer = enc.write_header().unwrap();
        writer
            .write_image_data(&[0, 1, 0, 1, 1, 0, 1, 0, 0, 0, 1, 1])
            .unwrap();
    }
    // The file as written decodes: palette entry 1 is white.
    let image = decode(&out, Some(ImageFormat::Png)).unwrap();
    assert_eq!(&image.pixels()[..4], &[0, 255, 0, 255]);
    // 257 entries (the fuzzer's finding: the `png` crate indexed past its 256-entry table),
    // none, and a length that is not a whole number of entries.
    let long: Vec<u8> = (0..257 * 3).map(|i| (i % 256) as u8).collect();
    for palette in [long, Vec::new(), vec![1, 2, 3, 4]] {
        let hostile = replace_png_chunk(&out, b"PLTE", &palette);
        let err = decode(&hostile, Some(ImageFormat::Png)).unwrap_err();
        assert_eq!(err.reason(), "image_corrupt", "{err}");
    }
    let hostile = replace_png_chunk(
        &out,
        b"PLTE",
        &(0..257 * 3).map(|i| i as u8).collect::<Vec<_>>(),
    );
    let err = decode(&hostile, Some(ImageFormat::Png)).unwrap_err();
    assert!(err.to_string().contains("palette of 771 bytes"), "{err}");
}
