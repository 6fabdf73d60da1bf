//! int8 depthwise convolution, AVX-512 VNNI set: the micro-kernel of the depthwise driver
//! (`kernels/dwconv_driver_i8.rs`), 32 channels per block, two taps per `vpdpwssd`.
//!
//! A step loads the block's 32 int8 channels at each of two taps (a masked load: a tail
//! block reads only its channels), widens them to i16 (`vpmovsxbw`), interleaves the two
//! taps (`vpunpcklwd` / `vpunpckhwd`, within 128-bit lanes) and multiplies each i16 pair by
//! the pair `[w(t), w(t + 1)]` of the same channel, summed into i32 lanes (`vpdpwssd`, not
//! saturating: two products of int8 values fit easily). The interleave puts channel
//! `8L + j` (`j < 4`) in lane `4L + j` of the low accumulator and `8L + 4 + j` in lane
//! `4L + j` of the high one ([`Dw::order`] lays the weights out the same way); the store
//! puts the lanes back in channel order (`vpermt2d`) and requantizes with the VNNI conv's
//! own store (the rule of `kernels/mod.rs`).

use core::arch::x86_64::*;

use super::avx512vnni_conv2d_i8::{Req, Vnni};
use crate::kernels::conv_driver_i8::MicroI8;
use crate::kernels::dwconv_driver_i8::{self as driver, MicroDwI8, MAX_LANES};
use crate::kernels::{depthwise, scalar_dwconv2d_i8, ConvI8, QOut};

/// # Safety
/// The CPU has AVX-512 F, BW, VL and VNNI (and AVX2/FMA).
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn body(a: &ConvI8<'_>, oy0: usize, y: &mut [i8]) {
    if depthwise::takes_i8(a, oy0, y.len()) {
        // SAFETY: the CPU has `Dw`'s instructions (# Safety) and `takes_i8` accepted the
        // arguments: the driver's conditions.
        unsafe { driver::conv::<Dw>(a, oy0, y) }
    } else {
        scalar_dwconv2d_i8(a, oy0, y)
    }
}

/// int8 depthwise convolution (the `dwconv2d_i8` slot).
pub(super) fn avx512vnni_dwconv2d_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8]) {
    // SAFETY: reachable only through the AVX512VNNI set (AVX-512 F/BW/VL/VNNI checked).
    unsafe { body(a, oy0, y) }
}

/// The `vpdpwssd` depthwise step.
struct Dw;

/// Lanes of the low and high accumulators back in channel order: channels 0..16, 16..32.
const UNDO: [[u32; 16]; 2] = [
    [0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23],
    [8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31],
];

impl MicroDwI8 for Dw {
    const LANES: usize = 32;
    type Acc = [__m512i; 2];
    type W = [__m512i; 2];
    type Ld = __mmask32;
    type Req = ([Req; 2], bool);
    #[inline(always)]
    fn order(j: usize) -> usize {
        let (l, k) = (j / 8, j % 8);
        if k < 4 { 4 * l + k } else { 16 + 4 * l + k - 4 }
    }
    #[inline(always)]
    unsafe fn zero() -> [__m512i; 2] {
        // SAFETY: AVX-512 F (the trait's # Safety).
        unsafe { [_mm512_setzero_si512(); 2] }
    }
    #[inline(always)]
    unsafe fn load_w(p: *const i32) -> [__m512i; 2] {
        // SAFETY: AVX-512 F; `p` points at 32 i32s (the trait's # Safety).
        unsafe { [_mm512_loadu_si512(p as *const _), _mm512_loadu_si512(p.add(16) as *const _)] }
    }
    #[inline(always)]
    unsafe fn ld(n: usize) -> __mmask32 {
        if n >= 32 { u32::MAX } else { (1u32 << n) - 1 }
    }
    #[inline(always)]
    unsafe fn step(acc: &mut [__m512i; 2], w: &[__m512i; 2], xa: *const i8, xb: *const i8, ld: __mmask32) {
        // SAFETY: AVX-512 BW/VL/VNNI; the masked loads read only the block's channels at
        // `xa` and `xb`, which the caller vouches for (the trait's # Safety).
        unsafe {
            let a = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(ld, xa as *const _));
            let b = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(ld, xb as *const _));
            acc[0] = _mm512_dpwssd_epi32(acc[0], _mm512_unpacklo_epi16(a, b), w[0]);
            acc[1] = _mm512_dpwssd_epi32(acc[1], _mm512_unpackhi_epi16(a, b), w[1]);
        }
    }
    #[inline(always)]
    unsafe fn req(bias: &[i32; MAX_LANES], mult: &[f32; MAX_LANES], n: usize, q: QOut) -> ([Req; 2], bool) {
        // SAFETY: AVX-512 F (the trait's # Safety); each half passes 16 values.
        unsafe { ([Vnni::req(&bias[..16], &mult[..16], n.min(16), q), Vnni::req(&bias[16..], &mult[16..], n.saturating_sub(16), q)], n > 16) }
    }
    #[inline(always)]
    unsafe fn store(acc: [__m512i; 2], r: &([Req; 2], bool), y: *mut i8) {
        // SAFETY: AVX-512 F (the trait's # Safety); `UNDO` rows are 16 u32s.
        let (lo, hi) = unsafe {
            let i0 = _mm512_loadu_si512(UNDO[0].as_ptr() as *const _);
            let i1 = _mm512_loadu_si512(UNDO[1].as_ptr() as *const _);
            (_mm512_permutex2var_epi32(acc[0], i0, acc[1]), _mm512_permutex2var_epi32(acc[0], i1, acc[1]))
        };
        // SAFETY: the block's outputs at `y`: the first 16 (masked to `n`), then, where the
        // block has more than 16, the rest from `y + 16` (the trait's # Safety).
        unsafe {
            Vnni::store(lo, &r.0[0], y);
            if r.1 {
                Vnni::store(hi, &r.0[1], y.add(16));
            }
        }
    }
}
