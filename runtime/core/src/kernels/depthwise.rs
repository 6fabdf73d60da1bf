//! Depthwise convolution (`groups == ic == oc`: one input channel per output channel, as
//! in MobileNet-style blocks), int8 and f32.
//!
//! The general SIMD kernels vectorize over output channels of one group, which a depthwise
//! conv doesn't have (its BLOCKED packing would be 16 x 4 padding around one weight). Here
//! the lanes run over channels instead ([`super::channel_lanes`]): each block of channels
//! first copies its weights, from either packing (through [`WLayout`]), into a `[tap][CB]`
//! table on the stack, then every output pixel accumulates over the taps inside the input.
//! Each kernel set's depthwise slot (`dwconv2d_i8` / `dwconv2d_f32` in [`super::Kernels`])
//! calls [`dwconv2d_i8`] / [`dwconv2d_f32`] from one file per set compiled with its own
//! target features (`x86/avx2_dwconv2d_i8.rs`: AVX2; `x86/avx512_dwconv2d_i8.rs`: AVX-512
//! BW; `aarch64/neon_dwconv2d_i8.rs`: baseline NEON; `cortexm/dsp_dwconv2d_i8.rs`: plain
//! Thumb-2; f32 twins). The scalar reference (`scalar_dwconv2d.rs`) stays the specification.
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
// Only the x86_64 and aarch64 sets use the f32 kernel (and Cortex-M's `dsp` the int8 one);
// other targets build this module without a caller.
#![cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64")), allow(dead_code))]

use super::channel_lanes::{self, LaneOp, CB};
use super::{scalar_dwconv2d_f32, scalar_dwconv2d_i8, ConvF32, ConvI8, Geom, WLayout};
use crate::format::packing;
use crate::ops::Activation;

/// Largest kernel (taps) the weight table holds: 7x7. Larger depthwise kernels take the
/// general kernels.
pub const MAX_TAPS: usize = 49;

/// Does the depthwise path take this conv (and do the weights and per-channel slices cover
/// every read, beside [`channel_lanes::covers`])? `int8` selects the weight type.
#[allow(clippy::too_many_arguments)] // the slice lengths a conv call brings, as `simd_args::conv_shape` takes them
fn applies(g: &Geom, pk: u8, x_len: usize, w_len: usize, per_oc: &[usize], oy0: usize, y_len: usize, int8: bool) -> bool {
    let (c, taps) = (g.oc, g.kh * g.kw);
    if c == 0 || g.groups != c || g.ic != c || taps > MAX_TAPS || per_oc.iter().any(|&n| n < c) {
        return false;
    }
    let w_need = match WLayout::conv(pk, c, c, g.kh, g.kw, c, int8) {
        WLayout::Blocked(b) if pk == packing::BLOCKED => b.elements(),
        WLayout::Plain { .. } if pk == packing::PLAIN => c.checked_mul(taps),
        _ => None,
    };
    w_need.is_some_and(|n| n <= w_len) && channel_lanes::covers(g, x_len, oy0, y_len)
}

/// Fills `wt[t][j]` with the weight of channel `c0 + j`, tap `t` (zero for `j >= n`).
#[inline(always)]
fn weight_table<T: Copy, W: Copy + Default>(w: &[T], lay: &WLayout, c0: usize, n: usize, wt: &mut [[W; CB]], f: impl Fn(T) -> W) {
    for (t, row) in wt.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = if j < n { f(w[lay.index(c0 + j, t, 0)]) } else { W::default() };
        }
    }
}

/// The int8 kernel's state: the block's weights as i16, bias and multipliers.
struct DwI8<'a, 'b> {
    a: &'b ConvI8<'a>,
    lay: WLayout,
    taps: usize,
    zx: i16,
    lo: f32,
    hi: f32,
    wt: [[i16; CB]; MAX_TAPS],
    bias: [i32; CB],
    mult: [f32; CB],
}

impl LaneOp for DwI8<'_, '_> {
    type X = i8;
    type Acc = i32;
    type Y = i8;
    fn block(&mut self, c0: usize, n: usize) {
        weight_table(self.a.w, &self.lay, c0, n, &mut self.wt[..self.taps], |v| v as i16);
        self.bias = [0; CB];
        self.mult = [0.0; CB];
        self.bias[..n].copy_from_slice(&self.a.bias[c0..c0 + n]);
        self.mult[..n].copy_from_slice(&self.a.mult[c0..c0 + n]);
    }
    #[inline(always)]
    fn init(&self) -> [i32; CB] {
        self.bias
    }
    #[inline(always)]
    fn step(&self, acc: &mut [i32; CB], x: &[i8; CB], t: usize) {
        let w = &self.wt[t];
        for j in 0..CB {
            acc[j] = acc[j].wrapping_add((x[j] as i16 - self.zx).wrapping_mul(w[j]) as i32);
        }
    }
    #[inline(always)]
    fn finish(&self, acc: &[i32; CB], _valid: usize) -> [i8; CB] {
        let mut out = [0i8; CB];
        for j in 0..CB {
            let v = (acc[j] as f32 * self.mult[j]).max(self.lo).min(self.hi);
            out[j] = (rounded(v) + self.a.q.zy) as i8;
        }
        out
    }
}

/// The f32 kernel's state: the block's weights and bias.
struct DwF32<'a, 'b> {
    a: &'b ConvF32<'a>,
    lay: WLayout,
    taps: usize,
    act: Activation,
    wt: [[f32; CB]; MAX_TAPS],
    bias: [f32; CB],
}

impl LaneOp for DwF32<'_, '_> {
    type X = f32;
    type Acc = f32;
    type Y = f32;
    fn block(&mut self, c0: usize, n: usize) {
        weight_table(self.a.w, &self.lay, c0, n, &mut self.wt[..self.taps], |v| v);
        self.bias = [0.0; CB];
        self.bias[..n].copy_from_slice(&self.a.bias[c0..c0 + n]);
    }
    #[inline(always)]
    fn init(&self) -> [f32; CB] {
        [0.0; CB]
    }
    #[inline(always)]
    fn step(&self, acc: &mut [f32; CB], x: &[f32; CB], t: usize) {
        let w = &self.wt[t];
        for j in 0..CB {
            acc[j] += x[j] * w[j];
        }
    }
    #[inline(always)]
    fn finish(&self, acc: &[f32; CB], _valid: usize) -> [f32; CB] {
        let mut out = [0f32; CB];
        for j in 0..CB {
            out[j] = self.act.apply(acc[j] + self.bias[j]);
        }
        out
    }
}

/// Does the int8 depthwise path (this one, or a set's [`super::dwconv_driver_i8`]) take
/// these arguments (output rows `oy0..`, `y_len` elements)?
#[inline(always)]
pub(crate) fn takes_i8(a: &ConvI8<'_>, oy0: usize, y_len: usize) -> bool {
    (-128..=127).contains(&a.zx) && applies(&a.g, a.packing, a.x.len(), a.w.len(), &[a.bias.len(), a.mult.len()], oy0, y_len, true)
}

/// int8 depthwise convolution, or `false` (nothing written) when the conv isn't one this
/// path takes; the caller then runs its general kernel.
#[inline(always)]
pub(crate) fn conv2d_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8]) -> bool {
    let g = &a.g;
    if !takes_i8(a, oy0, y.len()) {
        return false;
    }
    let mut op = DwI8 {
        a,
        lay: WLayout::conv(a.packing, g.oc, g.ic, g.kh, g.kw, g.groups, true),
        taps: g.kh * g.kw,
        zx: a.zx as i16,
        lo: (a.q.lo - a.q.zy) as f32,
        hi: (a.q.hi - a.q.zy) as f32,
        wt: [[0; CB]; MAX_TAPS],
        bias: [0; CB],
        mult: [0.0; CB],
    };
    channel_lanes::run(&mut op, g, a.x, oy0, y);
    true
}

/// f32 depthwise convolution with fused activation, or `false` as [`conv2d_i8`].
#[inline(always)]
pub(crate) fn conv2d_f32(a: &ConvF32<'_>, oy0: usize, y: &mut [f32]) -> bool {
    let g = &a.g;
    if !applies(g, a.packing, a.x.len(), a.w.len(), &[a.bias.len()], oy0, y.len(), false) {
        return false;
    }
    let mut op = DwF32 {
        a,
        lay: WLayout::conv(a.packing, g.oc, g.ic, g.kh, g.kw, g.groups, false),
        taps: g.kh * g.kw,
        act: a.act,
        wt: [[0.0; CB]; MAX_TAPS],
        bias: [0.0; CB],
    };
    channel_lanes::run(&mut op, g, a.x, oy0, y);
    true
}

/// The int8 depthwise slot's body: the channel-lane kernel, or the scalar reference for
/// arguments it doesn't take. Each set's `*_dwconv2d_i8` file compiles it with its own
/// target features.
#[inline(always)]
pub(crate) fn dwconv2d_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8]) {
    if !conv2d_i8(a, oy0, y) {
        scalar_dwconv2d_i8(a, oy0, y);
    }
}

/// The f32 depthwise slot's body, as [`dwconv2d_i8`].
#[inline(always)]
pub(crate) fn dwconv2d_f32(a: &ConvF32<'_>, oy0: usize, y: &mut [f32]) {
    if !conv2d_f32(a, oy0, y) {
        scalar_dwconv2d_f32(a, oy0, y);
    }
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
