//! Biometric records as MOSIP's registration client writes them, built from real images in
//! the test: ISO/IEC 19794-4:2011 finger image records (raw pixels, or JPEG 2000 lossless as
//! MOSIP sends at registration) and ISO/IEC 19794-6:2011 iris image records. JPEG 2000 files
//! are written at test time by Pillow's OpenJPEG encoder (python3), into the target
//! directory; no image is kept in git.

use std::path::{Path, PathBuf};
use std::process::Command;

use tunggal_index::image::iris_record::{
    EyeLabel, IrisImageKind, IrisPayloadFormat, IrisRepresentationHeader,
};

/// ISO/IEC 19794-4:2011 compression code of uncompressed pixels.
pub const RAW: u8 = 0;
/// ISO/IEC 19794-4:2011 compression code of JPEG 2000 lossless.
pub const JPEG2000_LOSSLESS: u8 = 5;

/// An ISO/IEC 19794-4:2011 finger image record of one 8-bit grey view whose image data is
/// `data` in the codec `compression` names.
pub fn iso_19794_4_with(
    position: u8,
    width: u16,
    height: u16,
    ppi: u16,
    compression: u8,
    data: &[u8],
) -> Vec<u8> {
    let ppcm = (f64::from(ppi) / 2.54).round() as u16;
    let mut rep = Vec::new();
    rep.extend_from_slice(&[0; 9]); // capture date
    rep.push(0); // device technology
    rep.extend_from_slice(&[0; 4]); // vendor, type
    rep.push(1); // one quality block
    rep.extend_from_slice(&[80, 0, 0, 0, 0]);
    rep.push(position);
    rep.push(1); // representation number
    rep.push(2); // px/cm
    for _ in 0..4 {
        rep.extend_from_slice(&ppcm.to_be_bytes());
    }
    rep.push(8); // bit depth
    rep.push(compression);
    rep.push(0); // live-scan plain
    rep.extend_from_slice(&width.to_be_bytes());
    rep.extend_from_slice(&height.to_be_bytes());
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

/// An ISO/IEC 19794-4:2011 finger image record of one uncompressed 8-bit grey view.
pub fn iso_19794_4(position: u8, width: u16, height: u16, pixels: &[u8], ppi: u16) -> Vec<u8> {
    iso_19794_4_with(position, width, height, ppi, RAW, pixels)
}

/// An ISO/IEC 19794-6:2011 record of one eye image (`eye` `left` or `right`), VGA kind, of
/// `width` × `height` pixels whose data is `data` in `format`.
pub fn iso_19794_6(
    eye: &str,
    width: u16,
    height: u16,
    format: IrisPayloadFormat,
    data: &[u8],
) -> Vec<u8> {
    let label = if eye == "left" {
        EyeLabel::Left
    } else {
        EyeLabel::Right
    };
    let header = IrisRepresentationHeader {
        width,
        height,
        ..IrisRepresentationHeader::new(label, IrisImageKind::Vga, format)
    };
    tunggal_index::image::encode_iris_record_2011(1, &[(header, data)]).unwrap()
}

const TO_JP2: &str = r#"
import os, sys
from PIL import Image, features
if not features.check("jpg_2000"):
    sys.exit("Pillow was built without OpenJPEG")
out = sys.argv[1]
for i, src in enumerate(sys.argv[2:]):
    Image.open(src).convert("L").save(os.path.join(out, "%d.jp2" % i), irreversible=False)
"#;

/// Lossless JPEG 2000 files of `sources` (any image Pillow reads), written by Pillow's
/// OpenJPEG encoder under the target directory in `tag`; the reason when python3 or
/// OpenJPEG is missing.
pub fn jp2_lossless(tag: &str, sources: &[PathBuf]) -> Result<Vec<Vec<u8>>, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("mosip-jp2-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let out = Command::new("python3")
        .arg("-c")
        .arg(TO_JP2)
        .arg(&dir)
        .args(sources)
        .output()
        .map_err(|e| format!("python3 cannot run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "python3 with Pillow could not write JPEG 2000: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    (0..sources.len())
        .map(|i| {
            let path = dir.join(format!("{i}.jp2"));
            std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect()
}
