//! int8 depthwise convolution, AVX2 set: the channel-lane kernel
//! ([`crate::kernels::depthwise`]) compiled with AVX2 (ymm) lanes.

use crate::kernels::{depthwise, ConvI8};

/// # Safety
/// The CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn body(a: &ConvI8<'_>, oy0: usize, y: &mut [i8]) {
    depthwise::dwconv2d_i8(a, oy0, y)
}

/// int8 depthwise convolution (the `dwconv2d_i8` slot).
pub(super) fn avx2_dwconv2d_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8]) {
    // SAFETY: reachable only through kernel sets handed out after checking AVX2 and FMA.
    unsafe { body(a, oy0, y) }
}
