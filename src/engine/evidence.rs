//! What analysts see and what their decisions do: [`Evidence`] drawn from the gallery (for
//! enrolled persons) or the registry (for pending applicants), and [`CaseOutcomeSink`].

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use tunggal_index::gallery::{EYES, GALLERY_IRIS_LAYOUT};
use tunggal_index::iris::{decode_record, IrisTemplate};
use tunggal_index::template::FingerTemplate;

use super::convert::{stored_enrolment, stored_iris_template};
use super::registry::{key_of, Entry, Outcome, Resolution};
use super::GalleryEngine;
use crate::cases::{
    CaseKind, CaseOutcome, CaseOutcomeError, CaseOutcomeSink, Evidence, EyeImageError,
    EyeImageInfo, EyeMask, FingerComparison, FingerImageError, FingerPrintInfo, IrisComparison,
    PersonSummary,
};
use crate::enrolment::record::Eye;

/// A person's fingers by slot and irises by gallery eye (0 left, 1 right).
#[derive(Debug, Default)]
struct Biometrics {
    fingers: [Option<FingerTemplate>; 10],
    irises: [Option<IrisTemplate>; EYES],
}

impl GalleryEngine {
    fn biometrics(&self, reference: &str) -> Option<Biometrics> {
        let e = self.registry().get(key_of(reference)?)?;
        let mut out = Biometrics::default();
        if e.in_gallery() {
            let stored = self.gallery().get(e.key).ok()??;
            for (slot, f) in stored.fingers.iter().enumerate() {
                out.fingers[slot] = f.as_ref().map(|f| f.template.clone());
            }
            for (eye, slot) in out.irises.iter_mut().enumerate() {
                if stored.record.has_eye(eye) {
                    *slot = decode_record(GALLERY_IRIS_LAYOUT, &stored.record.irises[eye]).ok();
                }
            }
            return Some(out);
        }
        let Some(Outcome::Duplicate { biometrics, .. }) = &e.outcome else {
            return None;
        };
        for t in &biometrics.fingers {
            if let Some(slot) = usize::from(t.position).checked_sub(1).filter(|s| *s < 10) {
                out.fingers[slot] = Some(t.clone());
            }
        }
        for i in &biometrics.irises {
            out.irises[i.eye.gallery_slot()] = stored_iris_template(i);
        }
        Some(out)
    }

    fn attachment(&self, reference: &str, photo: bool) -> Option<Vec<u8>> {
        let e = self.registry().get(key_of(reference)?)?;
        let b64 = if photo {
            e.meta.photo
        } else {
            e.meta.signature
        }?;
        B64.decode(b64).ok()
    }

    /// Enrols a cleared applicant or removes a confirmed duplicate, then journals the
    /// resolution (gallery first: see the registry's recovery rules).
    fn resolve(&self, e: &Entry, outcome: &CaseOutcome) -> Result<(), CaseOutcomeError> {
        let gallery = self.gallery();
        let resolution = match outcome {
            CaseOutcome::Cleared => {
                if let Some(Outcome::Duplicate {
                    biometrics,
                    candidates,
                    ..
                }) = &e.outcome
                {
                    if !gallery.snapshot().contains(e.key) {
                        let prepared = gallery.prepare(&stored_enrolment(biometrics))?;
                        self.insert_cleared(e, &prepared, candidates)?;
                    }
                }
                Resolution::Cleared
            }
            CaseOutcome::ConfirmedDuplicate { duplicate_of } => {
                // A gallery pair: the later record leaves the gallery.
                if e.in_gallery() && gallery.snapshot().contains(e.key) {
                    gallery.delete(e.key)?;
                }
                Resolution::ConfirmedDuplicate {
                    duplicate_of: duplicate_of.clone(),
                }
            }
        };
        Ok(self.registry().closed(e.key, resolution)?)
    }
}

fn bits(t: &IrisTemplate, code: bool) -> Vec<u8> {
    (0..t.layout().total_bits())
        .map(|i| u8::from(if code { t.code_bit(i) } else { t.mask_bit(i) }))
        .collect()
}

impl Evidence for GalleryEngine {
    fn finger(&self, applicant: &str, candidate: &str, position: u8) -> Option<FingerComparison> {
        let slot = usize::from(position).checked_sub(1).filter(|s| *s < 10)?;
        let a = self.biometrics(applicant)?.fingers[slot].take()?;
        let c = self.biometrics(candidate)?.fingers[slot].take()?;
        let matcher = self.gallery().preparer().matcher();
        let detail = matcher.compare_detailed(&matcher.prepare(&a), &matcher.prepare(&c));
        Some(FingerComparison {
            pairs: detail
                .pairs
                .iter()
                .map(|p| (usize::from(p.probe), usize::from(p.gallery)))
                .collect(),
            score: detail.score,
            applicant: a,
            candidate: c,
        })
    }

    fn iris(&self, applicant: &str, candidate: &str, eye: usize) -> Option<IrisComparison> {
        let g = Eye::from_index(eye)?.gallery_slot();
        let a = self.biometrics(applicant)?.irises[g].take()?;
        let c = self.biometrics(candidate)?.irises[g].take()?;
        let matcher = self.gallery().preparer().iris();
        // The candidate is the probe: its best rotation aligns it with the applicant.
        let score = matcher.compare_templates(&c, &a).ok()?.score()?;
        let rotated = c.rotated(score.rotation);
        let layout = a.layout();
        Some(IrisComparison {
            layout: layout.name().unwrap_or("daugman-2048").to_owned(),
            angular: layout.row_bits(),
            radial: layout.rows(),
            applicant_code: bits(&a, true),
            applicant_mask: bits(&a, false),
            candidate_code: bits(&rotated, true),
            candidate_mask: bits(&rotated, false),
            rotation: score.rotation,
            distance: score.hd_norm as f32,
        })
    }

    fn photo(&self, reference_id: &str) -> Option<Vec<u8>> {
        self.attachment(reference_id, true)
    }

    fn signature(&self, reference_id: &str) -> Option<Vec<u8>> {
        self.attachment(reference_id, false)
    }

    fn finger_print(&self, reference_id: &str, position: u8) -> Option<FingerPrintInfo> {
        self.finger_print_info(reference_id, position)
    }

    fn finger_png(
        &self,
        reference_id: &str,
        position: u8,
    ) -> Result<Option<Vec<u8>>, FingerImageError> {
        self.finger_print_png(reference_id, position)
    }

    fn eye_image(&self, reference_id: &str, eye: usize) -> Option<EyeImageInfo> {
        let mut info = self.eye_image_info(reference_id, eye)?;
        // A usable image eye's code is the one made from this image.
        if info.unusable.is_none() {
            let g = Eye::from_index(eye)?.gallery_slot();
            info.mask = self
                .biometrics(reference_id)
                .and_then(|mut b| b.irises[g].take())
                .map(|t| EyeMask::of(&t));
        }
        Some(info)
    }

    fn eye_png(&self, reference_id: &str, eye: usize) -> Result<Option<Vec<u8>>, EyeImageError> {
        self.eye_image_png(reference_id, eye)
    }
}

impl CaseOutcomeSink for GalleryEngine {
    fn case_closed(
        &self,
        case_id: &str,
        applicant: &PersonSummary,
        outcome: &CaseOutcome,
    ) -> Result<(), CaseOutcomeError> {
        let unknown = || CaseOutcomeError::UnknownApplicant {
            case_id: case_id.to_owned(),
            reference_id: applicant.reference_id.clone(),
        };
        let key = key_of(&applicant.reference_id).ok_or_else(unknown)?;
        let e = self.registry().get(key).ok_or_else(unknown)?;
        // A gallery pair acts on an enrolled person, whatever became of its own enrolment.
        let pair = self
            .cases()
            .get(case_id)
            .is_some_and(|c| c.kind() == CaseKind::GalleryPair);
        if e.resolution.is_some() && !pair {
            return Ok(());
        }
        self.resolve(&e, outcome)?;
        if let Some(e) = self.registry().get(key) {
            self.notify(&e);
        }
        Ok(())
    }
}
