//! The civil-registry rules shared by the service, the engine and the synthetic data sets:
//!
//! * [`nik`]: the 16-digit population number, parsed and checked (area, birth date, serial);
//! * [`date`]: calendar dates of birth;
//! * [`region`]: the province codes a NIK may start with.
//!
//! No I/O, no randomness: the synthetic population (`tunggal-datasets`) builds on these
//! types, never the other way round.

pub mod date;
pub mod nik;
pub mod region;
