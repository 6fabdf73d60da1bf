//! Lowering: float IR (+ quantization) → `.kes` bytes. Repacks weights into the layouts the
//! kernels read (conv OHWI, dense columns in NHWC order, then BLOCKED: see
//! `kestrel_runtime::format::packing`), quantizes them, plans the arena.

use anyhow::{bail, Context, Result};
use kestrel_runtime::format::packing::{self, Blocked};
use kestrel_runtime::format::{TENSOR_ALIGN, NO_TENSOR};
use kestrel_runtime::writer::{KesWriter, TensorSpec};
use kestrel_runtime::{Activation, DType, Op, OpKind, Precision, Preprocess};

use crate::ir::{Graph, Layout, NodeOp, ValueId};
use crate::plan::{self, Buf};
use crate::quant::{self, QParams, QuantInfo};

/// What to write besides the graph.
#[derive(Debug, Clone)]
pub struct LowerOptions {
    /// Image preprocessing recorded in the file.
    pub preprocess: Preprocess,
    /// Output labels.
    pub labels: Vec<String>,
}

/// A lowered model and the maps back to the IR.
#[derive(Debug, Clone)]
pub struct Lowered {
    /// The `.kes` file.
    pub bytes: Vec<u8>,
    /// For each runtime op, the IR value it writes.
    pub op_values: Vec<ValueId>,
    /// For each runtime op, the IR node it comes from.
    pub op_nodes: Vec<usize>,
    /// Runtime tensor of each IR value (aliases share their source's tensor).
    pub value_tensor: Vec<Option<u16>>,
    /// Arena bytes of the plan.
    pub arena: usize,
    /// Lower bound on the arena: the largest sum of live tensors at any step.
    pub arena_lower_bound: usize,
}

/// Default preprocessing: pixels scaled by 1/255, RGB, stretched to the input size.
pub fn default_preprocess() -> Preprocess {
    Preprocess { src_nchw: true, channel_order: 0, resize: 0, rescale: 1.0 / 255.0, mean: [0.0; 4], std: [1.0; 4] }
}

/// OIHW → OHWI.
fn ohwi<T: Copy>(w: &[T], cout: usize, cin_g: usize, kh: usize, kw: usize) -> Vec<T> {
    let mut o = Vec::with_capacity(w.len());
    for oc in 0..cout {
        for y in 0..kh {
            for x in 0..kw {
                for ic in 0..cin_g {
                    o.push(w[((oc * cin_g + ic) * kh + y) * kw + x]);
                }
            }
        }
    }
    o
}

/// Dense weights `[n][k]` in the input's logical order → columns in physical NHWC order.
fn dense_physical<T: Copy>(w: &[T], n: usize, dims: [usize; 4], layout: Layout) -> Vec<T> {
    let [_, h, wd, c] = dims;
    let k = h * wd * c;
    if layout != Layout::FlatChw || h * wd == 1 {
        return w.to_vec();
    }
    let mut o = Vec::with_capacity(w.len());
    for row in 0..n {
        for y in 0..h {
            for x in 0..wd {
                for ch in 0..c {
                    o.push(w[row * k + ch * h * wd + y * wd + x]);
                }
            }
        }
    }
    o
}

/// Pack conv/dense weights `[oc][taps][icg]` for the kernels: BLOCKED (what every SIMD
/// kernel reads) unless its zero padding would more than double a large blob, which stays
/// PLAIN and runs on the scalar reference. (Depthwise convs don't come here: they are
/// always PLAIN, which the depthwise kernels read; see the conv lowering.)
fn pack<T: Copy + Default>(plain: Vec<T>, b: Blocked, how: Packing) -> (u8, Vec<T>) {
    let blocked = b.elements().unwrap_or(usize::MAX);
    if how == Packing::Plain {
        return (packing::PLAIN, plain);
    }
    if blocked <= 2 * plain.len() || blocked.saturating_mul(std::mem::size_of::<T>()) <= 64 << 10 {
        (packing::BLOCKED, kestrel_runtime::kernels::pack_blocked(&plain, &b))
    } else {
        (packing::PLAIN, plain)
    }
}

fn u16_of(v: usize, what: &str) -> Result<u16> {
    u16::try_from(v).ok().filter(|&x| x != u16::MAX).with_context(|| format!("{what} {v} does not fit the .kes format"))
}

fn geom_op(op: &mut Op, win: &crate::ir::Window) -> Result<()> {
    let f = |v: usize| u16_of(v, "window parameter");
    op.kh = f(win.kernel[0])?;
    op.kw = f(win.kernel[1])?;
    op.sh = f(win.strides[0])?;
    op.sw = f(win.strides[1])?;
    op.dh = f(win.dilations[0])?;
    op.dw = f(win.dilations[1])?;
    op.pad_t = f(win.pads[0])?;
    op.pad_l = f(win.pads[1])?;
    op.pad_b = f(win.pads[2])?;
    op.pad_r = f(win.pads[3])?;
    Ok(())
}

/// The 256-entry table of an int8 standalone activation (ORT's QLinear lookup-table rule:
/// dequantize, apply in f32, quantize).
pub fn activation_lut(a: Activation, x: QParams, y: QParams) -> Vec<u8> {
    (-128i32..=127).map(|q| y.quantize(a.apply(x.dequantize(q as i8))) as u8).collect()
}

/// How conv/dense weights are packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// BLOCKED wherever it pays (what `lower` does).
    Auto,
    /// PLAIN everywhere: files as the runtime's first format version wrote them (scalar
    /// kernels only); kept to test that such files still load and agree.
    Plain,
}

/// Lower `g` to a `.kes`. `q` = `Some` for int8, `None` for f32.
pub fn lower(g: &Graph, q: Option<&QuantInfo>, opts: &LowerOptions) -> Result<Lowered> {
    lower_with(g, q, opts, Packing::Auto)
}

/// [`lower`] with a choice of weight packing.
pub fn lower_with(g: &Graph, q: Option<&QuantInfo>, opts: &LowerOptions, how: Packing) -> Result<Lowered> {
    let int8 = q.is_some();
    let precision = if int8 { Precision::Int8 } else { Precision::F32 };
    let mut w = KesWriter::new(precision, opts.preprocess);
    w.labels = opts.labels.clone();
    let ov = &g.values[g.output];
    w.output_nchw = matches!(ov.layout, Layout::Nchw | Layout::FlatChw) && ov.dims[1] * ov.dims[2] > 1;
    let dtype = if int8 { DType::I8 } else { DType::F32 };
    let mut value_tensor: Vec<Option<u16>> = vec![None; g.values.len()];
    let qp = |v: ValueId| q.map(|q| q.of(v)).unwrap_or(QParams { scale: 1.0, zero_point: 0 });
    let new_tensor = |w: &mut KesWriter, vt: &mut Vec<Option<u16>>, v: ValueId| -> Result<u16> {
        let p = qp(v);
        let t = w.add_tensor(TensorSpec { dtype, dims: g.values[v].dims, offset: 0, scale: p.scale, zero_point: p.zero_point });
        u16_of(t as usize, "tensor count")?;
        vt[v] = Some(t);
        Ok(t)
    };
    w.input = new_tensor(&mut w, &mut value_tensor, g.input)?;
    let mut op_values = Vec::new();
    let mut op_nodes = Vec::new();
    for (ni, n) in g.nodes.iter().enumerate() {
        let tin = |i: usize| -> Result<u16> {
            value_tensor[n.inputs[i]].with_context(|| format!("node \"{}\": input is not computed before it", n.name))
        };
        if let NodeOp::Alias = n.op {
            let src = tin(0)?;
            value_tensor[n.output] = Some(src);
            continue;
        }
        let x = n.inputs[0];
        let in0 = tin(0)?;
        let ins: Vec<u16> = (0..n.inputs.len()).map(&tin).collect::<Result<_>>()?;
        let out = new_tensor(&mut w, &mut value_tensor, n.output)?;
        let xdims = g.values[x].dims;
        let ydims = g.values[n.output].dims;
        let mut push = |w: &mut KesWriter, op: Op| {
            w.add_op(op, &n.name);
            op_values.push(n.output);
            op_nodes.push(ni);
        };
        match &n.op {
            NodeOp::Conv { weight, bias, win, groups } => {
                let cout = ydims[3];
                let cin_g = xdims[3] / groups;
                let (kh, kw) = (win.kernel[0], win.kernel[1]);
                // Depthwise: its own op kind (the kernel table's depthwise slot), with PLAIN
                // `[c][tap]` weights, which BLOCKED would pad 64-fold (16 output x 4 input
                // channels around each weight).
                let depthwise = *groups == xdims[3] && cout == *groups && kh * kw <= kestrel_runtime::kernels::DEPTHWISE_MAX_TAPS;
                let kind = if depthwise { OpKind::DepthwiseConv2d } else { OpKind::Conv2d };
                let mut op = Op::new(kind, in0, out);
                geom_op(&mut op, win)?;
                op.groups = u16_of(*groups, "groups")?;
                op.set_activation(n.act);
                let shape = Blocked::conv(cout, xdims[3], kh, kw, *groups, int8);
                let how = if depthwise { Packing::Plain } else { how };
                if int8 {
                    let (sx, sy) = (qp(x).scale, qp(n.output).scale);
                    let ws = quant::weight_scales(weight, cout);
                    let wq = quant::quantize_weights(weight, &ws);
                    let (pk, wq) = pack(ohwi(&wq, cout, cin_g, kh, kw), shape, how);
                    op.packing = pk;
                    op.weights = w.add_blob(&wq.iter().map(|&v| v as u8).collect::<Vec<u8>>());
                    op.bias = w.add_i32s(&quant::quantize_bias(bias, sx, &ws));
                    op.quant = w.add_f32s(&quant::requant_multipliers(sx, &ws, sy));
                } else {
                    let (pk, wf) = pack(ohwi(weight, cout, cin_g, kh, kw), shape, how);
                    op.packing = pk;
                    op.weights = w.add_f32s(&wf);
                    op.bias = w.add_f32s(bias);
                }
                push(&mut w, op);
            }
            NodeOp::Dense { weight, bias } => {
                let nout = bias.len();
                let layout = g.values[x].layout;
                let mut op = Op::new(OpKind::Dense, in0, out);
                op.set_activation(n.act);
                let shape = Blocked::dense(nout, xdims.iter().product(), int8);
                if int8 {
                    let (sx, sy) = (qp(x).scale, qp(n.output).scale);
                    let ws = quant::weight_scales(weight, nout);
                    let wq = quant::quantize_weights(weight, &ws);
                    let (pk, wq) = pack(dense_physical(&wq, nout, xdims, layout), shape, how);
                    op.packing = pk;
                    op.weights = w.add_blob(&wq.iter().map(|&v| v as u8).collect::<Vec<u8>>());
                    op.bias = w.add_i32s(&quant::quantize_bias(bias, sx, &ws));
                    op.quant = w.add_f32s(&quant::requant_multipliers(sx, &ws, sy));
                } else {
                    let (pk, wf) = pack(dense_physical(weight, nout, xdims, layout), shape, how);
                    op.packing = pk;
                    op.weights = w.add_f32s(&wf);
                    op.bias = w.add_f32s(bias);
                }
                push(&mut w, op);
            }
            NodeOp::MaxPool { win } | NodeOp::AvgPool { win, .. } => {
                let kind = if matches!(n.op, NodeOp::MaxPool { .. }) { OpKind::MaxPool } else { OpKind::AvgPool };
                if int8 && qp(x) != qp(n.output) {
                    bail!("node \"{}\": int8 pooling needs the input's quantization on its output", n.name);
                }
                let mut op = Op::new(kind, in0, out);
                geom_op(&mut op, win)?;
                if let NodeOp::AvgPool { count_include_pad, .. } = n.op {
                    op.aux = count_include_pad as u32;
                }
                push(&mut w, op);
            }
            NodeOp::Act(a) => {
                let mut op;
                if int8 {
                    op = Op::new(OpKind::Lut, in0, out);
                    op.quant = w.add_blob(&activation_lut(*a, qp(x), qp(n.output)));
                } else {
                    op = Op::new(OpKind::Act, in0, out);
                    op.set_activation(*a);
                }
                push(&mut w, op);
            }
            NodeOp::Softmax => push(&mut w, Op::new(OpKind::Softmax, in0, out)),
            NodeOp::Add => {
                let mut op = Op::new(OpKind::Add, in0, out);
                op.in1 = ins[1];
                op.set_activation(n.act);
                if int8 {
                    let sy = qp(n.output).scale;
                    op.quant = w.add_f32s(&[qp(n.inputs[0]).scale / sy, qp(n.inputs[1]).scale / sy]);
                }
                push(&mut w, op);
            }
            NodeOp::Concat => {
                let mut c0 = 0u32;
                for (i, &t) in ins.iter().enumerate() {
                    let v = n.inputs[i];
                    let mut op = Op::new(OpKind::ConcatPart, t, out);
                    op.aux = c0;
                    if int8 {
                        op.quant = w.add_f32s(&[qp(v).scale / qp(n.output).scale]);
                    }
                    c0 += g.values[v].dims[3] as u32;
                    push(&mut w, op);
                }
            }
            NodeOp::BatchNorm { .. } => bail!("node \"{}\" (BatchNormalization) was not folded", n.name),
            NodeOp::Alias => unreachable!("handled above"),
        }
    }
    w.output = value_tensor[g.output].context("the graph output is never computed")?;
    if w.output == w.input {
        // Only layout changes between input and output (e.g. a lone Flatten): copy, so the
        // output has a tensor of its own.
        let out = new_tensor(&mut w, &mut value_tensor, g.output)?;
        let mut op;
        if int8 {
            op = Op::new(OpKind::Lut, w.input, out);
            op.quant = w.add_blob(&activation_lut(Activation::None, qp(g.input), qp(g.output)));
        } else {
            op = Op::new(OpKind::Act, w.input, out);
        }
        w.add_op(op, "copy");
        op_values.push(g.output);
        op_nodes.push(g.nodes.len().saturating_sub(1));
        w.output = out;
    }

    // Lifetimes: the input is live from step 0, op i is step i + 1, the output to the end.
    let nt = w.tensors.len();
    let mut first = vec![usize::MAX; nt];
    let mut last = vec![0usize; nt];
    first[w.input as usize] = 0;
    for (i, (op, _)) in w.ops.iter().enumerate() {
        for t in [op.in0, op.in1] {
            if t != NO_TENSOR {
                last[t as usize] = i + 1;
            }
        }
        let o = op.out as usize;
        first[o] = first[o].min(i + 1);
        last[o] = last[o].max(i + 1);
    }
    last[w.output as usize] = w.ops.len() + 1;
    let bufs: Vec<Buf> = (0..nt).map(|t| Buf { size: w.tensors[t].size(), first: first[t], last: last[t] }).collect();
    let (offs, arena) = plan::plan(&bufs, TENSOR_ALIGN);
    for (t, o) in offs.into_iter().enumerate() {
        w.tensors[t].offset = o;
    }
    w.arena_size = arena;
    let bytes = w.finish();
    Ok(Lowered {
        bytes,
        op_values,
        op_nodes,
        value_tensor,
        arena,
        arena_lower_bound: plan::lower_bound(&bufs),
    })
}
