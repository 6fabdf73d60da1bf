//! Shared helpers of the cross-crate tests: the reference workloads of DESIGN.md built by
//! the model zoo's seeded generator, exported to ONNX, re-imported and compiled.

pub mod fuzz_harness;
pub mod graph_builder;

use kestrel_runtime::AlignedBuf;
use kestrel_compiler::data::{nchw_to_nhwc, nhwc_to_nchw};
use kestrel_compiler::ir::{Graph, Layout};
use kestrel_compiler::lower::{default_preprocess, lower, LowerOptions};
use kestrel_compiler::onnx::{export, import, pb_util};
use kestrel_compiler::passes;
use kestrel_compiler::quant::calibrate::{calibrate, Method};
use kestrel_compiler::quant::QuantInfo;
use kestrel_runtime::Model;

/// Seed of the reference workloads' weights.
pub const SEED: u64 = 1;

/// Float ONNX bytes of a reference workload.
pub fn reference_onnx(name: &str) -> Vec<u8> {
    let g = kestrel_compiler::zoo::build(name, SEED).expect("zoo model");
    pb_util::encode(&export::export_float(&g))
}

/// Import ONNX bytes and optimize for a precision (the path `kestrel compile` takes).
pub fn import_optimized(onnx: &[u8], int8: bool) -> Graph {
    let mut g = import::import_onnx(onnx).expect("import");
    passes::optimize(&mut g, int8).expect("passes");
    g
}

/// `n` seeded uniform [0, 1) inputs in the ONNX layout of `g`'s input.
pub fn inputs(g: &Graph, n: usize, seed: u64) -> Vec<Vec<f32>> {
    (0..n).map(|i| kestrel_compiler::zoo::random_input(g, seed * 1_000_003 + i as u64)).collect()
}

/// ONNX layout → the runtime's NHWC.
pub fn to_nhwc(g: &Graph, x: &[f32]) -> Vec<f32> {
    let v = &g.values[g.input];
    let [_, h, w, c] = v.dims;
    if v.layout == Layout::Nchw { nchw_to_nhwc(x, c, h, w) } else { x.to_vec() }
}

/// The runtime's NHWC output → the ONNX layout.
pub fn output_to_onnx(g: &Graph, y: &[f32]) -> Vec<f32> {
    let v = &g.values[g.output];
    let [_, h, w, c] = v.dims;
    if matches!(v.layout, Layout::Nchw | Layout::FlatChw) && h * w > 1 { nhwc_to_nchw(y, c, h, w) } else { y.to_vec() }
}

/// Compile to an f32 `.kes`.
pub fn compile_f32(g: &Graph) -> AlignedBuf {
    let opts = LowerOptions { preprocess: default_preprocess(), labels: vec![] };
    AlignedBuf::from_bytes(&lower(g, None, &opts).expect("lower f32").bytes)
}

/// Calibrate (min-max) on `calib` (ONNX layout) and compile to an int8 `.kes`.
pub fn compile_int8(g: &Graph, calib: &[Vec<f32>]) -> (AlignedBuf, QuantInfo) {
    let xs: Vec<Vec<f32>> = calib.iter().map(|x| to_nhwc(g, x)).collect();
    let q = calibrate(g, &xs, Method::MinMax, &mut || {}).expect("calibrate");
    let opts = LowerOptions { preprocess: default_preprocess(), labels: vec![] };
    let bytes = lower(g, Some(&q), &opts).expect("lower int8").bytes;
    (AlignedBuf::from_bytes(&bytes), q)
}

/// Run a `.kes` on one input (ONNX layout); returns the output in ONNX layout.
pub fn run_kes(g: &Graph, kes: &AlignedBuf, x: &[f32]) -> Vec<f32> {
    let m = Model::load(kes.as_slice()).expect("load");
    let mut arena = AlignedBuf::zeroed(m.arena_size());
    m.set_input_f32(arena.as_mut_slice(), &to_nhwc(g, x)).expect("input");
    m.run(arena.as_mut_slice()).expect("run");
    let mut y = vec![0f32; m.output().len()];
    m.output_f32(arena.as_slice(), &mut y).expect("output");
    output_to_onnx(g, &y)
}

/// Largest |a - b| relative to the largest |b|.
pub fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "output lengths differ");
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}
