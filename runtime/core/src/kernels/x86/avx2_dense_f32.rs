//! AVX2 + FMA f32 dense layer on BLOCKED weights: the shared dense driver
//! (`kernels/dense_driver_f32.rs`) with the FMA micro-kernel of `avx2_conv2d_f32` (two blocks of 16 outputs per pass).

use super::avx2_conv2d_f32::Fma256;
use crate::format::packing::Blocked;
use crate::kernels::dense_driver_f32 as driver;
use crate::kernels::DenseF32;

/// f32 dense, AVX2 + FMA. Falls back to the scalar reference for other packings.
pub(super) fn avx2_dense_f32(a: &DenseF32<'_>, n0: usize, y: &mut [f32]) {
    // SAFETY: reachable only through kernel sets handed out after checking the CPU has AVX2 and FMA (`tiles`' features).
    unsafe { driver::blocked_or_scalar(a, n0, y, tiles) }
}

/// The driver compiled with AVX2 + FMA.
///
/// # Safety
/// The CPU has AVX2 + FMA, and `b` is `dense_shape`'s result for these arguments.
#[target_feature(enable = "avx2,fma")]
unsafe fn tiles(a: &DenseF32<'_>, b: &Blocked, n0: usize, y: &mut [f32]) {
    // SAFETY: `dense`'s contract is this function's (# Safety).
    unsafe { driver::dense::<Fma256>(a, b, n0, y) }
}
