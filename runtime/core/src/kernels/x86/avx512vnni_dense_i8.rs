//! AVX-512 VNNI int8 dense layer on BLOCKED weights: the shared dense driver
//! (`kernels/dense_driver_i8.rs`) with the `vpdpbusd` micro-kernel of `avx512vnni_conv2d_i8`
//! (four blocks of 16 outputs per pass over the input).

use super::avx512vnni_conv2d_i8::Vnni;
use crate::format::packing::Blocked;
use crate::kernels::dense_driver_i8 as driver;
use crate::kernels::DenseI8;

/// int8 dense, AVX-512 VNNI. Falls back to the scalar reference for other packings.
pub(super) fn avx512vnni_dense_i8(a: &DenseI8<'_>, n0: usize, y: &mut [i8]) {
    // SAFETY: reachable only through the AVX512VNNI kernel set (CPU checked by
    // `x86::avx512vnni()`, `tiles`' features).
    unsafe { driver::blocked_or_scalar(a, n0, y, tiles) }
}

/// The driver compiled with AVX-512 VNNI.
///
/// # Safety
/// The CPU has AVX-512 F/BW/VL/VNNI, and `b` is `dense_shape`'s result for these arguments.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn tiles(a: &DenseI8<'_>, b: &Blocked, n0: usize, y: &mut [i8]) {
    // SAFETY: `dense`'s contract is this function's (# Safety).
    unsafe { driver::dense::<Vnni>(a, b, n0, y) }
}
