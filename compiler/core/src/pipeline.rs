//! The compile pipeline shared by the CLI and the tests:
//! ONNX → IR → passes → (calibrate → quantize) → `.kes` + QDQ ONNX + per-layer report.

use std::path::Path;

use anyhow::{bail, Context, Result};
use kestrel_runtime::{Model, Precision, Preprocess};

use kestrel_runtime::AlignedBuf;
use crate::ir::{Graph, Layout, NodeOp};
use crate::lower::{lower, LowerOptions, Lowered};
use crate::onnx::import::{import_path_with, ImportError, ImportOptions};
use crate::onnx::{export, pb_util};
use crate::passes;
use crate::quant::calibrate::{self, Method};
use crate::quant::report::{self, LayerError};
use crate::quant::{QParams, QuantInfo};

/// Options of `kestrel compile`.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// int8 or f32.
    pub precision: Precision,
    /// Calibration method (int8).
    pub method: Method,
    /// Image preprocessing recorded in the file (`src_nchw` is set from the graph).
    pub preprocess: Preprocess,
    /// Output labels.
    pub labels: Vec<String>,
}

/// Everything `compile` produces.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The optimized graph.
    pub graph: Graph,
    /// Activation quantization (int8).
    pub quant: Option<QuantInfo>,
    /// The `.kes`.
    pub lowered: Lowered,
    /// Per-layer float-vs-int8 error on the calibration data (int8).
    pub report: Vec<LayerError>,
}

/// An ONNX file that could not be imported: the file and why (every problem found).
#[derive(Debug)]
pub struct LoadError {
    /// The model file.
    pub path: String,
    /// What the importer found.
    pub err: ImportError,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let msg = self.err.to_string();
        if msg.contains(&self.path) { f.write_str(&msg) } else { write!(f, "{}: {msg}", self.path) }
    }
}

impl std::error::Error for LoadError {}

/// Import and optimize an ONNX file for a precision.
pub fn load_graph(path: &Path, int8: bool) -> Result<Graph> {
    load_graph_with(path, int8, &ImportOptions::default())
}

/// Import (with input-shape overrides) and optimize an ONNX file for a precision.
pub fn load_graph_with(path: &Path, int8: bool, opts: &ImportOptions) -> Result<Graph> {
    crate::bounded::check(path, crate::bounded::Kind::Onnx)?;
    let mut g = import_path_with(path, opts).map_err(|err| LoadError { path: path.display().to_string(), err })?;
    check_finite(&g).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    passes::optimize(&mut g, int8)?;
    Ok(g)
}

/// Every reason the model cannot be compiled, one line each; empty when it compiles (f32
/// and int8 graphs, lowered in f32). A file that cannot be read or decoded is an error.
pub fn check(path: &Path, opts: &ImportOptions) -> Result<Vec<String>> {
    let g = match import_path_with(path, opts) {
        Ok(g) => g,
        Err(err @ (ImportError::Io { .. } | ImportError::Decode(_) | ImportError::Opset(_))) => {
            return Err(LoadError { path: path.display().to_string(), err }.into())
        }
        Err(e) => return Ok(e.lines()),
    };
    let lo = LowerOptions { preprocess: crate::lower::default_preprocess(), labels: vec![] };
    let mut problems = vec![];
    for int8 in [false, true] {
        let mut g = g.clone();
        let r = passes::optimize(&mut g, int8).and_then(|_| lower(&g, None, &lo).map(drop));
        if let Err(e) = r {
            problems.push(format!("{e:#}"));
        }
    }
    problems.dedup();
    Ok(problems)
}

/// Every weight of `g` is a finite number: a NaN or infinite weight would quantize to a
/// model that answers with confidence where the float model answers NaN.
pub fn check_finite(g: &Graph) -> Result<()> {
    for n in &g.nodes {
        let lrn;
        let blobs: Vec<(&str, &[f32])> = match &n.op {
            NodeOp::Conv { weight, bias, .. } | NodeOp::Dense { weight, bias } => vec![("weight", weight), ("bias", bias)],
            NodeOp::BatchNorm { scale, bias, mean, var, .. } => vec![("scale", scale), ("bias", bias), ("mean", mean), ("var", var)],
            NodeOp::PRelu { slope } => vec![("slope", slope)],
            NodeOp::Pad { value, .. } => vec![("pad value", std::slice::from_ref(value))],
            NodeOp::Lrn(p) => {
                lrn = [p.alpha, p.beta, p.bias];
                vec![("LRN alpha, beta, bias", &lrn[..])]
            }
            _ => vec![],
        };
        for (what, b) in blobs {
            if let Some(i) = b.iter().position(|v| !v.is_finite()) {
                bail!("layer {} ({}): {what} {i} is {}; weights must be finite numbers", n.name, n.onnx_op, b[i]);
            }
        }
    }
    Ok(())
}

/// Read a labels file: one label per line, blank lines ignored; a file without any label
/// is an error (it would otherwise read as "no labels given").
pub fn read_labels(path: &Path) -> Result<Vec<String>> {
    let s = crate::bounded::read_text(path, crate::bounded::Kind::Labels)?;
    let labels: Vec<String> = s.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    if labels.is_empty() {
        bail!("labels file {} has no labels (one class name per line)", path.display());
    }
    Ok(labels)
}

/// Compile an optimized graph. `calib` are NHWC f32 inputs (required for int8).
pub fn compile(g: Graph, calib: &[Vec<f32>], opts: &CompileOptions, tick: &mut dyn FnMut()) -> Result<Compiled> {
    let mut pp = opts.preprocess;
    pp.src_nchw = g.values[g.input].layout == Layout::Nchw;
    let out_len = g.values[g.output].len();
    if !opts.labels.is_empty() && opts.labels.len() != out_len {
        bail!("the labels file has {} labels, the model has {} outputs", opts.labels.len(), out_len);
    }
    let lo = LowerOptions { preprocess: pp, labels: opts.labels.clone() };
    if opts.precision == Precision::F32 {
        let lowered = lower(&g, None, &lo)?;
        return Ok(Compiled { graph: g, quant: None, lowered, report: vec![] });
    }
    if calib.is_empty() {
        bail!("int8 compilation needs calibration inputs (--calib DIR)");
    }
    let f32_l = lower(&g, None, &lo)?;
    let q = calibrate::calibrate_lowered(&g, &f32_l, calib, opts.method, tick)?;
    let lowered = lower(&g, Some(&q), &lo)?;
    let (fb, qb) = (AlignedBuf::from_bytes(&f32_l.bytes), AlignedBuf::from_bytes(&lowered.bytes));
    let report = report::layer_errors(&Model::load(fb.as_slice())?, &Model::load(qb.as_slice())?, calib, tick)?;
    Ok(Compiled { graph: g, quant: Some(q), lowered, report })
}

/// The QDQ ONNX export of a compiled int8 model.
pub fn qdq_bytes(c: &Compiled) -> Result<Vec<u8>> {
    let q = c.quant.as_ref().context("an f32 model has no QDQ export")?;
    Ok(pb_util::encode(&export::export_qdq(&c.graph, q)))
}

/// Recover the activation quantization of `g` (optimized for int8) from an int8 `.kes`
/// compiled from it, matching ops by layer name.
pub fn quant_from_kes(g: &Graph, m: &Model<'_>) -> Result<QuantInfo> {
    let mut act: Vec<Option<QParams>> = vec![None; g.values.len()];
    let qp = |t: usize| {
        let ti = m.tensor(t);
        QParams { scale: ti.scale, zero_point: ti.zero_point }
    };
    act[g.input] = Some(qp(m.meta().input));
    let names: Vec<&str> = m.layer_names().collect();
    for n in &g.nodes {
        act[n.output] = match n.op {
            NodeOp::Alias | NodeOp::MaxPool { .. } | NodeOp::AvgPool { .. } | NodeOp::Pad { .. } | NodeOp::Copy { .. } => act[n.inputs[0]],
            _ => {
                let i = names.iter().position(|&s| s == n.name).with_context(|| {
                    format!("layer \"{}\" is not in the .kes (was it compiled from this ONNX model?)", n.name)
                })?;
                Some(qp(m.op(i).out as usize))
            }
        };
    }
    Ok(QuantInfo { act })
}
