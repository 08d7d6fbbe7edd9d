//! Builds a store of `N` person-sized records with small blobs, for timing opens at sizes
//! whose full galleries do not fit the disk: `build_store DIR N [STRIDE]`. A smaller
//! stride (a multiple of 8; default the person record's) keeps a store of millions small:
//! the open reads the key index and slot metadata, whose size does not depend on it.

use tunggal_index::gallery::PERSON_RECORD_BYTES;
use tunggal_index::storage::{Durability, Store, StoreConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: build_store DIR N")?;
    let n: u64 = args.next().ok_or("usage: build_store DIR N")?.parse()?;
    let stride: usize = match args.next() {
        Some(s) => s.parse()?,
        None => PERSON_RECORD_BYTES,
    };
    let mut config = StoreConfig::new(stride as u32);
    config.durability = Durability::NoSync;
    let store = Store::open(&dir, config)?;
    let start = store.len() as u64;
    let mut records = vec![0u8; stride * 1024];
    let blob = [7u8; 64];
    let mut key = start;
    while key < n {
        let run = (n - key).min(1024) as usize;
        let mut items = Vec::with_capacity(run);
        for (i, r) in records.chunks_exact_mut(stride).take(run).enumerate() {
            let k = key + i as u64;
            for (j, b) in r.iter_mut().enumerate() {
                *b = (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (j % 56)) as u8 ^ j as u8;
            }
        }
        for (i, r) in records.chunks_exact(stride).take(run).enumerate() {
            items.push((key + i as u64, r, &blob[..]));
        }
        store.insert_batch(&items)?;
        key += run as u64;
    }
    store.checkpoint()?;
    store.close()?;
    println!("{n} records in {dir}");
    Ok(())
}
