//! int8 dense layer on BLOCKED weights with the Armv7E-M DSP instructions (see
//! `quad.rs`): each block of 16 outputs is read 4 outputs (one 16-byte column of the
//! 64-byte rows) at a time against the whole input vector; `Σ (x - zx) * w + bias` is the
//! reference's accumulator mod 2^32, so [`requantize`] makes the output bit-exact.

use super::common::dense_shape;
use super::instr::halves;
use super::quad::quad;
use crate::format::packing::OC_BLOCK;
use crate::kernels::{requantize, scalar_dense_i8, DenseI8};

/// int8 dense, Armv7E-M DSP. Falls back to the scalar reference for other packings and
/// for arguments `dense_shape` refuses.
pub(super) fn dsp_dense_i8(a: &DenseI8<'_>, n0: usize, y: &mut [i8]) {
    let k = a.x.len();
    let Some(b) = dense_shape(a.packing, a.zx, k, a.w.len(), &[a.bias.len(), a.mult.len()], n0, y.len()) else {
        return scalar_dense_i8(a, n0, y);
    };
    let nzx = halves(-a.zx, -a.zx);
    for (i, ys) in y.chunks_mut(OC_BLOCK).enumerate() {
        let c0 = n0 + i * OC_BLOCK;
        let blk = (c0 / OC_BLOCK) * b.block_len();
        for (qd, yq) in ys.chunks_mut(4).enumerate() {
            let mut acc = [0i32; 4];
            for (l, v) in acc.iter_mut().enumerate().take(yq.len()) {
                *v = a.bias[c0 + 4 * qd + l];
            }
            // SAFETY: `dense_shape` checked that `w` holds every block up to output
            // n0 + y.len(), each `ic_groups` rows of 64 bytes, so column qd < 4 of block
            // c0 / 16 has 16 readable bytes per row; `x` is `k` bytes long.
            unsafe { quad(a.x.as_ptr(), k, nzx, a.w.as_ptr().add(blk + 16 * qd), &mut acc) };
            for (l, v) in yq.iter_mut().enumerate() {
                let n = c0 + 4 * qd + l;
                *v = requantize(acc[l], a.mult[n], a.q);
            }
        }
    }
}
