//! Synthetic FVC-style folders read back through the FVC loader.

use tunggal_datasets::fvc::load_root;
use tunggal_datasets::output::fvc_folder::write_database;
use tunggal_datasets::synthetic_fvc::SyntheticFvc;

#[test]
fn written_databases_load_back_identically() {
    let root = std::env::temp_dir().join(format!("tunggal-synth-fvc-{}", std::process::id()));
    let g = SyntheticFvc::new(77);
    let written: Vec<_> = (0..2).map(|db| g.database(db)).collect();
    for db in &written {
        assert_eq!(write_database(&root, db).unwrap(), 80);
    }
    let loaded = load_root(&root).unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(loaded.len(), 2);
    for (w, l) in written.iter().zip(&loaded) {
        assert_eq!(w.name, l.name);
        assert_eq!(l.samples.len(), 80);
        for (a, b) in w.samples.iter().zip(&l.samples) {
            assert_eq!((a.finger, a.impression), (b.finger, b.impression));
            assert_eq!(a.template, b.template);
        }
    }
}
