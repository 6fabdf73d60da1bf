//! f32 depthwise convolution, NEON sets: the channel-lane kernel
//! ([`crate::kernels::depthwise`]), whose lanes LLVM vectorizes with aarch64's baseline
//! NEON.

use crate::kernels::{depthwise, ConvF32};

/// f32 depthwise convolution (the `dwconv2d_f32` slot).
pub(super) fn neon_dwconv2d_f32(a: &ConvF32<'_>, oy0: usize, y: &mut [f32]) {
    depthwise::dwconv2d_f32(a, oy0, y)
}
