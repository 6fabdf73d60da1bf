//! aarch64 kernel sets: NEON (baseline on aarch64) and NEON + dot product (`sdot`).
//!
//! A set is only handed out ([`neon`], [`neon_dotprod`]) when the CPU has its features:
//! `dotprod` is asked at run time with the `std` feature (and in this crate's tests,
//! `is_aarch64_feature_detected!`), fixed at build time by `cfg(target_feature)` otherwise;
//! NEON is part of every aarch64 Linux/Android/Apple target (checked with
//! `cfg(target_feature = "neon")`, so soft-float targets get neither set). The kernels' safe
//! entry points are private to this module and reachable only through those sets, which is
//! what makes their `sdot` instructions sound. On other architectures both functions return
//! `None` and nothing here is compiled but them, so every target still builds this module.
//!
//! Both sets read the BLOCKED packing as x86 does: a 64-byte weight row (16 output
//! channels x 4 input channels) is four 128-bit registers, and one group of 4 input
//! channels of a pixel, broadcast, meets it with `sdot` (4 accumulators of 4 channels) or,
//! without the dot product, with `smull` + `sadalp` (exact widening multiplies).

#[cfg(target_arch = "aarch64")]
mod common;
#[cfg(target_arch = "aarch64")]
mod neon_conv2d_f32;
#[cfg(target_arch = "aarch64")]
mod neon_conv2d_i8;
#[cfg(target_arch = "aarch64")]
mod neon_dense_f32;
#[cfg(target_arch = "aarch64")]
mod neon_dense_i8;
#[cfg(target_arch = "aarch64")]
mod neon_dwconv2d_f32;
#[cfg(target_arch = "aarch64")]
mod neon_dwconv2d_i8;
#[cfg(target_arch = "aarch64")]
mod neon_maxpool;
#[cfg(target_arch = "aarch64")]
mod neon_quantize;
#[cfg(target_arch = "aarch64")]
mod sdot_conv2d_i8;
#[cfg(target_arch = "aarch64")]
mod sdot_dense_i8;

use super::Kernels;

/// The NEON kernel set, on aarch64 targets with NEON (all but soft-float ones).
pub fn neon() -> Option<&'static Kernels> {
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    return Some(&NEON);
    #[allow(unreachable_code)]
    None
}

/// The NEON + dot product kernel set (int8 conv/dense with `sdot`), if this CPU (or
/// build) has the Armv8.2 dot product extension (`dotprod`).
pub fn neon_dotprod() -> Option<&'static Kernels> {
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    if detect::dotprod() {
        return Some(&NEON_DOTPROD);
    }
    None
}

#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
static NEON: Kernels = Kernels {
    name: "neon",
    conv2d_i8: neon_conv2d_i8::neon_conv2d_i8,
    conv2d_i8_scratch: super::conv_driver_i8::scratch_bytes::<neon_conv2d_i8::Smull>,
    conv2d_f32: neon_conv2d_f32::neon_conv2d_f32,
    conv2d_f32_scratch: super::conv_driver_f32::scratch_bytes,
    dwconv2d_i8: neon_dwconv2d_i8::neon_dwconv2d_i8,
    dwconv2d_f32: neon_dwconv2d_f32::neon_dwconv2d_f32,
    dense_i8: neon_dense_i8::neon_dense_i8,
    dense_f32: neon_dense_f32::neon_dense_f32,
    maxpool_i8: neon_maxpool::neon_maxpool_i8,
    maxpool_f32: neon_maxpool::neon_maxpool_f32,
    avgpool_i8: crate::kernels::avgpool::lanes_avgpool_i8,
    avgpool_f32: crate::kernels::scalar_avgpool_f32, // row loops NEON-vectorized as they are
    quantize: neon_quantize::neon_quantize,
    mul_i8: super::scalar_mul_i8,
    mul_f32: super::scalar_mul_f32,
};

#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
static NEON_DOTPROD: Kernels = Kernels {
    name: "neon-dotprod",
    conv2d_i8: sdot_conv2d_i8::sdot_conv2d_i8,
    conv2d_i8_scratch: super::conv_driver_i8::scratch_bytes::<sdot_conv2d_i8::Sdot>,
    conv2d_f32: neon_conv2d_f32::neon_conv2d_f32,
    conv2d_f32_scratch: super::conv_driver_f32::scratch_bytes,
    dwconv2d_i8: neon_dwconv2d_i8::neon_dwconv2d_i8,
    dwconv2d_f32: neon_dwconv2d_f32::neon_dwconv2d_f32,
    dense_i8: sdot_dense_i8::sdot_dense_i8,
    dense_f32: neon_dense_f32::neon_dense_f32,
    maxpool_i8: neon_maxpool::neon_maxpool_i8,
    maxpool_f32: neon_maxpool::neon_maxpool_f32,
    avgpool_i8: crate::kernels::avgpool::lanes_avgpool_i8,
    avgpool_f32: crate::kernels::scalar_avgpool_f32, // row loops NEON-vectorized as they are
    quantize: neon_quantize::neon_quantize,
    mul_i8: super::scalar_mul_i8,
    mul_f32: super::scalar_mul_f32,
};

#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
mod detect {
    #[cfg(any(test, feature = "std"))]
    pub fn dotprod() -> bool {
        std::arch::is_aarch64_feature_detected!("dotprod")
    }
    #[cfg(not(any(test, feature = "std")))]
    pub fn dotprod() -> bool {
        cfg!(target_feature = "dotprod")
    }
}
