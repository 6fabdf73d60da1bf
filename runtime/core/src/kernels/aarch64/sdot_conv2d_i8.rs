//! int8 convolution with the Armv8.2 dot product (`sdot`) on BLOCKED weights: the shared
//! tile driver (`kernels/conv_driver_i8.rs`, through [`tiles`]) with a step of four `sdot`s, one per register of
//! the 64-byte weight row, each adding 4 channels' sums of 4 products into its 4 lanes.
//!
//! `vdotq_s32` is still unstable on stable Rust (`stdarch_neon_dotprod`), so the step is an
//! `asm!` block (`.arch_extension dotprod` lets the assembler accept it in a function
//! compiled without the feature; the instruction only runs where the CPU has it).
//! Exact: `sdot` multiplies int8 by int8 into int32 lanes, wrapping as the reference does.

use core::arch::aarch64::*;

use super::neon_conv2d_i8::{tiles, DotI8};
use crate::kernels::conv_driver_i8 as driver;
use crate::kernels::ConvI8;

/// `acc.s[i] += Σ_j a.b[4i + j] * b.b[4i + j]` (`sdot`, signed bytes).
///
/// # Safety
/// The CPU has the dot product extension.
#[inline]
#[target_feature(enable = "neon")]
pub(super) unsafe fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: the CPU has the dot product (# Safety); `sdot` reads and writes only the named
    // vector registers, never memory or flags.
    unsafe {
        core::arch::asm!(
            ".arch_extension dotprod",
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// The `sdot` step: 4 accumulators of 4 channels per pixel.
pub(super) struct Sdot;

impl DotI8 for Sdot {
    type Acc = [int32x4_t; 4];
    const PIXELS: usize = 4;
    const DUAL: usize = 2;
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn zero() -> Self::Acc {
        [vdupq_n_s32(0); 4]
    }
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn step(acc: &mut Self::Acc, w: &[int8x16_t; 4], x: int8x16_t) {
        for r in 0..4 {
            // SAFETY: the CPU has the dot product (the trait's # Safety: this set was handed
            // out after checking it).
            acc[r] = unsafe { sdot(acc[r], w[r], x) };
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
        acc
    }
}

/// int8 convolution, NEON + dot product. Falls back to the scalar reference for other
/// packings.
pub(super) fn sdot_conv2d_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8], scratch: &mut [u8]) {
    // SAFETY: reachable only through the neon-dotprod kernel set, handed out after
    // checking the CPU has the dot product (`tiles::<Sdot>` runs `sdot`).
    unsafe { driver::blocked_or_scalar::<Sdot>(a, oy0, y, scratch, tiles::<Sdot>) }
}
