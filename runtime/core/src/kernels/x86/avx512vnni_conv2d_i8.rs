//! AVX-512 VNNI int8 convolution on BLOCKED weights (`vpdpbusd`): the micro-kernel of the
//! shared tile driver (`kernels/conv_driver_i8.rs`, which holds the loops, padding, tails and
//! the interior/border split).
//!
//! `vpdpbusd` multiplies unsigned bytes by signed bytes, 4 at a time, into 16 i32 lanes.
//! The input's int8 values become unsigned by flipping their sign bit (`x ^ 0x80 = x + 128`,
//! hence `X_ADD = 128`), once per call into a scratch copy (`PRE_XOR`: a broadcast is then a
//! pure load, not a load, `vpxor` and a port-5 `vpbroadcastd zmm, xmm`); 4 input channels of one pixel are broadcast to all lanes and meet a
//! 64-byte weight row (16 output channels x 4 input channels). A tile holds up to 6 pixels x
//! 4 blocks of 16 channels in 24 of the 32 zmm registers.
//!
//! Requantization is the rule of `kernels/mod.rs`: `vcvtdq2ps`, `vmulps`, clamp with
//! `vmaxps`/`vminps` (NaN-free: validated multipliers), `vcvtps2dq` rounds half to even
//! under the default MXCSR, exactly like the reference's `1.5 * 2^23` trick for |v| < 2^22,
//! then `+ zy` and a truncating `vpmovdb` of in-range values.

use core::arch::x86_64::*;

use super::common::lane_mask;
use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::conv_driver_i8::{self as driver, MicroI8};
use crate::kernels::{ConvI8, Geom, QOut};

/// int8 convolution, AVX-512 VNNI. Falls back to the scalar reference for other packings.
pub(super) fn avx512vnni_conv2d_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8], scratch: &mut [u8]) {
    // SAFETY: this function is reachable only through the AVX512VNNI kernel set, which
    // `x86::avx512vnni()` hands out after checking the CPU has `tiles`' features.
    unsafe { driver::blocked_or_scalar::<Vnni>(a, oy0, y, scratch, tiles) }
}

/// The driver compiled with AVX-512 VNNI.
///
/// # Safety
/// The CPU has AVX-512 F/BW/VL/VNNI, and `b` is `conv_shape`'s result for these arguments.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn tiles(a: &ConvI8<'_>, b: &Blocked, oy0: usize, y: &mut [i8], scratch: &mut [u8]) {
    // SAFETY: the CPU and `b` as `conv` needs them (# Safety); `blocked_or_scalar`, the only
    // caller, checked the scratch holds `scratch_bytes`.
    unsafe { driver::conv::<Vnni>(a, b, oy0, y, scratch) }
}

/// The `vpdpbusd` step: one zmm of 16 channels per pixel and block.
pub(super) struct Vnni;

/// Store constants of one block.
#[derive(Clone, Copy)]
pub(super) struct Req {
    init: __m512i,
    mult: __m512,
    lo: __m512,
    hi: __m512,
    zy: __m512i,
    mask: u16,
}

impl MicroI8 for Vnni {
    type Acc = __m512i;
    type W = __m512i;
    type X = __m512i;
    type Req = Req;
    const UNIT: usize = 16;
    const N: usize = 6;
    const M: usize = 4;
    const DUAL: usize = 12;
    const DENSE_UNITS: usize = 4;
    const X_ADD: i32 = 128;
    #[inline(always)]
    unsafe fn zero() -> __m512i {
        // SAFETY: AVX-512 F (the trait's # Safety).
        unsafe { _mm512_setzero_si512() }
    }
    #[inline(always)]
    unsafe fn add(a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: AVX-512 F (the trait's # Safety).
        unsafe { _mm512_add_epi32(a, b) }
    }
    #[inline(always)]
    unsafe fn load_w(p: *const i8) -> __m512i {
        // SAFETY: AVX-512 F, and `p` points at a 64-byte row (the trait's # Safety).
        unsafe { _mm512_loadu_si512(p as *const _) }
    }
    #[inline(always)]
    unsafe fn bcast(x: i32) -> __m512i {
        // SAFETY: AVX-512 F (the trait's # Safety).
        unsafe { _mm512_xor_si512(_mm512_set1_epi32(x), _mm512_set1_epi32(0x8080_8080u32 as i32)) }
    }
    /// The conv driver flips the input once per call into scratch, so a broadcast is one
    /// `vpbroadcastd zmm, m32` (a load; no vector-ALU uop beside `vpdpbusd` on port 0/5).
    const PRE_XOR: u8 = 0x80;
    #[inline(always)]
    unsafe fn bcast_at(p: *const i8) -> __m512i {
        // SAFETY: AVX-512 F, and the 4 bytes at `p` are readable (the trait's # Safety);
        // `read_unaligned` needs no alignment.
        unsafe { _mm512_set1_epi32((p as *const i32).read_unaligned()) }
    }
    #[inline(always)]
    unsafe fn step(acc: &mut __m512i, w: &__m512i, x: __m512i) {
        // SAFETY: AVX-512 VNNI (the trait's # Safety).
        *acc = unsafe { _mm512_dpbusd_epi32(*acc, x, *w) };
    }
    #[inline(always)]
    unsafe fn req(init: &[i32], mult: &[f32], valid: usize, q: QOut) -> Req {
        // SAFETY: AVX-512 F (the trait's # Safety); the driver passes `OC_BLOCK` (16) values
        // in `init` and `mult`, what the 16-lane loads read.
        unsafe {
            Req {
                init: _mm512_loadu_si512(init.as_ptr() as *const _),
                mult: _mm512_loadu_ps(mult.as_ptr()),
                lo: _mm512_set1_ps((q.lo - q.zy) as f32),
                hi: _mm512_set1_ps((q.hi - q.zy) as f32),
                zy: _mm512_set1_epi32(q.zy),
                mask: lane_mask(valid),
            }
        }
    }
    #[inline(always)]
    unsafe fn sums(acc: __m512i) -> [i32; OC_BLOCK] {
        let mut s = [0i32; OC_BLOCK];
        // SAFETY: AVX-512 F (the trait's # Safety); `s` holds 16 i32s.
        unsafe { _mm512_storeu_si512(s.as_mut_ptr() as *mut _, acc) };
        s
    }
    #[inline(always)]
    unsafe fn store(acc: __m512i, r: &Req, y: *mut i8) {
        // SAFETY: AVX-512 F (the trait's # Safety); value intrinsics only.
        let q = unsafe {
            let v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc, r.init)), r.mult);
            let v = _mm512_min_ps(_mm512_max_ps(v, r.lo), r.hi);
            _mm512_add_epi32(_mm512_cvtps_epi32(v), r.zy)
        };
        // SAFETY: AVX-512 F; the mask writes only the `valid` lanes, which `y` has (the
        // trait's # Safety).
        unsafe { _mm512_mask_cvtepi32_storeu_epi8(y as *mut _, r.mask, q) };
    }
    #[inline(never)]
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn rows<const MM: usize>(g: &Geom, t: &driver::Tile<Self>, r0: usize, r1: usize) {
        // SAFETY: `rows`' contract is `rows_of`'s (the driver calls it with `t` from `conv`).
        unsafe { driver::rows_of::<Self, MM>(g, t, r0, r1) }
    }
}
