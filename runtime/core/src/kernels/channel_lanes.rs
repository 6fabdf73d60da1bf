//! The channel-lane driver behind the depthwise convolution ([`super::depthwise`]) and the
//! int8 average pool ([`super::avgpool`]): ops where every output channel reads only its
//! own input channel, so no reduction runs across channels.
//!
//! In NHWC the channels of a pixel are contiguous, so the lanes run over channels: for a
//! block of [`CB`] channels, every output pixel walks the window's taps inside the input
//! (in the reference's order: rows, then columns), hands each tap's `CB` input values to
//! the op, and stores what the op makes of the sums. The op ([`LaneOp`]) supplies the
//! element types, the per-tap step and the finish; its lane loops are fixed-width array
//! loops, which LLVM vectorizes in whichever target-feature function the driver is inlined
//! into (AVX2, AVX-512 BW, NEON; plain code on Cortex-M).

// Used by the x86_64, aarch64 and Cortex-M (DSP) kernel sets; other targets build it unused.
#![cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64", kestrel_arm_dsp)), allow(dead_code))]

use core::ops::Range;

use super::Geom;

/// Channels per block (lanes): 2 zmm / 4 ymm / 8 q-registers of i32 accumulators.
pub(crate) const CB: usize = 32;

/// What a channel-lane op adds to the driver.
pub(crate) trait LaneOp {
    /// Input element.
    type X: Copy + Default;
    /// Accumulator lane.
    type Acc: Copy;
    /// Output element.
    type Y: Copy + Default;
    /// Prepares channels `c0..c0 + n` (weights, bias, multipliers of the block).
    fn block(&mut self, c0: usize, n: usize);
    /// The accumulators before the first tap.
    fn init(&self) -> [Self::Acc; CB];
    /// Adds tap `t`'s (`ky * kw + kx`) input lanes (zero past the block's `n` channels).
    fn step(&self, acc: &mut [Self::Acc; CB], x: &[Self::X; CB], t: usize);
    /// The output lanes from the sums over the `valid` taps that were inside the input.
    fn finish(&self, acc: &[Self::Acc; CB], valid: usize) -> [Self::Y; CB];
}

/// Do the input and output slices cover every access [`run`] makes for output rows
/// `oy0..` (`y_len` elements, whole rows), and is the geometry one it can walk?
pub(crate) fn covers(g: &Geom, x_len: usize, oy0: usize, y_len: usize) -> bool {
    let row = g.ow * g.ic;
    let x_need = g.ih.checked_mul(g.iw).and_then(|v| v.checked_mul(g.ic));
    row > 0
        && ![g.kh, g.kw, g.sh, g.sw, g.dh, g.dw].contains(&0)
        && x_need.is_some_and(|n| n <= x_len)
        && y_len.is_multiple_of(row)
        && oy0 + y_len / row <= g.oh
}

/// Runs `op` over output rows `oy0..` into `y` (whole rows). The caller has checked
/// [`covers`] (and the op's own slices).
#[inline(always)]
pub(crate) fn run<O: LaneOp>(op: &mut O, g: &Geom, x: &[O::X], oy0: usize, y: &mut [O::Y]) {
    let c = g.ic;
    let rows = y.len() / (g.ow * c);
    let mut c0 = 0;
    while c0 < c {
        let n = CB.min(c - c0);
        op.block(c0, n);
        // Tail blocks copy their `n` channels here; the lanes after them stay zero.
        let mut pad = [O::X::default(); CB];
        for r in 0..rows {
            let oy = oy0 + r;
            let ky_in = taps_inside(oy, g.sh, g.dh, g.pt, g.kh, g.ih);
            for ox in 0..g.ow {
                let kx_in = taps_inside(ox, g.sw, g.dw, g.pl, g.kw, g.iw);
                let mut acc = op.init();
                for ky in ky_in.clone() {
                    let iy = oy * g.sh + ky * g.dh - g.pt;
                    for kx in kx_in.clone() {
                        let ix = ox * g.sw + kx * g.dw - g.pl;
                        let xs = lanes(x, (iy * g.iw + ix) * c + c0, n, &mut pad);
                        op.step(&mut acc, xs, ky * g.kw + kx);
                    }
                }
                let out = op.finish(&acc, ky_in.len() * kx_in.len());
                store(&mut y[(r * g.ow + ox) * c + c0..], &out, n);
            }
        }
        c0 += CB;
    }
}

/// The taps `k` of one axis whose input coordinate `o * s + k * d - p` lies in `[0, n)`:
/// a contiguous range, since the coordinate grows with `k`.
#[inline(always)]
fn taps_inside(o: usize, s: usize, d: usize, p: usize, k: usize, n: usize) -> Range<usize> {
    let start = o * s;
    let k0 = if start >= p { 0 } else { (p - start).div_ceil(d) };
    let k1 = if start >= p + n { 0 } else { (p + n - start).div_ceil(d).min(k) };
    k0..k1.max(k0)
}

/// The `CB` values at `x[at..]` when the block is full, else its `n` values copied into
/// the front of `pad` (whose other lanes the caller keeps zero).
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

/// Writes the first `n` lanes of `out` to the front of `y` (a fixed-size copy when the
/// block is full, which compiles to vector stores instead of a `memcpy` call).
#[inline(always)]
fn store<T: Copy>(y: &mut [T], out: &[T; CB], n: usize) {
    match y.first_chunk_mut::<CB>() {
        Some(d) if n == CB => *d = *out,
        _ => y[..n].copy_from_slice(&out[..n]),
    }
}
