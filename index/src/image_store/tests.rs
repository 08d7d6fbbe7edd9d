use super::*;

fn payload(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

fn segment_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(segment_name(n))
}

#[test]
fn appended_images_read_back_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (payload(1, 1000), payload(2, 1), payload(3, 70_000));
    let refs = {
        let (store, open) = ImageStore::open(dir.path()).unwrap();
        assert_eq!(open.torn_tail, None);
        let mut refs = store.append(&[&a, &b]).unwrap();
        refs.extend(store.append(&[&c]).unwrap());
        assert_eq!(store.read(refs[1]).unwrap(), b);
        refs
    };
    let (store, open) = ImageStore::open(dir.path()).unwrap();
    assert_eq!((open.segments, open.torn_tail), (1, None));
    assert_eq!(store.read(refs[0]).unwrap(), a);
    assert_eq!(store.read(refs[1]).unwrap(), b);
    assert_eq!(store.read(refs[2]).unwrap(), c);
    assert_eq!(
        store.bytes_on_disk().unwrap(),
        (3 * HEADER_LEN + a.len() + b.len() + c.len()) as u64
    );
    // Appends after reopening go after the last record.
    let d = payload(4, 10);
    let r = store.append(&[&d]).unwrap()[0];
    assert_eq!(r.offset, store.bytes_on_disk().unwrap() - 26);
    assert_eq!(store.read(r).unwrap(), d);
}

#[test]
fn a_truncated_last_record_is_cut_and_kept_and_earlier_records_stay() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (payload(5, 500), payload(6, 800));
    let (ra, rb) = {
        let (store, _) = ImageStore::open(dir.path()).unwrap();
        let r = store.append(&[&a, &b]).unwrap();
        (r[0], r[1])
    };
    // A crash while writing `b`: only part of it reached the disk.
    let path = segment_path(dir.path(), 1);
    let cut_at = rb.offset + 100;
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(cut_at)
        .unwrap();
    let (store, open) = ImageStore::open(dir.path()).unwrap();
    let torn = open.torn_tail.expect("a torn tail");
    assert_eq!((torn.offset, torn.bytes), (rb.offset, 100));
    assert_eq!(fs::read(&torn.kept_in).unwrap().len(), 100);
    assert_eq!(fs::metadata(&path).unwrap().len(), rb.offset);
    assert_eq!(store.read(ra).unwrap(), a);
    // The lost record's reference is refused loudly, never answered with other bytes.
    assert!(matches!(
        store.read(rb),
        Err(ImageStoreError::Corrupt { .. })
    ));
    // The next append takes the place of the cut tail.
    let c = payload(7, 30);
    let rc = store.append(&[&c]).unwrap()[0];
    assert_eq!(rc.offset, rb.offset);
    assert_eq!(store.read(rc).unwrap(), c);
}

#[test]
fn a_torn_header_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let a = payload(8, 64);
    let ra = {
        let (store, _) = ImageStore::open(dir.path()).unwrap();
        store.append(&[&a]).unwrap()[0]
    };
    let path = segment_path(dir.path(), 1);
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&RECORD_MAGIC[..3]).unwrap();
    drop(f);
    let (store, open) = ImageStore::open(dir.path()).unwrap();
    assert_eq!(open.torn_tail.map(|t| t.bytes), Some(3));
    assert_eq!(store.read(ra).unwrap(), a);
}

#[test]
fn damage_followed_by_a_valid_record_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let rs = {
        let (store, _) = ImageStore::open(dir.path()).unwrap();
        store
            .append(&[&payload(1, 300), &payload(2, 300), &payload(3, 300)])
            .unwrap()
    };
    let path = segment_path(dir.path(), 1);
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    // Flip a payload byte of the middle record.
    f.write_all_at(&[0xEE], rs[1].offset + HEADER_LEN as u64 + 7)
        .unwrap();
    drop(f);
    let err = ImageStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, ImageStoreError::Corrupt { offset, .. } if offset == rs[1].offset),
        "{err}"
    );
    // Nothing was cut.
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        rs[2].offset + HEADER_LEN as u64 + 300
    );
}

#[test]
fn a_damaged_record_of_a_closed_segment_fails_its_read() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (payload(9, 2000), payload(11, 50));
    let (ra, rb) = {
        let (store, _) = ImageStore::open(dir.path()).unwrap();
        let ra = store.append(&[&a]).unwrap()[0];
        store.active.lock().unwrap().len = SEGMENT_BYTES;
        let rb = store.append(&[&b]).unwrap()[0];
        (ra, rb)
    };
    assert_eq!((ra.segment, rb.segment), (1, 2));
    let f = OpenOptions::new()
        .write(true)
        .open(segment_path(dir.path(), 1))
        .unwrap();
    f.write_all_at(&[0x00], ra.offset + 20).unwrap();
    drop(f);
    // Only the last segment is checked at open: the damage is found by the read.
    let (store, open) = ImageStore::open(dir.path()).unwrap();
    assert_eq!((open.segments, open.torn_tail), (2, None));
    let err = store.read(ra).unwrap_err();
    assert!(
        matches!(&err, ImageStoreError::Corrupt { detail, .. } if detail.contains("CRC")),
        "{err}"
    );
    assert_eq!(store.read(rb).unwrap(), b);
    // A reference past the end of the segment is refused too.
    let past = ImageRef {
        offset: ra.offset + 10_000,
        ..ra
    };
    assert!(matches!(
        store.read(past),
        Err(ImageStoreError::Corrupt { .. })
    ));
    // And one whose length disagrees with the record's.
    let short = ImageRef {
        length: ra.length - 1,
        ..ra
    };
    assert!(matches!(
        store.read(short),
        Err(ImageStoreError::Corrupt { .. })
    ));
}

#[test]
fn a_full_segment_rolls_over_to_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = ImageStore::open(dir.path()).unwrap();
    {
        let mut a = store.active.lock().unwrap();
        a.len = SEGMENT_BYTES - 10;
    }
    let x = payload(10, 100);
    let r = store.append(&[&x]).unwrap()[0];
    assert_eq!((r.segment, r.offset), (2, 0));
    assert_eq!(store.read(r).unwrap(), x);
    drop(store);
    let (_, open) = ImageStore::open(dir.path()).unwrap();
    assert_eq!(open.segments, 2);
}

#[test]
fn oversize_images_are_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = ImageStore::open(dir.path()).unwrap();
    let big = vec![0u8; MAX_PAYLOAD + 1];
    assert!(matches!(
        store.append(&[&big]),
        Err(ImageStoreError::TooLarge { .. })
    ));
    assert_eq!(store.bytes_on_disk().unwrap(), 0);
}

#[test]
fn check_reports_every_damaged_record_and_reference_without_changing_a_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c, d, e) = (
        payload(7, 300),
        payload(8, 400),
        payload(9, 500),
        payload(10, 600),
        payload(11, 700),
    );
    let refs = {
        let (store, _) = ImageStore::open(dir.path()).unwrap();
        store.append(&[&a, &b, &c, &d, &e]).unwrap()
    };
    let clean = check(dir.path()).unwrap();
    assert!(clean.is_clean());
    assert_eq!((clean.records, clean.torn_tail.clone()), (5, None));
    assert_eq!(clean.payload_bytes, 2500);
    for r in &refs {
        assert_eq!(clean.resolve(*r), Ok(()));
    }

    // One byte of `a`'s payload, the magic of `c`, and `e` cut short (a torn tail).
    let path = segment_path(dir.path(), 1);
    let mut bytes = fs::read(&path).unwrap();
    bytes[refs[0].offset as usize + HEADER_LEN + 17] ^= 0x40;
    bytes[refs[2].offset as usize] = b'X';
    bytes.truncate(refs[4].offset as usize + HEADER_LEN + 10);
    fs::write(&path, &bytes).unwrap();

    let found = check(dir.path()).unwrap();
    assert!(!found.is_clean());
    assert_eq!(found.records, 2, "`b` and `d` are intact");
    let damaged: Vec<(u64, &str)> = found
        .damaged
        .iter()
        .map(|d| (d.offset, d.detail.as_str()))
        .collect();
    assert_eq!(
        damaged,
        [
            (refs[0].offset, "CRC mismatch"),
            (refs[2].offset, "bad record magic")
        ]
    );
    assert_eq!(found.damaged[1].bytes, refs[3].offset - refs[2].offset);
    let torn = found.torn_tail.clone().unwrap();
    assert_eq!((torn.segment, torn.offset), (1, refs[4].offset));
    assert_eq!(found.resolve(refs[1]), Ok(()));
    assert_eq!(found.resolve(refs[3]), Ok(()));
    assert!(found
        .resolve(refs[0])
        .unwrap_err()
        .contains("damaged record (CRC mismatch)"));
    assert!(found
        .resolve(refs[2])
        .unwrap_err()
        .contains("bad record magic"));
    assert!(found.resolve(refs[4]).unwrap_err().contains("torn tail"));
    let longer = ImageRef {
        length: refs[1].length + 1,
        ..refs[1]
    };
    assert!(found
        .resolve(longer)
        .unwrap_err()
        .contains("holds 400 bytes"));
    let elsewhere = ImageRef {
        offset: refs[1].offset + 1,
        ..refs[1]
    };
    assert!(found
        .resolve(elsewhere)
        .unwrap_err()
        .contains("no record starts"));
    let other = ImageRef {
        segment: 2,
        ..refs[1]
    };
    assert!(found.resolve(other).unwrap_err().contains("absent"));
    // Nothing was changed, cut or kept aside.
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    // An absent directory is an empty store.
    let none = check(&dir.path().join("nothing")).unwrap();
    assert_eq!((none.records, none.segments.len()), (0, 0));
}
