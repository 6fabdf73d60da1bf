//! The channel-lane bodies (depthwise conv: [`crate::kernels::depthwise`]; average pool:
//! [`crate::kernels::avgpool`]) compiled with each x86 set's target features, so LLVM
//! vectorizes their lanes as AVX2 (ymm) or AVX-512 BW (zmm). The conv functions return
//! `false` when the conv isn't depthwise (nothing written); the pools fall back to the
//! scalar reference themselves.

use crate::kernels::{avgpool, depthwise, scalar_avgpool_f32, ConvF32, ConvI8, Geom};

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

/// # Safety
/// The CPU has AVX-512 F, BW and VL (and AVX2/FMA).
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
unsafe fn avx512_avgpool_i8_body(g: &Geom, incl: bool, zx: i32, x: &[i8], oy0: usize, y: &mut [i8]) {
    avgpool::lanes_avgpool_i8(g, incl, zx, x, oy0, y)
}

/// # Safety
/// The CPU has AVX-512 F, BW and VL (and AVX2/FMA).
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
unsafe fn avx512_avgpool_f32_body(g: &Geom, incl: bool, x: &[f32], oy0: usize, y: &mut [f32]) {
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

/// int8 average pool, AVX-512 VNNI set: the lane kernel compiled with AVX-512.
pub(super) fn avx512_avgpool_i8(g: &Geom, incl: bool, zx: i32, x: &[i8], oy0: usize, y: &mut [i8]) {
    // SAFETY: reachable only through the AVX512VNNI set (AVX-512 F/BW/VL checked).
    unsafe { avx512_avgpool_i8_body(g, incl, zx, x, oy0, y) }
}

/// f32 average pool, AVX-512 VNNI set: the reference's row loops compiled with AVX-512.
pub(super) fn avx512_avgpool_f32(g: &Geom, incl: bool, x: &[f32], oy0: usize, y: &mut [f32]) {
    // SAFETY: reachable only through the AVX512VNNI set (AVX-512 F/BW/VL checked).
    unsafe { avx512_avgpool_f32_body(g, incl, x, oy0, y) }
}
