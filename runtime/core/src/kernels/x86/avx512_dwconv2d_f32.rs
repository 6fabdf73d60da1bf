//! f32 depthwise convolution, AVX-512 set: the channel-lane kernel
//! ([`crate::kernels::depthwise`]) compiled with AVX-512 BW (zmm) lanes.

use crate::kernels::{depthwise, ConvF32};

/// # Safety
/// The CPU has AVX-512 F, BW and VL (and AVX2/FMA).
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
unsafe fn body(a: &ConvF32<'_>, oy0: usize, y: &mut [f32]) {
    depthwise::dwconv2d_f32(a, oy0, y)
}

/// f32 depthwise convolution (the `dwconv2d_f32` slot).
pub(super) fn avx512_dwconv2d_f32(a: &ConvF32<'_>, oy0: usize, y: &mut [f32]) {
    // SAFETY: reachable only through the AVX512VNNI set (AVX-512 F/BW/VL checked).
    unsafe { body(a, oy0, y) }
}
