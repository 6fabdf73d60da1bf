//! int8 element-wise multiply, AVX2: 8 outputs at a time in i32 and f32 lanes.
//! Bit-exact with [`scalar_mul_i8`]: the zero-point-free product is exact in i32 and in
//! f32 (|p| <= 255²), `vmulps` is the IEEE f32 multiply, the clamp happens before rounding
//! as in `requantize`, and `vcvtps2dq` rounds half to even (default MXCSR), which equals
//! the reference's rounding for the clamped |v| < 2^22. Runs shorter than 8 (a per-channel
//! `b` of fewer than 8 channels, and every run's tail) use the reference.

use core::arch::x86_64::*;

use crate::kernels::{scalar_mul_i8, MulI8};

/// int8 multiply, AVX2 set.
pub(super) fn avx2_mul_i8(m: &MulI8<'_>, y: &mut [i8]) {
    // SAFETY: reachable only through kernel sets handed out after checking the CPU has
    // AVX2 (`x86::avx2`, `x86::avx512vnni`).
    unsafe { mul(m, y) }
}

#[target_feature(enable = "avx2")]
fn mul(m: &MulI8<'_>, y: &mut [i8]) {
    let run = m.b.len();
    if run == 0 {
        return;
    }
    for (yr, ar) in y.chunks_mut(run).zip(m.a.chunks(run)) {
        let n = yr.len().min(ar.len());
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: `i + 8 <= n <= ar.len(), m.b.len(), yr.len()`.
            let (pa, pb, po) = unsafe { (ar.as_ptr().add(i), m.b.as_ptr().add(i), yr.as_mut_ptr().add(i)) };
            // SAFETY: 8 readable bytes at `pa` (bound above); unaligned loads are allowed.
            let va = unsafe { _mm_loadl_epi64(pa as *const __m128i) };
            // SAFETY: 8 readable bytes at `pb` (bound above).
            let vb = unsafe { _mm_loadl_epi64(pb as *const __m128i) };
            let r = lanes(va, vb, m);
            // SAFETY: 8 writable bytes at `po` (bound above); unaligned stores are allowed.
            unsafe { _mm_storel_epi64(po as *mut __m128i, r) };
            i += 8;
        }
        let tail = MulI8 { a: &ar[i..n], b: &m.b[i..n], ..*m };
        scalar_mul_i8(&tail, &mut yr[i..n]);
    }
}

/// The rule on the low 8 bytes of `va` and `vb`; the 8 outputs in the low 8 bytes.
#[target_feature(enable = "avx2")]
fn lanes(va: __m128i, vb: __m128i, m: &MulI8<'_>) -> __m128i {
    let a = _mm256_sub_epi32(_mm256_cvtepi8_epi32(va), _mm256_set1_epi32(m.za));
    let b = _mm256_sub_epi32(_mm256_cvtepi8_epi32(vb), _mm256_set1_epi32(m.zb));
    let v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_mullo_epi32(a, b)), _mm256_set1_ps(m.mult));
    let v = _mm256_max_ps(v, _mm256_set1_ps((m.q.lo - m.q.zy) as f32));
    let v = _mm256_min_ps(v, _mm256_set1_ps((m.q.hi - m.q.zy) as f32));
    let r = _mm256_add_epi32(_mm256_cvtps_epi32(v), _mm256_set1_epi32(m.q.zy));
    let r16 = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256::<1>(r));
    _mm_packs_epi16(r16, r16)
}
