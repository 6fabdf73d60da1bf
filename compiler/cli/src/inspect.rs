//! `kestrel inspect`: a Keras-style summary of an `.onnx` or `.kes`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args as ClapArgs;
use kestrel_compiler::ir::Graph;
use kestrel_compiler::lower::{default_preprocess, lower, LowerOptions};
use kestrel_compiler::quant::{QParams, QuantInfo};
use kestrel_runtime::{Model, OpKind, Precision};

/// Arguments of `kestrel inspect`.
#[derive(ClapArgs)]
pub struct Args {
    /// An .onnx or .kes file
    file: PathBuf,
    /// Print the summary as JSON
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Row {
    layer: String,
    op: String,
    output_shape: Vec<usize>,
    params: u64,
    macs: u64,
}

#[derive(serde::Serialize)]
struct Summary {
    file: String,
    precision: String,
    input_shape: Vec<usize>,
    layers: Vec<Row>,
    total_params: u64,
    total_macs: u64,
    weight_bytes: u64,
    arena_bytes: usize,
    arena_lower_bound: Option<usize>,
    int8_weight_bytes: Option<u64>,
    int8_arena_bytes: Option<usize>,
    labels: Vec<String>,
    /// What a `.kes` does to an image before it runs (none for ONNX).
    #[serde(skip_serializing_if = "Option::is_none")]
    preprocessing: Option<String>,
}

fn keras_shape(dims: [usize; 4], flat: bool) -> Vec<usize> {
    if flat { vec![dims[1] * dims[2] * dims[3]] } else { vec![dims[1], dims[2], dims[3]] }
}

fn onnx_summary(a: &Args) -> Result<Summary> {
    let g: Graph = kestrel_compiler::pipeline::load_graph(&a.file, false)?;
    let mut rows = Vec::new();
    for n in &g.nodes {
        if matches!(n.op, kestrel_compiler::ir::NodeOp::Alias) && n.onnx_op == "Transpose" {
            continue;
        }
        let v = &g.values[n.output];
        rows.push(Row {
            layer: n.name.clone(),
            op: n.onnx_op.clone(),
            output_shape: keras_shape(v.dims, v.layout.is_flat()),
            params: Graph::node_params(n),
            macs: g.node_macs(n),
        });
    }
    let opts = LowerOptions { preprocess: default_preprocess(), labels: vec![] };
    let f = lower(&g, None, &opts)?;
    // int8: the arena depends only on the tensor types; weights are 1 byte + per-channel i32 bias and f32 multiplier.
    let mut g8 = kestrel_compiler::pipeline::load_graph(&a.file, true)?;
    kestrel_compiler::passes::optimize(&mut g8, true)?;
    let dummy = QuantInfo { act: vec![Some(QParams { scale: 1.0, zero_point: 0 }); g8.values.len()] };
    let q = lower(&g8, Some(&dummy), &opts)?;
    let total_params: u64 = rows.iter().map(|r| r.params).sum();
    let int8_w: u64 = g8
        .nodes
        .iter()
        .map(|n| match &n.op {
            kestrel_compiler::ir::NodeOp::Conv { weight, bias, .. } | kestrel_compiler::ir::NodeOp::Dense { weight, bias } => {
                weight.len() as u64 + 8 * bias.len() as u64
            }
            _ => 0,
        })
        .sum();
    let iv = &g.values[g.input];
    Ok(Summary {
        file: a.file.display().to_string(),
        precision: "f32 (ONNX)".into(),
        input_shape: keras_shape(iv.dims, iv.layout.is_flat()),
        total_macs: rows.iter().map(|r| r.macs).sum(),
        layers: rows,
        total_params,
        weight_bytes: total_params * 4,
        arena_bytes: f.arena,
        arena_lower_bound: Some(f.arena_lower_bound),
        int8_weight_bytes: Some(int8_w),
        int8_arena_bytes: Some(q.arena),
        labels: vec![],
        preprocessing: None,
    })
}

fn kes_summary(a: &Args) -> Result<Summary> {
    let buf = super::read_kes(&a.file)?;
    let m = Model::load(buf.as_slice()).map_err(|e| anyhow::anyhow!("{}: {e}", a.file.display()))?;
    let int8 = m.meta().precision == Precision::Int8;
    let elem = if int8 { 1 } else { 4 };
    let names = m.layer_names();
    let mut rows = Vec::new();
    for i in 0..m.n_ops() {
        let op = m.op(i);
        let y = m.tensor(op.out as usize);
        let x = m.tensor(op.in0 as usize);
        let kind = op.op_kind().unwrap_or(OpKind::Lut);
        // Real weights, from the geometry (packed blobs carry zero padding).
        let wcount = match kind {
            OpKind::Conv2d | OpKind::DepthwiseConv2d => (y.dims[3] * op.kh as usize * op.kw as usize * (x.dims[3] / (op.groups as usize).max(1))) as u64,
            OpKind::Dense => (y.dims[3] * x.len()) as u64,
            _ => op.weights.len as u64 / elem,
        };
        let params = if matches!(kind, OpKind::Conv2d | OpKind::DepthwiseConv2d | OpKind::Dense) { wcount + y.dims[3] as u64 } else { 0 };
        let macs = match kind {
            OpKind::Conv2d | OpKind::DepthwiseConv2d => wcount / y.dims[3] as u64 * y.len() as u64,
            OpKind::Dense => wcount,
            _ => 0,
        };
        let flat = kind == OpKind::Dense || (y.dims[1] == 1 && y.dims[2] == 1 && x.dims[1] * x.dims[2] == 1);
        rows.push(Row {
            layer: names.get(i).unwrap_or("?").to_string(),
            op: kind.name().to_string(),
            output_shape: keras_shape(y.dims, flat),
            params,
            macs,
        });
    }
    let inp = m.input();
    Ok(Summary {
        file: a.file.display().to_string(),
        precision: if int8 { "int8".into() } else { "f32".into() },
        input_shape: keras_shape(inp.dims, false),
        total_params: rows.iter().map(|r| r.params).sum(),
        total_macs: rows.iter().map(|r| r.macs).sum(),
        layers: rows,
        weight_bytes: m.weights().len() as u64,
        arena_bytes: m.arena_size(),
        arena_lower_bound: None,
        int8_weight_bytes: None,
        int8_arena_bytes: None,
        labels: m.labels().map(String::from).collect(),
        preprocessing: Some(super::run::describe(&m.meta().preprocess, inp.dims[1], inp.dims[2], inp.dims[3])),
    })
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut o = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            o.push(',');
        }
        o.push(ch);
    }
    o
}

pub fn run(a: Args) -> Result<()> {
    // By content, not by name: a .kes starts with its magic whatever it is called.
    kestrel_compiler::bounded::check(&a.file, kestrel_compiler::bounded::Kind::Onnx)?;
    let mut magic = [0u8; 8];
    let is_kes = std::fs::File::open(&a.file).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic)).is_ok()
        && magic == kestrel_runtime::format::MAGIC;
    let s = if is_kes { kes_summary(&a)? } else { onnx_summary(&a)? };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    let shape = |v: &[usize]| format!("(None, {})", v.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "));
    println!("Model: {} ({})", s.file, s.precision);
    println!("Input: {}", shape(&s.input_shape));
    let line = "_".repeat(92);
    println!("{line}");
    println!("{:<36} {:<22} {:>14} {:>16}", "Layer (type)", "Output Shape", "Param #", "MACs");
    println!("{}", "=".repeat(92));
    for r in &s.layers {
        let name = format!("{} ({})", r.layer, r.op);
        println!("{:<36} {:<22} {:>14} {:>16}", name, shape(&r.output_shape), group(r.params), group(r.macs));
    }
    println!("{}", "=".repeat(92));
    println!("Total params: {}", group(s.total_params));
    println!("Total MACs: {} ({:.3} GMAC)", group(s.total_macs), s.total_macs as f64 / 1e9);
    println!("Weight bytes: {}", group(s.weight_bytes));
    print!("Arena bytes: {}", group(s.arena_bytes as u64));
    if let Some(lb) = s.arena_lower_bound {
        print!(" (lower bound {}, +{:.1}%)", group(lb as u64), 100.0 * (s.arena_bytes as f64 / lb.max(1) as f64 - 1.0));
    }
    println!();
    if let (Some(w), Some(ar)) = (s.int8_weight_bytes, s.int8_arena_bytes) {
        println!("As int8: weight bytes {}, arena bytes {}", group(w), group(ar as u64));
    }
    if let Some(p) = &s.preprocessing {
        println!("Image preprocessing: {p}");
    }
    if !s.labels.is_empty() {
        println!("Labels: {}", s.labels.join(", "));
    }
    Ok(())
}
