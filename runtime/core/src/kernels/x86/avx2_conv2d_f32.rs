//! AVX2 f32 convolution on BLOCKED weights: the micro-kernel of the shared tile driver
//! (`kernels/conv_driver_f32.rs`): one input channel broadcast against 16 output channels
//! (two ymm), a tile of up to 6 pixels x 1 block in 12 of the 16 ymm registers.

use core::arch::x86_64::*;

use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::conv_driver_f32::{self as driver, MicroF32};
use crate::kernels::{ConvF32, Geom};
use crate::ops::Activation;

/// f32 convolution, AVX2 + FMA. Falls back to the scalar reference for other packings.
pub(super) fn avx2_conv2d_f32(a: &ConvF32<'_>, oy0: usize, y: &mut [f32], scratch: &mut [u8]) {
    // SAFETY: reachable only through kernel sets handed out after checking the CPU has
    // AVX2 and FMA (`tiles`' features).
    unsafe { driver::blocked_or_scalar(a, oy0, y, scratch, tiles) }
}

/// The driver compiled with AVX2 and FMA.
///
/// # Safety
/// The CPU has AVX2 and FMA, and `b` is `conv_shape`'s result for these arguments.
#[target_feature(enable = "avx2,fma")]
unsafe fn tiles(a: &ConvF32<'_>, b: &Blocked, oy0: usize, y: &mut [f32], scratch: &mut [u8]) {
    // SAFETY: the CPU and `b` as `conv` needs them (# Safety); `blocked_or_scalar`, the only
    // caller, checked the scratch holds `scratch_bytes`.
    unsafe { driver::conv::<Fma256>(a, b, oy0, y, scratch) }
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
        // SAFETY: `p..p + n` with `n >= 8` is writable (# Safety).
        unsafe { _mm256_storeu_ps(p, v) };
    } else if n > 0 {
        let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), idx);
        // SAFETY: the mask writes only lanes `0..n`, and `p..p + n` is writable (# Safety).
        unsafe { _mm256_maskstore_ps(p, mask, v) };
    }
}

/// The 256-bit FMA step: two ymm of 8 channels per pixel.
pub(super) struct Fma256;

/// Store constants of one block.
#[derive(Clone, Copy)]
pub(super) struct Req {
    bias: [__m256; 2],
    valid: usize,
    act: Act256,
}

impl MicroF32 for Fma256 {
    type Acc = [__m256; 2];
    type W = [__m256; 2];
    type X = __m256;
    type Req = Req;
    const N: usize = 6;
    const DENSE_M: usize = 2;
    const M: usize = 1;
    #[inline(always)]
    unsafe fn init(r: &Req) -> [__m256; 2] {
        r.bias
    }
    #[inline(always)]
    unsafe fn load_w(p: *const f32) -> [__m256; 2] {
        // SAFETY: AVX, and `p` points at 16 weights (the trait's # Safety).
        unsafe { [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))] }
    }
    #[inline(always)]
    unsafe fn bcast(p: *const f32) -> __m256 {
        // SAFETY: AVX, and `p` points at a readable f32 (the trait's # Safety).
        unsafe { _mm256_broadcast_ss(&*p) }
    }
    #[inline(always)]
    unsafe fn step(acc: &mut [__m256; 2], w: &[__m256; 2], x: __m256) {
        // SAFETY: FMA (the trait's # Safety).
        unsafe {
            acc[0] = _mm256_fmadd_ps(x, w[0], acc[0]);
            acc[1] = _mm256_fmadd_ps(x, w[1], acc[1]);
        }
    }
    #[inline(always)]
    unsafe fn req(bias: &[f32; OC_BLOCK], valid: usize, act: Activation) -> Req {
        // SAFETY: AVX2 (the trait's # Safety); `bias` holds 16 values: two loads of 8.
        unsafe { Req { bias: [_mm256_loadu_ps(bias.as_ptr()), _mm256_loadu_ps(bias[8..].as_ptr())], valid, act: Act256::new(act) } }
    }
    #[inline(always)]
    unsafe fn store(acc: [__m256; 2], r: &Req, y: *mut f32) {
        // SAFETY: AVX2 (the trait's # Safety); `y` has the block's `valid` outputs, so
        // `y..y + min(valid, 8)` and, past 8, `y + 8..y + valid` are writable.
        unsafe {
            store_first(y, r.act.apply(acc[0]), r.valid);
            store_first(y.add(8), r.act.apply(acc[1]), r.valid.saturating_sub(8));
        }
    }
    #[inline(never)]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn rows<const MM: usize>(g: &Geom, t: &driver::Tile<Self>, r0: usize, r1: usize) {
        // SAFETY: `rows`' contract is `rows_of`'s (the driver calls it with `t` from `conv`).
        unsafe { driver::rows_of::<Self, MM>(g, t, r0, r1) }
    }
}
