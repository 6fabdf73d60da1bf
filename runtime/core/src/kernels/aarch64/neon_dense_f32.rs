//! NEON f32 dense layer on BLOCKED weights (`[n/16][k][16]`): each input broadcast against
//! 16 outputs' weights (four registers) with `fmla`, two blocks per pass (eight chains).

// Register tiles are indexed by block on purpose (fixed-size arrays LLVM keeps in
// registers); iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use core::arch::aarch64::*;

use super::common::{dense_shape, lanes};
use super::neon_conv2d_f32::{store_f32, ActNeon};
use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::{scalar_dense_f32, DenseF32};

const M: usize = 2;

/// f32 dense, NEON. Falls back to the scalar reference for other packings.
pub(super) fn neon_dense_f32(a: &DenseF32<'_>, n0: usize, y: &mut [f32]) {
    match dense_shape(
        a.packing,
        false,
        a.x.len(),
        a.w.len(),
        &[a.bias.len()],
        n0,
        y.len(),
    ) {
        // SAFETY: NEON is baseline on the targets that build this set; `dense_shape`
        // checked the slices cover every access.
        Some(b) => unsafe { dense(a, &b, n0, y) },
        None => scalar_dense_f32(a, n0, y),
    }
}

/// # Safety
/// `b` is `dense_shape`'s result for these arguments.
#[target_feature(enable = "neon")]
unsafe fn dense(a: &DenseF32<'_>, b: &Blocked, n0: usize, y: &mut [f32]) {
    let act = ActNeon::new(a.act);
    let n_end = n0 + y.len();
    let mut blk = n0 / OC_BLOCK;
    while blk * OC_BLOCK < n_end {
        let mm = (n_end - blk * OC_BLOCK).div_ceil(OC_BLOCK).min(M);
        let mut acc = [[vdupq_n_f32(0.0); 4]; M];
        for (m, v) in acc.iter_mut().enumerate().take(mm) {
            let c0 = (blk + m) * OC_BLOCK;
            let bias = lanes(a.bias, c0, n_end - c0);
            *v = [0, 1, 2, 3].map(|i| vld1q_f32(bias[4 * i..].as_ptr()));
        }
        let w0 = a.w.as_ptr().add(blk * b.block_len());
        for (j, xv) in a.x.iter().enumerate() {
            let xb = vdupq_n_f32(*xv);
            for m in 0..mm {
                let wp = w0.add(m * b.block_len() + j * OC_BLOCK);
                for r in 0..4 {
                    acc[m][r] = vfmaq_f32(acc[m][r], xb, vld1q_f32(wp.add(4 * r)));
                }
            }
        }
        for (m, v) in acc.iter().enumerate().take(mm) {
            let c0 = (blk + m) * OC_BLOCK;
            store_f32(
                y.as_mut_ptr().add(c0 - n0),
                v.map(|v| act.apply(v)),
                n_end - c0,
            );
        }
        blk += mm;
    }
}
