//! AVX2 int8 dense layer on BLOCKED weights: the shared dense driver
//! (`kernels/dense_driver_i8.rs`) with the `vpmaddwd` micro-kernel of `avx2_conv2d_i8`
//! (exact widening multiplies; two units of 8 outputs, one weight row, per pass).

use super::avx2_conv2d_i8::Madd;
use crate::format::packing::Blocked;
use crate::kernels::dense_driver_i8 as driver;
use crate::kernels::DenseI8;

/// int8 dense, AVX2. Falls back to the scalar reference for other packings.
pub(super) fn avx2_dense_i8(a: &DenseI8<'_>, n0: usize, y: &mut [i8]) {
    // SAFETY: reachable only through kernel sets handed out after checking the CPU has
    // AVX2 and FMA (`tiles`' features).
    unsafe { driver::blocked_or_scalar(a, n0, y, tiles) }
}

/// The driver compiled with AVX2.
///
/// # Safety
/// The CPU has AVX2 and FMA, and `b` is `dense_shape`'s result for these arguments.
#[target_feature(enable = "avx2,fma")]
unsafe fn tiles(a: &DenseI8<'_>, b: &Blocked, n0: usize, y: &mut [i8]) {
    // SAFETY: `dense`'s contract is this function's (# Safety).
    unsafe { driver::dense::<Madd>(a, b, n0, y) }
}
