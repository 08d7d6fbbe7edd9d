//! Property test: random sequences of insert, delete, replace, checkpoint, compaction and
//! crash-reopen behave like an in-memory map.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod storage_common;

use std::collections::btree_map::Entry;

use proptest::prelude::*;
use storage_common::{blob, dump, record, small_config, Contents};
use tunggal_index::storage::{StorageError, Store};

#[derive(Debug, Clone)]
enum Op {
    Insert(u64, u8, usize),
    Delete(u64),
    Replace(u64, u8, usize),
    Checkpoint,
    Compact,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..12u64, any::<u8>(), 0..40usize).prop_map(|(k, v, l)| Op::Insert(k, v, l)),
        3 => (0..12u64).prop_map(Op::Delete),
        3 => (0..12u64, any::<u8>(), 0..40usize).prop_map(|(k, v, l)| Op::Replace(k, v, l)),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Compact),
        2 => Just(Op::Crash),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = storage_common::tempdir();
        let mut store = Store::open(dir.path(), small_config()).unwrap();
        let mut model = Contents::new();
        for op in ops {
            match op {
                Op::Insert(k, v, l) => {
                    let res = store.insert(k, &record(k, v), &blob(k, v, l));
                    match model.entry(k) {
                        Entry::Occupied(_) => {
                            prop_assert!(matches!(res, Err(StorageError::DuplicateKey(_))));
                        }
                        Entry::Vacant(slot) => {
                            res.unwrap();
                            slot.insert((record(k, v), blob(k, v, l)));
                        }
                    }
                }
                Op::Delete(k) => {
                    let res = store.delete(k);
                    if model.remove(&k).is_some() {
                        res.unwrap();
                    } else {
                        prop_assert!(matches!(res, Err(StorageError::KeyNotFound(_))));
                    }
                }
                Op::Replace(k, v, l) => {
                    let res = store.replace(k, &record(k, v), &blob(k, v, l));
                    match model.entry(k) {
                        Entry::Occupied(mut slot) => {
                            res.unwrap();
                            slot.insert((record(k, v), blob(k, v, l)));
                        }
                        Entry::Vacant(_) => {
                            prop_assert!(matches!(res, Err(StorageError::KeyNotFound(_))));
                        }
                    }
                }
                Op::Checkpoint => store.checkpoint().unwrap(),
                Op::Compact => {
                    store.compact().unwrap();
                    let snap = store.snapshot();
                    for seg in snap.segments() {
                        prop_assert_eq!(seg.live_count(), seg.len());
                    }
                }
                Op::Crash => {
                    drop(store);
                    store = Store::open(dir.path(), small_config()).unwrap();
                }
            }
            prop_assert_eq!(&dump(&store), &model);
        }
        drop(store);
        let store = Store::open(dir.path(), small_config()).unwrap();
        prop_assert_eq!(&dump(&store), &model);
    }
}
