//! Pad of an NHWC map's height and width (ONNX Pad on H/W): constant, reflect or edge.
//! The same code for int8 and f32 (a pure copy, so every target gives the same bytes).

use crate::ops::PadMode;

/// The source index along one axis of output index `o` (`pad0` before, `n` inside), or
/// `None` for a constant border. Reflect assumes pads smaller than `n` (the decoder checks
/// it); the result is clamped into `0..n` whatever the input, so it never indexes out.
#[inline]
fn source(o: usize, pad0: usize, n: usize, mode: PadMode) -> Option<usize> {
    let i = o as isize - pad0 as isize;
    let last = n as isize - 1;
    if (0..=last).contains(&i) {
        return Some(i as usize);
    }
    let j = match mode {
        PadMode::Constant => return None,
        PadMode::Edge => i.clamp(0, last),
        PadMode::Reflect if i < 0 => -i,
        PadMode::Reflect => 2 * last - i,
    };
    Some(j.clamp(0, last.max(0)) as usize)
}

/// Pad `x` (`h x w x c`) by `pads = [top, left, bottom, right]` into `y`
/// (`(h + top + bottom) x (w + left + right) x c`), filling the border per `mode`
/// (`value` for [`PadMode::Constant`]).
pub fn pad<T: Copy>(x: &[T], [h, w, c]: [usize; 3], pads: [usize; 4], mode: PadMode, value: T, y: &mut [T]) {
    let ow = w + pads[1] + pads[3];
    if c == 0 || ow == 0 {
        return;
    }
    for (oy, row) in y.chunks_mut(ow * c).enumerate() {
        let sy = source(oy, pads[0], h, mode);
        for (ox, px) in row.chunks_mut(c).enumerate() {
            let src = match (sy, source(ox, pads[1], w, mode)) {
                (Some(sy), Some(sx)) => x.get((sy * w + sx) * c..(sy * w + sx + 1) * c),
                _ => None,
            };
            match src {
                Some(s) => px.copy_from_slice(&s[..px.len()]),
                None => px.fill(value),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// A 3x4 map of two channels (`v` and `v + 100`) padded by `[2, 1, 1, 3]`; the expected
    /// first channels are `numpy.pad(arange(12).reshape(3, 4), ((2, 1), (1, 3)), mode)`.
    fn padded(mode: PadMode) -> Vec<i32> {
        let x: Vec<i32> = (0..12).flat_map(|v| [v, v + 100]).collect();
        let mut y = vec![0; 6 * 8 * 2];
        pad(&x, [3, 4, 2], [2, 1, 1, 3], mode, -1, &mut y);
        for (a, b) in y.chunks_exact(2).map(|p| (p[0], p[1])) {
            assert!(b == a + 100 || (a, b) == (-1, -1), "channels move together: {a} {b}");
        }
        y.chunks_exact(2).map(|p| p[0]).collect()
    }

    #[test]
    fn pad_modes_match_numpy() {
        let reflect = [
            9, 8, 9, 10, 11, 10, 9, 8, 5, 4, 5, 6, 7, 6, 5, 4, 1, 0, 1, 2, 3, 2, 1, 0, 5, 4, 5, 6, 7, 6, 5, 4, 9, 8, 9, 10, 11, 10, 9, 8, 5, 4, 5, 6, 7,
            6, 5, 4,
        ];
        let edge = [
            0, 0, 1, 2, 3, 3, 3, 3, 0, 0, 1, 2, 3, 3, 3, 3, 0, 0, 1, 2, 3, 3, 3, 3, 4, 4, 5, 6, 7, 7, 7, 7, 8, 8, 9, 10, 11, 11, 11, 11, 8, 8, 9, 10,
            11, 11, 11, 11,
        ];
        let mut constant = vec![-1; 48];
        for yy in 0..3 {
            for xx in 0..4 {
                constant[(yy + 2) * 8 + xx + 1] = (yy * 4 + xx) as i32;
            }
        }
        assert_eq!(padded(PadMode::Reflect), reflect);
        assert_eq!(padded(PadMode::Edge), edge);
        assert_eq!(padded(PadMode::Constant), constant);
    }

    #[test]
    fn short_or_mismatched_buffers_do_not_index_out() {
        let x = [1i8, 2, 3];
        let mut y = [0i8; 40];
        pad(&x, [2, 2, 1], [1, 1, 1, 1], PadMode::Reflect, 0, &mut y);
        pad(&x, [1, 3, 1], [5, 5, 5, 5], PadMode::Reflect, 0, &mut y);
        pad(&[], [0, 0, 0], [0; 4], PadMode::Edge, 0i8, &mut []);
    }
}
