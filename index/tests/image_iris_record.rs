//! ISO/IEC 19794-6 iris image records: 2011 round trips (K2, K3, K7 and polar) from synthetic
//! rasters, a hand-built 2005 record, byte layout against a hand-written 2011 record, refusals
//! of truncated, corrupt and oversized records, and real MMU2 eye images wrapped in records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod image_common;

use std::time::{Duration, Instant};

use image_common::{datasets, fixtures};
use tunggal_index::image::iris_record::{
    CompressionHistory, EyeLabel, IrisImageKind, IrisPayloadFormat, IrisRecordVersion,
    IrisRepresentationHeader, Orientation, MAX_REPRESENTATIONS,
};
use tunggal_index::image::{
    decode, decode_iris_record, encode_iris_record_2011, sniff, ImageError, ImageFormat,
};

/// An edit applied to a valid record.
type Edit = Box<dyn Fn(&mut Vec<u8>)>;

/// One eye of a 2005 record: its position and its images (number, quality, rotation, data).
type Eye2005 = (u8, Vec<(u16, u8, u16, Vec<u8>)>);

/// A synthetic eye-like raster: dark pupil disc, textured iris annulus, bright sclera.
fn eye_raster(w: u16, h: u16) -> Vec<u8> {
    let (cx, cy) = (f32::from(w) / 2.0, f32::from(h) / 2.0);
    let iris = f32::from(w.min(h)) * 0.4;
    (0..u32::from(h))
        .flat_map(|y| (0..u32::from(w)).map(move |x| (x, y)))
        .map(|(x, y)| {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            let r = (dx * dx + dy * dy).sqrt();
            if r < iris * 0.35 {
                20
            } else if r < iris {
                (90.0 + 40.0 * (dy.atan2(dx) * 12.0).sin() + (r % 7.0) * 3.0) as u8
            } else {
                200
            }
        })
        .collect()
}

fn write_png(w: u16, h: u16, grey: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, u32::from(w), u32::from(h));
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(grey).unwrap();
    }
    out
}

fn header(
    eye: EyeLabel,
    kind: IrisImageKind,
    format: IrisPayloadFormat,
    w: u16,
    h: u16,
) -> IrisRepresentationHeader {
    IrisRepresentationHeader {
        width: w,
        height: h,
        ..IrisRepresentationHeader::new(eye, kind, format)
    }
}

#[test]
fn records_2011_round_trip_every_kind_and_payload() {
    let (w, h) = (160u16, 120u16);
    let grey = eye_raster(w, h);
    let png = write_png(w, h, &grey);
    let mut right = header(
        EyeLabel::Right,
        IrisImageKind::Vga,
        IrisPayloadFormat::MonoRaw,
        w,
        h,
    );
    right.number = 1;
    right.horizontal = Orientation::Base;
    right.vertical = Orientation::Flipped;
    right.compression = CompressionHistory::Lossless;
    right.roll_angle = Some(16_384); // 90 degrees
    right.roll_uncertainty = Some(3_641); // about 10 degrees
    right.quality = Some(87);
    right.range = 30;
    right.iris_centre_x = Some((78, 82));
    right.iris_centre_y = Some((58, 61));
    right.iris_diameter = Some((90, 98));
    let mut left = header(
        EyeLabel::Left,
        IrisImageKind::Cropped,
        IrisPayloadFormat::MonoPng,
        w,
        h,
    );
    left.number = 2;
    let mut masked = header(
        EyeLabel::Left,
        IrisImageKind::CroppedMasked,
        IrisPayloadFormat::MonoRaw,
        w,
        h,
    );
    masked.number = 3;
    masked.compression = CompressionHistory::Lossy;
    let polar_grey = eye_raster(256, 32);
    let polar = header(
        EyeLabel::Unknown,
        IrisImageKind::Polar,
        IrisPayloadFormat::MonoRaw,
        256,
        32,
    );
    // The JPEG 2000 payload needs the generated fixtures (skipped with a message without).
    let fx = fixtures();
    let jp2 = fx.as_ref().map(|f| f.read("ridges_97x131_hq.jp2"));
    let jp2_source = fx.as_ref().map(|f| f.png("ridges_97x131_hq.png"));
    let mut lossless = header(
        EyeLabel::Right,
        IrisImageKind::Uncropped,
        IrisPayloadFormat::MonoJpeg2000,
        97,
        131,
    );
    lossless.number = 5;
    let mut images: Vec<(IrisRepresentationHeader, &[u8])> = vec![
        (right, &grey[..]),
        (left, &png[..]),
        (masked, &grey[..]),
        (polar, &polar_grey[..]),
    ];
    if let Some(jp2) = &jp2 {
        images.push((lossless, &jp2[..]));
    }
    let bytes = encode_iris_record_2011(2, &images).unwrap();
    assert_eq!(sniff(&bytes), Some(ImageFormat::Iso19794_6));

    let record = decode_iris_record(&bytes).unwrap();
    assert_eq!(record.version, IrisRecordVersion::V2011);
    assert_eq!(record.eyes, 2);
    assert_eq!(record.representations.len(), images.len());
    for (rep, (want, _)) in record.representations.iter().zip(&images) {
        assert_eq!(&rep.header, want);
        assert_eq!(
            (rep.image.width(), rep.image.height()),
            (u32::from(want.width), u32::from(want.height))
        );
    }
    let reps = &record.representations;
    assert_eq!(reps[0].image.pixels(), &grey[..]);
    assert_eq!(reps[1].image.pixels(), &grey[..], "PNG payload");
    assert_eq!(reps[2].image.pixels(), &grey[..]);
    assert_eq!(reps[3].image.pixels(), &polar_grey[..]);
    if let Some(source) = &jp2_source {
        assert_eq!(reps[4].image.pixels(), source.pixels(), "JPEG 2000");
    }
    let angle = reps[0].header.roll_angle_degrees().unwrap();
    assert!((angle - 90.0).abs() < 1e-3, "{angle}");
    let uncertainty = reps[0].header.roll_uncertainty_degrees().unwrap();
    assert!((uncertainty - 10.0).abs() < 0.01, "{uncertainty}");
    assert_eq!(reps[1].header.quality, None);
    assert_eq!(reps[1].header.roll_angle, None);

    // `decode` gives the first image.
    assert_eq!(decode(&bytes, None).unwrap().pixels(), &grey[..]);
}

/// A 2011 record with one raw 4×2 image, written field by field from the standard's table.
#[test]
fn writer_matches_the_2011_layout_byte_for_byte() {
    let pixels = [1u8, 2, 3, 4, 5, 6, 7, 8];
    let mut h = header(
        EyeLabel::Left,
        IrisImageKind::CroppedMasked,
        IrisPayloadFormat::MonoRaw,
        4,
        2,
    );
    h.number = 1;
    h.horizontal = Orientation::Base;
    h.vertical = Orientation::Base;
    h.compression = CompressionHistory::Lossless;
    h.quality = Some(70);
    let ours = encode_iris_record_2011(1, &[(h, &pixels[..])]).unwrap();

    let mut rep = Vec::new();
    rep.extend_from_slice(&[0; 9]); // capture date and time
    rep.push(0); // capture device technology
    rep.extend_from_slice(&[0, 0, 0, 0]); // vendor, type
    rep.extend_from_slice(&[1, 70, 0, 0, 0, 0]); // one quality block
    rep.extend_from_slice(&[0, 1]); // representation number
    rep.extend_from_slice(&[2, 7, 2]); // left eye, cropped and masked, mono raw
    rep.push(0b01_00_01_01); // lossless, vertical base, horizontal base
    rep.extend_from_slice(&[0, 4, 0, 2, 8]); // width, height, bit depth
    rep.extend_from_slice(&[0, 0, 0xff, 0xff, 0xff, 0xff]); // range, roll angle, uncertainty
    rep.extend_from_slice(&[0; 12]); // iris centre and diameter bounds
    rep.extend_from_slice(&8u32.to_be_bytes());
    rep.extend_from_slice(&pixels);
    let rep_len = (rep.len() + 4) as u32;
    let mut want = [&b"IIR\0"[..], b"020\0"].concat();
    want.extend_from_slice(&(16 + rep_len).to_be_bytes());
    want.extend_from_slice(&[0, 1, 0, 1]); // one representation, no certification, one eye
    want.extend_from_slice(&rep_len.to_be_bytes());
    want.extend_from_slice(&rep);
    assert_eq!(ours, want);
}

/// A 2005 record: the 45-byte record header, an eye subtype header and an image header per
/// image (independent of the crate's writer, which writes 2011 only).
fn record_2005(format: u16, depth: u8, (w, h): (u16, u16), eyes: &[Eye2005]) -> Vec<u8> {
    let mut body = Vec::new();
    for (position, images) in eyes {
        body.push(*position);
        body.extend_from_slice(&(images.len() as u16).to_be_bytes());
        for (number, quality, angle, data) in images {
            body.extend_from_slice(&number.to_be_bytes());
            body.push(*quality);
            body.extend_from_slice(&angle.to_be_bytes());
            body.extend_from_slice(&0xffffu16.to_be_bytes());
            body.extend_from_slice(&(data.len() as u32).to_be_bytes());
            body.extend_from_slice(data);
        }
    }
    let mut out = [&b"IIR\0"[..], b"010\0"].concat();
    out.extend_from_slice(&(45 + body.len() as u32).to_be_bytes());
    out.extend_from_slice(&[0, 0]); // capture device
    out.push(eyes.len() as u8);
    out.extend_from_slice(&45u16.to_be_bytes());
    out.extend_from_slice(&(1u16 | (2 << 2)).to_be_bytes()); // horizontal base, vertical flipped
    out.extend_from_slice(&200u16.to_be_bytes()); // iris diameter
    out.extend_from_slice(&format.to_be_bytes());
    out.extend_from_slice(&w.to_be_bytes());
    out.extend_from_slice(&h.to_be_bytes());
    out.push(depth);
    out.push(1); // standard transformation
    out.extend_from_slice(&[b'0'; 16]);
    out.extend_from_slice(&body);
    out
}

#[test]
fn records_2005_parse_every_eye_and_image() {
    let (w, h) = (64u16, 48u16);
    let a = eye_raster(w, h);
    let b: Vec<u8> = a.iter().map(|v| 255 - v).collect();
    let bytes = record_2005(
        2,
        8,
        (w, h),
        &[
            (
                1,
                vec![(1, 80, 0xffff, a.clone()), (2, 60, 8_192, b.clone())],
            ),
            (2, vec![(3, 254, 0, a.clone())]),
        ],
    );
    assert_eq!(sniff(&bytes), Some(ImageFormat::Iso19794_6));
    let record = decode_iris_record(&bytes).unwrap();
    assert_eq!(record.version, IrisRecordVersion::V2005);
    assert_eq!(record.eyes, 2);
    let reps = &record.representations;
    assert_eq!(reps.len(), 3);
    let eyes: Vec<EyeLabel> = reps.iter().map(|r| r.header.eye).collect();
    assert_eq!(eyes, [EyeLabel::Right, EyeLabel::Right, EyeLabel::Left]);
    assert_eq!(reps[0].image.pixels(), &a[..]);
    assert_eq!(reps[1].image.pixels(), &b[..]);
    assert_eq!(reps[1].header.number, 2);
    assert_eq!(reps[1].header.quality, Some(60));
    assert_eq!(reps[0].header.roll_angle, None);
    let angle = reps[1].header.roll_angle_degrees().unwrap();
    assert!((angle - 45.0).abs() < 1e-3, "{angle}");
    assert_eq!(reps[2].header.quality, Some(254));
    for rep in reps {
        assert_eq!(rep.header.kind, None, "2005 has no image type");
        assert_eq!(rep.header.format, IrisPayloadFormat::MonoRaw);
        assert_eq!(rep.header.horizontal, Orientation::Base);
        assert_eq!(rep.header.vertical, Orientation::Flipped);
        assert_eq!(rep.header.iris_diameter, Some((200, 200)));
    }

    // RGB raw images become grey; grey RGB keeps its values.
    let rgb: Vec<u8> = a.iter().flat_map(|&v| [v, v, v]).collect();
    let bytes = record_2005(4, 24, (w, h), &[(0, vec![(1, 90, 0, rgb)])]);
    let record = decode_iris_record(&bytes).unwrap();
    assert_eq!(record.representations[0].header.eye, EyeLabel::Unknown);
    assert_eq!(record.representations[0].image.pixels(), &a[..]);

    // JPEG 2000 payloads decode; JPEG and JPEG-LS ones are refused with a reason.
    if let Some(fx) = fixtures() {
        let jp2 = fx.read("ridges_97x131_hq.jp2");
        let bytes = record_2005(14, 8, (97, 131), &[(1, vec![(1, 90, 0, jp2)])]);
        let record = decode_iris_record(&bytes).unwrap();
        assert_eq!(
            record.representations[0].image.pixels(),
            fx.png("ridges_97x131_hq.png").pixels()
        );
    }
    for format in [6, 10] {
        let bytes = record_2005(
            format,
            8,
            (2, 2),
            &[(1, vec![(1, 90, 0, vec![0xff, 0xd8])])],
        );
        let err = decode_iris_record(&bytes).unwrap_err();
        assert_eq!(err.reason(), "image_unsupported_format", "{err}");
    }
}

fn one_raw_2011(w: u16, h: u16) -> Vec<u8> {
    let px = eye_raster(w, h);
    let hd = header(
        EyeLabel::Right,
        IrisImageKind::Cropped,
        IrisPayloadFormat::MonoRaw,
        w,
        h,
    );
    encode_iris_record_2011(1, &[(hd, &px[..])]).unwrap()
}

#[test]
fn truncated_records_are_refused_with_a_reason_in_bounded_time() {
    let records = [
        one_raw_2011(40, 30),
        record_2005(2, 8, (20, 10), &[(1, vec![(1, 80, 0, vec![7; 200])])]),
    ];
    for full in records {
        assert!(decode_iris_record(&full).is_ok());
        let start = Instant::now();
        for cut in 0..full.len() {
            let err = decode_iris_record(&full[..cut]).unwrap_err();
            assert!(
                matches!(
                    err.reason(),
                    "image_truncated" | "image_corrupt" | "image_unsupported_format"
                ),
                "cut {cut}: {err}"
            );
        }
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}

/// Sets the big-endian `u16` at `at`.
fn set_u16(bytes: &mut [u8], at: usize, v: u16) {
    bytes[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[test]
fn corrupt_records_are_refused_with_their_reason() {
    let good = one_raw_2011(8, 6);
    // Offsets in a 2011 record with no quality block: general header 16, representation
    // length 4, capture fields 14, quality count 1, number 2, then the image information.
    let info = 16 + 4 + 14 + 1 + 2;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "version",
            Box::new(|b: &mut Vec<u8>| b[4..8].copy_from_slice(b"030\0")),
            "image_unsupported_format",
        ),
        (
            "certification flag",
            Box::new(|b: &mut Vec<u8>| b[14] = 1),
            "image_unsupported_format",
        ),
        (
            "eyes",
            Box::new(|b: &mut Vec<u8>| b[15] = 3),
            "image_corrupt",
        ),
        (
            "no representation",
            Box::new(|b: &mut Vec<u8>| set_u16(b, 12, 0)),
            "image_corrupt",
        ),
        (
            "eye label",
            Box::new(move |b: &mut Vec<u8>| b[info] = 3),
            "image_corrupt",
        ),
        (
            "image type",
            Box::new(move |b: &mut Vec<u8>| b[info + 1] = 4),
            "image_corrupt",
        ),
        (
            "image format",
            Box::new(move |b: &mut Vec<u8>| b[info + 2] = 3),
            "image_corrupt",
        ),
        (
            "orientation",
            Box::new(move |b: &mut Vec<u8>| b[info + 3] = 3),
            "image_corrupt",
        ),
        (
            "compression",
            Box::new(move |b: &mut Vec<u8>| b[info + 3] = 0xc0),
            "image_corrupt",
        ),
        (
            "bit depth",
            Box::new(move |b: &mut Vec<u8>| b[info + 8] = 16),
            "image_unsupported_pixels",
        ),
        (
            "width",
            Box::new(move |b: &mut Vec<u8>| set_u16(b, info + 4, 9)),
            "image_corrupt",
        ),
        (
            "zero width",
            Box::new(move |b: &mut Vec<u8>| set_u16(b, info + 4, 0)),
            "image_empty",
        ),
        (
            "centre bounds",
            Box::new(move |b: &mut Vec<u8>| set_u16(b, info + 15, 9)),
            "image_corrupt",
        ),
        (
            "trailing bytes",
            Box::new(|b: &mut Vec<u8>| {
                b.push(0);
                let n = b.len() as u32;
                b[8..12].copy_from_slice(&n.to_be_bytes());
            }),
            "image_corrupt",
        ),
        (
            "short record length",
            Box::new(|b: &mut Vec<u8>| b[8..12].copy_from_slice(&10u32.to_be_bytes())),
            "image_corrupt",
        ),
        (
            "long record length",
            Box::new(|b: &mut Vec<u8>| b[8..12].copy_from_slice(&u32::MAX.to_be_bytes())),
            "image_truncated",
        ),
        (
            "short representation",
            Box::new(|b: &mut Vec<u8>| b[16..20].copy_from_slice(&20u32.to_be_bytes())),
            "image_corrupt",
        ),
    ];
    for (name, edit, reason) in cases {
        let mut bytes = good.clone();
        edit(&mut bytes);
        let err = decode_iris_record(&bytes).unwrap_err();
        assert_eq!(err.reason(), reason, "{name}: {err}");
    }

    // A PNG payload whose size differs from the header's.
    let png = write_png(10, 10, &[9; 100]);
    let hd = header(
        EyeLabel::Left,
        IrisImageKind::Cropped,
        IrisPayloadFormat::MonoPng,
        12,
        10,
    );
    let bytes = encode_iris_record_2011(1, &[(hd, &png[..])]).unwrap();
    let err = decode_iris_record(&bytes).unwrap_err();
    assert_eq!(err.reason(), "image_corrupt", "{err}");

    // JPEG payloads are refused until a JPEG decoder is wired in.
    let hd = header(
        EyeLabel::Left,
        IrisImageKind::Cropped,
        IrisPayloadFormat::MonoJpeg,
        2,
        2,
    );
    let bytes = encode_iris_record_2011(1, &[(hd, &[0xffu8, 0xd8, 0xff, 0xd9][..])]).unwrap();
    let err = decode_iris_record(&bytes).unwrap_err();
    assert_eq!(err.reason(), "image_unsupported_format", "{err}");
    assert!(matches!(err, ImageError::UnsupportedFormat(_)));
}

#[test]
fn huge_records_are_refused_before_allocation() {
    let start = Instant::now();
    // A 2011 header claiming 60,000 × 60,000 raw pixels with 4 bytes of data.
    let hd = header(
        EyeLabel::Left,
        IrisImageKind::Vga,
        IrisPayloadFormat::MonoRaw,
        60_000,
        60_000,
    );
    let bytes = encode_iris_record_2011(1, &[(hd, &[0u8; 4][..])]).unwrap();
    let err = decode_iris_record(&bytes).unwrap_err();
    assert_eq!(err.reason(), "image_too_large", "{err}");
    // The same in a 2005 record header.
    let bytes = record_2005(2, 8, (65_535, 65_535), &[(1, vec![(1, 80, 0, vec![0; 4])])]);
    let err = decode_iris_record(&bytes).unwrap_err();
    assert_eq!(err.reason(), "image_too_large", "{err}");
    // More images than a record may hold.
    let px = [0u8; 4];
    let hd = header(
        EyeLabel::Left,
        IrisImageKind::Cropped,
        IrisPayloadFormat::MonoRaw,
        2,
        2,
    );
    let images: Vec<(IrisRepresentationHeader, &[u8])> = vec![(hd, &px[..]); MAX_REPRESENTATIONS];
    assert!(encode_iris_record_2011(1, &images).is_ok());
    let many: Vec<Vec<u8>> = vec![vec![0u8; 4]; MAX_REPRESENTATIONS + 1];
    let bytes = record_2005(
        2,
        8,
        (2, 2),
        &[(1, many.into_iter().map(|d| (1, 80, 0, d)).collect())],
    );
    let err = decode_iris_record(&bytes).unwrap_err();
    assert_eq!(err.reason(), "image_too_large", "{err}");
    // Images over the record's pixel budget: three of 2,000 × 2,000.
    let big = vec![0u8; 2_000 * 2_000];
    let bytes = record_2005(
        2,
        8,
        (2_000, 2_000),
        &[(1, (0..3).map(|i| (i, 80, 0, big.clone())).collect())],
    );
    let err = decode_iris_record(&bytes).unwrap_err();
    assert_eq!(err.reason(), "image_too_large", "{err}");
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn mmu2_eye_images_round_trip_through_records() {
    let Some(root) = datasets() else { return };
    let dir = root.join("iris-images/mmu2");
    if !dir.is_dir() {
        eprintln!("skipping: {} is absent", dir.display());
        return;
    }
    let mut paths = Vec::new();
    for person in ["001", "002", "003"] {
        for eye in ["01", "02"] {
            let folder = dir.join(person).join(eye);
            let mut files: Vec<_> = std::fs::read_dir(&folder)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "png"))
                .collect();
            files.sort();
            paths.extend(files.into_iter().take(2));
        }
    }
    assert_eq!(paths.len(), 12, "two images of six eyes");
    for path in paths {
        let png = std::fs::read(&path).unwrap();
        let direct = decode(&png, Some(ImageFormat::Png)).unwrap();
        let (w, h) = (direct.width() as u16, direct.height() as u16);
        assert_eq!((w, h), (320, 238), "{}", path.display());
        let as_png = header(
            EyeLabel::Unknown,
            IrisImageKind::Uncropped,
            IrisPayloadFormat::MonoPng,
            w,
            h,
        );
        let as_raw = IrisRepresentationHeader {
            format: IrisPayloadFormat::MonoRaw,
            number: 2,
            ..as_png
        };
        let bytes =
            encode_iris_record_2011(1, &[(as_png, &png[..]), (as_raw, direct.pixels())]).unwrap();
        let record = decode_iris_record(&bytes).unwrap();
        assert_eq!(record.representations.len(), 2);
        for rep in &record.representations {
            assert_eq!(rep.image.pixels(), direct.pixels(), "{}", path.display());
        }
        assert_eq!(record.representations[1].header, as_raw);
    }
}
