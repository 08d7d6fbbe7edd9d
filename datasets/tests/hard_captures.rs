//! Hard synthetic captures against the real FVC2002 templates: FVC-style databases of hard
//! captures must score like the hardest real database for genuine pairs and like the pooled
//! real impostors in the impostor tail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tunggal_datasets::fingerprint::CaptureDifficulty;
use tunggal_datasets::fvc::{load_root, shared_fvc_root};
use tunggal_datasets::score_profile::{hardest, DatabaseScores, ScoreProfile};
use tunggal_datasets::synthetic_fvc::SyntheticFvc;
use tunggal_index::finger::FingerMatcher;

/// Seeds of the synthetic side: 32 databases, 8,960 genuine and 92,160 impostor pairs.
const SEEDS: [u64; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

fn synthetic(difficulty: CaptureDifficulty, matcher: &FingerMatcher) -> ScoreProfile {
    let dbs: Vec<_> = SEEDS
        .iter()
        .flat_map(|&s| {
            let g = SyntheticFvc::with_difficulty(s, difficulty);
            (0..4).map(move |d| g.database(d))
        })
        .collect();
    ScoreProfile::of(
        difficulty_name(difficulty),
        &DatabaseScores::of_all(&dbs, matcher),
    )
}

fn difficulty_name(d: CaptureDifficulty) -> &'static str {
    match d {
        CaptureDifficulty::Routine => "synthetic routine",
        CaptureDifficulty::Hard => "synthetic hard",
    }
}

#[test]
fn hard_captures_match_the_hardest_real_database_and_the_real_impostor_tail() {
    let Some(root) = shared_fvc_root() else {
        println!("skipping: real FVC2002 templates not found beside the repository");
        return;
    };
    let matcher = FingerMatcher::default();
    let real = DatabaseScores::of_all(&load_root(&root).unwrap(), &matcher);
    assert_eq!(real.len(), 4);
    let rows: Vec<ScoreProfile> = real
        .iter()
        .map(|d| ScoreProfile::of(&d.name, std::slice::from_ref(d)))
        .collect();
    let pooled = ScoreProfile::of("real, all databases", &real);
    let worst = hardest(&rows).unwrap();
    let hard = synthetic(CaptureDifficulty::Hard, &matcher);
    let routine = synthetic(CaptureDifficulty::Routine, &matcher);
    println!("{}", ScoreProfile::MARKDOWN_HEADER);
    for r in rows.iter().chain([&pooled, &routine, &hard]) {
        println!("{}", r.markdown_row());
    }

    // The impostor tail of hard captures within ±10 % of the pooled real impostors
    // (11,520 pairs: p99.9 rests on about a dozen pairs).
    let [_, _, _, p99, p999, _, _] = hard.ratios(&pooled);
    assert!((0.9..=1.1).contains(&p99), "impostor p99 ratio {p99}");
    assert!((0.9..=1.1).contains(&p999), "impostor p99.9 ratio {p999}");

    // Genuine scores like the hardest real database (FVC2002 DB3 with the default matcher):
    // the median within ±20 %, the 5th percentile (failed pairs, a few dozen of them) within
    // a factor 1.6.
    let [_, p5, p50, _, _, _, _] = hard.ratios(worst);
    assert!(
        (0.8..=1.2).contains(&p50),
        "hard genuine median {} against {} {}",
        hard.genuine_p50,
        worst.name,
        worst.genuine_p50
    );
    assert!(
        (1.0 / 1.6..=1.6).contains(&p5),
        "hard genuine p5 ratio {p5}"
    );

    // And clearly harder than routine captures, which match the pooled real databases.
    assert!(hard.genuine_p50 < 0.6 * routine.genuine_p50);
    assert!(hard.eer > 2.0 * routine.eer);
}
