//! The cascaded 1:N scan, and the coarse screen at thresholds within its reach, must take the
//! same decisions as the full computation.
//!
//! A synthetic gallery is searched with probes of gallery eyes captured with so much noise
//! that many genuine scores fall near the threshold, the hardest case for the cascade. Run
//! with `--nocapture` to print the counts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rand::Rng;
use tunggal_datasets::iris::{CaptureParams, IrisGenerator};
use tunggal_index::iris::{
    record_of, IrisHit, IrisLayout, IrisMatcher, IrisRecords, ScanStrategy, DEPLOYMENT_THRESHOLD,
};

fn decisions_agree(layout: IrisLayout, gallery_size: usize, probes: usize, seed: u64) {
    let g = IrisGenerator::new(seed, layout);
    let mut rng = g.rng(0);
    let masters: Vec<_> = (0..gallery_size).map(|_| g.master(&mut rng)).collect();
    let words: Vec<u64> = masters
        .iter()
        .flat_map(|m| record_of(&g.capture(m, rng.gen_range(0.3..1.0), &mut rng)))
        .collect();
    let records = IrisRecords::new(layout, &words).unwrap();
    let matcher = IrisMatcher::for_layout(layout);
    let probe_templates: Vec<_> = (0..probes)
        .map(|i| {
            let mut params = CaptureParams::sample(g.params(), 0.5, &mut rng);
            // Heavy noise: genuine scores spread across the decision thresholds.
            params.noise = rng.gen_range(0.8..1.8);
            (
                i * 7 % gallery_size,
                g.capture_with(&masters[i * 7 % gallery_size], &params, &mut rng),
            )
        })
        .collect();

    for threshold in [DEPLOYMENT_THRESHOLD, 0.32] {
        let (mut near, mut genuine_hits, mut differences) = (0, 0, 0);
        let mut coarse_differences = 0;
        let (mut completed, mut total) = (0u64, 0u64);
        for (mate, probe) in &probe_templates {
            let query = matcher.query(probe, threshold).unwrap();
            let (mut full, mut cascade): (Vec<IrisHit>, Vec<IrisHit>) = (vec![], vec![]);
            let fs = matcher
                .scan(&query, records, 0, ScanStrategy::Full, &mut full)
                .unwrap();
            let cs = matcher
                .scan(&query, records, 0, ScanStrategy::Cascade, &mut cascade)
                .unwrap();
            // The block kernel and the rotation-by-rotation reference take the same decisions
            // with the same scores.
            let (mut full_ref, mut cascade_ref): (Vec<IrisHit>, Vec<IrisHit>) = (vec![], vec![]);
            matcher
                .scan(
                    &query,
                    records,
                    0,
                    ScanStrategy::FullReference,
                    &mut full_ref,
                )
                .unwrap();
            matcher
                .scan(
                    &query,
                    records,
                    0,
                    ScanStrategy::CascadeReference,
                    &mut cascade_ref,
                )
                .unwrap();
            assert_eq!(full, full_ref, "{layout} threshold {threshold}");
            assert_eq!(cascade, cascade_ref, "{layout} threshold {threshold}");
            total += fs.row_comparisons;
            completed += cs.row_comparisons;
            if full != cascade {
                differences += 1;
            }
            // The coarse screen (first stage) at thresholds within its reach: the same hits.
            let mut coarse = vec![];
            matcher
                .scan(&query, records, 0, ScanStrategy::Coarse, &mut coarse)
                .unwrap();
            if full != coarse {
                coarse_differences += 1;
            }
            let genuine = matcher
                .compare(query.probe(), records.get(*mate).unwrap())
                .unwrap()
                .score()
                .unwrap();
            if (genuine.hd_norm - threshold).abs() <= 0.03 {
                near += 1;
            }
            if full.iter().any(|h| h.index == *mate) {
                genuine_hits += 1;
            }
        }
        eprintln!(
            "{layout}: threshold {threshold}: {probes} probes × {gallery_size} records, \
             {near} genuine scores within ±0.03 of the threshold, {genuine_hits} genuine hits, \
             {differences} probes whose hits differ ({coarse_differences} for the coarse \
             screen), cascade compared {completed} of {total} (rotation, row) pairs ({:.2}%)",
            100.0 * completed as f64 / total as f64
        );
        assert_eq!(differences, 0, "{layout} threshold {threshold}");
        assert_eq!(
            coarse_differences, 0,
            "coarse: {layout} threshold {threshold}"
        );
        assert!(
            near >= probes / 10,
            "too few near-threshold genuines: {near}"
        );
        assert!(genuine_hits > 0 && genuine_hits < probes);
        // Every rotation is compared over the prefix; the later steps must prune most of the
        // remaining (rotation, row) pairs.
        let cascade = matcher.config().cascade;
        let prefix = total * cascade.prefix_rows as u64 / layout.rows() as u64;
        assert!(
            completed - prefix < (total - prefix) / 5,
            "cascade pruned too little after the prefix"
        );
    }
}

#[test]
fn cascade_matches_full_decisions_for_2048_bit_codes() {
    // 150 probes × 1500 records = 225 000 comparisons per threshold.
    decisions_agree(IrisLayout::DAUGMAN_2048, 1500, 150, 31);
}

#[test]
fn cascade_matches_full_decisions_for_open_iris_codes() {
    // 30 probes × 400 records = 12 000 comparisons per threshold.
    decisions_agree(IrisLayout::OPEN_IRIS, 400, 30, 32);
}
