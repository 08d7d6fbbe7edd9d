//! The keys of `serve --demo`: created once per data directory, kept in
//! `DATA_DIR/demo-keys.txt` (owner-only permissions) and printed again at every start, so a
//! restart neither multiplies keys nor loses the ones a user already copied.
//!
//! Each line of the file is the line `serve --demo` prints, for example
//! `tunggal: demo service-point key for district 317101, service point demo-1: KEY`; scripts
//! read a key with `sed -n 's/.*service point demo-1: //p' tunggal-data/demo-keys.txt`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::access::keys::{KeySpec, KeyStore};
use crate::engine::demo::POINTS;

/// Name of the file in the data directory.
pub const FILE: &str = "demo-keys.txt";

/// The printed line of a service-point key.
pub fn service_point_line(district: &str, service_point: &str, key: &str) -> String {
    format!(
        "tunggal: demo service-point key for district {district}, service point \
         {service_point}: {key}"
    )
}

/// The printed line of an analyst key.
fn analyst_line(name: &str, key: &str) -> String {
    format!("tunggal: demo analyst key ({name}): {key}")
}

/// The printed line of the admin key generated at the demo's first start.
fn admin_line(key: &str) -> String {
    format!("tunggal: demo admin key: {key}")
}

/// The key at the end of a printed line.
fn key_of(line: &str) -> Option<&str> {
    line.rsplit_once(": ").map(|(_, key)| key.trim())
}

/// The demo's lines: read from the file when it exists (each key checked against the key
/// store, a revoked or expired one marked so), else created and written first. `admin` is
/// the admin key generated at this start, if any; it is kept with the others.
pub fn ensure(
    keys: &KeyStore,
    data_dir: &Path,
    admin: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let path = data_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mut lines = Vec::new();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let usable = match key_of(line) {
                    Some(key) => keys.authenticate(key)?.is_some(),
                    None => false,
                };
                if usable {
                    lines.push(line.to_owned());
                } else {
                    lines.push(format!("{line} (no longer valid: revoked or expired)"));
                }
            }
            Ok(lines)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let lines = create(keys, admin)?;
            write_private(&path, &lines)?;
            Ok(lines)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn create(keys: &KeyStore, admin: Option<&str>) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    if let Some(key) = admin {
        lines.push(admin_line(key));
    }
    // One key per demo service point: the demo's probes are enrolled from all of them.
    for (district, point) in POINTS {
        let name = format!("demo {point}");
        let spec = KeySpec::parse("service-point", &name, Some(district), Some(point))
            .map_err(|p| anyhow::anyhow!("{p}"))?;
        let (key, _) = keys.create(&spec, "demo")?;
        lines.push(service_point_line(district, point, &key));
    }
    // Confirming a duplicate needs a second analyst's approval.
    for name in ["demo analyst 1", "demo analyst 2"] {
        let spec =
            KeySpec::parse("analyst", name, None, None).map_err(|p| anyhow::anyhow!("{p}"))?;
        let (key, _) = keys.create(&spec, "demo")?;
        lines.push(analyst_line(name, &key));
    }
    Ok(lines)
}

/// Writes `lines` to `path` through a synced temporary file, readable by the owner only.
fn write_private(path: &Path, lines: &[String]) -> anyhow::Result<()> {
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    for line in lines {
        writeln!(file, "{line}")?;
    }
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyStore::open(dir.path()).unwrap();
        let first = ensure(&keys, dir.path(), Some("admin-secret")).unwrap();
        assert_eq!(first.len(), 1 + POINTS.len() + 2);
        assert!(first[1].starts_with(
            "tunggal: demo service-point key for district 317101, service point demo-1: "
        ));
        let count = keys.list().unwrap().len();
        let again = ensure(&keys, dir.path(), None).unwrap();
        assert_eq!(
            keys.list().unwrap().len(),
            count,
            "no new keys at a restart"
        );
        // The admin key was not created by the store here, so it reads as not valid.
        assert_eq!(&again[1..], &first[1..]);
        assert!(again[0].ends_with("(no longer valid: revoked or expired)"));
        let sp = key_of(&first[1]).unwrap();
        assert!(keys.authenticate(sp).unwrap().is_some());
    }

    #[test]
    fn a_revoked_demo_key_is_marked() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyStore::open(dir.path()).unwrap();
        let lines = ensure(&keys, dir.path(), None).unwrap();
        let analyst = keys
            .list()
            .unwrap()
            .into_iter()
            .find(|k| k.name == "demo analyst 2")
            .unwrap();
        keys.revoke(&analyst.key_id, "test").unwrap();
        let again = ensure(&keys, dir.path(), None).unwrap();
        assert_eq!(again[..lines.len() - 1], lines[..lines.len() - 1]);
        assert!(again[lines.len() - 1].ends_with("(no longer valid: revoked or expired)"));
    }
}
