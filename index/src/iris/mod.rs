//! Iris codes and matching.
//!
//! * [`IrisLayout`]: the geometry of a code and its bit order (rows of angular positions, so
//!   rotation is a per-row bit rotation);
//! * [`IrisTemplate`]: code and mask;
//! * [`record`]: the fixed-stride gallery record (rows in cascade order) and typed views of
//!   memory-mapped record files;
//! * [`IrisProbe`] / [`IrisQuery`]: the probe rotated once per search, and the threshold
//!   tables of a 1:N scan;
//! * [`IrisMatcher`]: fractional Hamming distance over jointly valid bits, minimised over the
//!   rotation window, with Daugman's normalisation; 1:1 comparison and the 1:N scan, full or
//!   cascaded;
//! * [`kernel`]: the bit-counting kernels (portable, AVX2, AVX-512 VPOPCNTDQ), chosen at run
//!   time.

pub mod error;
pub mod kernel;
pub mod layout;
pub mod matcher;
pub mod probe;
pub mod score;
pub mod strided;
pub mod template;

pub use error::IrisError;
pub use kernel::{
    BitCounts, CascadeTables, GateShape, GateWork, Kernel, KernelKind, MAX_GATE_ROTATIONS,
};
pub use layout::IrisLayout;
pub use matcher::{IrisHit, IrisMatcher, ScanStats, ScanStrategy};
pub use probe::{IrisProbe, IrisQuery};
pub use score::{
    normalise, CascadeConfig, CoarseConfig, IrisComparison, IrisScore, MatchConfig,
    DEPLOYMENT_THRESHOLD,
};
pub use strided::{
    cascade_row_order, decode_record, encode_record, record_of, GalleryIris2048, GalleryIrisOpen,
    IrisRecords,
};
pub use template::IrisTemplate;
