//! The gallery: enrolled people on top of [`crate::storage::Store`].
//!
//! Each person is one hot fixed-stride [`PersonRecord`] (key, presence bits, ten first-stage
//! finger descriptors, two iris gallery records of the iris module: 2 368 bytes, scanned by
//! the first stage for every search) and one cold blob (every finger's minutiae and prepared cylinders, see [`cold`]),
//! read only for the second stage's shortlist and for analysts.
//!
//! The calibration that turns scores into likelihood ratios is stored with the gallery, in
//! `calibration.json` in the data directory.

pub mod cohort;
pub mod cold;
pub mod descriptor;
pub mod error;
pub mod iris;
pub mod person_record;

use std::path::{Path, PathBuf};

use crate::finger::{FingerMatcher, MccParams, MATCHER_VERSION};
use crate::iris::IrisMatcher;
use crate::search::fusion::Calibration;
use crate::storage::{BlobRef, Recovered, Snapshot, StorageError, Store, StoreConfig};
use crate::template::{FingerPosition, FingerTemplate};

pub use cohort::DescriptorCohort;
pub use cold::{ColdFinger, ColdFingers};
pub use descriptor::{DescriptorBuilder, DescriptorParams, DESCRIPTOR_BITS, DESCRIPTOR_WORDS};
pub use error::GalleryError;
pub use iris::{IrisCode, GALLERY_IRIS_LAYOUT};
pub use person_record::{PersonRecord, EYES, EYE_PRESENCE_SHIFT, FINGERS, PERSON_RECORD_BYTES};

/// Name of the calibration file in the data directory.
pub const CALIBRATION_NAME: &str = "calibration.json";

/// Fewest cylinders for a finger template to be usable.
pub const MIN_CYLINDERS: usize = 6;

/// What an enrolment station sends for one person.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Enrolment {
    /// Finger templates, each with its ISO position (1–10) set.
    pub fingers: Vec<FingerTemplate>,
    /// Iris codes, at most one per eye.
    pub irises: Vec<IrisCode>,
}

/// An enrolment prepared once: its hot record and cold fingers. Used as the probe of a
/// search and, if the person is new, inserted as is.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedPerson {
    /// The hot record (its key is set at insertion).
    pub record: Box<PersonRecord>,
    /// Usable fingers with their prepared cylinders.
    pub fingers: ColdFingers,
    /// Finger slots submitted but unusable (too few cylinders).
    pub unusable_fingers: Vec<usize>,
    /// Eyes submitted but unusable (too few valid bits).
    pub unusable_eyes: Vec<usize>,
}

impl PreparedPerson {
    /// Usable fingers.
    pub fn usable_fingers(&self) -> usize {
        self.record.finger_count() as usize
    }

    /// Usable eyes.
    pub fn usable_eyes(&self) -> usize {
        self.record.eye_count() as usize
    }
}

/// A stored person.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPerson {
    /// The hot record.
    pub record: Box<PersonRecord>,
    /// The cold fingers.
    pub fingers: ColdFingers,
}

/// Configuration of a gallery.
#[derive(Debug, Clone)]
pub struct GalleryConfig {
    /// Storage configuration (its stride is set to [`PERSON_RECORD_BYTES`]).
    pub store: StoreConfig,
    /// Fingerprint matcher parameters.
    pub mcc: MccParams,
    /// First-stage descriptor parameters.
    pub descriptor: DescriptorParams,
}

impl Default for GalleryConfig {
    fn default() -> Self {
        Self {
            store: StoreConfig::new(PERSON_RECORD_BYTES as u32),
            mcc: MccParams::default(),
            descriptor: DescriptorParams::default(),
        }
    }
}

/// Memory and disk use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Footprint {
    /// Live people.
    pub persons: usize,
    /// Hot bytes per person (the record stride; what a scan keeps resident).
    pub hot_bytes_per_person: usize,
    /// Bytes of all files in the data directory.
    pub disk_bytes: u64,
    /// `disk_bytes / persons`.
    pub disk_bytes_per_person: f64,
}

/// Builds prepared people: the matcher and descriptor builder of a gallery.
#[derive(Debug, Clone)]
pub struct Preparer {
    matcher: FingerMatcher,
    descriptors: DescriptorBuilder,
    iris: IrisMatcher,
    cohort: DescriptorCohort,
}

impl Preparer {
    /// A preparer for the given parameters.
    pub fn new(mcc: &MccParams, descriptor: DescriptorParams) -> Result<Self, GalleryError> {
        let descriptors = DescriptorBuilder::new(descriptor, mcc).ok_or_else(|| {
            GalleryError::InvalidEnrolment("descriptor parameters unusable".into())
        })?;
        Ok(Self {
            matcher: FingerMatcher::new(mcc.clone()),
            descriptors,
            iris: IrisMatcher::for_layout(GALLERY_IRIS_LAYOUT),
            cohort: DescriptorCohort::default(),
        })
    }

    /// This preparer with `cohort`, against which each prepared finger's similarity offset
    /// is computed (see [`cohort`]).
    pub fn with_cohort(mut self, cohort: DescriptorCohort) -> Self {
        self.cohort = cohort;
        self
    }

    /// The cohort of the finger offsets (empty: every offset 0).
    pub fn cohort(&self) -> &DescriptorCohort {
        &self.cohort
    }

    /// The iris matcher (default settings of [`GALLERY_IRIS_LAYOUT`]: ±8 positions).
    pub fn iris(&self) -> &IrisMatcher {
        &self.iris
    }

    /// The fingerprint matcher.
    pub fn matcher(&self) -> &FingerMatcher {
        &self.matcher
    }

    /// The descriptor builder.
    pub fn descriptors(&self) -> &DescriptorBuilder {
        &self.descriptors
    }

    /// Prepares an enrolment. Fails on an unknown finger position or a finger or eye given
    /// twice; unusable templates (fingers with fewer than [`MIN_CYLINDERS`] cylinders, eyes
    /// with fewer valid bits than the iris matcher's `min_template_bits`) are kept out of the
    /// record and listed.
    pub fn prepare(&self, enrolment: &Enrolment) -> Result<PreparedPerson, GalleryError> {
        let mut record = Box::new(PersonRecord::new(0));
        let mut fingers: ColdFingers = Default::default();
        let mut unusable_fingers = Vec::new();
        let mut seen = 0u32;
        for t in &enrolment.fingers {
            let slot = FingerPosition::new(t.position)
                .and_then(FingerPosition::slot)
                .ok_or_else(|| {
                    GalleryError::InvalidEnrolment(format!("finger position {}", t.position))
                })?;
            if seen & (1 << slot) != 0 {
                return Err(GalleryError::InvalidEnrolment(format!(
                    "finger position {} given twice",
                    t.position
                )));
            }
            seen |= 1 << slot;
            let prepared = self.matcher.prepare(t);
            if prepared.len() < MIN_CYLINDERS {
                unusable_fingers.push(slot);
                continue;
            }
            let d = self.descriptors.describe(&prepared);
            record.fingers[slot] = d;
            record.ones[slot] = descriptor::ones(&d);
            record.offsets[slot] = self.cohort.offset(&d, record.ones[slot]);
            record.presence |= 1 << slot;
            fingers[slot] = Some(ColdFinger {
                template: t.clone(),
                prepared,
            });
        }
        let mut unusable_eyes = Vec::new();
        let mut eyes_seen = 0u32;
        for code in &enrolment.irises {
            if code.eye >= EYES || eyes_seen & (1 << code.eye) != 0 {
                return Err(GalleryError::InvalidEnrolment(format!(
                    "eye {} invalid or given twice",
                    code.eye
                )));
            }
            eyes_seen |= 1 << code.eye;
            if code.valid_bits() < self.iris.config().min_template_bits {
                unusable_eyes.push(code.eye);
                continue;
            }
            record.irises[code.eye] = code.record;
            record.presence |= 1 << (EYE_PRESENCE_SHIFT + code.eye as u32);
        }
        Ok(PreparedPerson {
            record,
            fingers,
            unusable_fingers,
            unusable_eyes,
        })
    }
}

/// An open gallery.
#[derive(Debug)]
pub struct Gallery {
    store: Store,
    preparer: Preparer,
    calibration: Calibration,
    /// Cold reads that failed their checksum or did not decode, since open.
    damaged_reads: std::sync::atomic::AtomicU64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GalleryError + '_ {
    move |source| GalleryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The matcher parameters a gallery compares with: `configured`, unless they are the defaults
/// and its calibration was learned for an older matcher version, whose defaults it keeps.
pub fn matcher_for(configured: &MccParams, version: u32) -> Result<MccParams, GalleryError> {
    if version == MATCHER_VERSION || *configured != MccParams::default() {
        return Ok(configured.clone());
    }
    MccParams::for_version(version).ok_or(GalleryError::MatcherVersion {
        stored: version,
        known: MATCHER_VERSION,
    })
}

impl Gallery {
    /// Opens (or creates) the gallery in `dir`. With `calibration`, it is written to the
    /// directory (replacing any stored one); without, the stored one is read. The matcher
    /// compares with the parameters of the calibration's matcher version ([`matcher_for`]).
    pub fn open(
        dir: impl AsRef<Path>,
        config: GalleryConfig,
        calibration: Option<Calibration>,
    ) -> Result<Self, GalleryError> {
        Self::open_approved(dir, config, calibration, |_| Ok(()))
    }

    /// [`Gallery::open`], with `approve` asked before recovery changes any file (see
    /// [`Store::open_approved`]): it sees the recovered person keys and checkpoint, and may
    /// refuse.
    pub fn open_approved(
        dir: impl AsRef<Path>,
        config: GalleryConfig,
        calibration: Option<Calibration>,
        approve: impl FnOnce(&Recovered<'_>) -> Result<(), String>,
    ) -> Result<Self, GalleryError> {
        let mut store_config = config.store;
        store_config.stride = PERSON_RECORD_BYTES as u32;
        let store = Store::open_approved(dir.as_ref(), store_config, approve)?;
        let path = store.dir().join(CALIBRATION_NAME);
        let expected = config.descriptor.version();
        let check = |stored: u32| {
            if stored == expected {
                Ok(())
            } else {
                Err(GalleryError::DescriptorVersion { stored, expected })
            }
        };
        let calibration = match calibration {
            Some(mut c) => {
                if !store.is_empty() {
                    if let Ok(old) = read_calibration(&path) {
                        check(old.descriptor_version)?;
                        // The stored fingers' offsets were computed against the old cohort.
                        if old.cohort != c.cohort {
                            return Err(GalleryError::Calibration(
                                "the new calibration's finger-offset cohort differs from the \
                                 one the gallery's persons were prepared with: enrol them into \
                                 a new data directory instead"
                                    .into(),
                            ));
                        }
                    }
                }
                c.descriptor_version = expected;
                write_calibration(&path, &c)?;
                c
            }
            None => {
                let c = read_calibration(&path)?;
                check(c.descriptor_version)?;
                c
            }
        };
        let mcc = matcher_for(&config.mcc, calibration.matcher_version)?;
        let preparer =
            Preparer::new(&mcc, config.descriptor)?.with_cohort(calibration.cohort.clone());
        Ok(Self {
            store,
            preparer,
            calibration,
            damaged_reads: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The preparer (matcher and descriptor builder).
    pub fn preparer(&self) -> &Preparer {
        &self.preparer
    }

    /// The calibration.
    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    /// The underlying store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A consistent read view.
    pub fn snapshot(&self) -> Snapshot<'_> {
        self.store.snapshot()
    }

    /// Live people.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// True when nobody is enrolled.
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// Prepares an enrolment with this gallery's parameters.
    pub fn prepare(&self, enrolment: &Enrolment) -> Result<PreparedPerson, GalleryError> {
        self.preparer.prepare(enrolment)
    }

    fn encode(key: u64, person: &PreparedPerson) -> Result<(PersonRecord, Vec<u8>), GalleryError> {
        let mut record = *person.record;
        record.key = key;
        let mut blob = Vec::new();
        cold::encode(&person.fingers, &mut blob).ok_or_else(|| {
            GalleryError::InvalidEnrolment("template too large for the cold record".into())
        })?;
        Ok((record, blob))
    }

    /// Inserts a prepared person under `key`. Returns the commit LSN.
    pub fn insert(&self, key: u64, person: &PreparedPerson) -> Result<u64, GalleryError> {
        let (record, blob) = Self::encode(key, person)?;
        Ok(self.store.insert(key, bytemuck::bytes_of(&record), &blob)?)
    }

    /// Inserts prepared people under their keys with one commit (see
    /// [`Store::insert_batch`]): nothing is applied when a key is live or given twice or a
    /// person cannot be encoded, and the call returns once every entry is durable. Returns
    /// the LSN of the last entry.
    pub fn insert_batch(&self, people: &[(u64, &PreparedPerson)]) -> Result<u64, GalleryError> {
        let encoded: Vec<(PersonRecord, Vec<u8>)> = people
            .iter()
            .map(|&(key, person)| Self::encode(key, person))
            .collect::<Result<_, _>>()?;
        let items: Vec<(u64, &[u8], &[u8])> = encoded
            .iter()
            .map(|(record, blob)| (record.key, bytemuck::bytes_of(record), blob.as_slice()))
            .collect();
        Ok(self.store.insert_batch(&items)?)
    }

    /// Prepares and inserts an enrolment under `key` (no search).
    pub fn enrol(&self, key: u64, enrolment: &Enrolment) -> Result<u64, GalleryError> {
        self.insert(key, &self.prepare(enrolment)?)
    }

    /// Replaces the person under `key` (re-enrolment), atomically.
    pub fn replace(&self, key: u64, person: &PreparedPerson) -> Result<u64, GalleryError> {
        let (record, blob) = Self::encode(key, person)?;
        Ok(self
            .store
            .replace(key, bytemuck::bytes_of(&record), &blob)?)
    }

    /// Deletes the person under `key`.
    pub fn delete(&self, key: u64) -> Result<u64, GalleryError> {
        Ok(self.store.delete(key)?)
    }

    /// The stored person under `key`: hot record and decoded cold fingers.
    pub fn get(&self, key: u64) -> Result<Option<StoredPerson>, GalleryError> {
        let snap = self.store.snapshot();
        let found = match snap.get(key) {
            Ok(found) => found,
            // A hot record that fails its checksum (or was quarantined by the scrub) is
            // damage, reported and counted like a damaged cold blob.
            Err(e @ StorageError::CorruptRecord { .. }) => {
                self.damaged_reads
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Err(GalleryError::CorruptCold {
                    key,
                    detail: e.to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let Some(r) = found else {
            return Ok(None);
        };
        let record: PersonRecord =
            bytemuck::try_pod_read_unaligned(r.record).map_err(|_| GalleryError::RecordType)?;
        let fingers = self.cold_fingers(&snap, key, r.blob)?;
        Ok(Some(StoredPerson {
            record: Box::new(record),
            fingers,
        }))
    }

    /// The decoded cold fingers of `key` (whose record refers to `blob`). A blob that
    /// fails its checksum or does not decode is `CorruptCold` naming the person, and is
    /// counted in [`Gallery::damaged_reads`].
    pub fn cold_fingers(
        &self,
        snap: &Snapshot<'_>,
        key: u64,
        blob: BlobRef,
    ) -> Result<ColdFingers, GalleryError> {
        let damaged = |detail: String| {
            self.damaged_reads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            GalleryError::CorruptCold { key, detail }
        };
        let bytes = match snap.read_blob(blob) {
            Ok(b) => b,
            Err(e @ StorageError::CorruptBlob { .. }) => return Err(damaged(e.to_string())),
            Err(e) => return Err(e.into()),
        };
        cold::decode(&bytes).ok_or_else(|| damaged("malformed".into()))
    }

    /// What opening the store recovered (replayed entries, a cut torn tail).
    pub fn recovery_report(&self) -> &crate::storage::RecoveryReport {
        self.store.recovery_report()
    }

    /// Reads since open of a cold blob or hot record that failed its checksum (or was
    /// quarantined by the scrub) or did not decode.
    pub fn damaged_reads(&self) -> u64 {
        self.damaged_reads
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Memory and disk use now.
    pub fn footprint(&self) -> Result<Footprint, GalleryError> {
        let dir = self.store.dir();
        let mut disk_bytes = 0;
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let meta = entry.metadata().map_err(io(dir))?;
            if meta.is_file() {
                disk_bytes += meta.len();
            }
        }
        let persons = self.len();
        Ok(Footprint {
            persons,
            hot_bytes_per_person: PERSON_RECORD_BYTES,
            disk_bytes,
            disk_bytes_per_person: disk_bytes as f64 / persons.max(1) as f64,
        })
    }

    /// Checkpoints and closes the store.
    pub fn close(self) -> Result<(), GalleryError> {
        Ok(self.store.close()?)
    }
}

fn write_calibration(path: &Path, c: &Calibration) -> Result<(), GalleryError> {
    let json =
        serde_json::to_vec_pretty(c).map_err(|e| GalleryError::Calibration(e.to_string()))?;
    let mut tmp = PathBuf::from(path);
    tmp.set_extension("json.part");
    std::fs::write(&tmp, json).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    Ok(())
}

fn read_calibration(path: &Path) -> Result<Calibration, GalleryError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let c: Calibration =
        serde_json::from_slice(&bytes).map_err(|e| GalleryError::Calibration(e.to_string()))?;
    if c.descriptor.llr.is_empty() || c.finger.llr.is_empty() || c.iris.llr.is_empty() {
        return Err(GalleryError::Calibration("empty table".into()));
    }
    Ok(c)
}
