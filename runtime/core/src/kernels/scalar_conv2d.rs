//! Scalar reference convolution (int8 and f32), NHWC input, weights in any packing
//! ([`WLayout`]): this is the specification every optimized convolution is checked against.

use super::{dot_f32, dot_i8, finish_acc, requantize, ConvF32, ConvI8, Geom, WLayout};

/// Calls `f(x_offset, tap)` for every kernel tap of output pixel (oy, ox) that falls inside
/// the input; `x_offset` is the tap's first channel (the caller adds the group's), `tap` is
/// `ky * kw + kx`.
#[inline(always)]
fn for_each_tap(g: &Geom, oy: usize, ox: usize, mut f: impl FnMut(usize, usize)) {
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

/// int8 convolution: `acc = bias + sum (x - zx) * w` over the taps inside the input, then
/// [`requantize`]. Writes output rows `oy0..` into `y` (whole rows).
pub fn scalar_conv2d_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8]) {
    let g = &a.g;
    let cin_g = g.ic / g.groups;
    let cout_g = g.oc / g.groups;
    let lay = WLayout::conv(a.packing, g.oc, g.ic, g.kh, g.kw, g.groups, true);
    let run = lay.run();
    let rows = y.len() / (g.ow * g.oc).max(1);
    for oy in oy0..oy0 + rows {
        for ox in 0..g.ow {
            let yrow = &mut y[((oy - oy0) * g.ow + ox) * g.oc..][..g.oc];
            for (oc, yv) in yrow.iter_mut().enumerate() {
                let c0 = (oc / cout_g) * cin_g;
                let (mut acc, mut wsum) = (0i32, 0i32);
                for_each_tap(g, oy, ox, |xo, tap| {
                    for ci in (0..cin_g).step_by(run) {
                        let n = run.min(cin_g - ci);
                        let (d, s) = dot_i8(&a.x[xo + c0 + ci..][..n], &a.w[lay.index(oc, tap, ci)..][..n]);
                        acc = acc.wrapping_add(d);
                        wsum = wsum.wrapping_add(s);
                    }
                });
                *yv = requantize(finish_acc(a.bias[oc], acc, a.zx, wsum), a.mult[oc], a.q);
            }
        }
    }
}

/// f32 convolution with fused activation. Writes output rows `oy0..` into `y`.
pub fn scalar_conv2d_f32(a: &ConvF32<'_>, oy0: usize, y: &mut [f32]) {
    let g = &a.g;
    let cin_g = g.ic / g.groups;
    let cout_g = g.oc / g.groups;
    let lay = WLayout::conv(a.packing, g.oc, g.ic, g.kh, g.kw, g.groups, false);
    let run = lay.run();
    let rows = y.len() / (g.ow * g.oc).max(1);
    for oy in oy0..oy0 + rows {
        for ox in 0..g.ow {
            let yrow = &mut y[((oy - oy0) * g.ow + ox) * g.oc..][..g.oc];
            for (oc, yv) in yrow.iter_mut().enumerate() {
                let c0 = (oc / cout_g) * cin_g;
                let mut acc = 0f32;
                for_each_tap(g, oy, ox, |xo, tap| {
                    for ci in (0..cin_g).step_by(run) {
                        let n = run.min(cin_g - ci);
                        acc += dot_f32(&a.x[xo + c0 + ci..][..n], &a.w[lay.index(oc, tap, ci)..][..n]);
                    }
                });
                *yv = a.act.apply(acc + a.bias[oc]);
            }
        }
    }
}
