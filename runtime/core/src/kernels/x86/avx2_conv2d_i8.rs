//! AVX2 int8 convolution on BLOCKED weights (`vpmaddwd`), for x86 CPUs without VNNI: the
//! micro-kernel of the shared tile driver (`kernels/conv_driver_i8.rs`).
//!
//! `vpmaddubsw` would saturate (255 * 127 * 2 > 32767), so inputs and weights are widened
//! to i16 and multiplied with `vpmaddwd`, which is exact: 4 input channels of a pixel are
//! broadcast (`vpbroadcastd` + `vpmovsxbw`) against half a weight row (8 output channels x
//! 4 input channels as i16, two registers), each i32 lane summing 2 products; lane pairs
//! are added at the end (`vphaddd`). A unit is 8 channels (half a block); a tile holds up
//! to 6 pixels x 1 unit in 12 of the 16 ymm registers. Requantization follows the rule of
//! `kernels/mod.rs` (`vcvtps2dq` rounds half to even under the default MXCSR).

use core::arch::x86_64::*;

use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::conv_driver_i8::{self as driver, MicroI8};
use crate::kernels::{ConvI8, Geom, QOut};

/// int8 convolution, AVX2. Falls back to the scalar reference for other packings.
pub(super) fn avx2_conv2d_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8], scratch: &mut [u8]) {
    // SAFETY: reachable only through the AVX2 and AVX512VNNI kernel sets, handed out after
    // checking the CPU has AVX2 and FMA (`tiles`' features).
    unsafe { driver::blocked_or_scalar::<Madd>(a, oy0, y, scratch, tiles) }
}

/// The driver compiled with AVX2.
///
/// # Safety
/// The CPU has AVX2 and FMA, and `b` is `conv_shape`'s result for these arguments.
#[target_feature(enable = "avx2,fma")]
unsafe fn tiles(a: &ConvI8<'_>, b: &Blocked, oy0: usize, y: &mut [i8], scratch: &mut [u8]) {
    // SAFETY: the CPU and `b` as `conv` needs them (# Safety); `blocked_or_scalar`, the only
    // caller, checked the scratch holds `scratch_bytes`.
    unsafe { driver::conv::<Madd>(a, b, oy0, y, scratch) }
}

/// The 8 channel sums of a unit's accumulators: lanes hold (channel, half-sum) pairs; add
/// them and restore channel order.
///
/// # Safety
/// The CPU has AVX2.
#[inline(always)]
unsafe fn fold(acc: [__m256i; 2]) -> __m256i {
    // SAFETY: the CPU has AVX2 (# Safety).
    unsafe { _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[0], acc[1]), 0b11_01_10_00) }
}

/// The `vpmaddwd` step: two ymm of (channel, half-sum) pairs per pixel and unit.
pub(super) struct Madd;

/// Store constants of one unit.
#[derive(Clone, Copy)]
pub(super) struct Req {
    init: __m256i,
    mult: __m256,
    lo: __m256,
    hi: __m256,
    zy: __m256i,
    valid: usize,
}

impl MicroI8 for Madd {
    type Acc = [__m256i; 2];
    type W = [__m256i; 2];
    type X = __m256i;
    type Req = Req;
    const UNIT: usize = 8;
    const N: usize = 6;
    const M: usize = 1;
    const DUAL: usize = 0;
    const DENSE_UNITS: usize = 2;
    const X_ADD: i32 = 0;
    #[inline(always)]
    unsafe fn zero() -> [__m256i; 2] {
        // SAFETY: AVX2 (the trait's # Safety).
        unsafe { [_mm256_setzero_si256(); 2] }
    }
    #[inline(always)]
    unsafe fn add(a: [__m256i; 2], b: [__m256i; 2]) -> [__m256i; 2] {
        // SAFETY: AVX2 (the trait's # Safety).
        unsafe { [_mm256_add_epi32(a[0], b[0]), _mm256_add_epi32(a[1], b[1])] }
    }
    #[inline(always)]
    unsafe fn load_w(p: *const i8) -> [__m256i; 2] {
        // SAFETY: AVX2, and `p` points at the unit's 32 bytes of a row (the trait's # Safety).
        unsafe { [_mm256_cvtepi8_epi16(_mm_loadu_si128(p as *const _)), _mm256_cvtepi8_epi16(_mm_loadu_si128(p.add(16) as *const _))] }
    }
    #[inline(always)]
    unsafe fn bcast(x: i32) -> __m256i {
        // SAFETY: AVX2 (the trait's # Safety).
        unsafe { _mm256_cvtepi8_epi16(_mm_set1_epi32(x)) }
    }
    #[inline(always)]
    unsafe fn step(acc: &mut [__m256i; 2], w: &[__m256i; 2], x: __m256i) {
        // SAFETY: AVX2 (the trait's # Safety).
        unsafe {
            acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(x, w[0]));
            acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(x, w[1]));
        }
    }
    #[inline(always)]
    unsafe fn req(init: &[i32], mult: &[f32], valid: usize, q: QOut) -> Req {
        // SAFETY: AVX2 (the trait's # Safety); the driver passes `OC_BLOCK` (16 >= 8) values
        // in `init` and `mult`, so the 8-lane loads stay inside them.
        unsafe {
            Req {
                init: _mm256_loadu_si256(init.as_ptr() as *const _),
                mult: _mm256_loadu_ps(mult.as_ptr()),
                lo: _mm256_set1_ps((q.lo - q.zy) as f32),
                hi: _mm256_set1_ps((q.hi - q.zy) as f32),
                zy: _mm256_set1_epi32(q.zy),
                valid,
            }
        }
    }
    #[inline(always)]
    unsafe fn sums(acc: [__m256i; 2]) -> [i32; OC_BLOCK] {
        let mut s = [0i32; OC_BLOCK];
        // SAFETY: AVX2 (the trait's # Safety); `s` holds 16 >= 8 i32s.
        unsafe { _mm256_storeu_si256(s.as_mut_ptr() as *mut _, fold(acc)) };
        s
    }
    #[inline(always)]
    unsafe fn store(acc: [__m256i; 2], r: &Req, y: *mut i8) {
        // SAFETY: AVX2 (the trait's # Safety); value intrinsics only.
        let q8 = unsafe {
            let s = fold(acc);
            let v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s, r.init)), r.mult);
            let v = _mm256_min_ps(_mm256_max_ps(v, r.lo), r.hi);
            let q = _mm256_add_epi32(_mm256_cvtps_epi32(v), r.zy);
            let q16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
            _mm_packs_epi16(q16, q16)
        };
        if r.valid >= 8 {
            // SAFETY: AVX2; `y` has the unit's `valid` >= 8 outputs (the trait's # Safety).
            unsafe { _mm_storel_epi64(y as *mut _, q8) };
        } else {
            let mut tmp = [0i8; 16];
            // SAFETY: AVX2; `tmp` holds 16 bytes.
            unsafe { _mm_storeu_si128(tmp.as_mut_ptr() as *mut _, q8) };
            // SAFETY: `y` has the unit's `valid` < 8 outputs (the trait's # Safety); `tmp` is
            // a separate local.
            unsafe { core::ptr::copy_nonoverlapping(tmp.as_ptr(), y, r.valid) };
        }
    }
    #[inline(never)]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn rows<const MM: usize>(g: &Geom, t: &driver::Tile<Self>, r0: usize, r1: usize) {
        // SAFETY: `rows`' contract is `rows_of`'s (the driver calls it with `t` from `conv`).
        unsafe { driver::rows_of::<Self, MM>(g, t, r0, r1) }
    }
}
