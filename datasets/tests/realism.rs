//! Synthetic FVC-style templates compared with the real FVC2002 templates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tunggal_datasets::fvc::{load_root, shared_fvc_root, FvcDatabase};
use tunggal_datasets::realism::{compare, markdown_table, Comparison, TemplateStats};
use tunggal_datasets::synthetic_fvc::SyntheticFvc;
use tunggal_index::template::FingerTemplate;

fn real_templates() -> Option<Vec<FingerTemplate>> {
    let Some(root) = shared_fvc_root() else {
        println!("skipping: real FVC2002 templates not found beside the repository");
        return None;
    };
    let dbs = load_root(&root).ok()?;
    Some(
        dbs.into_iter()
            .flat_map(|d| d.samples)
            .map(|s| s.template)
            .collect(),
    )
}

fn synthetic_templates(seed: u64) -> Vec<FingerTemplate> {
    let g = SyntheticFvc::new(seed);
    (0..4)
        .flat_map(|db| g.database(db).samples)
        .map(|s| s.template)
        .collect()
}

fn row<'a>(rows: &'a [Comparison], prefix: &str) -> &'a Comparison {
    rows.iter().find(|r| r.name.starts_with(prefix)).unwrap()
}

#[test]
fn synthetic_minutiae_statistics_stay_close_to_real_ones() {
    let Some(real) = real_templates() else { return };
    assert_eq!(real.len(), 320);
    let rows = compare(
        &TemplateStats::of(&real),
        &TemplateStats::of(&synthetic_templates(1)),
    );
    println!("{}", markdown_table(&rows));

    let count = row(&rows, "minutiae count");
    assert!((count.synthetic[0] - count.real[0]).abs() < 0.15 * count.real[0]);
    assert!(count.ks < 0.2, "count KS {}", count.ks);

    let endings = row(&rows, "ending share");
    assert!((endings.synthetic[0] - endings.real[0]).abs() < 0.05);

    let nearest = row(&rows, "nearest");
    assert!((nearest.synthetic[0] - nearest.real[0]).abs() < 0.12 * nearest.real[0]);
    assert!(nearest.ks < 0.12, "nearest KS {}", nearest.ks);

    let coherence = row(&rows, "direction coherence");
    assert!((coherence.synthetic[0] - coherence.real[0]).abs() < 0.03);
    assert!(coherence.ks < 0.15, "coherence KS {}", coherence.ks);

    let sense = row(&rows, "same-sense");
    assert!((sense.synthetic[0] - sense.real[0]).abs() < 0.08);
}

#[test]
fn synthetic_single_finger_accuracy_falls_in_the_real_range() {
    use tunggal_datasets::accuracy::database_error_rates;
    use tunggal_index::finger::FingerMatcher;

    let Some(root) = shared_fvc_root() else {
        println!("skipping: real FVC2002 templates not found beside the repository");
        return;
    };
    let matcher = FingerMatcher::default();
    let eer = |db: &FvcDatabase| database_error_rates(db, &matcher).unwrap().eer;
    let real: Vec<f64> = load_root(&root).unwrap().iter().map(eer).collect();
    let g = SyntheticFvc::new(1);
    let synthetic: Vec<f64> = (0..4).map(|d| eer(&g.database(d))).collect();
    println!("real EER {real:?}\nsynthetic EER {synthetic:?}");

    let best = real.iter().copied().fold(f64::INFINITY, f64::min);
    let worst = real.iter().copied().fold(0.0, f64::max);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    for &e in &synthetic {
        assert!(
            e >= 0.5 * best,
            "synthetic EER {e} below half the best real {best}"
        );
        assert!(
            e <= 1.5 * worst,
            "synthetic EER {e} far above the worst real {worst}"
        );
    }
    let (ms, mr) = (mean(&synthetic), mean(&real));
    assert!(
        (0.5 * mr..=2.0 * mr).contains(&ms),
        "mean EER synthetic {ms} real {mr}"
    );
}
