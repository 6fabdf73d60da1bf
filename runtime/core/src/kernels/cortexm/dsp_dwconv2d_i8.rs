//! int8 depthwise convolution, Cortex-M `dsp` set: the channel-lane kernel
//! ([`crate::kernels::depthwise`]) in plain Thumb-2; its `[tap][channel]` weight table
//! avoids the 16 x 4 padding BLOCKED puts around each depthwise weight.

use crate::kernels::{depthwise, ConvI8};

/// int8 depthwise convolution (the `dwconv2d_i8` slot).
pub(super) fn dsp_dwconv2d_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8]) {
    depthwise::dwconv2d_i8(a, oy0, y)
}
