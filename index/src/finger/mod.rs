//! Fingerprint matching: Minutia Cylinder-Code (bit-based) with relaxation consolidation.
//!
//! [`prepare`] builds a template's cylinders once (at enrolment for the gallery, once per
//! search for a probe); [`FingerMatcher::compare`] scores two prepared templates and
//! [`FingerMatcher::compare_detailed`] also returns the matched minutia pairs shown to analysts.

pub mod consolidate;
pub mod cylinder;
pub mod geometry;
pub mod kernel;
pub mod params;
pub mod similarity;

use std::cell::RefCell;

pub use consolidate::Scratch;
pub use cylinder::PreparedTemplate;
pub use params::{MccParams, ParamError, MATCHER_VERSION};

use crate::template::FingerTemplate;

/// A matched minutia pair: indices into the two source templates' minutiae.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MinutiaPair {
    /// Minutia index in the probe template.
    pub probe: u16,
    /// Minutia index in the gallery template.
    pub gallery: u16,
    /// Strength of this pair's evidence, 0–1.
    pub strength: f32,
}

/// The outcome of a detailed comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchDetail {
    /// Similarity, 0–1, higher is more similar.
    pub score: f32,
    /// The minutia pairs that formed the score, strongest first.
    pub pairs: Vec<MinutiaPair>,
}

/// The fingerprint matcher: parameters plus the derived constants of a comparison.
#[derive(Debug, Clone)]
pub struct FingerMatcher {
    params: MccParams,
    limits: kernel::SweepLimits,
    tables: consolidate::Tables,
    cylinder_tables: cylinder::CylinderTables,
    kernel: kernel::Kernel,
}

impl Default for FingerMatcher {
    fn default() -> Self {
        Self::new(MccParams::default())
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl FingerMatcher {
    /// A matcher with the given parameters.
    pub fn new(params: MccParams) -> Self {
        let ns = params.ns as f32;
        let disc = (std::f32::consts::PI / 4.0) * ns * ns;
        let min_cells = (params.min_me * disc).ceil() as u32;
        let max_turn = (params.delta_theta / std::f32::consts::TAU * 256.0).clamp(0.0, 128.0) as u8;
        let tables = consolidate::Tables::new(&params);
        let limits = kernel::SweepLimits {
            min_cells,
            max_turn,
        };
        let cylinder_tables = cylinder::CylinderTables::new(&params);
        Self {
            params,
            limits,
            tables,
            cylinder_tables,
            kernel: kernel::detected(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &MccParams {
        &self.params
    }

    /// The same matcher forced onto one kernel (for tests that compare kernels).
    pub fn with_kernel(mut self, kernel: kernel::Kernel) -> Self {
        self.kernel = kernel;
        self
    }

    /// Builds the cylinders of a template.
    pub fn prepare(&self, template: &FingerTemplate) -> PreparedTemplate {
        cylinder::prepare_with(template, &self.params, &self.cylinder_tables)
    }

    /// Similarity of two prepared templates, 0–1.
    pub fn compare(&self, a: &PreparedTemplate, b: &PreparedTemplate) -> f32 {
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut s) => self.compare_with(a, b, &mut s),
            Err(_) => self.compare_with(a, b, &mut Scratch::default()),
        })
    }

    /// Similarity and the matched minutia pairs.
    pub fn compare_detailed(&self, a: &PreparedTemplate, b: &PreparedTemplate) -> MatchDetail {
        let mut scratch = Scratch::default();
        let score = self.compare_with(a, b, &mut scratch);
        let pairs = scratch
            .pairs
            .iter()
            .map(|&(ia, ib, s)| MinutiaPair {
                probe: a.source_index[usize::from(ia)],
                gallery: b.source_index[usize::from(ib)],
                strength: s,
            })
            .collect();
        MatchDetail { score, pairs }
    }

    /// Similarity using caller-provided buffers.
    pub fn compare_with(
        &self,
        a: &PreparedTemplate,
        b: &PreparedTemplate,
        scratch: &mut Scratch,
    ) -> f32 {
        kernel::compare(
            self.kernel,
            a,
            b,
            self.limits,
            &self.tables,
            &self.params,
            scratch,
        )
    }
}
