//! IR → Candle: a trainable forward pass built from a [`Graph`], and the trained weights
//! written back into the graph (so [`kestrel_compiler::onnx::export::export_float`] produces the
//! model for `kestrel compile`).
//!
//! Candle layouts: a 4-D value (ONNX layout `Nchw` or `Nhwc`) is a `[B, C, H, W]` tensor
//! whatever its ONNX layout, since the IR keeps the data physically NHWC and only the ONNX
//! view differs; a flat value is `[B, K]` in its ONNX logical order (`FlatChw`: channel
//! major, as Flatten of NCHW; `FlatHwc`: channel minor). Alias nodes convert between the
//! two through the physical NHWC order.
//!
//! Parameters live in a [`VarMap`] keyed `{layer}.weight` / `{layer}.bias` (BatchNorm:
//! `{layer}.weight` = gamma, `{layer}.bias` = beta) in ONNX layouts (conv OIHW, dense
//! `[n][k]`); BatchNorm running statistics are buffers `{layer}.running_mean` /
//! `{layer}.running_var`. Dropout, which the IR has no node for, is a list of values the
//! trainer drops out in training mode.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::VarMap;
use kestrel_runtime::{Activation, SoftmaxAxes};
use rand::rngs::StdRng;
use rand::Rng;

use super::fused::{BatchNormTrain, BatchStats, MaxPool};
use super::im2col::{self, Im2Col};
use kestrel_compiler::ir::{Graph, Layout, Node, NodeOp, Value, ValueId, Window};

/// Keras' BatchNormalization momentum: `running = m * running + (1 - m) * batch`.
pub const BN_MOMENTUM: f64 = 0.99;

/// A trainable network: the graph, its parameters and what is frozen.
pub struct Net {
    /// The architecture (its weights are the initial ones; see [`Net::to_graph`]).
    pub graph: Graph,
    /// Where tensors live.
    pub device: Device,
    /// Trainable parameters, `{layer}.weight` / `{layer}.bias`.
    pub vars: VarMap,
    /// BatchNorm running statistics, `{layer}.running_mean` / `{layer}.running_var`.
    pub buffers: BTreeMap<String, Var>,
    /// Layers whose parameters don't train (and whose BatchNorm runs in inference mode).
    pub frozen: BTreeSet<String>,
    /// Values followed by dropout of the given rate in training mode.
    pub dropout: Vec<(ValueId, f32)>,
    /// The closing dense layer when it is a binary sigmoid head ([`Net::make_binary`]).
    pub binary: Option<String>,
}

/// The value the loss reads: the input of a closing softmax, else the graph output.
pub fn logits_value(g: &Graph) -> ValueId {
    match g.producer(g.output).map(|p| &g.nodes[p]) {
        Some(n) if n.op == NodeOp::Softmax(SoftmaxAxes::CHANNELS) => n.inputs[0],
        _ => g.output,
    }
}

/// `t` (in the candle layout of `v`) as `[B, N]` in physical NHWC order.
fn to_physical(t: &Tensor, v: &Value) -> Result<Tensor> {
    let [_, h, w, c] = v.dims;
    let b = t.dim(0)?;
    Ok(match v.layout {
        Layout::Nchw | Layout::Nhwc => t.permute((0, 2, 3, 1))?.flatten_from(1)?,
        Layout::FlatHwc => t.clone(),
        Layout::FlatChw => t.reshape((b, c, h, w))?.permute((0, 2, 3, 1))?.flatten_from(1)?,
    })
}

/// `[B, N]` in physical NHWC order → the candle layout of `v`.
fn from_physical(p: &Tensor, v: &Value) -> Result<Tensor> {
    let [_, h, w, c] = v.dims;
    let b = p.dim(0)?;
    Ok(match v.layout {
        Layout::Nchw | Layout::Nhwc => p.reshape((b, h, w, c))?.permute((0, 3, 1, 2))?.contiguous()?,
        Layout::FlatHwc => p.clone(),
        Layout::FlatChw => p.reshape((b, h, w, c))?.permute((0, 3, 1, 2))?.flatten_from(1)?,
    })
}

/// An IR Alias in candle layouts.
fn alias(t: &Tensor, src: &Value, dst: &Value) -> Result<Tensor> {
    if src.dims == dst.dims {
        match (src.layout, dst.layout) {
            (a, b) if a == b => return Ok(t.clone()),
            (Layout::Nchw | Layout::Nhwc, Layout::Nchw | Layout::Nhwc) => return Ok(t.clone()),
            (Layout::Nchw | Layout::Nhwc, Layout::FlatChw) => return Ok(t.flatten_from(1)?),
            _ => {}
        }
    }
    from_physical(&to_physical(t, src)?, dst)
}

/// `x` padded on `dim` with `l`/`r` entries of `v`.
fn pad_value(x: &Tensor, dim: usize, l: usize, r: usize, v: f32) -> Result<Tensor> {
    if l == 0 && r == 0 {
        return Ok(x.clone());
    }
    let mut parts = Vec::with_capacity(3);
    let mut shape = x.dims().to_vec();
    if l > 0 {
        shape[dim] = l;
        parts.push(Tensor::full(v, shape.as_slice(), x.device())?.to_dtype(x.dtype())?);
    }
    parts.push(x.clone());
    if r > 0 {
        shape[dim] = r;
        parts.push(Tensor::full(v, shape.as_slice(), x.device())?.to_dtype(x.dtype())?);
    }
    Ok(Tensor::cat(&parts, dim)?)
}

/// Pad an NCHW tensor by a window's pads (top, left, bottom, right) with `v`.
fn pad_hw(x: &Tensor, pads: [usize; 4], v: f32) -> Result<Tensor> {
    let x = pad_value(x, 2, pads[0], pads[2], v)?;
    pad_value(&x, 3, pads[1], pads[3], v)
}

fn act(x: Tensor, a: Activation) -> Result<Tensor> {
    Ok(match a {
        Activation::None => x,
        Activation::Relu => x.relu()?,
        Activation::Clip(lo, hi) => x.clamp(lo, hi)?,
        Activation::LeakyRelu(alpha) => candle_nn::ops::leaky_relu(&x, alpha as f64)?,
    })
}

fn check_window(n: &Node, win: &Window) -> Result<()> {
    if win.strides[0] != win.strides[1] || win.dilations[0] != win.dilations[1] {
        bail!("layer \"{}\": training supports equal strides and dilations on both axes", n.name);
    }
    Ok(())
}

impl Net {
    /// Parameters from the graph's weights, on `device`.
    pub fn new(graph: Graph, device: &Device) -> Result<Net> {
        let vars = VarMap::new();
        let mut buffers = BTreeMap::new();
        {
            let mut data = vars.data().lock().map_err(|_| anyhow::anyhow!("poisoned var map"))?;
            let mut put = |name: String, v: &[f32], shape: Vec<usize>| -> Result<()> {
                data.insert(name, Var::from_vec(v.to_vec(), shape, device)?);
                Ok(())
            };
            for n in &graph.nodes {
                match &n.op {
                    NodeOp::Conv { weight, bias, win, groups } => {
                        check_window(n, win)?;
                        let cout = bias.len();
                        let cin = graph.values[n.inputs[0]].dims[3] / groups;
                        put(format!("{}.weight", n.name), weight, vec![cout, cin, win.kernel[0], win.kernel[1]])?;
                        put(format!("{}.bias", n.name), bias, vec![cout])?;
                    }
                    NodeOp::Dense { weight, bias } => {
                        put(format!("{}.weight", n.name), weight, vec![bias.len(), weight.len() / bias.len().max(1)])?;
                        put(format!("{}.bias", n.name), bias, vec![bias.len()])?;
                    }
                    NodeOp::BatchNorm { scale, bias, mean, var, .. } => {
                        put(format!("{}.weight", n.name), scale, vec![scale.len()])?;
                        put(format!("{}.bias", n.name), bias, vec![bias.len()])?;
                        buffers.insert(format!("{}.running_mean", n.name), Var::from_vec(mean.clone(), mean.len(), device)?);
                        buffers.insert(format!("{}.running_var", n.name), Var::from_vec(var.clone(), var.len(), device)?);
                    }
                    NodeOp::MaxPool { win } | NodeOp::AvgPool { win, .. } => {
                        check_window(n, win)?;
                        if win.dilations != [1, 1] {
                            bail!("layer \"{}\": training does not support dilated pooling", n.name);
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(Net { graph, device: device.clone(), vars, buffers, frozen: BTreeSet::new(), dropout: Vec::new(), binary: None })
    }

    /// Make the closing dense layer (two outputs, before the softmax) a binary sigmoid head,
    /// as Keras' `Dense(1, activation="sigmoid")` with `binary_crossentropy`: one logit
    /// `z = w·x + b` is trained. Its logits are `[0, z]`, so the softmax gives exactly
    /// `[1 − σ(z), σ(z)]` and softmax cross-entropy equals binary cross-entropy on `z`. The
    /// exported graph keeps a two-output dense (rows `0` and `w`, biases `0` and `b`) and the
    /// softmax: the same probabilities, with a score per class for every runtime.
    pub fn make_binary(&mut self) -> Result<()> {
        let g = &self.graph;
        let last = g.producer(logits_value(g)).map(|p| &g.nodes[p]);
        let Some(n) = last.filter(|n| matches!(n.op, NodeOp::Dense { .. }) && n.act == Activation::None) else {
            bail!("a binary (sigmoid) head needs the model to end in a dense layer and a softmax");
        };
        let name = n.name.clone();
        let (w, b) = (self.var(&format!("{name}.weight"))?, self.var(&format!("{name}.bias"))?);
        if b.dim(0)? != 2 {
            bail!("a binary (sigmoid) head needs two classes; the last dense layer has {} outputs", b.dim(0)?);
        }
        // Start from the same logits difference the two-output initialization had.
        let (w, b) = (w.as_tensor(), b.as_tensor());
        let w1 = w.get(1)?.sub(&w.get(0)?)?.unsqueeze(0)?;
        let b1 = b.narrow(0, 1, 1)?.sub(&b.narrow(0, 0, 1)?)?;
        let mut data = self.vars.data().lock().map_err(|_| anyhow::anyhow!("poisoned var map"))?;
        data.insert(format!("{name}.weight"), Var::from_tensor(&w1)?);
        data.insert(format!("{name}.bias"), Var::from_tensor(&b1)?);
        drop(data);
        self.binary = Some(name);
        Ok(())
    }

    /// A parameter by name.
    pub fn var(&self, name: &str) -> Result<Var> {
        let data = self.vars.data().lock().map_err(|_| anyhow::anyhow!("poisoned var map"))?;
        data.get(name).cloned().with_context(|| format!("no parameter {name}"))
    }

    /// All parameters, sorted by name.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let data = self.vars.data().lock().expect("var map lock");
        let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The layer a parameter or buffer belongs to.
    pub fn layer_of(name: &str) -> &str {
        name.rsplit_once('.').map_or(name, |(l, _)| l)
    }

    /// Parameters that train (not frozen), sorted by name.
    pub fn trainable(&self) -> Vec<(String, Var)> {
        self.named_vars().into_iter().filter(|(k, _)| !self.frozen.contains(Net::layer_of(k))).collect()
    }

    /// Layers with parameters, in graph order.
    pub fn param_layers(&self) -> Vec<String> {
        self.graph
            .nodes
            .iter()
            .filter(|n| matches!(n.op, NodeOp::Conv { .. } | NodeOp::Dense { .. } | NodeOp::BatchNorm { .. }))
            .map(|n| n.name.clone())
            .collect()
    }

    fn p(&self, layer: &str, what: &str) -> Result<Tensor> {
        let v = self.var(&format!("{layer}.{what}"))?;
        Ok(if self.frozen.contains(layer) { v.as_tensor().detach() } else { v.as_tensor().clone() })
    }

    /// Forward from the graph input `x` (`[B, C, H, W]`) to the logits (`[B, K]`, the
    /// input of the closing softmax). `rng` draws dropout masks in training mode.
    pub fn forward(&self, x: &Tensor, train: bool, rng: &mut StdRng) -> Result<Tensor> {
        let g = &self.graph;
        self.forward_from(g.input, x, logits_value(g), train, rng)
    }

    /// Forward from value `start` given as `x` (candle layout) to value `stop`, running
    /// only the nodes whose inputs are known (nodes before `start` are skipped).
    pub fn forward_from(&self, start: ValueId, x: &Tensor, stop: ValueId, train: bool, rng: &mut StdRng) -> Result<Tensor> {
        let g = &self.graph;
        let mut vals: Vec<Option<Tensor>> = vec![None; g.values.len()];
        vals[start] = Some(x.clone());
        if start == stop {
            return Ok(x.clone());
        }
        for n in &g.nodes {
            let Some(ins) = n.inputs.iter().map(|&i| vals[i].clone()).collect::<Option<Vec<Tensor>>>() else {
                continue;
            };
            let mut y = self.node(n, &ins, train).with_context(|| format!("layer \"{}\"", n.name))?;
            if train {
                if let Some(&(_, p)) = self.dropout.iter().find(|(v, _)| *v == n.output) {
                    y = dropout(&y, p, rng)?;
                }
            }
            if n.output == stop {
                return Ok(y);
            }
            vals[n.output] = Some(y);
        }
        bail!("value \"{}\" is not computed from \"{}\"", g.values[stop].name, g.values[start].name)
    }

    fn node(&self, n: &Node, ins: &[Tensor], train: bool) -> Result<Tensor> {
        let g = &self.graph;
        let x = &ins[0];
        let y = match &n.op {
            NodeOp::Conv { win, groups, .. } => {
                let (w, b) = (self.p(&n.name, "weight")?, self.p(&n.name, "bias")?);
                if train && *groups == 1 && self.device.is_cpu() && !self.frozen.contains(&n.name) {
                    let op = Im2Col { k: win.kernel, s: win.strides, p: win.pads, d: win.dilations, ones_row: true };
                    im2col::conv2d(x, &w, &b, op)?
                } else {
                    let [t, l, bo, r] = win.pads;
                    let (x, pad) = if t == l && t == bo && t == r { (x.clone(), t) } else { (pad_hw(x, win.pads, 0.0)?, 0) };
                    let y = x.conv2d(&w, pad, win.strides[0], win.dilations[0], *groups)?;
                    y.broadcast_add(&b.reshape((1, b.dim(0)?, 1, 1))?)?
                }
            }
            NodeOp::Dense { .. } => {
                let (w, b) = (self.p(&n.name, "weight")?, self.p(&n.name, "bias")?);
                let src = &g.values[n.inputs[0]];
                let x = match src.layout {
                    Layout::Nchw => x.flatten_from(1)?,
                    Layout::Nhwc => x.permute((0, 2, 3, 1))?.flatten_from(1)?,
                    _ => x.clone(),
                };
                let y = x.matmul(&w.t()?)?.broadcast_add(&b)?;
                if self.binary.as_deref() == Some(n.name.as_str()) {
                    Tensor::cat(&[y.zeros_like()?, y], 1)?
                } else {
                    y
                }
            }
            NodeOp::BatchNorm { eps, .. } => self.batch_norm(n, x, *eps as f64, train)?,
            NodeOp::MaxPool { win } => {
                let x = pad_hw(x, win.pads, f32::NEG_INFINITY)?;
                if train && self.device.is_cpu() {
                    x.contiguous()?.apply_op1(MaxPool { k: win.kernel, s: win.strides })?
                } else {
                    x.max_pool2d_with_stride((win.kernel[0], win.kernel[1]), (win.strides[0], win.strides[1]))?
                }
            }
            NodeOp::AvgPool { win, count_include_pad } => {
                let k = (win.kernel[0], win.kernel[1]);
                let s = (win.strides[0], win.strides[1]);
                let y = pad_hw(x, win.pads, 0.0)?.avg_pool2d_with_stride(k, s)?;
                if *count_include_pad || win.pads == [0; 4] {
                    y
                } else {
                    let ones = Tensor::ones((1, 1, x.dim(2)?, x.dim(3)?), x.dtype(), x.device())?;
                    let cnt = pad_hw(&ones, win.pads, 0.0)?.avg_pool2d_with_stride(k, s)?;
                    y.broadcast_div(&cnt)?
                }
            }
            NodeOp::Act(a) => act(x.clone(), *a)?,
            NodeOp::Softmax(SoftmaxAxes::CHANNELS) => candle_nn::ops::softmax(x, 1)?,
            NodeOp::Add => x.add(&ins[1])?,
            NodeOp::Concat => Tensor::cat(ins, 1)?,
            NodeOp::Alias => alias(x, &g.values[n.inputs[0]], &g.values[n.output])?,
            NodeOp::Unary(_) | NodeOp::PRelu { .. } | NodeOp::Mul | NodeOp::Pad { .. } | NodeOp::Copy { .. } | NodeOp::Lrn(_) | NodeOp::Softmax(_) => {
                bail!("layer \"{}\" ({}): training does not support this op yet", n.name, n.onnx_op)
            }
        };
        act(y, n.act)
    }

    fn batch_norm(&self, n: &Node, x: &Tensor, eps: f64, train: bool) -> Result<Tensor> {
        let (gamma, beta) = (self.p(&n.name, "weight")?, self.p(&n.name, "bias")?);
        let rm = self.buffers.get(&format!("{}.running_mean", n.name)).context("running mean")?;
        let rv = self.buffers.get(&format!("{}.running_var", n.name)).context("running var")?;
        let four = x.rank() == 4;
        let c = x.dim(1)?;
        let shape: Vec<usize> = if four { vec![1, c, 1, 1] } else { vec![1, c] };
        if train && !self.frozen.contains(&n.name) && self.device.is_cpu() {
            let x = x.contiguous()?;
            let stats = x.apply_op1_no_bwd(&BatchStats)?;
            let count = x.elem_count() / c;
            let unbiased = count as f64 / (count.max(2) - 1) as f64;
            let (m1, v1) = (stats.get(0)?, stats.get(1)?);
            rm.set(&(rm.as_tensor().affine(BN_MOMENTUM, 0.0)? + m1.affine(1.0 - BN_MOMENTUM, 0.0)?)?)?;
            rv.set(&(rv.as_tensor().affine(BN_MOMENTUM, 0.0)? + v1.affine((1.0 - BN_MOMENTUM) * unbiased, 0.0)?)?)?;
            return Ok(x.apply_op3(&gamma, &beta, BatchNormTrain { eps: eps as f32 })?);
        }
        let (mean, var) = if train && !self.frozen.contains(&n.name) {
            // Batch statistics over everything but the channel axis.
            let count = x.elem_count() / c;
            let (mean, var) = if four {
                let mean = x.mean_keepdim((0, 2, 3))?;
                (mean.clone(), x.broadcast_sub(&mean)?.sqr()?.mean_keepdim((0, 2, 3))?)
            } else {
                let mean = x.mean_keepdim(0)?;
                (mean.clone(), x.broadcast_sub(&mean)?.sqr()?.mean_keepdim(0)?)
            };
            let (m1, v1) = (mean.flatten_all()?.detach(), var.flatten_all()?.detach());
            let unbiased = count as f64 / (count.max(2) - 1) as f64;
            rm.set(&(rm.as_tensor().affine(BN_MOMENTUM, 0.0)? + m1.affine(1.0 - BN_MOMENTUM, 0.0)?)?)?;
            rv.set(&(rv.as_tensor().affine(BN_MOMENTUM, 0.0)? + v1.affine((1.0 - BN_MOMENTUM) * unbiased, 0.0)?)?)?;
            (mean.reshape(shape.as_slice())?, var.reshape(shape.as_slice())?)
        } else {
            (rm.as_tensor().detach().reshape(shape.as_slice())?, rv.as_tensor().detach().reshape(shape.as_slice())?)
        };
        let xn = x.broadcast_sub(&mean)?.broadcast_div(&(var + eps)?.sqrt()?)?;
        Ok(xn.broadcast_mul(&gamma.reshape(shape.as_slice())?)?.broadcast_add(&beta.reshape(shape.as_slice())?)?)
    }

    /// The graph with the current parameters and running statistics.
    pub fn to_graph(&self) -> Result<Graph> {
        let mut g = self.graph.clone();
        let get = |name: String| -> Result<Vec<f32>> { Ok(self.var(&name)?.as_tensor().flatten_all()?.to_vec1::<f32>()?) };
        let buf = |name: String| -> Result<Vec<f32>> {
            Ok(self.buffers.get(&name).context("missing buffer")?.as_tensor().flatten_all()?.to_vec1::<f32>()?)
        };
        for n in &mut g.nodes {
            let name = n.name.clone();
            match &mut n.op {
                NodeOp::Conv { weight, bias, .. } | NodeOp::Dense { weight, bias } => {
                    *weight = get(format!("{name}.weight"))?;
                    *bias = get(format!("{name}.bias"))?;
                    if self.binary.as_deref() == Some(name.as_str()) {
                        // The sigmoid head as its two-output equivalent (see make_binary).
                        weight.splice(0..0, std::iter::repeat_n(0.0, weight.len()));
                        bias.insert(0, 0.0);
                    }
                }
                NodeOp::BatchNorm { scale, bias, mean, var, .. } => {
                    *scale = get(format!("{name}.weight"))?;
                    *bias = get(format!("{name}.bias"))?;
                    *mean = buf(format!("{name}.running_mean"))?;
                    *var = buf(format!("{name}.running_var"))?;
                }
                _ => {}
            }
        }
        Ok(g)
    }

    /// Every parameter and buffer by name, on the CPU (for checkpoints).
    pub fn state(&self) -> Result<BTreeMap<String, Tensor>> {
        let mut m = BTreeMap::new();
        for (k, v) in self.named_vars() {
            m.insert(k, v.as_tensor().to_device(&Device::Cpu)?);
        }
        for (k, v) in &self.buffers {
            m.insert(k.clone(), v.as_tensor().to_device(&Device::Cpu)?);
        }
        Ok(m)
    }

    /// Restore parameters and buffers saved by [`Net::state`]; every one must be present
    /// with its shape.
    pub fn load_state(&self, m: &BTreeMap<String, Tensor>) -> Result<()> {
        let mut all: Vec<(String, Var)> = self.named_vars();
        all.extend(self.buffers.iter().map(|(k, v)| (k.clone(), v.clone())));
        for (k, v) in all {
            let t = m.get(&k).with_context(|| format!("the checkpoint has no tensor {k}"))?;
            if t.dims() != v.dims() {
                bail!("checkpoint tensor {k} has shape {:?}, the model needs {:?}", t.dims(), v.dims());
            }
            v.set(&t.to_dtype(DType::F32)?.to_device(&self.device)?)?;
        }
        Ok(())
    }
}

/// Inverted dropout with a mask from `rng` (seeded, so training is reproducible).
pub fn dropout(x: &Tensor, p: f32, rng: &mut StdRng) -> Result<Tensor> {
    if p <= 0.0 {
        return Ok(x.clone());
    }
    let keep = 1.0 - p;
    let mask: Vec<f32> = (0..x.elem_count()).map(|_| if rng.random::<f32>() < keep { 1.0 / keep } else { 0.0 }).collect();
    let m = Tensor::from_vec(mask, x.dims(), x.device())?;
    Ok(x.mul(&m)?)
}

/// Mean cross-entropy of `logits` `[B, K]` against class indices, and the number of
/// correct top-1 predictions.
pub fn loss_and_correct(logits: &Tensor, labels: &Tensor) -> Result<(Tensor, usize)> {
    let loss = candle_nn::loss::cross_entropy(logits, labels)?;
    let pred = logits.argmax(D::Minus1)?;
    let correct = pred.eq(labels)?.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()? as usize;
    Ok((loss, correct))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The candle forward equals tract on the float ONNX export (zoo graphs, random input).
    #[test]
    fn forward_matches_tract_on_export() {
        for name in ["mnist_cnn_28", "cifar_cnn_32"] {
            let g = kestrel_compiler::zoo::build(name, 3).expect("zoo");
            let x = kestrel_compiler::zoo::random_input(&g, 9);
            let shape = g.values[g.input].onnx_shape();
            let bytes = kestrel_compiler::onnx::pb_util::encode(&kestrel_compiler::onnx::export::export_float(&g));
            let want = kestrel_engines::TractModel::new(&bytes, &shape).expect("tract").run(&shape, &x).expect("tract runs");
            let net = Net::new(g.clone(), &Device::Cpu).expect("net");
            let xt = Tensor::from_vec(x, shape.as_slice(), &Device::Cpu).expect("tensor");
            let out = net
                .forward_from(g.input, &xt, g.output, false, &mut StdRng::seed_from_u64(0))
                .expect("forward")
                .flatten_all()
                .expect("flat")
                .to_vec1::<f32>()
                .expect("vec");
            for (a, b) in out.iter().zip(&want) {
                assert!((a - b).abs() < 1e-4, "{name}: {a} vs {b}");
            }
            assert_eq!(net.to_graph().expect("graph"), g);
        }
    }

    #[test]
    fn alias_round_trips() {
        let mut g = Graph { values: vec![], nodes: vec![], input: 0, output: 0 };
        let a = g.add_value("a", [1, 2, 3, 4], Layout::Nchw);
        let b = g.add_value("b", [1, 2, 3, 4], Layout::FlatHwc);
        let c = g.add_value("c", [1, 2, 3, 4], Layout::FlatChw);
        let t = Tensor::arange(0f32, 24.0, &Device::Cpu).expect("t").reshape((1, 4, 2, 3)).expect("r");
        let hwc = alias(&t, &g.values[a], &g.values[b]).expect("alias");
        let chw = alias(&hwc, &g.values[b], &g.values[c]).expect("alias");
        assert_eq!(chw.flatten_all().expect("f").to_vec1::<f32>().expect("v"), (0..24).map(|v| v as f32).collect::<Vec<_>>());
        let back = alias(&chw, &g.values[c], &g.values[a]).expect("alias");
        assert_eq!(back.flatten_all().expect("f").to_vec1::<f32>().expect("v"), t.flatten_all().expect("f").to_vec1::<f32>().expect("v"));
        assert_eq!(hwc.to_vec2::<f32>().expect("v")[0][..4], [0.0, 6.0, 12.0, 18.0]);
    }
}
