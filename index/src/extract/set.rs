//! Setting [`ExtractParams`] by name, for tuning runs (`name=value`).

use super::ExtractParams;

/// Why a parameter assignment was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExtractParamError {
    /// Not of the form `name=value`.
    #[error("expected name=value, got {0:?}")]
    Syntax(String),
    /// No extractor parameter has that name.
    #[error("unknown extractor parameter {0:?}")]
    Unknown(String),
    /// The value does not parse or is out of range for the parameter.
    #[error("bad value {1:?} for extractor parameter {0}")]
    Value(String, String),
}

fn count(name: &str, value: &str, min: usize, max: usize) -> Result<usize, ExtractParamError> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| ExtractParamError::Value(name.into(), value.into()))
}

fn real(name: &str, value: &str, min: f32, max: f32) -> Result<f32, ExtractParamError> {
    value
        .trim()
        .parse::<f32>()
        .ok()
        .filter(|v| v.is_finite() && (min..=max).contains(v))
        .ok_or_else(|| ExtractParamError::Value(name.into(), value.into()))
}

impl ExtractParams {
    /// Sets one parameter from `name=value` (names as the fields), checking its range.
    pub fn set(&mut self, assignment: &str) -> Result<(), ExtractParamError> {
        let (name, v) = assignment
            .split_once('=')
            .ok_or_else(|| ExtractParamError::Syntax(assignment.into()))?;
        let name = name.trim();
        let mut next = self.clone();
        let p = &mut next;
        match name {
            "block" => p.block = count(name, v, 4, 32)?,
            "orientation_smooth" => p.orientation_smooth = count(name, v, 0, 8)?,
            "contrast_fraction" => p.contrast_fraction = real(name, v, 0.0, 1.0)?,
            "min_contrast" => p.min_contrast = real(name, v, 0.0, 128.0)?,
            "min_coherence" => p.min_coherence = real(name, v, 0.0, 1.0)?,
            "border_blocks" => p.border_blocks = count(name, v, 0, 8)?,
            "edge_margin" => p.edge_margin = count(name, v, 0, 64)?,
            "min_period" => p.min_period = real(name, v, 2.0, 32.0)?,
            "max_period" => p.max_period = real(name, v, 2.0, 32.0)?,
            "default_period" => p.default_period = real(name, v, 2.0, 32.0)?,
            "gabor_across" => p.gabor_across = real(name, v, 0.05, 2.0)?,
            "gabor_along" => p.gabor_along = real(name, v, 0.05, 2.0)?,
            "gabor_extent" => p.gabor_extent = real(name, v, 0.5, 4.0)?,
            "gabor_max_radius" => p.gabor_max_radius = count(name, v, 1, 24)?,
            "trace_steps" => p.trace_steps = count(name, v, 1, 64)?,
            "short_ridge" => p.short_ridge = count(name, v, 0, 64)?,
            "spur" => p.spur = count(name, v, 0, 64)?,
            "bridge" => p.bridge = count(name, v, 0, 64)?,
            "break_distance" => p.break_distance = count(name, v, 0, 64)?,
            "cluster_distance" => p.cluster_distance = count(name, v, 0, 64)?,
            "max_minutiae" => p.max_minutiae = count(name, v, 1, 255)?,
            _ => return Err(ExtractParamError::Unknown(name.into())),
        }
        if p.min_period > p.max_period {
            return Err(ExtractParamError::Value(name.into(), v.into()));
        }
        *self = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_changes_one_field_and_refuses_bad_input() {
        let mut p = ExtractParams::default();
        p.set("gabor_extent=2.0").unwrap();
        assert_eq!(p.gabor_extent, 2.0);
        p.set("spur=8").unwrap();
        assert_eq!(p.spur, 8);
        assert!(matches!(
            p.set("nope=1"),
            Err(ExtractParamError::Unknown(_))
        ));
        assert!(matches!(p.set("spur"), Err(ExtractParamError::Syntax(_))));
        assert!(matches!(
            p.set("block=0"),
            Err(ExtractParamError::Value(..))
        ));
        assert!(matches!(
            p.set("gabor_extent=NaN"),
            Err(ExtractParamError::Value(..))
        ));
        assert!(p.set("min_period=30").is_err());
        assert_eq!(p.min_period, ExtractParams::default().min_period);
    }
}
