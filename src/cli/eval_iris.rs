//! `tunggal eval iris`: iris accuracy on a folder of eye images listed by a manifest.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use tunggal_index::eye::{EyeEncoder, EyeParams};
use tunggal_index::iris::{IrisLayout, IrisMatcher};

use crate::eval::iris::{databases, encode_all, read_manifest, report, score_pairs, IrisReport};
use crate::eval::iris_overlay::{write_overlay, write_segmentation_csv};
use crate::plot::{det_curves_svg, DetCurve};

/// Arguments of `eval iris`.
#[derive(Debug, clap::Args)]
pub struct IrisArgs {
    /// Data folder; manifest paths are relative to it.
    #[arg(long)]
    data: PathBuf,
    /// Manifest (`path,person,eye,sample`); default `DATA/manifest.csv`.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Write the figures and every image's outcome as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write every scored pair as CSV (`database,path_a,path_b,genuine,hd_norm,rotation`).
    #[arg(long)]
    scores: Option<PathBuf>,
    /// Write the DET plot (SVG).
    #[arg(long)]
    det: Option<PathBuf>,
    /// Write one CSV line per image with its segmentation (circles, eyelids, contrasts,
    /// occlusion shares, quality).
    #[arg(long)]
    segmentation: Option<PathBuf>,
    /// Write segmentation overlays (PNG) into this folder: every failure to enrol, every
    /// image failing a segmentation check, the images of the worst genuine pairs and
    /// `--overlay-sample` images per database spread over the manifest.
    #[arg(long)]
    overlays: Option<PathBuf>,
    /// Images per database drawn in `--overlays` besides the failures.
    #[arg(long, default_value_t = 8)]
    overlay_sample: usize,
    /// Worst genuine pairs listed per database.
    #[arg(long, default_value_t = 10)]
    worst: usize,
    /// Code layout.
    #[arg(long, default_value = "daugman-2048")]
    layout: String,
    /// Override an encoder parameter, e.g. `--set wavelength=0.08` (repeatable; pairs as
    /// `a:b`).
    #[arg(long = "set")]
    overrides: Vec<String>,
    /// Leave-one-database-out tuning: every `--grid` combination (and the base, the
    /// defaults with the `--set`s) is encoded and scored on every database; for each database
    /// the combination with the lowest mean EER + FTE on the *other* databases is chosen and
    /// the held-out database's figures under it are printed, with their mean.
    #[arg(long)]
    lodo: bool,
    /// A grid axis for `--lodo`, `name=v1,v2,…` (pairs as `a:b`; repeatable).
    #[arg(long = "grid", requires = "lodo")]
    grid: Vec<String>,
    /// With `--lodo`: choose only among combinations whose impostor fractional Hamming
    /// distance without rotation has a mean within 0.50 ± 0.02 and at least 150 degrees of
    /// freedom on every training database (all, when none does).
    #[arg(long, requires = "lodo")]
    require_impostor_target: bool,
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "     -".to_owned(), |v| format!("{:6.2}%", v * 100.0))
}

impl IrisArgs {
    /// Runs the evaluation.
    pub fn run(self) -> anyhow::Result<()> {
        let layout = IrisLayout::from_name(&self.layout).with_context(|| {
            format!("unknown layout {:?} (daugman-2048, open-iris)", self.layout)
        })?;
        let mut params = EyeParams::default();
        for o in &self.overrides {
            params
                .set(o)
                .map_err(|e| anyhow::anyhow!("--set {o}: {e}"))?;
        }
        let encoder = EyeEncoder::new(params.clone())?;
        let manifest = self
            .manifest
            .clone()
            .unwrap_or_else(|| self.data.join("manifest.csv"));
        let entries = read_manifest(&manifest)?;
        anyhow::ensure!(!entries.is_empty(), "{} lists no image", manifest.display());
        if self.lodo {
            return self.run_lodo(&entries, &params, layout);
        }
        let started = std::time::Instant::now();
        let outcomes = encode_all(&self.data, &entries, &encoder, layout);
        println!(
            "encoded {} images ({layout}) in {:.2} s on {} threads",
            outcomes.len(),
            started.elapsed().as_secs_f64(),
            rayon::current_num_threads()
        );
        let matcher = IrisMatcher::for_layout(layout);
        let mut dbs = databases(&outcomes);
        if dbs.len() > 1 {
            dbs.push(("all".to_owned(), (0..outcomes.len()).collect()));
        }
        let mut csv = match &self.scores {
            Some(path) => {
                let mut f = std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?,
                );
                writeln!(f, "database,path_a,path_b,genuine,hd_norm,rotation")?;
                Some(f)
            }
            None => None,
        };
        let mut reports: Vec<IrisReport> = Vec::new();
        let mut worst_lines: Vec<String> = Vec::new();
        let mut drawn: std::collections::BTreeSet<usize> = std::collections::BTreeSet::new();
        for (name, members) in &dbs {
            let pairs = score_pairs(&outcomes, members, &matcher);
            if name != "all" {
                let mut genuine: Vec<_> = pairs.iter().filter(|p| p.genuine).collect();
                genuine.sort_by(|a, b| b.hd_norm.total_cmp(&a.hd_norm));
                for p in genuine.iter().take(self.worst) {
                    worst_lines.push(format!(
                        "  {name} worst genuine {:.4} (rotation {:+}): {} ~ {}",
                        p.hd_norm, p.rotation, outcomes[p.a].entry.path, outcomes[p.b].entry.path
                    ));
                    drawn.insert(p.a);
                    drawn.insert(p.b);
                }
                let n = members.len();
                let k = self.overlay_sample.min(n);
                for j in 0..k {
                    drawn.insert(members[j * n / k.max(1)]);
                }
            }
            if let Some(f) = csv.as_mut() {
                for p in &pairs {
                    writeln!(
                        f,
                        "{name},{},{},{},{:.6},{}",
                        outcomes[p.a].entry.path,
                        outcomes[p.b].entry.path,
                        u8::from(p.genuine),
                        p.hd_norm,
                        p.rotation
                    )?;
                }
            }
            reports.push(report(name, &outcomes, members, &pairs));
        }
        if let Some(mut f) = csv {
            f.flush()?;
        }
        println!(
            "{:<18} {:>7} {:>9} {:>9} {:>8} {:>8} {:>6} {:>7} {:>8} {:>6} {:>6} {:>8}",
            "database",
            "EER",
            "FNMR@1e-3",
            "FNMR@1e-4",
            "gen.mean",
            "imp.mean",
            "DoF",
            "genuine",
            "impostor",
            "FTE",
            "qual.",
            "ms/image"
        );
        for r in &reports {
            let (g, i) = r
                .rates
                .map_or((0, 0), |rates| (rates.genuine, rates.impostor));
            println!(
                "{:<18} {} {:>9} {:>9} {:>8.4} {:>8.4} {:>6.0} {:>7} {:>8} {:>5.1}% {:>6.1} {:>8.2}",
                r.name,
                pct(r.rates.map(|x| x.eer)),
                pct(r.fnmr_at_fmr_1e3),
                pct(r.fnmr_at_fmr_1e4),
                r.genuine_mean,
                r.impostor_mean,
                r.impostor_dof,
                g,
                i,
                r.fte * 100.0,
                r.mean_quality,
                r.mean_encode_ms
            );
        }
        for r in &reports {
            println!(
                "{}: impostor fractional HD without rotation: mean {:.4}, DoF {:.0}",
                r.name, r.impostor_mean_unrotated, r.impostor_dof_unrotated
            );
        }
        for r in &reports {
            if r.name == "all" {
                continue;
            }
            if !r.failure_reasons.is_empty() {
                let list: Vec<String> = r
                    .failure_reasons
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect();
                println!("{}: failures to enrol: {}", r.name, list.join(", "));
            }
            if !r.check_failures.is_empty() {
                let list: Vec<String> = r
                    .check_failures
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect();
                println!(
                    "{}: enrolled images failing a segmentation check: {}",
                    r.name,
                    list.join(", ")
                );
            }
            if r.unscored_pairs > 0 {
                println!(
                    "{}: {} pairs with too few jointly valid bits (scored 1.0)",
                    r.name, r.unscored_pairs
                );
            }
        }
        for (i, o) in outcomes.iter().enumerate() {
            if let Some(reason) = &o.failure {
                println!(
                    "  failed {}: {reason}: {}",
                    o.entry.path,
                    o.message.as_deref().unwrap_or("")
                );
                drawn.insert(i);
            } else if !o.checks_failed.is_empty() {
                println!(
                    "  enrolled but suspect {}: {}",
                    o.entry.path,
                    o.checks_failed.join(", ")
                );
                drawn.insert(i);
            }
        }
        for line in &worst_lines {
            println!("{line}");
        }
        if let Some(path) = &self.segmentation {
            write_segmentation_csv(path, &outcomes)?;
            println!("segmentation of every image written to {}", path.display());
        }
        if let Some(dir) = &self.overlays {
            std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
            for &i in &drawn {
                write_overlay(&self.data, &outcomes[i], &encoder, layout, dir)
                    .with_context(|| format!("overlay of {}", outcomes[i].entry.path))?;
            }
            println!("{} overlays written to {}", drawn.len(), dir.display());
        }
        println!(
            "scores are the matcher's hd_norm ({} rotations, window ±{}); EER on 1 − hd_norm; \
             encode time is CPU time per image on one thread, decoding excluded",
            matcher.config().rotations(),
            matcher.config().window
        );
        if let Some(path) = &self.det {
            let curves: Vec<DetCurve<'_>> = reports
                .iter()
                .filter_map(|r| {
                    r.rates.map(|rates| DetCurve {
                        name: &r.name,
                        eer: rates.eer,
                        points: &r.det,
                    })
                })
                .collect();
            det_curves_svg(path, "DET (all pairs)", &curves)?;
            println!("DET plot written to {}", path.display());
        }
        if let Some(path) = &self.json {
            let body = serde_json::json!({
                "layout": layout.name(),
                "params": encoder.params(),
                "databases": reports,
                "images": outcomes,
            });
            std::fs::write(path, serde_json::to_vec_pretty(&body)?)
                .with_context(|| path.display().to_string())?;
        }
        Ok(())
    }
    /// `--lodo`: the grid on every database, then the folds.
    fn run_lodo(
        &self,
        entries: &[crate::eval::iris::ManifestEntry],
        base: &EyeParams,
        layout: IrisLayout,
    ) -> anyhow::Result<()> {
        use crate::eval::iris_lodo::{choose, evaluate, parse_axis};
        let axes = self
            .grid
            .iter()
            .map(|g| parse_axis(g, base).map_err(|e| anyhow::anyhow!("--grid {g}: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let started = std::time::Instant::now();
        let trials = evaluate(&self.data, entries, base, &axes, layout)?;
        println!(
            "{} combinations encoded and scored in {:.1} s on {} threads",
            trials.len(),
            started.elapsed().as_secs_f64(),
            rayon::current_num_threads()
        );
        let lodo = choose(&trials, self.require_impostor_target)
            .context("no combination could be chosen")?;
        let label = |a: &[String]| {
            if a.is_empty() {
                "base".to_owned()
            } else {
                a.join(" ")
            }
        };
        println!(
            "{:<18} {:>7} {:>9} {:>6} {:>9} {:>6}  chosen on the other databases",
            "held out", "EER", "FNMR@1e-3", "FTE", "imp.mean", "DoF"
        );
        for f in &lodo.folds {
            println!(
                "{:<18} {} {:>9} {:>5.1}% {:>9.4} {:>6.0}  {}",
                f.held_out,
                pct(Some(f.figures.eer)),
                pct(f.figures.fnmr_at_fmr_1e3),
                f.figures.fte * 100.0,
                f.figures.impostor_mean_unrotated,
                f.figures.impostor_dof_unrotated,
                label(&f.chosen)
            );
        }
        println!(
            "leave-one-database-out mean: EER {:.2}%, FTE {:.1}%",
            lodo.mean_eer * 100.0,
            lodo.mean_fte * 100.0
        );
        println!(
            "in-sample choice (mean EER + FTE {:.2}%): {}",
            lodo.in_sample_objective * 100.0,
            label(&lodo.in_sample)
        );
        if let Some(path) = &self.json {
            let json = serde_json::json!({
                "grid": self.grid,
                "require_impostor_target": self.require_impostor_target,
                "trials": trials,
                "lodo": lodo,
            });
            std::fs::write(path, serde_json::to_vec_pretty(&json)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}
