//! x86_64 kernel sets: AVX2 (+FMA) and AVX-512 VNNI (`vpdpbusd`, with AVX-512 FMA for f32).
//!
//! A set is only handed out ([`avx2`], [`avx512vnni`]) when the CPU has its features:
//! asked at run time with the `std` feature (and in this crate's tests), fixed at build
//! time by `cfg(target_feature)` otherwise. The kernels' safe entry points are private to
//! this module and reachable only through those sets, which is what makes calling their
//! `#[target_feature]` bodies sound. On other architectures both functions return `None`
//! and nothing here is compiled but them, so every target still builds this module.

#[cfg(target_arch = "x86_64")]
mod avx2_avgpool;
#[cfg(target_arch = "x86_64")]
mod avx2_conv2d_f32;
#[cfg(target_arch = "x86_64")]
mod avx2_conv2d_i8;
#[cfg(target_arch = "x86_64")]
mod avx2_dense_f32;
#[cfg(target_arch = "x86_64")]
mod avx2_dense_i8;
#[cfg(target_arch = "x86_64")]
mod avx2_dwconv2d_f32;
#[cfg(target_arch = "x86_64")]
mod avx2_dwconv2d_i8;
#[cfg(target_arch = "x86_64")]
mod avx2_maxpool;
#[cfg(target_arch = "x86_64")]
mod avx2_mul_i8;
#[cfg(target_arch = "x86_64")]
mod avx2_quantize;
#[cfg(target_arch = "x86_64")]
mod avx512_avgpool;
#[cfg(target_arch = "x86_64")]
mod avx512_conv2d_f32;
#[cfg(target_arch = "x86_64")]
mod avx512_dense_f32;
#[cfg(target_arch = "x86_64")]
mod avx512_dwconv2d_f32;
#[cfg(target_arch = "x86_64")]
mod avx512vnni_dwconv2d_i8;
#[cfg(target_arch = "x86_64")]
mod avx512vnni_conv2d_i8;
#[cfg(target_arch = "x86_64")]
mod avx512vnni_dense_i8;
#[cfg(target_arch = "x86_64")]
mod common;

use super::Kernels;

/// The AVX2 + FMA kernel set, if this CPU (or build) has AVX2 and FMA.
pub fn avx2() -> Option<&'static Kernels> {
    #[cfg(target_arch = "x86_64")]
    if detect::avx2() {
        return Some(&AVX2);
    }
    None
}

/// The AVX-512 VNNI kernel set (int8 with `vpdpbusd`, f32 with 512-bit FMA), if this CPU
/// (or build) has AVX-512 F, BW, VL and VNNI (and AVX2/FMA, which every such CPU has).
pub fn avx512vnni() -> Option<&'static Kernels> {
    #[cfg(target_arch = "x86_64")]
    if detect::avx512vnni() {
        return Some(&AVX512VNNI);
    }
    None
}

#[cfg(target_arch = "x86_64")]
static AVX2: Kernels = Kernels {
    name: "avx2",
    conv2d_i8: avx2_conv2d_i8::avx2_conv2d_i8,
    conv2d_i8_scratch: super::conv_driver_i8::scratch_bytes::<avx2_conv2d_i8::Madd>,
    conv2d_f32: avx2_conv2d_f32::avx2_conv2d_f32,
    conv2d_f32_scratch: super::conv_driver_f32::scratch_bytes,
    dwconv2d_i8: avx2_dwconv2d_i8::avx2_dwconv2d_i8,
    dwconv2d_f32: avx2_dwconv2d_f32::avx2_dwconv2d_f32,
    dense_i8: avx2_dense_i8::avx2_dense_i8,
    dense_f32: avx2_dense_f32::avx2_dense_f32,
    maxpool_i8: avx2_maxpool::avx2_maxpool_i8,
    maxpool_f32: avx2_maxpool::avx2_maxpool_f32,
    avgpool_i8: avx2_avgpool::avx2_avgpool_i8,
    avgpool_f32: avx2_avgpool::avx2_avgpool_f32,
    quantize: avx2_quantize::avx2_quantize,
    mul_i8: avx2_mul_i8::avx2_mul_i8,
    mul_f32: super::scalar_mul_f32,
};

#[cfg(target_arch = "x86_64")]
static AVX512VNNI: Kernels = Kernels {
    name: "avx512vnni",
    conv2d_i8: avx512vnni_conv2d_i8::avx512vnni_conv2d_i8,
    conv2d_i8_scratch: super::conv_driver_i8::scratch_bytes::<avx512vnni_conv2d_i8::Vnni>,
    conv2d_f32: avx512_conv2d_f32::avx512_conv2d_f32,
    conv2d_f32_scratch: super::conv_driver_f32::scratch_bytes,
    dwconv2d_i8: avx512vnni_dwconv2d_i8::avx512vnni_dwconv2d_i8,
    dwconv2d_f32: avx512_dwconv2d_f32::avx512_dwconv2d_f32,
    dense_i8: avx512vnni_dense_i8::avx512vnni_dense_i8,
    dense_f32: avx512_dense_f32::avx512_dense_f32,
    maxpool_i8: avx2_maxpool::avx2_maxpool_i8,
    maxpool_f32: avx2_maxpool::avx2_maxpool_f32,
    avgpool_i8: avx512_avgpool::avx512_avgpool_i8,
    avgpool_f32: avx512_avgpool::avx512_avgpool_f32,
    quantize: avx2_quantize::avx2_quantize,
    mul_i8: avx2_mul_i8::avx2_mul_i8,
    mul_f32: super::scalar_mul_f32,
};

#[cfg(target_arch = "x86_64")]
mod detect {
    #[cfg(any(test, feature = "std"))]
    pub fn avx2() -> bool {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(any(test, feature = "std"))]
    pub fn avx512vnni() -> bool {
        avx2()
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(any(test, feature = "std")))]
    pub fn avx2() -> bool {
        cfg!(all(target_feature = "avx2", target_feature = "fma"))
    }
    #[cfg(not(any(test, feature = "std")))]
    pub fn avx512vnni() -> bool {
        cfg!(all(
            target_feature = "avx2",
            target_feature = "fma",
            target_feature = "avx512f",
            target_feature = "avx512bw",
            target_feature = "avx512vl",
            target_feature = "avx512vnni"
        ))
    }
}
