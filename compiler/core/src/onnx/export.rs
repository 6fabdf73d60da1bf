//! IR → ONNX: a float model ([`export_float`]) and an int8 QDQ model ([`export_qdq`]).
//!
//! The float export writes each IR node as the ONNX op it stands for, with fused activations
//! as explicit nodes after the op. The QDQ export wraps the same graph in
//! QuantizeLinear/DequantizeLinear pairs (the format ONNX Runtime and TensorRT fuse into
//! integer kernels): every activation value is quantized with the parameters of
//! [`QuantInfo`], weights are int8 per output channel and biases int32, computed with the
//! functions of [`crate::quant`] so the QDQ model carries exactly the integers of our `.kes`.
//!
//! Layouts: activation values are physically NHWC in the IR, but ONNX sees them in their
//! [`Layout`]; Alias nodes become the Flatten / Transpose / Reshape chain that maps one
//! ONNX view onto the other.

use std::collections::HashSet;

use kestrel_runtime::{Activation, PadMode, SoftmaxAxes, Unary};
use crate::onnx::pb;

use super::pb_util::{self, attr_f, attr_i, attr_ints, OPSET};
use crate::ir::{Graph, Layout, Node, NodeOp, Value, ValueId, Window};
use crate::quant::{bias_scales, quantize_bias, quantize_weights, weight_scales, QParams, QuantInfo};

/// The float model: one ONNX op per IR node (plus activation and layout nodes), opset
/// [`OPSET`] (19 only if an AveragePool needs dilations). Input and output keep the IR
/// names and ONNX shapes ([`Value::onnx_shape`]); weights are float initializers named
/// `{node}.weight` / `{node}.bias`.
pub fn export_float(g: &Graph) -> pb::ModelProto {
    Exporter::new(g, None).run()
}

/// The int8 QDQ model: the float model with every activation value passed through
/// QuantizeLinear → DequantizeLinear with `q.of(value)` (the graph input too), weights as
/// int8 initializers dequantized per output channel (axis 0) and biases as int32
/// initializers at scale `s_x * s_w[c]`. Input and output stay float and keep the IR names.
///
/// Panics if a value read or written by a node has no quantization parameters in `q`
/// (a compiler bug: calibration covers every activation value).
pub fn export_qdq(g: &Graph, q: &QuantInfo) -> pb::ModelProto {
    Exporter::new(g, Some(q)).run()
}

/// One step of a layout change (an Alias node), applied to the ONNX view of a tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// ONNX Transpose of a rank-4 tensor.
    Transpose([usize; 4]),
    /// ONNX Reshape (Flatten when it goes from rank 4 to `[1, K]`).
    Reshape(Vec<usize>),
}

/// Shape after transposing `shape` by `perm`.
fn permute(shape: &[usize], perm: &[usize; 4]) -> Vec<usize> {
    perm.iter().map(|&p| shape[p]).collect()
}

/// A builder of the step list that folds what it can: consecutive reshapes merge,
/// consecutive transposes compose, a transpose that only moves size-1 axes is a reshape,
/// and no-op steps vanish.
struct Steps {
    /// Steps with the shape they read.
    steps: Vec<(Step, Vec<usize>)>,
    /// Current shape.
    cur: Vec<usize>,
}

impl Steps {
    fn new(shape: Vec<usize>) -> Steps {
        Steps { steps: Vec::new(), cur: shape }
    }

    fn push(&mut self, mut step: Step) {
        loop {
            // Canonicalize against the current shape.
            match &step {
                Step::Transpose(p) => {
                    assert_eq!(self.cur.len(), 4, "transposes are only built on rank-4 views");
                    if *p == [0, 1, 2, 3] {
                        return;
                    }
                    let moved: Vec<usize> = p.iter().copied().filter(|&a| self.cur[a] != 1).collect();
                    if moved.windows(2).all(|w| w[0] < w[1]) {
                        step = Step::Reshape(permute(&self.cur, p));
                        continue;
                    }
                }
                Step::Reshape(s) => {
                    if *s == self.cur {
                        return;
                    }
                }
            }
            match (self.steps.last(), &step) {
                (Some((Step::Reshape(_), _)), Step::Reshape(_)) => {
                    let (_, before) = self.steps.pop().expect("checked non-empty");
                    self.cur = before;
                }
                (Some((Step::Transpose(p1), _)), Step::Transpose(p2)) => {
                    let composed = [p1[p2[0]], p1[p2[1]], p1[p2[2]], p1[p2[3]]];
                    let (_, before) = self.steps.pop().expect("checked non-empty");
                    self.cur = before;
                    step = Step::Transpose(composed);
                }
                _ => {
                    let next = match &step {
                        Step::Transpose(p) => permute(&self.cur, p),
                        Step::Reshape(s) => s.clone(),
                    };
                    self.steps.push((step, std::mem::replace(&mut self.cur, next)));
                    return;
                }
            }
        }
    }
}

/// The input element (physical order) of each output element of a strided copy.
pub(crate) fn copy_indices(base: usize, dims: &[usize], strides: &[isize]) -> Vec<usize> {
    let mut out = vec![base];
    for (&d, &s) in dims.iter().zip(strides) {
        out = out.iter().flat_map(|&o| (0..d).map(move |i| o.wrapping_add_signed(i as isize * s))).collect();
    }
    out
}

/// True when a flat-CHW value's logical order equals its physical (NHWC) order.
fn flat_chw_is_physical(v: &Value) -> bool {
    let [_, h, w, c] = v.dims;
    h * w == 1 || c == 1
}

/// The ONNX steps that turn the ONNX view of `src` into the ONNX view of `dst` when both
/// share the same bytes (an IR Alias): `src` view → physical NHWC order → `dst` view.
fn alias_steps(src: &Value, dst: &Value) -> Vec<(Step, Vec<usize>)> {
    let mut s = Steps::new(src.onnx_shape());
    let [_, h, w, c] = src.dims;
    match src.layout {
        Layout::Nchw => s.push(Step::Transpose([0, 2, 3, 1])),
        Layout::FlatChw if !flat_chw_is_physical(src) => {
            s.push(Step::Reshape(vec![1, c, h, w]));
            s.push(Step::Transpose([0, 2, 3, 1]));
        }
        Layout::Nhwc | Layout::FlatChw | Layout::FlatHwc => {}
    }
    let [_, h, w, c] = dst.dims;
    s.push(Step::Reshape(vec![1, h, w, c]));
    match dst.layout {
        Layout::Nchw => s.push(Step::Transpose([0, 3, 1, 2])),
        Layout::FlatChw if !flat_chw_is_physical(dst) => {
            s.push(Step::Transpose([0, 3, 1, 2]));
            s.push(Step::Reshape(dst.onnx_shape()));
        }
        Layout::Nhwc | Layout::FlatChw | Layout::FlatHwc => s.push(Step::Reshape(dst.onnx_shape())),
    }
    s.steps
}

/// Builds the ONNX graph of one export (float when `q` is `None`, QDQ otherwise).
struct Exporter<'a> {
    g: &'a Graph,
    q: Option<&'a QuantInfo>,
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
    /// Tensor names in use.
    tensors: HashSet<String>,
    /// Node names in use.
    node_names: HashSet<String>,
    /// Per value: the float tensor its consumers read.
    cur: Vec<Option<String>>,
}

impl<'a> Exporter<'a> {
    fn new(g: &'a Graph, q: Option<&'a QuantInfo>) -> Exporter<'a> {
        // Reserve every IR value name so generated names never collide with them.
        let tensors = g.values.iter().map(|v| v.name.clone()).collect();
        let node_names = g.nodes.iter().map(|n| n.name.clone()).collect();
        Exporter { g, q, nodes: Vec::new(), inits: Vec::new(), tensors, node_names, cur: vec![None; g.values.len()] }
    }

    /// A fresh tensor name based on `base`.
    fn tname(&mut self, base: &str) -> String {
        fresh(&mut self.tensors, base)
    }

    /// A fresh node name based on `base`.
    fn nname(&mut self, base: &str) -> String {
        fresh(&mut self.node_names, base)
    }

    fn emit(&mut self, op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<pb::AttributeProto>) {
        self.nodes.push(pb_util::node(op, name, inputs, outputs, attrs));
    }

    /// Emit a node with a generated name `base`.
    fn emit_aux(&mut self, op: &str, base: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<pb::AttributeProto>) {
        let name = self.nname(base);
        self.emit(op, &name, inputs, outputs, attrs);
    }

    fn init_f32(&mut self, base: &str, dims: &[usize], v: &[f32]) -> String {
        let name = self.tname(base);
        self.inits.push(pb_util::tensor_f32(&name, dims, v));
        name
    }

    fn init_i8(&mut self, base: &str, dims: &[usize], v: &[i8]) -> String {
        let name = self.tname(base);
        self.inits.push(pb_util::tensor_i8(&name, dims, v));
        name
    }

    fn init_i32(&mut self, base: &str, dims: &[usize], v: &[i32]) -> String {
        let name = self.tname(base);
        self.inits.push(pb_util::tensor_i32(&name, dims, v));
        name
    }

    fn init_i64(&mut self, base: &str, dims: &[usize], v: &[i64]) -> String {
        let name = self.tname(base);
        self.inits.push(pb_util::tensor_i64(&name, dims, v));
        name
    }

    fn qparams(&self, v: ValueId) -> QParams {
        self.q.expect("only called by the QDQ export").of(v)
    }

    /// The float tensor consumers of `v` read.
    fn input(&self, v: ValueId) -> String {
        self.cur[v]
            .clone()
            .unwrap_or_else(|| panic!("value {v} ('{}') read before it is written", self.g.values[v].name))
    }

    fn run(mut self) -> pb::ModelProto {
        let g = self.g;
        let (inp, outp) = (&g.values[g.input], &g.values[g.output]);
        let opset = if g.nodes.iter().any(|n| matches!(n.op, NodeOp::AvgPool { win, .. } if win.dilations != [1, 1])) {
            19 // AveragePool takes dilations from opset 19 on.
        } else {
            OPSET
        };
        let input_name = inp.name.clone();
        self.cur[g.input] = Some(if self.q.is_some() {
            let qp = self.qparams(g.input);
            self.quant_dequant(&input_name, &input_name, qp, None)
        } else {
            input_name
        });
        for n in &g.nodes {
            let v = &g.values[n.output];
            let qdq = self.q.is_some();
            // The tensor the node (with its activation) writes.
            let raw = if !qdq {
                v.name.clone()
            } else if n.output == g.output {
                self.tname(&format!("{}_float", v.name))
            } else {
                v.name.clone()
            };
            self.node(n, &raw);
            self.cur[n.output] = Some(if qdq {
                let qp = self.qparams(n.output);
                let final_name = (n.output == g.output).then(|| v.name.clone());
                self.quant_dequant(&v.name, &raw, qp, final_name)
            } else {
                raw
            });
        }
        // An output that no node writes (an empty graph) is the input itself.
        let out_tensor = self.input(g.output);
        if out_tensor != outp.name {
            self.emit_aux("Identity", &format!("{}_identity", outp.name), &[&out_tensor], &[&outp.name], vec![]);
        }
        let graph = pb::GraphProto {
            name: "kestrel".into(),
            node: self.nodes,
            initializer: self.inits,
            input: vec![pb_util::value_info_f32(&inp.name, &inp.onnx_shape())],
            output: vec![pb_util::value_info_f32(&outp.name, &outp.onnx_shape())],
            ..Default::default()
        };
        pb_util::model(graph, opset)
    }

    /// QuantizeLinear then DequantizeLinear of `x` with `qp`; returns the DQ output
    /// (`out` if given, else a fresh name based on `base`).
    fn quant_dequant(&mut self, base: &str, x: &str, qp: QParams, out: Option<String>) -> String {
        let zp = i8::try_from(qp.zero_point).expect("activation zero point in [-128, 127]");
        let scale = self.init_f32(&format!("{base}_scale"), &[], &[qp.scale]);
        let zpn = self.init_i8(&format!("{base}_zero_point"), &[], &[zp]);
        let q = self.tname(&format!("{base}_quantized"));
        let dq = match out {
            Some(o) => o,
            None => self.tname(&format!("{base}_dequantized")),
        };
        self.emit_aux("QuantizeLinear", &format!("{base}_QuantizeLinear"), &[x, &scale, &zpn], &[&q], vec![]);
        self.emit_aux("DequantizeLinear", &format!("{base}_DequantizeLinear"), &[&q, &scale, &zpn], &[&dq], vec![]);
        dq
    }

    /// Weight (output channel outermost, `dims[0] = cout`) and bias tensors of a conv or
    /// dense node: float initializers, or int8 / int32 initializers behind DequantizeLinear.
    fn weight_bias(&mut self, n: &Node, weight: &[f32], bias: &[f32], dims: &[usize]) -> (String, String) {
        let cout = dims[0];
        match self.q {
            None => {
                let w = self.init_f32(&format!("{}.weight", n.name), dims, weight);
                let b = self.init_f32(&format!("{}.bias", n.name), &[cout], bias);
                (w, b)
            }
            Some(q) => {
                let s_x = q.of(n.inputs[0]).scale;
                let ws = weight_scales(weight, cout);
                let wq = quantize_weights(weight, &ws);
                let bq = quantize_bias(bias, s_x, &ws);
                let bs = bias_scales(s_x, &ws);
                let wi = self.init_i8(&format!("{}.weight_quantized", n.name), dims, &wq);
                let wsn = self.init_f32(&format!("{}.weight_scale", n.name), &[cout], &ws);
                let wz = self.init_i8(&format!("{}.weight_zero_point", n.name), &[cout], &vec![0; cout]);
                let w = self.tname(&format!("{}.weight", n.name));
                self.emit_aux(
                    "DequantizeLinear",
                    &format!("{}.weight_DequantizeLinear", n.name),
                    &[&wi, &wsn, &wz],
                    &[&w],
                    vec![attr_i("axis", 0)],
                );
                let bi = self.init_i32(&format!("{}.bias_quantized", n.name), &[cout], &bq);
                let bsn = self.init_f32(&format!("{}.bias_scale", n.name), &[cout], &bs);
                let bz = self.init_i32(&format!("{}.bias_zero_point", n.name), &[cout], &vec![0; cout]);
                let b = self.tname(&format!("{}.bias", n.name));
                self.emit_aux(
                    "DequantizeLinear",
                    &format!("{}.bias_DequantizeLinear", n.name),
                    &[&bi, &bsn, &bz],
                    &[&b],
                    vec![attr_i("axis", 0)],
                );
                (w, b)
            }
        }
    }

    /// Emit an activation node `x -> out`, named `name` or `{base}_relu` etc.
    fn act(&mut self, base: &str, name: Option<&str>, act: Activation, x: &str, out: &str) {
        let (op, suffix) = match act {
            Activation::None => ("Identity", "identity"),
            Activation::Relu => ("Relu", "relu"),
            Activation::Clip(..) => ("Clip", "clip"),
            Activation::LeakyRelu(_) => ("LeakyRelu", "leakyrelu"),
        };
        let name = match name {
            Some(n) => n.to_string(),
            None => self.nname(&format!("{base}_{suffix}")),
        };
        match act {
            Activation::None | Activation::Relu => self.emit(op, &name, &[x], &[out], vec![]),
            Activation::Clip(lo, hi) => {
                let lo = self.init_f32(&format!("{base}.clip_min"), &[], &[lo]);
                let hi = self.init_f32(&format!("{base}.clip_max"), &[], &[hi]);
                self.emit(op, &name, &[x, &lo, &hi], &[out], vec![]);
            }
            Activation::LeakyRelu(a) => self.emit(op, &name, &[x], &[out], vec![attr_f("alpha", a)]),
        }
    }

    /// Emit point-wise function `u` of `x` as node `name` writing `out`. Swish and HardSwish
    /// are written as `x * Sigmoid(x)` and `x * HardSigmoid(x)` (opset 13 has no op for
    /// either); the gate is a float tensor inside the pair, not quantized in QDQ, so ONNX
    /// Runtime computes what the `.kes` table holds.
    fn unary(&mut self, name: &str, u: Unary, x: &str, out: &str) {
        let gated = |e: &mut Self, op: &str, attrs: Vec<pb::AttributeProto>| {
            let gate = e.tname(&format!("{name}_gate"));
            e.emit_aux(op, &format!("{name}_gate"), &[x], &[&gate], attrs);
            e.emit("Mul", name, &[x, &gate], &[out], vec![]);
        };
        match u {
            Unary::Sigmoid => self.emit("Sigmoid", name, &[x], &[out], vec![]),
            Unary::HardSigmoid(a, b) => self.emit("HardSigmoid", name, &[x], &[out], vec![attr_f("alpha", a), attr_f("beta", b)]),
            Unary::HardSwish => gated(self, "HardSigmoid", vec![attr_f("alpha", 1.0 / 6.0), attr_f("beta", 0.5)]),
            Unary::Swish => gated(self, "Sigmoid", vec![]),
            Unary::Tanh => self.emit("Tanh", name, &[x], &[out], vec![]),
            Unary::Elu(a) => self.emit("Elu", name, &[x], &[out], vec![attr_f("alpha", a)]),
            Unary::Selu(a, g) => self.emit("Selu", name, &[x], &[out], vec![attr_f("alpha", a), attr_f("gamma", g)]),
            Unary::Softplus => self.emit("Softplus", name, &[x], &[out], vec![]),
        }
    }

    /// Emit node `n`, reading its inputs' current tensors and writing `out`; a fused
    /// activation becomes its own node after the op (the op writes `{node}_preact`).
    fn node(&mut self, n: &Node, out: &str) {
        if n.act == Activation::None {
            self.body(n, out);
        } else {
            let pre = self.tname(&format!("{}_preact", n.name));
            self.body(n, &pre);
            self.act(&n.name, None, n.act, &pre, out);
        }
    }

    /// The op of node `n` itself (without the fused activation), writing `out`.
    fn body(&mut self, n: &Node, out: &str) {
        let g = self.g;
        let ins: Vec<String> = n.inputs.iter().map(|&v| self.input(v)).collect();
        let ov = &g.values[n.output];
        match &n.op {
            NodeOp::Conv { weight, bias, win, groups } => {
                let cout = ov.dims[3];
                let [kh, kw] = win.kernel;
                let cin_g = weight.len() / (cout * kh * kw).max(1);
                let (w, b) = self.weight_bias(n, weight, bias, &[cout, cin_g, kh, kw]);
                let mut attrs = window_attrs(win, true);
                attrs.push(attr_i("group", *groups as i64));
                self.spatial(n, "Conv", vec![ins[0].clone(), w, b], attrs, out);
            }
            NodeOp::Dense { weight, bias } => {
                let nout = ov.len();
                let k = weight.len() / nout.max(1);
                let (w, b) = self.weight_bias(n, weight, bias, &[nout, k]);
                let x = if g.values[n.inputs[0]].layout.is_flat() {
                    ins[0].clone()
                } else {
                    let f = self.tname(&format!("{}_flat", n.name));
                    self.emit_aux(
                        "Flatten",
                        &format!("{}_flatten", n.name),
                        &[&ins[0]],
                        &[&f],
                        vec![attr_i("axis", 1)],
                    );
                    f
                };
                if ov.layout.is_flat() {
                    self.emit("Gemm", &n.name, &[&x, &w, &b], &[out], vec![attr_i("transB", 1)]);
                } else {
                    // A 4-D view of the n outputs: Gemm gives [1, n], reshape to the view.
                    let y = self.tname(&format!("{}_gemm", n.name));
                    self.emit("Gemm", &n.name, &[&x, &w, &b], &[&y], vec![attr_i("transB", 1)]);
                    let flat = Value { name: String::new(), dims: [1, 1, 1, nout], layout: Layout::FlatHwc };
                    self.steps(&format!("{}_reshape", n.name), None, alias_steps(&flat, ov), &y, out);
                }
            }
            NodeOp::BatchNorm { scale, bias, mean, var, eps } => {
                let c = scale.len();
                let s = self.init_f32(&format!("{}.scale", n.name), &[c], scale);
                let b = self.init_f32(&format!("{}.bias", n.name), &[c], bias);
                let m = self.init_f32(&format!("{}.mean", n.name), &[c], mean);
                let v = self.init_f32(&format!("{}.var", n.name), &[c], var);
                self.spatial(
                    n,
                    "BatchNormalization",
                    vec![ins[0].clone(), s, b, m, v],
                    vec![attr_f("epsilon", *eps)],
                    out,
                );
            }
            NodeOp::MaxPool { win } => {
                self.spatial(n, "MaxPool", vec![ins[0].clone()], window_attrs(win, false), out);
            }
            NodeOp::AvgPool { win, count_include_pad } => {
                let mut attrs = window_attrs(win, false);
                attrs.push(attr_i("count_include_pad", *count_include_pad as i64));
                self.spatial(n, "AveragePool", vec![ins[0].clone()], attrs, out);
            }
            NodeOp::Act(a) => self.act(&n.name, Some(&n.name), *a, &ins[0], out),
            NodeOp::Unary(u) => self.unary(&n.name, *u, &ins[0], out),
            NodeOp::PRelu { slope } => {
                let (dims, tiled) = prelu_slope(&g.values[n.inputs[0]], slope);
                let s = self.init_f32(&format!("{}.slope", n.name), &dims, &tiled);
                self.emit("PRelu", &n.name, &[&ins[0], &s], &[out], vec![]);
            }
            NodeOp::Mul => {
                let refs: Vec<&str> = ins.iter().map(|s| s.as_str()).collect();
                self.emit("Mul", &n.name, &refs, &[out], vec![]);
            }
            NodeOp::Pad { pads, mode, value } => {
                let [t, l, b, r] = pads.map(|p| p as i64);
                let onnx_pads = match g.values[n.inputs[0]].layout {
                    Layout::Nhwc => [0, t, l, 0, 0, b, r, 0],
                    _ => [0, 0, t, l, 0, 0, b, r],
                };
                let p = self.init_i64(&format!("{}.pads", n.name), &[8], &onnx_pads);
                let v = self.init_f32(&format!("{}.value", n.name), &[], &[*value]);
                let mode = match mode {
                    PadMode::Constant => "constant",
                    PadMode::Reflect => "reflect",
                    PadMode::Edge => "edge",
                };
                self.emit("Pad", &n.name, &[&ins[0], &p, &v], &[out], vec![pb_util::attr_s("mode", mode)]);
            }
            NodeOp::Lrn(p) => {
                let attrs = vec![attr_i("size", p.size as i64), attr_f("alpha", p.alpha), attr_f("beta", p.beta), attr_f("bias", p.bias)];
                self.spatial(n, "LRN", vec![ins[0].clone()], attrs, out);
            }
            NodeOp::Softmax(a) => self.softmax(n, *a, &ins[0], out),
            NodeOp::Add => {
                let refs: Vec<&str> = ins.iter().map(|s| s.as_str()).collect();
                self.emit("Add", &n.name, &refs, &[out], vec![]);
            }
            NodeOp::Concat => {
                let refs: Vec<&str> = ins.iter().map(|s| s.as_str()).collect();
                let axis = if ov.layout == Layout::Nhwc { 3 } else { 1 };
                self.emit("Concat", &n.name, &refs, &[out], vec![attr_i("axis", axis)]);
            }
            NodeOp::Copy { base, dims, strides } => {
                // input view -> [1, N] in physical order -> Gather of the copied indices ->
                // [1, M] in the output's physical order -> the output's view.
                let xv = &g.values[n.inputs[0]];
                let flat = |len: usize| Value { name: String::new(), dims: [1, 1, 1, len], layout: Layout::FlatHwc };
                let (fx, fy) = (flat(xv.len()), flat(ov.len()));
                let mut x = ins[0].clone();
                let to_flat = alias_steps(xv, &fx);
                if !to_flat.is_empty() {
                    let t = self.tname(&format!("{}_flat", n.name));
                    self.steps(&n.name, None, to_flat, &ins[0], &t);
                    x = t;
                }
                let idx: Vec<i64> = copy_indices(*base, dims, strides).into_iter().map(|i| i as i64).collect();
                let i = self.init_i64(&format!("{}.indices", n.name), &[idx.len()], &idx);
                let back = alias_steps(&fy, ov);
                let g_out = if back.is_empty() { out.to_string() } else { self.tname(&format!("{}_gathered", n.name)) };
                self.emit("Gather", &n.name, &[&x, &i], &[&g_out], vec![attr_i("axis", 1)]);
                if !back.is_empty() {
                    self.steps(&n.name, None, back, &g_out, out);
                }
            }
            NodeOp::Alias => {
                let steps = alias_steps(&g.values[n.inputs[0]], ov);
                if steps.is_empty() {
                    self.emit("Identity", &n.name, &[&ins[0]], &[out], vec![]);
                } else {
                    self.steps(&n.name, Some(&n.name), steps, &ins[0], out);
                }
            }
        }
    }

    /// Emit Softmax or LogSoftmax (opset 13: one axis) of node `n` over its physical axes
    /// `a`: on the one ONNX axis they are where there is one (the channels of a map or a
    /// vector, a row), else on axis 1 of the physical order reshaped to `[outer, n, inner]`.
    fn softmax(&mut self, n: &Node, a: SoftmaxAxes, x: &str, out: &str) {
        let g = self.g;
        let op = if a.log { "LogSoftmax" } else { "Softmax" };
        let (xv, ov) = (&g.values[n.inputs[0]], &g.values[n.output]);
        let onnx_axis = |p: usize| match xv.layout {
            Layout::Nchw => [0, 2, 3, 1][p],
            Layout::Nhwc => p,
            Layout::FlatChw | Layout::FlatHwc => 1,
        };
        let inside = |p: usize| (a.first..=a.last).contains(&p);
        let moving: Vec<usize> = (1..4).filter(|&p| xv.dims[p] > 1).collect();
        let mut axes: Vec<usize> = moving.iter().filter(|&&p| inside(p)).map(|&p| onnx_axis(p)).collect();
        axes.dedup();
        let one_axis = match axes[..] {
            [] => Some(onnx_axis(a.last)),
            [ax] if moving.iter().all(|&p| inside(p) || onnx_axis(p) != ax) => Some(ax),
            _ => None,
        };
        if let Some(ax) = one_axis {
            self.emit(op, &n.name, &[x], &[out], vec![attr_i("axis", ax as i64)]);
            return;
        }
        let flat = |len: usize| Value { name: String::new(), dims: [1, 1, 1, len], layout: Layout::FlatHwc };
        let (groups, inner) = a.groups(xv.dims);
        let (k, outer) = (xv.len(), xv.len() / (groups * inner).max(1));
        let mut steps = Steps::new(xv.onnx_shape());
        for (s, _) in alias_steps(xv, &flat(k)) {
            steps.push(s);
        }
        steps.push(Step::Reshape(vec![outer, groups, inner]));
        let grouped = self.tname(&format!("{}_grouped", n.name));
        self.steps(&n.name, None, steps.steps, x, &grouped);
        let y = self.tname(&format!("{}_normalized", n.name));
        self.emit(op, &n.name, &[&grouped], &[&y], vec![attr_i("axis", 1)]);
        let mut back = Steps::new(vec![outer, groups, inner]);
        back.push(Step::Reshape(vec![1, k]));
        for (s, _) in alias_steps(&flat(k), ov) {
            back.push(s);
        }
        self.steps(&n.name, None, back.steps, &y, out);
    }

    /// Emit layout steps `x -> out`; the first node is named `first` if given (an IR node
    /// name), the others get fresh names `{name}_{i}`.
    fn steps(&mut self, name: &str, first: Option<&str>, steps: Vec<(Step, Vec<usize>)>, x: &str, out: &str) {
        let mut x = x.to_string();
        let last = steps.len().saturating_sub(1);
        for (i, (step, before)) in steps.into_iter().enumerate() {
            let y = if i == last { out.to_string() } else { self.tname(&format!("{name}_{i}")) };
            let nn = match first {
                Some(f) if i == 0 => f.to_string(),
                _ => self.nname(&format!("{name}_{i}")),
            };
            match step {
                Step::Transpose(p) => {
                    let perm: Vec<i64> = p.iter().map(|&a| a as i64).collect();
                    self.emit("Transpose", &nn, &[&x], &[&y], vec![attr_ints("perm", &perm)]);
                }
                Step::Reshape(s) if s.len() == 2 && s[0] == 1 && before.first() == Some(&1) => {
                    self.emit("Flatten", &nn, &[&x], &[&y], vec![attr_i("axis", 1)]);
                }
                Step::Reshape(s) => {
                    let shape: Vec<i64> = s.iter().map(|&d| d as i64).collect();
                    let sn = self.init_i64(&format!("{name}.shape{i}"), &[shape.len()], &shape);
                    self.emit("Reshape", &nn, &[&x, &sn], &[&y], vec![]);
                }
            }
            x = y;
        }
    }

    /// Emit a channel-first ONNX op (Conv, pools, BatchNormalization) on `inputs[0]`,
    /// transposing around it when the value's ONNX view is NHWC.
    fn spatial(&mut self, n: &Node, op: &str, mut inputs: Vec<String>, attrs: Vec<pb::AttributeProto>, out: &str) {
        let g = self.g;
        if g.values[n.inputs[0]].layout == Layout::Nhwc {
            let t = self.tname(&format!("{}_nchw_in", n.name));
            self.emit_aux(
                "Transpose",
                &format!("{}_to_nchw", n.name),
                &[&inputs[0]],
                &[&t],
                vec![attr_ints("perm", &[0, 3, 1, 2])],
            );
            inputs[0] = t;
        }
        let nhwc_out = g.values[n.output].layout == Layout::Nhwc;
        let op_out = if nhwc_out { self.tname(&format!("{}_nchw_out", n.name)) } else { out.to_string() };
        let refs: Vec<&str> = inputs.iter().map(|s| s.as_str()).collect();
        self.emit(op, &n.name, &refs, &[&op_out], attrs);
        if nhwc_out {
            self.emit_aux(
                "Transpose",
                &format!("{}_to_nhwc", n.name),
                &[&op_out],
                &[out],
                vec![attr_ints("perm", &[0, 2, 3, 1])],
            );
        }
    }
}

/// A PRelu slope initializer that broadcasts per channel against the ONNX view of `x`:
/// `[C, 1, 1]` for NCHW, `[C]` for NHWC and vectors, the slopes laid out in the view's
/// order for a flattened map.
fn prelu_slope(x: &Value, slope: &[f32]) -> (Vec<usize>, Vec<f32>) {
    let [_, h, w, c] = x.dims;
    match x.layout {
        Layout::Nchw => (vec![c, 1, 1], slope.to_vec()),
        _ if h * w == 1 => (vec![c], slope.to_vec()),
        Layout::Nhwc => (vec![c], slope.to_vec()),
        Layout::FlatHwc => (vec![h * w * c], slope.iter().copied().cycle().take(h * w * c).collect()),
        Layout::FlatChw => (vec![h * w * c], slope.iter().flat_map(|&s| std::iter::repeat_n(s, h * w)).collect()),
    }
}

/// `base`, or `base_1`, `base_2`, … : the first not in `used` (then marked used).
fn fresh(used: &mut HashSet<String>, base: &str) -> String {
    let mut name = base.to_string();
    let mut i = 1;
    while used.contains(&name) {
        name = format!("{base}_{i}");
        i += 1;
    }
    used.insert(name.clone());
    name
}

/// kernel_shape, strides, pads and dilations attributes; dilations omitted when all 1
/// unless `always_dilations`.
fn window_attrs(win: &Window, always_dilations: bool) -> Vec<pb::AttributeProto> {
    let l = |v: &[usize]| v.iter().map(|&x| x as i64).collect::<Vec<_>>();
    let mut a = vec![
        attr_ints("kernel_shape", &l(&win.kernel)),
        attr_ints("strides", &l(&win.strides)),
        attr_ints("pads", &l(&win.pads)),
    ];
    if always_dilations || win.dilations != [1, 1] {
        a.push(attr_ints("dilations", &l(&win.dilations)));
    }
    a
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ir::Value;
    use prost::Message;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn win(k: usize, s: usize, p: usize) -> Window {
        Window { kernel: [k, k], strides: [s, s], pads: [p; 4], dilations: [1, 1] }
    }

    /// input 2x8x8 → conv 4 3x3 pad 1 + relu → maxpool 2 → flatten → dense 3 → softmax.
    fn small_graph() -> Graph {
        let mut seed = 7u64;
        let mut g = Graph { values: vec![], nodes: vec![], input: 0, output: 0 };
        let x = g.add_value("input", [1, 8, 8, 2], Layout::Nchw);
        let c = g.add_value("conv", [1, 8, 8, 4], Layout::Nchw);
        let p = g.add_value("pool", [1, 4, 4, 4], Layout::Nchw);
        let f = g.add_value("flat", [1, 4, 4, 4], Layout::FlatChw);
        let d = g.add_value("logits", [1, 1, 1, 3], Layout::FlatHwc);
        let o = g.add_value("output", [1, 1, 1, 3], Layout::FlatHwc);
        let cw: Vec<f32> = (0..4 * 2 * 9).map(|_| lcg(&mut seed) * 0.4).collect();
        let cb: Vec<f32> = (0..4).map(|_| lcg(&mut seed) * 0.1).collect();
        let dw: Vec<f32> = (0..3 * 64).map(|_| lcg(&mut seed) * 0.2).collect();
        let db: Vec<f32> = (0..3).map(|_| lcg(&mut seed) * 0.1).collect();
        let node = |name: &str, onnx: &str, op, inputs, output, act| Node {
            name: name.into(),
            onnx_op: onnx.into(),
            op,
            inputs,
            output,
            act,
        };
        g.nodes = vec![
            node(
                "conv1",
                "Conv",
                NodeOp::Conv { weight: cw, bias: cb, win: win(3, 1, 1), groups: 1 },
                vec![x],
                c,
                Activation::Relu,
            ),
            node("pool1", "MaxPool", NodeOp::MaxPool { win: win(2, 2, 0) }, vec![c], p, Activation::None),
            node("flatten", "Flatten", NodeOp::Alias, vec![p], f, Activation::None),
            node("dense1", "Gemm", NodeOp::Dense { weight: dw, bias: db }, vec![f], d, Activation::None),
            node("softmax", "Softmax", NodeOp::Softmax(SoftmaxAxes::CHANNELS), vec![d], o, Activation::None),
        ];
        g.input = x;
        g.output = o;
        g
    }

    /// Reference forward pass of `small_graph`, all values in ONNX (NCHW / flat) order;
    /// returns every value's data by ValueId.
    fn reference(g: &Graph, input: &[f32]) -> Vec<Vec<f32>> {
        let NodeOp::Conv { weight: cw, bias: cb, .. } = &g.nodes[0].op else { unreachable!() };
        let NodeOp::Dense { weight: dw, bias: db } = &g.nodes[3].op else { unreachable!() };
        let mut conv = vec![0f32; 4 * 64];
        for o in 0..4 {
            for y in 0..8 {
                for x in 0..8 {
                    let mut acc = cb[o];
                    for i in 0..2 {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (iy, ix) = (y as isize + ky as isize - 1, x as isize + kx as isize - 1);
                                if (0..8).contains(&iy) && (0..8).contains(&ix) {
                                    acc += cw[((o * 2 + i) * 3 + ky) * 3 + kx]
                                        * input[(i * 8 + iy as usize) * 8 + ix as usize];
                                }
                            }
                        }
                    }
                    conv[(o * 8 + y) * 8 + x] = acc.max(0.0);
                }
            }
        }
        let mut pool = vec![0f32; 64];
        for c in 0..4 {
            for y in 0..4 {
                for x in 0..4 {
                    let m = [(0, 0), (0, 1), (1, 0), (1, 1)]
                        .iter()
                        .map(|(dy, dx)| conv[(c * 8 + 2 * y + dy) * 8 + 2 * x + dx])
                        .fold(f32::MIN, f32::max);
                    pool[(c * 4 + y) * 4 + x] = m;
                }
            }
        }
        let logits: Vec<f32> = (0..3).map(|n| db[n] + (0..64).map(|k| dw[n * 64 + k] * pool[k]).sum::<f32>()).collect();
        let mx = logits.iter().copied().fold(f32::MIN, f32::max);
        let e: Vec<f32> = logits.iter().map(|l| (l - mx).exp()).collect();
        let s: f32 = e.iter().sum();
        let out = e.iter().map(|v| v / s).collect();
        vec![input.to_vec(), conv, pool.clone(), pool, logits, out]
    }

    /// Run an ONNX model in tract (optimized) on one input; the flat f32 output.
    pub(crate) fn run_tract(bytes: &[u8], shape: &[usize], input: &[f32]) -> Vec<f32> {
        run_tract_with(bytes, shape, input, true)
    }

    /// Run an ONNX model in tract on one input, optimized or as typed (no declutter).
    ///
    /// tract 0.23.9's declutter folds `DequantizeLinear → Softmax → QuantizeLinear` into a
    /// per-element lookup table (Softmax reports a "natural" axes mapping, so tract takes it
    /// for element-wise), which breaks any QDQ model ending in softmax; such models must
    /// run unoptimized in tract.
    pub(crate) fn run_tract_with(bytes: &[u8], shape: &[usize], input: &[f32], optimize: bool) -> Vec<f32> {
        use tract_onnx::prelude::*;
        let model = tract_onnx::onnx().model_for_read(&mut &bytes[..]).expect("tract reads the model");
        let typed = if optimize { model.into_optimized() } else { model.into_typed() };
        let plan = typed.expect("tract types the model").into_runnable().expect("runnable");
        let t = Tensor::from_shape(shape, input).expect("input tensor");
        let out = plan.run(tvec!(t.into())).expect("tract runs the model");
        out[0].to_plain_array_view::<f32>().expect("f32 output").iter().copied().collect()
    }

    fn op_types(bytes: &[u8]) -> Vec<String> {
        let m = pb::ModelProto::decode(bytes).expect("decodes");
        m.graph.expect("graph").node.iter().map(|n| n.op_type.clone()).collect()
    }

    fn input_data() -> Vec<f32> {
        let mut seed = 99u64;
        (0..128).map(|_| lcg(&mut seed)).collect()
    }

    #[test]
    fn float_export_matches_reference() {
        let g = small_graph();
        let bytes = pb_util::encode(&export_float(&g));
        assert_eq!(op_types(&bytes), ["Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Softmax"]);
        let m = pb::ModelProto::decode(&bytes[..]).expect("decodes");
        let gr = m.graph.expect("graph");
        assert_eq!(gr.input[0].name, "input");
        assert_eq!(gr.output[0].name, "output");
        assert_eq!(m.opset_import[0].version, OPSET);
        let names: Vec<&str> = gr.node.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["conv1", "conv1_relu", "pool1", "flatten", "dense1", "softmax"]);

        let x = input_data();
        let got = run_tract(&bytes, &[1, 2, 8, 8], &x);
        let want = &reference(&g, &x)[5];
        assert_eq!(got.len(), 3);
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{got:?} vs {want:?}");
        }
        assert!((got.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }

    fn quant_info(g: &Graph, vals: &[Vec<f32>]) -> QuantInfo {
        let mut act: Vec<Option<QParams>> = vals
            .iter()
            .map(|v| {
                let (lo, hi) = v.iter().fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
                Some(QParams::from_range(lo, hi))
            })
            .collect();
        for n in g.nodes.iter().filter(|n| matches!(n.op, NodeOp::Softmax(_))) {
            act[n.output] = Some(QParams::softmax());
        }
        QuantInfo { act }
    }

    #[test]
    fn qdq_export_runs_and_carries_our_integers() {
        let g = small_graph();
        let x = input_data();
        let vals = reference(&g, &x);
        let q = quant_info(&g, &vals);
        let bytes = pb_util::encode(&export_qdq(&g, &q));
        let ops = op_types(&bytes);
        assert_eq!(
            ops,
            [
                "QuantizeLinear",
                "DequantizeLinear", // input
                "DequantizeLinear",
                "DequantizeLinear",
                "Conv",
                "Relu",
                "QuantizeLinear",
                "DequantizeLinear",
                "MaxPool",
                "QuantizeLinear",
                "DequantizeLinear",
                "Flatten",
                "QuantizeLinear",
                "DequantizeLinear",
                "DequantizeLinear",
                "DequantizeLinear",
                "Gemm",
                "QuantizeLinear",
                "DequantizeLinear",
                "Softmax",
                "QuantizeLinear",
                "DequantizeLinear",
            ]
        );
        let m = pb::ModelProto::decode(&bytes[..]).expect("decodes");
        let gr = m.graph.expect("graph");
        assert_eq!(gr.output[0].name, "output");
        assert_eq!(gr.node.last().expect("nodes").output[0], "output");
        // Tensor names are unique.
        let mut outs: Vec<&str> = gr.node.iter().flat_map(|n| n.output.iter().map(|s| s.as_str())).collect();
        outs.extend(gr.initializer.iter().map(|t| t.name.as_str()));
        let n = outs.len();
        outs.sort();
        outs.dedup();
        assert_eq!(outs.len(), n);

        // The conv weights and bias are exactly the quant module's integers.
        let NodeOp::Conv { weight, bias, .. } = &g.nodes[0].op else { unreachable!() };
        let ws = weight_scales(weight, 4);
        let init = |name: &str| gr.initializer.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("{name}"));
        let wq: Vec<u8> = quantize_weights(weight, &ws).iter().map(|&v| v as u8).collect();
        assert_eq!(init("conv1.weight_quantized").raw_data, wq);
        assert_eq!(init("conv1.weight_quantized").dims, [4, 2, 3, 3]);
        let bq: Vec<u8> = quantize_bias(bias, q.of(g.input).scale, &ws).iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(init("conv1.bias_quantized").raw_data, bq);
        assert_eq!(init("conv1.bias_quantized").data_type, pb_util::DataType::Int32 as i32);
        assert!(init("input_scale").dims.is_empty());

        // Unoptimized: see `run_tract_with` on tract's QDQ-softmax folding.
        let got = run_tract_with(&bytes, &[1, 2, 8, 8], &x, false);
        let want = &vals[5];
        assert_eq!(got.len(), 3);
        for (a, b) in got.iter().zip(want) {
            // Quantized to 1/256; allow a few LSB of accumulated error.
            assert!((a - b).abs() < 0.04, "{got:?} vs {want:?}");
            assert_eq!((a * 256.0).round(), a * 256.0, "output is a dequantized int8");
        }
    }

    /// Without the softmax, tract's optimizer folds the QDQ graph into integer kernels;
    /// the result must still be the float logits within a few activation LSB.
    #[test]
    fn qdq_export_without_softmax_runs_optimized() {
        let mut g = small_graph();
        g.nodes.pop();
        g.output = g.nodes[g.nodes.len() - 1].output;
        let x = input_data();
        let vals = reference(&g, &x);
        let mut q = quant_info(&g, &vals);
        q.act[5] = None;
        let bytes = pb_util::encode(&export_qdq(&g, &q));
        let m = pb::ModelProto::decode(&bytes[..]).expect("decodes");
        assert_eq!(m.graph.expect("graph").output[0].name, "logits");
        let got = run_tract(&bytes, &[1, 2, 8, 8], &x);
        let s = q.of(g.output).scale;
        for (a, b) in got.iter().zip(&vals[4]) {
            assert!((a - b).abs() < 4.0 * s, "{got:?} vs {:?}", vals[4]);
        }
        assert_eq!(got, run_tract_with(&bytes, &[1, 2, 8, 8], &x, false));
    }

    fn val(dims: [usize; 4], layout: Layout) -> Value {
        Value { name: "v".into(), dims, layout }
    }

    #[test]
    fn alias_steps_fold() {
        let steps = |a: &Value, b: &Value| alias_steps(a, b).into_iter().map(|(s, _)| s).collect::<Vec<_>>();
        let d = [1, 3, 4, 5];
        assert_eq!(steps(&val(d, Layout::Nchw), &val(d, Layout::FlatChw)), [Step::Reshape(vec![1, 60])]);
        assert_eq!(steps(&val(d, Layout::Nhwc), &val(d, Layout::FlatHwc)), [Step::Reshape(vec![1, 60])]);
        assert_eq!(steps(&val(d, Layout::Nhwc), &val(d, Layout::Nchw)), [Step::Transpose([0, 3, 1, 2])]);
        assert_eq!(steps(&val(d, Layout::Nchw), &val(d, Layout::Nhwc)), [Step::Transpose([0, 2, 3, 1])]);
        assert_eq!(steps(&val(d, Layout::Nchw), &val(d, Layout::Nchw)), []);
        assert_eq!(steps(&val(d, Layout::FlatChw), &val(d, Layout::Nchw)), [Step::Reshape(vec![1, 5, 3, 4])]);
        assert_eq!(
            steps(&val(d, Layout::Nchw), &val(d, Layout::FlatHwc)),
            [Step::Transpose([0, 2, 3, 1]), Step::Reshape(vec![1, 60])]
        );
        assert_eq!(
            steps(&val([1, 1, 1, 8], Layout::FlatHwc), &val([1, 1, 1, 8], Layout::Nchw)),
            [Step::Reshape(vec![1, 8, 1, 1])]
        );
        assert_eq!(
            steps(&val([1, 1, 1, 60], Layout::FlatHwc), &val(d, Layout::Nchw)),
            [Step::Reshape(vec![1, 3, 4, 5]), Step::Transpose([0, 3, 1, 2])]
        );
    }

    /// An NHWC input (tf2onnx style) → Transpose alias → maxpool → flatten, checked in tract
    /// against the physical-order semantics of the IR.
    #[test]
    fn nhwc_alias_chain_runs() {
        let mut g = Graph { values: vec![], nodes: vec![], input: 0, output: 0 };
        let x = g.add_value("x", [1, 4, 4, 3], Layout::Nhwc);
        let t = g.add_value("t", [1, 4, 4, 3], Layout::Nchw);
        let p = g.add_value("p", [1, 2, 2, 3], Layout::Nchw);
        let o = g.add_value("y", [1, 2, 2, 3], Layout::FlatHwc);
        let node = |name: &str, op, i, out| Node {
            name: name.into(),
            onnx_op: String::new(),
            op,
            inputs: vec![i],
            output: out,
            act: Activation::None,
        };
        g.nodes = vec![
            node("to_nchw", NodeOp::Alias, x, t),
            node("pool", NodeOp::MaxPool { win: win(2, 2, 0) }, t, p),
            node("flat", NodeOp::Alias, p, o),
        ];
        g.input = x;
        g.output = o;
        let bytes = pb_util::encode(&export_float(&g));
        assert_eq!(op_types(&bytes), ["Transpose", "MaxPool", "Transpose", "Flatten"]);
        // Physical NHWC input = ONNX NHWC input.
        let input: Vec<f32> = (0..48).map(|i| ((i * 7) % 48) as f32).collect();
        let got = run_tract(&bytes, &[1, 4, 4, 3], &input);
        // FlatHwc output = physical order of the pooled map.
        let mut want = vec![];
        for y in 0..2 {
            for xx in 0..2 {
                for c in 0..3 {
                    let m = [(0, 0), (0, 1), (1, 0), (1, 1)]
                        .iter()
                        .map(|(dy, dx)| input[((2 * y + dy) * 4 + 2 * xx + dx) * 3 + c])
                        .fold(f32::MIN, f32::max);
                    want.push(m);
                }
            }
        }
        assert_eq!(got, want);
    }
}
