//! NEON int8 dense layer on BLOCKED weights: the shared dense driver
//! (`kernels/dense_driver_i8.rs`) with the `smull`/`sadalp` step of `neon_conv2d_i8`, and the
//! driver instantiation the `sdot` kernel shares ([`tiles`], generic over the step).

use super::neon_conv2d_i8::{DotI8, Smull};
use crate::format::packing::Blocked;
use crate::kernels::dense_driver_i8 as driver;
use crate::kernels::DenseI8;

/// int8 dense, NEON. Falls back to the scalar reference for other packings.
pub(super) fn neon_dense_i8(a: &DenseI8<'_>, n0: usize, y: &mut [i8]) {
    // SAFETY: NEON is baseline on the targets that build this set (`tiles`' features).
    unsafe { driver::blocked_or_scalar(a, n0, y, tiles::<Smull>) }
}

/// The driver compiled with NEON, for step `D`.
///
/// # Safety
/// The CPU has `D`'s instructions, and `b` is `dense_shape`'s result for these arguments.
#[target_feature(enable = "neon")]
pub(super) unsafe fn tiles<D: DotI8>(a: &DenseI8<'_>, b: &Blocked, n0: usize, y: &mut [i8]) {
    // SAFETY: `dense`'s contract is this function's (# Safety).
    unsafe { driver::dense::<D>(a, b, n0, y) }
}
