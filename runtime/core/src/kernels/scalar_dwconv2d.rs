//! Scalar reference depthwise convolution (`groups == ic == oc`: output channel `c` reads
//! input channel `c` only), int8 and f32, weights in either packing ([`WLayout`]).
//!
//! The same arithmetic as [`super::scalar_conv2d_i8`] / [`super::scalar_conv2d_f32`] on a
//! depthwise geometry, one channel at a time: `acc = bias + Σ (x - zx) * w` over the taps
//! inside the input (wrapping i32), then [`requantize`]; f32: `act(Σ x * w + bias)` summed
//! in tap order from `+0.0`, so the bits equal the general reference's.

use super::scalar_conv2d::for_each_tap;
use super::{finish_acc, requantize, ConvF32, ConvI8, WLayout};

/// int8 depthwise convolution. Writes output rows `oy0..` into `y` (whole rows).
pub fn scalar_dwconv2d_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8]) {
    let g = &a.g;
    let lay = WLayout::conv(a.packing, g.oc, g.ic, g.kh, g.kw, g.groups, true);
    for (p, yrow) in y.chunks_exact_mut(g.oc.max(1)).enumerate() {
        let (oy, ox) = (oy0 + p / g.ow, p % g.ow);
        for (c, yv) in yrow.iter_mut().enumerate() {
            let (mut acc, mut wsum) = (0i32, 0i32);
            for_each_tap(g, oy, ox, |xo, tap| {
                let w = a.w[lay.index(c, tap, 0)] as i32;
                acc = acc.wrapping_add(a.x[xo + c] as i32 * w);
                wsum = wsum.wrapping_add(w);
            });
            *yv = requantize(finish_acc(a.bias[c], acc, a.zx, wsum), a.mult[c], a.q);
        }
    }
}

/// f32 depthwise convolution with fused activation. Writes output rows `oy0..` into `y`.
pub fn scalar_dwconv2d_f32(a: &ConvF32<'_>, oy0: usize, y: &mut [f32]) {
    let g = &a.g;
    let lay = WLayout::conv(a.packing, g.oc, g.ic, g.kh, g.kw, g.groups, false);
    for (p, yrow) in y.chunks_exact_mut(g.oc.max(1)).enumerate() {
        let (oy, ox) = (oy0 + p / g.ow, p % g.ow);
        for (c, yv) in yrow.iter_mut().enumerate() {
            let mut acc = 0f32;
            for_each_tap(g, oy, ox, |xo, tap| acc += a.x[xo + c] * a.w[lay.index(c, tap, 0)]);
            *yv = a.act.apply(acc + a.bias[c]);
        }
    }
}
