//! Element-wise multiply of two activations, the scalar reference. The second input `b`
//! has the first's length or is one value per channel (`[1, 1, 1, C]` against an NHWC
//! `[1, H, W, C]`: the squeeze-and-excitation scale), so `a` is read in runs of `b.len()`.
//!
//! # The int8 multiply rule
//! `y = clamp(round_half_even(f32((a - za) * (b - zb)) * M), lo - zy, hi - zy) + zy` with
//! `M = (s_a * s_b) / s_y` computed in f32 by the compiler: [`requantize`] with the
//! product of the two zero-point-free inputs as its accumulator. The product is exact
//! (|p| <= 255², exact in i32 and in f32), so the only rounding is the f32 multiply by `M`
//! and the final round half to even, the same two steps as the conv rule.

use super::{requantize, MulI8};

/// One output of the int8 multiply rule.
#[inline(always)]
pub(crate) fn mul_i8_one(a: i8, b: i8, m: &MulI8<'_>) -> i8 {
    requantize((a as i32 - m.za) * (b as i32 - m.zb), m.mult, m.q)
}

/// int8 multiply, scalar reference: `y[i] = rule(a[i], b[i % b.len()])` for `i < y.len()`.
pub fn scalar_mul_i8(m: &MulI8<'_>, y: &mut [i8]) {
    if m.b.is_empty() {
        return;
    }
    for (yr, ar) in y.chunks_mut(m.b.len()).zip(m.a.chunks(m.b.len())) {
        for ((o, &p), &q) in yr.iter_mut().zip(ar).zip(m.b) {
            *o = mul_i8_one(p, q, m);
        }
    }
}

/// f32 multiply, scalar reference: `y[i] = a[i] * b[i % b.len()]`.
pub fn scalar_mul_f32(a: &[f32], b: &[f32], y: &mut [f32]) {
    if b.is_empty() {
        return;
    }
    for (yr, ar) in y.chunks_mut(b.len()).zip(a.chunks(b.len())) {
        for ((o, &p), &q) in yr.iter_mut().zip(ar).zip(b) {
            *o = p * q;
        }
    }
}
