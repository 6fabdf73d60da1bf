//! Per-layer float-vs-int8 error: runs an f32 and an int8 `.kes` of one graph side by side
//! and compares every op's output (dequantized) on the same inputs.

use anyhow::Result;
use kestrel_runtime::Model;

use kestrel_runtime::AlignedBuf;

/// Error of one layer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerError {
    /// Layer (node) name.
    pub name: String,
    /// Runtime op.
    pub op: String,
    /// Signal-to-quantization-noise ratio in dB: 10·log10(Σf² / Σ(f−q)²).
    pub sqnr_db: f64,
    /// Largest absolute difference.
    pub max_abs_err: f32,
}

/// Every op's output (as f32) for one NHWC input.
pub fn op_outputs(m: &Model<'_>, x: &[f32]) -> Result<Vec<Vec<f32>>> {
    let mut arena = AlignedBuf::zeroed(m.arena_size());
    m.set_input_f32(arena.as_mut_slice(), x)?;
    let mut outs = Vec::with_capacity(m.n_ops());
    m.run_observed(arena.as_mut_slice(), &mut |i, a| {
        let t = m.op(i).out as usize;
        let mut v = vec![0f32; m.tensor(t).len()];
        let _ = m.tensor_f32(a, t, &mut v);
        outs.push(v);
    })?;
    Ok(outs)
}

/// Compare an f32 and an int8 model of the same graph (same op order and layer names) on
/// `inputs` (NHWC). `tick` is called once per input.
pub fn layer_errors(fm: &Model<'_>, qm: &Model<'_>, inputs: &[Vec<f32>], tick: &mut dyn FnMut()) -> Result<Vec<LayerError>> {
    let n = fm.n_ops();
    anyhow::ensure!(
        n == qm.n_ops() && fm.layer_names().eq(qm.layer_names()),
        "the two models have different layers (was the .kes compiled from this ONNX model?)"
    );
    let mut sig = vec![0f64; n];
    let mut noise = vec![0f64; n];
    let mut maxe = vec![0f32; n];
    for x in inputs {
        let (fo, qo) = (op_outputs(fm, x)?, op_outputs(qm, x)?);
        for i in 0..n {
            for (&a, &b) in fo[i].iter().zip(&qo[i]) {
                sig[i] += (a as f64).powi(2);
                noise[i] += ((a - b) as f64).powi(2);
                maxe[i] = maxe[i].max((a - b).abs());
            }
        }
        tick();
    }
    let names = fm.layer_names();
    Ok((0..n)
        .map(|i| LayerError {
            name: names.get(i).unwrap_or("?").to_string(),
            op: fm.op(i).op_kind().map(|k| k.name()).unwrap_or("?").to_string(),
            sqnr_db: if noise[i] == 0.0 { f64::INFINITY } else { 10.0 * (sig[i] / noise[i]).log10() },
            max_abs_err: maxe[i],
        })
        .collect())
}
