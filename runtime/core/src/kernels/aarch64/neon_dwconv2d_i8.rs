//! int8 depthwise convolution, NEON sets: the channel-lane kernel
//! ([`crate::kernels::depthwise`]), whose lanes LLVM vectorizes with aarch64's baseline
//! NEON (one input channel per output leaves `sdot` nothing to sum, so the dot-product set uses it too).

use crate::kernels::{depthwise, ConvI8};

/// int8 depthwise convolution (the `dwconv2d_i8` slot).
pub(super) fn neon_dwconv2d_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8]) {
    depthwise::dwconv2d_i8(a, oy0, y)
}
