//! AVX2 int8 dense layer on BLOCKED weights (`vpmaddwd`, exact; see `avx2_conv2d_i8`).
//!
//! Per group of 4 inputs (widened to i16 and repeated across the register), each 64-byte
//! weight row (16 outputs x 4 inputs) is widened in four quarters and multiplied;
//! `acc = bias - zx * Σw + Σ x * w` is the reference's accumulator mod 2^32, and the
//! weight sums come from the same pass (widened weights against ones).

// Register tiles are indexed by block and pixel on purpose (fixed-size arrays LLVM keeps in
// registers); iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use core::arch::x86_64::*;

use super::common::{dense_shape, lanes};
use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::{scalar_dense_i8, DenseI8};

/// int8 dense, AVX2. Falls back to the scalar reference for other packings.
pub(super) fn avx2_dense_i8(a: &DenseI8<'_>, n0: usize, y: &mut [i8]) {
    match dense_shape(a.packing, true, a.x.len(), a.w.len(), &[a.bias.len(), a.mult.len()], n0, y.len()) {
        // SAFETY: reachable only through kernel sets handed out after checking the CPU has
        // AVX2; `dense_shape` checked the slices cover every access.
        Some(b) => unsafe { dense(a, &b, n0, y) },
        None => scalar_dense_i8(a, n0, y),
    }
}

/// # Safety
/// The CPU has AVX2, and `b` is `dense_shape`'s result for these arguments.
#[target_feature(enable = "avx2,fma")]
unsafe fn dense(a: &DenseI8<'_>, b: &Blocked, n0: usize, y: &mut [i8]) {
    let k = a.x.len();
    let ng = b.ic_groups();
    let full = k / 4;
    let mut last = [0i8; 4];
    last[..k - full * 4].copy_from_slice(&a.x[full * 4..]);
    let xs = a.x.as_ptr();
    let group = |j: usize| -> i32 {
        if j < full {
            // SAFETY: group j < k / 4 lies inside `x`.
            unsafe { (xs.add(4 * j) as *const i32).read_unaligned() }
        } else {
            i32::from_le_bytes(last.map(|v| v as u8))
        }
    };
    let ones = _mm256_set1_epi16(1);
    let zx = _mm256_set1_epi32(a.zx);
    let lo = _mm256_set1_ps((a.q.lo - a.q.zy) as f32);
    let hi = _mm256_set1_ps((a.q.hi - a.q.zy) as f32);
    let zy = _mm256_set1_epi32(a.q.zy);
    let n_end = n0 + y.len();
    let mut blk = n0 / OC_BLOCK;
    while blk * OC_BLOCK < n_end {
        // Quarter q of the row holds outputs 4q..4q+4, each lane one of two half-sums.
        let mut acc = [_mm256_setzero_si256(); 4];
        let mut ws = [_mm256_setzero_si256(); 4];
        let w0 = a.w.as_ptr().add(blk * b.block_len());
        for j in 0..ng {
            let xb = _mm256_cvtepi8_epi16(_mm_set1_epi32(group(j)));
            for qd in 0..4 {
                let wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(w0.add(j * 64 + qd * 16) as *const _));
                acc[qd] = _mm256_add_epi32(acc[qd], _mm256_madd_epi16(xb, wv));
                ws[qd] = _mm256_add_epi32(ws[qd], _mm256_madd_epi16(ones, wv));
            }
        }
        let c0 = blk * OC_BLOCK;
        let valid = n_end - c0;
        let bias = lanes(a.bias, c0, valid);
        let mult = lanes(a.mult, c0, valid);
        let mut out = [0i8; 16];
        for h in 0..2 {
            let s = order(acc[2 * h], acc[2 * h + 1]);
            let w = order(ws[2 * h], ws[2 * h + 1]);
            let bv = _mm256_loadu_si256(bias[h * 8..].as_ptr() as *const _);
            let s = _mm256_sub_epi32(_mm256_add_epi32(bv, s), _mm256_mullo_epi32(zx, w));
            let v = _mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_loadu_ps(mult[h * 8..].as_ptr()));
            let v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
            let r = _mm256_add_epi32(_mm256_cvtps_epi32(v), zy);
            let r16 = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
            _mm_storel_epi64(out[h * 8..].as_mut_ptr() as *mut _, _mm_packs_epi16(r16, r16));
        }
        let n = valid.min(OC_BLOCK);
        y[c0 - n0..c0 - n0 + n].copy_from_slice(&out[..n]);
        blk += 1;
    }
}

/// Two quarters of (channel, half-sum) lanes -> 8 channel sums in order.
#[inline]
#[target_feature(enable = "avx2")]
fn order(v: __m256i, u: __m256i) -> __m256i {
    _mm256_permute4x64_epi64(_mm256_hadd_epi32(v, u), 0b11_01_10_00)
}
