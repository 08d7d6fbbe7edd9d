//! Times the registry's part of the engine's open on a synthetic state store of `N`
//! acknowledged persons.
//!
//! * `open_registry DIR build N [RECENT]` writes it: `N − RECENT` rows (SQL inserts, status
//!   `single`, in the gallery), the acknowledgement mark set to cover them, then `RECENT`
//!   more rows (default 1,000) acknowledged after the mark;
//! * `open_registry DIR all` times opening the state store and reading every acknowledged
//!   key (what the open checks without a mark);
//! * `open_registry DIR mark` the same, reading the mark and only the keys acknowledged
//!   after it (what the open checks with a mark).

use std::time::Instant;

use tunggal::engine::registry::{Outcome, Registry};

fn insert(r: &Registry, from: u64, to: u64) -> Result<(), Box<dyn std::error::Error>> {
    let outcome = serde_json::to_string(&Outcome::Single)?;
    r.store().transaction(|tx| {
        tx.execute(
            "WITH RECURSIVE k(x) AS (SELECT ?1 UNION ALL SELECT x + 1 FROM k WHERE x + 1 < ?2)
             INSERT INTO persons (key, reference_id, nik, district, service_point, request_id,
                 meta, outcome, in_gallery)
             SELECT x, printf('P%012d', x), printf('%016d', x), '3171', 'sp-1',
                 printf('r%d', x), '{}', ?3, 1 FROM k",
            rusqlite::params![from as i64, to as i64, outcome],
        )
        .map_err(|e| r.store().error(e))?;
        Ok(())
    })?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let usage = "usage: open_registry DIR build N [RECENT] | DIR all | DIR mark";
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().ok_or(usage)?);
    let mode = args.next().ok_or(usage)?;
    match mode.as_str() {
        "build" => {
            let n: u64 = args.next().ok_or(usage)?.parse()?;
            let recent: u64 = match args.next() {
                Some(s) => s.parse()?,
                None => 1000,
            };
            std::fs::create_dir_all(&dir)?;
            let r = Registry::open(&dir)?;
            let first = n.saturating_sub(recent);
            insert(&r, 0, first)?;
            // A candidate, then its promotion (a gallery checkpoint at LSN 0 covers it).
            r.advance_acknowledged_mark(0, || 0)?;
            let mark = r.advance_acknowledged_mark(0, || 0)?;
            insert(&r, first, n)?;
            println!(
                "{n} acknowledged persons in {}, mark {mark:?}",
                dir.display()
            );
        }
        "all" | "mark" => {
            let t = Instant::now();
            let r = Registry::open(&dir)?;
            let opened = t.elapsed().as_secs_f64();
            let keys = if mode == "all" {
                r.acknowledged_keys()?
            } else {
                let mark = r.acknowledged_mark()?.ok_or("no mark")?;
                r.acknowledged_keys_after(mark.seq)?
            };
            println!(
                "mode {mode}: state store open {opened:.3} s, {} keys to check, total {:.3} s",
                keys.len(),
                t.elapsed().as_secs_f64()
            );
        }
        _ => return Err(usage.into()),
    }
    Ok(())
}
