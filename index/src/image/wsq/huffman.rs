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

/// Bits of code resolved by one table look-up.
const FAST_BITS: u32 = 8;

/// Canonical decoding tables: for each code length, the largest code, the smallest code and
/// the index of its first value; and a look-up table resolving every code of up to
/// [`FAST_BITS`] bits from the next [`FAST_BITS`] bits at once.
#[derive(Debug, Clone)]
pub(crate) struct Decoder {
    max_code: [i32; 17],
    min_code: [i32; 17],
    first_value: [usize; 17],
    values: Vec<u8>,
    /// `length << 8 | value` for each [`FAST_BITS`]-bit prefix, 0 where the code is longer.
    fast: [u16; 1 << FAST_BITS],
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
        let mut fast = [0u16; 1 << FAST_BITS];
        for len in 1..=FAST_BITS as usize {
            if max_code[len] < min_code[len] {
                continue;
            }
            for code in min_code[len]..=max_code[len] {
                let index = first_value[len] + (code - min_code[len]) as usize;
                let Some(&value) = spec.values.get(index) else {
                    continue;
                };
                let shift = FAST_BITS as usize - len;
                let first = (code as usize) << shift;
                for entry in fast.iter_mut().skip(first).take(1 << shift) {
                    *entry = ((len as u16) << 8) | u16::from(value);
                }
            }
        }
        Ok(Self {
            max_code,
            min_code,
            first_value,
            values: spec.values.clone(),
            fast,
        })
    }
}

/// Outcome of reading entropy-coded data.
enum Next<T> {
    Value(T),
    /// A marker begins at the reader's position: the block ends.
    Marker,
}

/// A bit reader over entropy-coded bytes that stops at markers. Bytes are buffered ahead (up
/// to 64 bits), undoing stuffing, until a marker or the end of the data.
#[derive(Debug)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Offset of the next byte to buffer.
    pos: usize,
    /// Buffered bits: the low `count` bits of `bits`, oldest first.
    bits: u64,
    count: u32,
    /// Offset of the marker that ends the entropy-coded data, once reached.
    marker: Option<usize>,
    /// The data ended without a marker.
    ended: bool,
}

impl<'a> BitReader<'a> {
    /// A reader over `data` from offset `pos`.
    pub(crate) fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            bits: 0,
            count: 0,
            marker: None,
            ended: false,
        }
    }

    /// Offset of the marker that ended the block (or of the next unbuffered byte).
    pub(crate) fn pos(&self) -> usize {
        self.marker.unwrap_or(self.pos)
    }

    /// Buffers bytes until 57 or more bits are held, a marker is reached or the data ends.
    #[inline]
    fn fill(&mut self) {
        while self.count <= 56 && self.marker.is_none() && !self.ended {
            match self.data.get(self.pos) {
                None => self.ended = true,
                Some(&0xff) => match self.data.get(self.pos + 1) {
                    Some(0x00) => {
                        self.bits = (self.bits << 8) | 0xff;
                        self.count += 8;
                        self.pos += 2;
                    }
                    Some(_) => self.marker = Some(self.pos),
                    None => self.ended = true,
                },
                Some(&b) => {
                    self.bits = (self.bits << 8) | u64::from(b);
                    self.count += 8;
                    self.pos += 1;
                }
            }
        }
    }

    /// The next `n` (1–16) buffered bits, without consuming them; `count >= n`.
    #[inline]
    fn peek(&self, n: u32) -> u32 {
        ((self.bits >> (self.count - n)) & ((1u64 << n) - 1)) as u32
    }

    fn truncated(&self) -> ImageError {
        ImageError::Truncated {
            what: "WSQ entropy-coded data",
            offset: self.pos,
            needed: 1,
            available: 0,
        }
    }

    /// `n` (1–16) bits of a fixed-length field.
    fn bits(&mut self, n: u32) -> Result<u32, ImageError> {
        if self.count < n {
            self.fill();
            if self.count < n {
                return Err(match self.marker {
                    Some(_) => ImageError::corrupt("WSQ marker inside a field"),
                    None => self.truncated(),
                });
            }
        }
        let v = self.peek(n);
        self.count -= n;
        Ok(v)
    }

    /// The next Huffman symbol, or `Marker` at the end of the block.
    #[inline]
    fn symbol(&mut self, d: &Decoder) -> Result<Next<u8>, ImageError> {
        if self.count < 16 {
            self.fill();
        }
        if self.count >= FAST_BITS {
            let entry = d.fast[self.peek(FAST_BITS) as usize];
            if entry != 0 {
                self.count -= u32::from(entry >> 8);
                return Ok(Next::Value(entry as u8));
            }
        }
        for len in 1..=16u32 {
            if self.count < len {
                return match self.marker {
                    Some(_) => Ok(Next::Marker),
                    None => Err(self.truncated()),
                };
            }
            let code = self.peek(len) as i32;
            if code <= d.max_code[len as usize] {
                self.count -= len;
                let index =
                    d.first_value[len as usize] + (code - d.min_code[len as usize]) as usize;
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
