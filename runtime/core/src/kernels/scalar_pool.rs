//! Scalar reference pooling. int8 pools keep the input's quantization (the compiler gives
//! the output the input's scale and zero point), so they work on the raw int8 values.

use super::Geom;

/// Visit the valid window positions of output pixel (oy, ox): `f(input_pixel_offset)`.
/// Returns the number of valid positions and the full window size (for count_include_pad).
#[inline(always)]
fn window(g: &Geom, oy: usize, ox: usize, mut f: impl FnMut(usize)) -> (usize, usize) {
    let mut valid = 0;
    let mut total = 0;
    for ky in 0..g.kh {
        let iy = (oy * g.sh + ky * g.dh) as isize - g.pt as isize;
        for kx in 0..g.kw {
            let ix = (ox * g.sw + kx * g.dw) as isize - g.pl as isize;
            // ONNX counts padded positions, but not positions beyond the padding, when
            // count_include_pad is set; the validator keeps pads below the kernel size.
            total += 1;
            if iy < 0 || iy >= g.ih as isize || ix < 0 || ix >= g.iw as isize {
                continue;
            }
            valid += 1;
            f((iy as usize * g.iw + ix as usize) * g.ic);
        }
    }
    (valid, total)
}

/// int8 max pool. Writes output rows `oy0..` into `y` (whole rows).
pub fn scalar_maxpool_i8(g: &Geom, x: &[i8], oy0: usize, y: &mut [i8]) {
    let rows = y.len() / (g.ow * g.ic).max(1);
    for oy in oy0..oy0 + rows {
        for ox in 0..g.ow {
            let yrow = &mut y[((oy - oy0) * g.ow + ox) * g.ic..][..g.ic];
            yrow.fill(i8::MIN);
            window(g, oy, ox, |xo| {
                for (o, &v) in yrow.iter_mut().zip(&x[xo..xo + g.ic]) {
                    *o = (*o).max(v);
                }
            });
        }
    }
}

/// f32 max pool. Writes output rows `oy0..` into `y` (whole rows).
pub fn scalar_maxpool_f32(g: &Geom, x: &[f32], oy0: usize, y: &mut [f32]) {
    let rows = y.len() / (g.ow * g.ic).max(1);
    for oy in oy0..oy0 + rows {
        for ox in 0..g.ow {
            let yrow = &mut y[((oy - oy0) * g.ow + ox) * g.ic..][..g.ic];
            yrow.fill(f32::NEG_INFINITY);
            window(g, oy, ox, |xo| {
                for (o, &v) in yrow.iter_mut().zip(&x[xo..xo + g.ic]) {
                    *o = o.max(v);
                }
            });
        }
    }
}

/// int8 average pool: `round_half_even(sum / count)` in the input's quantization
/// (padded positions hold the zero point when `count_include_pad`), in exact integers.
/// Writes output rows `oy0..` into `y` (whole rows).
pub fn scalar_avgpool_i8(g: &Geom, count_include_pad: bool, zx: i32, x: &[i8], oy0: usize, y: &mut [i8]) {
    let rows = y.len() / (g.ow * g.ic).max(1);
    for oy in oy0..oy0 + rows {
        for ox in 0..g.ow {
            let yrow = &mut y[((oy - oy0) * g.ow + ox) * g.ic..][..g.ic];
            for (c, o) in yrow.iter_mut().enumerate() {
                let mut s = 0i64;
                let (valid, total) = window(g, oy, ox, |xo| s += x[xo + c] as i64);
                let cnt = if count_include_pad { total } else { valid }.max(1);
                s += (cnt - valid.min(cnt)) as i64 * zx as i64;
                *o = div_round_half_even(s, cnt as i64).clamp(-128, 127) as i8;
            }
        }
    }
}

/// `s / c` rounded half to even (c > 0).
fn div_round_half_even(s: i64, c: i64) -> i64 {
    let (q, r) = (s.div_euclid(c), s.rem_euclid(c));
    match (2 * r).cmp(&c) {
        core::cmp::Ordering::Greater => q + 1,
        core::cmp::Ordering::Equal => q + (q & 1),
        core::cmp::Ordering::Less => q,
    }
}

/// f32 average pool. Writes output rows `oy0..` into `y` (whole rows). (Inlined into the
/// SIMD sets' own target-feature functions, which vectorize its channel loops.)
#[inline]
pub fn scalar_avgpool_f32(g: &Geom, count_include_pad: bool, x: &[f32], oy0: usize, y: &mut [f32]) {
    let rows = y.len() / (g.ow * g.ic).max(1);
    for oy in oy0..oy0 + rows {
        for ox in 0..g.ow {
            let yrow = &mut y[((oy - oy0) * g.ow + ox) * g.ic..][..g.ic];
            yrow.fill(0.0);
            let (valid, total) = window(g, oy, ox, |xo| {
                for (o, &v) in yrow.iter_mut().zip(&x[xo..xo + g.ic]) {
                    *o += v;
                }
            });
            let cnt = if count_include_pad { total } else { valid }.max(1) as f32;
            for o in yrow.iter_mut() {
                *o /= cnt;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn integer_rounding() {
        use super::div_round_half_even as d;
        assert_eq!((d(5, 2), d(7, 2), d(-5, 2), d(-7, 2), d(7, 3), d(-7, 3)), (2, 4, -2, -4, 2, -2));
    }
}
