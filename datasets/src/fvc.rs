//! Loader for FVC-style folders of ISO 19794-2 templates (`{finger}_{impression}.iso`).
//!
//! A data root holds one folder per database (for example `DB1_B`); each folder holds files
//! named `{finger}_{impression}.iso`. Any folder laid out that way loads, whatever its name.

use std::path::{Path, PathBuf};

use thiserror::Error;
use tunggal_index::template::{iso, FingerTemplate, TemplateError};

/// Why an FVC folder could not be loaded.
#[derive(Debug, Error)]
pub enum FvcError {
    /// A file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A template failed to decode.
    #[error("{path}: {source}")]
    Template {
        /// The file.
        path: PathBuf,
        /// The decoding error.
        source: TemplateError,
    },
    /// A template had no finger view.
    #[error("{path}: record holds no finger view")]
    NoView {
        /// The file.
        path: PathBuf,
    },
}

/// One template of an FVC database.
#[derive(Debug, Clone)]
pub struct FvcSample {
    /// The file stem, for example `101_1`.
    pub stem: String,
    /// Finger number from the file name.
    pub finger: u32,
    /// Impression number from the file name.
    pub impression: u32,
    /// The decoded template.
    pub template: FingerTemplate,
}

/// One FVC database: a folder of samples, sorted by finger then impression.
#[derive(Debug, Clone)]
pub struct FvcDatabase {
    /// Folder name, for example `DB1_B`.
    pub name: String,
    /// The samples.
    pub samples: Vec<FvcSample>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FvcError + '_ {
    move |source| FvcError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn parse_stem(stem: &str) -> Option<(u32, u32)> {
    let (f, i) = stem.split_once('_')?;
    Some((f.parse().ok()?, i.parse().ok()?))
}

/// Loads one database folder. Files whose names do not follow `{finger}_{impression}.iso`
/// are ignored.
pub fn load_database(dir: &Path) -> Result<FvcDatabase, FvcError> {
    let mut samples = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("iso") {
            continue;
        }
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
            continue;
        };
        let Some((finger, impression)) = parse_stem(&stem) else {
            continue;
        };
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        let record = iso::decode(&bytes).map_err(|source| FvcError::Template {
            path: path.clone(),
            source,
        })?;
        let template = record
            .template(0)
            .ok_or_else(|| FvcError::NoView { path: path.clone() })?;
        samples.push(FvcSample {
            stem,
            finger,
            impression,
            template,
        });
    }
    samples.sort_by_key(|s| (s.finger, s.impression));
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("db")
        .to_owned();
    Ok(FvcDatabase { name, samples })
}

/// Loads every sub-folder of `root` that holds at least one `{finger}_{impression}.iso` file,
/// sorted by folder name.
pub fn load_root(root: &Path) -> Result<Vec<FvcDatabase>, FvcError> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(io_err(root))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let db = load_database(&dir)?;
        if !db.samples.is_empty() {
            out.push(db);
        }
    }
    Ok(out)
}

/// The shared real data folder beside the repository root, if present.
pub fn shared_fvc_root() -> Option<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = here.parent()?.parent()?.join("shared/datasets/fvc2002-iso");
    root.is_dir().then_some(root)
}
