//! Tiled inspection: a high-resolution frame (a 1920x1080 roof photo, a 4K drone frame) is
//! cut into `rows x cols` overlapping tiles and each tile is classified on its own.

use crate::preprocess::Rect;

/// A `rows x cols` grid with a fractional overlap between neighbours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TileGrid {
    /// Rows of tiles.
    pub rows: usize,
    /// Columns of tiles.
    pub cols: usize,
    /// Fraction of a tile shared with its neighbour, 0 ..= 0.9.
    pub overlap: f32,
}

impl TileGrid {
    /// Parse `RxC` (1 to 64 each) with an overlap fraction (0 to 0.9).
    pub fn parse(s: &str, overlap: f32) -> Result<TileGrid, String> {
        let bad = || format!("--tiles {s:?}: use ROWSxCOLS, e.g. 3x4 (1 to 64 each)");
        let (r, c) = s.split_once(['x', 'X']).ok_or_else(bad)?;
        let (rows, cols) = (r.trim().parse::<usize>().map_err(|_| bad())?, c.trim().parse::<usize>().map_err(|_| bad())?);
        if !(1..=64).contains(&rows) || !(1..=64).contains(&cols) {
            return Err(bad());
        }
        if !(0.0..=0.9).contains(&overlap) || overlap.is_nan() {
            return Err(format!("--overlap {overlap}: must be between 0 and 0.9"));
        }
        Ok(TileGrid { rows, cols, overlap })
    }

    /// Number of tiles.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// True for an empty grid (never after `parse`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tiles of a `width x height` frame, row by row. Neighbouring tiles share
    /// `overlap` of a tile; together they cover the frame exactly.
    pub fn rects(&self, width: u32, height: u32) -> Vec<Rect> {
        let axis = |n: usize, len: f32| -> (f32, f32) {
            let size = len / (n as f32 - (n as f32 - 1.0) * self.overlap);
            (size, size * (1.0 - self.overlap))
        };
        let (tw, sx) = axis(self.cols, width as f32);
        let (th, sy) = axis(self.rows, height as f32);
        let mut v = Vec::with_capacity(self.len());
        for r in 0..self.rows {
            for c in 0..self.cols {
                v.push(Rect { x: c as f32 * sx, y: r as f32 * sy, w: tw, h: th });
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_frame_with_overlap() {
        let g = TileGrid::parse("2x3", 0.25).unwrap();
        let r = g.rects(1920, 1080);
        assert_eq!(r.len(), 6);
        let last = r[5];
        assert!((last.x + last.w - 1920.0).abs() < 0.01 && (last.y + last.h - 1080.0).abs() < 0.01);
        assert!((r[1].x - (r[0].w * 0.75)).abs() < 0.01, "a quarter of a tile is shared");
        assert_eq!(TileGrid::parse("1x1", 0.0).unwrap().rects(10, 10)[0], Rect { x: 0.0, y: 0.0, w: 10.0, h: 10.0 });
        for bad in ["3", "0x2", "2x65", "axb", ""] {
            assert!(TileGrid::parse(bad, 0.0).is_err(), "{bad}");
        }
        assert!(TileGrid::parse("2x2", 0.95).is_err());
    }
}
