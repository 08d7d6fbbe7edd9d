//! The eye encoder's settings: every stage's parameters, their documented defaults, and
//! `name=value` assignments for tuning runs.

use serde::{Deserialize, Serialize};

use super::EyeError;

/// Tunable parameters of the eye encoder; [`EyeParams::default`] is the documented setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EyeParams {
    /// Target short side of the working plane for the searches, in pixels.
    pub working_side: u32,
    /// Pupil radius range as fractions of the working short side.
    pub pupil_radius: (f32, f32),
    /// Iris radius range as fractions of the working short side.
    pub iris_radius: (f32, f32),
    /// Pupil/iris radius ratios searched.
    pub search_dilation: (f32, f32),
    /// Pupil/iris radius ratios accepted (outside: `iris_geometry_implausible`).
    pub accepted_dilation: (f32, f32),
    /// Largest horizontal limbus–pupil centre offset searched, in pupil radii.
    pub max_centre_offset: f32,
    /// Largest vertical limbus–pupil centre offset searched, in pupil radii (the lateral
    /// arcs the limbus is measured on pin its centre down horizontally far better than
    /// vertically).
    pub max_centre_offset_y: f32,
    /// Dark pupil-sized boxes tried as pupil seeds.
    pub pupil_seeds: usize,
    /// Further pupil candidates (the next best seeds' circles, apart from each other) tried
    /// when the best one fails to enrol (0: none).
    pub pupil_retries: usize,
    /// 0: pupil radii searched over the whole `pupil_radius` range; otherwise within this
    /// factor either way of the radius of the dark blob around the seed (so the darker
    /// pupil, not the iris around it, is the disc found).
    pub pupil_size_window: f32,
    /// 0: off; otherwise a darker disc found inside the best pupil circle replaces it when
    /// its boundary step is at least this fraction of the outer circle's (the outer circle
    /// was then the limbus of a dark iris).
    pub pupil_nested: f32,
    /// Pupil candidates (one per seed) ranked by the third-weakest of eight sector steps
    /// around the circle, capped by the step from the disc's interior to its outside,
    /// instead of the mean step (print or lashes step up on some sides only and hold bright
    /// gaps); a nested disc must reach the nested threshold by that rank too.
    pub pupil_sectors: bool,
    /// 0: off; otherwise the pupil is first sought as the darkest compact blob (pixels at
    /// most this fraction of the way from the image's darkest level to its median, opened to
    /// cut them from the lashes; the region most like a filled disc of a pupil's size), its
    /// circle refined within ±20 % of the blob's half-width; the dark-box seeds are the
    /// fallback when no blob qualifies.
    pub pupil_blob: f32,
    /// Raised blob thresholds tried, one after the other, when the pupil of the blob at
    /// `pupil_blob` fails to enrol (each 0.1 further of the way from the darkest level to
    /// the median): dark marks darker than the pupil (print, mascara, a frame) set the
    /// darkest level and leave the pupil only partly under the first threshold.
    pub pupil_blob_ladder: usize,
    /// 0: the blob is thresholded on the working plane itself; otherwise on its box means
    /// of `(2·this + 1)²` pixels (sensor noise and the darkest single pixels move the
    /// darkest level and fray the pupil's region less).
    pub pupil_blob_smooth: usize,
    /// Radii of the blob's pupil circle as factors of the blob's half-width (`lo:hi`); below
    /// 0.8 the centre may also move sideways by the shortfall (a blob joined to lashes or
    /// dark iris at one side is wider than the pupil, and off centre).
    pub pupil_blob_window: (f32, f32),
    /// Blank lines along the image's edges (rows or columns of one grey level, such as a
    /// capture's black first and last rows) are left out of the blob threshold's darkest
    /// level and median.
    pub pupil_blob_frame: bool,
    /// Further blob thresholds tried when no region qualifies at `pupil_blob`: the k-th at
    /// `(1 + k/2) · pupil_blob` (a noisy pupil splits into fragments too small to qualify
    /// at a threshold near its own level); the dark-box seeds are the fallback after them.
    pub pupil_blob_retries: usize,
    /// Limbus circles keep the inner band of their step clear of the pupil on every side
    /// (offset + 1.1 pupil radii + the band < radius); without it a circle pushed sideways
    /// scored the pupil boundary on one arc.
    pub limbus_clear_pupil: bool,
    /// 0: off; otherwise, after the best limbus circle, the best circle at least two step
    /// bands smaller replaces it when its step is at least this fraction of the best one's
    /// (repeated up to three times): the sclera's edge against the eye corners or the lids
    /// can step up more than the limbus inside it.
    pub limbus_inner_edge: f32,
    /// Least share of the limbus arcs' samples inside the image for a circle to be scored.
    pub limbus_coverage: f32,
    /// Limbus candidates ranked by the step over the mean grey level of the two bands
    /// (Weber contrast: a dark iris against the sclera beats a bright sclera against
    /// brighter skin) instead of the step alone.
    pub limbus_weber: bool,
    /// Limbus candidates ranked by the median over directions of each direction's step
    /// (lashes or a lid across part of an arc move it little) instead of the step of the
    /// arcs' mean grey levels; the median step is then the limbus contrast.
    pub limbus_median: bool,
    /// Limbus candidates ranked by the weaker of the two lateral arcs' steps (a limbus steps
    /// up on both sides of the iris, an eye corner on one); overrides `limbus_median`.
    pub limbus_arcs: bool,
    /// Fourier harmonics kept in the pupil contour (0: the pupil is a circle).
    pub pupil_harmonics: usize,
    /// Least grey-level step across the pupil boundary.
    pub min_pupil_contrast: f32,
    /// Least grey-level step across the limbus.
    pub min_iris_contrast: f32,
    /// Least grey-level step across an eyelid edge for it to count.
    pub min_eyelid_contrast: f32,
    /// Apex columns of curved eyelids searched either side of the iris centre, 0.2 iris
    /// radii apart (0: the apex on the iris centre's column only); a tilted lid is a curved
    /// one with its apex off centre.
    pub eyelid_apex_shifts: usize,
    /// 0: off; otherwise the upper lid is moved down, by at most this fraction of the iris
    /// radius, to the lower edge of the lashes hanging from it (the strongest step from dark
    /// above to brighter below, when it reaches half `min_eyelid_contrast`).
    pub eyelid_lashes: f32,
    /// Eyelid edges moved this fraction of the iris radius towards the pupil (the lashes
    /// rooted along the edge are masked with the lid).
    pub eyelid_margin: f32,
    /// Specular reflection: at least this bright…
    pub reflection_min: f32,
    /// …and this much brighter than the 11 × 11 neighbourhood.
    pub reflection_contrast: f32,
    /// 0: off; otherwise a bright spot (8-connected) wider or taller than this fraction of
    /// the working short side is not a reflection (left as it is, not filled in).
    pub reflection_max_extent: f32,
    /// Samples at least this bright are masked as saturated.
    pub saturation: f32,
    /// Eyelash threshold: this fraction of the way from the pupil level to the iris median.
    pub eyelash_fraction: f32,
    /// Normalised radii sampled, from the pupil boundary (0) to the limbus (1).
    pub radial_range: (f32, f32),
    /// Polar rows.
    pub radial_samples: usize,
    /// Least polar columns (raised to a multiple of the layout's angular positions).
    pub angular_samples: usize,
    /// Angular wavelength of the first filter, in turns.
    pub wavelength: f32,
    /// Wavelength ratio between successive filters.
    pub wavelength_ratio: f32,
    /// Angular Gaussian envelope of the Gabor filters, in wavelengths.
    pub sigma_angular: f32,
    /// 0: Gabor filters; otherwise 1-D log-Gabor filters along the angle with this ratio of
    /// the Gaussian's width (on a log-frequency axis) to the centre frequency, `σ/f₀`
    /// (0.5 in Masek's encoder).
    pub log_gabor: f32,
    /// Radial Gaussian envelope, in ring spacings.
    pub sigma_radial: f32,
    /// Least valid share of a position's envelope for its bits to be valid.
    pub min_valid: f32,
    /// Share of the weakest responses masked as fragile bits.
    pub fragile_share: f32,
    /// Angular low-pass removed from each ring before filtering, as the standard deviation
    /// of a Gaussian in wavelengths of the filter (0: none).
    pub highpass: f32,
    /// Failure to enrol below this usable share of the iris.
    pub min_usable_share: f32,
    /// Failure to enrol below this sharpness.
    pub min_sharpness: f32,
}

impl Default for EyeParams {
    fn default() -> Self {
        Self {
            working_side: 240,
            pupil_radius: (0.03, 0.3),
            iris_radius: (0.12, 0.6),
            search_dilation: (0.15, 0.8),
            accepted_dilation: (0.15, 0.8),
            max_centre_offset: 0.5,
            max_centre_offset_y: 0.15,
            pupil_seeds: 5,
            pupil_retries: 0,
            pupil_size_window: 0.0,
            pupil_nested: 0.35,
            pupil_sectors: false,
            pupil_blob: 0.15,
            pupil_blob_ladder: 1,
            pupil_blob_smooth: 0,
            pupil_blob_window: (0.8, 1.25),
            pupil_blob_frame: false,
            pupil_blob_retries: 2,
            limbus_clear_pupil: true,
            limbus_inner_edge: 0.0,
            limbus_coverage: 0.85,
            limbus_weber: false,
            limbus_median: false,
            limbus_arcs: false,
            pupil_harmonics: 2,
            min_pupil_contrast: 8.0,
            min_iris_contrast: 3.0,
            min_eyelid_contrast: 10.0,
            eyelid_apex_shifts: 0,
            eyelid_lashes: 0.0,
            eyelid_margin: 0.1,
            reflection_min: 180.0,
            reflection_contrast: 40.0,
            reflection_max_extent: 0.05,
            saturation: 250.0,
            eyelash_fraction: 0.35,
            radial_range: (0.0, 1.0),
            radial_samples: 64,
            angular_samples: 256,
            wavelength: 0.07,
            wavelength_ratio: 2.0,
            sigma_angular: 0.2,
            log_gabor: 0.0,
            sigma_radial: 0.5,
            min_valid: 0.9,
            fragile_share: 0.0,
            highpass: 2.0,
            min_usable_share: 0.3,
            min_sharpness: 0.05,
        }
    }
}

impl EyeParams {
    /// Sets one parameter from `name=value` (tuning runs); pairs are written `a:b`.
    pub fn set(&mut self, assignment: &str) -> Result<(), EyeError> {
        let (name, value) = assignment
            .split_once('=')
            .ok_or(EyeError::InvalidParams("expected name=value"))?;
        let f = |v: &str| {
            v.trim()
                .parse::<f32>()
                .map_err(|_| EyeError::InvalidParams("not a number"))
        };
        let pair = |v: &str| -> Result<(f32, f32), EyeError> {
            let (a, b) = v
                .split_once(':')
                .ok_or(EyeError::InvalidParams("expected a pair a:b"))?;
            Ok((f(a)?, f(b)?))
        };
        let u = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| EyeError::InvalidParams("not a whole number"))
        };
        let flag = |v: &str| match v.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(EyeError::InvalidParams("expected true or false")),
        };
        match name.trim() {
            "working_side" => self.working_side = u(value)? as u32,
            "pupil_radius" => self.pupil_radius = pair(value)?,
            "iris_radius" => self.iris_radius = pair(value)?,
            "search_dilation" => self.search_dilation = pair(value)?,
            "accepted_dilation" => self.accepted_dilation = pair(value)?,
            "max_centre_offset" => self.max_centre_offset = f(value)?,
            "max_centre_offset_y" => self.max_centre_offset_y = f(value)?,
            "pupil_seeds" => self.pupil_seeds = u(value)?,
            "pupil_retries" => self.pupil_retries = u(value)?,
            "pupil_size_window" => self.pupil_size_window = f(value)?,
            "limbus_coverage" => self.limbus_coverage = f(value)?,
            "limbus_inner_edge" => self.limbus_inner_edge = f(value)?,
            "pupil_nested" => self.pupil_nested = f(value)?,
            "limbus_weber" => self.limbus_weber = flag(value)?,
            "pupil_sectors" => self.pupil_sectors = flag(value)?,
            "pupil_blob" => self.pupil_blob = f(value)?,
            "pupil_blob_ladder" => self.pupil_blob_ladder = u(value)?,
            "pupil_blob_smooth" => self.pupil_blob_smooth = u(value)?,
            "pupil_blob_window" => self.pupil_blob_window = pair(value)?,
            "pupil_blob_frame" => self.pupil_blob_frame = flag(value)?,
            "pupil_blob_retries" => self.pupil_blob_retries = u(value)?,
            "limbus_median" => self.limbus_median = flag(value)?,
            "limbus_clear_pupil" => self.limbus_clear_pupil = flag(value)?,
            "limbus_arcs" => self.limbus_arcs = flag(value)?,
            "pupil_harmonics" => self.pupil_harmonics = u(value)?,
            "min_pupil_contrast" => self.min_pupil_contrast = f(value)?,
            "min_iris_contrast" => self.min_iris_contrast = f(value)?,
            "min_eyelid_contrast" => self.min_eyelid_contrast = f(value)?,
            "eyelid_apex_shifts" => self.eyelid_apex_shifts = u(value)?,
            "eyelid_margin" => self.eyelid_margin = f(value)?,
            "eyelid_lashes" => self.eyelid_lashes = f(value)?,
            "reflection_min" => self.reflection_min = f(value)?,
            "reflection_contrast" => self.reflection_contrast = f(value)?,
            "reflection_max_extent" => self.reflection_max_extent = f(value)?,
            "saturation" => self.saturation = f(value)?,
            "eyelash_fraction" => self.eyelash_fraction = f(value)?,
            "radial_range" => self.radial_range = pair(value)?,
            "radial_samples" => self.radial_samples = u(value)?,
            "angular_samples" => self.angular_samples = u(value)?,
            "wavelength" => self.wavelength = f(value)?,
            "wavelength_ratio" => self.wavelength_ratio = f(value)?,
            "sigma_angular" => self.sigma_angular = f(value)?,
            "log_gabor" => self.log_gabor = f(value)?,
            "sigma_radial" => self.sigma_radial = f(value)?,
            "min_valid" => self.min_valid = f(value)?,
            "fragile_share" => self.fragile_share = f(value)?,
            "highpass" => self.highpass = f(value)?,
            "min_usable_share" => self.min_usable_share = f(value)?,
            "min_sharpness" => self.min_sharpness = f(value)?,
            _ => return Err(EyeError::InvalidParams("unknown eye encoder parameter")),
        }
        self.validate()
    }

    /// Pupil candidates tried in turn until one enrols: the first, then the blob ladder's
    /// (with the blob on), then the retries'.
    pub fn pupil_candidates(&self) -> usize {
        let ladder = if self.pupil_blob > 0.0 {
            self.pupil_blob_ladder
        } else {
            0
        };
        1 + ladder + self.pupil_retries
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), EyeError> {
        let ordered = |(a, b): (f32, f32)| a.is_finite() && b.is_finite() && 0.0 <= a && a < b;
        if !(ordered(self.pupil_radius)
            && ordered(self.iris_radius)
            && ordered(self.search_dilation)
            && ordered(self.accepted_dilation)
            && ordered(self.radial_range)
            && ordered(self.pupil_blob_window)
            && self.pupil_blob_window.0 >= 0.3
            && self.pupil_blob_window.1 <= 3.0
            && self.radial_range.1 <= 1.5)
        {
            return Err(EyeError::InvalidParams(
                "ranges must be finite, non-negative and increasing \
                 (pupil_blob_window within 0.3..=3)",
            ));
        }
        if !(32..=1_000).contains(&self.working_side)
            || !(4..=256).contains(&self.radial_samples)
            || !(16..=4096).contains(&self.angular_samples)
            || !(1..=32).contains(&self.pupil_seeds)
            || self.pupil_harmonics > 8
            || self.eyelid_apex_shifts > 4
            || self.pupil_retries > 8
            || self.pupil_blob_ladder > 8
            || self.pupil_blob_smooth > 8
            || self.pupil_blob_retries > 4
        {
            return Err(EyeError::InvalidParams(
                "working_side 32–1000, radial_samples 4–256, angular_samples 16–4096, \
                 pupil_seeds 1–32, pupil_harmonics 0–8, eyelid_apex_shifts 0–4, \
                 pupil_retries 0–8, pupil_blob_ladder and pupil_blob_smooth 0–8, \
                 pupil_blob_retries 0–4",
            ));
        }
        let positive = [
            self.wavelength,
            self.wavelength_ratio,
            self.sigma_angular,
            self.sigma_radial,
        ];
        if positive.iter().any(|v| !(v.is_finite() && *v > 0.0)) || self.wavelength > 1.0 {
            return Err(EyeError::InvalidParams(
                "wavelength (at most 1 turn), ratio and sigmas must be positive",
            ));
        }
        if !(self.pupil_size_window == 0.0 || (1.0..=4.0).contains(&self.pupil_size_window)) {
            return Err(EyeError::InvalidParams(
                "pupil_size_window must be 0 (off) or within 1..=4",
            ));
        }
        if !(self.log_gabor == 0.0 || (0.1..=0.95).contains(&self.log_gabor)) {
            return Err(EyeError::InvalidParams(
                "log_gabor must be 0 (Gabor) or a bandwidth ratio within 0.1..=0.95",
            ));
        }
        let shares = [
            self.min_valid,
            self.fragile_share,
            self.min_usable_share,
            self.eyelash_fraction,
            self.eyelid_margin,
            self.eyelid_lashes,
            self.limbus_coverage,
            self.limbus_inner_edge,
            self.pupil_nested,
            self.pupil_blob,
            self.reflection_max_extent,
        ];
        if shares.iter().any(|v| !(0.0..=1.0).contains(v)) || self.fragile_share >= 0.9 {
            return Err(EyeError::InvalidParams(
                "shares must lie in 0..=1 (fragile_share below 0.9)",
            ));
        }
        if !(0.0..=10.0).contains(&self.highpass) {
            return Err(EyeError::InvalidParams("highpass must lie in 0..=10"));
        }
        Ok(())
    }
}
