//! Work caps for JPEG, checked on the marker segments before the decoder runs.
//!
//! A JPEG's decoding work is not bounded by its size in bytes: every scan header names the
//! components it covers, and the decoder visits every block of those components in each
//! scan, padding the entropy-coded data with zeros where it runs short. A few kilobytes of
//! progressive scan headers over a large frame therefore cost as much as hundreds of real
//! images. [`check`] walks the marker segments the way the decoder reads them (each segment
//! by its length, the entropy-coded data after a scan header up to the next marker other
//! than a restart, bytes between segments skipped up to the next `0xFF`) and refuses a
//! stream with more than [`MAX_SCANS`] scans (`jpeg_too_many_scans`) or with more than
//! [`MAX_WORK`] samples visited over all scans (`jpeg_work_over_budget`), where a scan visits
//! every block of each component it names. A stream the walk cannot finish (cut short) is
//! left to the decoder, which refuses it; the scans counted up to there are still capped.
//!
//! Real captures stay far below both caps: a baseline image has one scan (or one per
//! component), libjpeg's default progressive script has 6 scans for grey and 10 for colour,
//! and a 2,000 × 2,000 colour progressive image (the largest accepted, colour at full
//! resolution) visits 14 × 4,000,000 samples, under half of [`MAX_WORK`].

use super::{ImageError, MAX_PIXELS};

/// Most scans a JPEG stream may have.
pub const MAX_SCANS: u32 = 64;

/// Most samples (blocks × 64) the scans of a JPEG stream may visit in all: 32 full planes of
/// the largest accepted image.
pub const MAX_WORK: u64 = 32 * MAX_PIXELS;

/// Markers without a length field after them: TEM, RST0–RST7, SOI.
fn standalone(marker: u8) -> bool {
    matches!(marker, 0x01 | 0xd0..=0xd8)
}

/// Start-of-frame markers (SOF0–SOF15 without DHT, JPG and DAC).
fn start_of_frame(marker: u8) -> bool {
    matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc)
}

const SOS: u8 = 0xda;
const EOI: u8 = 0xd9;

/// One frame component: identifier and sampling factors.
#[derive(Debug, Clone, Copy)]
struct Component {
    id: u8,
    h: u64,
    v: u64,
}

/// The frame a scan refers to.
#[derive(Debug, Default)]
struct Frame {
    width: u64,
    height: u64,
    components: Vec<Component>,
}

impl Frame {
    /// Samples of the component, padded to whole MCUs (an upper bound of what a scan
    /// covering it visits).
    fn samples(&self, c: &Component) -> u64 {
        let h_max = self.components.iter().map(|c| c.h).max().unwrap_or(1);
        let v_max = self.components.iter().map(|c| c.v).max().unwrap_or(1);
        let mcus_x = self.width.div_ceil(8 * h_max);
        let mcus_y = self.height.div_ceil(8 * v_max);
        mcus_x * c.h * mcus_y * c.v * 64
    }

    /// Samples a scan over the components `ids` visits; an identifier the frame lacks
    /// counts as its largest component.
    fn scan_work(&self, ids: &[u8]) -> u64 {
        let largest = self
            .components
            .iter()
            .map(|c| self.samples(c))
            .max()
            .unwrap_or(0);
        ids.iter()
            .map(|id| {
                self.components
                    .iter()
                    .find(|c| c.id == *id)
                    .map_or(largest, |c| self.samples(c))
            })
            .sum()
    }
}

/// Checks the scans of the JPEG stream `bytes` against [`MAX_SCANS`] and [`MAX_WORK`].
pub(crate) fn check(bytes: &[u8]) -> Result<(), ImageError> {
    let mut walk = Walk { bytes, pos: 0 };
    let mut frame: Option<Frame> = None;
    // Scan headers seen, and the samples those scans visit.
    let (mut scans, mut work) = (0u32, 0u64);
    while let Some(marker) = walk.next_marker() {
        if marker == EOI {
            break;
        }
        if standalone(marker) {
            continue;
        }
        let Some(body) = walk.segment() else { break };
        if start_of_frame(marker) {
            frame = parse_frame(body);
        } else if marker == SOS {
            scans += 1;
            if scans > MAX_SCANS {
                return Err(ImageError::JpegTooManyScans { max: MAX_SCANS });
            }
            let scan = match &frame {
                Some(f) => f.scan_work(&scan_components(body)),
                // The decoder refuses a scan before its frame.
                None => 0,
            };
            work = work.saturating_add(scan);
            if work > MAX_WORK {
                return Err(ImageError::JpegWorkOverBudget {
                    work,
                    max: MAX_WORK,
                });
            }
            walk.skip_entropy_coded_data();
        }
    }
    Ok(())
}

/// The frame header of a start-of-frame segment body, or `None` when it is cut short (the
/// decoder refuses it).
fn parse_frame(body: &[u8]) -> Option<Frame> {
    let height = u64::from(u16::from_be_bytes([*body.get(1)?, *body.get(2)?]));
    let width = u64::from(u16::from_be_bytes([*body.get(3)?, *body.get(4)?]));
    let count = usize::from(*body.get(5)?);
    let components = body
        .get(6..6 + 3 * count)?
        .chunks_exact(3)
        .map(|c| Component {
            id: c[0],
            h: u64::from(c[1] >> 4).max(1),
            v: u64::from(c[1] & 0x0f).max(1),
        })
        .collect();
    Some(Frame {
        width,
        height,
        components,
    })
}

/// The component identifiers a scan header body names (as many as it holds).
fn scan_components(body: &[u8]) -> Vec<u8> {
    let count = usize::from(body.first().copied().unwrap_or(0));
    body.get(1..)
        .unwrap_or(&[])
        .chunks_exact(2)
        .take(count)
        .map(|entry| entry[0])
        .collect()
}

/// A cursor over the stream, reading markers as the decoder does.
struct Walk<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Walk<'a> {
    /// Offset of the first `0xFF` at or after `from`.
    fn find_ff(&self, from: usize) -> Option<usize> {
        let offset = self.bytes.get(from..)?.iter().position(|&b| b == 0xff)?;
        Some(from + offset)
    }

    /// The next marker code: bytes up to a `0xFF` are skipped, fill bytes (`0xFF`) and a
    /// stuffed zero are passed over. `None` at the end of the data.
    fn next_marker(&mut self) -> Option<u8> {
        loop {
            let at = self.find_ff(self.pos)?;
            let mut i = at + 1;
            let code = loop {
                match *self.bytes.get(i)? {
                    0xff => i += 1,
                    byte => break byte,
                }
            };
            self.pos = i + 1;
            if code != 0 {
                return Some(code);
            }
        }
    }

    /// The body of the segment at the cursor (after its two-byte length), or `None` when the
    /// length is invalid or runs past the end.
    fn segment(&mut self) -> Option<&'a [u8]> {
        let len = usize::from(u16::from_be_bytes([
            *self.bytes.get(self.pos)?,
            *self.bytes.get(self.pos + 1)?,
        ]));
        let body = self.bytes.get(self.pos + 2..self.pos.checked_add(len)?)?;
        self.pos += len.max(2);
        Some(body)
    }

    /// Moves the cursor to the `0xFF` of the first marker after entropy-coded data: a
    /// `0xFF` followed (after fill bytes) by zero (a stuffed byte) or a restart marker is
    /// data.
    fn skip_entropy_coded_data(&mut self) {
        let mut i = self.pos;
        while let Some(at) = self.find_ff(i) {
            let mut j = at + 1;
            while self.bytes.get(j) == Some(&0xff) {
                j += 1;
            }
            match self.bytes.get(j) {
                Some(0x00 | 0xd0..=0xd7) => i = j + 1,
                _ => {
                    self.pos = at;
                    return;
                }
            }
        }
        self.pos = self.bytes.len();
    }
}
