//! Post-training int8 quantization (DESIGN.md):
//! weights int8 symmetric per output channel in [-127, 127]; activations int8 asymmetric per
//! tensor from calibration; bias int32 at scale `s_x * s_w[c]`; the requantization rule of
//! `kestrel_runtime::kernels`. The `.kes` lowering and the QDQ ONNX export both call the
//! functions here, so the two artifacts carry identical integers.

pub mod calibrate;
pub mod report;

use crate::ir::ValueId;

/// Quantization of one activation tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QParams {
    /// Scale (> 0).
    pub scale: f32,
    /// Zero point in [-128, 127].
    pub zero_point: i32,
}

impl QParams {
    /// Asymmetric int8 parameters covering `[min, max]` (widened to include 0, so that
    /// zero — padding, ReLU — is exact): `scale = (max - min) / 255`,
    /// `zp = round(-128 - min / scale)`.
    pub fn from_range(min: f32, max: f32) -> QParams {
        let (min, max) = (min.min(0.0), max.max(0.0));
        let scale = if max - min > 0.0 { (max - min) / 255.0 } else { 1.0 / 255.0 };
        let zp = (-128.0 - min / scale).round_ties_even().clamp(-128.0, 127.0) as i32;
        QParams { scale, zero_point: zp }
    }

    /// The fixed output quantization of int8 softmax (as TFLite): scale 1/256, zp -128.
    pub fn softmax() -> QParams {
        QParams { scale: 1.0 / 256.0, zero_point: -128 }
    }

    /// Quantize one value (ONNX QuantizeLinear).
    pub fn quantize(&self, x: f32) -> i8 {
        kestrel_runtime::kernels::quantize_f32(x, self.scale, self.zero_point)
    }

    /// Dequantize one value.
    pub fn dequantize(&self, q: i8) -> f32 {
        (q as i32 - self.zero_point) as f32 * self.scale
    }
}

/// Activation quantization of a whole graph: one entry per [`ValueId`] (`None` for values
/// that never become a runtime tensor).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuantInfo {
    /// Per-value parameters.
    pub act: Vec<Option<QParams>>,
}

impl QuantInfo {
    /// Parameters of a value; panics if the value was not quantized (a compiler bug).
    pub fn of(&self, v: ValueId) -> QParams {
        self.act[v].unwrap_or_else(|| panic!("value {v} has no quantization parameters"))
    }
}

/// Per-output-channel symmetric weight scales: `max|w_c| / 127` (1.0 for an all-zero channel).
/// `weight` is laid out with the output channel outermost (`cout` rows).
pub fn weight_scales(weight: &[f32], cout: usize) -> Vec<f32> {
    let per = weight.len() / cout;
    weight
        .chunks_exact(per)
        .map(|c| {
            let m = c.iter().fold(0f32, |a, &b| a.max(b.abs()));
            if m > 0.0 { m / 127.0 } else { 1.0 }
        })
        .collect()
}

/// Quantize weights (output channel outermost) with per-channel scales: `clamp(round(w / s), -127, 127)`.
pub fn quantize_weights(weight: &[f32], scales: &[f32]) -> Vec<i8> {
    let per = weight.len() / scales.len();
    weight
        .chunks_exact(per)
        .zip(scales)
        .flat_map(|(c, &s)| c.iter().map(move |&w| (w / s).round_ties_even().clamp(-127.0, 127.0) as i8))
        .collect()
}

/// Bias as int32 at scale `s_x * s_w[c]`.
pub fn quantize_bias(bias: &[f32], s_x: f32, w_scales: &[f32]) -> Vec<i32> {
    bias.iter()
        .zip(w_scales)
        .map(|(&b, &sw)| (b as f64 / (s_x as f64 * sw as f64)).round_ties_even().clamp(i32::MIN as f64, i32::MAX as f64) as i32)
        .collect()
}

/// Bias scales `s_x * s_w[c]` in f32 (what the QDQ export's bias DequantizeLinear uses).
pub fn bias_scales(s_x: f32, w_scales: &[f32]) -> Vec<f32> {
    w_scales.iter().map(|&sw| s_x * sw).collect()
}

/// Requantization multipliers `(s_x * s_w[c]) / s_y` in f32, in ONNX Runtime's order.
pub fn requant_multipliers(s_x: f32, w_scales: &[f32], s_y: f32) -> Vec<f32> {
    w_scales.iter().map(|&sw| s_x * sw / s_y).collect()
}
