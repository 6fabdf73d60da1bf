//! Scalar elementwise kernels: add, concat, lookup table. These are memory-bound
//! and stay scalar on every target.

use super::round_half_even;
use crate::ops::Activation;

/// int8 add: `y = clamp(round_half_even((a - za) * ra + (b - zb) * rb) + zy)` with
/// `ra = sa / sy`, `rb = sb / sy`; `lo..=hi` narrowed by a fused ReLU/Clip. `b` has `a`'s
/// length or is one value per channel (`[1, 1, 1, C]`), read again for every run of `a`.
#[allow(clippy::too_many_arguments)]
pub fn add_i8(a: &[i8], za: i32, ra: f32, b: &[i8], zb: i32, rb: f32, zy: i32, lo: i32, hi: i32, y: &mut [i8]) {
    if b.is_empty() {
        return;
    }
    for (yr, ar) in y.chunks_mut(b.len()).zip(a.chunks(b.len())) {
        for ((o, &p), &q) in yr.iter_mut().zip(ar).zip(b) {
            let v = (p as i32 - za) as f32 * ra + (q as i32 - zb) as f32 * rb;
            let v = v.max((lo - zy) as f32).min((hi - zy) as f32);
            *o = (round_half_even(v) as i32 + zy) as i8;
        }
    }
}

/// f32 add with fused activation (`b` broadcast as in [`add_i8`]).
pub fn add_f32(a: &[f32], b: &[f32], act: Activation, y: &mut [f32]) {
    if b.is_empty() {
        return;
    }
    for (yr, ar) in y.chunks_mut(b.len()).zip(a.chunks(b.len())) {
        for ((o, &p), &q) in yr.iter_mut().zip(ar).zip(b) {
            *o = act.apply(p + q);
        }
    }
}

/// Copy an int8 NHWC tensor of `cx` channels into channels `c0..c0+cx` of `y` (`cy`
/// channels), requantizing with ratio `r = sx / sy` unless the quantization is equal.
#[allow(clippy::too_many_arguments)]
pub fn concat_part_i8(x: &[i8], cx: usize, zx: i32, r: f32, y: &mut [i8], cy: usize, c0: usize, zy: i32) {
    let same = zx == zy && r == 1.0;
    for (xp, yp) in x.chunks_exact(cx).zip(y.chunks_exact_mut(cy)) {
        let dst = &mut yp[c0..c0 + cx];
        if same {
            dst.copy_from_slice(xp);
        } else {
            for (o, &v) in dst.iter_mut().zip(xp) {
                let f = ((v as i32 - zx) as f32 * r).max((-128 - zy) as f32).min((127 - zy) as f32);
                *o = (round_half_even(f) as i32 + zy) as i8;
            }
        }
    }
}

/// f32 variant of [`concat_part_i8`].
pub fn concat_part_f32(x: &[f32], cx: usize, y: &mut [f32], cy: usize, c0: usize) {
    for (xp, yp) in x.chunks_exact(cx).zip(y.chunks_exact_mut(cy)) {
        yp[c0..c0 + cx].copy_from_slice(xp);
    }
}

/// int8 lookup table: `y = lut[x + 128]`.
pub fn lut_i8(x: &[i8], lut: &[u8], y: &mut [i8]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = lut[(v as i32 + 128) as usize] as i8;
    }
}
