//! NEON f32 convolution on BLOCKED weights (`[g][oc/16][kh][kw][icg][16]`): one input
//! channel broadcast against 16 output channels (four registers) with `fmla`, `N` pixels
//! per micro-tile, accumulators initialized with the bias; padded taps read zeros. Within
//! the error budget of `kernels/tests.rs`.

// Register tiles are indexed by pixel on purpose (fixed-size arrays LLVM keeps in
// registers); iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use core::arch::aarch64::*;

use super::common::{conv_shape, lanes, CHUNK};
use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::{scalar_conv2d_f32, ConvF32, Geom};
use crate::ops::Activation;

/// Output pixels per micro-tile (4 accumulators each: 24 of the 32 vector registers).
const N: usize = 6;

/// f32 convolution, NEON. Falls back to the scalar reference for other packings.
pub(super) fn neon_conv2d_f32(a: &ConvF32<'_>, oy0: usize, y: &mut [f32]) {
    match conv_shape(
        &a.g,
        a.packing,
        false,
        a.x.len(),
        a.w.len(),
        &[a.bias.len()],
        oy0,
        y.len(),
    ) {
        // SAFETY: NEON is baseline on the targets that build this set; `conv_shape` checked
        // the slices cover every access.
        Some(b) => unsafe { conv(a, &b, oy0, y) },
        None => scalar_conv2d_f32(a, oy0, y),
    }
}

/// A fused activation as vector constants.
#[derive(Clone, Copy)]
pub(super) struct ActNeon {
    kind: u8,
    a: float32x4_t,
    b: float32x4_t,
}

impl ActNeon {
    #[target_feature(enable = "neon")]
    pub(super) fn new(act: Activation) -> ActNeon {
        let (kind, a, b) = match act {
            Activation::None => (0, 0.0, 0.0),
            Activation::Relu => (1, 0.0, 0.0),
            Activation::Clip(lo, hi) => (2, lo, hi),
            Activation::LeakyRelu(al) => (3, al, 0.0),
        };
        ActNeon {
            kind,
            a: vdupq_n_f32(a),
            b: vdupq_n_f32(b),
        }
    }

    /// `Activation::apply`, lane-wise (same NaN behaviour: `fmaxnm`/`fminnm` are
    /// `f32::max`/`min`; a NaN fails `>= 0` and stays NaN times `a`).
    #[inline]
    #[target_feature(enable = "neon")]
    pub(super) fn apply(&self, v: float32x4_t) -> float32x4_t {
        match self.kind {
            1 => vmaxnmq_f32(v, vdupq_n_f32(0.0)),
            2 => vminnmq_f32(vmaxnmq_f32(v, self.a), self.b),
            3 => vbslq_f32(vcgezq_f32(v), v, vmulq_f32(v, self.a)),
            _ => v,
        }
    }
}

/// Store the first `n` (0..=16) lanes of `v` (4 vectors) at `p`.
///
/// # Safety
/// `p..p + n` is writable.
#[inline]
#[target_feature(enable = "neon")]
pub(super) unsafe fn store_f32(p: *mut f32, v: [float32x4_t; 4], n: usize) {
    if n >= 16 {
        for i in 0..4 {
            vst1q_f32(p.add(4 * i), v[i]);
        }
    } else {
        let mut tmp = [0f32; 16];
        for i in 0..4 {
            vst1q_f32(tmp.as_mut_ptr().add(4 * i), v[i]);
        }
        core::ptr::copy_nonoverlapping(tmp.as_ptr(), p, n);
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
    init: [float32x4_t; 4],
    act: ActNeon,
}

/// # Safety
/// `b` is `conv_shape`'s result for these arguments.
#[target_feature(enable = "neon")]
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
        init: [vdupq_n_f32(0.0); 4],
        act: ActNeon::new(a.act),
    };
    for gi in 0..g.groups {
        for ob in 0..ob_n {
            t.w = a.w.as_ptr().add((gi * ob_n + ob) * b.block_len());
            t.ic_off = gi * b.icg;
            t.oc_off = gi * b.ocg + ob * OC_BLOCK;
            t.valid = (b.ocg - ob * OC_BLOCK).min(OC_BLOCK);
            let bias = lanes(a.bias, t.oc_off, t.valid);
            t.init = [0, 1, 2, 3].map(|i| vld1q_f32(bias[4 * i..].as_ptr()));
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
#[target_feature(enable = "neon")]
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
                    let wr = wc.add(j * OC_BLOCK);
                    let w = [
                        vld1q_f32(wr),
                        vld1q_f32(wr.add(4)),
                        vld1q_f32(wr.add(8)),
                        vld1q_f32(wr.add(12)),
                    ];
                    for p in 0..NN {
                        let xb = vdupq_n_f32(*src[p].add(j));
                        for r in 0..4 {
                            acc[p][r] = vfmaq_f32(acc[p][r], xb, w[r]);
                        }
                    }
                }
                c += cn;
            }
        }
    }
    for p in 0..NN {
        let yp = t.y.add((q + p - t.q0) * g.oc + t.oc_off);
        store_f32(yp, acc[p].map(|v| t.act.apply(v)), t.valid);
    }
}
