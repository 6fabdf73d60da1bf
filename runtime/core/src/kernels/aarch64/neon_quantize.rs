//! NEON input quantization: `clamp(round_half_even(x / s)) + zp`, 8 floats at a time.
//! Bit-exact with `kernels::quantize_f32`: `fdiv` is IEEE division, `fmaxnm(v, lo)` returns
//! `lo` for NaN as `f32::max` does, and `fcvtns` rounds half to even.

use core::arch::aarch64::*;

use crate::kernels::scalar_quantize;

/// Quantize `x` into `y` (the shorter length), NEON.
pub(super) fn neon_quantize(x: &[f32], scale: f32, zp: i32, y: &mut [i8]) {
    // SAFETY: NEON is baseline on the targets that build this set; `quantize` reads and
    // writes within the slices.
    unsafe { quantize(x, scale, zp, y) }
}

/// # Safety
/// The CPU has NEON.
#[target_feature(enable = "neon")]
unsafe fn quantize(x: &[f32], scale: f32, zp: i32, y: &mut [i8]) {
    let n = x.len().min(y.len());
    let s = vdupq_n_f32(scale);
    let lo = vdupq_n_f32((-128 - zp) as f32);
    let hi = vdupq_n_f32((127 - zp) as f32);
    let z = vdupq_n_s32(zp);
    let mut i = 0;
    while i + 8 <= n {
        let mut r = [vdupq_n_s32(0); 2];
        for (h, o) in r.iter_mut().enumerate() {
            // SAFETY: `i + 4h + 4 <= i + 8 <= n <= x.len()`: the 4 floats are inside `x`.
            let v = vdivq_f32(unsafe { vld1q_f32(x.as_ptr().add(i + 4 * h)) }, s);
            *o = vaddq_s32(vcvtnq_s32_f32(vminnmq_f32(vmaxnmq_f32(v, lo), hi)), z);
        }
        // SAFETY: `i + 8 <= n <= y.len()`: the 8 bytes are inside `y`.
        unsafe {
            vst1_s8(
                y.as_mut_ptr().add(i),
                vqmovn_s16(vcombine_s16(vqmovn_s32(r[0]), vqmovn_s32(r[1]))),
            )
        };
        i += 8;
    }
    scalar_quantize(&x[i..n], scale, zp, &mut y[i..n]);
}
