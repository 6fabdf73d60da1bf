//! NEON int8 dense layer on BLOCKED weights (`[n/16][k/4][16][4]`), and the driver the
//! `sdot` kernel shares ([`dense_blocked`], generic over the step [`DotI8`]).
//!
//! Per group of 4 inputs (broadcast), a 64-byte weight row (16 outputs x 4 inputs) is four
//! registers; the same step against all-ones bytes gives the weight sums, so
//! `acc = bias - zx * Σw + Σ x * w` (wrapping) is the reference's accumulator mod 2^32.
//! The last group of a `k` that isn't a multiple of 4 comes from a zero-padded copy (its
//! padding meets zero weights). Requantization: [`Requant`].

use core::arch::aarch64::*;

use super::common::{dense_shape, lanes, store_i8, Requant};
use super::neon_conv2d_i8::{DotI8, Smull};
use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::{scalar_dense_i8, DenseI8};

/// int8 dense, NEON. Falls back to the scalar reference for other packings.
pub(super) fn neon_dense_i8(a: &DenseI8<'_>, n0: usize, y: &mut [i8]) {
    match dense_shape(
        a.packing,
        true,
        a.x.len(),
        a.w.len(),
        &[a.bias.len(), a.mult.len()],
        n0,
        y.len(),
    ) {
        // SAFETY: NEON is baseline on the targets that build this set; `dense_shape`
        // checked the slices cover every access.
        Some(b) => unsafe { dense_blocked::<Smull>(a, &b, n0, y) },
        None => scalar_dense_i8(a, n0, y),
    }
}

/// The dense layer for BLOCKED weights with step `D`.
///
/// # Safety
/// The CPU has `D`'s instructions, and `b` is `dense_shape`'s result for these arguments.
#[target_feature(enable = "neon")]
pub(super) unsafe fn dense_blocked<D: DotI8>(
    a: &DenseI8<'_>,
    b: &Blocked,
    n0: usize,
    y: &mut [i8],
) {
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
    let ones = vdupq_n_s8(1);
    let zx = vdupq_n_s32(a.zx);
    let n_end = n0 + y.len();
    let mut blk = n0 / OC_BLOCK;
    while blk * OC_BLOCK < n_end {
        let (mut acc, mut ws) = (D::zero(), D::zero());
        let w0 = a.w.as_ptr().add(blk * b.block_len());
        for j in 0..ng {
            let wr = w0.add(j * 64);
            let w = [
                vld1q_s8(wr),
                vld1q_s8(wr.add(16)),
                vld1q_s8(wr.add(32)),
                vld1q_s8(wr.add(48)),
            ];
            D::step(&mut acc, &w, vreinterpretq_s8_s32(vdupq_n_s32(group(j))));
            D::step(&mut ws, &w, ones);
        }
        let c0 = blk * OC_BLOCK;
        let valid = (n_end - c0).min(OC_BLOCK);
        let rq = Requant::new(&lanes(a.bias, c0, valid), &lanes(a.mult, c0, valid), a.q);
        let (s, w) = (D::finish(acc), D::finish(ws));
        let s = [0, 1, 2, 3].map(|i| vmlsq_s32(s[i], zx, w[i]));
        store_i8(y.as_mut_ptr().add(c0 - n0), rq.apply(s), valid);
        blk += 1;
    }
}
