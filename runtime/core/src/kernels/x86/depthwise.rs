//! The depthwise body ([`crate::kernels::depthwise`]) compiled with each x86 set's target
//! features, so LLVM vectorizes its channel lanes as AVX2 (ymm) or AVX-512 BW (zmm).
//! Each returns `false` when the conv isn't depthwise (nothing written).

use crate::kernels::{depthwise, ConvF32, ConvI8};

/// # Safety
/// The CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn avx2_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8]) -> bool {
    depthwise::conv2d_i8(a, oy0, y)
}

/// # Safety
/// The CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn avx2_f32(a: &ConvF32<'_>, oy0: usize, y: &mut [f32]) -> bool {
    depthwise::conv2d_f32(a, oy0, y)
}

/// # Safety
/// The CPU has AVX-512 F, BW and VL (and AVX2/FMA).
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn avx512_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8]) -> bool {
    depthwise::conv2d_i8(a, oy0, y)
}

/// # Safety
/// The CPU has AVX-512 F, BW and VL (and AVX2/FMA).
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn avx512_f32(a: &ConvF32<'_>, oy0: usize, y: &mut [f32]) -> bool {
    depthwise::conv2d_f32(a, oy0, y)
}
