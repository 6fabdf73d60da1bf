//! AVX-512 f32 convolution on BLOCKED weights (`[g][oc/16][kh][kw][icg][16]`): one input
//! channel of a pixel is broadcast (folded into `vfmadd231ps`) against 16 output channels'
//! weights. A micro-tile keeps `N` pixels x `M` blocks of 16 channels in 24 zmm
//! accumulators, initialized with the bias; padded taps read zeros. Within the error budget
//! of `kernels/tests.rs` (fused multiply-add, bias first, per-tap order).

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
    q0: usize,
    oc_off: usize,
    init: [__m512; M],
    mask: [u16; M],
    act: Act512,
}

/// # Safety
/// The CPU has AVX-512 F, and `b` is `conv_shape`'s result for these arguments.
#[target_feature(enable = "avx2,fma,avx512f")]
unsafe fn conv(a: &ConvF32<'_>, b: &Blocked, oy0: usize, y: &mut [f32]) {
    let g = &a.g;
    let pad = [0f32; CHUNK];
    let rows = y.len() / (g.ow * g.oc);
    let (q0, q1) = (oy0 * g.ow, (oy0 + rows) * g.ow);
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
        q0,
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
                4 => pixels::<4>(g, &t, q0, q1),
                3 => pixels::<3>(g, &t, q0, q1),
                2 => pixels::<2>(g, &t, q0, q1),
                _ => pixels::<1>(g, &t, q0, q1),
            }
            ob += mm;
        }
    }
}

/// # Safety
/// As [`conv`]; `t` was filled by it.
#[target_feature(enable = "avx2,fma,avx512f")]
unsafe fn pixels<const MM: usize>(g: &Geom, t: &Tile, q0: usize, q1: usize) {
    let mut q = q0;
    while q + N <= q1 {
        micro::<MM, N>(g, t, q);
        q += N;
    }
    match q1 - q {
        0 => {}
        1 => micro::<MM, 1>(g, t, q),
        2 => micro::<MM, 2>(g, t, q),
        3 => micro::<MM, 3>(g, t, q),
        4 => micro::<MM, 4>(g, t, q),
        _ => micro::<MM, 5>(g, t, q),
    }
}

/// Output pixels `q..q + NN` x `MM` blocks of 16 channels.
///
/// # Safety
/// As [`conv`]; `q + NN` is within the caller's rows.
#[inline]
#[target_feature(enable = "avx2,fma,avx512f")]
unsafe fn micro<const MM: usize, const NN: usize>(g: &Geom, t: &Tile, q: usize) {
    let mut acc = [[_mm512_setzero_ps(); MM]; NN];
    for row in acc.iter_mut() {
        row.copy_from_slice(&t.init[..MM]);
    }
    let (mut oy, mut ox) = ([0usize; NN], [0usize; NN]);
    let (mut cy, mut cx) = (q / g.ow, q % g.ow);
    for p in 0..NN {
        (oy[p], ox[p]) = (cy, cx);
        cx += 1;
        if cx == g.ow {
            (cy, cx) = (cy + 1, 0);
        }
    }
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            let mut off = [usize::MAX; NN];
            for p in 0..NN {
                let iy = (oy[p] * g.sh + ky * g.dh) as isize - g.pt as isize;
                let ix = (ox[p] * g.sw + kx * g.dw) as isize - g.pl as isize;
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
                let wc = wt.add(c * OC_BLOCK);
                for j in 0..cn {
                    let mut wv = [_mm512_setzero_ps(); MM];
                    for (m, w) in wv.iter_mut().enumerate() {
                        *w = _mm512_loadu_ps(wc.add(m * t.block_len + j * OC_BLOCK));
                    }
                    for p in 0..NN {
                        let xb = _mm512_set1_ps(*src[p].add(j));
                        for m in 0..MM {
                            acc[p][m] = _mm512_fmadd_ps(xb, wv[m], acc[p][m]);
                        }
                    }
                }
                c += cn;
            }
        }
    }
    for (p, row) in acc.iter().enumerate() {
        let yp = t.y.add((q + p - t.q0) * g.oc + t.oc_off);
        for m in 0..MM {
            _mm512_mask_storeu_ps(yp.add(m * OC_BLOCK), t.mask[m], t.act.apply(row[m]));
        }
    }
}
