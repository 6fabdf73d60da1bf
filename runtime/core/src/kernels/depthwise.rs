//! Depthwise convolution (`groups == ic == oc`: one input channel per output channel, as
//! in MobileNet-style blocks), int8 and f32.
//!
//! The general SIMD kernels vectorize over output channels of one group, which a depthwise
//! conv doesn't have (its BLOCKED packing would be 16 x 4 padding around one weight). Here
//! the lanes run over channels instead: in NHWC the channels of a pixel are contiguous, so
//! a block of [`CB`] channels loads as one vector per tap. Each block first copies its
//! weights, from either packing (through [`WLayout`]), into a `[tap][CB]` table on the
//! stack; then every output pixel accumulates over the taps inside the input.
//!
//! There is one body, written as fixed-width lane loops, and each kernel set calls it from
//! a function compiled with its own target features (`avx2`; `avx512bw`; aarch64's
//! baseline NEON; plain Thumb-2 on Cortex-M), where LLVM turns the lane loops into that
//! ISA's vector code. The scalar reference stays the specification.
//!
//! Exactness (int8): `x - zx` is within ±255 and `w` within [-128, 127], so each product
//! fits i16 (|p| ≤ 32,640) and is exact; products are summed in wrapping i32 over the same
//! taps the reference visits (padded taps skipped), which gives the reference's
//! accumulator `bias + Σ (x - zx) * w` mod 2^32; requantization is [`requantize`]'s
//! expression lane by lane. f32: `Σ x * w` in tap order, then `+ bias` and the activation,
//! as the reference does for PLAIN weights.

// Lane loops over fixed-size arrays are what LLVM vectorizes; iterator chains would hide
// the fixed width.
#![allow(clippy::needless_range_loop)]
// Only the x86_64 and aarch64 sets use the f32 body (and Cortex-M's `dsp` the int8 one);
// other targets build this module without a caller.
#![cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64")), allow(dead_code))]

use super::{ConvF32, ConvI8, Geom, WLayout};
use crate::format::packing;

/// Channels per block (lanes): 2 zmm / 4 ymm / 8 q-registers of i32 accumulators.
pub(crate) const CB: usize = 32;
/// Largest kernel (taps) the weight table holds: 7x7. Larger depthwise kernels take the
/// general kernels.
pub const MAX_TAPS: usize = 49;

/// Does the depthwise path take this conv (and are all its slices large enough for every
/// read and write, so the body's indexing can't fail)? `int8` selects the weight type.
#[allow(clippy::too_many_arguments)] // the slice lengths a conv call brings, as `simd_args::conv_shape` takes them
fn applies(g: &Geom, pk: u8, x_len: usize, w_len: usize, per_oc: &[usize], oy0: usize, y_len: usize, int8: bool) -> bool {
    let taps = g.kh * g.kw;
    let c = g.oc;
    if c == 0 || g.groups != c || g.ic != c || taps == 0 || taps > MAX_TAPS || g.ow == 0 {
        return false;
    }
    if [g.sh, g.sw, g.dh, g.dw].contains(&0) || per_oc.iter().any(|&n| n < c) {
        return false;
    }
    let w_need = match WLayout::conv(pk, c, c, g.kh, g.kw, c, int8) {
        WLayout::Blocked(b) if pk == packing::BLOCKED => b.elements(),
        WLayout::Plain { .. } if pk == packing::PLAIN => c.checked_mul(taps),
        _ => None,
    };
    let x_need = g.ih.checked_mul(g.iw).and_then(|v| v.checked_mul(c));
    let row = g.ow * c;
    match (w_need, x_need) {
        (Some(wn), Some(xn)) => wn <= w_len && xn <= x_len && y_len.is_multiple_of(row) && oy0 + y_len / row <= g.oh,
        _ => false,
    }
}

/// int8 depthwise convolution, or `false` (nothing written) when the conv isn't one this
/// path takes; the caller then runs its general kernel.
#[inline(always)]
pub(crate) fn conv2d_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8]) -> bool {
    let g = &a.g;
    if !(-128..=127).contains(&a.zx) || !applies(g, a.packing, a.x.len(), a.w.len(), &[a.bias.len(), a.mult.len()], oy0, y.len(), true) {
        return false;
    }
    let (c, taps) = (g.oc, g.kh * g.kw);
    let lay = WLayout::conv(a.packing, c, c, g.kh, g.kw, c, true);
    let rows = y.len() / (g.ow * c);
    let zx = a.zx as i16;
    let (lo, hi, zy) = ((a.q.lo - a.q.zy) as f32, (a.q.hi - a.q.zy) as f32, a.q.zy);
    let mut wt = [[0i16; CB]; MAX_TAPS];
    let mut list = [(0usize, 0usize); MAX_TAPS];
    let mut c0 = 0;
    while c0 < c {
        let n = CB.min(c - c0);
        for (t, row) in wt[..taps].iter_mut().enumerate() {
            for (j, w) in row.iter_mut().enumerate() {
                *w = if j < n { a.w[lay.index(c0 + j, t, 0)] as i16 } else { 0 };
            }
        }
        let (mut bias, mut mult) = ([0i32; CB], [0f32; CB]);
        bias[..n].copy_from_slice(&a.bias[c0..c0 + n]);
        mult[..n].copy_from_slice(&a.mult[c0..c0 + n]);
        for r in 0..rows {
            for ox in 0..g.ow {
                let mut acc = bias;
                let k = taps_inside(g, oy0 + r, ox, &mut list);
                for &(xo, t) in &list[..k] {
                    let mut xs = [0i8; CB];
                    let xs: &[i8; CB] = match a.x[xo + c0..].first_chunk::<CB>() {
                        Some(v) if n == CB => v,
                        _ => {
                            xs[..n].copy_from_slice(&a.x[xo + c0..xo + c0 + n]);
                            &xs
                        }
                    };
                    let w = &wt[t];
                    for j in 0..CB {
                        acc[j] = acc[j].wrapping_add((xs[j] as i16 - zx).wrapping_mul(w[j]) as i32);
                    }
                }
                let mut out = [0i8; CB];
                for j in 0..CB {
                    let v = (acc[j] as f32 * mult[j]).max(lo).min(hi);
                    out[j] = (rounded(v) + zy) as i8;
                }
                store(&mut y[(r * g.ow + ox) * c + c0..], &out, n);
            }
        }
        c0 += CB;
    }
    true
}

/// f32 depthwise convolution with fused activation, or `false` as [`conv2d_i8`].
#[inline(always)]
pub(crate) fn conv2d_f32(a: &ConvF32<'_>, oy0: usize, y: &mut [f32]) -> bool {
    let g = &a.g;
    if !applies(g, a.packing, a.x.len(), a.w.len(), &[a.bias.len()], oy0, y.len(), false) {
        return false;
    }
    let (c, taps) = (g.oc, g.kh * g.kw);
    let lay = WLayout::conv(a.packing, c, c, g.kh, g.kw, c, false);
    let rows = y.len() / (g.ow * c);
    let mut wt = [[0f32; CB]; MAX_TAPS];
    let mut list = [(0usize, 0usize); MAX_TAPS];
    let mut c0 = 0;
    while c0 < c {
        let n = CB.min(c - c0);
        for (t, row) in wt[..taps].iter_mut().enumerate() {
            for (j, w) in row.iter_mut().enumerate() {
                *w = if j < n { a.w[lay.index(c0 + j, t, 0)] } else { 0.0 };
            }
        }
        let mut bias = [0f32; CB];
        bias[..n].copy_from_slice(&a.bias[c0..c0 + n]);
        for r in 0..rows {
            for ox in 0..g.ow {
                let mut acc = [0f32; CB];
                let k = taps_inside(g, oy0 + r, ox, &mut list);
                for &(xo, t) in &list[..k] {
                    let mut xs = [0f32; CB];
                    let xs: &[f32; CB] = match a.x[xo + c0..].first_chunk::<CB>() {
                        Some(v) if n == CB => v,
                        _ => {
                            xs[..n].copy_from_slice(&a.x[xo + c0..xo + c0 + n]);
                            &xs
                        }
                    };
                    let w = &wt[t];
                    for j in 0..CB {
                        acc[j] += xs[j] * w[j];
                    }
                }
                let mut out = [0f32; CB];
                for j in 0..CB {
                    out[j] = a.act.apply(acc[j] + bias[j]);
                }
                store(&mut y[(r * g.ow + ox) * c + c0..], &out, n);
            }
        }
        c0 += CB;
    }
    true
}

/// `round_half_even(v) as i32` for |v| < 2^22 (the clamp guarantees it), computed as the
/// low mantissa bits of `v + 1.5 * 2^23`: the addition is the same rounding
/// [`super::round_half_even`] does, and the integer form vectorizes where a saturating
/// float-to-int cast does not.
#[inline(always)]
fn rounded(v: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23 = 0x4B40_0000
    (v + MAGIC).to_bits() as i32 - 0x4B40_0000
}

/// Writes the first `n` lanes of `out` to the front of `y` (a fixed-size copy when the
/// block is full, which compiles to vector stores instead of a `memcpy` call).
#[inline(always)]
fn store<T: Copy>(y: &mut [T], out: &[T; CB], n: usize) {
    match y.first_chunk_mut::<CB>() {
        Some(d) if n == CB => *d = *out,
        _ => y[..n].copy_from_slice(&out[..n]),
    }
}

/// Lists `(x_offset, tap)` for every tap of output pixel (oy, ox) inside the input, in the
/// reference's order (`x_offset`: the tap pixel's first channel), and returns how many.
/// A list rather than a callback, so the lane loops stay in the caller's function (and
/// its target features) as one simple loop.
#[inline(always)]
fn taps_inside(g: &Geom, oy: usize, ox: usize, list: &mut [(usize, usize); MAX_TAPS]) -> usize {
    let mut k = 0;
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
            if let Some(e) = list.get_mut(k) {
                *e = ((iy as usize * g.iw + ix as usize) * g.ic, ky * g.kw + kx);
                k += 1;
            }
        }
    }
    k
}
