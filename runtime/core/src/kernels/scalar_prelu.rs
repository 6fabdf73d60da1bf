//! PRelu with one slope per channel (NHWC, so the channel is the index modulo `C`).
//!
//! # The int8 PRelu rule
//! With `d = x - zx`: `y = clamp(round_half_even(f32(d) * M), -128 - zy, 127 - zy) + zy`
//! where `M = mult[0] = s_x / s_y` for `d >= 0` and `M = mult[1 + c] = s_x * slope[c] / s_y`
//! for `d < 0`, both computed in f32 by the compiler: [`requantize`] with `d` as the
//! accumulator and the multiplier chosen by its sign.

use super::{requantize, QOut};

/// int8 PRelu over `c` channels: `mult` has `c + 1` entries (see the module docs).
pub fn prelu_i8(x: &[i8], zx: i32, mult: &[f32], zy: i32, y: &mut [i8]) {
    let Some((&pos, neg)) = mult.split_first() else { return };
    if neg.is_empty() {
        return;
    }
    let q = QOut { zy, lo: -128, hi: 127 };
    for (yr, xr) in y.chunks_mut(neg.len()).zip(x.chunks(neg.len())) {
        for ((o, &v), &mn) in yr.iter_mut().zip(xr).zip(neg) {
            let d = v as i32 - zx;
            *o = requantize(d, if d >= 0 { pos } else { mn }, q);
        }
    }
}

/// f32 PRelu: `y = x` where `x >= 0`, else `slope[c] * x`.
pub fn prelu_f32(x: &[f32], slope: &[f32], y: &mut [f32]) {
    if slope.is_empty() {
        return;
    }
    for (yr, xr) in y.chunks_mut(slope.len()).zip(x.chunks(slope.len())) {
        for ((o, &v), &s) in yr.iter_mut().zip(xr).zip(slope) {
            *o = if v >= 0.0 { v } else { v * s };
        }
    }
}
