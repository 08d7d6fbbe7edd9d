//! Duplicate detection on real images: FVC2002 DB1_B fingers 101–110 as one person's ten
//! fingers, impressions 1 and 2 as two captures, ISO/IEC 19794-4 image records in CBEFF;
//! DB3_B's fingers as someone else. Skipped, saying why, when the data set is absent.

use serde_json::json;

use crate::harness::*;
use crate::images::iso_19794_4;
use crate::support::*;

pub async fn fvc_duplicates(s: &mut Suite) {
    let root = crate::irises::datasets().join("fvc2002-images");
    if !root.join("DB1_B/101_1.tif").exists() {
        eprintln!(
            "skipping the FVC2002 part: {} is absent",
            root.join("DB1_B/101_1.tif").display()
        );
        return;
    }
    let person = |db: &str, impression: u32| -> Vec<u8> {
        let samples: Vec<Sample> = (0..10u8)
            .map(|i| {
                let path = root.join(format!("{db}/{}_{impression}.tif", 101 + u32::from(i)));
                let bytes = std::fs::read(&path).unwrap();
                let img = tunggal_index::image::decode(&bytes, None).unwrap();
                let record = iso_19794_4(
                    i + 1,
                    img.width() as u16,
                    img.height() as u16,
                    img.pixels(),
                    500,
                );
                Sample::finger_image(i + 1, record)
            })
            .collect();
        cbeff(&samples)
    };
    let x = s.share.put("fvc-x", person("DB1_B", 1));
    let y = s.share.put("fvc-y", person("DB1_B", 2));
    let z = s.share.put("fvc-z", person("DB3_B", 1));
    for (id, url) in [("fvc-x", &x), ("fvc-y", &y), ("fvc-z", &z)] {
        assert_success(&s.insert(id, url).await, "insert");
    }
    let r = s.identify("fvc-y", json!({})).await;
    assert_success(&r, "identify");
    assert_eq!(candidates(&r), vec!["fvc-x"], "{r}");
    let r = s.identify("fvc-z", json!({})).await;
    assert!(candidates(&r).is_empty(), "{r}");
}
