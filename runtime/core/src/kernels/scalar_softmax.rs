//! Softmax and log-softmax ([`crate::OpKind::Softmax`], [`crate::OpKind::SoftmaxAxes`]) over
//! groups of `n` elements `inner` apart (the channels of a pixel: `inner = 1`; a column of
//! an NHWC map: `n = H`, `inner = W * C`). One loop for f32 and int8; int8 subtracts the
//! group's maximum in the integers (which cancels the input zero point), computes in f32 and
//! quantizes with the output's parameters (softmax: scale 1/256, zero point -128 by the
//! compiler's convention; log-softmax: calibrated). No kernel set overrides it.

use super::quantize_f32;
use crate::ops::SoftmaxAxes;

/// f32 softmax of NHWC tensor `x` of `dims` over `axes` (max-subtracted, libm's `expf`/`logf`).
pub fn softmax_f32(x: &[f32], dims: [usize; 4], axes: SoftmaxAxes, y: &mut [f32]) {
    softmax(x, axes.groups(dims), axes.log, f32::NEG_INFINITY, f32::max, |v, m| v - m, |v| v, y);
}

/// int8 softmax of `x` (scale `sx`) of `dims` over `axes`, quantized to `(sy, zy)`.
#[allow(clippy::too_many_arguments)]
pub fn softmax_i8(x: &[i8], dims: [usize; 4], axes: SoftmaxAxes, sx: f32, sy: f32, zy: i32, y: &mut [i8]) {
    let centered = |v: i8, m: i8| (v as i32 - m as i32) as f32 * sx;
    softmax(x, axes.groups(dims), axes.log, i8::MIN, Ord::max, centered, |v| quantize_f32(v, sy, zy), y);
}

/// Each group: `d = centered(x, max)`, then `e^d / sum(e^d)` or `d - ln(sum(e^d))`, written
/// through `store`.
#[allow(clippy::too_many_arguments)]
fn softmax<T: Copy>(
    x: &[T],
    (n, inner): (usize, usize),
    log: bool,
    lowest: T,
    max: impl Fn(T, T) -> T,
    centered: impl Fn(T, T) -> f32,
    store: impl Fn(f32) -> T,
    y: &mut [T],
) {
    let block = n * inner;
    if block == 0 {
        return;
    }
    for (xb, yb) in x.chunks_exact(block).zip(y.chunks_exact_mut(block)) {
        for i in 0..inner {
            let m = xb[i..].iter().step_by(inner).fold(lowest, |a, &v| max(a, v));
            let sum: f32 = xb[i..].iter().step_by(inner).map(|&v| libm::expf(centered(v, m))).sum();
            let ln_sum = if log { libm::logf(sum) } else { 0.0 };
            for (o, &v) in yb[i..].iter_mut().step_by(inner).zip(xb[i..].iter().step_by(inner)) {
                let d = centered(v, m);
                *o = store(if log { d - ln_sum } else { libm::expf(d) / sum });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The softmax of `v` in f64.
    fn reference(v: &[f32], log: bool) -> Vec<f32> {
        let m = v.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let s: f64 = v.iter().map(|&x| (x as f64 - m).exp()).sum();
        v.iter().map(|&x| if log { (x as f64 - m - s.ln()) as f32 } else { ((x as f64 - m).exp() / s) as f32 }).collect()
    }

    #[test]
    fn every_run_of_axes_normalizes_its_groups() {
        let dims = [1, 3, 4, 5];
        let x: Vec<f32> = (0..60).map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.3).collect();
        for log in [false, true] {
            for (first, last) in [(1, 1), (2, 2), (3, 3), (1, 2), (2, 3), (1, 3)] {
                let axes = SoftmaxAxes { first, last, log };
                let mut y = vec![0f32; 60];
                softmax_f32(&x, dims, axes, &mut y);
                // Every group: the indices that differ only in first..=last.
                let mut seen = vec![false; 60];
                for start in 0..60 {
                    if seen[start] {
                        continue;
                    }
                    let (h0, w0, c0) = (start / 20, start / 5 % 4, start % 5);
                    let group: Vec<usize> = (0..60)
                        .filter(|&j| {
                            let (h, w, c) = (j / 20, j / 5 % 4, j % 5);
                            (first <= 1 || h == h0) && (first <= 2 && last >= 2 || w == w0) && (last >= 3 || c == c0)
                        })
                        .collect();
                    assert_eq!(group.len(), axes.groups(dims).0, "{axes:?}");
                    let want = reference(&group.iter().map(|&j| x[j]).collect::<Vec<_>>(), log);
                    for (&j, w) in group.iter().zip(want) {
                        assert!((y[j] - w).abs() <= 1e-6, "{axes:?} element {j}: {} vs {w}", y[j]);
                        seen[j] = true;
                    }
                }
            }
        }
    }

    #[test]
    fn int8_is_the_f32_math_on_max_subtracted_integers() {
        let dims = [1, 2, 3, 2];
        let x: [i8; 12] = [-128, 127, 5, -7, 0, 64, 90, -90, 3, 3, 100, -1];
        let (sx, sy, zy) = (0.07, 0.05, 60);
        for axes in [SoftmaxAxes { first: 1, last: 2, log: true }, SoftmaxAxes { first: 2, last: 2, log: false }] {
            let (sy, zy) = if axes.log { (sy, zy) } else { (1.0 / 256.0, -128) };
            let mut y = [0i8; 12];
            softmax_i8(&x, dims, axes, sx, sy, zy, &mut y);
            // Dequantizing with zero point 0 gives the same differences from the maximum.
            let xf: Vec<f32> = x.iter().map(|&v| v as f32 * sx).collect();
            let mut yf = [0f32; 12];
            softmax_f32(&xf, dims, axes, &mut yf);
            for (a, b) in y.iter().zip(yf) {
                assert!((*a as i32 - quantize_f32(b, sy, zy) as i32).abs() <= 1, "{axes:?}: {y:?} vs {yf:?}");
            }
        }
    }

    #[test]
    fn aux_round_trips_and_refuses_bad_axes() {
        for (first, last) in [(1, 1), (1, 3), (2, 3), (3, 3)] {
            for log in [false, true] {
                let a = SoftmaxAxes { first, last, log };
                assert_eq!(SoftmaxAxes::decode(a.encode()), Some(a));
            }
        }
        for aux in [0, 0x11 | 2 << 8, 0x12, 0x04 | 4 << 4, 0x33 | 1 << 12, 0x40 | 3] {
            assert_eq!(SoftmaxAxes::decode(aux), None, "{aux:#x}");
        }
    }
}
