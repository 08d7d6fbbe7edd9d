//! Binarisation of the enhanced image, thinning to one-pixel ridges (Zhang and Suen, 1984)
//! and walking along the skeleton.

/// A one-pixel-wide ridge skeleton with a one-pixel empty border.
pub(crate) struct Skeleton {
    pub width: usize,
    pub height: usize,
    /// 1 on ridge pixels, 0 elsewhere.
    pub pixels: Vec<u8>,
    /// Visit stamps for [`Skeleton::trace`].
    stamps: Vec<u32>,
    stamp: u32,
}

/// Offsets of the eight neighbours in clockwise order starting north (P2…P9 of Zhang–Suen).
const RING: [(isize, isize); 8] = [
    (0, -1),
    (1, -1),
    (1, 0),
    (1, 1),
    (0, 1),
    (-1, 1),
    (-1, 0),
    (-1, -1),
];

/// How a walk along the skeleton ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WalkEnd {
    /// The requested length was walked.
    Length,
    /// The ridge ended.
    Ending,
    /// The ridge reached a junction.
    Junction,
}

/// The result of a walk: where it stopped, after how many steps, and why.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Walk {
    pub x: usize,
    pub y: usize,
    pub steps: usize,
    pub end: WalkEnd,
}

/// Zhang–Suen deletion decision for every neighbour code, for sub-iteration `pass` (0 or 1).
fn deletable_table(pass: usize) -> [bool; 256] {
    std::array::from_fn(|code| {
        let p: [u8; 8] = std::array::from_fn(|k| ((code >> k) & 1) as u8);
        let b: u8 = p.iter().sum();
        let a = (0..8).filter(|&k| p[k] == 0 && p[(k + 1) % 8] == 1).count();
        // p[0] N, p[2] E, p[4] S, p[6] W.
        let directional = if pass == 0 {
            p[0] * p[2] * p[4] == 0 && p[2] * p[4] * p[6] == 0
        } else {
            p[0] * p[2] * p[6] == 0 && p[0] * p[4] * p[6] == 0
        };
        (2..=6).contains(&b) && a == 1 && directional
    })
}

impl Skeleton {
    /// Ridge pixels where `response > 0` inside the foreground, thinned.
    pub fn from_response(response: &[f32], width: usize, height: usize) -> Self {
        let mut pixels = vec![0u8; width * height];
        for y in 1..height.saturating_sub(1) {
            for x in 1..width - 1 {
                let i = y * width + x;
                pixels[i] = u8::from(response[i] > 0.0);
            }
        }
        let mut s = Self {
            width,
            height,
            pixels,
            stamps: vec![0; width * height],
            stamp: 0,
        };
        s.thin();
        s
    }

    #[inline]
    fn at(&self, x: usize, y: usize, d: (isize, isize)) -> u8 {
        let nx = (x as isize + d.0) as usize;
        let ny = (y as isize + d.1) as usize;
        self.pixels[ny * self.width + nx]
    }

    /// Crossing number of an interior pixel: half the number of 0/1 changes around it.
    pub fn crossing_number(&self, x: usize, y: usize) -> u8 {
        let mut changes = 0u8;
        for k in 0..8 {
            let a = self.at(x, y, RING[k]);
            let b = self.at(x, y, RING[(k + 1) % 8]);
            changes += u8::from(a != b);
        }
        changes / 2
    }

    /// Bit mask of the eight neighbours of an interior pixel, bit `k` for `RING[k]`.
    #[inline]
    fn code(&self, i: usize) -> u8 {
        let w = self.width;
        let p = &self.pixels;
        p[i - w]
            | (p[i - w + 1] << 1)
            | (p[i + 1] << 2)
            | (p[i + w + 1] << 3)
            | (p[i + w] << 4)
            | (p[i + w - 1] << 5)
            | (p[i - 1] << 6)
            | (p[i - w - 1] << 7)
    }

    fn thin(&mut self) {
        let (w, h) = (self.width, self.height);
        let tables = [deletable_table(0), deletable_table(1)];
        let mut remove = Vec::new();
        loop {
            let mut changed = false;
            for table in &tables {
                remove.clear();
                for y in 1..h - 1 {
                    for i in y * w + 1..(y + 1) * w - 1 {
                        if self.pixels[i] != 0 && table[usize::from(self.code(i))] {
                            remove.push(i);
                        }
                    }
                }
                for &i in &remove {
                    self.pixels[i] = 0;
                }
                changed |= !remove.is_empty();
            }
            if !changed {
                break;
            }
        }
        // Remove staircase corners: a pixel with two 4-neighbours that touch diagonally and
        // no other neighbour is redundant, and it would confuse walks.
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                if self.pixels[y * w + x] == 0 {
                    continue;
                }
                let p: [u8; 8] = std::array::from_fn(|k| self.at(x, y, RING[k]));
                let count: u8 = p.iter().sum();
                let corner = (p[0] == 1 && p[2] == 1 && p[5] == 0 && p[4] == 0 && p[6] == 0)
                    || (p[2] == 1 && p[4] == 1 && p[7] == 0 && p[6] == 0 && p[0] == 0)
                    || (p[4] == 1 && p[6] == 1 && p[1] == 0 && p[0] == 0 && p[2] == 0)
                    || (p[6] == 1 && p[0] == 1 && p[3] == 0 && p[2] == 0 && p[4] == 0);
                if corner && count == 2 {
                    // Only if the crossing number stays: the two neighbours touch each other.
                    self.pixels[y * w + x] = 0;
                }
            }
        }
    }

    /// Ridge neighbours of `(x, y)` as coordinates, at most 8.
    fn neighbours(&self, x: usize, y: usize, out: &mut [(usize, usize); 8]) -> usize {
        let mut n = 0;
        for d in RING {
            if self.at(x, y, d) == 1 {
                out[n] = ((x as isize + d.0) as usize, (y as isize + d.1) as usize);
                n += 1;
            }
        }
        n
    }

    /// Starts a new family of walks: pixels visited by earlier families are forgotten.
    pub fn new_walks(&mut self) {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.stamps.fill(0);
            self.stamp = 1;
        }
    }

    /// Marks `(x, y)` visited in the current family.
    pub fn mark(&mut self, x: usize, y: usize) {
        self.stamps[y * self.width + x] = self.stamp;
    }

    /// Walks from `(x, y)` (already marked) through the first step `(sx, sy)`, for at most
    /// `max_steps` steps, stopping at endings and junctions.
    pub fn walk(&mut self, sx: usize, sy: usize, max_steps: usize) -> Walk {
        let (mut x, mut y) = (sx, sy);
        self.mark(x, y);
        let mut steps = 1;
        let mut nb = [(0usize, 0usize); 8];
        loop {
            if x < 1 || y < 1 || x + 1 >= self.width || y + 1 >= self.height {
                return Walk {
                    x,
                    y,
                    steps,
                    end: WalkEnd::Ending,
                };
            }
            let cn = self.crossing_number(x, y);
            if cn >= 3 {
                return Walk {
                    x,
                    y,
                    steps,
                    end: WalkEnd::Junction,
                };
            }
            if steps >= max_steps {
                return Walk {
                    x,
                    y,
                    steps,
                    end: WalkEnd::Length,
                };
            }
            let n = self.neighbours(x, y, &mut nb);
            let mut next = None;
            let mut diagonal = false;
            for &(nx, ny) in &nb[..n] {
                if self.stamps[ny * self.width + nx] == self.stamp {
                    continue;
                }
                let d = nx != x && ny != y;
                if next.is_none() || (d && !diagonal) {
                    next = Some((nx, ny));
                    diagonal = d;
                }
            }
            // Mark every unvisited neighbour so a corner pixel is not walked back into.
            for &(nx, ny) in &nb[..n] {
                self.stamps[ny * self.width + nx] = self.stamp;
            }
            let Some((nx, ny)) = next else {
                return Walk {
                    x,
                    y,
                    steps,
                    end: WalkEnd::Ending,
                };
            };
            x = nx;
            y = ny;
            steps += 1;
        }
    }

    /// The ridge neighbours of `(x, y)` (for starting walks).
    pub fn starts(&self, x: usize, y: usize) -> ([(usize, usize); 8], usize) {
        let mut nb = [(0usize, 0usize); 8];
        let n = self.neighbours(x, y, &mut nb);
        (nb, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thick_bar_thins_to_a_line_with_two_endings() {
        let (w, h) = (40, 20);
        let mut response = vec![-1.0f32; w * h];
        for y in 8..13 {
            for x in 5..35 {
                response[y * w + x] = 1.0;
            }
        }
        let s = Skeleton::from_response(&response, w, h);
        let mut endings = 0;
        let mut pixels = 0;
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                if s.pixels[y * w + x] == 1 {
                    pixels += 1;
                    if s.crossing_number(x, y) == 1 {
                        endings += 1;
                    }
                }
            }
        }
        assert_eq!(endings, 2);
        assert!((20..=32).contains(&pixels), "{pixels} skeleton pixels");
    }
}
