//! The population's iris codes come from the synthetic iris generator: two captures of one
//! eye match at the deployment threshold, different people do not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tunggal_datasets::iris_source::IrisCapture;
use tunggal_datasets::population::{CaptureSpec, Population};
use tunggal_index::iris::{IrisComparison, IrisLayout, IrisMatcher, IrisTemplate, MatchConfig};

fn template(c: &IrisCapture) -> IrisTemplate {
    let layout = IrisLayout::from_name(&c.layout).expect("known layout name");
    IrisTemplate::from_bytes(layout, &c.code, &c.mask).unwrap()
}

fn hd_norm(m: &IrisMatcher, a: &IrisCapture, b: &IrisCapture) -> f64 {
    match m.compare_templates(&template(a), &template(b)).unwrap() {
        IrisComparison::Scored(s) => s.hd_norm,
        other => panic!("not scored: {other:?}"),
    }
}

#[test]
fn captures_of_one_eye_match_and_different_people_do_not() {
    let population = Population::new(11);
    let layout = IrisLayout::DAUGMAN_2048;
    let matcher = IrisMatcher::new(layout, MatchConfig::for_layout(layout)).unwrap();
    let spec = CaptureSpec::default();
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    let people: Vec<_> = (0..12).map(|id| population.person(id)).collect();
    let first: Vec<_> = people
        .iter()
        .map(|p| population.capture(p, 0, &spec))
        .collect();
    for (person, a) in people.iter().zip(&first) {
        let b = population.capture(person, 1, &spec);
        assert_eq!(a.irises.len(), 2);
        assert_eq!(a.irises[0].layout, "daugman-2048");
        for eye in 0..2 {
            genuine.push(hd_norm(&matcher, &a.irises[eye], &b.irises[eye]));
        }
    }
    for i in 0..first.len() {
        for j in (i + 1)..first.len() {
            impostor.push(hd_norm(&matcher, &first[i].irises[0], &first[j].irises[0]));
        }
    }
    let worst_genuine = genuine.iter().copied().fold(f64::MIN, f64::max);
    let best_impostor = impostor.iter().copied().fold(f64::MAX, f64::min);
    assert!(worst_genuine < 0.28, "worst genuine {worst_genuine}");
    assert!(best_impostor > 0.32, "best impostor {best_impostor}");
}
