//! AVX-512 f32 convolution on BLOCKED weights (`[g][oc/16][kh][kw][icg][16]`): one input
//! channel of a pixel is broadcast (folded into `vfmadd231ps`) against 16 output channels'
//! weights. A micro-tile keeps `N` pixels x `M` blocks of 16 channels in 24 zmm
//! accumulators, initialized with the bias. Interior pixels (every tap inside the input)
//! run tap by tap from fixed pointers; border pixels are gathered `N` at a time and their
//! padded taps read zeros. Within the error budget of `kernels/tests.rs` (fused
//! multiply-add, bias first, per-tap order).

// Register tiles are indexed by block and pixel on purpose (fixed-size arrays LLVM keeps in
// registers); iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use core::arch::x86_64::*;

use super::common::{conv_shape, lane_mask, lanes, CHUNK};
use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::{scalar_conv2d_f32, ConvF32, Geom};
use crate::ops::Activation;

const N: usize = 6;
const M: usize = 4;

/// f32 convolution, AVX-512. Falls back to the scalar reference for other packings.
pub(super) fn avx512_conv2d_f32(a: &ConvF32<'_>, oy0: usize, y: &mut [f32]) {
    match conv_shape(&a.g, a.packing, false, a.x.len(), a.w.len(), &[a.bias.len()], oy0, y.len()) {
        // SAFETY: reachable only through the AVX512VNNI kernel set (CPU checked by
        // `x86::avx512vnni()`, which includes AVX-512 F); `conv_shape` checked the slices.
        Some(b) => unsafe { conv(a, &b, oy0, y) },
        None => scalar_conv2d_f32(a, oy0, y),
    }
}

/// A fused activation as vector constants.
#[derive(Clone, Copy)]
pub(super) struct Act512 {
    kind: u8,
    a: __m512,
    b: __m512,
}

impl Act512 {
    /// # Safety
    /// The CPU has AVX-512 F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn new(act: Activation) -> Act512 {
        let (kind, a, b) = match act {
            Activation::None => (0, 0.0, 0.0),
            Activation::Relu => (1, 0.0, 0.0),
            Activation::Clip(lo, hi) => (2, lo, hi),
            Activation::LeakyRelu(al) => (3, al, 0.0),
        };
        Act512 { kind, a: _mm512_set1_ps(a), b: _mm512_set1_ps(b) }
    }

    /// `Activation::apply`, lane-wise (same NaN behaviour).
    ///
    /// # Safety
    /// The CPU has AVX-512 F.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn apply(&self, v: __m512) -> __m512 {
        match self.kind {
            1 => _mm512_max_ps(v, _mm512_setzero_ps()),
            2 => _mm512_min_ps(_mm512_max_ps(v, self.a), self.b),
            3 => {
                let ge = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(v, _mm512_setzero_ps());
                _mm512_mask_blend_ps(ge, _mm512_mul_ps(v, self.a), v)
            }
            _ => v,
        }
    }
}

struct Tile {
    x: *const f32,
    /// `CHUNK` zeros: the source of padded taps.
    pad: *const f32,
    w: *const f32,
    block_len: usize,
    tap_len: usize,
    icg: usize,
    ic_off: usize,
    y: *mut f32,
    oy0: usize,
    oc_off: usize,
    init: [__m512; M],
    mask: [u16; M],
    act: Act512,
}

/// Output range `lo..hi` along one axis whose taps all fall inside an input of `n`.
fn interior(n: usize, out: usize, k: usize, s: usize, d: usize, pad: usize) -> (usize, usize) {
    let lo = pad.div_ceil(s).min(out);
    let ext = (k - 1) * d + 1;
    let hi = if n + pad < ext { 0 } else { (n + pad + 1 - ext).div_ceil(s).min(out) };
    (lo, hi.max(lo))
}

/// # Safety
/// The CPU has AVX-512 F, and `b` is `conv_shape`'s result for these arguments.
#[target_feature(enable = "avx2,fma,avx512f")]
unsafe fn conv(a: &ConvF32<'_>, b: &Blocked, oy0: usize, y: &mut [f32]) {
    let g = &a.g;
    let pad = [0f32; CHUNK];
    let rows = y.len() / (g.ow * g.oc);
    let ob_n = b.oc_blocks();
    let mut t = Tile {
        x: a.x.as_ptr(),
        pad: pad.as_ptr(),
        w: a.w.as_ptr(),
        block_len: b.block_len(),
        tap_len: b.tap_len(),
        icg: b.icg,
        ic_off: 0,
        y: y.as_mut_ptr(),
        oy0,
        oc_off: 0,
        init: [_mm512_setzero_ps(); M],
        mask: [0; M],
        act: Act512::new(a.act),
    };
    for gi in 0..g.groups {
        let mut ob = 0;
        while ob < ob_n {
            let mm = (ob_n - ob).min(M);
            t.w = a.w.as_ptr().add((gi * ob_n + ob) * t.block_len);
            t.ic_off = gi * b.icg;
            t.oc_off = gi * b.ocg + ob * OC_BLOCK;
            for m in 0..mm {
                let (c0, valid) = (t.oc_off + m * OC_BLOCK, b.ocg - (ob + m) * OC_BLOCK);
                t.init[m] = _mm512_loadu_ps(lanes(a.bias, c0, valid).as_ptr());
                t.mask[m] = lane_mask(valid);
            }
            match mm {
                4 => rows_of::<4>(g, &t, oy0, oy0 + rows),
                3 => rows_of::<3>(g, &t, oy0, oy0 + rows),
                2 => rows_of::<2>(g, &t, oy0, oy0 + rows),
                _ => rows_of::<1>(g, &t, oy0, oy0 + rows),
            }
            ob += mm;
        }
    }
}

/// Output rows `r0..r1` for a run of `MM` blocks: interior pixels in tiles along each row,
/// border pixels gathered into tiles of `N`.
///
/// # Safety
/// As [`conv`]; `t` was filled by it.
#[target_feature(enable = "avx2,fma,avx512f")]
unsafe fn rows_of<const MM: usize>(g: &Geom, t: &Tile, r0: usize, r1: usize) {
    let (iy_lo, iy_hi) = interior(g.ih, g.oh, g.kh, g.sh, g.dh, g.pt);
    let (ix_lo, ix_hi) = interior(g.iw, g.ow, g.kw, g.sw, g.dw, g.pl);
    let mut border = [(0usize, 0usize); N];
    let mut nb = 0;
    let mut push = |oy: usize, ox: usize| {
        border[nb] = (oy, ox);
        nb += 1;
        if nb == N {
            general::<MM, N>(g, t, &border);
            nb = 0;
        }
    };
    for oy in r0..r1 {
        let inner = oy >= iy_lo && oy < iy_hi && ix_hi > ix_lo;
        let (a, b) = if inner { (ix_lo, ix_hi) } else { (g.ow, g.ow) };
        for ox in (0..a).chain(b..g.ow) {
            push(oy, ox);
        }
        let mut ox = a;
        while ox < b {
            let r = b - ox;
            ox += if r >= N {
                fast::<MM, N>(g, t, oy, ox);
                N
            } else if r >= 4 {
                fast::<MM, 4>(g, t, oy, ox);
                4
            } else if r >= 2 {
                fast::<MM, 2>(g, t, oy, ox);
                2
            } else {
                fast::<MM, 1>(g, t, oy, ox);
                1
            };
        }
    }
    let mut i = 0;
    while i < nb {
        let px = &border[i..];
        i += if nb - i >= 4 {
            general::<MM, 4>(g, t, &*(px.as_ptr() as *const [(usize, usize); 4]));
            4
        } else if nb - i >= 2 {
            general::<MM, 2>(g, t, &*(px.as_ptr() as *const [(usize, usize); 2]));
            2
        } else {
            general::<MM, 1>(g, t, &*(px.as_ptr() as *const [(usize, usize); 1]));
            1
        };
    }
}

/// Input channels `0..n` of one tap: `src[p]` for each pixel, weights from `wt`.
///
/// # Safety
/// As [`conv`]; every `src[p] + n` and `wt + (MM - 1) * block_len + 16 * n` is readable.
#[inline]
#[target_feature(enable = "avx2,fma,avx512f")]
unsafe fn run<const MM: usize, const NN: usize>(t: &Tile, src: &[*const f32; NN], wt: *const f32, n: usize, acc: &mut [[__m512; MM]; NN]) {
    for j in 0..n {
        let mut wv = [_mm512_setzero_ps(); MM];
        for (m, w) in wv.iter_mut().enumerate() {
            *w = _mm512_loadu_ps(wt.add(m * t.block_len + j * OC_BLOCK));
        }
        for p in 0..NN {
            let xb = _mm512_set1_ps(*src[p].add(j));
            for m in 0..MM {
                acc[p][m] = _mm512_fmadd_ps(xb, wv[m], acc[p][m]);
            }
        }
    }
}

/// Store one pixel's `MM` blocks (activation applied) at `yp`.
///
/// # Safety
/// As [`conv`]; `yp` is the pixel's output at the run's first channel.
#[inline]
#[target_feature(enable = "avx2,fma,avx512f")]
unsafe fn store<const MM: usize>(t: &Tile, acc: &[__m512; MM], yp: *mut f32) {
    for m in 0..MM {
        _mm512_mask_storeu_ps(yp.add(m * OC_BLOCK), t.mask[m], t.act.apply(acc[m]));
    }
}

fn start<const MM: usize, const NN: usize>(t: &Tile) -> [[__m512; MM]; NN] {
    let mut acc = [[t.init[0]; MM]; NN];
    for row in acc.iter_mut() {
        row.copy_from_slice(&t.init[..MM]);
    }
    acc
}

/// Interior tile: pixels (oy, ox..ox + NN), every tap inside the input.
///
/// # Safety
/// As [`conv`], plus that condition.
#[inline]
#[target_feature(enable = "avx2,fma,avx512f")]
unsafe fn fast<const MM: usize, const NN: usize>(g: &Geom, t: &Tile, oy: usize, ox: usize) {
    let mut acc = start::<MM, NN>(t);
    let first = ((oy * g.sh - g.pt) * g.iw + (ox * g.sw - g.pl)) * g.ic + t.ic_off;
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            let o = first + (ky * g.dh * g.iw + kx * g.dw) * g.ic;
            let mut src = [t.x; NN];
            for (p, s) in src.iter_mut().enumerate() {
                *s = t.x.add(o + p * g.sw * g.ic);
            }
            run::<MM, NN>(t, &src, t.w.add((ky * g.kw + kx) * t.tap_len), t.icg, &mut acc);
        }
    }
    let y0 = t.y.add(((oy - t.oy0) * g.ow + ox) * g.oc + t.oc_off);
    for p in 0..NN {
        store::<MM>(t, &acc[p], y0.add(p * g.oc));
    }
}

/// General tile: any `NN` output pixels; padded taps read the zero buffer.
///
/// # Safety
/// As [`conv`]; every pixel is within the caller's rows.
#[inline]
#[target_feature(enable = "avx2,fma,avx512f")]
unsafe fn general<const MM: usize, const NN: usize>(g: &Geom, t: &Tile, px: &[(usize, usize); NN]) {
    let mut acc = start::<MM, NN>(t);
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            let mut off = [usize::MAX; NN];
            for (p, &(oy, ox)) in px.iter().enumerate() {
                let iy = (oy * g.sh + ky * g.dh) as isize - g.pt as isize;
                let ix = (ox * g.sw + kx * g.dw) as isize - g.pl as isize;
                if iy >= 0 && (iy as usize) < g.ih && ix >= 0 && (ix as usize) < g.iw {
                    off[p] = (iy as usize * g.iw + ix as usize) * g.ic + t.ic_off;
                }
            }
            let wt = t.w.add((ky * g.kw + kx) * t.tap_len);
            let mut c = 0;
            while c < t.icg {
                let cn = (t.icg - c).min(CHUNK);
                let mut src = [t.pad; NN];
                for p in 0..NN {
                    if off[p] != usize::MAX {
                        src[p] = t.x.add(off[p] + c);
                    }
                }
                run::<MM, NN>(t, &src, wt.add(c * OC_BLOCK), cn, &mut acc);
                c += cn;
            }
        }
    }
    for (p, &(oy, ox)) in px.iter().enumerate() {
        store::<MM>(t, &acc[p], t.y.add(((oy - t.oy0) * g.ow + ox) * g.oc + t.oc_off));
    }
}
