//! Cortex-M4/M7 (Armv7E-M) kernel set `dsp`: int8 convolution and dense layers with the
//! DSP extension's dual 16x16 multiply-accumulate (`smlad`) on sign-extended byte pairs
//! (`sxtb16`, `sxtab16`), as CMSIS-NN does; depthwise convolution with the channel-lane
//! kernel; f32 ops, pools and quantization use the scalar reference (the M4F/M7 FPU has no
//! SIMD).
//!
//! The set is handed out ([`dsp`]) when the build targets an Armv7E-M core:
//! `cfg(kestrel_arm_dsp)`, set by `runtime/core/build.rs` from the target name, since
//! stable rustc hides Arm target features from `cfg(target_feature)`. On every other
//! target the module compiles only for this crate's unit tests, with portable versions of
//! the instructions (`instr.rs`), so `cargo test` on the host checks the kernels against
//! the reference; `scripts/cortex-m-kernel-test.sh` checks them on the real instructions
//! under qemu-system-arm.

#[cfg(any(kestrel_arm_dsp, test))]
mod common;
#[cfg(any(kestrel_arm_dsp, test))]
mod dsp_conv2d_i8;
#[cfg(any(kestrel_arm_dsp, test))]
mod dsp_dense_i8;
#[cfg(any(kestrel_arm_dsp, test))]
mod dsp_dwconv2d_i8;
#[cfg(any(kestrel_arm_dsp, test))]
mod instr;
#[cfg(any(kestrel_arm_dsp, test))]
mod quad;

use super::Kernels;

/// The Armv7E-M DSP kernel set, if this build targets a core with the DSP extension
/// (Cortex-M4/M7; in this crate's unit tests, also the host, through portable code).
pub fn dsp() -> Option<&'static Kernels> {
    #[cfg(any(kestrel_arm_dsp, test))]
    return Some(&DSP);
    #[cfg(not(any(kestrel_arm_dsp, test)))]
    None
}

#[cfg(any(kestrel_arm_dsp, test))]
static DSP: Kernels = Kernels {
    name: "dsp",
    conv2d_i8: dsp_conv2d_i8::dsp_conv2d_i8,
    conv2d_i8_scratch: super::no_scratch,
    conv2d_f32: super::scalar_conv2d_f32_slot,
    conv2d_f32_scratch: super::no_scratch,
    dwconv2d_i8: dsp_dwconv2d_i8::dsp_dwconv2d_i8,
    dwconv2d_f32: super::scalar_dwconv2d_f32,
    dense_i8: dsp_dense_i8::dsp_dense_i8,
    dense_f32: super::scalar_dense_f32,
    maxpool_i8: super::scalar_maxpool_i8,
    maxpool_f32: super::scalar_maxpool_f32,
    avgpool_i8: super::avgpool::lanes_avgpool_i8,
    avgpool_f32: super::scalar_avgpool_f32,
    quantize: super::scalar_quantize,
    mul_i8: super::scalar_mul_i8,
    mul_f32: super::scalar_mul_f32,
};

#[cfg(test)]
mod tests;
