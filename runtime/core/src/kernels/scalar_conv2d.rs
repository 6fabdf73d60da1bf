//! Scalar reference convolution (int8 and f32), NHWC input, `[oc][kh][kw][ic/g]` weights.

use super::{dot_f32, dot_i8, finish_acc, requantize, ConvF32, ConvI8, Geom};

/// Calls `f(x_offset, w_offset)` for every kernel tap of output pixel (oy, ox) that falls
/// inside the input; offsets are to the first channel of the tap (caller adds the group).
#[inline(always)]
fn for_each_tap(g: &Geom, oy: usize, ox: usize, mut f: impl FnMut(usize, usize)) {
    let cin_g = g.ic / g.groups;
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
            f((iy as usize * g.iw + ix as usize) * g.ic, (ky * g.kw + kx) * cin_g);
        }
    }
}

/// int8 convolution: `acc = bias + sum (x - zx) * w`, then [`requantize`].
pub fn scalar_conv2d_i8(a: &ConvI8<'_>, y: &mut [i8]) {
    let g = &a.g;
    let cin_g = g.ic / g.groups;
    let cout_g = g.oc / g.groups;
    let wstride = g.kh * g.kw * cin_g;
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let yrow = &mut y[(oy * g.ow + ox) * g.oc..][..g.oc];
            for (oc, yv) in yrow.iter_mut().enumerate() {
                let c0 = (oc / cout_g) * cin_g;
                let wo = &a.w[oc * wstride..][..wstride];
                let (mut acc, mut wsum) = (0i32, 0i32);
                for_each_tap(g, oy, ox, |xo, wt| {
                    let (d, s) = dot_i8(&a.x[xo + c0..][..cin_g], &wo[wt..][..cin_g]);
                    acc = acc.wrapping_add(d);
                    wsum = wsum.wrapping_add(s);
                });
                *yv = requantize(finish_acc(a.bias[oc], acc, a.zx, wsum), a.mult[oc], a.q);
            }
        }
    }
}

/// f32 convolution with fused activation.
pub fn scalar_conv2d_f32(a: &ConvF32<'_>, y: &mut [f32]) {
    let g = &a.g;
    let cin_g = g.ic / g.groups;
    let cout_g = g.oc / g.groups;
    let wstride = g.kh * g.kw * cin_g;
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let yrow = &mut y[(oy * g.ow + ox) * g.oc..][..g.oc];
            for (oc, yv) in yrow.iter_mut().enumerate() {
                let c0 = (oc / cout_g) * cin_g;
                let wo = &a.w[oc * wstride..][..wstride];
                let mut acc = 0f32;
                for_each_tap(g, oy, ox, |xo, wt| {
                    acc += dot_f32(&a.x[xo + c0..][..cin_g], &wo[wt..][..cin_g]);
                });
                *yv = a.act.apply(acc + a.bias[oc]);
            }
        }
    }
}
