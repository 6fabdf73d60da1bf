//! AVX2 max pooling (int8 and f32): the lane operations of the shared max-pool driver
//! (`kernels/maxpool_driver.rs`), 32 int8 / 8 f32 channels per instruction. `vmaxps(v, acc)`
//! returns `acc` when `v` is NaN, as the reference's `acc.max(v)` does.

use core::arch::x86_64::*;

use crate::kernels::maxpool_driver::{maxpool, pool_ok, MaxLanes};
use crate::kernels::{scalar_maxpool_f32, scalar_maxpool_i8, Geom};

/// int8 max pool, AVX2.
pub(super) fn avx2_maxpool_i8(g: &Geom, x: &[i8], oy0: usize, y: &mut [i8]) {
    if !pool_ok(g, x.len(), oy0, y.len()) {
        return scalar_maxpool_i8(g, x, oy0, y);
    }
    // SAFETY: reachable only through kernel sets handed out after checking the CPU has
    // AVX2; `pool_ok` checked the slices cover every access.
    unsafe { pool_i8(g, x, oy0, y) }
}

/// f32 max pool, AVX2.
pub(super) fn avx2_maxpool_f32(g: &Geom, x: &[f32], oy0: usize, y: &mut [f32]) {
    if !pool_ok(g, x.len(), oy0, y.len()) {
        return scalar_maxpool_f32(g, x, oy0, y);
    }
    // SAFETY: as `avx2_maxpool_i8`.
    unsafe { pool_f32(g, x, oy0, y) }
}

/// # Safety
/// The CPU has AVX2 and `pool_ok` holds for the arguments.
#[target_feature(enable = "avx2")]
unsafe fn pool_i8(g: &Geom, x: &[i8], oy0: usize, y: &mut [i8]) {
    // SAFETY: `maxpool`'s contract is this function's (# Safety).
    unsafe { maxpool::<I8x32>(g, x, oy0, y) }
}

/// # Safety
/// The CPU has AVX2 and `pool_ok` holds for the arguments.
#[target_feature(enable = "avx2")]
unsafe fn pool_f32(g: &Geom, x: &[f32], oy0: usize, y: &mut [f32]) {
    // SAFETY: `maxpool`'s contract is this function's (# Safety).
    unsafe { maxpool::<F32x8>(g, x, oy0, y) }
}

/// 32 int8 lanes (`vpmaxsb`).
struct I8x32;

impl MaxLanes for I8x32 {
    type T = i8;
    type V = __m256i;
    const LANES: usize = 32;
    const MIN: i8 = i8::MIN;
    #[inline(always)]
    unsafe fn splat_min() -> __m256i {
        // SAFETY: AVX (the trait's # Safety).
        unsafe { _mm256_set1_epi8(i8::MIN) }
    }
    #[inline(always)]
    unsafe fn load(p: *const i8) -> __m256i {
        // SAFETY: AVX, and `p` points at 32 readable bytes (the trait's # Safety).
        unsafe { _mm256_loadu_si256(p as *const _) }
    }
    #[inline(always)]
    unsafe fn max(acc: __m256i, v: __m256i) -> __m256i {
        // SAFETY: AVX2 (the trait's # Safety).
        unsafe { _mm256_max_epi8(acc, v) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut i8, v: __m256i) {
        // SAFETY: AVX, and `p` points at 32 writable bytes (the trait's # Safety).
        unsafe { _mm256_storeu_si256(p as *mut _, v) }
    }
    #[inline(always)]
    fn max1(acc: i8, v: i8) -> i8 {
        acc.max(v)
    }
}

/// 8 f32 lanes (`vmaxps`).
struct F32x8;

impl MaxLanes for F32x8 {
    type T = f32;
    type V = __m256;
    const LANES: usize = 8;
    const MIN: f32 = f32::NEG_INFINITY;
    #[inline(always)]
    unsafe fn splat_min() -> __m256 {
        // SAFETY: AVX (the trait's # Safety).
        unsafe { _mm256_set1_ps(f32::NEG_INFINITY) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        // SAFETY: AVX, and `p` points at 8 readable f32s (the trait's # Safety).
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn max(acc: __m256, v: __m256) -> __m256 {
        // SAFETY: AVX (the trait's # Safety).
        unsafe { _mm256_max_ps(v, acc) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256) {
        // SAFETY: AVX, and `p` points at 8 writable f32s (the trait's # Safety).
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    fn max1(acc: f32, v: f32) -> f32 {
        acc.max(v)
    }
}
