//! AVX2 f32 convolution on BLOCKED weights (`[g][oc/16][kh][kw][icg][16]`): one input
//! channel broadcast against 16 output channels (two ymm), `N` pixels per micro-tile,
//! accumulators initialized with the bias; padded taps read zeros. Within the error budget
//! of `kernels/tests.rs`.

// Register tiles are indexed by block and pixel on purpose (fixed-size arrays LLVM keeps in
// registers); iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use core::arch::x86_64::*;

use super::common::{conv_shape, lanes, CHUNK};
use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::{scalar_conv2d_f32, ConvF32, Geom};
use crate::ops::Activation;

/// Output pixels per micro-tile (2 accumulators each: 12 of the 16 ymm registers).
const N: usize = 6;

/// f32 convolution, AVX2 + FMA. Falls back to the scalar reference for other packings.
pub(super) fn avx2_conv2d_f32(a: &ConvF32<'_>, oy0: usize, y: &mut [f32]) {
    match conv_shape(&a.g, a.packing, false, a.x.len(), a.w.len(), &[a.bias.len()], oy0, y.len()) {
        // SAFETY: reachable only through kernel sets handed out after checking the CPU has
        // AVX2 and FMA; `conv_shape` checked the slices cover every access.
        Some(b) => unsafe { conv(a, &b, oy0, y) },
        None => scalar_conv2d_f32(a, oy0, y),
    }
}

/// A fused activation as vector constants.
#[derive(Clone, Copy)]
pub(super) struct Act256 {
    kind: u8,
    a: __m256,
    b: __m256,
}

impl Act256 {
    /// # Safety
    /// The CPU has AVX.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn new(act: Activation) -> Act256 {
        let (kind, a, b) = match act {
            Activation::None => (0, 0.0, 0.0),
            Activation::Relu => (1, 0.0, 0.0),
            Activation::Clip(lo, hi) => (2, lo, hi),
            Activation::LeakyRelu(al) => (3, al, 0.0),
        };
        Act256 { kind, a: _mm256_set1_ps(a), b: _mm256_set1_ps(b) }
    }

    /// `Activation::apply`, lane-wise (same NaN behaviour).
    ///
    /// # Safety
    /// The CPU has AVX.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn apply(&self, v: __m256) -> __m256 {
        match self.kind {
            1 => _mm256_max_ps(v, _mm256_setzero_ps()),
            2 => _mm256_min_ps(_mm256_max_ps(v, self.a), self.b),
            3 => {
                let ge = _mm256_cmp_ps::<_CMP_GE_OQ>(v, _mm256_setzero_ps());
                _mm256_blendv_ps(_mm256_mul_ps(v, self.a), v, ge)
            }
            _ => v,
        }
    }
}

/// Store the first `n` (0..=8) lanes of `v` at `p`.
///
/// # Safety
/// The CPU has AVX; `p..p + n` is writable.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn store_first(p: *mut f32, v: __m256, n: usize) {
    if n >= 8 {
        _mm256_storeu_ps(p, v);
    } else if n > 0 {
        let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), idx);
        _mm256_maskstore_ps(p, mask, v);
    }
}

struct Tile {
    x: *const f32,
    pad: *const f32,
    w: *const f32,
    tap_len: usize,
    icg: usize,
    ic_off: usize,
    y: *mut f32,
    q0: usize,
    oc_off: usize,
    valid: usize,
    init: [__m256; 2],
    act: Act256,
}

/// # Safety
/// The CPU has AVX2 and FMA, and `b` is `conv_shape`'s result for these arguments.
#[target_feature(enable = "avx2,fma")]
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
        tap_len: b.tap_len(),
        icg: b.icg,
        ic_off: 0,
        y: y.as_mut_ptr(),
        q0,
        oc_off: 0,
        valid: 0,
        init: [_mm256_setzero_ps(); 2],
        act: Act256::new(a.act),
    };
    for gi in 0..g.groups {
        for ob in 0..ob_n {
            t.w = a.w.as_ptr().add((gi * ob_n + ob) * b.block_len());
            t.ic_off = gi * b.icg;
            t.oc_off = gi * b.ocg + ob * OC_BLOCK;
            t.valid = (b.ocg - ob * OC_BLOCK).min(OC_BLOCK);
            let bias = lanes(a.bias, t.oc_off, t.valid);
            t.init = [_mm256_loadu_ps(bias.as_ptr()), _mm256_loadu_ps(bias[8..].as_ptr())];
            let mut q = q0;
            while q + N <= q1 {
                micro::<N>(g, &t, q);
                q += N;
            }
            match q1 - q {
                0 => {}
                1 => micro::<1>(g, &t, q),
                2 => micro::<2>(g, &t, q),
                3 => micro::<3>(g, &t, q),
                4 => micro::<4>(g, &t, q),
                _ => micro::<5>(g, &t, q),
            }
        }
    }
}

/// Output pixels `q..q + NN` x the tile's 16 channels.
///
/// # Safety
/// As [`conv`]; `q + NN` is within the caller's rows.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn micro<const NN: usize>(g: &Geom, t: &Tile, q: usize) {
    let mut acc = [t.init; NN];
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
                    let w0 = _mm256_loadu_ps(wc.add(j * OC_BLOCK));
                    let w1 = _mm256_loadu_ps(wc.add(j * OC_BLOCK + 8));
                    for p in 0..NN {
                        let xb = _mm256_broadcast_ss(&*src[p].add(j));
                        acc[p][0] = _mm256_fmadd_ps(xb, w0, acc[p][0]);
                        acc[p][1] = _mm256_fmadd_ps(xb, w1, acc[p][1]);
                    }
                }
                c += cn;
            }
        }
    }
    for (p, v) in acc.iter().enumerate() {
        let yp = t.y.add((q + p - t.q0) * g.oc + t.oc_off);
        store_first(yp, t.act.apply(v[0]), t.valid);
        store_first(yp.add(8), t.act.apply(v[1]), t.valid.saturating_sub(8));
    }
}
