//! Tunable parameters of the Minutia Cylinder-Code matcher.
//!
//! Distances are in internal units (500 ppi pixels), angles in radians. The defaults follow
//! Cappelli, Ferrara and Maltoni, "Minutia Cylinder-Code" (IEEE TPAMI 2010), adjusted where
//! measurements on real data showed a gain (each such change is noted on its field).

use std::f32::consts::PI;

/// Parameters of cylinder construction and of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct MccParams {
    /// Cylinder radius R.
    pub radius: f32,
    /// Cells per side NS (a multiple of 8, at most 16).
    pub ns: usize,
    /// Angular sections ND (at most 8).
    pub nd: usize,
    /// Spatial Gaussian σS.
    pub sigma_s: f32,
    /// Directional Gaussian σD.
    pub sigma_d: f32,
    /// Bit threshold μΨ on a cell's summed contribution.
    pub mu_psi: f32,
    /// Enlargement ω of the convex hull that bounds valid cells.
    pub omega: f32,
    /// Minimum fraction of valid cells (of those inside the disc) for a cylinder to be kept.
    pub min_vc: f32,
    /// Minimum number of neighbouring minutiae for a cylinder to be kept.
    pub min_m: usize,
    /// Minimum fraction of jointly valid cells for two cylinders to be comparable.
    pub min_me: f32,
    /// Largest direction difference δθ between two comparable minutiae.
    pub delta_theta: f32,
    /// Consolidation: smallest and largest number of pairs averaged (minNP, maxNP).
    pub min_np: usize,
    /// See `min_np`.
    pub max_np: usize,
    /// Consolidation: sigmoid centre μP and slope τP mapping minutiae count to pairs averaged.
    pub mu_p: f32,
    /// See `mu_p`.
    pub tau_p: f32,
    /// Relaxation iterations.
    pub relax_iterations: usize,
    /// Relaxation weight wR of a pair's own previous value.
    pub relax_weight: f32,
    /// Compatibility sigmoid for the distance difference (centre, slope).
    pub rho_distance: (f32, f32),
    /// Compatibility sigmoid for the direction difference (centre, slope).
    pub rho_direction: (f32, f32),
    /// Compatibility sigmoid for the radial angle difference (centre, slope).
    pub rho_radial: (f32, f32),
}

impl Default for MccParams {
    fn default() -> Self {
        Self {
            radius: 70.0,
            ns: 16,
            nd: 6,
            sigma_s: 28.0 / 3.0,
            sigma_d: 2.0 * PI / 9.0,
            mu_psi: 0.01,
            omega: 50.0,
            min_vc: 0.75,
            min_m: 2,
            min_me: 0.60,
            delta_theta: PI / 2.0,
            min_np: 4,
            max_np: 12,
            mu_p: 20.0,
            tau_p: 0.4,
            relax_iterations: 5,
            relax_weight: 0.5,
            rho_distance: (5.0, 8.0 / 5.0),
            rho_direction: (PI / 12.0, 30.0),
            rho_radial: (PI / 12.0, 30.0),
        }
    }
}

impl MccParams {
    /// Cells per angular layer (NS²).
    pub fn cells(&self) -> usize {
        self.ns * self.ns
    }

    /// 64-bit words per angular layer.
    pub fn words_per_layer(&self) -> usize {
        self.cells().div_ceil(64)
    }
}
