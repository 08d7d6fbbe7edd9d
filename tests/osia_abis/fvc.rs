//! A duplicate found by identification on real images: FVC2002 fingers as OSIA encounters.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::harness::*;

const SUBTYPES: [&str; 10] = [
    "RIGHT_THUMB",
    "RIGHT_INDEX",
    "RIGHT_MIDDLE",
    "RIGHT_RING",
    "RIGHT_LITTLE",
    "LEFT_THUMB",
    "LEFT_INDEX",
    "LEFT_MIDDLE",
    "LEFT_RING",
    "LEFT_LITTLE",
];

/// Ten fingers of database `db` (fingers 101…110, impression `impression`) as one person's
/// finger items: TIFF images, no compression named (read from the bytes), 500 dpi.
fn fvc_items(root: &Path, db: &str, impression: u32) -> Vec<Value> {
    SUBTYPES
        .iter()
        .enumerate()
        .map(|(i, sub)| {
            let path = root.join(format!("{db}/{}_{impression}.tif", 101 + i));
            json!({
                "biometricType": "FINGER",
                "biometricSubType": sub,
                "image": B64.encode(std::fs::read(path).unwrap()),
                "compression": "NONE",
                "resolution": 500,
            })
        })
        .collect()
}

fn person_ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["personId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identify_finds_the_duplicate_among_fvc_persons() {
    let Some(root) = fvc_root() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let spec = Spec::load();
    let admin = Some(ADMIN_KEY);
    let one = "/v1/persons/{personId}/encounters/{encounterId}";
    // Four persons: the ten fingers of each FVC2002 database, first impression.
    for db in ["DB1_B", "DB2_B", "DB3_B", "DB4_B"] {
        let body = encounter(fvc_items(&root, db, 1), None);
        let r = send(
            Method::POST,
            &s.osia(&format!(
                "/v1/persons/{db}/encounters/first?transactionId=f-{db}"
            )),
            admin,
            Some(&body),
        )
        .await;
        spec.check("post", one, &r);
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{db}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // A later capture of DB1_B's person arrives as a new person: identification finds the
    // duplicate, first.
    let probe = json!({"filter": {}, "biometricData": fvc_items(&root, "DB1_B", 2)});
    let r = send(
        Method::POST,
        &s.osia("/v1/identify/default?transactionId=f-id"),
        admin,
        Some(&probe),
    )
    .await;
    spec.check("post", "/v1/identify/{galleryId}", &r);
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let found = r.json();
    assert_eq!(person_ids(&found), ["DB1_B"], "{found}");
    let fingers = found[0]["scoreList"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["biometricType"] == "FINGER")
        .count();
    assert_eq!(fingers, 10, "{found}");
    // Stored as its own person, then identified by id: the same duplicate.
    let body = encounter(fvc_items(&root, "DB1_B", 3), None);
    let r = send(
        Method::POST,
        &s.osia("/v1/persons?transactionId=f-new"),
        admin,
        Some(&body),
    )
    .await;
    spec.check("post", "/v1/persons", &r);
    let newcomer = r.json()["personId"].as_str().unwrap().to_owned();
    let r = send(
        Method::POST,
        &s.osia(&format!(
            "/v1/identify/default/{newcomer}?transactionId=f-id2"
        )),
        admin,
        Some(&json!({})),
    )
    .await;
    spec.check("post", "/v1/identify/{galleryId}/{personId}", &r);
    assert_eq!(person_ids(&r.json()), ["DB1_B"], "{}", r.json());
    // Verification: the same person matches, another does not.
    let v = json!({"biometricData": fvc_items(&root, "DB1_B", 4)});
    for (person, expected) in [("DB1_B", true), ("DB2_B", false)] {
        let r = send(
            Method::POST,
            &s.osia(&format!("/v1/verify/default/{person}?transactionId=f-v")),
            admin,
            Some(&v),
        )
        .await;
        spec.check("post", "/v1/verify/{galleryId}/{personId}", &r);
        assert_eq!(r.json()["decision"], expected, "{person}: {}", r.json());
    }
    s.stop().await;
}
