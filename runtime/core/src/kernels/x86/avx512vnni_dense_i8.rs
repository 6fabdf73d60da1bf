//! AVX-512 VNNI int8 dense layer on BLOCKED weights (`[n/16][k/4][16][4]`).
//!
//! Each group of 4 inputs is broadcast (sign bit flipped: `x + 128` as unsigned) against
//! one 64-byte row per block of 16 outputs; a second `vpdpbusd` against all-ones bytes
//! sums the weights in the same pass (dense weights are read once, so a separate pass
//! would double the memory traffic): `acc = bias - (128 + zx) * Σw + Σ (x + 128) * w`,
//! the reference's accumulator mod 2^32; requantization as in the conv kernel.

// Register tiles are indexed by block and pixel on purpose (fixed-size arrays LLVM keeps in
// registers); iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use core::arch::x86_64::*;

use super::common::{dense_shape, lane_mask, lanes};
use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::{scalar_dense_i8, DenseI8};

/// Blocks of 16 outputs per pass over the input.
const M: usize = 4;

/// int8 dense, AVX-512 VNNI. Falls back to the scalar reference for other packings.
pub(super) fn avx512vnni_dense_i8(a: &DenseI8<'_>, n0: usize, y: &mut [i8]) {
    match dense_shape(a.packing, true, a.x.len(), a.w.len(), &[a.bias.len(), a.mult.len()], n0, y.len()) {
        // SAFETY: reachable only through the AVX512VNNI kernel set (CPU checked by
        // `x86::avx512vnni()`); `dense_shape` checked the slices cover every access.
        Some(b) => unsafe { dense(a, &b, n0, y) },
        None => scalar_dense_i8(a, n0, y),
    }
}

/// # Safety
/// The CPU has AVX-512 F/BW/VL/VNNI, and `b` is `dense_shape`'s result for these arguments.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn dense(a: &DenseI8<'_>, b: &Blocked, n0: usize, y: &mut [i8]) {
    let k = a.x.len();
    let ng = b.ic_groups();
    // The inputs as groups of 4, the last one zero padded.
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
    let flip = _mm512_set1_epi32(0x8080_8080u32 as i32);
    let ones = _mm512_set1_epi8(1);
    let corr = _mm512_set1_epi32(128i32.wrapping_add(a.zx));
    let lo = _mm512_set1_ps((a.q.lo - a.q.zy) as f32);
    let hi = _mm512_set1_ps((a.q.hi - a.q.zy) as f32);
    let zy = _mm512_set1_epi32(a.q.zy);
    let n_end = n0 + y.len();
    let mut blk = n0 / OC_BLOCK;
    while blk * OC_BLOCK < n_end {
        let mm = (n_end - blk * OC_BLOCK).div_ceil(OC_BLOCK).min(M);
        let mut acc = [_mm512_setzero_si512(); M];
        let mut ws = [_mm512_setzero_si512(); M];
        let w0 = a.w.as_ptr().add(blk * b.block_len());
        for j in 0..ng {
            let xb = _mm512_xor_si512(_mm512_set1_epi32(group(j)), flip);
            for m in 0..mm {
                let wv = _mm512_loadu_si512(w0.add(m * b.block_len() + j * 64) as *const _);
                acc[m] = _mm512_dpbusd_epi32(acc[m], xb, wv);
                ws[m] = _mm512_dpbusd_epi32(ws[m], ones, wv);
            }
        }
        for m in 0..mm {
            let c0 = (blk + m) * OC_BLOCK;
            let valid = n_end - c0;
            let bias = _mm512_loadu_si512(lanes(a.bias, c0, valid).as_ptr() as *const _);
            let mult = _mm512_loadu_ps(lanes(a.mult, c0, valid).as_ptr());
            let s = _mm512_sub_epi32(_mm512_add_epi32(bias, acc[m]), _mm512_mullo_epi32(corr, ws[m]));
            let v = _mm512_mul_ps(_mm512_cvtepi32_ps(s), mult);
            let v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
            let r = _mm512_add_epi32(_mm512_cvtps_epi32(v), zy);
            _mm512_mask_cvtepi32_storeu_epi8(y.as_mut_ptr().add(c0 - n0) as *mut _, lane_mask(valid), r);
        }
        blk += mm;
    }
}
