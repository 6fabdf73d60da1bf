//! Lowering: float IR (+ quantization) → `.kes` bytes. Repacks weights into the layouts the
//! kernels read (conv OHWI, dense columns in NHWC order, then BLOCKED: see
//! `kestrel_runtime::format::packing`), quantizes them, plans the arena.

use anyhow::{bail, Context, Result};
use kestrel_runtime::format::packing::{self, Blocked};
use kestrel_runtime::format::TENSOR_ALIGN;
use kestrel_runtime::lifetimes::{lifetimes, UNWRITTEN};
use kestrel_runtime::writer::{KesWriter, TensorSpec};
use kestrel_runtime::{Activation, ChannelOrder, DType, Op, OpKind, Precision, Preprocess, Resize, SoftmaxAxes, Unary};

use crate::ir::{Graph, Layout, Node, NodeOp, ValueId};
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
    Preprocess { src_nchw: true, channel_order: ChannelOrder::Rgb, resize: Resize::Stretch, rescale: 1.0 / 255.0, mean: [0.0; 4], std: [1.0; 4] }
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

/// The 256-entry table of an int8 point-wise function `f` (ORT's QLinear lookup-table
/// rule: dequantize, apply in f32, quantize). Built here once, so every kernel set only
/// looks it up.
pub fn lut(f: impl Fn(f32) -> f32, x: QParams, y: QParams) -> Vec<u8> {
    (-128i32..=127).map(|q| y.quantize(f(x.dequantize(q as i8))) as u8).collect()
}

/// The table of an int8 standalone activation.
pub fn activation_lut(a: Activation, x: QParams, y: QParams) -> Vec<u8> {
    lut(|v| a.apply(v), x, y)
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

/// The tensors of `w` as buffers to place, live by the runtime's lifetime rule
/// ([`kestrel_runtime::lifetimes`], the rule the validator checks the plan against).
fn buffers(w: &KesWriter) -> Result<Vec<Buf>> {
    let nt = w.tensors.len();
    let (mut first, mut last) = (vec![0u16; nt], vec![0u16; nt]);
    let io = |i: usize| {
        let op = &w.ops[i].0;
        (op.in0, op.in1, op.out)
    };
    lifetimes(w.input as usize, w.output as usize, w.ops.len(), io, &mut first, &mut last)
        .map_err(|e| anyhow::anyhow!("internal: the lowered ops break the dataflow ({e:?})"))?;
    Ok((0..nt)
        .map(|t| Buf { size: w.tensors[t].size(), first: if first[t] == UNWRITTEN { usize::MAX } else { first[t] as usize }, last: last[t] as usize })
        .collect())
}

/// [`lower`] with a choice of weight packing.
pub fn lower_with(g: &Graph, q: Option<&QuantInfo>, opts: &LowerOptions, how: Packing) -> Result<Lowered> {
    let mut l = Lowering::new(g, q, opts, how)?;
    for (ni, n) in g.nodes.iter().enumerate() {
        l.node(ni, n)?;
    }
    l.close_output()?;
    let Lowering { mut w, op_values, op_nodes, value_tensor, .. } = l;
    let bufs = buffers(&w)?;
    let (offs, arena) = plan::plan(&bufs, TENSOR_ALIGN);
    for (t, o) in offs.into_iter().enumerate() {
        w.tensors[t].offset = o;
    }
    w.arena_size = arena;
    Ok(Lowered { bytes: w.finish(), op_values, op_nodes, value_tensor, arena, arena_lower_bound: plan::lower_bound(&bufs) })
}

/// A lowering in progress: the file being written and the maps back to the IR.
struct Lowering<'g> {
    g: &'g Graph,
    q: Option<&'g QuantInfo>,
    how: Packing,
    w: KesWriter,
    value_tensor: Vec<Option<u16>>,
    op_values: Vec<ValueId>,
    op_nodes: Vec<usize>,
}

impl<'g> Lowering<'g> {
    fn new(g: &'g Graph, q: Option<&'g QuantInfo>, opts: &LowerOptions, how: Packing) -> Result<Lowering<'g>> {
        let precision = if q.is_some() { Precision::Int8 } else { Precision::F32 };
        let mut w = KesWriter::new(precision, opts.preprocess);
        w.labels = opts.labels.clone();
        let ov = &g.values[g.output];
        w.output_nchw = matches!(ov.layout, Layout::Nchw | Layout::FlatChw) && ov.dims[1] * ov.dims[2] > 1;
        let mut l = Lowering { g, q, how, w, value_tensor: vec![None; g.values.len()], op_values: vec![], op_nodes: vec![] };
        l.w.input = l.new_tensor(g.input)?;
        Ok(l)
    }

    fn int8(&self) -> bool {
        self.q.is_some()
    }

    /// Quantization of IR value `v` (scale 1, zero point 0 for f32).
    fn qp(&self, v: ValueId) -> QParams {
        self.q.map(|q| q.of(v)).unwrap_or(QParams { scale: 1.0, zero_point: 0 })
    }

    /// A new runtime tensor for IR value `v`.
    fn new_tensor(&mut self, v: ValueId) -> Result<u16> {
        let p = self.qp(v);
        let dtype = if self.int8() { DType::I8 } else { DType::F32 };
        let t = self.w.add_tensor(TensorSpec { dtype, dims: self.g.values[v].dims, offset: 0, scale: p.scale, zero_point: p.zero_point });
        u16_of(t as usize, "tensor count")?;
        self.value_tensor[v] = Some(t);
        Ok(t)
    }

    /// The runtime tensor of node `n`'s input `i`.
    fn input(&self, n: &Node, i: usize) -> Result<u16> {
        self.value_tensor[n.inputs[i]].with_context(|| format!("node \"{}\": input is not computed before it", n.name))
    }

    fn push(&mut self, op: Op, n: &Node, ni: usize) {
        self.w.add_op(op, &n.name);
        self.op_values.push(n.output);
        self.op_nodes.push(ni);
    }

    /// Lower node `ni`: no op for an alias, one op for most nodes, one per input for Concat.
    fn node(&mut self, ni: usize, n: &Node) -> Result<()> {
        if let NodeOp::Alias = n.op {
            self.value_tensor[n.output] = Some(self.input(n, 0)?);
            return Ok(());
        }
        let (x, in0) = (n.inputs[0], self.input(n, 0)?);
        let ins: Vec<u16> = (0..n.inputs.len()).map(|i| self.input(n, i)).collect::<Result<_>>()?;
        let out = self.new_tensor(n.output)?;
        let (xdims, ydims) = (self.g.values[x].dims, self.g.values[n.output].dims);
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
                let shape = Blocked::conv(cout, xdims[3], kh, kw, *groups, self.int8());
                let how = if depthwise { Packing::Plain } else { self.how };
                self.weights(&mut op, n, &ohwi(weight, cout, cin_g, kh, kw), bias, shape, how);
                self.push(op, n, ni);
            }
            NodeOp::Dense { weight, bias } => {
                let mut op = Op::new(OpKind::Dense, in0, out);
                op.set_activation(n.act);
                let shape = Blocked::dense(bias.len(), xdims.iter().product(), self.int8());
                let physical = dense_physical(weight, bias.len(), xdims, self.g.values[x].layout);
                self.weights(&mut op, n, &physical, bias, shape, self.how);
                self.push(op, n, ni);
            }
            NodeOp::MaxPool { win } | NodeOp::AvgPool { win, .. } => {
                let kind = if matches!(n.op, NodeOp::MaxPool { .. }) { OpKind::MaxPool } else { OpKind::AvgPool };
                if self.int8() && self.qp(x) != self.qp(n.output) {
                    bail!("node \"{}\": int8 pooling needs the input's quantization on its output", n.name);
                }
                let mut op = Op::new(kind, in0, out);
                geom_op(&mut op, win)?;
                if let NodeOp::AvgPool { count_include_pad, .. } = n.op {
                    op.aux = count_include_pad as u32;
                }
                self.push(op, n, ni);
            }
            NodeOp::Act(a) => {
                let op = self.activation(*a, in0, out, x, n.output);
                self.push(op, n, ni);
            }
            NodeOp::Unary(u) => {
                let op = self.unary(*u, in0, out, x, n.output);
                self.push(op, n, ni);
            }
            NodeOp::PRelu { slope } => {
                let mut op = Op::new(OpKind::PRelu, in0, out);
                if slope.len() != xdims[3] {
                    bail!("node \"{}\" (PRelu): {} slopes for {} channels", n.name, slope.len(), xdims[3]);
                }
                if self.int8() {
                    let (sx, sy) = (self.qp(x).scale, self.qp(n.output).scale);
                    let mult: Vec<f32> = std::iter::once(sx / sy).chain(slope.iter().map(|&a| sx * a / sy)).collect();
                    op.quant = self.w.add_f32s(&mult);
                } else {
                    op.weights = self.w.add_f32s(slope);
                }
                self.push(op, n, ni);
            }
            NodeOp::Pad { pads, mode, value } => {
                if self.int8() && self.qp(x) != self.qp(n.output) {
                    bail!("node \"{}\": int8 padding needs the input's quantization on its output", n.name);
                }
                let mut op = Op::new(OpKind::Pad, in0, out);
                let f = |v: usize| u16_of(v, "pad");
                (op.pad_t, op.pad_l, op.pad_b, op.pad_r) = (f(pads[0])?, f(pads[1])?, f(pads[2])?, f(pads[3])?);
                op.aux = *mode as u32;
                op.act_a = *value;
                self.push(op, n, ni);
            }
            NodeOp::Copy { base, dims, strides } => {
                if self.int8() && self.qp(x) != self.qp(n.output) {
                    bail!("node \"{}\": an int8 copy needs the input's quantization on its output", n.name);
                }
                let d = kestrel_runtime::Strided::from_parts(*base, dims, strides)
                    .with_context(|| format!("node \"{}\": a copy of {} axes does not fit the .kes descriptor", n.name, dims.len()))?;
                let mut op = Op::new(OpKind::Copy, in0, out);
                op.weights = self.w.add_blob(&d.encode());
                self.push(op, n, ni);
            }
            NodeOp::Softmax(a) => {
                // The channel softmax keeps the record older runtimes read.
                let mut op = Op::new(if *a == SoftmaxAxes::CHANNELS { OpKind::Softmax } else { OpKind::SoftmaxAxes }, in0, out);
                if *a != SoftmaxAxes::CHANNELS {
                    op.aux = a.encode();
                }
                self.push(op, n, ni);
            }
            NodeOp::Lrn(p) => {
                let mut op = Op::new(OpKind::Lrn, in0, out);
                op.aux = u32::from(u16_of(p.size, "LRN size")?);
                op.weights = self.w.add_blob(&p.encode());
                self.push(op, n, ni);
            }
            NodeOp::Add | NodeOp::Mul => {
                // The full-shape input first: the runtime broadcasts the second.
                let (a, b) = if self.g.values[n.inputs[0]].len() >= self.g.values[n.inputs[1]].len() { (0, 1) } else { (1, 0) };
                let add = matches!(n.op, NodeOp::Add);
                let mut op = Op::new(if add { OpKind::Add } else { OpKind::Mul }, ins[a], out);
                op.in1 = ins[b];
                op.set_activation(n.act);
                if self.int8() {
                    let (sa, sb, sy) = (self.qp(n.inputs[a]).scale, self.qp(n.inputs[b]).scale, self.qp(n.output).scale);
                    // The int8 multiply rule's M = (s_a * s_b) / s_y, in that order, in f32.
                    op.quant = self.w.add_f32s(&if add { vec![sa / sy, sb / sy] } else { vec![sa * sb / sy] });
                }
                self.push(op, n, ni);
            }
            NodeOp::Concat => {
                let mut c0 = 0u32;
                for (&t, &v) in ins.iter().zip(&n.inputs) {
                    let mut op = Op::new(OpKind::ConcatPart, t, out);
                    op.aux = c0;
                    if self.int8() {
                        op.quant = self.w.add_f32s(&[self.qp(v).scale / self.qp(n.output).scale]);
                    }
                    c0 += self.g.values[v].dims[3] as u32;
                    self.push(op, n, ni);
                }
            }
            NodeOp::BatchNorm { .. } => bail!("node \"{}\" (BatchNormalization) was not folded", n.name),
            NodeOp::Alias => unreachable!("handled above"),
        }
        Ok(())
    }

    /// Weights `[oc][..]` (float, in the kernels' order), bias and, for int8, the
    /// requantization multipliers of a conv or dense op. Quantizing after the reorder
    /// gives the same bytes as before it: both reorders permute within an output channel.
    fn weights(&mut self, op: &mut Op, n: &Node, weight: &[f32], bias: &[f32], shape: Blocked, how: Packing) {
        let nout = bias.len();
        if self.int8() {
            let (sx, sy) = (self.qp(n.inputs[0]).scale, self.qp(n.output).scale);
            let ws = quant::weight_scales(weight, nout);
            let (pk, wq) = pack(quant::quantize_weights(weight, &ws), shape, how);
            op.packing = pk;
            op.weights = self.w.add_blob(&wq.iter().map(|&v| v as u8).collect::<Vec<u8>>());
            op.bias = self.w.add_i32s(&quant::quantize_bias(bias, sx, &ws));
            op.quant = self.w.add_f32s(&quant::requant_multipliers(sx, &ws, sy));
        } else {
            let (pk, wf) = pack(weight.to_vec(), shape, how);
            op.packing = pk;
            op.weights = self.w.add_f32s(&wf);
            op.bias = self.w.add_f32s(bias);
        }
    }

    /// A standalone activation from tensor `tin` (IR value `x`) to `tout` (value `y`): a
    /// 256-entry table in int8, the activation itself in f32.
    fn activation(&mut self, a: Activation, tin: u16, tout: u16, x: ValueId, y: ValueId) -> Op {
        if self.int8() {
            let mut op = Op::new(OpKind::Lut, tin, tout);
            op.quant = self.w.add_blob(&activation_lut(a, self.qp(x), self.qp(y)));
            op
        } else {
            let mut op = Op::new(OpKind::Act, tin, tout);
            op.set_activation(a);
            op
        }
    }

    /// A point-wise function from tensor `tin` (IR value `x`) to `tout` (value `y`): its
    /// 256-entry table in int8, an [`OpKind::Unary`] op in f32.
    fn unary(&mut self, u: Unary, tin: u16, tout: u16, x: ValueId, y: ValueId) -> Op {
        if self.int8() {
            let mut op = Op::new(OpKind::Lut, tin, tout);
            op.quant = self.w.add_blob(&lut(|v| u.apply(v), self.qp(x), self.qp(y)));
            op
        } else {
            let mut op = Op::new(OpKind::Unary, tin, tout);
            op.set_unary(u);
            op
        }
    }

    /// Point the file's output at the graph output's tensor. When only layout changes lie
    /// between input and output (e.g. a lone Flatten), copy, so the output has a tensor of
    /// its own.
    fn close_output(&mut self) -> Result<()> {
        let g = self.g;
        self.w.output = self.value_tensor[g.output].context("the graph output is never computed")?;
        if self.w.output == self.w.input {
            let out = self.new_tensor(g.output)?;
            let op = self.activation(Activation::None, self.w.input, out, g.input, g.output);
            self.w.add_op(op, "copy");
            self.op_values.push(g.output);
            self.op_nodes.push(g.nodes.len().saturating_sub(1));
            self.w.output = out;
        }
        Ok(())
    }
}
