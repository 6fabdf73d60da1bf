//! NEON f32 convolution on BLOCKED weights: the micro-kernel of the shared tile driver
//! (`kernels/conv_driver_f32.rs`): one input channel broadcast against 16 output channels
//! (four registers) with `fmla`, a tile of up to 6 pixels x 1 block in 24 of the 32 vector
//! registers.

use core::arch::aarch64::*;

use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::conv_driver_f32::{self as driver, MicroF32};
use crate::kernels::{ConvF32, Geom};
use crate::ops::Activation;

/// f32 convolution, NEON. Falls back to the scalar reference for other packings.
pub(super) fn neon_conv2d_f32(a: &ConvF32<'_>, oy0: usize, y: &mut [f32], scratch: &mut [u8]) {
    // SAFETY: NEON is baseline on the targets that build this set (`tiles`' features).
    unsafe { driver::blocked_or_scalar(a, oy0, y, scratch, tiles) }
}

/// The driver compiled with NEON.
///
/// # Safety
/// `b` is `conv_shape`'s result for these arguments.
#[target_feature(enable = "neon")]
unsafe fn tiles(a: &ConvF32<'_>, b: &Blocked, oy0: usize, y: &mut [f32], scratch: &mut [u8]) {
    // SAFETY: the CPU and `b` as `conv` needs them (# Safety); `blocked_or_scalar`, the only
    // caller, checked the scratch holds `scratch_bytes`.
    unsafe { driver::conv::<Fmla>(a, b, oy0, y, scratch) }
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
            // SAFETY: `p..p + n` with `n >= 16 >= 4i + 4` is writable (# Safety).
            unsafe { vst1q_f32(p.add(4 * i), v[i]) };
        }
    } else {
        let mut tmp = [0f32; 16];
        for i in 0..4 {
            // SAFETY: `tmp` holds 16 values, `4i + 4 <= 16`.
            unsafe { vst1q_f32(tmp.as_mut_ptr().add(4 * i), v[i]) };
        }
        // SAFETY: `p..p + n` is writable (# Safety); `tmp` is a separate local of 16 >= n.
        unsafe { core::ptr::copy_nonoverlapping(tmp.as_ptr(), p, n) };
    }
}

/// The `fmla` step: four registers of 4 channels per pixel.
pub(super) struct Fmla;

/// Store constants of one block.
#[derive(Clone, Copy)]
pub(super) struct Req {
    bias: [float32x4_t; 4],
    valid: usize,
    act: ActNeon,
}

impl MicroF32 for Fmla {
    type Acc = [float32x4_t; 4];
    type W = [float32x4_t; 4];
    type X = float32x4_t;
    type Req = Req;
    const N: usize = 6;
    const DENSE_M: usize = 2;
    const M: usize = 1;
    #[inline(always)]
    unsafe fn init(r: &Req) -> [float32x4_t; 4] {
        r.bias
    }
    #[inline(always)]
    unsafe fn load_w(p: *const f32) -> [float32x4_t; 4] {
        // SAFETY: NEON, and `p` points at 16 weights (the trait's # Safety).
        unsafe { [vld1q_f32(p), vld1q_f32(p.add(4)), vld1q_f32(p.add(8)), vld1q_f32(p.add(12))] }
    }
    #[inline(always)]
    unsafe fn bcast(p: *const f32) -> float32x4_t {
        // SAFETY: NEON, and `p` points at a readable f32 (the trait's # Safety).
        unsafe { vdupq_n_f32(*p) }
    }
    #[inline(always)]
    unsafe fn step(acc: &mut [float32x4_t; 4], w: &[float32x4_t; 4], x: float32x4_t) {
        for r in 0..4 {
            // SAFETY: NEON (the trait's # Safety).
            acc[r] = unsafe { vfmaq_f32(acc[r], x, w[r]) };
        }
    }
    #[inline(always)]
    unsafe fn req(bias: &[f32; OC_BLOCK], valid: usize, act: Activation) -> Req {
        // SAFETY: NEON (the trait's # Safety); `bias` holds 16 values, `4i + 4 <= 16`.
        let bias = [0, 1, 2, 3].map(|i| unsafe { vld1q_f32(bias[4 * i..].as_ptr()) });
        // SAFETY: NEON (the trait's # Safety).
        Req { bias, valid, act: unsafe { ActNeon::new(act) } }
    }
    #[inline(always)]
    unsafe fn store(acc: [float32x4_t; 4], r: &Req, y: *mut f32) {
        // SAFETY: NEON (the trait's # Safety).
        let v = acc.map(|v| unsafe { r.act.apply(v) });
        // SAFETY: `y` has the block's `valid` outputs (the trait's # Safety).
        unsafe { store_f32(y, v, r.valid) }
    }
    #[inline(never)]
    #[target_feature(enable = "neon")]
    unsafe fn rows<const MM: usize>(g: &Geom, t: &driver::Tile<Self>, r0: usize, r1: usize) {
        // SAFETY: `rows`' contract is `rows_of`'s (the driver calls it with `t` from `conv`).
        unsafe { driver::rows_of::<Self, MM>(g, t, r0, r1) }
    }
}
