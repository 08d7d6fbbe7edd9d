//! The calibration shipped for new galleries is what `dedup::learn_synthetic` learns from
//! its synthetic persons with the default gallery configuration: a change to the matcher,
//! the descriptors or the learning that moves it fails here.
//! `TUNGGAL_WRITE_CALIBRATION=1 cargo test --test shipped_calibration` rewrites the file.

use tunggal::engine::calibrate::{shipped, SHIPPED, SHIPPED_PERSONS};
use tunggal_index::gallery::GalleryConfig;

#[test]
fn the_shipped_new_gallery_calibration_is_what_learning_gives() {
    let learned = tunggal::dedup::learn_synthetic(&GalleryConfig::default(), SHIPPED_PERSONS)
        .expect("learning the calibration");
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/engine/new-gallery-calibration.json"
    );
    if std::env::var_os("TUNGGAL_WRITE_CALIBRATION").is_some() {
        let text = serde_json::to_string_pretty(&learned).expect("serialising") + "\n";
        std::fs::write(path, text).expect("writing the shipped calibration");
        println!("wrote {path}");
        return;
    }
    let shipped = shipped().expect("the shipped calibration parses");
    assert!(
        shipped == learned,
        "{path} is not what learning gives today: rewrite it with \
         TUNGGAL_WRITE_CALIBRATION=1 cargo test --test shipped_calibration"
    );
    let text = serde_json::to_string_pretty(&learned).expect("serialising") + "\n";
    assert_eq!(SHIPPED, text, "{path} is written as learning writes it");
}
