//! Scalar reference convolution (int8 and f32), NHWC input, weights in any packing
//! ([`WLayout`]): this is the specification every optimized convolution is checked against.
//!
//! `acc = bias + Σ (x - zx) * w` over the taps inside the input (wrapping i32), then
//! [`requantize`]; f32: `act(Σ x * w + bias)`. PLAIN weights are read output channel by
//! output channel; BLOCKED weights a block of 16 output channels at a time, walking each
//! 64-byte row once (the same sums, in an order that suits the layout: wrapping integer
//! sums don't depend on it).

use super::{dot_f32, dot_i8, finish_acc, requantize, ConvF32, ConvI8, Geom, WLayout};
use crate::format::packing::{Blocked, OC_BLOCK};

/// Calls `f(x_offset, tap)` for every kernel tap of output pixel (oy, ox) that falls inside
/// the input; `x_offset` is the tap's first channel (the caller adds the group's), `tap` is
/// `ky * kw + kx`.
#[inline(always)]
pub(super) fn for_each_tap(g: &Geom, oy: usize, ox: usize, mut f: impl FnMut(usize, usize)) {
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
            f((iy as usize * g.iw + ix as usize) * g.ic, ky * g.kw + kx);
        }
    }
}

/// int8 convolution. Writes output rows `oy0..` into `y` (whole rows).
pub fn scalar_conv2d_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8]) {
    let g = &a.g;
    let rows = y.len() / (g.ow * g.oc).max(1);
    match WLayout::conv(a.packing, g.oc, g.ic, g.kh, g.kw, g.groups, true) {
        WLayout::Blocked(b) => conv_i8_blocked(a, &b, oy0, rows, y),
        lay => conv_i8_plain(a, &lay, oy0, rows, y),
    }
}

fn conv_i8_plain(a: &ConvI8<'_>, lay: &WLayout, oy0: usize, rows: usize, y: &mut [i8]) {
    let g = &a.g;
    let cin_g = g.ic / g.groups;
    let cout_g = g.oc / g.groups;
    for oy in oy0..oy0 + rows {
        for ox in 0..g.ow {
            let yrow = &mut y[((oy - oy0) * g.ow + ox) * g.oc..][..g.oc];
            for (oc, yv) in yrow.iter_mut().enumerate() {
                let c0 = (oc / cout_g) * cin_g;
                let (mut acc, mut wsum) = (0i32, 0i32);
                for_each_tap(g, oy, ox, |xo, tap| {
                    let (d, s) = dot_i8(&a.x[xo + c0..][..cin_g], &a.w[lay.index(oc, tap, 0)..][..cin_g]);
                    acc = acc.wrapping_add(d);
                    wsum = wsum.wrapping_add(s);
                });
                *yv = requantize(finish_acc(a.bias[oc], acc, a.zx, wsum), a.mult[oc], a.q);
            }
        }
    }
}

fn conv_i8_blocked(a: &ConvI8<'_>, b: &Blocked, oy0: usize, rows: usize, y: &mut [i8]) {
    let g = &a.g;
    let (ig, row) = (b.ig, b.ig * OC_BLOCK);
    for oy in oy0..oy0 + rows {
        for ox in 0..g.ow {
            let yp = ((oy - oy0) * g.ow + ox) * g.oc;
            for gi in 0..g.groups {
                for ob in 0..b.oc_blocks() {
                    let lanes = (b.ocg - ob * OC_BLOCK).min(OC_BLOCK);
                    let blk = &a.w[(gi * b.oc_blocks() + ob) * b.block_len()..][..b.block_len()];
                    let (mut acc, mut wsum) = ([0i32; OC_BLOCK], [0i32; OC_BLOCK]);
                    for_each_tap(g, oy, ox, |xo, tap| {
                        let xs = &a.x[xo + gi * b.icg..][..b.icg];
                        let wt = &blk[tap * b.tap_len()..][..b.tap_len()];
                        for (xg, wr) in xs.chunks(ig).zip(wt.chunks_exact(row)) {
                            for l in 0..lanes {
                                let (d, s) = dot_i8(xg, &wr[l * ig..][..xg.len()]);
                                acc[l] = acc[l].wrapping_add(d);
                                wsum[l] = wsum[l].wrapping_add(s);
                            }
                        }
                    });
                    let c0 = gi * b.ocg + ob * OC_BLOCK;
                    for l in 0..lanes {
                        let oc = c0 + l;
                        y[yp + oc] = requantize(finish_acc(a.bias[oc], acc[l], a.zx, wsum[l]), a.mult[oc], a.q);
                    }
                }
            }
        }
    }
}

/// f32 convolution with fused activation. Writes output rows `oy0..` into `y`.
pub fn scalar_conv2d_f32(a: &ConvF32<'_>, oy0: usize, y: &mut [f32]) {
    let g = &a.g;
    let rows = y.len() / (g.ow * g.oc).max(1);
    match WLayout::conv(a.packing, g.oc, g.ic, g.kh, g.kw, g.groups, false) {
        WLayout::Blocked(b) => conv_f32_blocked(a, &b, oy0, rows, y),
        lay => conv_f32_plain(a, &lay, oy0, rows, y),
    }
}

fn conv_f32_plain(a: &ConvF32<'_>, lay: &WLayout, oy0: usize, rows: usize, y: &mut [f32]) {
    let g = &a.g;
    let cin_g = g.ic / g.groups;
    let cout_g = g.oc / g.groups;
    for oy in oy0..oy0 + rows {
        for ox in 0..g.ow {
            let yrow = &mut y[((oy - oy0) * g.ow + ox) * g.oc..][..g.oc];
            for (oc, yv) in yrow.iter_mut().enumerate() {
                let c0 = (oc / cout_g) * cin_g;
                let mut acc = 0f32;
                for_each_tap(g, oy, ox, |xo, tap| {
                    acc += dot_f32(&a.x[xo + c0..][..cin_g], &a.w[lay.index(oc, tap, 0)..][..cin_g]);
                });
                *yv = a.act.apply(acc + a.bias[oc]);
            }
        }
    }
}

fn conv_f32_blocked(a: &ConvF32<'_>, b: &Blocked, oy0: usize, rows: usize, y: &mut [f32]) {
    let g = &a.g;
    for oy in oy0..oy0 + rows {
        for ox in 0..g.ow {
            let yp = ((oy - oy0) * g.ow + ox) * g.oc;
            for gi in 0..g.groups {
                for ob in 0..b.oc_blocks() {
                    let lanes = (b.ocg - ob * OC_BLOCK).min(OC_BLOCK);
                    let blk = &a.w[(gi * b.oc_blocks() + ob) * b.block_len()..][..b.block_len()];
                    let mut acc = [0f32; OC_BLOCK];
                    for_each_tap(g, oy, ox, |xo, tap| {
                        let xs = &a.x[xo + gi * b.icg..][..b.icg];
                        let wt = &blk[tap * b.tap_len()..][..b.tap_len()];
                        for (&xv, wr) in xs.iter().zip(wt.chunks_exact(OC_BLOCK)) {
                            for (s, &w) in acc.iter_mut().zip(wr) {
                                *s += xv * w;
                            }
                        }
                    });
                    let c0 = gi * b.ocg + ob * OC_BLOCK;
                    for l in 0..lanes {
                        y[yp + c0 + l] = a.act.apply(acc[l] + a.bias[c0 + l]);
                    }
                }
            }
        }
    }
}
