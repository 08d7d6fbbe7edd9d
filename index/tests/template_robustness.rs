//! Malformed records are rejected with typed errors that locate the fault; random and
//! mutated input never panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tunggal_index::template::ansi::{self, AnsiRecord};
use tunggal_index::template::extended::{Core, Delta, RidgeCount};
use tunggal_index::template::iso::{self, IsoRecord};
use tunggal_index::template::{
    self, detect, CoreDeltaBlock, ExtendedBlock, ExtendedDataFault, FingerView, RawMinutia,
    RidgeCountBlock, TemplateError,
};

fn views() -> Vec<FingerView> {
    let m = |kind, x, y, angle| RawMinutia {
        kind,
        x,
        y,
        angle,
        quality: 50,
    };
    vec![
        FingerView {
            position: 1,
            quality: 80,
            minutiae: vec![m(1, 10, 20, 30), m(2, 110, 120, 130), m(0, 199, 299, 170)],
            extended: vec![
                ExtendedBlock::RidgeCounts(RidgeCountBlock {
                    method: 1,
                    counts: vec![
                        RidgeCount {
                            from: 0,
                            to: 1,
                            count: 4,
                        },
                        RidgeCount {
                            from: 1,
                            to: 2,
                            count: 7,
                        },
                    ],
                }),
                ExtendedBlock::CoreDelta(CoreDeltaBlock {
                    cores: vec![Core {
                        x: 100,
                        y: 150,
                        angle: Some(64),
                    }],
                    deltas: vec![Delta {
                        x: 60,
                        y: 250,
                        angles: None,
                    }],
                }),
                ExtendedBlock::Vendor {
                    type_code: 0x0144,
                    data: vec![0x97],
                },
            ],
            ..FingerView::default()
        },
        FingerView {
            position: 2,
            minutiae: vec![m(1, 5, 5, 5)],
            ..FingerView::default()
        },
    ]
}

/// Layout of the ISO encoding of [`views`] (ANSI adds 2 to every offset):
/// header 0..24; view 0 header 24..28 (position 24, quality 26, count 27); minutiae at 28,
/// 34, 40; area length 46; ridge-count block 48..59; core/delta block 59..74; vendor block
/// 74..79; view 1 header 79..83; its minutia 83..89; area length 89..91.
const ISO_LEN: usize = 91;

fn base_iso() -> Vec<u8> {
    let record = IsoRecord {
        width: 200,
        height: 300,
        res_x: 197,
        res_y: 197,
        views: views(),
        ..IsoRecord::default()
    };
    let bytes = iso::encode(&record).unwrap();
    assert_eq!(bytes.len(), ISO_LEN);
    bytes
}

fn base_ansi() -> Vec<u8> {
    let record = AnsiRecord {
        product_owner: 0x0033,
        product_type: 1,
        width: 200,
        height: 300,
        res_x: 197,
        res_y: 197,
        views: views(),
        ..AnsiRecord::default()
    };
    let bytes = ansi::encode(&record).unwrap();
    assert_eq!(bytes.len(), ISO_LEN + 2);
    bytes
}

fn set_u16(bytes: &mut [u8], at: usize, v: u16) {
    bytes[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn set_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn iso_err(mutate: impl FnOnce(&mut Vec<u8>)) -> TemplateError {
    let mut bytes = base_iso();
    mutate(&mut bytes);
    let err = iso::decode(&bytes).unwrap_err();
    // The format-detecting decoder reports the same fault for these ISO records.
    assert_eq!(template::decode(&bytes).unwrap_err(), err);
    err
}

fn ext_err(offset: usize, fault: ExtendedDataFault) -> TemplateError {
    TemplateError::ExtendedData {
        view: 0,
        offset,
        fault,
    }
}

#[test]
fn base_records_are_valid() {
    assert_eq!(template::decode(&base_iso()).unwrap().views(), views());
    assert_eq!(template::decode(&base_ansi()).unwrap().views(), views());
}

#[test]
fn identifier_and_version_are_checked() {
    assert_eq!(
        iso_err(|b| b[2] = b'X'),
        TemplateError::BadMagic {
            found: b"FMX\0".to_vec()
        }
    );
    assert_eq!(
        iso_err(|b| b[4..8].copy_from_slice(b"030\0")),
        TemplateError::UnsupportedVersion {
            found: b"030\0".to_vec()
        }
    );
    assert!(matches!(
        detect(b"ABCDEFGH1234"),
        Err(TemplateError::BadMagic { .. })
    ));
}

#[test]
fn every_truncation_is_rejected_with_a_length_error() {
    let bytes = base_iso();
    for cut in 0..bytes.len() {
        let err = template::decode(&bytes[..cut]).unwrap_err();
        if cut >= 12 {
            assert_eq!(
                err,
                TemplateError::LengthMismatch {
                    declared: ISO_LEN,
                    actual: cut
                }
            );
        } else {
            assert!(
                matches!(err, TemplateError::Truncated { .. }),
                "cut {cut}: {err}"
            );
        }
    }
}

#[test]
fn length_fields_are_checked() {
    let mut bytes = base_iso();
    set_u32(&mut bytes, 8, 20);
    assert_eq!(
        iso::decode(&bytes).unwrap_err(),
        TemplateError::LengthTooSmall {
            declared: 20,
            minimum: 24
        }
    );
    assert!(template::decode(&bytes).is_err());
    assert_eq!(
        iso_err(|b| {
            b.push(0);
            set_u32(b, 8, ISO_LEN as u32 + 1);
        }),
        TemplateError::LengthInconsistent {
            declared: ISO_LEN + 1,
            parsed: ISO_LEN
        }
    );
    assert!(matches!(
        iso_err(|b| set_u32(b, 8, ISO_LEN as u32 - 1)),
        TemplateError::CountOverflow {
            what: "minutiae",
            view: 1,
            ..
        }
    ));
    // A first length word of 0xffff reads as an ANSI length, so only the ISO decoder is asked.
    let mut bytes = base_iso();
    set_u32(&mut bytes, 8, u32::MAX);
    assert_eq!(
        iso::decode(&bytes).unwrap_err(),
        TemplateError::LengthMismatch {
            declared: u32::MAX as usize,
            actual: ISO_LEN
        }
    );
    assert!(template::decode(&bytes).is_err());
    // A 2-byte length of 10 followed by zeros: reported as the 10 that was written, not as
    // the 655,360 an ISO reading of the four bytes would give.
    let mut bytes = base_ansi();
    set_u16(&mut bytes, 8, 10);
    set_u16(&mut bytes, 10, 0);
    assert_eq!(
        template::decode(&bytes).unwrap_err(),
        TemplateError::LengthTooSmall {
            declared: 10,
            minimum: 26
        }
    );
    let mut bytes = base_ansi();
    set_u16(&mut bytes, 8, 25);
    assert_eq!(
        ansi::decode(&bytes).unwrap_err(),
        TemplateError::LengthTooSmall {
            declared: 25,
            minimum: 26
        }
    );
}

#[test]
fn counts_beyond_the_remaining_bytes_are_rejected() {
    assert_eq!(
        iso_err(|b| b[22] = 255),
        TemplateError::CountOverflow {
            what: "views",
            view: 0,
            offset: 22,
            declared: 255,
            needed: 1530,
            remaining: 67
        }
    );
    assert_eq!(
        iso_err(|b| b[27] = 255),
        TemplateError::CountOverflow {
            what: "minutiae",
            view: 0,
            offset: 27,
            declared: 255,
            needed: 1532,
            remaining: 63
        }
    );
}

#[test]
fn a_record_without_an_image_size_is_refused() {
    // ISO header: width at 14, height at 16 (big-endian u16).
    for (w, h) in [(0u16, 0u16), (0, 300), (200, 0)] {
        assert_eq!(
            iso_err(|b| {
                set_u16(b, 14, w);
                set_u16(b, 16, h);
            }),
            TemplateError::EmptyImage {
                width: w,
                height: h
            }
        );
    }
}

#[test]
fn field_values_are_validated_with_their_location() {
    assert_eq!(
        iso_err(|b| set_u16(b, 40, 200)),
        TemplateError::MinutiaOutsideImage {
            view: 0,
            index: 2,
            offset: 40,
            x: 200,
            y: 299,
            width: 200,
            height: 300
        }
    );
    assert_eq!(
        iso_err(|b| set_u16(b, 42, 300)),
        TemplateError::MinutiaOutsideImage {
            view: 0,
            index: 2,
            offset: 40,
            x: 199,
            y: 300,
            width: 200,
            height: 300
        }
    );
    assert_eq!(
        iso_err(|b| b[79] = 11),
        TemplateError::InvalidFingerPosition {
            view: 1,
            offset: 79,
            value: 11
        }
    );
    assert_eq!(
        iso_err(|b| b[83] |= 0xc0),
        TemplateError::InvalidMinutiaType {
            view: 1,
            index: 0,
            offset: 83
        }
    );
    assert_eq!(
        iso_err(|b| b[26] = 101),
        TemplateError::InvalidQuality {
            view: 0,
            minutia: None,
            offset: 26,
            value: 101
        }
    );
    assert_eq!(
        iso_err(|b| b[39] = 200),
        TemplateError::InvalidQuality {
            view: 0,
            minutia: Some(1),
            offset: 39,
            value: 200
        }
    );
    assert!(matches!(
        iso_err(|b| b[36] |= 0x40),
        TemplateError::InvalidField { offset: 36, .. }
    ));

    let mut bytes = base_ansi();
    bytes[30 + 6 + 4] = 180;
    assert_eq!(
        template::decode(&bytes).unwrap_err(),
        TemplateError::InvalidAngle {
            view: 0,
            index: 1,
            offset: 40,
            value: 180
        }
    );
}

#[test]
fn malformed_extended_data_is_rejected() {
    assert_eq!(
        iso_err(|b| set_u16(b, 50, 3)),
        ext_err(48, ExtendedDataFault::BlockTooShort { length: 3 })
    );
    assert_eq!(
        iso_err(|b| set_u16(b, 50, 40)),
        ext_err(
            48,
            ExtendedDataFault::BlockPastEnd {
                length: 40,
                remaining: 31
            }
        )
    );
    assert_eq!(
        iso_err(|b| set_u16(b, 46, 60)),
        ext_err(
            46,
            ExtendedDataFault::AreaPastEnd {
                length: 60,
                remaining: 43
            }
        )
    );
    assert_eq!(
        iso_err(|b| set_u16(b, 46, 30)),
        ext_err(
            74,
            ExtendedDataFault::BlockPastEnd {
                length: 5,
                remaining: 4
            }
        )
    );
    assert_eq!(
        iso_err(|b| set_u16(b, 46, 28)),
        ext_err(74, ExtendedDataFault::HeaderTruncated { remaining: 2 })
    );
    assert_eq!(
        iso_err(|b| set_u16(b, 50, 10)),
        ext_err(48, ExtendedDataFault::RidgeCountMisaligned { data_len: 5 })
    );
    assert_eq!(
        iso_err(|b| set_u16(b, 50, 4)),
        ext_err(48, ExtendedDataFault::RidgeCountEmpty)
    );
    assert_eq!(
        iso_err(|b| b[69] = 0),
        ext_err(59, ExtendedDataFault::CoreDeltaTrailing { extra: 4 })
    );
    assert_eq!(
        iso_err(|b| b[69] = 2),
        ext_err(59, ExtendedDataFault::CoreDeltaTruncated)
    );
    assert!(matches!(
        iso_err(|b| b[64] |= 0x80),
        TemplateError::ExtendedData {
            view: 0,
            offset: 59,
            fault: ExtendedDataFault::CoreDeltaInfoType { .. }
        }
    ));
}

/// Decodes with every entry point; a successful decode must survive re-encoding.
fn exercise(bytes: &[u8]) -> bool {
    let _ = detect(bytes);
    let _ = iso::decode(bytes);
    let _ = ansi::decode(bytes);
    match template::decode(bytes) {
        Ok(record) => {
            let again = template::decode(&record.encode().unwrap()).unwrap();
            assert_eq!(again, record);
            true
        }
        Err(err) => {
            assert!(!err.to_string().is_empty());
            false
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x7467);
    let mut accepted = 0;
    for i in 0..20_000 {
        let len = rng.gen_range(0..200);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        if i % 4 != 0 && bytes.len() >= 14 {
            bytes[..8].copy_from_slice(b"FMR\0 20\0");
            let n = bytes.len();
            match i % 4 {
                1 => set_u32(&mut bytes, 8, n as u32),
                2 => set_u16(&mut bytes, 8, n as u16),
                _ => {}
            }
            if n >= 25 && rng.gen_bool(0.5) {
                bytes[22] %= 3;
                bytes[24] %= 3;
            }
        }
        accepted += usize::from(exercise(&bytes));
    }
    assert!(accepted < 20_000);
}

#[test]
fn truncations_of_valid_records_are_rejected() {
    for bytes in [base_iso(), base_ansi()] {
        for cut in 0..bytes.len() {
            assert!(!exercise(&bytes[..cut]), "cut at {cut} accepted");
        }
        assert!(exercise(&bytes));
    }
}

#[test]
fn byte_mutations_never_panic() {
    let (mut accepted, mut tried) = (0, 0);
    for bytes in [base_iso(), base_ansi()] {
        for at in 0..bytes.len() {
            for mutation in [0x01u8, 0x40, 0x80, 0xff] {
                let mut m = bytes.clone();
                m[at] ^= mutation;
                accepted += usize::from(exercise(&m));
                tried += 1;
            }
            for value in [0x00u8, 0xff] {
                let mut m = bytes.clone();
                m[at] = value;
                accepted += usize::from(exercise(&m));
                tried += 1;
            }
        }
    }
    // Flips inside angles, qualities and vendor bytes still decode; most others do not.
    assert!(
        accepted > 0 && accepted < tried,
        "{accepted} of {tried} accepted"
    );
}

#[test]
fn extreme_length_and_count_fields_never_panic() {
    let iso_bytes = base_iso();
    let ansi_bytes = base_ansi();
    let n = iso_bytes.len() as u32;
    for v in [
        0,
        1,
        23,
        24,
        25,
        26,
        n - 1,
        n + 1,
        0xffff,
        0x1_0000,
        0x00ff_ffff,
        u32::MAX,
    ] {
        let mut m = iso_bytes.clone();
        set_u32(&mut m, 8, v);
        exercise(&m);
        let mut m = ansi_bytes.clone();
        set_u16(&mut m, 8, v as u16);
        exercise(&m);
        let mut m = ansi_bytes.clone();
        set_u16(&mut m, 8, 0);
        m.splice(10..10, v.to_be_bytes());
        exercise(&m);
    }
    // Counts and inner lengths: view count, minutia counts, area and block lengths.
    for at in [22usize, 27, 82] {
        for v in [0u8, 1, 2, 127, 255] {
            let mut m = iso_bytes.clone();
            m[at] = v;
            exercise(&m);
            let mut m = ansi_bytes.clone();
            m[at + 2] = v;
            exercise(&m);
        }
    }
    for at in [46usize, 50, 52, 54, 61, 76, 89] {
        for v in [0u16, 1, 3, 4, 5, 0x7fff, 0xffff] {
            let mut m = iso_bytes.clone();
            set_u16(&mut m, at, v);
            exercise(&m);
            let mut m = ansi_bytes.clone();
            set_u16(&mut m, at + 2, v);
            exercise(&m);
        }
    }
}
