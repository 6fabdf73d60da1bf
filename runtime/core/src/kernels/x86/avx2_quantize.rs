//! AVX2 input quantization: `clamp(round_half_even(x / s)) + zp`, 8 floats at a time.
//! Bit-exact with `kernels::quantize_f32`: `vdivps` is IEEE division, `vmaxps(v, lo)` returns
//! `lo` for NaN as `f32::max` does, and `vcvtps2dq` rounds half to even (default MXCSR).

use core::arch::x86_64::*;

use crate::kernels::scalar_quantize;

/// Quantize `x` into `y` (the shorter length), AVX2.
pub(super) fn avx2_quantize(x: &[f32], scale: f32, zp: i32, y: &mut [i8]) {
    // SAFETY: reachable only through kernel sets handed out after checking the CPU has
    // AVX2; `quantize` reads and writes within the slices.
    unsafe { quantize(x, scale, zp, y) }
}

/// # Safety
/// The CPU has AVX2.
#[target_feature(enable = "avx2")]
unsafe fn quantize(x: &[f32], scale: f32, zp: i32, y: &mut [i8]) {
    let n = x.len().min(y.len());
    let s = _mm256_set1_ps(scale);
    let lo = _mm256_set1_ps((-128 - zp) as f32);
    let hi = _mm256_set1_ps((127 - zp) as f32);
    let z = _mm256_set1_epi32(zp);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n <= x.len()`: the 8 floats are inside `x`.
        let v = _mm256_div_ps(unsafe { _mm256_loadu_ps(x.as_ptr().add(i)) }, s);
        let v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
        let r = _mm256_add_epi32(_mm256_cvtps_epi32(v), z);
        let r16 = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        // SAFETY: `i + 8 <= n <= y.len()`: the 8 bytes are inside `y`.
        unsafe { _mm_storel_epi64(y.as_mut_ptr().add(i) as *mut _, _mm_packs_epi16(r16, r16)) };
        i += 8;
    }
    scalar_quantize(&x[i..n], scale, zp, &mut y[i..n]);
}
