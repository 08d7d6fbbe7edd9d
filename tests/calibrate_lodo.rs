//! Leave-one-database-out tuning and the real-pair calibration, on synthetic FVC folders
//! (always) and on the real FVC2002 templates in `../shared/datasets` (when present).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use tunggal::calibrate::{self, sources};
use tunggal::eval::lodo::{self, Objective};
use tunggal_datasets::fvc::{load_root, shared_fvc_root};
use tunggal_datasets::output::fvc_folder::write_database;
use tunggal_datasets::synthetic_fvc::SyntheticFvc;
use tunggal_index::finger::MccParams;
use tunggal_index::gallery::descriptor::DescriptorParams;
use tunggal_index::gallery::Preparer;
use tunggal_index::search::bounded::DEFAULT_Z;
use tunggal_index::search::shipped::CalibrationFile;

fn synthetic_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let g = SyntheticFvc::new(5);
    for db in 0..3 {
        write_database(dir.path(), &g.database(db)).unwrap();
    }
    dir
}

#[test]
fn lodo_tuning_runs_on_a_generated_folder() {
    let root = synthetic_root();
    let dbs = load_root(root.path()).unwrap();
    assert_eq!(dbs.len(), 3);
    let base = MccParams::default();
    let axes = [lodo::parse_axis("max_np=4,12", &base).unwrap()];
    let combos = lodo::combinations(&axes).unwrap();
    let candidates = lodo::evaluate(&dbs, &base, &combos).unwrap();
    assert_eq!(candidates.len(), 3, "base plus two combinations");
    let names: Vec<String> = dbs.iter().map(|d| d.name.clone()).collect();
    let folds = lodo::folds(&names, &candidates, Objective::Both).unwrap();
    assert_eq!(folds.len(), 3);
    for (held, f) in folds.iter().enumerate() {
        let c = candidates
            .iter()
            .find(|c| c.assignments == f.chosen)
            .unwrap();
        // The held-out figure is that database's figure under the chosen parameters, and no
        // candidate does better on the other databases.
        assert_eq!(c.rates[held], f.held_out_rates);
        assert_eq!(f.held_out, names[held]);
        let i = lodo::best(&candidates, Objective::Both, |d| d != held);
        assert_eq!(candidates[i].assignments, f.chosen);
        assert!((0.0..=1.0).contains(&f.held_out_rates.eer));
    }
}

#[test]
fn calibration_from_a_generated_folder_and_its_score_csv() {
    let root = synthetic_root();
    let dbs = load_root(root.path()).unwrap();
    let preparer = Preparer::new(&MccParams::default(), DescriptorParams::default()).unwrap();
    let pairs = sources::fvc_pairs(&dbs, &preparer);
    let n: usize = dbs.iter().map(|d| d.samples.len()).sum();
    assert_eq!(
        pairs.len(),
        n * (n - 1) / 2,
        "every pair, across databases too"
    );
    assert!(pairs.iter().any(|p| p.db.0 != p.db.1 && !p.mated));
    let tables = calibrate::learn(&pairs, 8.0, DEFAULT_Z).unwrap();
    for t in [&tables.finger, tables.descriptor.as_ref().unwrap()] {
        assert!(t.llr.windows(2).all(|w| w[0] <= w[1]), "monotone");
        assert!(t.llr.iter().all(|v| v.abs() <= 8.0), "capped");
    }
    // A bin without impostors claims no more than the impostor sample supports.
    let impostors = pairs.iter().filter(|p| !p.mated).count() as f64;
    let z2 = DEFAULT_Z * DEFAULT_Z;
    let most = ((impostors + z2) / z2).ln() as f32;
    assert!(tables.finger.llr.iter().all(|&v| v <= most), "{most}");
    let folds = calibrate::lodo(&pairs, 8.0, DEFAULT_Z).unwrap();
    assert_eq!(folds.len(), 3);

    // The same within-database pairs as an `eval fvc --scores` CSV give the same labels.
    let csv = root.path().join("scores.csv");
    let mut f = std::fs::File::create(&csv).unwrap();
    writeln!(f, "database,template_a,template_b,score").unwrap();
    let matcher = preparer.matcher();
    let db = &dbs[0];
    let mut mated = 0;
    for (a, sa) in db.samples.iter().enumerate() {
        for sb in &db.samples[a + 1..] {
            let s = matcher.compare(
                &matcher.prepare(&sa.template),
                &matcher.prepare(&sb.template),
            );
            writeln!(f, "{},{},{},{s:.6}", db.name, sa.stem, sb.stem).unwrap();
            mated += usize::from(sa.finger == sb.finger);
        }
    }
    drop(f);
    let read = sources::csv_pairs(&csv).unwrap();
    assert_eq!(read.iter().filter(|p| p.mated).count(), mated);
    assert!(read.iter().all(|p| p.descriptor.is_none()));
    let from_csv = calibrate::learn(&read, 8.0, DEFAULT_Z).unwrap();
    assert!(from_csv.descriptor.is_none());
    assert!(from_csv.finger.llr.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn shipped_tables_are_the_ones_learned_from_the_real_pairs() {
    let Some(root) = shared_fvc_root() else {
        eprintln!("skipped: ../shared/datasets/fvc2002-iso is absent (real FVC2002 templates)");
        return;
    };
    let dbs = load_root(&root).unwrap();
    let preparer = Preparer::new(&MccParams::default(), DescriptorParams::default()).unwrap();
    let pairs = sources::fvc_pairs(&dbs, &preparer);
    let shipped = CalibrationFile::shipped().unwrap();
    let tables = calibrate::learn(&pairs, 8.0, shipped.provenance.z).unwrap();
    assert_eq!(
        tables.finger, shipped.finger,
        "index/calibration/finger-v2.json is stale: make it again with the command in its provenance"
    );
    assert_eq!(tables.descriptor, shipped.descriptor);
    // Issue 16's calibration target, second stage: on each held-out database, every band
    // with at least 20 impostors has empirical ln LR ≥ table − 1.0.
    for f in calibrate::lodo(&pairs, 8.0, shipped.provenance.z).unwrap() {
        let worst = f.finger.worst_overclaim.unwrap();
        eprintln!("held out {}: worst over-claim {worst:.2}", f.held_out);
        assert!(worst < 1.0, "{}: {worst}", f.held_out);
    }
}
