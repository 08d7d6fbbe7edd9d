use super::*;
use serde_json::json;

fn new(person: &str, enc: &str, ext: &str, galleries: &[&str]) -> NewEncounter {
    NewEncounter {
        row: EncounterRow {
            person_id: person.into(),
            encounter_id: enc.into(),
            external_id: ext.into(),
            status: "ACTIVE".into(),
            document: json!({"encounterType": "enrolment", "n": enc}),
            galleries: if galleries.is_empty() {
                vec![DEFAULT_GALLERY.to_owned()]
            } else {
                galleries.iter().map(|g| (*g).to_owned()).collect()
            },
        },
        templates: vec![json!({"position": 1}), json!({"position": 2})],
    }
}

fn open(dir: &std::path::Path) -> Encounters {
    Encounters::new(Arc::new(StateStore::open(dir).unwrap()))
}

fn insert(e: &Encounters, n: &NewEncounter) -> bool {
    let store = e.store().clone();
    store.transaction(|tx| insert_in(&store, tx, n)).unwrap()
}

#[test]
fn inserts_claim_their_reference_and_replacements_and_deletions_release_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let store = s.store().clone();
    s.retire("osia-1").unwrap();
    assert!(insert(&s, &new("p", "e1", "osia-1", &[])));
    assert!(s.retired().unwrap().is_empty());
    // A second encounter of the same id changes nothing.
    s.retire("osia-2").unwrap();
    assert!(!insert(&s, &new("p", "e1", "osia-2", &[])));
    assert_eq!(s.retired().unwrap(), ["osia-2"]);
    s.forget("osia-2").unwrap();
    assert!(insert(&s, &new("p", "e2", "osia-3", &["g1"])));
    assert_eq!(s.galleries().unwrap(), [DEFAULT_GALLERY, "g1"]);
    assert!(s.is_member("g1", "osia-3").unwrap());
    assert!(!s.is_member("g1", "osia-1").unwrap());
    let page = s.gallery_content(DEFAULT_GALLERY, 0, 10).unwrap().unwrap();
    assert_eq!(page, [("p".to_owned(), "e1".to_owned())]);
    assert!(s.gallery_content("nope", 0, 10).unwrap().is_none());
    let got = s.get("p", "e2").unwrap().unwrap();
    assert_eq!(got, new("p", "e2", "osia-3", &["g1"]).row);
    assert_eq!(s.templates("p", "e2").unwrap().unwrap().len(), 2);
    assert!(s.templates("p", "e9").unwrap().is_none());
    // Replacing frees the old reference (templates and galleries go with it).
    let mut next = new("p", "e1", "osia-4", &["g1"]);
    next.templates.truncate(1);
    let old = store
        .transaction(|tx| replace_in(&store, tx, &next))
        .unwrap();
    assert_eq!(old.as_deref(), Some("osia-1"));
    assert_eq!(s.by_external("osia-4").unwrap().unwrap().encounter_id, "e1");
    assert!(s.by_external("osia-1").unwrap().is_none());
    assert!(!s.is_member(DEFAULT_GALLERY, "osia-1").unwrap());
    assert_eq!(s.templates("p", "e1").unwrap().unwrap().len(), 1);
    let none = store
        .transaction(|tx| replace_in(&store, tx, &new("q", "e9", "osia-5", &[])))
        .unwrap();
    assert!(none.is_none());
    // Deleting the person returns every reference, oldest first.
    let gone = store
        .transaction(|tx| delete_in(&store, tx, "p", None))
        .unwrap();
    assert_eq!(gone, ["osia-4", "osia-3"]);
    assert!(s.person("p").unwrap().is_empty());
    assert!(s.galleries().unwrap().is_empty());
    let left: i64 = store
        .read(|c| {
            Ok(
                c.query_row("SELECT count(*) FROM encounter_templates", [], |r| r.get(0))
                    .unwrap(),
            )
        })
        .unwrap();
    assert_eq!(left, 0);
}

#[test]
fn merge_moves_encounters_unless_an_id_clashes() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    insert(&s, &new("a", "e1", "osia-1", &[]));
    insert(&s, &new("b", "e2", "osia-2", &[]));
    insert(&s, &new("c", "e1", "osia-3", &[]));
    assert_eq!(s.merge("a", "z").unwrap(), Merged::SourceUnknown);
    assert_eq!(s.merge("a", "c").unwrap(), Merged::Conflict("e1".into()));
    assert_eq!(s.person("c").unwrap().len(), 1);
    assert_eq!(s.merge("a", "b").unwrap(), Merged::Done);
    assert_eq!(s.person("a").unwrap().len(), 2);
    assert!(s.set_status("a", "e2", "INACTIVE").unwrap());
    assert_eq!(s.get("a", "e2").unwrap().unwrap().status, "INACTIVE");
    assert!(!s.set_status("a", "nope", "ACTIVE").unwrap());
}
