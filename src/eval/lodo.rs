//! Leave-one-database-out tuning of the matcher parameters.
//!
//! Every parameter combination of a grid is scored on every database once. For each
//! database in turn, the combination with the best objective over the *other* databases is
//! chosen and the held-out database's figures under it are reported; the mean of the
//! held-out figures estimates how the tuning carries over to data it never saw.

use serde::Serialize;
use tunggal_datasets::fvc::FvcDatabase;
use tunggal_index::eval::ErrorRates;
use tunggal_index::finger::{FingerMatcher, MccParams, ParamError};

use super::{report, score_all_pairs};

/// Why a grid was refused.
#[derive(Debug, thiserror::Error)]
pub enum GridError {
    /// Not of the form `name=v1,v2,…`.
    #[error("expected name=v1,v2,…, got {0:?}")]
    Syntax(String),
    /// A value the matcher refused.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// More combinations than [`MAX_COMBINATIONS`].
    #[error("{0} combinations; at most {MAX_COMBINATIONS}")]
    TooLarge(usize),
    /// A database without genuine or impostor pairs.
    #[error("database {0} has no genuine or no impostor pairs")]
    EmptyDatabase(String),
    /// Fewer than two databases: nothing to hold out.
    #[error("leave-one-database-out needs at least two databases")]
    TooFewDatabases,
}

/// Largest grid evaluated.
pub const MAX_COMBINATIONS: usize = 4096;

/// One axis of a grid: a parameter and the values tried.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Parameter name (as `MccParams::set` knows it).
    pub name: String,
    /// Values, each as `MccParams::set` takes it (`6,1.0` for a pair).
    pub values: Vec<String>,
}

/// Parses `name=v1,v2,…` (a pair-valued parameter writes each value `a:b`, e.g.
/// `rho_distance=5:1.6,8:0.8`), checking every value against `base`.
pub fn parse_axis(spec: &str, base: &MccParams) -> Result<Axis, GridError> {
    let mut axis = split_axis(spec).ok_or_else(|| GridError::Syntax(spec.into()))?;
    for v in &mut axis.values {
        *v = v.replace(':', ",");
    }
    let Axis { name, values } = &axis;
    for v in values {
        base.clone().set(&format!("{name}={v}"))?;
    }
    Ok(axis)
}

/// Splits `name=v1,v2,…` into the name and its trimmed, non-empty values (unchecked);
/// `None` without a name or a value.
pub fn split_axis(spec: &str) -> Option<Axis> {
    let (name, values) = spec.split_once('=')?;
    let values: Vec<String> = values
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    let name = name.trim();
    if name.is_empty() || values.is_empty() {
        return None;
    }
    Some(Axis {
        name: name.into(),
        values,
    })
}

/// Every combination of the axes as lists of `name=value` assignments, the first axis
/// varying slowest.
pub fn combinations(axes: &[Axis]) -> Result<Vec<Vec<String>>, GridError> {
    let count = axes
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
        .unwrap_or(usize::MAX);
    if count > MAX_COMBINATIONS {
        return Err(GridError::TooLarge(count));
    }
    let mut out = vec![Vec::new()];
    for axis in axes {
        out = out
            .into_iter()
            .flat_map(|prefix: Vec<String>| {
                axis.values.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push(format!("{}={v}", axis.name));
                    next
                })
            })
            .collect();
    }
    Ok(out)
}

/// What the choice of parameters minimises over the training databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum Objective {
    /// Mean EER.
    Eer,
    /// Mean FMR1000.
    Fmr1000,
    /// Mean EER plus a quarter of mean FMR1000 (about equal weight at today's figures).
    Both,
}

impl Objective {
    fn value(self, rates: &[&ErrorRates]) -> f64 {
        let n = rates.len().max(1) as f64;
        let eer = rates.iter().map(|r| r.eer).sum::<f64>() / n;
        let fmr = rates.iter().map(|r| r.fmr1000).sum::<f64>() / n;
        match self {
            Objective::Eer => eer,
            Objective::Fmr1000 => fmr,
            Objective::Both => eer + 0.25 * fmr,
        }
    }
}

/// One parameter combination scored on every database (all-impostor protocol).
#[derive(Debug, Clone, Serialize)]
pub struct ParameterTrial {
    /// The overrides on top of the base parameters (empty: the base itself).
    pub assignments: Vec<String>,
    /// Figures per database, in database order.
    pub rates: Vec<ErrorRates>,
}

/// Scores the base parameters and every combination on every database.
pub fn evaluate(
    databases: &[FvcDatabase],
    base: &MccParams,
    combos: &[Vec<String>],
) -> Result<Vec<ParameterTrial>, GridError> {
    let mut out = Vec::with_capacity(combos.len() + 1);
    for assignments in std::iter::once(&Vec::new()).chain(combos) {
        let mut params = base.clone();
        for a in assignments {
            params.set(a)?;
        }
        let matcher = FingerMatcher::new(params);
        let rates = databases
            .iter()
            .map(|db| {
                report(db, &score_all_pairs(db, &matcher))
                    .map(|r| r.all_impostor)
                    .ok_or_else(|| GridError::EmptyDatabase(db.name.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(ParameterTrial {
            assignments: assignments.clone(),
            rates,
        });
    }
    Ok(out)
}

/// The held-out result of one database.
#[derive(Debug, Clone, Serialize)]
pub struct Fold {
    /// The held-out database.
    pub held_out: String,
    /// The overrides chosen on the other databases.
    pub chosen: Vec<String>,
    /// The objective of the chosen combination on the other databases.
    pub training_objective: f64,
    /// The held-out database's figures under the chosen combination.
    pub held_out_rates: ErrorRates,
}

/// Index of the candidate minimising `objective` over the databases `use_db` keeps (the
/// earliest of equals, so the base wins ties).
pub fn best(
    candidates: &[ParameterTrial],
    objective: Objective,
    use_db: impl Fn(usize) -> bool,
) -> usize {
    let mut best = (0, f64::INFINITY);
    for (i, c) in candidates.iter().enumerate() {
        let rates: Vec<&ErrorRates> = c
            .rates
            .iter()
            .enumerate()
            .filter(|(d, _)| use_db(*d))
            .map(|(_, r)| r)
            .collect();
        let v = objective.value(&rates);
        if v < best.1 {
            best = (i, v);
        }
    }
    best.0
}

/// One fold per database: parameters chosen on the others, figures of the held-out one.
pub fn folds(
    names: &[String],
    candidates: &[ParameterTrial],
    objective: Objective,
) -> Result<Vec<Fold>, GridError> {
    if names.len() < 2 {
        return Err(GridError::TooFewDatabases);
    }
    Ok((0..names.len())
        .map(|held| {
            let i = best(candidates, objective, |d| d != held);
            let c = &candidates[i];
            let training: Vec<&ErrorRates> = c
                .rates
                .iter()
                .enumerate()
                .filter(|(d, _)| *d != held)
                .map(|(_, r)| r)
                .collect();
            Fold {
                held_out: names[held].clone(),
                chosen: c.assignments.clone(),
                training_objective: objective.value(&training),
                held_out_rates: c.rates[held],
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(eer: f64, fmr1000: f64) -> ErrorRates {
        ErrorRates {
            eer,
            fmr100: fmr1000,
            fmr1000,
            zero_fmr: fmr1000,
            genuine: 10,
            impostor: 10,
        }
    }

    #[test]
    fn grid_expands_pairs_and_rejects_bad_values() {
        let base = MccParams::default();
        let a = parse_axis("max_np=8,12", &base).unwrap();
        let b = parse_axis("rho_distance=5:1.6,8:0.8", &base).unwrap();
        assert_eq!(b.values, vec!["5,1.6", "8,0.8"]);
        let combos = combinations(&[a, b]).unwrap();
        assert_eq!(combos.len(), 4);
        assert_eq!(combos[1], vec!["max_np=8", "rho_distance=8,0.8"]);
        assert!(parse_axis("nope=1", &base).is_err());
        assert!(parse_axis("ns=7", &base).is_err());
        assert!(parse_axis("max_np", &base).is_err());
    }

    #[test]
    fn a_fold_never_looks_at_its_held_out_database() {
        // ParameterTrial 1 is best on database 0 only, candidate 2 on databases 1 and 2.
        let c = |a: Vec<ErrorRates>, name: &str| ParameterTrial {
            assignments: vec![name.into()],
            rates: a,
        };
        let candidates = vec![
            c(vec![rates(0.05, 0.1); 3], "base"),
            c(
                vec![rates(0.0, 0.0), rates(0.09, 0.2), rates(0.09, 0.2)],
                "one",
            ),
            c(
                vec![rates(0.2, 0.5), rates(0.01, 0.02), rates(0.01, 0.02)],
                "two",
            ),
        ];
        let names: Vec<String> = ["A", "B", "C"].iter().map(|s| s.to_string()).collect();
        let f = folds(&names, &candidates, Objective::Eer).unwrap();
        // Holding out A: chosen on B and C, so "two", whose A figure is poor.
        assert_eq!(f[0].chosen, vec!["two"]);
        assert_eq!(f[0].held_out_rates.eer, 0.2);
        // Holding out B: on A and C, "one" (0.045) beats "base" (0.05) and "two" (0.105).
        assert_eq!(f[1].chosen, vec!["one"]);
        assert!((f[1].training_objective - 0.045).abs() < 1e-12);
        assert_eq!(f[1].held_out_rates.eer, 0.09);
        // On equal objectives the earliest candidate (the base) is kept.
        let tied = vec![candidates[0].clone(), candidates[0].clone()];
        assert_eq!(best(&tied, Objective::Both, |_| true), 0);
        assert!(folds(&names[..1], &candidates, Objective::Eer).is_err());
    }
}
