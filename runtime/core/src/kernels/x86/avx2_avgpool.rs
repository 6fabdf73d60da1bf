//! Average pool, AVX2 set: the int8 channel-lane kernel ([`crate::kernels::avgpool`])
//! and the f32 reference's row loops, compiled with AVX2 so LLVM vectorizes their lanes.

use crate::kernels::{avgpool, scalar_avgpool_f32, Geom};

/// # Safety
/// The CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_avgpool_i8_body(g: &Geom, incl: bool, zx: i32, x: &[i8], oy0: usize, y: &mut [i8]) {
    avgpool::lanes_avgpool_i8(g, incl, zx, x, oy0, y)
}

/// # Safety
/// The CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_avgpool_f32_body(g: &Geom, incl: bool, x: &[f32], oy0: usize, y: &mut [f32]) {
    scalar_avgpool_f32(g, incl, x, oy0, y)
}

/// int8 average pool, AVX2 set: the lane kernel compiled with AVX2.
pub(super) fn avx2_avgpool_i8(g: &Geom, incl: bool, zx: i32, x: &[i8], oy0: usize, y: &mut [i8]) {
    // SAFETY: reachable only through kernel sets handed out after checking AVX2 and FMA.
    unsafe { avx2_avgpool_i8_body(g, incl, zx, x, oy0, y) }
}

/// f32 average pool, AVX2 set: the reference's row loops compiled with AVX2.
pub(super) fn avx2_avgpool_f32(g: &Geom, incl: bool, x: &[f32], oy0: usize, y: &mut [f32]) {
    // SAFETY: reachable only through kernel sets handed out after checking AVX2 and FMA.
    unsafe { avx2_avgpool_f32_body(g, incl, x, oy0, y) }
}
