//! NEON max pooling (int8 and f32): the lane operations of the shared max-pool driver
//! (`kernels/maxpool_driver.rs`), 16 int8 / 4 f32 channels per instruction. `fmaxnm(acc, v)`
//! returns `acc` when `v` is NaN, as the reference's `acc.max(v)` does.

use core::arch::aarch64::*;

use crate::kernels::maxpool_driver::{maxpool, pool_ok, MaxLanes};
use crate::kernels::{scalar_maxpool_f32, scalar_maxpool_i8, Geom};

/// int8 max pool, NEON.
pub(super) fn neon_maxpool_i8(g: &Geom, x: &[i8], oy0: usize, y: &mut [i8]) {
    if !pool_ok(g, x.len(), oy0, y.len()) {
        return scalar_maxpool_i8(g, x, oy0, y);
    }
    // SAFETY: NEON is baseline on the targets that build this set; `pool_ok` checked the
    // slices cover every access.
    unsafe { pool_i8(g, x, oy0, y) }
}

/// f32 max pool, NEON.
pub(super) fn neon_maxpool_f32(g: &Geom, x: &[f32], oy0: usize, y: &mut [f32]) {
    if !pool_ok(g, x.len(), oy0, y.len()) {
        return scalar_maxpool_f32(g, x, oy0, y);
    }
    // SAFETY: as `neon_maxpool_i8`.
    unsafe { pool_f32(g, x, oy0, y) }
}

/// # Safety
/// `pool_ok` holds for the arguments.
#[target_feature(enable = "neon")]
unsafe fn pool_i8(g: &Geom, x: &[i8], oy0: usize, y: &mut [i8]) {
    // SAFETY: `maxpool`'s contract is this function's (# Safety).
    unsafe { maxpool::<I8x16>(g, x, oy0, y) }
}

/// # Safety
/// `pool_ok` holds for the arguments.
#[target_feature(enable = "neon")]
unsafe fn pool_f32(g: &Geom, x: &[f32], oy0: usize, y: &mut [f32]) {
    // SAFETY: `maxpool`'s contract is this function's (# Safety).
    unsafe { maxpool::<F32x4>(g, x, oy0, y) }
}

/// 16 int8 lanes (`smax`).
struct I8x16;

impl MaxLanes for I8x16 {
    type T = i8;
    type V = int8x16_t;
    const LANES: usize = 16;
    const MIN: i8 = i8::MIN;
    #[inline(always)]
    unsafe fn splat_min() -> int8x16_t {
        // SAFETY: NEON (the trait's # Safety).
        unsafe { vdupq_n_s8(i8::MIN) }
    }
    #[inline(always)]
    unsafe fn load(p: *const i8) -> int8x16_t {
        // SAFETY: NEON, and `p` points at 16 readable bytes (the trait's # Safety).
        unsafe { vld1q_s8(p) }
    }
    #[inline(always)]
    unsafe fn max(acc: int8x16_t, v: int8x16_t) -> int8x16_t {
        // SAFETY: NEON (the trait's # Safety).
        unsafe { vmaxq_s8(acc, v) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut i8, v: int8x16_t) {
        // SAFETY: NEON, and `p` points at 16 writable bytes (the trait's # Safety).
        unsafe { vst1q_s8(p, v) }
    }
    #[inline(always)]
    fn max1(acc: i8, v: i8) -> i8 {
        acc.max(v)
    }
}

/// 4 f32 lanes (`fmaxnm`).
struct F32x4;

impl MaxLanes for F32x4 {
    type T = f32;
    type V = float32x4_t;
    const LANES: usize = 4;
    const MIN: f32 = f32::NEG_INFINITY;
    #[inline(always)]
    unsafe fn splat_min() -> float32x4_t {
        // SAFETY: NEON (the trait's # Safety).
        unsafe { vdupq_n_f32(f32::NEG_INFINITY) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> float32x4_t {
        // SAFETY: NEON, and `p` points at 4 readable f32s (the trait's # Safety).
        unsafe { vld1q_f32(p) }
    }
    #[inline(always)]
    unsafe fn max(acc: float32x4_t, v: float32x4_t) -> float32x4_t {
        // SAFETY: NEON (the trait's # Safety).
        unsafe { vmaxnmq_f32(acc, v) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: float32x4_t) {
        // SAFETY: NEON, and `p` points at 4 writable f32s (the trait's # Safety).
        unsafe { vst1q_f32(p, v) }
    }
    #[inline(always)]
    fn max1(acc: f32, v: f32) -> f32 {
        acc.max(v)
    }
}
