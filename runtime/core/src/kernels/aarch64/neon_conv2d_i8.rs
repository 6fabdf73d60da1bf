//! NEON int8 convolution on BLOCKED weights: the dot-product step [`DotI8`] the aarch64
//! conv and dense kernels are generic over, its NEON implementation [`Smull`], and the
//! micro-kernel of the shared tile driver (`kernels/conv_driver_i8.rs`) every `DotI8` makes.
//!
//! Per group of 4 input channels, the 64-byte weight row (16 output channels x 4 input
//! channels) is four registers; each pixel's 4 input bytes are broadcast and meet them in
//! [`DotI8::step`]. Without the dot product ([`Smull`]) the step is `smull`/`smull2` (int8 x
//! int8 -> int16, exact) and `sadalp` (pairwise add into int32): 8 accumulators of
//! (channel, half-sum) pairs per pixel, folded with `addp` at the end. A unit is a block of
//! 16 channels; a tile holds `DotI8::PIXELS` pixels x 1 block. Requantization: [`Requant`].

use core::arch::aarch64::*;

use super::common::{store_i8, Requant};
use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::conv_driver_i8::{self as driver, MicroI8};
use crate::kernels::{ConvI8, Geom, QOut};

/// One int8 dot-product step: 16 output channels x 4 input channels against the 4 input
/// bytes of one pixel.
pub(crate) trait DotI8 {
    /// The accumulators of one pixel x 16 output channels.
    type Acc: Copy;
    /// Pixels per micro-tile the accumulators leave registers for (4 or 2).
    const PIXELS: usize;
    /// Tiles of at most this many pixels alternate two accumulator sets (see
    /// [`MicroI8::DUAL`]).
    const DUAL: usize;
    /// Zeroed accumulators.
    ///
    /// # Safety
    /// The CPU has NEON (every target that builds this module's kernel sets).
    unsafe fn zero() -> Self::Acc;
    /// `acc[c] += Σ_i w[c][i] * x[i]` for the 16 channels `c` of the row `w` (channel `c`
    /// in bytes `4c..4c + 4`), `x` the pixel's 4 bytes repeated 4 times.
    ///
    /// # Safety
    /// The CPU has the instructions of the implementation (the kernel set was handed out).
    unsafe fn step(acc: &mut Self::Acc, w: &[int8x16_t; 4], x: int8x16_t);
    /// `a + b`, lane by lane.
    ///
    /// # Safety
    /// As [`DotI8::zero`].
    unsafe fn add(a: Self::Acc, b: Self::Acc) -> Self::Acc;
    /// The 16 channel sums, channels in order, 4 per vector.
    ///
    /// # Safety
    /// As [`DotI8::zero`].
    unsafe fn finish(acc: Self::Acc) -> [int32x4_t; 4];
}

/// The NEON step: `smull`/`smull2` + `sadalp`, then `addp`.
pub(super) struct Smull;

impl DotI8 for Smull {
    type Acc = [int32x4_t; 8];
    const PIXELS: usize = 2;
    const DUAL: usize = 1;
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn zero() -> Self::Acc {
        [vdupq_n_s32(0); 8]
    }
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn step(acc: &mut Self::Acc, w: &[int8x16_t; 4], x: int8x16_t) {
        let xl = vget_low_s8(x);
        for r in 0..4 {
            // Channels 4r, 4r+1 (low half) and 4r+2, 4r+3 (high half): 8 products each,
            // added in pairs into (channel, half-sum) lanes.
            acc[2 * r] = vpadalq_s16(acc[2 * r], vmull_s8(vget_low_s8(w[r]), xl));
            acc[2 * r + 1] = vpadalq_s16(acc[2 * r + 1], vmull_high_s8(w[r], x));
        }
    }
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn add(a: Self::Acc, b: Self::Acc) -> Self::Acc {
        core::array::from_fn(|i| vaddq_s32(a[i], b[i]))
    }
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn finish(acc: Self::Acc) -> [int32x4_t; 4] {
        [
            vpaddq_s32(acc[0], acc[1]),
            vpaddq_s32(acc[2], acc[3]),
            vpaddq_s32(acc[4], acc[5]),
            vpaddq_s32(acc[6], acc[7]),
        ]
    }
}

/// int8 convolution, NEON. Falls back to the scalar reference for other packings.
pub(super) fn neon_conv2d_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8], scratch: &mut [u8]) {
    // SAFETY: NEON is baseline on the targets that build this set (`tiles`' features).
    unsafe { driver::blocked_or_scalar::<Smull>(a, oy0, y, scratch, tiles::<Smull>) }
}

/// The driver compiled with NEON, for step `D`.
///
/// # Safety
/// The CPU has `D`'s instructions, and `b` is `conv_shape`'s result for these arguments.
#[target_feature(enable = "neon")]
pub(super) unsafe fn tiles<D: DotI8>(a: &ConvI8<'_>, b: &Blocked, oy0: usize, y: &mut [i8], scratch: &mut [u8]) {
    // SAFETY: the CPU and `b` as `conv` needs them (# Safety); `blocked_or_scalar`, the only
    // caller, checked the scratch holds `scratch_bytes`.
    unsafe { driver::conv::<D>(a, b, oy0, y, scratch) }
}

/// Every dot-product step is a micro-kernel: one block of 16 channels per unit.
impl<D: DotI8> MicroI8 for D {
    type Acc = D::Acc;
    type W = [int8x16_t; 4];
    type X = int8x16_t;
    type Req = (Requant, usize);
    const UNIT: usize = 16;
    const N: usize = D::PIXELS;
    const M: usize = 1;
    const DUAL: usize = D::DUAL;
    const DENSE_UNITS: usize = 1;
    const X_ADD: i32 = 0;
    #[inline(always)]
    unsafe fn zero() -> D::Acc {
        // SAFETY: `D`'s instructions (the trait's # Safety).
        unsafe { D::zero() }
    }
    #[inline(always)]
    unsafe fn add(a: D::Acc, b: D::Acc) -> D::Acc {
        // SAFETY: `D`'s instructions (the trait's # Safety).
        unsafe { D::add(a, b) }
    }
    #[inline(always)]
    unsafe fn load_w(p: *const i8) -> [int8x16_t; 4] {
        // SAFETY: NEON, and `p` points at a 64-byte row (the trait's # Safety).
        unsafe { [vld1q_s8(p), vld1q_s8(p.add(16)), vld1q_s8(p.add(32)), vld1q_s8(p.add(48))] }
    }
    #[inline(always)]
    unsafe fn bcast(x: i32) -> int8x16_t {
        // SAFETY: NEON (the trait's # Safety).
        unsafe { vreinterpretq_s8_s32(vdupq_n_s32(x)) }
    }
    #[inline(always)]
    unsafe fn step(acc: &mut D::Acc, w: &[int8x16_t; 4], x: int8x16_t) {
        // SAFETY: `D`'s instructions (the trait's # Safety).
        unsafe { D::step(acc, w, x) }
    }
    #[inline(always)]
    unsafe fn req(init: &[i32], mult: &[f32], valid: usize, q: QOut) -> (Requant, usize) {
        let (mut i, mut m) = ([0i32; 16], [0f32; 16]);
        i.copy_from_slice(&init[..16]);
        m.copy_from_slice(&mult[..16]);
        // SAFETY: NEON (the trait's # Safety).
        (unsafe { Requant::new(&i, &m, q) }, valid)
    }
    #[inline(always)]
    unsafe fn sums(acc: D::Acc) -> [i32; OC_BLOCK] {
        let mut s = [0i32; OC_BLOCK];
        // SAFETY: `D`'s instructions (the trait's # Safety).
        let f = unsafe { D::finish(acc) };
        for (i, v) in f.into_iter().enumerate() {
            // SAFETY: NEON; `s` holds 16 i32s, `4i + 4 <= 16`.
            unsafe { vst1q_s32(s[4 * i..].as_mut_ptr(), v) };
        }
        s
    }
    #[inline(always)]
    unsafe fn store(acc: D::Acc, r: &(Requant, usize), y: *mut i8) {
        // SAFETY: `D`'s instructions (the trait's # Safety).
        let v = unsafe { r.0.apply(D::finish(acc)) };
        // SAFETY: `y` has the unit's `valid` (`r.1`) outputs (the trait's # Safety).
        unsafe { store_i8(y, v, r.1) }
    }
    #[inline(never)]
    #[target_feature(enable = "neon")]
    unsafe fn rows<const MM: usize>(g: &Geom, t: &driver::Tile<Self>, r0: usize, r1: usize) {
        // SAFETY: `rows`' contract is `rows_of`'s (the driver calls it with `t` from `conv`).
        unsafe { driver::rows_of::<Self, MM>(g, t, r0, r1) }
    }
}
