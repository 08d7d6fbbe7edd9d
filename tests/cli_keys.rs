//! `tunggal keys create / list / rotate / revoke / events` run as the binary on a data
//! directory: the printed keys authenticate (checked against the same state store), a
//! rotated key stops working and its successor works, a revoked key stops working, and each
//! change is in the key trail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use tunggal::access::keys::KeyStore;

/// Runs `tunggal keys <args> --data-dir dir`; returns stdout, failing on a non-zero exit.
fn keys(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tunggal"))
        .arg("keys")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("TUNGGAL_DATA_DIR")
        .env_remove("TUNGGAL_ADMIN_KEY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tunggal keys {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The key id of the row of `name` in `tunggal keys list`, and whether it is revoked.
fn listed(list: &str, name: &str) -> (String, bool) {
    let row: Vec<&str> = list
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|cols| cols.get(3) == Some(&name))
        .unwrap_or_else(|| panic!("{name} not listed in {list}"));
    (row[0].to_owned(), row[7] != "-")
}

fn live(dir: &Path, key: &str) -> bool {
    KeyStore::open(dir)
        .unwrap()
        .authenticate(key)
        .unwrap()
        .is_some()
}

#[test]
fn keys_are_created_listed_rotated_revoked_and_trailed_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let analyst = keys(
        &dir,
        &["create", "--role", "analyst", "--name", "Analyst One"],
    )
    .trim()
    .to_owned();
    let point = keys(
        &dir,
        &[
            "create",
            "--role",
            "service-point",
            "--name",
            "Loket 7",
            "--district",
            "317101",
            "--service-point",
            "sp-7",
            "--expires-in-days",
            "30",
        ],
    )
    .trim()
    .to_owned();
    assert!(live(&dir, &analyst) && live(&dir, &point));

    let list = keys(&dir, &["list"]);
    let (analyst_id, revoked) = listed(&list, "Analyst One");
    assert!(!revoked, "{list}");
    let (point_id, _) = listed(&list, "Loket 7");
    assert!(list.contains("317101/sp-7"), "{list}");

    // Rotation: the old secret stops working, the printed successor works.
    let rotated = keys(&dir, &["rotate", &analyst_id]).trim().to_owned();
    assert_ne!(rotated, analyst);
    assert!(!live(&dir, &analyst), "the rotated key still works");
    assert!(live(&dir, &rotated), "the successor does not work");
    let list = keys(&dir, &["list"]);
    let old_row = list
        .lines()
        .find(|l| l.starts_with(&format!("{analyst_id}\t")))
        .unwrap_or_else(|| panic!("{analyst_id} not listed in {list}"));
    assert!(
        !old_row.ends_with("\t-"),
        "the rotated key is not listed as revoked: {old_row}"
    );

    // Revocation.
    keys(&dir, &["revoke", &point_id]);
    assert!(!live(&dir, &point), "the revoked key still works");
    assert!(live(&dir, &rotated));

    // Every change is in the trail.
    let events = keys(&dir, &["events"]);
    for id in [&analyst_id, &point_id] {
        assert!(events.contains(id.as_str()), "{id} not in {events}");
    }
    for action in ["rotate", "revoke"] {
        assert!(events.contains(action), "no {action} in {events}");
    }
}
