//! AVX-512 f32 dense layer on BLOCKED weights: the shared dense driver
//! (`kernels/dense_driver_f32.rs`) with the FMA micro-kernel of `avx512_conv2d_f32` (four blocks of 16 outputs per pass).

use super::avx512_conv2d_f32::Fma512;
use crate::format::packing::Blocked;
use crate::kernels::dense_driver_f32 as driver;
use crate::kernels::DenseF32;

/// f32 dense, AVX-512. Falls back to the scalar reference for other packings.
pub(super) fn avx512_dense_f32(a: &DenseF32<'_>, n0: usize, y: &mut [f32]) {
    // SAFETY: reachable only through the AVX512VNNI kernel set (CPU checked, includes AVX-512 F) (`tiles`' features).
    unsafe { driver::blocked_or_scalar(a, n0, y, tiles) }
}

/// The driver compiled with AVX-512.
///
/// # Safety
/// The CPU has AVX-512, and `b` is `dense_shape`'s result for these arguments.
#[target_feature(enable = "avx2,fma,avx512f")]
unsafe fn tiles(a: &DenseF32<'_>, b: &Blocked, n0: usize, y: &mut [f32]) {
    // SAFETY: `dense`'s contract is this function's (# Safety).
    unsafe { driver::dense::<Fma512>(a, b, n0, y) }
}
