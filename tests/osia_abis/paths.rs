//! Every OSIA path answered synchronously, every answer checked against the document, and
//! the engine holding exactly the encounters the store says exist.

use super::harness::*;

mod searches;

/// A call checked against the document: `template` names the documented path.
struct Call<'a> {
    s: &'a Running,
    spec: &'a Spec,
}

impl Call<'_> {
    async fn go(
        &self,
        method: Method,
        template: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let r = send(method.clone(), &self.s.osia(path), key, body).await;
        self.spec
            .check(&method.as_str().to_ascii_lowercase(), template, &r);
        r
    }
}

fn ids(v: &Value) -> (String, String) {
    (
        v["personId"].as_str().unwrap().to_owned(),
        v["encounterId"].as_str().unwrap().to_owned(),
    )
}

fn person_ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["personId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_answers_as_the_document_says() {
    if fvc_root().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let spec = Spec::load();
    let c = Call { s: &s, spec: &spec };
    let admin = Some(ADMIN_KEY);
    let analyst_key = key(&s, json!({"role": "analyst", "name": "Analis"})).await;
    let analyst = Some(analyst_key.as_str());
    let sp_key = key(
        &s,
        json!({"role": "service-point", "name": "sp", "district": "317101", "service_point": "sp-1"}),
    )
    .await;
    let origin = tunggal::osia::default_origin();
    let count = |s: &Running| s.engine().count_external(&origin).unwrap();
    let body = encounter(fixture_items(), None);

    // Create: ids chosen by the server, by the person, by both.
    let r = c
        .go(
            Method::POST,
            "/v1/persons",
            "/v1/persons?transactionId=t-1",
            admin,
            Some(&body),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let (pa, ea1) = ids(&r.json());
    let tpl = "/v1/persons/{personId}/encounters";
    let in_g1 = encounter(fixture_items(), Some(vec!["g1"]));
    let r = c
        .go(
            Method::POST,
            tpl,
            &format!("/v1/persons/{pa}/encounters?transactionId=t-2&priority=9"),
            admin,
            Some(&in_g1),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let (pa2, ea2) = ids(&r.json());
    assert_eq!(pa2, pa);
    let one = "/v1/persons/{personId}/encounters/{encounterId}";
    let r = c
        .go(
            Method::POST,
            one,
            "/v1/persons/pb/encounters/eb1?transactionId=t-3",
            admin,
            Some(&body),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = c
        .go(
            Method::POST,
            one,
            "/v1/persons/pb/encounters/eb1?transactionId=t-4",
            admin,
            Some(&body),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["reason"], "osia_encounter_exists");
    assert_eq!(count(&s), 3);

    // Read.
    let r = c
        .go(
            Method::GET,
            tpl,
            &format!("/v1/persons/{pa}/encounters?transactionId=t-5"),
            analyst,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json().as_array().unwrap().len(), 2);
    let r = c
        .go(
            Method::GET,
            tpl,
            "/v1/persons/nobody/encounters?transactionId=t-6",
            analyst,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = c
        .go(
            Method::GET,
            one,
            &format!("/v1/persons/{pa}/encounters/{ea1}?transactionId=t-7"),
            analyst,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let e = r.json();
    assert_eq!(e["encounterId"], ea1.as_str());
    let items = e["biometricData"].as_array().unwrap();
    assert_eq!(items.len(), 5, "{e}");
    assert!(
        items.iter().all(|i| i.get("image").is_none()),
        "images are not kept"
    );
    assert_eq!(items[3]["missing"][0]["presence"], "AMPUTATED");
    let templates = "/v1/persons/{personId}/encounters/{encounterId}/templates";
    let r = c
        .go(
            Method::GET,
            templates,
            &format!("/v1/persons/{pa}/encounters/{ea1}/templates?transactionId=t-8"),
            analyst,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let t = r.json();
    let subs: Vec<&str> = t
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["biometricSubType"].as_str().unwrap())
        .collect();
    assert_eq!(subs, ["RIGHT_THUMB", "RIGHT_INDEX", "RIGHT_MIDDLE"], "{t}");
    for x in t.as_array().unwrap() {
        let bytes = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            x["template"].as_str().unwrap(),
        )
        .unwrap();
        assert!(
            tunggal_index::template::decode(&bytes).is_ok(),
            "the template is a minutiae record"
        );
    }
    let r = c
        .go(
            Method::GET,
            templates,
            &format!(
                "/v1/persons/{pa}/encounters/{ea1}/templates?transactionId=t-9&biometricType=IRIS"
            ),
            analyst,
            None,
        )
        .await;
    assert_eq!(r.json(), json!([]), "irises are not encoded");
    let r = c
        .go(Method::GET, templates, &format!("/v1/persons/{pa}/encounters/{ea1}/templates?transactionId=t-10&templateFormat=ANSI_378&biometricSubType=RIGHT_INDEX"), analyst, None)
        .await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    assert_eq!(r.json()[0]["templateFormat"], "ANSI_378");
    let r = c
        .go(Method::GET, templates, &format!("/v1/persons/{pa}/encounters/{ea1}/templates?transactionId=t-11&qualityFormat=NFIQ2"), analyst, None)
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, 8));

    // Update and status.
    let mut changed = body.clone();
    changed["encounterType"] = json!("renewal");
    let r = c
        .go(
            Method::PUT,
            one,
            &format!("/v1/persons/{pa}/encounters/{ea1}?transactionId=t-12"),
            admin,
            Some(&changed),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(count(&s), 3, "the replaced engine person is deleted");
    let r = c
        .go(
            Method::GET,
            one,
            &format!("/v1/persons/{pa}/encounters/{ea1}?transactionId=t-13"),
            analyst,
            None,
        )
        .await;
    assert_eq!(r.json()["encounterType"], "renewal");
    let r = c
        .go(
            Method::PUT,
            one,
            "/v1/persons/nobody/encounters/x?transactionId=t-14",
            admin,
            Some(&changed),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(count(&s), 3, "a refused update leaves nothing behind");
    let status = "/persons/{personId}/encounters/{encounterId}/status";
    let r = c
        .go(
            Method::PUT,
            status,
            &format!("/persons/{pa}/encounters/{ea1}/status?transactionId=t-15&status=INACTIVE"),
            admin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = c
        .go(
            Method::PUT,
            status,
            &format!("/persons/{pa}/encounters/{ea1}/status?transactionId=t-16&status=GONE"),
            admin,
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, 3));
    let r = c
        .go(
            Method::PUT,
            status,
            "/persons/nobody/encounters/x/status?transactionId=t-17&status=ACTIVE",
            admin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    searches::identify_verify_and_galleries(&c, admin, analyst, &pa, &ea1, status).await;
    let probe = json!({"filter": {}, "biometricData": fixture_items()});
    let ident = "/v1/identify/{galleryId}";

    // Merge: a clash refuses it whole.
    let merge = "/v1/persons/{personIdTarget}/merge/{personIdSource}";
    let r = c
        .go(
            Method::POST,
            one,
            "/v1/persons/pd/encounters/eb1?transactionId=t-34",
            admin,
            Some(&body),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = c
        .go(
            Method::POST,
            merge,
            "/v1/persons/pd/merge/pb?transactionId=t-35",
            admin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = c
        .go(
            Method::POST,
            merge,
            "/v1/persons/pc/merge/pb?transactionId=t-36",
            admin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = c
        .go(
            Method::GET,
            one,
            "/v1/persons/pc/encounters/eb1?transactionId=t-37",
            analyst,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = c
        .go(
            Method::POST,
            merge,
            "/v1/persons/pc/merge/pb?transactionId=t-38",
            admin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Delete.
    assert_eq!(count(&s), 4);
    let r = c
        .go(
            Method::DELETE,
            one,
            &format!("/v1/persons/{pa}/encounters/{ea2}?transactionId=t-39"),
            admin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = c
        .go(
            Method::DELETE,
            one,
            &format!("/v1/persons/{pa}/encounters/{ea2}?transactionId=t-40"),
            admin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let person = "/v1/persons/{personId}";
    let r = c
        .go(
            Method::DELETE,
            person,
            "/v1/persons/pc?transactionId=t-41",
            admin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = c
        .go(
            Method::DELETE,
            person,
            "/v1/persons/pc?transactionId=t-42",
            admin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(count(&s), 2, "pa's first encounter and pd's remain");

    // Refusals.
    let r = c
        .go(
            Method::GET,
            "/v1/galleries",
            "/v1/galleries?transactionId=t-43",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = c
        .go(
            Method::POST,
            "/v1/persons",
            "/v1/persons?transactionId=t-44",
            analyst,
            Some(&body),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (StatusCode::FORBIDDEN, json!("forbidden"))
    );
    let r = c
        .go(
            Method::GET,
            "/v1/galleries",
            "/v1/galleries?transactionId=t-45",
            Some(sp_key.as_str()),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = c
        .go(Method::GET, "/v1/galleries", "/v1/galleries", analyst, None)
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, 2));
    let r = c
        .go(
            Method::GET,
            "/v1/galleries",
            "/v1/galleries?transactionId=t&maxNbCand=3",
            analyst,
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, 3));
    let r = c
        .go(
            Method::POST,
            ident,
            "/v1/identify/default?transactionId=t-46&priority=12",
            analyst,
            Some(&probe),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, 3));
    let r = send(
        Method::POST,
        &s.osia("/v1/persons?transactionId=t-47"),
        admin,
        None,
    )
    .await;
    spec.check("post", "/v1/persons", &r);
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, 1));
    let mut unknown_field = body.clone();
    unknown_field["nik"] = json!("3171010101900001");
    let r = c
        .go(
            Method::POST,
            "/v1/persons",
            "/v1/persons?transactionId=t-48",
            admin,
            Some(&unknown_field),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, 1));
    let by_ref = encounter(
        vec![
            json!({"biometricType": "FINGER", "biometricSubType": "RIGHT_THUMB", "imageRef": "http://images.example/1"}),
        ],
        None,
    );
    let r = c
        .go(
            Method::POST,
            "/v1/persons",
            "/v1/persons?transactionId=t-49",
            admin,
            Some(&by_ref),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, 8));
    let irises_only = encounter(vec![fixture_items()[4].clone()], None);
    let r = c
        .go(
            Method::POST,
            "/v1/persons",
            "/v1/persons?transactionId=t-50",
            admin,
            Some(&irises_only),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, 7));
    let garbage = encounter(
        vec![finger("RIGHT_THUMB", b"not an image at all", "WSQ")],
        None,
    );
    let r = c
        .go(
            Method::POST,
            "/v1/persons",
            "/v1/persons?transactionId=t-51",
            admin,
            Some(&garbage),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, 6));
    // The specification's status path is also served under /v1.
    let r = send(
        Method::PUT,
        &s.osia(&format!(
            "/v1/persons/{pa}/encounters/{ea1}/status?transactionId=t-52&status=ACTIVE"
        )),
        admin,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(count(&s), 2, "refused requests stored nothing");

    spec.assert_every_operation_seen();
    s.stop().await;
}
