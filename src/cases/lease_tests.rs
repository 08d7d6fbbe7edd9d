//! Asking the holder for a case, and a supervisor releasing anyone's hold.

use super::tests::person;
use super::*;

const T0: u64 = 1_795_000_000;

fn actor(key_id: &str, name: &str) -> Actor {
    Actor {
        key_id: key_id.into(),
        name: name.into(),
        owner: String::new(),
    }
}

fn open(store: &CaseStore) -> String {
    let new = NewCase {
        kind: CaseKind::Biometric,
        applicant: person(1, "317101"),
        candidates: vec![CaseCandidate {
            person: person(2, "317101"),
            score: 20.0,
            finger_scores: [None; 10],
            iris_distances: [None; 2],
            identical: Default::default(),
        }],
        callback_url: None,
        calibration: String::new(),
    };
    store.open_case_at(new, T0).unwrap().case_id
}

#[test]
fn an_analyst_asks_the_holder_and_the_request_ends_with_the_hold() {
    let dir = tempfile::tempdir().unwrap();
    let store = CaseStore::open(dir.path()).unwrap();
    let id = open(&store);
    let (ana, budi) = (actor("a", "Ana"), actor("b", "Budi"));
    // Nobody holds it: take it instead.
    assert!(matches!(
        store.ask(&id, &budi, T0 + 1),
        Err(CaseError::NotHeld)
    ));
    store.take(&id, &ana, T0 + 2).unwrap();
    assert!(matches!(
        store.ask(&id, &ana, T0 + 3),
        Err(CaseError::NotHeld)
    ));
    let c = store.ask(&id, &budi, T0 + 3).unwrap();
    assert_eq!(
        c.requested_by(T0 + 4).map(|a| a.name.as_str()),
        Some("Budi")
    );
    // Asking again records nothing more.
    let len = c.trail.len();
    assert_eq!(store.ask(&id, &budi, T0 + 5).unwrap().trail.len(), len);
    // Read back from the store, the holder sees the request until the hold ends.
    let c = store.get(&id).unwrap();
    assert_eq!(c.requested_by(T0 + 6).map(|a| a.key_id.as_str()), Some("b"));
    let c = store.release(&id, &ana, T0 + 7).unwrap();
    assert!(c.requested_by(T0 + 8).is_none());
    // A new hold starts without a request.
    let c = store.take(&id, &budi, T0 + 9).unwrap();
    assert!(c.requested_by(T0 + 10).is_none());
}

#[test]
fn a_supervisor_releases_anyone_s_hold_and_the_trail_names_both() {
    let dir = tempfile::tempdir().unwrap();
    let store = CaseStore::open(dir.path()).unwrap();
    let id = open(&store);
    let (ana, sup) = (actor("a", "Ana"), actor("s", "Sari Supervisor"));
    // Nobody holds it: nothing is written.
    let (c, released) = store.supervisor_release(&id, &sup, T0 + 1).unwrap();
    assert_eq!(c.trail.len(), 1);
    assert!(released.is_none());
    store.take(&id, &ana, T0 + 2).unwrap();
    // An analyst other than the holder cannot release; the supervisor can.
    assert!(matches!(
        store.release(&id, &actor("b", "Budi"), T0 + 3),
        Err(CaseError::TakenBy(_))
    ));
    let (c, released) = store.supervisor_release(&id, &sup, T0 + 4).unwrap();
    assert!(c.holder(T0 + 5).is_none());
    assert_eq!(released.map(|a| a.key_id), Some("a".to_owned()));
    let c = store.get(&id).unwrap();
    assert!(c.holder(T0 + 5).is_none() && c.lease.is_none());
    let last = c.trail.last().unwrap();
    assert_eq!(last.by.name, "Sari Supervisor");
    assert!(matches!(&last.action, Action::SupervisorReleased { holder } if holder.name == "Ana"));
}
