//! Real records: the ISO edge-case fixtures and the 320 FVC2002 templates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use tunggal_index::template::{
    self, iso, scale_to_internal, ExtendedBlock, Format, MinutiaKind, TemplateError,
};

fn datasets() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: shared data set folder {} is absent",
            dir.display()
        );
        None
    }
}

fn edge_case(name: &str) -> Option<Vec<u8>> {
    let dir = datasets()?.join("iso-edge-cases");
    Some(std::fs::read(dir.join(name)).unwrap())
}

#[test]
fn truncated_records_are_rejected_with_length_errors() {
    for (name, cut) in [
        ("openafis-101_1_truncate_1_byte.iso", 1),
        ("openafis-101_1_truncate_2_bytes.iso", 2),
        ("openafis-101_1_truncate_3_bytes.iso", 3),
    ] {
        let Some(bytes) = edge_case(name) else { return };
        let err = template::decode(&bytes).unwrap_err();
        assert_eq!(
            err,
            TemplateError::LengthMismatch {
                declared: 30,
                actual: 30 - cut
            },
            "{name}: {err}"
        );
        assert!(matches!(
            iso::decode(&bytes),
            Err(TemplateError::LengthMismatch { .. })
        ));
        // Restoring the missing bytes (the empty extended-data length) makes it valid, so the
        // rejection is due to the truncation alone.
        let mut whole = bytes.clone();
        whole.resize(30, 0);
        let record = template::decode(&whole).unwrap();
        assert_eq!(record.views().len(), 1);
        assert!(record.views()[0].minutiae.is_empty());
    }
}

#[test]
fn sourceafis_probe_decodes_with_vendor_block_and_padding() {
    let Some(bytes) = edge_case("sourceafis-iso-probe.dat") else {
        return;
    };
    assert_eq!(bytes.len(), 384);
    let record = template::decode(&bytes).unwrap();
    assert_eq!(record.format(), Format::Iso);
    assert_eq!(record.image_size(), (224, 288));
    assert_eq!(record.resolution(), (197, 197));
    let views = record.views();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].minutiae.len(), 38);
    assert_eq!(views[0].quality, 100);
    assert_eq!(
        views[0].extended,
        vec![ExtendedBlock::Vendor {
            type_code: 0x0144,
            data: vec![0x97]
        }]
    );
    // First minutia: 40 4e 00 0d 1e 00 — an ending at (78, 13), angle 30.
    let m = views[0].minutiae[0];
    assert_eq!((m.kind, m.x, m.y, m.angle, m.quality), (1, 78, 13, 30, 0));
    // Encoding reproduces the record up to its declared length, vendor block included.
    assert_eq!(record.encode().unwrap(), bytes[..263]);
    let t = record.template(0).unwrap();
    assert_eq!(t.minutiae.len(), 38);
    assert_eq!(t.minutiae[0].kind, MinutiaKind::Ending);
}

#[test]
fn sourceafis_nonmatching_decodes() {
    let Some(bytes) = edge_case("sourceafis-iso-nonmatching.dat") else {
        return;
    };
    let record = template::decode(&bytes).unwrap();
    assert_eq!(record.format(), Format::Iso);
    assert_eq!(record.image_size(), (208, 320));
    assert_eq!(record.views()[0].minutiae.len(), 39);
    assert_eq!(record.encode().unwrap(), bytes[..0x10d]);
}

#[test]
fn every_fvc_template_decodes_with_the_documented_header() {
    let Some(root) = datasets() else { return };
    let root = root.join("fvc2002-iso");
    let mut decoded = 0;
    for db in 1..=4 {
        for finger in 101..=110 {
            for impression in 1..=8 {
                let path = root.join(format!("DB{db}_B/{finger}_{impression}.iso"));
                let bytes = std::fs::read(&path).unwrap();
                let record =
                    template::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert_eq!(record.format(), Format::Iso, "{}", path.display());
                assert_eq!(record.image_size(), (300, 400));
                assert_eq!(record.resolution(), (197, 197));
                assert_eq!(record.views().len(), 1);
                let view = &record.views()[0];
                assert_eq!(view.position, 0);
                assert!(
                    (6..=81).contains(&view.minutiae.len()),
                    "{}",
                    path.display()
                );
                assert!(view.extended.is_empty());
                assert_eq!(record.encode().unwrap(), bytes, "{}", path.display());
                let t = record.template(0).unwrap();
                assert_eq!((t.width, t.height), (300, 400));
                for (raw, m) in view.minutiae.iter().zip(&t.minutiae) {
                    assert_eq!(m.x, scale_to_internal(raw.x, 197));
                    assert_eq!(m.angle, raw.angle);
                }
                decoded += 1;
            }
        }
    }
    assert_eq!(decoded, 320);
}
