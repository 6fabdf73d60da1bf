//! AVX2 f32 dense layer on BLOCKED weights (`[n/16][k][16]`): each input broadcast against
//! 16 outputs' weights (two ymm), two blocks per pass (four FMA chains).

// Register tiles are indexed by block and pixel on purpose (fixed-size arrays LLVM keeps in
// registers); iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use core::arch::x86_64::*;

use super::avx2_conv2d_f32::{store_first, Act256};
use super::common::{dense_shape, lanes};
use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::{scalar_dense_f32, DenseF32};

const M: usize = 2;

/// f32 dense, AVX2 + FMA. Falls back to the scalar reference for other packings.
pub(super) fn avx2_dense_f32(a: &DenseF32<'_>, n0: usize, y: &mut [f32]) {
    match dense_shape(a.packing, false, a.x.len(), a.w.len(), &[a.bias.len()], n0, y.len()) {
        // SAFETY: reachable only through kernel sets handed out after checking the CPU has
        // AVX2 and FMA; `dense_shape` checked the slices cover every access.
        Some(b) => unsafe { dense(a, &b, n0, y) },
        None => scalar_dense_f32(a, n0, y),
    }
}

/// # Safety
/// The CPU has AVX2 and FMA, and `b` is `dense_shape`'s result for these arguments.
#[target_feature(enable = "avx2,fma")]
unsafe fn dense(a: &DenseF32<'_>, b: &Blocked, n0: usize, y: &mut [f32]) {
    let act = Act256::new(a.act);
    let n_end = n0 + y.len();
    let mut blk = n0 / OC_BLOCK;
    while blk * OC_BLOCK < n_end {
        let mm = (n_end - blk * OC_BLOCK).div_ceil(OC_BLOCK).min(M);
        let mut acc = [[_mm256_setzero_ps(); 2]; M];
        for (m, v) in acc.iter_mut().enumerate().take(mm) {
            let c0 = (blk + m) * OC_BLOCK;
            let bias = lanes(a.bias, c0, n_end - c0);
            *v = [_mm256_loadu_ps(bias.as_ptr()), _mm256_loadu_ps(bias[8..].as_ptr())];
        }
        let w0 = a.w.as_ptr().add(blk * b.block_len());
        for (j, xv) in a.x.iter().enumerate() {
            let xb = _mm256_set1_ps(*xv);
            for m in 0..mm {
                let wp = w0.add(m * b.block_len() + j * OC_BLOCK);
                acc[m][0] = _mm256_fmadd_ps(xb, _mm256_loadu_ps(wp), acc[m][0]);
                acc[m][1] = _mm256_fmadd_ps(xb, _mm256_loadu_ps(wp.add(8)), acc[m][1]);
            }
        }
        for (m, v) in acc.iter().enumerate().take(mm) {
            let c0 = (blk + m) * OC_BLOCK;
            let valid = n_end - c0;
            let yp = y.as_mut_ptr().add(c0 - n0);
            store_first(yp, act.apply(v[0]), valid);
            store_first(yp.add(8), act.apply(v[1]), valid.saturating_sub(8));
        }
        blk += mm;
    }
}
