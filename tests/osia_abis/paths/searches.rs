//! The search paths of the walk through every path: identify by data and by person,
//! verify by person and on two sets, and the galleries.

use super::super::harness::*;
use super::{person_ids, Call};

pub(super) async fn identify_verify_and_galleries(
    c: &Call<'_>,
    admin: Option<&str>,
    analyst: Option<&str>,
    pa: &str,
    ea1: &str,
    status: &str,
) {
    let pa = pa.to_owned();
    // Identify: the default gallery holds every encounter made without galleries.
    let probe = json!({"filter": {}, "biometricData": fixture_items()});
    let ident = "/v1/identify/{galleryId}";
    let r = c
        .go(
            Method::POST,
            ident,
            "/v1/identify/default?transactionId=t-18&maxNbCand=5",
            analyst,
            Some(&probe),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let found = r.json();
    // ea1 is INACTIVE: pa is a candidate through ea2 only if ea2 is in default (it is not).
    assert_eq!(person_ids(&found), ["pb"], "{found}");
    assert_eq!(found[0]["rank"], 1);
    let r = c
        .go(
            Method::POST,
            ident,
            "/v1/identify/g1?transactionId=t-19",
            analyst,
            Some(&probe),
        )
        .await;
    assert_eq!(person_ids(&r.json()), [pa.as_str()], "{}", r.json());
    let filtered =
        json!({"filter": {"dateOfBirthMin": "1990-01-01"}, "biometricData": fixture_items()});
    let r = c
        .go(
            Method::POST,
            ident,
            "/v1/identify/default?transactionId=t-20",
            analyst,
            Some(&filtered),
        )
        .await;
    assert_eq!(r.json(), json!([]));
    let r = c
        .go(
            Method::POST,
            ident,
            "/v1/identify/nope?transactionId=t-21",
            analyst,
            Some(&probe),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, 3));
    let r = c
        .go(
            Method::POST,
            ident,
            "/v1/identify/default?transactionId=t-22&threshold=1000000",
            analyst,
            Some(&probe),
        )
        .await;
    assert_eq!(r.json(), json!([]), "no candidate reaches that threshold");
    let r = c
        .go(
            Method::PUT,
            status,
            &format!("/persons/{pa}/encounters/{ea1}/status?transactionId=t-23&status=ACTIVE"),
            admin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let from_id = "/v1/identify/{galleryId}/{personId}";
    let r = c
        .go(
            Method::POST,
            from_id,
            "/v1/identify/default/pb?transactionId=t-24",
            analyst,
            Some(&json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    assert_eq!(
        person_ids(&r.json()),
        [pa.as_str()],
        "the person itself is left out"
    );
    let r = c
        .go(
            Method::POST,
            from_id,
            "/v1/identify/default/nobody?transactionId=t-25",
            analyst,
            Some(&json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Verify.
    let verify_id = "/v1/verify/{galleryId}/{personId}";
    let v = json!({"biometricData": fixture_items()});
    let r = c
        .go(
            Method::POST,
            verify_id,
            &format!("/v1/verify/default/{pa}?transactionId=t-26"),
            analyst,
            Some(&v),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    assert_eq!(r.json()["decision"], true, "{}", r.json());
    let r = c
        .go(
            Method::POST,
            verify_id,
            "/v1/verify/default/nobody?transactionId=t-27",
            analyst,
            Some(&v),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let two = json!({"biometricData1": fixture_items(), "biometricData2": fixture_items()});
    let r = c
        .go(
            Method::POST,
            "/v1/verify",
            "/v1/verify?transactionId=t-28",
            analyst,
            Some(&two),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    assert_eq!(r.json()["decision"], true);
    let r = c
        .go(
            Method::POST,
            "/v1/verify",
            "/v1/verify?transactionId=t-29&threshold=1000000",
            analyst,
            Some(&two),
        )
        .await;
    assert_eq!(r.json()["decision"], false);

    // Galleries.
    let r = c
        .go(
            Method::GET,
            "/v1/galleries",
            "/v1/galleries?transactionId=t-30",
            analyst,
            None,
        )
        .await;
    assert_eq!(r.json(), json!(["default", "g1"]));
    let content = "/v1/galleries/{galleryId}";
    let r = c
        .go(
            Method::GET,
            content,
            "/v1/galleries/default?transactionId=t-31",
            analyst,
            None,
        )
        .await;
    assert_eq!(r.json().as_array().unwrap().len(), 2, "{}", r.json());
    let r = c
        .go(
            Method::GET,
            content,
            "/v1/galleries/default?transactionId=t-32&offset=1&limit=1",
            analyst,
            None,
        )
        .await;
    assert_eq!(r.json(), json!([{"personId": "pb", "encounterId": "eb1"}]));
    let r = c
        .go(
            Method::GET,
            content,
            "/v1/galleries/nope?transactionId=t-33",
            analyst,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
