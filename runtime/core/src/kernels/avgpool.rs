//! int8 average pooling (AveragePool, GlobalAveragePool) over channel lanes. (The f32
//! reference already runs over whole channel rows, which LLVM vectorizes; the SIMD sets
//! compile it with their target features instead.)
//!
//! As in [`super::depthwise`], the lanes run over the contiguous channels of an NHWC pixel
//! in blocks of [`CB`], and each SIMD kernel set calls this body from a function compiled
//! with its target features, where LLVM vectorizes the lane loops.
//!
//! Exactness (int8): the window's int8 values are summed in i32 lanes, exact while the
//! window holds at most 2^24 positions (|sum| < 2^31; larger windows take the reference);
//! padded positions counted by `count_include_pad` add the zero point, and the division
//! rounds half to even (through an f64 quotient that is provably close enough, see
//! [`div_round`]), lane by lane, as the reference does in integers.

// Lane loops over fixed-size arrays are what LLVM vectorizes.
#![allow(clippy::needless_range_loop)]
#![cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64")), allow(dead_code))]

use core::iter::StepBy;
use core::ops::Range;

use super::Geom;

/// Channels per block.
const CB: usize = 32;
/// Largest window (positions) whose int8 sum stays exact in i32.
const MAX_WINDOW: usize = 1 << 24;

/// Are the slices large enough for every read and write (so indexing can't fail)?
fn fits(g: &Geom, x_len: usize, oy0: usize, y_len: usize) -> bool {
    let row = g.ow * g.ic;
    let x_need = g.ih.checked_mul(g.iw).and_then(|v| v.checked_mul(g.ic));
    g.ic > 0
        && row > 0
        && g.kh.checked_mul(g.kw).is_some_and(|w| (1..=MAX_WINDOW).contains(&w))
        && ![g.sh, g.sw, g.dh, g.dw].contains(&0)
        && x_need.is_some_and(|n| n <= x_len)
        && y_len.is_multiple_of(row)
        && oy0 + y_len / row <= g.oh
}

/// int8 average pool of output rows `oy0..` into `y`, or `false` (nothing written) where
/// the caller must run the reference.
#[inline(always)]
pub(crate) fn avgpool_i8(g: &Geom, count_include_pad: bool, zx: i32, x: &[i8], oy0: usize, y: &mut [i8]) -> bool {
    if !fits(g, x.len(), oy0, y.len()) {
        return false;
    }
    let (c, rows) = (g.ic, y.len() / (g.ow * g.ic));
    let mut c0 = 0;
    while c0 < c {
        let n = CB.min(c - c0);
        for r in 0..rows {
            for ox in 0..g.ow {
                let mut acc = [0i32; CB];
                let (ys, xs_) = window_ranges(g, oy0 + r, ox);
                for iy in ys.clone() {
                    for ix in xs_.clone() {
                        let mut pad = [0i8; CB];
                        let xs = lanes(x, (iy * g.iw + ix) * c + c0, n, &mut pad);
                        for j in 0..CB {
                            acc[j] += xs[j] as i32;
                        }
                    }
                }
                let (valid, total) = counts(g, &ys, &xs_);
                let cnt = if count_include_pad { total } else { valid }.max(1);
                let extra = ((cnt - valid.min(cnt)) as i64 * zx as i64) as f64;
                let inv = cnt as f64;
                let mut out = [0i8; CB];
                for j in 0..CB {
                    out[j] = div_round(acc[j] as f64 + extra, inv).clamp(-128, 127) as i8;
                }
                y[(r * g.ow + ox) * c + c0..][..n].copy_from_slice(&out[..n]);
            }
        }
        c0 += CB;
    }
    true
}

/// `s / c` rounded half to even, for integers `s` (|s| < 2^53) and `0 < c <= 2^24`: the
/// f64 quotient is within 2^-46 of the true one while a true quotient that isn't a tie is
/// at least 1/(2c) >= 2^-25 from one, and ties are exact in f64, so rounding the f64
/// quotient (by adding 1.5 * 2^52) gives `div_round_half_even`'s integer. Vectorizes,
/// where integer division does not.
#[inline(always)]
fn div_round(s: f64, c: f64) -> i64 {
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52 = 0x4338_0000_0000_0000
    ((s / c) + MAGIC).to_bits() as i64 - 0x4338_0000_0000_0000
}

/// The input rows and columns of output pixel (oy, ox)'s window that fall inside the
/// input, as stepped ranges (the dilation is the step), in the reference's order.
#[inline(always)]
fn window_ranges(g: &Geom, oy: usize, ox: usize) -> (StepBy<Range<usize>>, StepBy<Range<usize>>) {
    // Tap k's coordinate is o * s + k * d - p; the taps inside [0, n) are k0..k1.
    let inside = |o: usize, s: usize, d: usize, p: usize, k: usize, n: usize| {
        let start = o * s;
        let k0 = if start >= p { 0 } else { (p - start).div_ceil(d) };
        let k1 = if start >= p + n { 0 } else { (p + n - start).div_ceil(d).min(k) };
        let k1 = k1.max(k0);
        (start + k0 * d - p)..(start + k1 * d - p)
    };
    let ry = inside(oy, g.sh, g.dh, g.pt, g.kh, g.ih);
    let rx = inside(ox, g.sw, g.dw, g.pl, g.kw, g.iw);
    (ry.step_by(g.dh), rx.step_by(g.dw))
}

/// `(valid, total)` window positions as the reference counts them: valid ones inside the
/// input, all `kh * kw` in total.
#[inline(always)]
fn counts(g: &Geom, ys: &StepBy<Range<usize>>, xs: &StepBy<Range<usize>>) -> (usize, usize) {
    (ys.len() * xs.len(), g.kh * g.kw)
}

/// The `CB` values from `x[at..]` when `n == CB` and they exist, else the first `n` of
/// them copied into `pad` (zeros after).
#[inline(always)]
fn lanes<'a, T: Copy>(x: &'a [T], at: usize, n: usize, pad: &'a mut [T; CB]) -> &'a [T; CB] {
    match x.get(at..).and_then(|s| s.first_chunk::<CB>()) {
        Some(v) if n == CB => v,
        _ => {
            let m = n.min(x.len().saturating_sub(at));
            pad[..m].copy_from_slice(&x[at..at + m]);
            pad
        }
    }
}

/// int8 average pool for sets whose baseline ISA vectorizes the lanes (NEON on aarch64)
/// or that have no vector unit (Cortex-M): the body, else the reference. (The x86 sets
/// call the body from their own target-feature functions.)
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
pub(crate) fn lanes_avgpool_i8(g: &Geom, incl: bool, zx: i32, x: &[i8], oy0: usize, y: &mut [i8]) {
    if !avgpool_i8(g, incl, zx, x, oy0, y) {
        super::scalar_avgpool_i8(g, incl, zx, x, oy0, y);
    }
}
