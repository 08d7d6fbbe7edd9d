//! Times opening the store of a gallery directory (person records, or records of `STRIDE`
//! bytes as written by `build_store DIR N STRIDE`):
//! `open_gallery DIR verify|fast|checkpoint|scrub [STRIDE]`.
//!
//! After the open it looks up 1,000 keys spread over `0 .. len` (the store's keys are
//! those `build_store` writes) and prints the time, so that a lazily read key index is
//! charged for its first lookups.
//!
//! * `verify`: CRC of every live record checked at open and the key map rebuilt from the
//!   slots (the behaviour of `verify_on_open`);
//! * `fast`: the default open (key index file, or a rebuild from the slot metadata when it
//!   is missing or does not fit);
//! * `checkpoint`: the default open, then a checkpoint (writes the key index);
//! * `scrub`: the default open, then one scrub pass, timed separately.

use std::time::Instant;

use tunggal_index::gallery::PERSON_RECORD_BYTES;
use tunggal_index::storage::{Store, StoreConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: open_gallery DIR verify|fast|checkpoint|scrub")?;
    let mode = args.next().unwrap_or_else(|| "fast".into());
    let stride: u32 = match args.next() {
        Some(s) => s.parse()?,
        None => PERSON_RECORD_BYTES as u32,
    };
    let mut config = StoreConfig::new(stride);
    config.verify_on_open = mode == "verify";
    let t = Instant::now();
    let store = Store::open(&dir, config)?;
    let open_s = t.elapsed().as_secs_f64();
    let report = store.recovery_report();
    println!(
        "mode {mode}: open {open_s:.3} s, {} persons, key map {:?}, verified {}, log entries replayed {:?}",
        store.len(),
        report.key_index,
        report.verified_records,
        report.wal,
    );
    let t = Instant::now();
    let n = store.len() as u64;
    let found = {
        let snap = store.snapshot();
        (0..1000u64)
            .filter(|i| snap.contains(i * n.max(1) / 1000))
            .count()
    };
    println!(
        "1000 lookups {:.4} s ({found} found); open + lookups {:.3} s",
        t.elapsed().as_secs_f64(),
        open_s + t.elapsed().as_secs_f64()
    );
    match mode.as_str() {
        "checkpoint" => {
            let t = Instant::now();
            store.checkpoint()?;
            println!("checkpoint {:.3} s", t.elapsed().as_secs_f64());
        }
        "scrub" => {
            let t = Instant::now();
            let scrub = store.scrub();
            println!(
                "scrub {:.3} s: {} checked, {} quarantined",
                t.elapsed().as_secs_f64(),
                scrub.checked,
                scrub.quarantined.len()
            );
        }
        _ => {}
    }
    Ok(())
}
