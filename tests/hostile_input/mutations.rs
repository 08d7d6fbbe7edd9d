//! The mutations of a valid enrolment the drill sends, each with the reason it must get.

use super::*;

pub(crate) fn ansi_template(position: u8) -> Vec<u8> {
    let minutiae = (0..30u16)
        .map(|i| RawMinutia {
            kind: 1,
            x: 30 + i * 9,
            y: 40 + i * 11,
            angle: (i * 5 % 180) as u8,
            quality: 60,
        })
        .collect();
    ansi::encode(&AnsiRecord {
        width: 400,
        height: 500,
        res_x: 197,
        res_y: 197,
        views: vec![FingerView {
            position,
            quality: 80,
            minutiae,
            ..FingerView::default()
        }],
        ..AnsiRecord::default()
    })
    .unwrap()
}

pub(crate) fn with_template(bytes: &[u8], format: &str) -> Value {
    let mut body = enrolment("hostile-t", 1);
    body["fingerprints"][0]["template"] = json!(STANDARD.encode(bytes));
    body["fingerprints"][0]["format"] = json!(format);
    body
}

/// Mutations of a valid enrolment and the reason each must be answered with.
pub(crate) fn mutations() -> Vec<(&'static str, Value, &'static str)> {
    let base = || enrolment("hostile-m", 1);
    let mut cases: Vec<(&'static str, Value, &'static str)> = Vec::new();
    let mut add = |name, f: &dyn Fn(&mut Value), reason| {
        let mut b = base();
        f(&mut b);
        cases.push((name, b, reason));
    };
    add(
        "bad base64",
        &|b| b["fingerprints"][2]["template"] = json!("@@not base64@@"),
        "bad_base64",
    );
    add(
        "base64 with whitespace",
        &|b| b["fingerprints"][2]["template"] = json!("Rk1S AAAg"),
        "bad_base64",
    );
    add(
        "base64 bad padding",
        &|b| b["fingerprints"][2]["template"] = json!("Rk1SAA="),
        "bad_base64",
    );
    add(
        "empty template",
        &|b| b["fingerprints"][2]["template"] = json!(""),
        "template_truncated",
    );
    add(
        "not a minutiae record",
        &|b| {
            b["fingerprints"][0]["template"] =
                json!(STANDARD.encode(b"GIF89a not a template at all"))
        },
        "template_unknown_record",
    );
    add(
        "misspelt top-level member",
        &|b| b["callbak_url"] = json!("https://example.org/notify"),
        "unknown_field",
    );
    add(
        "unknown member of a fingerprint",
        &|b| b["fingerprints"][0]["qualty"] = json!(80),
        "unknown_field",
    );
    add(
        "truncated ISO header",
        &|b| b["fingerprints"][0]["template"] = json!(STANDARD.encode(&iso_template(1, 3)[..20])),
        "template_truncated",
    );
    add(
        "truncated ISO minutiae",
        &|b| {
            let t = iso_template(1, 3);
            b["fingerprints"][0]["template"] = json!(STANDARD.encode(&t[..t.len() - 7]))
        },
        "template_truncated",
    );
    add(
        "ISO length field too large",
        &|b| {
            let mut t = iso_template(1, 3);
            t[8..12].copy_from_slice(&0x00ff_ffffu32.to_be_bytes());
            b["fingerprints"][0]["template"] = json!(STANDARD.encode(t))
        },
        "template_truncated|template_malformed",
    );
    add(
        "ISO length field below header",
        &|b| {
            let mut t = iso_template(1, 3);
            t[8..12].copy_from_slice(&5u32.to_be_bytes());
            b["fingerprints"][0]["template"] = json!(STANDARD.encode(t))
        },
        "template_truncated|template_malformed",
    );
    add(
        "ISO with zero views",
        &|b| {
            let mut t = iso_template(1, 3);
            t[22] = 0;
            b["fingerprints"][0]["template"] = json!(STANDARD.encode(t))
        },
        "template_malformed",
    );
    add(
        "ANSI declared as ISO",
        &|b| b["fingerprints"][0]["template"] = json!(STANDARD.encode(ansi_template(1))),
        "template_format_mismatch",
    );
    add(
        "ISO declared as ANSI",
        &|b| b["fingerprints"][0]["format"] = json!("ansi378"),
        "template_format_mismatch",
    );
    add(
        "truncated ANSI",
        &|b| {
            let t = ansi_template(1);
            b["fingerprints"][0]["format"] = json!("ansi378");
            b["fingerprints"][0]["template"] = json!(STANDARD.encode(&t[..t.len() - 5]))
        },
        "template_truncated",
    );
    add(
        "ANSI length field too large",
        &|b| {
            let mut t = ansi_template(1);
            t[8..10].copy_from_slice(&0xfff0u16.to_be_bytes());
            b["fingerprints"][0]["format"] = json!("ansi378");
            b["fingerprints"][0]["template"] = json!(STANDARD.encode(t))
        },
        "template_truncated",
    );
    add(
        "ANSI long length field too large",
        &|b| {
            let mut t = ansi_template(1);
            let mut long = t[..8].to_vec();
            long.extend_from_slice(&[0, 0]);
            long.extend_from_slice(&0x7fff_ffffu32.to_be_bytes());
            long.extend_from_slice(&t.split_off(10));
            b["fingerprints"][0]["format"] = json!("ansi378");
            b["fingerprints"][0]["template"] = json!(STANDARD.encode(long))
        },
        "template_truncated",
    );
    add(
        "ANSI minutiae count beyond the record",
        &|b| {
            let mut t = ansi_template(1);
            // The first view header (position, view/impression, quality, count) follows the
            // 26-byte record header.
            t[26 + 3] = 200;
            b["fingerprints"][0]["format"] = json!("ansi378");
            b["fingerprints"][0]["template"] = json!(STANDARD.encode(t))
        },
        "template_malformed",
    );
    add(
        "unknown template format",
        &|b| b["fingerprints"][0]["format"] = json!("wsq"),
        "unknown_template_format",
    );
    add(
        "finger position 11",
        &|b| b["fingerprints"][0]["position"] = json!(11),
        "unknown_finger_position",
    );
    add(
        "finger position 0",
        &|b| b["fingerprints"][0]["position"] = json!(0),
        "unknown_finger_position",
    );
    add(
        "finger position negative",
        &|b| b["fingerprints"][0]["position"] = json!(-3),
        "unknown_finger_position",
    );
    add(
        "finger position i64 max",
        &|b| b["fingerprints"][0]["position"] = json!(i64::MAX),
        "unknown_finger_position",
    );
    add(
        "finger position as float",
        &|b| b["fingerprints"][0]["position"] = json!(1.5),
        "malformed_json",
    );
    add(
        "finger position as string",
        &|b| b["fingerprints"][0]["position"] = json!("1"),
        "malformed_json",
    );
    add(
        "template of another finger",
        &|b| {
            b["fingerprints"][0]["position"] = json!(2);
            b["fingerprints"][1]["position"] = json!(1)
        },
        "finger_position_mismatch",
    );
    add(
        "duplicate finger positions",
        &|b| b["fingerprints"][9]["position"] = json!(1),
        "duplicate_finger_position",
    );
    add(
        "eleven fingerprints",
        &|b| {
            let extra = b["fingerprints"][0].clone();
            b["fingerprints"].as_array_mut().unwrap().push(extra)
        },
        "too_many_templates",
    );
    add(
        "three irises",
        &|b| {
            let extra = b["irises"][0].clone();
            b["irises"].as_array_mut().unwrap().push(extra)
        },
        "too_many_templates",
    );
    add(
        "quality 101",
        &|b| b["fingerprints"][3]["quality"] = json!(101),
        "invalid_quality",
    );
    add(
        "quality negative",
        &|b| b["fingerprints"][3]["quality"] = json!(-1),
        "invalid_quality",
    );
    add(
        "quality 1e30",
        &|b| b["fingerprints"][3]["quality"] = json!(1e30),
        "malformed_json",
    );
    add(
        "no fingerprints",
        &|b| b["fingerprints"] = json!([]),
        "too_few_fingers",
    );
    add(
        "fingerprints null",
        &|b| b["fingerprints"] = Value::Null,
        "malformed_json",
    );
    add(
        "wrong iris layout",
        &|b| b["irises"][0]["layout"] = json!("daugman-4096"),
        "unknown_iris_layout",
    );
    add(
        "iris code too short",
        &|b| b["irises"][0]["code"] = json!(STANDARD.encode([1u8; 17])),
        "iris_wrong_length",
    );
    add(
        "iris mask empty",
        &|b| b["irises"][1]["mask"] = json!(""),
        "iris_wrong_length",
    );
    add(
        "iris all masked",
        &|b| b["irises"][1]["mask"] = json!(STANDARD.encode(vec![0u8; 256])),
        "iris_unusable",
    );
    add(
        "iris unknown eye",
        &|b| b["irises"][0]["eye"] = json!("middle"),
        "unknown_iris_eye",
    );
    add(
        "two left irises",
        &|b| b["irises"][1]["eye"] = json!("left"),
        "duplicate_iris_eye",
    );
    add(
        "iris bad base64",
        &|b| b["irises"][0]["code"] = json!("%%%"),
        "bad_base64",
    );
    add(
        "NIK with a bad date",
        &|b| b["nik"] = json!("3171019999900001"),
        "nik_invalid_date",
    );
    add(
        "NIK 31 February",
        &|b| b["nik"] = json!("3171017102900001"),
        "nik_invalid_date",
    );
    add(
        "NIK with letters",
        &|b| b["nik"] = json!("31710145089O0001"),
        "nik_malformed",
    );
    add(
        "NIK of 17 digits",
        &|b| b["nik"] = json!("31710145089000011"),
        "nik_malformed",
    );
    add(
        "NIK with Arabic-Indic digits",
        &|b| b["nik"] = json!("٣١٧١٠١٤٥٠٨٩٠٠٠٠١"),
        "nik_malformed",
    );
    add(
        "NIK serial 0000",
        &|b| b["nik"] = json!("3171014508900000"),
        "nik_invalid_serial",
    );
    add(
        "NIK unknown province",
        &|b| b["nik"] = json!("0171014508900001"),
        "nik_invalid_region",
    );
    add(
        "NIK disagrees with sex",
        &|b| b["sex"] = json!("male"),
        "nik_mismatch",
    );
    add(
        "date of birth not a date",
        &|b| b["date_of_birth"] = json!("1990-02-30"),
        "invalid_date_of_birth",
    );
    add(
        "date of birth in the future",
        &|b| b["date_of_birth"] = json!("2990-08-05"),
        "invalid_date_of_birth",
    );
    add(
        "request_id with spaces",
        &|b| b["request_id"] = json!("a b"),
        "invalid_request_id",
    );
    add(
        "request_id of 10k chars",
        &|b| b["request_id"] = json!("x".repeat(10_000)),
        "invalid_request_id",
    );
    add(
        "request_id empty",
        &|b| b["request_id"] = json!(""),
        "invalid_request_id",
    );
    add(
        "name with control characters",
        &|b| b["name"] = json!("Siti\u{0007}Rahayu"),
        "invalid_name",
    );
    add(
        "name of 10k chars",
        &|b| b["name"] = json!("a".repeat(10_000)),
        "invalid_name",
    );
    add("sex unknown", &|b| b["sex"] = json!("x"), "invalid_sex");
    add(
        "district malformed",
        &|b| b["district"] = json!("31710"),
        "invalid_district_code",
    );
    add(
        "citizenship unknown",
        &|b| b["citizenship"] = json!("XYZ"),
        "unknown_citizenship",
    );
    add(
        "WNA without documents",
        &|b| b["citizenship"] = json!("WNA"),
        "missing_wna_documents",
    );
    add(
        "WNI with passport",
        &|b| b["passport_number"] = json!("A1234567"),
        "unexpected_wna_documents",
    );
    add(
        "callback over http",
        &|b| b["callback_url"] = json!("http://example.org/cb"),
        "invalid_callback_url",
    );
    add(
        "photo too large",
        &|b| b["photo"] = json!(STANDARD.encode(vec![0u8; 200 * 1024])),
        "body_too_large",
    );
    add(
        "missing field",
        &|b| {
            b.as_object_mut().unwrap().remove("nik");
        },
        "malformed_json",
    );
    add(
        "field of the wrong type",
        &|b| b["irises"] = json!("two"),
        "malformed_json",
    );
    cases
}
