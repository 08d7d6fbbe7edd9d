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
