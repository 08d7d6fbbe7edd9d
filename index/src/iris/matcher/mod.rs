//! The iris matcher: 1:1 comparison and the 1:N scan over gallery records.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::error::IrisError;
use super::kernel::{BitCounts, CascadeTables, GateShape, GateWork, Kernel};
use super::layout::IrisLayout;
use super::probe::{IrisProbe, IrisQuery};
use super::score::{normalise, IrisComparison, IrisScore, MatchConfig, MAX_WINDOW};
use super::strided::{record_of, IrisRecords};
use super::template::IrisTemplate;

/// Most rotations a window can have.
const MAX_ROTATIONS: usize = 2 * MAX_WINDOW + 1;

/// How a 1:N scan computes distances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScanStrategy {
    /// Every rotation over every row.
    Full,
    /// Every rotation over the record prefix, then all rows only for rotations the prefix
    /// cannot rule out (see [`super::CascadeConfig`]).
    Cascade,
    /// A coarse first level (the record prefix at every few rotations, see
    /// [`super::CoarseConfig`]) drops the records no coarse rotation brings within reach of
    /// the threshold; the others are compared as by [`ScanStrategy::Full`]. Every hit is a
    /// hit of [`ScanStrategy::Full`] with the same score; a record the coarse level drops
    /// is missed even if its full distance is at or below the threshold.
    Coarse,
    /// [`ScanStrategy::Full`] computed record by record and rotation by rotation through
    /// [`Kernel::rotation_counts`]: the same hits, kept as a reference for tests and
    /// benchmarks.
    FullReference,
    /// [`ScanStrategy::Cascade`] computed record by record and rotation by rotation through
    /// [`Kernel::rotation_counts`] and [`Kernel::add_selected_rotations`]: the same hits,
    /// kept as a reference for tests and benchmarks.
    CascadeReference,
}

/// Records per call of the block kernel [`Kernel::cascade_rotations`].
const GATE_BLOCK: usize = 64;

/// A gallery record whose best score is at or below the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IrisHit {
    /// Index of the record (offset by the `base_index` given to the scan).
    pub index: usize,
    /// Its best score over the rotations computed.
    pub score: IrisScore,
}

/// Work done by a scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanStats {
    /// Records scanned.
    pub records: u64,
    /// Rotations computed over all rows (all of them for [`ScanStrategy::Full`]).
    pub completed_rotations: u64,
    /// (rotation, row) pairs compared: the work done, `records × rotations × rows` for
    /// [`ScanStrategy::Full`].
    pub row_comparisons: u64,
    /// Records with a rotation left after the first gate of the block-kernel scan (the
    /// cascade prefix, the coarse level for [`ScanStrategy::Coarse`], or the final threshold
    /// for [`ScanStrategy::Full`]); 0 for the
    /// reference strategies.
    pub gate_survivors: u64,
}

impl ScanStats {
    fn merge(self, other: Self) -> Self {
        Self {
            records: self.records + other.records,
            completed_rotations: self.completed_rotations + other.completed_rotations,
            row_comparisons: self.row_comparisons + other.row_comparisons,
            gate_survivors: self.gate_survivors + other.gate_survivors,
        }
    }
}

/// Iris matcher for one layout and one set of settings, bound to a bit-counting kernel.
#[derive(Debug, Clone, Copy)]
pub struct IrisMatcher {
    layout: IrisLayout,
    config: MatchConfig,
    kernel: Kernel,
}

impl IrisMatcher {
    /// A matcher with explicit settings and the best kernel of this CPU.
    pub fn new(layout: IrisLayout, config: MatchConfig) -> Result<Self, IrisError> {
        config.validate(layout)?;
        Ok(Self {
            layout,
            config,
            kernel: Kernel::best(),
        })
    }

    /// A matcher with the default settings of `layout` ([`MatchConfig::for_layout`]).
    pub fn for_layout(layout: IrisLayout) -> Self {
        Self {
            layout,
            config: MatchConfig::for_layout(layout),
            kernel: Kernel::best(),
        }
    }

    /// The same matcher running `kernel`.
    pub fn with_kernel(self, kernel: Kernel) -> Self {
        Self { kernel, ..self }
    }

    /// Layout matched.
    pub fn layout(&self) -> IrisLayout {
        self.layout
    }

    /// Settings.
    pub fn config(&self) -> &MatchConfig {
        &self.config
    }

    /// Kernel in use.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Prepares a probe (rotated copies), refusing unusable templates.
    pub fn prepare(&self, template: &IrisTemplate) -> Result<IrisProbe, IrisError> {
        self.check_layout(template.layout())?;
        IrisProbe::new(template, &self.config)
    }

    /// Prepares a probe for 1:N scans at `threshold` on the normalised distance.
    pub fn query(&self, template: &IrisTemplate, threshold: f64) -> Result<IrisQuery, IrisError> {
        IrisQuery::new(self.prepare(template)?, threshold)
    }

    /// Compares a prepared probe with one gallery record at every rotation of the window.
    pub fn compare(&self, probe: &IrisProbe, record: &[u64]) -> Result<IrisComparison, IrisError> {
        self.check_layout(probe.layout())?;
        let stride = self.layout.record_words();
        if record.len() != stride {
            return Err(IrisError::WrongLength {
                what: "record",
                unit: "words",
                expected: stride,
                actual: record.len(),
            });
        }
        let config = probe.config();
        let rotations = config.rotations();
        let mut counts = [BitCounts::default(); MAX_ROTATIONS];
        let counts = &mut counts[..rotations];
        let w = self.layout.words_per_row();
        self.kernel
            .rotation_counts(probe.shifted(), stride, record, w, counts);
        let mut best: Option<IrisScore> = None;
        let mut most_bits = 0;
        for (i, c) in counts.iter().enumerate() {
            most_bits = most_bits.max(c.valid);
            if c.valid >= config.min_compared_bits.max(1) {
                best = better(best, score_of(*c, i, config));
            }
        }
        Ok(match best {
            Some(score) => IrisComparison::Scored(score),
            None => IrisComparison::TooFewBits {
                compared_bits: most_bits,
                required: config.min_compared_bits,
            },
        })
    }

    /// Compares two templates (the first is the probe); both must be usable.
    pub fn compare_templates(
        &self,
        probe: &IrisTemplate,
        gallery: &IrisTemplate,
    ) -> Result<IrisComparison, IrisError> {
        self.check_layout(gallery.layout())?;
        gallery.check_usable(self.config.min_template_bits)?;
        let probe = self.prepare(probe)?;
        self.compare(&probe, &record_of(gallery))
    }

    /// Scans a contiguous run of gallery records and appends to `out` every record whose best
    /// normalised distance is at or below the query threshold, with index `base_index + i`.
    ///
    /// The loop allocates nothing except when `out` grows.
    pub fn scan(
        &self,
        query: &IrisQuery,
        records: IrisRecords<'_>,
        base_index: usize,
        strategy: ScanStrategy,
        out: &mut Vec<IrisHit>,
    ) -> Result<ScanStats, IrisError> {
        let probe = query.probe();
        self.check_layout(probe.layout())?;
        self.check_layout(records.layout())?;
        let config = probe.config();
        let rotations = config.rotations();
        let stride = self.layout.record_words();
        let w = self.layout.words_per_row();
        let shifted = probe.shifted();
        let kernel = self.kernel;
        let mut counts = [BitCounts::default(); MAX_ROTATIONS];
        let counts = &mut counts[..rotations];
        let mut completed = 0u64;
        let mut row_comparisons = 0u64;
        match strategy {
            ScanStrategy::Full | ScanStrategy::Cascade | ScanStrategy::Coarse => {
                return Ok(self.scan_gated(query, records, base_index, strategy, out));
            }
            ScanStrategy::FullReference => {
                for (i, record) in records.iter().enumerate() {
                    kernel.rotation_counts(shifted, stride, record, w, counts);
                    let mut best = None;
                    for (r, c) in counts.iter().enumerate() {
                        if query.passes(c.disagree, c.valid) {
                            best = better(best, score_of(*c, r, config));
                        }
                    }
                    if let Some(score) = best {
                        out.push(IrisHit {
                            index: base_index + i,
                            score,
                        });
                    }
                }
                completed = records.len() as u64 * rotations as u64;
                row_comparisons = completed * self.layout.rows() as u64;
            }
            ScanStrategy::CascadeReference => {
                let cascade = config.cascade;
                let rows = self.layout.rows();
                let row_words = 2 * w;
                let prefix = cascade.prefix_rows.min(rows) * row_words;
                let step = cascade.step_rows.max(1);
                let mut alive = [0u8; MAX_ROTATIONS];
                for (i, record) in records.iter().enumerate() {
                    let head = record.get(..prefix).unwrap_or(record);
                    kernel.rotation_counts(shifted, stride, head, w, counts);
                    row_comparisons += (rotations * cascade.prefix_rows.min(rows)) as u64;
                    let mut n_alive = rotations;
                    for (slot, a) in alive.iter_mut().take(rotations).enumerate() {
                        *a = slot as u8;
                    }
                    let mut done = cascade.prefix_rows.min(rows);
                    let mut checkpoint = 0;
                    while done < rows && n_alive > 0 {
                        // Drop rotations the rows so far rule out.
                        let mut kept = 0;
                        let table = query.gate_table(checkpoint);
                        for k in 0..n_alive {
                            let r = alive[k];
                            let c = counts[usize::from(r)];
                            if table
                                .get(c.valid as usize)
                                .is_some_and(|&limit| c.disagree < limit)
                            {
                                alive[kept] = r;
                                kept += 1;
                            }
                        }
                        n_alive = kept;
                        checkpoint += 1;
                        // Extend the survivors by the next rows.
                        let next = (done + step).min(rows);
                        row_comparisons += (n_alive * (next - done)) as u64;
                        let (from, to) = (done * row_words, next * row_words);
                        let gallery_rows = record.get(from..to).unwrap_or_default();
                        kernel.add_selected_rotations(
                            shifted.get(from..).unwrap_or_default(),
                            stride,
                            gallery_rows,
                            w,
                            &alive[..n_alive],
                            counts,
                        );
                        done = next;
                    }
                    completed += n_alive as u64;
                    let mut best = None;
                    for &r in &alive[..n_alive] {
                        let c = counts[usize::from(r)];
                        if query.passes(c.disagree, c.valid) {
                            best = better(best, score_of(c, usize::from(r), config));
                        }
                    }
                    if let Some(score) = best {
                        out.push(IrisHit {
                            index: base_index + i,
                            score,
                        });
                    }
                }
            }
        }
        Ok(ScanStats {
            records: records.len() as u64,
            completed_rotations: completed,
            row_comparisons,
            gate_survivors: 0,
        })
    }

    /// The gate shapes of `query` over records `record_stride` words apart: the cascade (or,
    /// when `full`, the final test after all rows) and the coarse level.
    fn gates<'q>(&self, query: &'q IrisQuery, full: bool, record_stride: usize) -> Gates<'q> {
        let probe = query.probe();
        let config = probe.config();
        let rotations = config.rotations();
        let stride = self.layout.record_words();
        let rows = self.layout.rows();
        let cascade = config.cascade;
        let shape = GateShape {
            rotations,
            probe_stride: stride,
            record_stride,
            rows: if full {
                rows
            } else {
                cascade.prefix_rows.clamp(1, rows)
            },
            total_rows: rows,
            words_per_row: self.layout.words_per_row(),
        };
        let coarse = query.coarse();
        let coarse_rows = coarse.rows.clamp(1, rows);
        let first = coarse
            .first_test_rows()
            .filter(|&g| g < coarse_rows && !query.coarse_gate_tables().is_empty())
            .unwrap_or(coarse_rows);
        Gates {
            shape,
            tables: CascadeTables {
                gates: query.gate_tables(),
                pass: query.pass_table(),
                step_rows: cascade.step_rows,
            },
            coarse_shape: GateShape {
                rotations: coarse.slots(rotations),
                probe_stride: coarse.step.max(1) * stride,
                rows: first,
                total_rows: coarse_rows,
                ..shape
            },
            coarse_tables: CascadeTables {
                gates: query.coarse_gate_tables(),
                pass: query.coarse_table(),
                step_rows: (coarse_rows - first).max(1),
            },
        }
    }

    /// The coarse level of [`ScanStrategy::Coarse`] over `out.len()` gallery records whose
    /// first words lie `record_stride` words apart in `words` (iris records inside larger
    /// records, for example): `out[i]` is 0 when the level drops record `i`, and non-zero when
    /// the record goes on to [`IrisMatcher::finish_coarse`]. Every mask is 0 when `words` is
    /// too short for the records.
    pub fn coarse_screen(
        &self,
        query: &IrisQuery,
        words: &[u64],
        record_stride: usize,
        out: &mut [u64],
    ) -> Result<(), IrisError> {
        self.check_layout(query.probe().layout())?;
        let g = self.gates(query, true, record_stride);
        self.kernel.cascade_rotations(
            query.probe().shifted(),
            words,
            g.coarse_shape,
            g.coarse_tables,
            out,
        );
        Ok(())
    }

    /// The full comparison of a gallery record that [`IrisMatcher::coarse_screen`] kept: its
    /// best score over the window when that is within the query threshold, as
    /// [`ScanStrategy::Coarse`] scores it.
    pub fn finish_coarse(&self, query: &IrisQuery, record: &[u64]) -> Option<IrisScore> {
        let stride = self.layout.record_words();
        let g = self.gates(query, true, stride);
        let mut one = [0u64];
        self.kernel
            .cascade_rotations(query.probe().shifted(), record, g.shape, g.tables, &mut one);
        self.score_kept(query, record, one[0]).0
    }

    /// Scores the rotations of `mask` on `record`: the best score among those that pass the
    /// query threshold, and the number of rotations computed.
    fn score_kept(&self, query: &IrisQuery, record: &[u64], mask: u64) -> (Option<IrisScore>, u64) {
        if mask == 0 {
            return (None, 0);
        }
        let probe = query.probe();
        let config = probe.config();
        let rotations = config.rotations();
        let mut alive = [0u8; MAX_ROTATIONS];
        let mut n_alive = 0;
        for r in 0..rotations {
            if mask >> r & 1 == 1 {
                alive[n_alive] = r as u8;
                n_alive += 1;
            }
        }
        let mut counts = [BitCounts::default(); MAX_ROTATIONS];
        let counts = &mut counts[..rotations];
        self.kernel.add_selected_rotations(
            probe.shifted(),
            self.layout.record_words(),
            record,
            self.layout.words_per_row(),
            &alive[..n_alive],
            counts,
        );
        let mut best = None;
        for &r in &alive[..n_alive] {
            let c = counts[usize::from(r)];
            if query.passes(c.disagree, c.valid) {
                best = better(best, score_of(c, usize::from(r), config));
            }
        }
        (best, n_alive as u64)
    }

    /// The block-kernel scan: [`Kernel::cascade_rotations`] runs the cascade (or, for
    /// [`ScanStrategy::Full`], the final test after all rows; for [`ScanStrategy::Coarse`],
    /// the coarse level, then the final test after all rows on the records it keeps) over
    /// blocks of records; the records with a rotation left are scored from the counts of
    /// those rotations.
    fn scan_gated(
        &self,
        query: &IrisQuery,
        records: IrisRecords<'_>,
        base_index: usize,
        strategy: ScanStrategy,
        out: &mut Vec<IrisHit>,
    ) -> ScanStats {
        let stride = self.layout.record_words();
        let g = self.gates(query, strategy != ScanStrategy::Cascade, stride);
        let shifted = query.probe().shifted();
        let kernel = self.kernel;
        let mut masks = [0u64; GATE_BLOCK];
        let mut completed = 0u64;
        let mut work = GateWork::default();
        for (block, chunk) in records.words().chunks(GATE_BLOCK * stride).enumerate() {
            let n = chunk.len() / stride;
            let masks = &mut masks[..n];
            let wk = if strategy == ScanStrategy::Coarse {
                kernel.cascade_rotations(shifted, chunk, g.coarse_shape, g.coarse_tables, masks)
            } else {
                kernel.cascade_rotations(shifted, chunk, g.shape, g.tables, masks)
            };
            work.row_comparisons += wk.row_comparisons;
            work.first_survivors += wk.first_survivors;
            for (j, &mask) in masks.iter().enumerate() {
                if mask == 0 {
                    continue;
                }
                let record = chunk.get(j * stride..(j + 1) * stride).unwrap_or_default();
                let mut mask = mask;
                if strategy == ScanStrategy::Coarse {
                    let mut one = [0u64];
                    let wk = kernel.cascade_rotations(shifted, record, g.shape, g.tables, &mut one);
                    work.row_comparisons += wk.row_comparisons;
                    mask = one[0];
                }
                let (best, n) = self.score_kept(query, record, mask);
                completed += n;
                if let Some(score) = best {
                    out.push(IrisHit {
                        index: base_index + block * GATE_BLOCK + j,
                        score,
                    });
                }
            }
        }
        if strategy == ScanStrategy::Full {
            completed = (records.len() * g.shape.rotations) as u64;
        }
        ScanStats {
            records: records.len() as u64,
            completed_rotations: completed,
            row_comparisons: work.row_comparisons,
            gate_survivors: work.first_survivors,
        }
    }

    /// [`IrisMatcher::scan`] over blocks of `block_records` records in parallel (rayon);
    /// hits come back in record order.
    pub fn par_scan(
        &self,
        query: &IrisQuery,
        records: IrisRecords<'_>,
        strategy: ScanStrategy,
        block_records: usize,
    ) -> Result<(Vec<IrisHit>, ScanStats), IrisError> {
        let block = block_records.max(1);
        let blocks = records.len().div_ceil(block);
        let parts: Vec<(Vec<IrisHit>, ScanStats)> = (0..blocks)
            .into_par_iter()
            .map(|b| {
                let mut hits = Vec::new();
                let stats = self.scan(
                    query,
                    records.slice(b * block, block),
                    b * block,
                    strategy,
                    &mut hits,
                )?;
                Ok((hits, stats))
            })
            .collect::<Result<_, IrisError>>()?;
        let mut stats = ScanStats::default();
        let mut hits = Vec::new();
        for (h, s) in parts {
            hits.extend(h);
            stats = stats.merge(s);
        }
        Ok((hits, stats))
    }

    fn check_layout(&self, other: IrisLayout) -> Result<(), IrisError> {
        if other != self.layout {
            return Err(IrisError::LayoutMismatch {
                left: self.layout.to_string(),
                right: other.to_string(),
            });
        }
        Ok(())
    }
}

/// The gates of a scan: the full shape and the coarse level.
#[derive(Debug, Clone, Copy)]
struct Gates<'q> {
    shape: GateShape,
    tables: CascadeTables<'q>,
    coarse_shape: GateShape,
    coarse_tables: CascadeTables<'q>,
}

/// Score of counts at rotation slot `slot`.
#[inline]
fn score_of(c: BitCounts, slot: usize, config: &MatchConfig) -> IrisScore {
    let hd = f64::from(c.disagree) / f64::from(c.valid.max(1));
    IrisScore {
        hd,
        hd_norm: normalise(hd, c.valid, config.typical_compared_bits),
        rotation: slot as i32 - config.window as i32,
        compared_bits: c.valid,
    }
}

/// The lower normalised distance; on a tie, the smaller rotation magnitude.
#[inline]
fn better(current: Option<IrisScore>, candidate: IrisScore) -> Option<IrisScore> {
    match current {
        Some(c)
            if c.hd_norm < candidate.hd_norm
                || (c.hd_norm == candidate.hd_norm
                    && c.rotation.abs() <= candidate.rotation.abs()) =>
        {
            Some(c)
        }
        _ => Some(candidate),
    }
}

#[cfg(test)]
mod tests;
