//! Asynchronous answers: `202` with the `transactionId`, then the result POSTed to the
//! loopback receiver with `?transactionId=`, every body checked against the document.

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_receive_results_and_failures() {
    if fvc_root().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let spec = Spec::load();
    let (cb, mut rx) = receiver().await;
    let cb_q: String = url::form_urlencoded::byte_serialize(cb.as_bytes()).collect();
    let admin = Some(ADMIN_KEY);
    let body = encounter(fixture_items(), None);

    // Create: 202 with the transaction id, then the ids at the callback.
    let r = send(
        Method::POST,
        &s.osia(&format!("/v1/persons?transactionId=a%201&callback={cb_q}")),
        admin,
        Some(&body),
    )
    .await;
    spec.check("post", "/v1/persons", &r);
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.json(), json!("a 1"));
    let got = next(&mut rx).await;
    assert_eq!(got.query, "transactionId=a+1");
    spec.check_callback("post", "/v1/persons", &got, false);
    let person = got.body["personId"].as_str().unwrap().to_owned();
    let encounter_id = got.body["encounterId"].as_str().unwrap().to_owned();
    // The create was durable before the 202: the encounter reads back.
    let r = send(
        Method::GET,
        &s.osia(&format!(
            "/v1/persons/{person}/encounters/{encounter_id}?transactionId=a-2"
        )),
        admin,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    // createEncounter: 201 synchronously, the ids at the callback.
    let tpl = "/v1/persons/{personId}/encounters/{encounterId}";
    let r = send(
        Method::POST,
        &s.osia(&format!(
            "/v1/persons/p2/encounters/e2?transactionId=a-3&callback={cb_q}"
        )),
        admin,
        Some(&body),
    )
    .await;
    spec.check("post", tpl, &r);
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let got = next(&mut rx).await;
    spec.check_callback("post", tpl, &got, false);
    assert_eq!(got.body, json!({"personId": "p2", "encounterId": "e2"}));

    // Identify: the candidates at the callback.
    let probe = json!({"filter": {}, "biometricData": fixture_items()});
    let r = send(
        Method::POST,
        &s.osia(&format!(
            "/v1/identify/default?transactionId=a-4&callback={cb_q}"
        )),
        Some(ADMIN_KEY),
        Some(&probe),
    )
    .await;
    spec.check("post", "/v1/identify/{galleryId}", &r);
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let got = next(&mut rx).await;
    assert_eq!(got.query, "transactionId=a-4");
    spec.check_callback("post", "/v1/identify/{galleryId}", &got, false);
    let ids: Vec<&str> = got
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["personId"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"p2") && ids.contains(&person.as_str()),
        "{}",
        got.body
    );

    // A status update: "OK".
    let status = "/persons/{personId}/encounters/{encounterId}/status";
    let r = send(
        Method::PUT,
        &s.osia(&format!(
            "/persons/p2/encounters/e2/status?status=INACTIVE&transactionId=a-5&callback={cb_q}"
        )),
        admin,
        None,
    )
    .await;
    spec.check("put", status, &r);
    let got = next(&mut rx).await;
    spec.check_callback("put", status, &got, false);
    assert_eq!(got.body, json!("OK"));

    // Galleries and verification.
    let r = send(
        Method::GET,
        &s.osia(&format!("/v1/galleries?transactionId=a-6&callback={cb_q}")),
        admin,
        None,
    )
    .await;
    spec.check("get", "/v1/galleries", &r);
    let got = next(&mut rx).await;
    spec.check_callback("get", "/v1/galleries", &got, false);
    assert_eq!(got.body, json!(["default"]));
    let two = json!({"biometricData1": fixture_items(), "biometricData2": fixture_items()});
    let r = send(
        Method::POST,
        &s.osia(&format!("/v1/verify?transactionId=a-7&callback={cb_q}")),
        admin,
        Some(&two),
    )
    .await;
    spec.check("post", "/v1/verify", &r);
    let got = next(&mut rx).await;
    spec.check_callback("post", "/v1/verify", &got, false);
    assert_eq!(got.body["decision"], true);

    // A failure of the operation goes to the callback as an Error.
    let r = send(
        Method::DELETE,
        &s.osia(&format!(
            "/v1/persons/nobody?transactionId=a-8&callback={cb_q}"
        )),
        admin,
        None,
    )
    .await;
    spec.check("delete", "/v1/persons/{personId}", &r);
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let got = next(&mut rx).await;
    spec.check_callback("delete", "/v1/persons/{personId}", &got, true);
    assert_eq!(got.body["code"], 404);

    // Faults of the request itself are answered at once, never posted.
    let bad = json!({"filter": {}, "biometricData": []});
    let r = send(
        Method::POST,
        &s.osia(&format!(
            "/v1/identify/default?transactionId=a-9&callback={cb_q}"
        )),
        admin,
        Some(&bad),
    )
    .await;
    spec.check("post", "/v1/identify/{galleryId}", &r);
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, 7));
    let elsewhere: String =
        url::form_urlencoded::byte_serialize(b"http://callbacks.example/cb").collect();
    let r = send(
        Method::GET,
        &s.osia(&format!(
            "/v1/galleries?transactionId=a-10&callback={elsewhere}"
        )),
        admin,
        None,
    )
    .await;
    spec.check("get", "/v1/galleries", &r);
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, 4));
    let r = send(
        Method::GET,
        &s.osia("/v1/galleries?transactionId=a-11&callback=ftp%3A%2F%2F127.0.0.1%2Fcb"),
        admin,
        None,
    )
    .await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, 4));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err(), "nothing else was posted");
    s.stop().await;
}
