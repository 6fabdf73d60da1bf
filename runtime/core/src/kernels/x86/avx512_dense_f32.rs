//! AVX-512 f32 dense layer on BLOCKED weights (`[n/16][k][16]`): each input is broadcast
//! against 16 outputs' weights, `M` blocks per pass (independent FMA chains).

// Register tiles are indexed by block and pixel on purpose (fixed-size arrays LLVM keeps in
// registers); iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use core::arch::x86_64::*;

use super::avx512_conv2d_f32::Act512;
use super::common::{dense_shape, lane_mask, lanes};
use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::{scalar_dense_f32, DenseF32};

const M: usize = 4;

/// f32 dense, AVX-512. Falls back to the scalar reference for other packings.
pub(super) fn avx512_dense_f32(a: &DenseF32<'_>, n0: usize, y: &mut [f32]) {
    match dense_shape(a.packing, false, a.x.len(), a.w.len(), &[a.bias.len()], n0, y.len()) {
        // SAFETY: reachable only through the AVX512VNNI kernel set (CPU checked, includes
        // AVX-512 F); `dense_shape` checked the slices cover every access.
        Some(b) => unsafe { dense(a, &b, n0, y) },
        None => scalar_dense_f32(a, n0, y),
    }
}

/// # Safety
/// The CPU has AVX-512 F, and `b` is `dense_shape`'s result for these arguments.
#[target_feature(enable = "avx2,fma,avx512f")]
unsafe fn dense(a: &DenseF32<'_>, b: &Blocked, n0: usize, y: &mut [f32]) {
    let k = a.x.len();
    let act = Act512::new(a.act);
    let n_end = n0 + y.len();
    let mut blk = n0 / OC_BLOCK;
    while blk * OC_BLOCK < n_end {
        let mm = (n_end - blk * OC_BLOCK).div_ceil(OC_BLOCK).min(M);
        let mut acc = [_mm512_setzero_ps(); M];
        for (m, v) in acc.iter_mut().enumerate().take(mm) {
            let c0 = (blk + m) * OC_BLOCK;
            *v = _mm512_loadu_ps(lanes(a.bias, c0, n_end - c0).as_ptr());
        }
        let w0 = a.w.as_ptr().add(blk * b.block_len());
        for (j, &xv) in a.x.iter().enumerate().take(k) {
            let xb = _mm512_set1_ps(xv);
            for m in 0..mm {
                acc[m] = _mm512_fmadd_ps(xb, _mm512_loadu_ps(w0.add(m * b.block_len() + j * OC_BLOCK)), acc[m]);
            }
        }
        for (m, v) in acc.iter().enumerate().take(mm) {
            let c0 = (blk + m) * OC_BLOCK;
            _mm512_mask_storeu_ps(y.as_mut_ptr().add(c0 - n0), lane_mask(n_end - c0), act.apply(*v));
        }
        blk += mm;
    }
}
