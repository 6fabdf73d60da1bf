//! AVX-512 f32 convolution on BLOCKED weights: the micro-kernel of the shared tile driver
//! (`kernels/conv_driver_f32.rs`): one input channel of a pixel is broadcast (folded into
//! `vfmadd231ps`) against 16 output channels' weights; a tile keeps up to 6 pixels x 4
//! blocks of 16 channels in 24 zmm accumulators.

use core::arch::x86_64::*;

use super::common::lane_mask;
use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::conv_driver_f32::{self as driver, MicroF32};
use crate::kernels::{ConvF32, Geom};
use crate::ops::Activation;

/// f32 convolution, AVX-512. Falls back to the scalar reference for other packings.
pub(super) fn avx512_conv2d_f32(a: &ConvF32<'_>, oy0: usize, y: &mut [f32], scratch: &mut [u8]) {
    // SAFETY: reachable only through the AVX512VNNI kernel set (CPU checked by
    // `x86::avx512vnni()`, which includes `tiles`' features).
    unsafe { driver::blocked_or_scalar(a, oy0, y, scratch, tiles) }
}

/// The driver compiled with AVX-512 F.
///
/// # Safety
/// The CPU has AVX-512 F, and `b` is `conv_shape`'s result for these arguments.
#[target_feature(enable = "avx2,fma,avx512f")]
unsafe fn tiles(a: &ConvF32<'_>, b: &Blocked, oy0: usize, y: &mut [f32], scratch: &mut [u8]) {
    // SAFETY: the CPU and `b` as `conv` needs them (# Safety); `blocked_or_scalar`, the only
    // caller, checked the scratch holds `scratch_bytes`.
    unsafe { driver::conv::<Fma512>(a, b, oy0, y, scratch) }
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

/// The 512-bit FMA step: one zmm of 16 channels per pixel and block.
pub(super) struct Fma512;

/// Store constants of one block.
#[derive(Clone, Copy)]
pub(super) struct Req {
    bias: __m512,
    mask: u16,
    act: Act512,
}

impl MicroF32 for Fma512 {
    type Acc = __m512;
    type W = __m512;
    type X = __m512;
    type Req = Req;
    const N: usize = 6;
    const DENSE_M: usize = 4;
    const M: usize = 4;
    #[inline(always)]
    unsafe fn init(r: &Req) -> __m512 {
        r.bias
    }
    #[inline(always)]
    unsafe fn load_w(p: *const f32) -> __m512 {
        // SAFETY: AVX-512 F, and `p` points at 16 weights (the trait's # Safety).
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn bcast(p: *const f32) -> __m512 {
        // SAFETY: AVX-512 F, and `p` points at a readable f32 (the trait's # Safety).
        unsafe { _mm512_set1_ps(*p) }
    }
    #[inline(always)]
    unsafe fn step(acc: &mut __m512, w: &__m512, x: __m512) {
        // SAFETY: AVX-512 F (the trait's # Safety).
        *acc = unsafe { _mm512_fmadd_ps(x, *w, *acc) };
    }
    #[inline(always)]
    unsafe fn req(bias: &[f32; OC_BLOCK], valid: usize, act: Activation) -> Req {
        // SAFETY: AVX-512 F (the trait's # Safety); `bias` holds the 16 values the load reads.
        unsafe { Req { bias: _mm512_loadu_ps(bias.as_ptr()), mask: lane_mask(valid), act: Act512::new(act) } }
    }
    #[inline(always)]
    unsafe fn store(acc: __m512, r: &Req, y: *mut f32) {
        // SAFETY: AVX-512 F (the trait's # Safety); the mask writes only the `valid` lanes,
        // which `y` has.
        unsafe { _mm512_mask_storeu_ps(y, r.mask, r.act.apply(acc)) };
    }
    #[inline(never)]
    #[target_feature(enable = "avx2,fma,avx512f")]
    unsafe fn rows<const MM: usize>(g: &Geom, t: &driver::Tile<Self>, r0: usize, r1: usize) {
        // SAFETY: `rows`' contract is `rows_of`'s (the driver calls it with `t` from `conv`).
        unsafe { driver::rows_of::<Self, MM>(g, t, r0, r1) }
    }
}
