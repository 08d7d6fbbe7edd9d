//! Compaction: live records copied, the rest reclaimed; a kill after every step loses no
//! named record; a flipped byte anywhere in an output is refused, never read as an image.

use super::*;

fn payload(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_mul(37).wrapping_add(i as u8))
        .collect()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Six records in two segments (a roll between them); returns the store's directory
/// contents as (reference, payload), of which the caller keeps every other one.
fn filled(dir: &Path) -> Vec<(ImageRef, Vec<u8>)> {
    let (store, _) = ImageStore::open(dir).unwrap();
    let p: Vec<Vec<u8>> = (0..6)
        .map(|i| payload(i, 40 + usize::from(i) * 7))
        .collect();
    let mut refs = store.append(&[&p[0], &p[1], &p[2]]).unwrap();
    store.seal().unwrap();
    refs.extend(store.append(&[&p[3], &p[4], &p[5]]).unwrap());
    refs.into_iter().zip(p).collect()
}

fn named(all: &[(ImageRef, Vec<u8>)]) -> Vec<(ImageRef, Vec<u8>)> {
    all.iter().step_by(2).cloned().collect()
}

fn refs(of: &[(ImageRef, Vec<u8>)]) -> Vec<ImageRef> {
    of.iter().map(|(r, _)| *r).collect()
}

fn assert_readable(store: &ImageStore, of: &[(ImageRef, Vec<u8>)]) {
    for (r, p) in of {
        assert_eq!(&store.read(*r).unwrap(), p, "{r:?}");
    }
}

/// The references after the caller's switch.
fn switched(of: &[(ImageRef, Vec<u8>)], w: &Rewritten) -> Vec<(ImageRef, Vec<u8>)> {
    of.iter()
        .map(|(r, p)| (w.new_ref(*r).unwrap(), p.clone()))
        .collect()
}

/// A whole compaction: seal, rewrite, switch, remove.
fn compact(store: &ImageStore, of: &[(ImageRef, Vec<u8>)]) -> Vec<(ImageRef, Vec<u8>)> {
    let inputs = store.seal().unwrap();
    let w = store.rewrite(&inputs, &refs(of)).unwrap();
    let now = switched(of, &w);
    store.remove_segments(&inputs).unwrap();
    now
}

#[test]
fn a_compaction_keeps_the_named_records_and_reclaims_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let all = filled(dir.path());
    let keep = named(&all);
    let (store, _) = ImageStore::open(dir.path()).unwrap();
    let before = store.bytes_on_disk().unwrap();
    let inputs = store.seal().unwrap();
    assert_eq!(inputs, [1, 2]);
    let w = store.rewrite(&inputs, &refs(&keep)).unwrap();
    let kept: u64 = keep
        .iter()
        .map(|(_, p)| (HEADER_LEN + p.len()) as u64)
        .sum();
    assert_eq!((w.records, w.bytes_in, w.bytes_out), (3, before, kept));
    assert_eq!(w.outputs, [4]);
    // Records nobody names have no new place.
    assert_eq!(w.new_ref(all[1].0), None);
    let now = switched(&keep, &w);
    assert_eq!(store.remove_segments(&inputs).unwrap(), before);
    assert_readable(&store, &now);
    // Inputs gone; the output and the new active segment (above the output) remain.
    assert_eq!(
        files(dir.path()),
        ["img-000003.dat", "img-000004.dat", "img-000005.dat"]
    );
    assert_eq!(store.bytes_on_disk().unwrap(), kept);
    // Appends go to the new active segment, never onto the output.
    let r = store.append(&[b"after"]).unwrap()[0];
    assert_eq!(r.segment, 5);
    assert_readable(&store, &now);
    drop(store);
    let (store, _) = ImageStore::open(dir.path()).unwrap();
    assert_readable(&store, &now);
    assert_eq!(store.read(r).unwrap(), b"after");
    // The active segment is never removed.
    assert!(store.remove_segments(&[5]).is_err());
}

#[test]
fn a_kill_after_any_step_loses_no_named_record() {
    // 0: after the seal; 1: in the middle of writing an output; 2: after the outputs are
    // in place, before the switch; 3: after the switch, before any input is removed; 4:
    // after one input is removed.
    for step in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let all = filled(dir.path());
        let keep = named(&all);
        let named_now = {
            let (store, _) = ImageStore::open(dir.path()).unwrap();
            let inputs = store.seal().unwrap();
            match step {
                0 => keep.clone(),
                1 => {
                    let n = store.reserve_number().unwrap();
                    fs::write(
                        dir.path()
                            .join(format!("{}{COMPACT_SUFFIX}", segment_name(n))),
                        b"TGIR\x01\x00 half",
                    )
                    .unwrap();
                    keep.clone()
                }
                2 => {
                    store.rewrite(&inputs, &refs(&keep)).unwrap();
                    keep.clone()
                }
                _ => {
                    let w = store.rewrite(&inputs, &refs(&keep)).unwrap();
                    if step == 4 {
                        store.remove_segments(&inputs[..1]).unwrap();
                    }
                    switched(&keep, &w)
                }
            }
        };
        // The process is gone; a new one opens the directory.
        let (store, open) = ImageStore::open(dir.path()).unwrap();
        assert_eq!(open.torn_tail, None, "step {step}");
        assert_readable(&store, &named_now);
        // New appends work and the next compaction reclaims every leftover.
        let extra = store.append(&[b"later"]).unwrap()[0];
        let mut live = named_now.clone();
        live.push((extra, b"later".to_vec()));
        let now = compact(&store, &live);
        assert_readable(&store, &now);
        let expected: u64 = live
            .iter()
            .map(|(_, p)| (HEADER_LEN + p.len()) as u64)
            .sum();
        assert_eq!(store.bytes_on_disk().unwrap(), expected, "step {step}");
        assert!(
            files(dir.path())
                .iter()
                .all(|f| !f.ends_with(COMPACT_SUFFIX)),
            "step {step}: {:?}",
            files(dir.path())
        );
        drop(store);
        let (store, _) = ImageStore::open(dir.path()).unwrap();
        assert_readable(&store, &now);
        assert!(check(dir.path()).unwrap().is_clean());
    }
}

#[test]
fn a_damaged_named_record_fails_the_compaction_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let all = filled(dir.path());
    let keep = named(&all);
    let path = dir.path().join(segment_name(keep[1].0.segment));
    let mut bytes = fs::read(&path).unwrap();
    bytes[keep[1].0.offset as usize + HEADER_LEN + 3] ^= 0x40;
    fs::write(&path, &bytes).unwrap();
    let (store, _) = ImageStore::open(dir.path()).unwrap();
    let inputs = store.seal().unwrap();
    let before = files(dir.path());
    let err = store.rewrite(&inputs, &refs(&keep)).unwrap_err();
    assert!(matches!(err, ImageStoreError::Corrupt { .. }), "{err}");
    // No output and no temporary file remain; the inputs are as they were.
    assert_eq!(files(dir.path()), before);
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(store.read(keep[0].0).unwrap(), keep[0].1);
}

#[test]
fn a_flipped_byte_anywhere_in_an_output_is_refused_never_read_as_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let all = filled(dir.path());
    let keep = named(&all);
    let now = {
        let (store, _) = ImageStore::open(dir.path()).unwrap();
        compact(&store, &keep)
    };
    let output = dir.path().join(segment_name(now[0].0.segment));
    let clean = fs::read(&output).unwrap();
    for at in 0..clean.len() {
        let mut bytes = clean.clone();
        bytes[at] ^= 0x10;
        fs::write(&output, &bytes).unwrap();
        let (store, open) = ImageStore::open(dir.path()).unwrap();
        assert_eq!(
            open.torn_tail, None,
            "offset {at}: the output is not the last segment"
        );
        let mut refused = 0;
        for (r, p) in &now {
            let holds = (r.offset..r.offset + (HEADER_LEN as u64) + u64::from(r.length))
                .contains(&(at as u64));
            match store.read(*r) {
                Ok(read) => {
                    assert!(!holds, "offset {at}: a damaged record was read");
                    assert_eq!(&read, p);
                }
                Err(e) => {
                    assert!(holds, "offset {at}: {e}");
                    assert!(matches!(e, ImageStoreError::Corrupt { .. }), "{e}");
                    refused += 1;
                }
            }
        }
        assert_eq!(refused, 1, "offset {at}");
        assert!(!check(dir.path()).unwrap().is_clean(), "offset {at}");
        // A compaction of a damaged output refuses too.
        let inputs = store.seal().unwrap();
        let current: Vec<ImageRef> = refs(&now);
        assert!(store.rewrite(&inputs, &current).is_err(), "offset {at}");
    }
    fs::write(&output, &clean).unwrap();
    let (store, _) = ImageStore::open(dir.path()).unwrap();
    assert_readable(&store, &now);
}
