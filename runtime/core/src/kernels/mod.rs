//! Kernels: the argument types, the requantization rule, and the kernel table.
//!
//! Every op has a scalar reference here (`scalar_*`), which is the specification. Optimized
//! kernels (SIMD, per architecture) plug into [`Kernels`] by overriding its slots; they
//! must be bit-exact with the reference for int8.
//!
//! # The requantization rule
//! For an int8 conv/dense output channel `c` with int32 accumulator `acc` (bias included):
//! `y = clamp(round_half_even(f32(acc) * M[c]), lo - zy, hi - zy) + zy` where
//! `M[c] = (s_x * s_w[c]) / s_y` computed in f32 by the compiler (the rule ONNX Runtime's
//! MLAS uses for QLinearConv), the clamp happens in f32 before rounding, and `lo..=hi` is
//! the int8 range narrowed by a fused ReLU/Clip. Rounding is IEEE round-half-to-even via
//! `(v + 1.5·2^23) − 1.5·2^23`, exact for |v| < 2^22 (guaranteed by the clamp).

pub mod aarch64;
mod avgpool;
mod channel_lanes;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod conv_driver_f32;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod conv_driver_i8;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod conv_tiles;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod dense_driver_f32;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod dense_driver_i8;
pub mod cortexm;
mod depthwise;
#[cfg(target_arch = "x86_64")]
mod dwconv_driver_i8;
mod elementwise;
mod layout;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod maxpool_driver;
mod scalar_conv2d;
mod scalar_dense;
mod scalar_dwconv2d;
mod scalar_mul;
mod scalar_pad;
mod scalar_copy;
mod scalar_lrn;
mod scalar_pool;
mod scalar_softmax;
mod scalar_prelu;
mod scalar_unary;
pub mod x86;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", kestrel_arm_dsp, test))]
#[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64")), allow(dead_code))] // dsp: the checks only
mod simd_args;

/// Largest depthwise kernel (kh * kw) the depthwise kernels take (the compiler writes such
/// convs' weights PLAIN, which those kernels read without BLOCKED's padding).
pub use depthwise::MAX_TAPS as DEPTHWISE_MAX_TAPS;
pub use elementwise::{add_f32, add_i8, concat_part_f32, concat_part_i8, lut_i8};
pub use scalar_conv2d::{scalar_conv2d_f32, scalar_conv2d_i8};
pub use scalar_dense::{scalar_dense_f32, scalar_dense_i8};
pub use scalar_dwconv2d::{scalar_dwconv2d_f32, scalar_dwconv2d_i8};
pub use scalar_mul::{scalar_mul_f32, scalar_mul_i8};
pub use scalar_pad::pad;
pub use scalar_copy::strided_copy;
pub use scalar_lrn::{lrn_f32, lrn_i8};
pub use scalar_pool::{scalar_avgpool_f32, scalar_avgpool_i8, scalar_maxpool_f32, scalar_maxpool_i8};
pub use scalar_softmax::{softmax_f32, softmax_i8};
pub use scalar_prelu::{prelu_f32, prelu_i8};
pub use scalar_unary::unary_f32;
#[cfg(any(test, feature = "writer"))]
pub use layout::pack_blocked;
pub use layout::{pack_blocked_into, WLayout};

use crate::ops::Activation;

/// Window geometry shared by convolution and pooling (NHWC, batch 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geom {
    /// Input height.
    pub ih: usize,
    /// Input width.
    pub iw: usize,
    /// Input channels.
    pub ic: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Output channels.
    pub oc: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride height.
    pub sh: usize,
    /// Stride width.
    pub sw: usize,
    /// Dilation height.
    pub dh: usize,
    /// Dilation width.
    pub dw: usize,
    /// Padding top.
    pub pt: usize,
    /// Padding left.
    pub pl: usize,
    /// Groups (conv only; 1 for pools).
    pub groups: usize,
}

/// Output quantization of an int8 kernel: zero point and clamp range (in the int8 domain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QOut {
    /// Output zero point.
    pub zy: i32,
    /// Lowest output value (-128, or higher for a fused ReLU/Clip).
    pub lo: i32,
    /// Highest output value (127, or lower for a fused Clip).
    pub hi: i32,
}

/// Arguments of an int8 convolution. Weights in `packing` ([`crate::format::packing`]).
#[derive(Debug, Clone, Copy)]
pub struct ConvI8<'a> {
    /// Geometry.
    pub g: Geom,
    /// Input, NHWC.
    pub x: &'a [i8],
    /// Input zero point.
    pub zx: i32,
    /// Weights (symmetric, zero point 0).
    pub w: &'a [i8],
    /// Weight packing.
    pub packing: u8,
    /// Bias at scale s_x * s_w[c].
    pub bias: &'a [i32],
    /// Per-channel requantization multipliers.
    pub mult: &'a [f32],
    /// Output quantization.
    pub q: QOut,
}

/// Arguments of an f32 convolution. Weights in `packing`.
#[derive(Debug, Clone, Copy)]
pub struct ConvF32<'a> {
    /// Geometry.
    pub g: Geom,
    /// Input, NHWC.
    pub x: &'a [f32],
    /// Weights.
    pub w: &'a [f32],
    /// Weight packing.
    pub packing: u8,
    /// Bias.
    pub bias: &'a [f32],
    /// Fused activation.
    pub act: Activation,
}

/// Arguments of an int8 dense layer. Weights `[n][k]` (PLAIN) or BLOCKED.
#[derive(Debug, Clone, Copy)]
pub struct DenseI8<'a> {
    /// Input vector (k elements).
    pub x: &'a [i8],
    /// Input zero point.
    pub zx: i32,
    /// Weights.
    pub w: &'a [i8],
    /// Weight packing.
    pub packing: u8,
    /// Bias (n).
    pub bias: &'a [i32],
    /// Per-output requantization multipliers (n).
    pub mult: &'a [f32],
    /// Output quantization.
    pub q: QOut,
}

/// Arguments of an f32 dense layer. Weights `[n][k]` (PLAIN) or BLOCKED.
#[derive(Debug, Clone, Copy)]
pub struct DenseF32<'a> {
    /// Input vector.
    pub x: &'a [f32],
    /// Weights.
    pub w: &'a [f32],
    /// Weight packing.
    pub packing: u8,
    /// Bias.
    pub bias: &'a [f32],
    /// Fused activation.
    pub act: Activation,
}

/// Arguments of an int8 element-wise multiply (the rule: `scalar_mul.rs`). `b` has `a`'s
/// length or is one value per channel; `a` is read in runs of `b.len()`.
#[derive(Debug, Clone, Copy)]
pub struct MulI8<'a> {
    /// First input.
    pub a: &'a [i8],
    /// Its zero point.
    pub za: i32,
    /// Second input (`a.len()` values, or `C` broadcast over every pixel).
    pub b: &'a [i8],
    /// Its zero point.
    pub zb: i32,
    /// `s_a * s_b / s_y`.
    pub mult: f32,
    /// Output quantization.
    pub q: QOut,
}

/// The kernel table: filled with the scalar references, then overridden per architecture.
///
/// Conv and pool kernels take `(args, oy0, y)` and write output rows `oy0..` into `y`,
/// which holds whole rows (`y.len()` is a multiple of `ow * oc`); conv kernels also take a
/// `scratch` slice of at least `conv2d_*_scratch(&args.g)` bytes, their own for the call
/// (each concurrent part gets its own; kernels never put tables on the stack); dense kernels take
/// `(args, n0, y)` and write outputs `n0..n0 + y.len()` (`n0` a multiple of
/// [`crate::format::packing::OC_BLOCK`]). Splitting the output this way is how std hosts run
/// one op on several threads; the no_std core passes the whole output.
///
/// A kernel handles every packing and geometry: where its fast path doesn't apply it
/// calls the scalar reference, so any kernel set runs any valid model.
#[derive(Clone, Copy)]
pub struct Kernels {
    /// Name of the kernel set (for reports and benchmarks).
    pub name: &'static str,
    /// int8 convolution (`(args, oy0, y, scratch)`; with a shorter scratch it runs the
    /// scalar reference).
    pub conv2d_i8: fn(&ConvI8<'_>, usize, &mut [i8], &mut [u8]),
    /// Scratch bytes one call of `conv2d_i8` needs for a geometry.
    pub conv2d_i8_scratch: fn(&Geom) -> usize,
    /// f32 convolution (`(args, oy0, y, scratch)`, as `conv2d_i8`).
    pub conv2d_f32: fn(&ConvF32<'_>, usize, &mut [f32], &mut [u8]),
    /// Scratch bytes one call of `conv2d_f32` needs for a geometry.
    pub conv2d_f32_scratch: fn(&Geom) -> usize,
    /// int8 depthwise convolution (`groups == ic == oc`, at most [`DEPTHWISE_MAX_TAPS`]
    /// taps; the executor routes such convs here, whatever their op kind).
    pub dwconv2d_i8: fn(&ConvI8<'_>, usize, &mut [i8]),
    /// f32 depthwise convolution.
    pub dwconv2d_f32: fn(&ConvF32<'_>, usize, &mut [f32]),
    /// int8 dense.
    pub dense_i8: fn(&DenseI8<'_>, usize, &mut [i8]),
    /// f32 dense.
    pub dense_f32: fn(&DenseF32<'_>, usize, &mut [f32]),
    /// int8 max pool.
    pub maxpool_i8: fn(&Geom, &[i8], usize, &mut [i8]),
    /// f32 max pool.
    pub maxpool_f32: fn(&Geom, &[f32], usize, &mut [f32]),
    /// int8 average pool (`(geometry, count_include_pad, zx, x, oy0, y)`).
    pub avgpool_i8: fn(&Geom, bool, i32, &[i8], usize, &mut [i8]),
    /// f32 average pool (`(geometry, count_include_pad, x, oy0, y)`).
    pub avgpool_f32: fn(&Geom, bool, &[f32], usize, &mut [f32]),
    /// Quantize an f32 tensor to int8 ([`quantize_f32`] on every element; `(x, scale, zp, y)`).
    pub quantize: fn(&[f32], f32, i32, &mut [i8]),
    /// int8 element-wise multiply (`(args, y)`, `y.len()` outputs).
    pub mul_i8: fn(&MulI8<'_>, &mut [i8]),
    /// f32 element-wise multiply (`(a, b, y)`, `b` of `a`'s length or one run of channels).
    pub mul_f32: fn(&[f32], &[f32], &mut [f32]),
}

impl core::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Kernels({})", self.name)
    }
}

/// The portable scalar reference kernels.
pub const SCALAR: Kernels = Kernels {
    name: "scalar",
    conv2d_i8: scalar_conv2d_i8_slot,
    conv2d_i8_scratch: no_scratch,
    conv2d_f32: scalar_conv2d_f32_slot,
    conv2d_f32_scratch: no_scratch,
    dwconv2d_i8: scalar_dwconv2d_i8,
    dwconv2d_f32: scalar_dwconv2d_f32,
    dense_i8: scalar_dense_i8,
    dense_f32: scalar_dense_f32,
    maxpool_i8: scalar_maxpool_i8,
    maxpool_f32: scalar_maxpool_f32,
    avgpool_i8: scalar_avgpool_i8,
    avgpool_f32: scalar_avgpool_f32,
    quantize: scalar_quantize,
    mul_i8: scalar_mul_i8,
    mul_f32: scalar_mul_f32,
};

/// [`scalar_conv2d_i8`] in the kernel table's shape (the reference needs no scratch).
pub(crate) fn scalar_conv2d_i8_slot(a: &ConvI8<'_>, oy0: usize, y: &mut [i8], _scratch: &mut [u8]) {
    scalar_conv2d_i8(a, oy0, y)
}

/// [`scalar_conv2d_f32`] in the kernel table's shape (the reference needs no scratch).
pub(crate) fn scalar_conv2d_f32_slot(a: &ConvF32<'_>, oy0: usize, y: &mut [f32], _scratch: &mut [u8]) {
    scalar_conv2d_f32(a, oy0, y)
}

/// The scratch size of kernels that need none.
pub fn no_scratch(_: &Geom) -> usize {
    0
}

/// [`quantize_f32`] over a slice (the model input's quantization).
pub fn scalar_quantize(x: &[f32], scale: f32, zp: i32, y: &mut [i8]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = quantize_f32(v, scale, zp);
    }
}

/// Every kernel set this build and CPU can run, best first (the scalar reference last).
/// With the `std` feature the CPU is asked at run time (`is_x86_feature_detected!`);
/// without it, only sets whose features the build enables (`cfg(target_feature)`) appear.
pub fn available() -> impl Iterator<Item = &'static Kernels> {
    [x86::avx512vnni(), x86::avx2(), aarch64::neon_dotprod(), aarch64::neon(), cortexm::dsp()].into_iter().flatten().chain(core::iter::once(&SCALAR))
}

/// The best kernel set for this build and CPU.
pub fn best() -> &'static Kernels {
    available().next().unwrap_or(&SCALAR)
}

/// The kernel set called `name` (`"scalar"`, `"avx2"`, `"avx512vnni"`, `"neon"`,
/// `"neon-dotprod"`, `"dsp"`), if this build and
/// CPU can run it; `Err` names what is missing.
pub fn by_name(name: &str) -> Result<&'static Kernels, &'static str> {
    if let Some(k) = available().find(|k| k.name == name) {
        return Ok(k);
    }
    match name {
        "avx512vnni" => Err("this CPU (or build) lacks AVX-512 F/BW/VL/VNNI"),
        "avx2" => Err("this CPU (or build) lacks AVX2 and FMA"),
        "neon-dotprod" => Err("this CPU (or build) lacks the Armv8.2 dot product (aarch64 dotprod)"),
        "neon" => Err("this build does not target aarch64 with NEON"),
        "dsp" => Err("this build does not target an Armv7E-M core (Cortex-M4/M7, thumbv7em)"),
        _ => Err("unknown kernel set (known: scalar, avx2, avx512vnni, neon, neon-dotprod, dsp)"),
    }
}

/// IEEE round-half-to-even for |v| < 2^22.
#[inline(always)]
pub fn round_half_even(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
    (v + MAGIC) - MAGIC
}

/// The requantization rule (see the module docs).
#[inline(always)]
pub fn requantize(acc: i32, mult: f32, q: QOut) -> i8 {
    let v = acc as f32 * mult;
    let v = v.max((q.lo - q.zy) as f32).min((q.hi - q.zy) as f32);
    (round_half_even(v) as i32 + q.zy) as i8
}

/// Quantize one f32 to int8 as ONNX QuantizeLinear: `clamp(round_half_even(x / s) + zp)`.
#[inline(always)]
pub fn quantize_f32(x: f32, scale: f32, zp: i32) -> i8 {
    let v = (x / scale).max((-128 - zp) as f32).min((127 - zp) as f32);
    (round_half_even(v) as i32 + zp) as i8
}

/// Sum of `x[i] * w[i]` and of `w[i]` (int8 dot product; the caller subtracts `zx * sum_w`).
/// Accumulation wraps on overflow (two's complement), as every SIMD variant does, so a
/// hostile model can't make the runtime panic; real models stay far from the i32 range.
#[inline(always)]
pub(crate) fn dot_i8(x: &[i8], w: &[i8]) -> (i32, i32) {
    let mut acc = 0i32;
    let mut ws = 0i32;
    for (&a, &b) in x.iter().zip(w) {
        acc = acc.wrapping_add(a as i32 * b as i32);
        ws = ws.wrapping_add(b as i32);
    }
    (acc, ws)
}

/// `bias + acc - zx * wsum` in wrapping i32 arithmetic (see [`dot_i8`]).
#[inline(always)]
pub(crate) fn finish_acc(bias: i32, acc: i32, zx: i32, wsum: i32) -> i32 {
    bias.wrapping_add(acc).wrapping_sub(zx.wrapping_mul(wsum))
}

/// f32 dot product with 8 independent partial sums (a fixed, documented summation order:
/// lane `i % 8`, then lanes pairwise, then the tail in order).
#[inline(always)]
pub(crate) fn dot_f32(x: &[f32], w: &[f32]) -> f32 {
    let mut p = [0f32; 8];
    let n = x.len().min(w.len());
    let (xc, wc) = (x[..n].chunks_exact(8), w[..n].chunks_exact(8));
    let (xt, wt) = (xc.remainder(), wc.remainder());
    for (a, b) in xc.zip(wc) {
        for i in 0..8 {
            p[i] += a[i] * b[i];
        }
    }
    let mut s = ((p[0] + p[4]) + (p[1] + p[5])) + ((p[2] + p[6]) + (p[3] + p[7]));
    for (a, b) in xt.iter().zip(wt) {
        s += a * b;
    }
    s
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod rule_tests {
    use super::*;

    #[test]
    fn round_half_even_ties() {
        assert_eq!(round_half_even(0.5), 0.0);
        assert_eq!(round_half_even(1.5), 2.0);
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(-0.5), 0.0);
        assert_eq!(round_half_even(-1.5), -2.0);
        assert_eq!(round_half_even(1.4999), 1.0);
    }

    #[test]
    fn requantize_clamps_and_rounds() {
        let q = QOut { zy: -128, lo: -128, hi: 127 };
        assert_eq!(requantize(1000, 1.0, q), 127);
        assert_eq!(requantize(-1000, 1.0, q), -128);
        assert_eq!(requantize(5, 0.5, q), -126); // 2.5 -> 2
        assert_eq!(quantize_f32(f32::NAN, 0.1, 0), -128);
        assert_eq!(quantize_f32(0.25, 0.1, 3), 5); // 2.5 -> 2, + 3
    }
}
