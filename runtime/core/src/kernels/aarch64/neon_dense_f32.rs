//! NEON f32 dense layer on BLOCKED weights: the shared dense driver
//! (`kernels/dense_driver_f32.rs`) with the FMA micro-kernel of `neon_conv2d_f32` (two blocks of 16 outputs per pass).

use super::neon_conv2d_f32::Fmla;
use crate::format::packing::Blocked;
use crate::kernels::dense_driver_f32 as driver;
use crate::kernels::DenseF32;

/// f32 dense, NEON. Falls back to the scalar reference for other packings.
pub(super) fn neon_dense_f32(a: &DenseF32<'_>, n0: usize, y: &mut [f32]) {
    // SAFETY: NEON is baseline on the targets that build this set (`tiles`' features).
    unsafe { driver::blocked_or_scalar(a, n0, y, tiles) }
}

/// The driver compiled with NEON.
///
/// # Safety
/// The CPU has NEON, and `b` is `dense_shape`'s result for these arguments.
#[target_feature(enable = "neon")]
unsafe fn tiles(a: &DenseF32<'_>, b: &Blocked, n0: usize, y: &mut [f32]) {
    // SAFETY: `dense`'s contract is this function's (# Safety).
    unsafe { driver::dense::<Fmla>(a, b, n0, y) }
}
