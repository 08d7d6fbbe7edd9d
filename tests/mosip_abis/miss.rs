//! Why a mated identify named nobody: the inserted probe searched again as identify searches
//! it, the mate's first-stage score and rank among every other gallery person, its place on
//! the shortlist, and its fused second-stage score against the threshold, finger by finger.
//! Printed by the latency report for each miss.

use tunggal::engine::GalleryEngine;
use tunggal::enrolment::record::Origin;
use tunggal_index::gallery::{PersonRecord, PreparedPerson};
use tunggal_index::search::{self, Stage1Probe};

/// A description of why `probe` (an external reference) did not name `mate`.
pub fn explain(engine: &GalleryEngine, origin: &Origin, probe: &str, mate: &str) -> String {
    let (Some(p), Some(m)) = (
        engine.external_entry(origin, probe),
        engine.external_entry(origin, mate),
    ) else {
        return format!("{probe} or {mate} is not registered");
    };
    let gallery = engine.gallery();
    let stored = gallery.get(p.key).unwrap().unwrap();
    let prepared = PreparedPerson {
        record: stored.record,
        fingers: stored.fingers,
        unusable_fingers: Vec::new(),
        unusable_eyes: Vec::new(),
    };
    let config = *engine.search_config();
    let outcome = search::search(gallery, &prepared, &config).unwrap();
    let shortlist_rank = outcome
        .shortlist
        .iter()
        .position(|k| *k == m.key)
        .map_or("not shortlisted".to_owned(), |r| {
            format!("{} of {}", r + 1, outcome.shortlist.len())
        });
    let query = Stage1Probe::new(
        &prepared.record,
        gallery.preparer().iris(),
        config.iris_gate,
    )
    .unwrap();
    let scorer = search::scorer(gallery);
    let mate_record = gallery.get(m.key).unwrap().unwrap().record;
    let mate_stage1 = scorer.score(&query, &mate_record).unwrap().score;
    let snap = gallery.snapshot();
    let (mut above, mut others) = (0u64, 0u64);
    for seg in snap.segments() {
        let records: &[PersonRecord] = seg.records().unwrap();
        for (i, g) in records.iter().enumerate() {
            if !seg.is_live(i as u32) || g.key == p.key || g.key == m.key {
                continue;
            }
            others += 1;
            if scorer.score(&query, g).unwrap().score > mate_stage1 {
                above += 1;
            }
        }
    }
    let full = engine.compare_one(&prepared, m.key).unwrap().unwrap();
    let fingers: Vec<String> = full
        .fingers
        .iter()
        .enumerate()
        .filter_map(|(slot, f)| {
            f.map(|f| {
                format!(
                    "{}: descriptor {:.3} score {:.3} llr {:+.2}",
                    slot + 1,
                    f.descriptor,
                    f.score,
                    f.llr
                )
            })
        })
        .collect();
    let eyes: Vec<String> = full
        .eyes
        .iter()
        .enumerate()
        .filter_map(|(slot, e)| e.map(|e| format!("eye slot {slot}: {e:?}")))
        .collect();
    format!(
        "{probe} against its mate {mate}: first stage {mate_stage1:.2}, rank {} of {others} \
         other persons; shortlist {shortlist_rank}; fused {:.2} against the threshold {:.2} \
         (gallery of {}); best candidate {:?}\n  fingers: {}\n  eyes: {}",
        above + 1,
        full.fused,
        outcome.threshold,
        outcome.gallery_size,
        outcome.best.as_ref().map(|b| (b.key, b.fused)),
        fingers.join("; "),
        if eyes.is_empty() {
            "none compared".to_owned()
        } else {
            eyes.join("; ")
        }
    )
}
