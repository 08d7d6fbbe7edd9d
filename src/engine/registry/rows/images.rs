//! The image references of the registry's rows, read and switched for a compaction of the
//! image store (`engine/image_compaction.rs`).

use rusqlite::params;
use tunggal_index::image_store::{ImageRef, Rewritten};

use super::Registry;
use crate::engine::image_compaction::{refs_of, switch_meta, ImageCompactionError};
use crate::engine::registry::reference_id;
use crate::state::StateError;

/// Rows that may name images: not deleted, and an `"image"` key in their `meta`.
const WITH_IMAGES: &str =
    "SELECT key, meta FROM persons WHERE deleted = 0 AND instr(meta, '\"image\":') > 0";

impl Registry {
    /// Every image named by a row not deleted (`meta.fingers[].image`, `meta.eyes[].image`).
    pub fn live_image_refs(&self) -> Result<Vec<ImageRef>, StateError> {
        self.store.read(|conn| {
            let err = |e| self.store.error(e);
            let mut stmt = conn.prepare(WITH_IMAGES).map_err(err)?;
            let mut rows = stmt.query([]).map_err(err)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(err)? {
                let meta: String = row.get(1).map_err(err)?;
                let meta: serde_json::Value = serde_json::from_str(&meta)?;
                out.extend(refs_of(&meta));
            }
            Ok(out)
        })
    }

    /// Points the references of every row not deleted into the sealed segments `inputs` at
    /// their copies in `w`, in one durable transaction (the compaction's commit point);
    /// returns the rows changed. A row naming an input image without a copy fails the
    /// whole transaction ([`ImageCompactionError::Raced`]).
    pub fn switch_images(
        &self,
        inputs: &[u32],
        w: &Rewritten,
    ) -> Result<usize, ImageCompactionError> {
        self.store.try_transaction(|tx| {
            let err = |e| self.store.error(e);
            let mut changed = Vec::new();
            {
                let mut stmt = tx.prepare(WITH_IMAGES).map_err(err)?;
                let mut rows = stmt.query([]).map_err(err)?;
                while let Some(row) = rows.next().map_err(err)? {
                    let key: i64 = row.get(0).map_err(err)?;
                    let meta: String = row.get(1).map_err(err)?;
                    let mut meta: serde_json::Value =
                        serde_json::from_str(&meta).map_err(StateError::from)?;
                    match switch_meta(&mut meta, inputs, w) {
                        Ok(false) => {}
                        Ok(true) => changed.push((key, meta.to_string())),
                        Err(None) => {
                            return Err(ImageCompactionError::Raced {
                                reference_id: reference_id(key as u64),
                            })
                        }
                        Err(Some(detail)) => {
                            return Err(ImageCompactionError::Malformed {
                                reference_id: reference_id(key as u64),
                                detail,
                            })
                        }
                    }
                }
            }
            let mut update = tx
                .prepare("UPDATE persons SET meta = ?1 WHERE key = ?2")
                .map_err(err)?;
            for (key, meta) in &changed {
                update.execute(params![meta, key]).map_err(err)?;
            }
            Ok(changed.len())
        })
    }
}
