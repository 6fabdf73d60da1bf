//! f32 depthwise convolution, AVX2 set: the channel-lane kernel
//! ([`crate::kernels::depthwise`]) compiled with AVX2 (ymm) lanes.

use crate::kernels::{depthwise, ConvF32};

/// # Safety
/// The CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn body(a: &ConvF32<'_>, oy0: usize, y: &mut [f32]) {
    depthwise::dwconv2d_f32(a, oy0, y)
}

/// f32 depthwise convolution (the `dwconv2d_f32` slot).
pub(super) fn avx2_dwconv2d_f32(a: &ConvF32<'_>, oy0: usize, y: &mut [f32]) {
    // SAFETY: reachable only through kernel sets handed out after checking AVX2 and FMA.
    unsafe { body(a, oy0, y) }
}
