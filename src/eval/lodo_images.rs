//! Leave-one-database-out tuning over extractor and matcher parameters on folders of
//! images: the images are extracted once per distinct extractor setting, and every matcher
//! combination is scored on each setting's templates.

use serde::Serialize;
use tunggal_index::extract::{ExtractParams, Extractor};
use tunggal_index::finger::MccParams;

use super::images::{self, ExtractionReport, ImageDatabase, PpiPlan};
use super::lodo::{self, Axis, GridError, ParameterTrial};

/// Prefix of extractor parameters in grids.
pub const PREFIX: &str = "extract.";

/// The extraction figures of one extractor setting.
#[derive(Debug, Clone, Serialize)]
pub struct SettingExtraction {
    /// The extractor overrides (empty: the base).
    pub assignments: Vec<String>,
    /// Per database.
    pub databases: Vec<ExtractionReport>,
}

/// Every trial of the grid with the extraction figures per extractor setting.
#[derive(Debug, Clone)]
pub struct ImageTrials {
    /// Database names.
    pub names: Vec<String>,
    /// Candidates; the first is the base of both the extractor and the matcher.
    pub candidates: Vec<ParameterTrial>,
    /// Extraction per extractor setting.
    pub extraction: Vec<SettingExtraction>,
    /// Combinations besides the base.
    pub combinations: usize,
}

fn parse_extract_axis(spec: &str, base: &ExtractParams) -> anyhow::Result<Axis> {
    let (name, values) = spec
        .split_once('=')
        .ok_or_else(|| GridError::Syntax(spec.into()))?;
    let name = name.trim_start_matches(PREFIX);
    let values: Vec<String> = values
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    anyhow::ensure!(
        !name.is_empty() && !values.is_empty(),
        "expected extract.name=v1,v2,…, got {spec:?}"
    );
    for v in &values {
        base.clone().set(&format!("{name}={v}"))?;
    }
    Ok(Axis {
        name: name.into(),
        values,
    })
}

/// Scores the base and every combination of `grid` (extractor axes `extract.name=…`, the
/// rest matcher axes) on every database.
pub fn evaluate(
    databases: &[ImageDatabase],
    extract_base: &ExtractParams,
    ppi: &PpiPlan,
    matcher_base: &MccParams,
    grid: &[String],
) -> anyhow::Result<ImageTrials> {
    let (extract_specs, matcher_specs): (Vec<&String>, Vec<&String>) =
        grid.iter().partition(|g| g.starts_with(PREFIX));
    let extract_axes = extract_specs
        .iter()
        .map(|g| parse_extract_axis(g, extract_base))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let matcher_axes = matcher_specs
        .iter()
        .map(|g| lodo::parse_axis(g, matcher_base))
        .collect::<Result<Vec<_>, _>>()?;
    let extract_combos = lodo::combinations(&extract_axes)?;
    let matcher_combos = lodo::combinations(&matcher_axes)?;
    let settings: Vec<Vec<String>> = if extract_axes.is_empty() {
        vec![Vec::new()]
    } else {
        std::iter::once(Vec::new()).chain(extract_combos).collect()
    };
    let matcher_count = if matcher_axes.is_empty() {
        1
    } else {
        matcher_combos.len() + 1
    };
    let total = settings.len() * matcher_count;
    if total > lodo::MAX_COMBINATIONS {
        return Err(GridError::TooLarge(total).into());
    }
    let matcher_combos: &[Vec<String>] = if matcher_axes.is_empty() {
        &[]
    } else {
        &matcher_combos
    };
    let mut candidates = Vec::with_capacity(total);
    let mut extraction = Vec::with_capacity(settings.len());
    let mut names = Vec::new();
    for setting in &settings {
        let mut params = extract_base.clone();
        for a in setting {
            params.set(a)?;
        }
        let extractor = Extractor::new(params);
        let (dbs, reports) = images::extract_all(databases, &extractor, ppi);
        names = dbs.iter().map(|d| d.name.clone()).collect();
        let labelled: Vec<String> = setting.iter().map(|a| format!("{PREFIX}{a}")).collect();
        for mut trial in lodo::evaluate(&dbs, matcher_base, matcher_combos)? {
            let mut assignments = labelled.clone();
            assignments.append(&mut trial.assignments);
            trial.assignments = assignments;
            candidates.push(trial);
        }
        extraction.push(SettingExtraction {
            assignments: labelled,
            databases: reports,
        });
    }
    Ok(ImageTrials {
        names,
        candidates,
        extraction,
        combinations: total - 1,
    })
}
