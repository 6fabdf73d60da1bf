//! `kestrel verify`: the same inputs through tract (float ONNX), ONNX Runtime (float ONNX
//! and our QDQ export) and kestrel-runtime (the `.kes`), compared.

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::Args as ClapArgs;
use kestrel_runtime::AlignedBuf;
use kestrel_compiler::data::{list_inputs, nhwc_to_nchw};
use kestrel_engines::engines::{OrtModel, TractModel};
use kestrel_compiler::ir::{Graph, Layout};
use kestrel_compiler::lower::{lower, LowerOptions};
use kestrel_compiler::onnx::{export, pb_util};
use kestrel_compiler::pipeline;
use kestrel_compiler::quant::report::layer_errors;
use kestrel_runtime::{Model, Precision};

/// Arguments of `kestrel verify`.
#[derive(ClapArgs)]
pub struct Args {
    /// The float ONNX model the .kes was compiled from
    onnx: PathBuf,
    /// The .kes model
    kes: PathBuf,
    /// Directory of inputs (images or .npy tensors)
    #[arg(long)]
    inputs: PathBuf,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// A kestrel output (NHWC) in the ONNX output layout.
fn to_onnx_layout(g: &Graph, out: &[f32]) -> Vec<f32> {
    let v = &g.values[g.output];
    let [_, h, w, c] = v.dims;
    if matches!(v.layout, Layout::Nchw | Layout::FlatChw) && h * w > 1 { nhwc_to_nchw(out, c, h, w) } else { out.to_vec() }
}

#[derive(Default, serde::Serialize)]
struct Agreement {
    engine: String,
    top1_agree: usize,
    max_abs_diff: f32,
    max_lsb_diff: Option<f32>,
}

pub fn run(a: Args) -> Result<()> {
    let onnx = kestrel_compiler::bounded::read(&a.onnx, kestrel_compiler::bounded::Kind::Onnx)?;
    let buf = super::read_kes(&a.kes)?;
    let m = Model::load(buf.as_slice()).map_err(|e| anyhow!("{}: {e}", a.kes.display()))?;
    let int8 = m.meta().precision == Precision::Int8;
    let g = pipeline::load_graph(&a.onnx, int8)?;
    let in_val = &g.values[g.input];
    anyhow::ensure!(
        in_val.dims == m.input().dims,
        "the .kes input {:?} does not match the ONNX model's {:?} (NHWC)",
        m.input().dims,
        in_val.dims
    );
    let files = list_inputs(&a.inputs)?;
    let pp = m.meta().preprocess;
    let xs = super::load_inputs(&files, in_val.dims, &pp)?;
    let shape = in_val.onnx_shape();
    let [_, h, w, c] = in_val.dims;
    let onnx_in = |x: &[f32]| if in_val.layout == Layout::Nchw { nhwc_to_nchw(x, c, h, w) } else { x.to_vec() };

    let mut ort = OrtModel::new(&onnx, 1)?;
    let tract = TractModel::new(&onnx, &shape)?;
    let mut qdq = if int8 {
        let q = pipeline::quant_from_kes(&g, &m)?;
        Some(OrtModel::new(&pb_util::encode(&export::export_qdq(&g, &q)), 1)?)
    } else {
        None
    };
    let out_t = m.output();
    let mut engines = vec![
        Agreement { engine: "onnxruntime float".into(), ..Default::default() },
        Agreement { engine: "tract float".into(), ..Default::default() },
    ];
    if qdq.is_some() {
        engines.push(Agreement { engine: "onnxruntime QDQ int8".into(), max_lsb_diff: Some(0.0), ..Default::default() });
    }
    let mut arena = AlignedBuf::zeroed(m.arena_size());
    let mut out = vec![0f32; out_t.len()];
    let pb = super::progress(xs.len(), "verifying");
    for x in &xs {
        m.set_input_f32(arena.as_mut_slice(), x)?;
        m.run(arena.as_mut_slice())?;
        m.output_f32(arena.as_slice(), &mut out)?;
        let k = to_onnx_layout(&g, &out);
        let xi = onnx_in(x);
        let mut refs = vec![ort.run(&shape, &xi)?, tract.run(&shape, &xi)?];
        if let Some(q) = qdq.as_mut() {
            refs.push(q.run(&shape, &xi)?);
        }
        for (e, r) in engines.iter_mut().zip(&refs) {
            anyhow::ensure!(r.len() == k.len(), "{} returned {} values, the .kes {}", e.engine, r.len(), k.len());
            e.top1_agree += (argmax(r) == argmax(&k)) as usize;
            e.max_abs_diff = e.max_abs_diff.max(max_abs(r, &k));
            if let Some(l) = e.max_lsb_diff.as_mut() {
                *l = l.max(max_abs(r, &k) / out_t.scale);
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    let layers = if int8 {
        let f = lower(&g, None, &LowerOptions { preprocess: pp, labels: vec![] })?;
        let fb = AlignedBuf::from_bytes(&f.bytes);
        layer_errors(&Model::load(fb.as_slice())?, &m, &xs, &mut || {})?
    } else {
        vec![]
    };
    if a.json {
        let j = serde_json::json!({ "inputs": xs.len(), "precision": if int8 {"int8"} else {"f32"}, "engines": engines, "layers": layers });
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    println!("{} vs {} on {} inputs ({}):", a.kes.display(), a.onnx.display(), xs.len(), if int8 { "int8" } else { "f32" });
    println!("{:<24} {:>12} {:>14} {:>16}", "reference", "top-1 agree", "max |diff|", "max diff (LSB)");
    for e in &engines {
        let lsb = e.max_lsb_diff.map(|l| format!("{l:.2}")).unwrap_or_else(|| "-".into());
        println!("{:<24} {:>8}/{:<3} {:>14.6} {:>16}", e.engine, e.top1_agree, xs.len(), e.max_abs_diff, lsb);
    }
    if !layers.is_empty() {
        println!("\nper-layer error, int8 .kes vs float (kestrel f32 kernels):");
        println!("{:<28} {:<10} {:>10} {:>12}", "layer", "op", "SQNR dB", "max |err|");
        for l in &layers {
            println!("{:<28} {:<10} {:>10.2} {:>12.5}", l.name, l.op, l.sqnr_db, l.max_abs_err);
        }
    }
    Ok(())
}
