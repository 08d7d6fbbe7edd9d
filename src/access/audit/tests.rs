//! Staged events, re-appends and rotation of the audit log.

use super::*;

fn event(n: u64) -> AuditEvent {
    AuditEvent {
        at: n,
        key_id: "k".into(),
        key_name: "sp".into(),
        role: "service_point".into(),
        action: "enrol".into(),
        subject: format!("nik:{n}"),
        request_id: Some(format!("r{n}")),
        status: 200,
        case_id: None,
        seq: None,
    }
}

fn stage(log: &AuditLog, store: &StateStore, n: u64) {
    let synced_upto = log.inner.lock().unwrap().marks.synced;
    let staged = StagedAudit {
        event: event(n),
        synced_upto,
    };
    store
        .transaction(|tx| stage_in(store, tx, &staged))
        .unwrap();
}

fn staged_rows(store: &StateStore) -> usize {
    store.read(|c| staged_after(store, c, 0)).unwrap().len()
}

#[test]
fn staged_events_lost_from_the_file_are_appended_again_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::shared(dir.path()).unwrap();
    let log = AuditLog::open_with(dir.path(), store.clone()).unwrap();
    stage(&log, &store, 1);
    stage(&log, &store, 2);
    log.write_staged_blocking().unwrap();
    let before_third = std::fs::metadata(dir.path().join(AUDIT_FILE))
        .unwrap()
        .len();
    stage(&log, &store, 3);
    log.write_staged_blocking().unwrap();
    drop(log);
    // A power loss keeps the first two lines and loses the third (never synced).
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join(AUDIT_FILE))
        .unwrap();
    file.set_len(before_third).unwrap();
    drop(file);
    assert_eq!(staged_rows(&store), 3);
    let log = AuditLog::open_with(dir.path(), store.clone()).unwrap();
    let read = AuditLog::read_all(dir.path()).unwrap();
    let subjects: Vec<&str> = read.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(subjects, ["nik:1", "nik:2", "nik:3"]);
    assert_eq!(
        read.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [Some(1), Some(2), Some(3)]
    );
    // Every staged row is in the synced file now: none is kept.
    assert_eq!(staged_rows(&store), 0);
    // Later events get new sequence numbers and are written once.
    stage(&log, &store, 4);
    log.write_staged_blocking().unwrap();
    log.write_staged_blocking().unwrap();
    let read = AuditLog::read_all(dir.path()).unwrap();
    assert_eq!(read.last().unwrap().seq, Some(4));
    assert_eq!(read.len(), 4);
}

#[test]
fn a_synced_append_lets_the_next_staging_delete_the_rows_it_covers() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::shared(dir.path()).unwrap();
    let log = Arc::new(AuditLog::open_with(dir.path(), store.clone()).unwrap());
    stage(&log, &store, 1);
    stage(&log, &store, 2);
    log.write_staged_blocking().unwrap();
    log.append_blocking(&event(9)).unwrap();
    assert_eq!(staged_rows(&store), 2);
    stage(&log, &store, 3);
    // Rows 1 and 2 were synced by the append: only the new one is kept.
    assert_eq!(staged_rows(&store), 1);
}

fn file_subjects(path: &Path) -> Vec<String> {
    Journal::<AuditEvent>::read(path)
        .unwrap()
        .into_iter()
        .map(|e| e.subject)
        .collect()
}

fn nik(range: std::ops::RangeInclusive<u64>) -> Vec<String> {
    range.map(|n| format!("nik:{n}")).collect()
}

/// Synced appends and staged events, alternating.
fn record(log: &AuditLog, store: &StateStore, range: std::ops::RangeInclusive<u64>) {
    for n in range {
        if n % 3 == 0 {
            log.append_blocking(&event(n)).unwrap();
        } else {
            stage(log, store, n);
            log.write_staged_blocking().unwrap();
        }
    }
}

#[test]
fn rotation_at_a_tiny_size_keeps_every_event_in_order_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::shared(dir.path()).unwrap();
    let log = AuditLog::open_rotating(dir.path(), store.clone(), 600).unwrap();
    record(&log, &store, 1..=20);
    drop(log);
    let rotated = files::rotated(dir.path()).unwrap();
    assert!(rotated.len() >= 3, "{rotated:?}");
    let numbers: Vec<u64> = rotated.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, (1..=rotated.len() as u64).collect::<Vec<_>>());
    assert!(rotated[0].1.ends_with("audit.jsonl.000001"));
    for (_, path) in &rotated {
        assert!(std::fs::metadata(path).unwrap().len() >= 600);
    }
    let log = AuditLog::open_rotating(dir.path(), store.clone(), 600).unwrap();
    record(&log, &store, 21..=40);
    drop(log);
    let read: Vec<String> = AuditLog::read_all(dir.path())
        .unwrap()
        .into_iter()
        .map(|e| e.subject)
        .collect();
    assert_eq!(read, nik(1..=40));
    // Nothing was deleted: the rotated files of the first run are all still there.
    let after = files::rotated(dir.path()).unwrap();
    assert!(after.len() > rotated.len());
    assert_eq!(after[..rotated.len()], rotated[..]);
}

#[test]
fn a_lost_tail_is_appended_again_into_the_current_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::shared(dir.path()).unwrap();
    let log = AuditLog::open_rotating(dir.path(), store.clone(), 700).unwrap();
    // Staged events only: the file is synced at each rotation, not per line.
    for n in 1..=12 {
        stage(&log, &store, n);
        log.write_staged_blocking().unwrap();
    }
    let rotated = files::rotated(dir.path()).unwrap();
    assert!(rotated.len() >= 2, "{rotated:?}");
    let kept: Vec<Vec<u8>> = rotated
        .iter()
        .map(|(_, p)| std::fs::read(p).unwrap())
        .collect();
    let current = dir.path().join(AUDIT_FILE);
    let in_current = file_subjects(&current);
    assert!(!in_current.is_empty());
    let before_tail = std::fs::metadata(&current).unwrap().len();
    stage(&log, &store, 13);
    stage(&log, &store, 14);
    log.write_staged_blocking().unwrap();
    assert_eq!(files::rotated(dir.path()).unwrap().len(), rotated.len());
    drop(log);
    // A power loss loses the two unsynced lines of the current file.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&current)
        .unwrap()
        .set_len(before_tail)
        .unwrap();
    let log = AuditLog::open_rotating(dir.path(), store.clone(), 700).unwrap();
    drop(log);
    let read = AuditLog::read_all(dir.path()).unwrap();
    let subjects: Vec<String> = read.iter().map(|e| e.subject.clone()).collect();
    assert_eq!(subjects, nik(1..=14));
    let seqs: Vec<u64> = read.iter().filter_map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=14).collect::<Vec<_>>());
    // Appended to the current file; the rotated files are as they were.
    let mut expected = in_current;
    expected.extend(nik(13..=14));
    assert_eq!(file_subjects(&current), expected);
    let rotated_after = files::rotated(dir.path()).unwrap();
    assert_eq!(rotated_after.len(), rotated.len());
    for ((_, p), bytes) in rotated_after.iter().zip(&kept) {
        assert_eq!(&std::fs::read(p).unwrap(), bytes);
    }
    assert_eq!(staged_rows(&store), 0);
}
