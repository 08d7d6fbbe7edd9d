//! Leave-one-database-out tuning of the eye encoder's parameters (`eval iris --lodo`).
//!
//! Every combination of a grid is encoded and scored on every database once. For each
//! database in turn, the combination with the best objective over the *other* databases
//! (mean EER plus mean failure-to-enrol rate, so that a setting cannot buy a lower EER by
//! refusing hard images) is chosen, and the held-out database's figures under it are
//! reported; the mean of the held-out EERs estimates how the tuning carries over to images
//! it never saw. With `require_impostor_target`, only combinations whose impostor
//! fractional Hamming distance without rotation has a mean within 0.50 ± 0.02 and at least
//! 150 degrees of freedom on every training database are eligible (all are, when none is).

use std::path::Path;

use serde::Serialize;
use tunggal_index::eye::{EyeEncoder, EyeParams};
use tunggal_index::iris::{IrisLayout, IrisMatcher};

use super::iris::{databases, encode_all, report, score_pairs, ManifestEntry};
use super::lodo::{combinations, split_axis, Axis};

/// Why a grid was refused.
#[derive(Debug, thiserror::Error)]
pub enum IrisGridError {
    /// Not of the form `name=v1,v2,…`.
    #[error("expected name=v1,v2,…, got {0:?}")]
    Syntax(String),
    /// A value the encoder refused.
    #[error("{assignment}: {source}")]
    Param {
        /// The assignment refused.
        assignment: String,
        /// Why.
        source: tunggal_index::eye::EyeError,
    },
    /// Too many combinations, or none.
    #[error(transparent)]
    Grid(#[from] super::lodo::GridError),
    /// Fewer than two databases: nothing to hold out.
    #[error("leave-one-database-out needs at least two databases in the manifest")]
    TooFewDatabases,
}

/// Parses `name=v1,v2,…` (a pair-valued parameter writes each value `a:b`), checking every
/// value against `base`.
pub fn parse_axis(spec: &str, base: &EyeParams) -> Result<Axis, IrisGridError> {
    let axis = split_axis(spec).ok_or_else(|| IrisGridError::Syntax(spec.into()))?;
    for v in &axis.values {
        let assignment = format!("{}={v}", axis.name);
        base.clone()
            .set(&assignment)
            .map_err(|source| IrisGridError::Param { assignment, source })?;
    }
    Ok(axis)
}

/// One database's figures under one combination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IrisFigures {
    /// Database name.
    pub database: String,
    /// Equal error rate (1.0 when the database has no genuine or no impostor pair).
    pub eer: f64,
    /// FNMR at FMR 10⁻³.
    pub fnmr_at_fmr_1e3: Option<f64>,
    /// Failure-to-enrol rate.
    pub fte: f64,
    /// Impostor fractional Hamming distance without rotation: mean and degrees of freedom.
    pub impostor_mean_unrotated: f64,
    /// See `impostor_mean_unrotated`.
    pub impostor_dof_unrotated: f64,
}

impl IrisFigures {
    fn meets_impostor_target(&self) -> bool {
        (self.impostor_mean_unrotated - 0.5).abs() <= 0.02 && self.impostor_dof_unrotated >= 150.0
    }
}

/// One combination scored on every database.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IrisTrial {
    /// The assignments on top of the base parameters (empty: the base itself).
    pub assignments: Vec<String>,
    /// Figures per database, in manifest order.
    pub databases: Vec<IrisFigures>,
}

/// Encodes and scores the base parameters and every combination of `axes` on every
/// database of `entries`; prints a line per combination.
pub fn evaluate(
    root: &Path,
    entries: &[ManifestEntry],
    base: &EyeParams,
    axes: &[Axis],
    layout: IrisLayout,
) -> anyhow::Result<Vec<IrisTrial>> {
    let mut combos = vec![Vec::new()];
    if !axes.is_empty() {
        combos.extend(combinations(axes)?);
    }
    let matcher = IrisMatcher::for_layout(layout);
    let mut trials = Vec::with_capacity(combos.len());
    for (k, assignments) in combos.into_iter().enumerate() {
        let mut params = base.clone();
        for a in &assignments {
            params.set(a).map_err(|e| anyhow::anyhow!("{a}: {e}"))?;
        }
        let encoder = EyeEncoder::new(params)?;
        let outcomes = encode_all(root, entries, &encoder, layout);
        let dbs = databases(&outcomes);
        anyhow::ensure!(dbs.len() >= 2, IrisGridError::TooFewDatabases);
        let figures: Vec<IrisFigures> = dbs
            .iter()
            .map(|(name, members)| {
                let pairs = score_pairs(&outcomes, members, &matcher);
                let r = report(name, &outcomes, members, &pairs);
                IrisFigures {
                    database: name.clone(),
                    eer: r.rates.map_or(1.0, |x| x.eer),
                    fnmr_at_fmr_1e3: r.fnmr_at_fmr_1e3,
                    fte: r.fte,
                    impostor_mean_unrotated: r.impostor_mean_unrotated,
                    impostor_dof_unrotated: r.impostor_dof_unrotated,
                }
            })
            .collect();
        let line: Vec<String> = figures
            .iter()
            .map(|f| {
                format!(
                    "{} {:.2}% (FTE {:.1}%)",
                    f.database,
                    f.eer * 100.0,
                    f.fte * 100.0
                )
            })
            .collect();
        let label = if assignments.is_empty() {
            "base".to_owned()
        } else {
            assignments.join(" ")
        };
        println!("[{k}] {label}: {}", line.join(", "));
        trials.push(IrisTrial {
            assignments,
            databases: figures,
        });
    }
    Ok(trials)
}

/// One held-out database.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IrisFold {
    /// The database held out.
    pub held_out: String,
    /// The combination chosen on the other databases.
    pub chosen: Vec<String>,
    /// Its objective on the other databases.
    pub training_objective: f64,
    /// The held-out database's figures under it.
    pub figures: IrisFigures,
}

/// The leave-one-database-out outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IrisLodo {
    /// One fold per database.
    pub folds: Vec<IrisFold>,
    /// Mean held-out EER.
    pub mean_eer: f64,
    /// Mean held-out failure-to-enrol rate.
    pub mean_fte: f64,
    /// The combination best on all databases together, and its objective.
    pub in_sample: Vec<String>,
    /// See `in_sample`.
    pub in_sample_objective: f64,
}

/// Mean EER plus mean FTE of `trial` over the databases `keep` accepts; `None` when the
/// impostor target is required and a kept database misses it.
fn objective(trial: &IrisTrial, keep: impl Fn(&str) -> bool, require: bool) -> Option<f64> {
    let kept: Vec<&IrisFigures> = trial
        .databases
        .iter()
        .filter(|f| keep(&f.database))
        .collect();
    if kept.is_empty() || (require && !kept.iter().all(|f| f.meets_impostor_target())) {
        return None;
    }
    let n = kept.len() as f64;
    Some(kept.iter().map(|f| f.eer + f.fte).sum::<f64>() / n)
}

/// The trial with the lowest objective over `keep` (the first on ties, so the base wins a
/// tie); with `require`, among those meeting the impostor target when any does.
fn best(trials: &[IrisTrial], keep: impl Fn(&str) -> bool, require: bool) -> Option<(usize, f64)> {
    // `min_by` keeps the first of equal elements.
    let pick = |require: bool| {
        trials
            .iter()
            .enumerate()
            .filter_map(|(i, t)| objective(t, &keep, require).map(|o| (i, o)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    };
    pick(require).or_else(|| pick(false))
}

/// Chooses per fold and summarises.
pub fn choose(trials: &[IrisTrial], require_impostor_target: bool) -> Option<IrisLodo> {
    let names: Vec<String> = trials
        .first()?
        .databases
        .iter()
        .map(|f| f.database.clone())
        .collect();
    if names.len() < 2 {
        return None;
    }
    let mut folds = Vec::with_capacity(names.len());
    for held in &names {
        let (i, o) = best(trials, |d| d != held, require_impostor_target)?;
        let figures = trials[i]
            .databases
            .iter()
            .find(|f| &f.database == held)?
            .clone();
        folds.push(IrisFold {
            held_out: held.clone(),
            chosen: trials[i].assignments.clone(),
            training_objective: o,
            figures,
        });
    }
    let n = folds.len() as f64;
    let (i, o) = best(trials, |_| true, require_impostor_target)?;
    Some(IrisLodo {
        mean_eer: folds.iter().map(|f| f.figures.eer).sum::<f64>() / n,
        mean_fte: folds.iter().map(|f| f.figures.fte).sum::<f64>() / n,
        folds,
        in_sample: trials[i].assignments.clone(),
        in_sample_objective: o,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(database: &str, eer: f64, mean: f64) -> IrisFigures {
        IrisFigures {
            database: database.into(),
            eer,
            fnmr_at_fmr_1e3: None,
            fte: 0.0,
            impostor_mean_unrotated: mean,
            impostor_dof_unrotated: 200.0,
        }
    }

    fn trial(name: &str, a: f64, b: f64, mean: f64) -> IrisTrial {
        IrisTrial {
            assignments: if name.is_empty() {
                Vec::new()
            } else {
                vec![name.into()]
            },
            databases: vec![fig("a", a, mean), fig("b", b, mean)],
        }
    }

    #[test]
    fn each_fold_is_chosen_on_the_other_database() {
        let trials = vec![
            trial("", 0.04, 0.04, 0.49),
            trial("x=1", 0.01, 0.09, 0.49),
            trial("x=2", 0.08, 0.02, 0.49),
        ];
        let lodo = choose(&trials, false).unwrap();
        // Holding out a, the choice is the best on b (x=2), which is poor on a.
        assert_eq!(lodo.folds[0].held_out, "a");
        assert_eq!(lodo.folds[0].chosen, vec!["x=2".to_owned()]);
        assert!((lodo.folds[0].figures.eer - 0.08).abs() < 1e-12);
        assert_eq!(lodo.folds[1].chosen, vec!["x=1".to_owned()]);
        assert!((lodo.mean_eer - 0.085).abs() < 1e-12);
        // In sample, the base's mean 0.04 beats both (0.05 each).
        assert!(lodo.in_sample.is_empty());
    }

    #[test]
    fn the_impostor_target_rules_out_biased_codes() {
        let trials = vec![trial("", 0.05, 0.05, 0.49), trial("x=1", 0.01, 0.01, 0.45)];
        assert_eq!(choose(&trials, false).unwrap().in_sample, vec!["x=1"]);
        let strict = choose(&trials, true).unwrap();
        assert!(strict.in_sample.is_empty());
        assert!(strict.folds.iter().all(|f| f.chosen.is_empty()));
    }

    #[test]
    fn axes_are_checked_against_the_encoder() {
        let base = EyeParams::default();
        let axis = parse_axis("radial_range=0:0.9,0:1", &base).unwrap();
        assert_eq!(axis.values, vec!["0:0.9", "0:1"]);
        assert!(matches!(
            parse_axis("no_such=1", &base),
            Err(IrisGridError::Param { .. })
        ));
        assert!(matches!(
            parse_axis("wavelength", &base),
            Err(IrisGridError::Syntax(_))
        ));
    }
}
