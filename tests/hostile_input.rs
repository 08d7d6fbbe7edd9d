//! Hostile-input drill: malformed bodies and templates (the hand-made corpus in
//! `tests/corpus/hostile/`, mutations of a valid enrolment, and every record of
//! `../shared/datasets/iso-edge-cases/` as a finger template) are answered with
//! `application/problem+json` and a reason: no 500, no hang, no panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ops_harness;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ops_harness::{
    config, enrolment, http, iso_template, post_json, request_bytes, service_point_key, shared_dir,
    start, PreparingEngine, Reply, ADMIN_KEY,
};
use serde_json::{json, Value};
use tunggal_index::template::ansi::{self, AnsiRecord};
use tunggal_index::template::{FingerView, RawMinutia};

const ENDPOINTS: [&str; 3] = ["/v1/enrolments", "/v1/identify", "/v1/verify"];

/// Sends with a bound: a hang is a failure.
async fn bounded(addr: SocketAddr, request: Vec<u8>) -> Reply {
    tokio::time::timeout(Duration::from_secs(30), http(addr, &request))
        .await
        .expect("request hung")
        .expect("connection failed")
}

fn json_request(path: &str, key: &str, body: &[u8]) -> Vec<u8> {
    let auth = format!("Bearer {key}");
    request_bytes(
        "POST",
        path,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body,
    )
}

/// Asserts no server error and a problem+json answer; returns the reason.
fn must_be_problem(reply: &Reply, what: &str) -> String {
    assert!(
        reply.status >= 400 && reply.status < 500,
        "{what}: status {} body {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    reply.problem_reason()
}

fn ansi_template(position: u8) -> Vec<u8> {
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

fn with_template(bytes: &[u8], format: &str) -> Value {
    let mut body = enrolment("hostile-t", 1);
    body["fingerprints"][0]["template"] = json!(STANDARD.encode(bytes));
    body["fingerprints"][0]["format"] = json!(format);
    body
}

/// Mutations of a valid enrolment and the reason each must be answered with.
fn mutations() -> Vec<(&'static str, Value, &'static str)> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_are_answered_with_problems() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()), PreparingEngine::new()).await;
    let addr = server.addr;
    let sp = service_point_key(addr).await;
    let analyst = {
        let body = json!({"role": "analyst", "name": "A"});
        let r = post_json(
            addr,
            "/v1/admin/keys",
            ADMIN_KEY,
            &serde_json::to_vec(&body).unwrap(),
        )
        .await;
        assert_eq!(r.status, 201);
        r.json()["key"].as_str().unwrap().to_owned()
    };
    let key_for = |path: &str| {
        if path == "/v1/enrolments" {
            sp.clone()
        } else {
            analyst.clone()
        }
    };

    // 1. The hand-made corpus, on every endpoint that takes a body.
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/hostile");
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "md"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "corpus missing");
    for file in &files {
        let body = std::fs::read(file).unwrap();
        for path in ENDPOINTS {
            let reply = bounded(addr, json_request(path, &key_for(path), &body)).await;
            let reason = must_be_problem(&reply, &format!("{} on {path}", file.display()));
            // The corpus is written as enrolment bodies: on the other endpoints, an enrolment
            // member met before the fault is refused as an unknown field.
            let allowed: &[&str] = if path == "/v1/enrolments" {
                &["malformed_json"]
            } else {
                &["malformed_json", "unknown_field"]
            };
            assert!(
                allowed.contains(&reason.as_str()),
                "{} on {path}: {reason}",
                file.display()
            );
        }
    }

    // 2. Deeply nested JSON (far past serde_json's recursion limit) and long flat arrays.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(40_000), "}".repeat(40_000));
    for body in [deep, deep_object] {
        for path in ENDPOINTS {
            let reply = bounded(addr, json_request(path, &key_for(path), body.as_bytes())).await;
            // The nested object's member `a` is no request member: refused as such or as
            // too deep, never parsed to the end.
            let reason = must_be_problem(&reply, "deep nesting");
            assert!(
                reason == "malformed_json" || reason == "unknown_field",
                "deep nesting on {path}: {reason}"
            );
        }
    }

    // 3. Too many templates: a record with thousands of fingerprints and irises.
    let mut many = enrolment("hostile-many", 1);
    let finger = many["fingerprints"][0].clone();
    let iris = many["irises"][0].clone();
    let fingers: Vec<Value> = (0..3000i64)
        .map(|i| {
            let mut f = finger.clone();
            f["position"] = json!(i + 1);
            f["template"] = json!("");
            f
        })
        .collect();
    many["fingerprints"] = json!(fingers);
    many["irises"] = json!(vec![iris; 50]);
    let body = serde_json::to_vec(&many).unwrap();
    let reply = bounded(addr, json_request("/v1/enrolments", &sp, &body)).await;
    assert_eq!(
        must_be_problem(&reply, "too many templates"),
        "too_many_templates"
    );

    // 4. Mutations of a valid enrolment, each with its precise reason.
    for (i, (name, mut body, expected)) in mutations().into_iter().enumerate() {
        if body["request_id"] == json!("hostile-m") {
            body["request_id"] = json!(format!("hostile-m{i}"));
        }
        let bytes = serde_json::to_vec(&body).unwrap();
        let reply = bounded(addr, json_request("/v1/enrolments", &sp, &bytes)).await;
        let reason = must_be_problem(&reply, name);
        // Where the format detection may read a broken length field either way, `expected`
        // lists the acceptable reasons separated by `|`.
        assert!(
            expected.split('|').any(|e| e == reason),
            "{name}: expected {expected}, got {}",
            String::from_utf8_lossy(&reply.body)
        );
    }

    // 5. Transport-level faults: content types, oversized bodies, lying lengths, no key.
    let valid = serde_json::to_vec(&enrolment("hostile-ct", 2)).unwrap();
    let auth = format!("Bearer {sp}");
    for (name, headers, reason) in [
        (
            "text/plain",
            vec![
                ("authorization", auth.as_str()),
                ("content-type", "text/plain"),
            ],
            "unsupported_media_type",
        ),
        (
            "no content type",
            vec![("authorization", auth.as_str())],
            "unsupported_media_type",
        ),
        (
            "json with garbage suffix",
            vec![
                ("authorization", auth.as_str()),
                ("content-type", "application/jsonx"),
            ],
            "unsupported_media_type",
        ),
        (
            "no key",
            vec![("content-type", "application/json")],
            "unauthorized",
        ),
        (
            "basic auth",
            vec![
                ("authorization", "Basic YTpi"),
                ("content-type", "application/json"),
            ],
            "unauthorized",
        ),
    ] {
        let reply = bounded(
            addr,
            request_bytes("POST", "/v1/enrolments", &headers, &valid),
        )
        .await;
        assert_eq!(must_be_problem(&reply, name), reason, "{name}");
    }
    let oversized = vec![b' '; 300 * 1024];
    let reply = bounded(addr, json_request("/v1/enrolments", &sp, &oversized)).await;
    assert_eq!(must_be_problem(&reply, "oversized body"), "body_too_large");
    let reply = bounded(addr, {
        let mut r = format!(
            "POST /v1/enrolments HTTP/1.1\r\nhost: x\r\nconnection: close\r\nauthorization: {auth}\r\n\
             content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        for _ in 0..40 {
            r.extend_from_slice(format!("{:x}\r\n", 8192).as_bytes());
            r.extend_from_slice(&[b' '; 8192]);
            r.extend_from_slice(b"\r\n");
        }
        r.extend_from_slice(b"0\r\n\r\n");
        r
    })
    .await;
    assert_eq!(
        must_be_problem(&reply, "oversized chunked body"),
        "body_too_large"
    );

    // 6. Every shared ISO edge case as finger 1 of an otherwise valid enrolment.
    match shared_dir("iso-edge-cases") {
        None => println!("SKIP shared edge cases: ../shared/datasets/iso-edge-cases is absent"),
        Some(edge) => {
            let mut n = 0;
            for entry in std::fs::read_dir(edge).unwrap() {
                let path = entry.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                for format in ["iso19794-2", "ansi378"] {
                    let mut body = with_template(&bytes, format);
                    body["request_id"] = json!(format!("edge-{n}"));
                    n += 1;
                    let reply = bounded(
                        addr,
                        json_request("/v1/enrolments", &sp, &serde_json::to_vec(&body).unwrap()),
                    )
                    .await;
                    assert!(reply.status < 500, "{}: {}", path.display(), reply.status);
                    let outcome = if reply.status >= 400 {
                        must_be_problem(&reply, &path.display().to_string())
                    } else {
                        format!("accepted {}", reply.status)
                    };
                    println!("edge case {} as {format}: {outcome}", path.display());
                }
            }
            assert!(n >= 10);
        }
    }

    // The server is still healthy after all of it.
    let reply = bounded(addr, request_bytes("GET", "/health", &[], b"")).await;
    assert_eq!(reply.status, 200);
    server.stop().await;
}
