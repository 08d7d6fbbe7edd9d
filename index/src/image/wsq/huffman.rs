//! Huffman decoding of WSQ coefficient blocks.
//!
//! Codes are canonical (as in JPEG, ITU T.81 Annex C): lengths 1–16, counts per length from
//! the DHT segment. Entropy-coded bytes equal to 0xFF are followed by a stuffed 0x00; any
//! other byte after 0xFF is a marker that ends the block. Each decoded symbol is a category:
//!
//! | symbol | meaning |
//! |---|---|
//! | 1–100 | a run of that many zero coefficients |
//! | 101 / 102 | a coefficient of + / − the next 8 bits |
//! | 103 / 104 | a coefficient of + / − the next 16 bits |
//! | 105 / 106 | a run of zeros as long as the next 8 / 16 bits |
//! | 107–254 | the coefficient `symbol − 180` (−73 to 74) |

use super::super::ImageError;
use super::tables::HuffmanSpec;

/// Canonical decoding tables: for each code length, the largest code, the smallest code and
/// the index of its first value.
#[derive(Debug, Clone)]
pub(crate) struct Decoder {
    max_code: [i32; 17],
    min_code: [i32; 17],
    first_value: [usize; 17],
    values: Vec<u8>,
}

impl Decoder {
    /// Builds the decoding tables; refuses counts that do not form a prefix code.
    pub(crate) fn new(spec: &HuffmanSpec) -> Result<Self, ImageError> {
        let mut max_code = [-1i32; 17];
        let mut min_code = [0i32; 17];
        let mut first_value = [0usize; 17];
        let mut code: i32 = 0;
        let mut k = 0usize;
        for len in 1..=16usize {
            let count = spec.counts[len - 1] as i32;
            if count > 0 {
                first_value[len] = k;
                min_code[len] = code;
                code += count;
                k += count as usize;
                if code > (1i32 << len) {
                    return Err(ImageError::corrupt(
                        "WSQ Huffman code counts overflow their lengths",
                    ));
                }
                max_code[len] = code - 1;
            }
            code <<= 1;
        }
        if k != spec.values.len() {
            return Err(ImageError::corrupt(
                "WSQ Huffman table value count mismatch",
            ));
        }
        Ok(Self {
            max_code,
            min_code,
            first_value,
            values: spec.values.clone(),
        })
    }
}

/// Outcome of reading entropy-coded data.
enum Next<T> {
    Value(T),
    /// A marker begins at the reader's position: the block ends.
    Marker,
}

/// A bit reader over entropy-coded bytes that stops at markers.
#[derive(Debug)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    byte: u8,
    left: u8,
}

impl<'a> BitReader<'a> {
    /// A reader over `data` from offset `pos`.
    pub(crate) fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            byte: 0,
            left: 0,
        }
    }

    /// Offset of the next unread byte (the marker, once a block has ended).
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Loads the next data byte, undoing stuffing; `Marker` when a marker starts here and
    /// `marker_ok`, an error when a marker interrupts a fixed-length field.
    fn load(&mut self, marker_ok: bool) -> Result<Next<()>, ImageError> {
        let truncated = |pos: usize, available: usize| ImageError::Truncated {
            what: "WSQ entropy-coded data",
            offset: pos,
            needed: 1,
            available,
        };
        let b = *self
            .data
            .get(self.pos)
            .ok_or_else(|| truncated(self.pos, 0))?;
        if b == 0xff {
            let next = *self
                .data
                .get(self.pos + 1)
                .ok_or_else(|| truncated(self.pos + 1, 0))?;
            if next != 0x00 {
                if marker_ok {
                    return Ok(Next::Marker);
                }
                return Err(ImageError::corrupt(format!(
                    "WSQ marker ff{next:02x} inside a coefficient at offset {}",
                    self.pos
                )));
            }
            self.pos += 2;
        } else {
            self.pos += 1;
        }
        self.byte = b;
        self.left = 8;
        Ok(Next::Value(()))
    }

    fn bit(&mut self, marker_ok: bool) -> Result<Next<u32>, ImageError> {
        if self.left == 0 {
            if let Next::Marker = self.load(marker_ok)? {
                return Ok(Next::Marker);
            }
        }
        self.left -= 1;
        Ok(Next::Value(u32::from((self.byte >> self.left) & 1)))
    }

    /// `n` (≤ 16) bits of a fixed-length field.
    fn bits(&mut self, n: u32) -> Result<u32, ImageError> {
        let mut v = 0u32;
        for _ in 0..n {
            match self.bit(false)? {
                Next::Value(b) => v = (v << 1) | b,
                Next::Marker => return Err(ImageError::corrupt("WSQ marker inside a field")),
            }
        }
        Ok(v)
    }

    /// The next Huffman symbol, or `Marker` at the end of the block.
    fn symbol(&mut self, d: &Decoder) -> Result<Next<u8>, ImageError> {
        let mut code: i32 = 0;
        for len in 1..=16usize {
            match self.bit(true)? {
                Next::Value(b) => code = (code << 1) | b as i32,
                Next::Marker => return Ok(Next::Marker),
            }
            if code <= d.max_code[len] {
                let index = d.first_value[len] + (code - d.min_code[len]) as usize;
                return d
                    .values
                    .get(index)
                    .copied()
                    .map(Next::Value)
                    .ok_or_else(|| ImageError::corrupt("WSQ Huffman value index out of range"));
            }
        }
        Err(ImageError::corrupt(format!(
            "WSQ invalid Huffman code before offset {}",
            self.pos
        )))
    }
}

/// Decodes one block's symbols into `out[*filled..]` until a marker; returns with the reader
/// positioned on that marker. Refuses data that would overrun `out`.
pub(crate) fn decode_block(
    reader: &mut BitReader<'_>,
    decoder: &Decoder,
    out: &mut [i32],
    filled: &mut usize,
) -> Result<(), ImageError> {
    let overrun = || ImageError::corrupt("WSQ coefficient data overruns the image");
    loop {
        let symbol = match reader.symbol(decoder)? {
            Next::Value(s) => s,
            Next::Marker => return Ok(()),
        };
        let (zeros, value) = match symbol {
            1..=100 => (usize::from(symbol), None),
            101 => (0, Some(reader.bits(8)? as i32)),
            102 => (0, Some(-(reader.bits(8)? as i32))),
            103 => (0, Some(reader.bits(16)? as i32)),
            104 => (0, Some(-(reader.bits(16)? as i32))),
            105 => (reader.bits(8)? as usize, None),
            106 => (reader.bits(16)? as usize, None),
            107..=254 => (0, Some(i32::from(symbol) - 180)),
            _ => {
                return Err(ImageError::corrupt(format!(
                    "WSQ invalid coefficient category {symbol}"
                )))
            }
        };
        if let Some(v) = value {
            *out.get_mut(*filled).ok_or_else(overrun)? = v;
            *filled += 1;
        } else {
            let end = filled.checked_add(zeros).ok_or_else(overrun)?;
            out.get_mut(*filled..end)
                .ok_or_else(overrun)?
                .iter_mut()
                .for_each(|c| *c = 0);
            *filled = end;
        }
    }
}
