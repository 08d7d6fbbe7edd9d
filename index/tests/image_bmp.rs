//! BMP decoding on hand-built files (8-bit palettised, 24-bit, top-down and bottom-up rows),
//! and refusals of truncated, corrupt and oversized files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use tunggal_index::image::{decode, sniff, ImageFormat};

fn pattern(w: u32, h: u32) -> Vec<u8> {
    (0..w * h)
        .map(|i| ((i % w) * 7 + (i / w) * 3) as u8)
        .collect()
}

/// A BMP with a 40-byte BITMAPINFOHEADER. `bits` is 8 (with a 256-entry palette) or 24;
/// `rows` holds the pixel bytes of each row, top row first (`bits / 8` bytes a pixel, BGR for
/// 24 bits); a negative `height` stores the rows top-down.
fn bmp(w: i32, height: i32, bits: u16, palette: &[[u8; 3]], rows: &[Vec<u8>]) -> Vec<u8> {
    let palette_bytes = palette.len() * 4;
    let offset = 14 + 40 + palette_bytes;
    let mut data = Vec::new();
    let ordered: Vec<&Vec<u8>> = if height < 0 {
        rows.iter().collect()
    } else {
        rows.iter().rev().collect()
    };
    for row in ordered {
        data.extend_from_slice(row);
        while (data.len() % 4) != 0 {
            data.push(0);
        }
    }
    let mut out = Vec::new();
    out.extend_from_slice(b"BM");
    out.extend_from_slice(&((offset + data.len()) as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(offset as u32).to_le_bytes());
    out.extend_from_slice(&40u32.to_le_bytes());
    out.extend_from_slice(&w.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // BI_RGB
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&2835i32.to_le_bytes());
    out.extend_from_slice(&2835i32.to_le_bytes());
    out.extend_from_slice(&(palette.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for [r, g, b] in palette {
        out.extend_from_slice(&[*b, *g, *r, 0]);
    }
    out.extend_from_slice(&data);
    out
}

fn grey_palette() -> Vec<[u8; 3]> {
    (0..=255u8).map(|v| [v, v, v]).collect()
}

fn rows_of(px: &[u8], w: u32, bytes_per_pixel: usize) -> Vec<Vec<u8>> {
    px.chunks(w as usize * bytes_per_pixel)
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn palettised_grey_bmp_keeps_its_values_both_row_orders() {
    for (w, h) in [(33u32, 17u32), (64, 48), (1, 1)] {
        let px = pattern(w, h);
        for height in [h as i32, -(h as i32)] {
            let bytes = bmp(w as i32, height, 8, &grey_palette(), &rows_of(&px, w, 1));
            assert_eq!(sniff(&bytes), Some(ImageFormat::Bmp));
            let img = decode(&bytes, None).unwrap();
            assert_eq!((img.width(), img.height()), (w, h));
            assert_eq!(img.pixels(), &px[..], "{w}x{h}, height field {height}");
        }
    }
}

#[test]
fn colour_palette_and_24_bit_bmp_become_luma() {
    let (w, h) = (21u32, 9u32);
    let px = pattern(w, h);
    // 24-bit grey: B = G = R.
    let bgr: Vec<u8> = px.iter().flat_map(|&v| [v, v, v]).collect();
    let img = decode(
        &bmp(w as i32, h as i32, 24, &[], &rows_of(&bgr, w, 3)),
        None,
    )
    .unwrap();
    assert_eq!(img.pixels(), &px[..]);
    // 24-bit pure red, green and blue: BT.601 luma 76, 150, 29.
    for (bgr, luma) in [([0u8, 0, 255], 76u8), ([0, 255, 0], 150), ([255, 0, 0], 29)] {
        let data: Vec<u8> = (0..w * h).flat_map(|_| bgr).collect();
        let img = decode(
            &bmp(w as i32, h as i32, 24, &[], &rows_of(&data, w, 3)),
            None,
        )
        .unwrap();
        assert!(img.pixels().iter().all(|&v| v == luma), "{bgr:?}");
    }
    // A colour palette: index 1 is red.
    let palette = vec![[0, 0, 0], [255, 0, 0]];
    let idx: Vec<u8> = (0..w * h).map(|i| (i % 2) as u8).collect();
    let img = decode(
        &bmp(w as i32, h as i32, 8, &palette, &rows_of(&idx, w, 1)),
        None,
    )
    .unwrap();
    let want: Vec<u8> = idx.iter().map(|&i| if i == 1 { 76 } else { 0 }).collect();
    assert_eq!(img.pixels(), &want[..]);
}

#[test]
fn bad_bmp_files_are_refused_with_a_reason_in_bounded_time() {
    let (w, h) = (40u32, 30u32);
    let px = pattern(w, h);
    let full = bmp(w as i32, h as i32, 8, &grey_palette(), &rows_of(&px, w, 1));
    let start = Instant::now();
    for cut in 0..full.len() {
        if let Err(e) = decode(&full[..cut], Some(ImageFormat::Bmp)) {
            assert!(!e.reason().is_empty());
        }
    }
    // Every cut inside the headers and the palette is an error.
    for cut in 0..14 + 40 + 1024 {
        assert!(
            decode(&full[..cut], Some(ImageFormat::Bmp)).is_err(),
            "cut {cut}"
        );
    }
    // A header claiming 60,000 × 60,000 pixels is refused before any pixel is read.
    let huge = bmp(60_000, 60_000, 8, &grey_palette(), &[]);
    let err = decode(&huge, None).unwrap_err();
    assert_eq!(err.reason(), "image_too_large", "{err}");
    // Zero width and a bit count of 7 are refused.
    let empty = bmp(0, 10, 8, &grey_palette(), &[]);
    assert!(decode(&empty, None).is_err());
    let mut odd = full.clone();
    odd[28] = 7;
    assert!(decode(&odd, None).is_err());
    assert!(start.elapsed() < Duration::from_secs(5));
}
