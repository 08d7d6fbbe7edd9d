//! Encode/decode identity for both formats, format detection, and conversion to the
//! internal frame (resolution normalisation, ANSI angle conversion).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use tunggal_index::template::ansi::{self, ansi_angle_to_internal, AnsiRecord, ANSI_MAX_ANGLE};
use tunggal_index::template::extended::{Core, Delta, RidgeCount};
use tunggal_index::template::iso::{self, IsoRecord};
use tunggal_index::template::{
    self, detect, scale_to_internal, CoreDeltaBlock, ExtendedBlock, FingerRecord, FingerView,
    Format, RawMinutia, RidgeCountBlock,
};

fn minutia(width: u16, height: u16, max_angle: u8) -> impl Strategy<Value = RawMinutia> {
    (0..=2u8, 0..width, 0..height, 0..=max_angle, 0..=100u8).prop_map(
        |(kind, x, y, angle, quality)| RawMinutia {
            kind,
            x,
            y,
            angle,
            quality,
        },
    )
}

fn coord() -> impl Strategy<Value = u16> {
    0..0x4000u16
}

fn core_delta(format: Format) -> BoxedStrategy<ExtendedBlock> {
    match format {
        Format::Iso => (
            vec((coord(), coord(), option::of(any::<u8>())), 0..4),
            vec((coord(), coord(), option::of(any::<[u8; 3]>())), 0..4),
        )
            .prop_map(|(cores, deltas)| CoreDeltaBlock {
                cores: cores
                    .into_iter()
                    .map(|(x, y, angle)| Core { x, y, angle })
                    .collect(),
                deltas: deltas
                    .into_iter()
                    .map(|(x, y, angles)| Delta { x, y, angles })
                    .collect(),
            })
            .prop_map(ExtendedBlock::CoreDelta)
            .boxed(),
        Format::Ansi => (
            any::<bool>(),
            vec((coord(), coord(), 0..=ANSI_MAX_ANGLE), 0..4),
            any::<bool>(),
            vec((coord(), coord(), any::<[u8; 3]>()), 0..4),
        )
            .prop_map(
                |(core_angles, cores, delta_angles, deltas)| CoreDeltaBlock {
                    cores: cores
                        .into_iter()
                        .map(|(x, y, a)| Core {
                            x,
                            y,
                            angle: core_angles.then_some(a),
                        })
                        .collect(),
                    deltas: deltas
                        .into_iter()
                        .map(|(x, y, a)| Delta {
                            x,
                            y,
                            angles: delta_angles.then_some(a),
                        })
                        .collect(),
                },
            )
            .prop_map(ExtendedBlock::CoreDelta)
            .boxed(),
    }
}

fn block(format: Format) -> impl Strategy<Value = ExtendedBlock> {
    prop_oneof![
        (any::<u8>(), vec(any::<[u8; 3]>(), 0..8)).prop_map(|(method, triples)| {
            ExtendedBlock::RidgeCounts(RidgeCountBlock {
                method,
                counts: triples
                    .into_iter()
                    .map(|[from, to, count]| RidgeCount { from, to, count })
                    .collect(),
            })
        }),
        core_delta(format),
        (3..=u16::MAX, vec(any::<u8>(), 0..16))
            .prop_map(|(type_code, data)| ExtendedBlock::Vendor { type_code, data }),
    ]
}

fn view(width: u16, height: u16, format: Format) -> impl Strategy<Value = FingerView> {
    let max_angle = match format {
        Format::Iso => u8::MAX,
        Format::Ansi => ANSI_MAX_ANGLE,
    };
    (
        0..=10u8,
        0..=15u8,
        0..=15u8,
        0..=100u8,
        vec(minutia(width, height, max_angle), 0..30),
        vec(block(format), 0..4),
    )
        .prop_map(
            |(position, view_number, impression_type, quality, minutiae, extended)| FingerView {
                position,
                view_number,
                impression_type,
                quality,
                minutiae,
                extended,
            },
        )
}

/// Geometry and views of a record.
fn parts(format: Format) -> impl Strategy<Value = ([u16; 5], Vec<FingerView>)> {
    (1..=2000u16, 1..=2000u16).prop_flat_map(move |(w, h)| {
        (
            (any::<u16>(), Just(w), Just(h), 1..=1000u16, 1..=1000u16),
            vec(view(w, h, format), 0..4),
        )
            .prop_map(|((e, w, h, rx, ry), views)| ([e, w, h, rx, ry], views))
    })
}

fn iso_record() -> impl Strategy<Value = IsoRecord> {
    parts(Format::Iso).prop_map(
        |([equipment, width, height, res_x, res_y], views)| IsoRecord {
            equipment,
            width,
            height,
            res_x,
            res_y,
            views,
        },
    )
}

fn ansi_record() -> impl Strategy<Value = AnsiRecord> {
    (any::<(u16, u16)>(), parts(Format::Ansi)).prop_map(
        |((product_owner, product_type), ([equipment, width, height, res_x, res_y], views))| {
            AnsiRecord {
                product_owner,
                product_type,
                equipment,
                width,
                height,
                res_x,
                res_y,
                views,
            }
        },
    )
}

proptest! {
    #[test]
    fn iso_encode_decode_is_identity(record in iso_record()) {
        let bytes = iso::encode(&record).unwrap();
        prop_assert_eq!(&iso::decode(&bytes).unwrap(), &record);
        prop_assert_eq!(detect(&bytes).unwrap(), Format::Iso);
        let decoded = template::decode(&bytes).unwrap();
        prop_assert_eq!(decoded.encode().unwrap(), bytes);
        prop_assert_eq!(decoded, FingerRecord::Iso(record));
    }

    #[test]
    fn ansi_encode_decode_is_identity(record in ansi_record()) {
        let bytes = ansi::encode(&record).unwrap();
        prop_assert_eq!(&ansi::decode(&bytes).unwrap(), &record);
        prop_assert_eq!(detect(&bytes).unwrap(), Format::Ansi);
        let decoded = template::decode(&bytes).unwrap();
        prop_assert_eq!(decoded.encode().unwrap(), bytes);
        prop_assert_eq!(decoded, FingerRecord::Ansi(record));
    }

    #[test]
    fn padding_after_the_declared_length_is_ignored(record in iso_record(), pad in vec(any::<u8>(), 1..64)) {
        let mut bytes = iso::encode(&record).unwrap();
        bytes.extend_from_slice(&pad);
        prop_assert_eq!(template::decode(&bytes).unwrap(), FingerRecord::Iso(record));
    }

    #[test]
    fn same_finger_at_proportional_resolutions_converts_identically(
        res in 1..=400u16,
        factor in 2..=5u16,
        points in vec((0..3000u16, 0..3000u16, any::<u8>()), 1..40),
    ) {
        let at = |scale: u16| IsoRecord {
            width: 3000 * scale,
            height: 3000 * scale,
            res_x: res * scale,
            res_y: res * scale,
            views: vec![FingerView {
                minutiae: points
                    .iter()
                    .map(|&(x, y, angle)| RawMinutia { kind: 1, x: x * scale, y: y * scale, angle, quality: 50 })
                    .collect(),
                ..FingerView::default()
            }],
            ..IsoRecord::default()
        };
        let low = iso::decode(&iso::encode(&at(1)).unwrap()).unwrap().template(0).unwrap();
        let high = iso::decode(&iso::encode(&at(factor)).unwrap()).unwrap().template(0).unwrap();
        prop_assert_eq!(low, high);
    }

    #[test]
    fn iso_and_ansi_encodings_of_the_same_minutiae_agree(record in ansi_record()) {
        // The ISO encoding states each angle in 1/256 turns: the nearest value to 2a degrees.
        let to_iso = |a: u8| ((f64::from(a) * 2.0 / 360.0 * 256.0).round() as u32 % 256) as u8;
        let iso_record = IsoRecord {
            equipment: record.equipment,
            width: record.width,
            height: record.height,
            res_x: record.res_x,
            res_y: record.res_y,
            views: record
                .views
                .iter()
                .map(|v| FingerView {
                    minutiae: v.minutiae.iter().map(|m| RawMinutia { angle: to_iso(m.angle), ..*m }).collect(),
                    extended: Vec::new(),
                    ..v.clone()
                })
                .collect(),
        };
        let from_ansi = template::decode(&ansi::encode(&record).unwrap()).unwrap();
        let from_iso = template::decode(&iso::encode(&iso_record).unwrap()).unwrap();
        prop_assert_eq!(from_ansi.format(), Format::Ansi);
        prop_assert_eq!(from_iso.format(), Format::Iso);
        prop_assert_eq!(from_ansi.templates(), from_iso.templates());
    }
}

#[test]
fn ansi_angles_round_to_the_nearest_256th_of_a_turn() {
    assert_eq!(ansi_angle_to_internal(0), 0);
    assert_eq!(ansi_angle_to_internal(45), 64); // 90°
    assert_eq!(ansi_angle_to_internal(90), 128); // 180°
    assert_eq!(ansi_angle_to_internal(135), 192); // 270°
    assert_eq!(ansi_angle_to_internal(1), 1); // 2° = 1.42 units
    assert_eq!(ansi_angle_to_internal(179), 255); // 358° = 254.58 units
    for a in 0..=ANSI_MAX_ANGLE {
        let degrees = f64::from(a) * 2.0;
        let converted = f64::from(ansi_angle_to_internal(a)) * 360.0 / 256.0;
        assert!(
            (degrees - converted).abs() <= 360.0 / 512.0,
            "{a}: {degrees} vs {converted}"
        );
    }
}

#[test]
fn resolution_scaling_is_exact_and_rounds_to_nearest() {
    // 500 ppi is 196.85 px/cm: at 197 px/cm 300 px are 299.77 internal units.
    assert_eq!(scale_to_internal(300, 197), 300);
    assert_eq!(scale_to_internal(400, 197), 400);
    // 1000 ppi (394 px/cm) halves coordinates: 600 → 299.77 → 300; 1 → 0.4997 → 0.
    assert_eq!(scale_to_internal(600, 394), 300);
    assert_eq!(scale_to_internal(1, 394), 0);
    // 250 px/cm to 196.85: 1000 → 787.40.
    assert_eq!(scale_to_internal(1000, 250), 787);
    assert_eq!(scale_to_internal(123, 0), 123);
    assert_eq!(scale_to_internal(u16::MAX, 1), u16::MAX);
}

#[test]
fn iso_templates_convert_resolution_and_keep_angles() {
    let record = IsoRecord {
        width: 800,
        height: 750,
        res_x: 394,
        res_y: 394,
        views: vec![FingerView {
            position: 7,
            quality: 60,
            minutiae: vec![RawMinutia {
                kind: 2,
                x: 600,
                y: 200,
                angle: 200,
                quality: 40,
            }],
            ..FingerView::default()
        }],
        ..IsoRecord::default()
    };
    let t = template::decode(&iso::encode(&record).unwrap())
        .unwrap()
        .template(0)
        .unwrap();
    assert_eq!(
        (t.width, t.height, t.position, t.quality),
        (400, 375, 7, 60)
    );
    let m = t.minutiae[0];
    assert_eq!((m.x, m.y, m.angle, m.quality), (300, 100, 200, 40));
    assert_eq!(m.kind, template::MinutiaKind::Bifurcation);
}

/// A record over 65,535 bytes, to exercise the ISO 4-byte length with a non-zero high half
/// and the ANSI 6-byte length form.
fn large_views() -> Vec<FingerView> {
    (0..2)
        .map(|i| FingerView {
            position: i + 1,
            minutiae: vec![
                RawMinutia {
                    kind: 1,
                    x: 10,
                    y: 20,
                    angle: 30,
                    quality: 40
                };
                50
            ],
            extended: vec![ExtendedBlock::Vendor {
                type_code: 0x0101,
                data: vec![i; 40_000],
            }],
            ..FingerView::default()
        })
        .collect()
}

#[test]
fn large_records_use_long_lengths_and_are_detected() {
    let ansi_record = AnsiRecord {
        product_owner: 0x0033,
        width: 500,
        height: 500,
        res_x: 197,
        res_y: 197,
        views: large_views(),
        ..AnsiRecord::default()
    };
    let bytes = ansi::encode(&ansi_record).unwrap();
    assert!(bytes.len() > 0xffff);
    assert_eq!(&bytes[8..10], &[0, 0]);
    assert_eq!(
        u32::from_be_bytes(bytes[10..14].try_into().unwrap()) as usize,
        bytes.len()
    );
    assert_eq!(detect(&bytes).unwrap(), Format::Ansi);
    assert_eq!(
        template::decode(&bytes).unwrap(),
        FingerRecord::Ansi(ansi_record)
    );

    let iso_record = IsoRecord {
        width: 500,
        height: 500,
        res_x: 197,
        res_y: 197,
        views: large_views(),
        ..IsoRecord::default()
    };
    let bytes = iso::encode(&iso_record).unwrap();
    assert_eq!(&bytes[8..10], &[0, 1]);
    assert_eq!(detect(&bytes).unwrap(), Format::Iso);
    assert_eq!(
        template::decode(&bytes).unwrap(),
        FingerRecord::Iso(iso_record)
    );
}

#[test]
fn damaged_records_are_still_attributed_by_their_length_fields() {
    let ansi_bytes = ansi::encode(&AnsiRecord {
        width: 100,
        height: 100,
        ..AnsiRecord::default()
    })
    .unwrap();
    let iso_bytes = iso::encode(&IsoRecord {
        width: 100,
        height: 100,
        ..IsoRecord::default()
    })
    .unwrap();
    for cut in 10..ansi_bytes.len() {
        assert_eq!(
            detect(&ansi_bytes[..cut]).unwrap(),
            Format::Ansi,
            "ANSI cut at {cut}"
        );
        assert!(template::decode(&ansi_bytes[..cut]).is_err());
    }
    for cut in 12..iso_bytes.len() {
        assert_eq!(
            detect(&iso_bytes[..cut]).unwrap(),
            Format::Iso,
            "ISO cut at {cut}"
        );
        assert!(template::decode(&iso_bytes[..cut]).is_err());
    }
}

#[test]
fn encoding_rejects_values_beyond_their_fields() {
    let mut record = IsoRecord {
        width: 100,
        height: 100,
        views: vec![FingerView::default()],
        ..IsoRecord::default()
    };
    record.views[0].minutiae = vec![RawMinutia::default(); 256];
    assert!(matches!(
        iso::encode(&record),
        Err(template::TemplateError::Unencodable {
            what: "minutia count",
            ..
        })
    ));
    record.views[0].minutiae = vec![RawMinutia {
        x: 0x4000,
        ..RawMinutia::default()
    }];
    assert!(matches!(
        iso::encode(&record),
        Err(template::TemplateError::Unencodable {
            what: "minutia x",
            ..
        })
    ));
    let ansi_record = AnsiRecord {
        views: vec![FingerView {
            minutiae: vec![RawMinutia {
                angle: 180,
                ..RawMinutia::default()
            }],
            ..FingerView::default()
        }],
        ..AnsiRecord::default()
    };
    assert!(matches!(
        ansi::encode(&ansi_record),
        Err(template::TemplateError::Unencodable {
            what: "minutia angle",
            ..
        })
    ));
    let mixed = AnsiRecord {
        views: vec![FingerView {
            extended: vec![ExtendedBlock::CoreDelta(CoreDeltaBlock {
                cores: vec![
                    Core {
                        x: 1,
                        y: 1,
                        angle: Some(3),
                    },
                    Core {
                        x: 2,
                        y: 2,
                        angle: None,
                    },
                ],
                deltas: Vec::new(),
            })],
            ..FingerView::default()
        }],
        ..AnsiRecord::default()
    };
    assert!(matches!(
        ansi::encode(&mixed),
        Err(template::TemplateError::Unencodable { .. })
    ));
}
