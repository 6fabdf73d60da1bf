//! int8 convolution on BLOCKED weights with the Armv7E-M DSP instructions (`smlad`,
//! `sxtb16`, `sxtab16`; see `quad.rs`), for Cortex-M4/M7.
//!
//! For each block of 16 output channels, 4 channels at a time (one 16-byte column of the
//! weight rows), every output pixel walks its taps inside the input and adds
//! `(x - zx) * w` over the tap's packed groups; padded taps are skipped, which is the
//! reference's definition, so the int32 accumulator equals the reference's mod 2^32 and
//! [`requantize`] makes the output bit-exact. Any geometry works (strides, dilations,
//! padding, groups, depthwise); 1x1 and 3x3 take the same path, whose per-tap overhead is
//! small next to the packed-group loop.

use super::common::conv_shape;
use super::instr::halves;
use super::quad::quad;
use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::{requantize, scalar_conv2d_i8, ConvI8};

/// int8 convolution, Armv7E-M DSP. Falls back to the scalar reference for other packings
/// and for arguments `conv_shape` refuses.
pub(super) fn dsp_conv2d_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8], _scratch: &mut [u8]) {
    match conv_shape(&a.g, a.packing, a.zx, a.x.len(), a.w.len(), &[a.bias.len(), a.mult.len()], oy0, y.len()) {
        // SAFETY: `conv_shape` checked that the slices cover every read `conv` makes.
        Some(b) => unsafe { conv(a, &b, oy0, y) },
        None => scalar_conv2d_i8(a, oy0, y),
    }
}

/// # Safety
/// `b` is `conv_shape`'s result for these arguments.
unsafe fn conv(a: &ConvI8<'_>, b: &Blocked, oy0: usize, y: &mut [i8]) {
    let g = &a.g;
    let rows = y.len() / (g.ow * g.oc);
    let nzx = halves(-a.zx, -a.zx);
    let (ob_n, tap_len, block_len) = (b.oc_blocks(), b.tap_len(), b.block_len());
    for gi in 0..g.groups {
        for ob in 0..ob_n {
            let blk = (gi * ob_n + ob) * block_len;
            let c0 = gi * b.ocg + ob * OC_BLOCK;
            let valid = (b.ocg - ob * OC_BLOCK).min(OC_BLOCK);
            for qd in 0..valid.div_ceil(4) {
                let lanes = (valid - 4 * qd).min(4);
                let mut init = [0i32; 4];
                for (l, v) in init.iter_mut().enumerate().take(lanes) {
                    *v = a.bias[c0 + 4 * qd + l];
                }
                // SAFETY: block `blk` lies inside `w` (conv_shape checked its length); the
                // column offset 16 * qd < 64 stays in the block's first row.
                let wq = unsafe { a.w.as_ptr().add(blk + 16 * qd) };
                for oy in oy0..oy0 + rows {
                    for ox in 0..g.ow {
                        let mut acc = init;
                        for ky in 0..g.kh {
                            let iy = (oy * g.sh + ky * g.dh) as isize - g.pt as isize;
                            if iy < 0 || iy >= g.ih as isize {
                                continue;
                            }
                            for kx in 0..g.kw {
                                let ix = (ox * g.sw + kx * g.dw) as isize - g.pl as isize;
                                if ix < 0 || ix >= g.iw as isize {
                                    continue;
                                }
                                let xo = (iy as usize * g.iw + ix as usize) * g.ic + gi * b.icg;
                                // SAFETY: pixel (iy, ix) is inside the input, so its group's
                                // `icg` channels at `xo` are inside `x`; tap ky*kw+kx of the
                                // block has `ic_groups` rows of 64 bytes, 16 of them from
                                // column `qd` (conv_shape checked `w` covers every block).
                                unsafe {
                                    let wt = wq.add((ky * g.kw + kx) * tap_len);
                                    quad(a.x.as_ptr().add(xo), b.icg, nzx, wt, &mut acc);
                                }
                            }
                        }
                        let yp = ((oy - oy0) * g.ow + ox) * g.oc + c0 + 4 * qd;
                        for l in 0..lanes {
                            let oc = c0 + 4 * qd + l;
                            y[yp + l] = requantize(acc[l], a.mult[oc], a.q);
                        }
                    }
                }
            }
        }
    }
}
