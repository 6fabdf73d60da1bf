//! Op builders of the ONNX importer (a child module of `import.rs`): one small function per
//! ONNX op type, looked up by [`builder`]. Each reads its node's inputs from the [`Ctx`]
//! name tables, checks shapes, layouts and attributes, and appends IR nodes (or constants).

mod lrn;
mod pad;
mod pointwise;
mod softmax;

use super::reduce::{reduce_max, reduce_mean, sum};
use super::views::{flatten, reshape, squeeze, transpose, unsqueeze};
use super::{Ctx, Nd, Result, MAX_WINDOW};
use lrn::lrn;
use pad::pad;
use softmax::{log_softmax, softmax};
use pointwise::{affine, broadcast, elu, hard_sigmoid, hard_swish, mul, prelu, selu, sigmoid, softplus, tanh};
use crate::ir::{Layout, NodeOp, ValueId, Window};
use kestrel_runtime::Activation;

/// Builds the IR for one ONNX node.
pub(super) type Builder = fn(&mut Ctx, &Nd) -> Result<()>;

/// The builder of an ONNX op type (default domain), `None` when unsupported.
pub(super) fn builder(op: &str) -> Option<Builder> {
    let f: Builder = match op {
        "Conv" => conv,
        "Squeeze" => squeeze,
        "ReduceMean" => reduce_mean,
        "ReduceMax" => reduce_max,
        "Sum" => sum,
        "BatchNormalization" => batch_norm,
        "Relu" => relu,
        "Clip" => clip,
        "LeakyRelu" => leaky_relu,
        "PRelu" => prelu,
        "Sigmoid" => sigmoid,
        "HardSigmoid" => hard_sigmoid,
        "HardSwish" => hard_swish,
        "Tanh" => tanh,
        "Elu" => elu,
        "Selu" => selu,
        "Softplus" => softplus,
        "Mul" => mul,
        "Pad" => pad,
        "LRN" => lrn,
        "MaxPool" => max_pool,
        "AveragePool" => avg_pool,
        "GlobalAveragePool" => global_avg_pool,
        "GlobalMaxPool" => global_max_pool,
        "Gemm" => gemm,
        "MatMul" => matmul,
        "Add" => add,
        "Flatten" => flatten,
        "Reshape" => reshape,
        "Transpose" => transpose,
        "Dropout" | "Identity" => forward,
        "Softmax" => softmax,
        "LogSoftmax" => log_softmax,
        "Concat" => concat,
        "Unsqueeze" => unsqueeze,
        "Slice" => super::copy::slice,
        _ => return None,
    };
    Some(f)
}

/// How many outputs the op may declare (the builder checks the optional ones).
pub(super) fn max_outputs(op: &str) -> usize {
    match op {
        "MaxPool" | "Dropout" => 2,
        "BatchNormalization" => 5,
        _ => 1,
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

/// Normalize a possibly negative axis for rank `r`.
fn norm_axis(nd: &Nd, axis: i64, r: usize) -> Result<usize> {
    let a = if axis < 0 { axis + r as i64 } else { axis };
    if (0..r as i64).contains(&a) {
        Ok(a as usize)
    } else {
        Err(nd.bad_attr("axis", axis, &format!("out of range for rank {r}")))
    }
}

/// A `[h, w]` window attribute (strides, dilations, kernel_shape), `default` when absent.
fn hw_attr(nd: &Nd, name: &str, default: Option<usize>) -> Result<[usize; 2]> {
    match (nd.attr_ints(name)?, default) {
        (None, Some(d)) => Ok([d, d]),
        (None, None) => Err(nd.err(format!("attribute {name} is missing"))),
        (Some(v), _) => match *v.as_slice() {
            [a, b] if (1..=MAX_WINDOW).contains(&a) && (1..=MAX_WINDOW).contains(&b) => Ok([a as usize, b as usize]),
            [_, _] => Err(nd.bad_attr(name, format!("{v:?}"), "values must be in 1..=2^20")),
            _ => Err(nd.bad_attr(name, format!("{v:?}"), "only 2-D windows are supported")),
        },
    }
}

/// The window of a conv or pool over an `in_hw` input, and its output (h, w).
fn window(nd: &Nd, kernel: [usize; 2], in_hw: [usize; 2]) -> Result<(Window, [usize; 2])> {
    let strides = hw_attr(nd, "strides", Some(1))?;
    let dilations = hw_attr(nd, "dilations", Some(1))?;
    let auto_pad = nd.attr_s("auto_pad", "NOTSET")?;
    let pads = match auto_pad.as_str() {
        "NOTSET" | "" => match nd.attr_ints("pads")? {
            None => [0; 4],
            Some(p) => match *p.as_slice() {
                [t, l, b, r] if [t, l, b, r].iter().all(|x| (0..=MAX_WINDOW).contains(x)) => {
                    [t as usize, l as usize, b as usize, r as usize]
                }
                [_, _, _, _] => return Err(nd.bad_attr("pads", format!("{p:?}"), "values must be in 0..=2^20")),
                _ => return Err(nd.bad_attr("pads", format!("{p:?}"), "only 2-D windows are supported")),
            },
        },
        "VALID" => [0; 4],
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut p = [0; 4];
            for a in 0..2 {
                let (i, k, s, d) = (in_hw[a], kernel[a], strides[a], dilations[a]);
                let total = ((i.div_ceil(s).max(1) - 1) * s + (k - 1) * d + 1).saturating_sub(i);
                let (small, big) = (total / 2, total - total / 2);
                (p[a], p[a + 2]) = if auto_pad == "SAME_UPPER" { (small, big) } else { (big, small) };
            }
            p
        }
        other => return Err(nd.bad_attr("auto_pad", format!("\"{other}\""), "")),
    };
    let win = Window { kernel, strides, pads, dilations };
    let (oh, ow) = win.out_hw(in_hw[0], in_hw[1]).ok_or_else(|| {
        nd.err(format!(
            "window kernel {kernel:?} dilations {dilations:?} pads {pads:?} does not fit the {}x{} input",
            in_hw[0], in_hw[1]
        ))
    })?;
    Ok((win, [oh, ow]))
}

/// The output size along axis `a` under ONNX `ceil_mode = 1`: one more window than floor
/// mode where the span does not divide, unless that window would start in the end padding
/// (PyTorch / ORT rule).
fn ceil_out(win: &Window, in_hw: [usize; 2], a: usize) -> usize {
    let (i, s, p0) = (in_hw[a], win.strides[a], win.pads[a]);
    let ext = win.dilations[a] * (win.kernel[a] - 1) + 1;
    let span = (i + p0 + win.pads[a + 2]).saturating_sub(ext);
    let floor = span / s + 1;
    if !span.is_multiple_of(s) && floor * s < i + p0 { floor + 1 } else { floor }
}

/// Input 0 as an NCHW activation, with its (h, w).
fn nchw_input(ctx: &Ctx, nd: &Nd) -> Result<(ValueId, [usize; 2])> {
    let x = ctx.act(nd, 0)?;
    ctx.need_nchw(nd, x)?;
    let [_, h, w, _] = ctx.val(x).dims;
    Ok((x, [h, w]))
}

/// An ONNX op that does nothing (Identity, inference Dropout): its output names input 0.
fn forward(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    if let Some(mask) = nd.output(1) {
        if ctx.uses.get(mask).copied().unwrap_or(0) > 0 {
            return Err(nd.err(format!("the mask output \"{mask}\" is used; not supported")));
        }
    }
    ctx.forward(nd, nd.out0())
}

// ---------------------------------------------------------------------------------------
// Conv, normalization, activations

fn conv(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let (x, in_hw) = nchw_input(ctx, nd)?;
    let cin = ctx.val(x).dims[3];
    let wt = ctx.konst(nd, 1)?;
    let &[cout, cin_g, kh, kw] = wt.dims.as_slice() else {
        return Err(nd.err(format!("weight shape {:?} is not OIHW; only 2-D convolution is supported", wt.dims)));
    };
    let group = nd.attr_i("group", 1)?;
    if group < 1 || group as usize > cin {
        return Err(nd.bad_attr("group", group, &format!("the input has {cin} channels")));
    }
    let groups = group as usize;
    if cin_g * groups != cin || cout % groups != 0 {
        return Err(
            nd.err(format!("weight shape {:?} with group {group} does not fit an input of {cin} channels", wt.dims))
        );
    }
    if kh as i64 > MAX_WINDOW || kw as i64 > MAX_WINDOW || kh * kw == 0 {
        return Err(nd.err(format!("weight shape {:?} has an unsupported kernel size", wt.dims)));
    }
    if let Some(ks) = nd.attr_ints("kernel_shape")? {
        if ks != [kh as i64, kw as i64] {
            return Err(nd.bad_attr("kernel_shape", format!("{ks:?}"), &format!("the weight shape is {:?}", wt.dims)));
        }
    }
    let weight = wt.f32s();
    let bias = match ctx.opt_konst(nd, 2)? {
        None => vec![0.0; cout],
        Some(b) if b.len() == cout => b.f32s(),
        Some(b) => return Err(nd.err(format!("bias shape {:?} does not match {cout} output channels", b.dims))),
    };
    let (win, [oh, ow]) = window(nd, [kh, kw], in_hw)?;
    let out = ctx.define(nd, nd.out0(), [1, oh, ow, cout], Layout::Nchw)?;
    ctx.push(nd, NodeOp::Conv { weight, bias, win, groups }, vec![x], out);
    Ok(())
}

fn batch_norm(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let x = ctx.act(nd, 0)?;
    let v = ctx.val(x);
    let [_, h, w, c] = v.dims;
    if v.layout != Layout::Nchw && !(v.layout.is_flat() && h * w == 1) {
        return Err(nd.err(format!(
            "input \"{}\" has ONNX shape {:?}; expected [1,C,H,W] or [1,C]",
            v.name,
            v.onnx_shape()
        )));
    }
    let training = nd.attr_i("training_mode", 0)?;
    if training != 0 {
        return Err(nd.bad_attr("training_mode", training, "only inference is supported"));
    }
    if (1..5).any(|i| nd.output(i).is_some()) {
        return Err(nd.err("training outputs (running mean / variance) are not supported"));
    }
    if ctx.opset < 9 && nd.attr_i("spatial", 1)? == 0 && h * w > 1 {
        return Err(nd.bad_attr("spatial", 0, "per-position statistics"));
    }
    let param = |i: usize, what: &str| -> Result<Vec<f32>> {
        let t = ctx.konst(nd, i)?;
        if t.len() != c {
            return Err(nd.err(format!("{what} has shape {:?}; expected {c} channels", t.dims)));
        }
        Ok(t.f32s())
    };
    let op = NodeOp::BatchNorm {
        scale: param(1, "scale")?,
        bias: param(2, "B")?,
        mean: param(3, "mean")?,
        var: param(4, "var")?,
        eps: nd.attr_f("epsilon", 1e-5)?,
    };
    ctx.push_same_shape(nd, op, x)
}

fn relu(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let x = ctx.act(nd, 0)?;
    ctx.push_same_shape(nd, NodeOp::Act(Activation::Relu), x)
}

fn leaky_relu(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let x = ctx.act(nd, 0)?;
    let alpha = nd.attr_f("alpha", 0.01)?;
    ctx.push_same_shape(nd, NodeOp::Act(Activation::LeakyRelu(alpha)), x)
}

fn clip(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let x = ctx.act(nd, 0)?;
    let bound = |i: usize, default: f32| -> Result<f32> {
        match ctx.opt_konst(nd, i)? {
            None => Ok(default),
            Some(c) => match c.f32s().as_slice() {
                [v] => Ok(*v),
                _ => Err(nd.err(format!("bound input {i} has shape {:?}; expected a scalar", c.dims))),
            },
        }
    };
    let (lo, hi) = if ctx.opset < 11 {
        (nd.attr_f("min", f32::MIN)?, nd.attr_f("max", f32::MAX)?)
    } else {
        (bound(1, f32::MIN)?, bound(2, f32::MAX)?)
    };
    if lo.is_nan() || hi.is_nan() {
        return Err(nd.err("NaN clip bound"));
    }
    ctx.push_same_shape(nd, NodeOp::Act(Activation::Clip(lo, hi)), x)
}

// ---------------------------------------------------------------------------------------
// Pools

/// Input, window and output (h, w) of MaxPool / AveragePool. `ceil_mode = 1` becomes extra
/// bottom / right padding where it adds a window (the padded taps are skipped: max pools
/// never read them, average pools without `count_include_pad` don't count them, so
/// `ceil_pads` is false for an average pool that counts pads). The extra window starts
/// inside the input, so the pad stays smaller than the window.
fn pool_window(ctx: &Ctx, nd: &Nd, ceil_pads: bool) -> Result<(ValueId, Window, [usize; 2])> {
    let (x, in_hw) = nchw_input(ctx, nd)?;
    let kernel = hw_attr(nd, "kernel_shape", None)?;
    let (mut win, mut out_hw) = window(nd, kernel, in_hw)?;
    let ext = |w: &Window, a: usize| w.dilations[a] * (w.kernel[a] - 1) + 1;
    if (0..4).any(|i| win.pads[i] >= ext(&win, i % 2)) {
        return Err(nd.bad_attr("pads", format!("{:?}", win.pads), "a pool pad must be smaller than the kernel"));
    }
    let ceil = nd.attr_i("ceil_mode", 0)?;
    let grown = [ceil_out(&win, in_hw, 0), ceil_out(&win, in_hw, 1)];
    if ceil != 0 && grown != out_hw {
        if !ceil_pads {
            return Err(nd.bad_attr("ceil_mode", ceil, "it changes the output size of an average pool that counts pads"));
        }
        for a in 0..2 {
            let need = (grown[a] - 1) * win.strides[a] + ext(&win, a);
            win.pads[a + 2] += need.saturating_sub(in_hw[a] + win.pads[a] + win.pads[a + 2]);
        }
        out_hw = grown;
    }
    Ok((x, win, out_hw))
}

/// Define the pool output and push `op`.
fn push_pool(ctx: &mut Ctx, nd: &Nd, x: ValueId, op: NodeOp, [oh, ow]: [usize; 2]) -> Result<()> {
    let c = ctx.val(x).dims[3];
    let out = ctx.define(nd, nd.out0(), [1, oh, ow, c], Layout::Nchw)?;
    ctx.push(nd, op, vec![x], out);
    Ok(())
}

fn max_pool(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    if let Some(idx) = nd.output(1) {
        return Err(nd.err(format!("the Indices output \"{idx}\" is not supported")));
    }
    let order = nd.attr_i("storage_order", 0)?;
    if order != 0 {
        return Err(nd.bad_attr("storage_order", order, ""));
    }
    let (x, win, out_hw) = pool_window(ctx, nd, true)?;
    push_pool(ctx, nd, x, NodeOp::MaxPool { win }, out_hw)
}

fn avg_pool(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let count_include_pad = nd.attr_i("count_include_pad", 0)? != 0;
    let (x, win, out_hw) = pool_window(ctx, nd, !count_include_pad)?;
    push_pool(ctx, nd, x, NodeOp::AvgPool { win, count_include_pad }, out_hw)
}

/// The window covering a whole `in_hw` map.
fn global_window(in_hw: [usize; 2]) -> Window {
    Window { kernel: in_hw, strides: [1, 1], pads: [0; 4], dilations: [1, 1] }
}

fn global_avg_pool(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let (x, in_hw) = nchw_input(ctx, nd)?;
    push_pool(ctx, nd, x, NodeOp::AvgPool { win: global_window(in_hw), count_include_pad: false }, [1, 1])
}

fn global_max_pool(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let (x, in_hw) = nchw_input(ctx, nd)?;
    push_pool(ctx, nd, x, NodeOp::MaxPool { win: global_window(in_hw) }, [1, 1])
}

// ---------------------------------------------------------------------------------------
// Dense

/// K of a dense input: a flat value, or a 4-D value with h = w = 1 (channel order).
fn dense_k(ctx: &Ctx, nd: &Nd, a: ValueId) -> Result<usize> {
    let v = ctx.val(a);
    if v.layout.is_flat() || (v.dims[1] == 1 && v.dims[2] == 1) {
        Ok(v.len())
    } else {
        Err(nd.err(format!(
            "input \"{}\" has ONNX shape {:?}; a vector [1,K] is expected (missing Flatten?)",
            v.name,
            v.onnx_shape()
        )))
    }
}

fn gemm(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let a = ctx.act(nd, 0)?;
    let k = dense_k(ctx, nd, a)?;
    let trans_a = nd.attr_i("transA", 0)?;
    if trans_a != 0 && k != 1 {
        return Err(nd.bad_attr("transA", trans_a, &format!("A^T would be a batch of {k} rows")));
    }
    let trans_b = nd.attr_i("transB", 0)? != 0;
    let (alpha, beta) = (nd.attr_f("alpha", 1.0)?, nd.attr_f("beta", 1.0)?);
    let b = ctx.konst(nd, 1)?;
    let (kb, n) = match *b.dims.as_slice() {
        [r, c] if trans_b => (c, r),
        [r, c] => (r, c),
        _ => return Err(nd.err(format!("B has shape {:?}; expected 2-D", b.dims))),
    };
    if kb != k {
        return Err(nd.err(format!("B has shape {:?} (transB = {}) but A has {k} features", b.dims, trans_b as i32)));
    }
    let bv = b.f32s();
    let weight: Vec<f32> = (0..n)
        .flat_map(|j| (0..k).map(move |i| (j, i)))
        .map(|(j, i)| alpha * if trans_b { bv[j * k + i] } else { bv[i * n + j] })
        .collect();
    let bias = match ctx.opt_konst(nd, 2)? {
        Some(_) if beta == 0.0 => vec![0.0; n],
        None => vec![0.0; n],
        Some(c) if c.len() == 1 && c.dims.len() <= 2 => vec![beta * c.f32s()[0]; n],
        Some(c) if c.len() == n && matches!(*c.dims.as_slice(), [_] | [1, _]) => {
            c.f32s().iter().map(|x| beta * x).collect()
        }
        Some(c) => return Err(nd.err(format!("C has shape {:?}; expected [{n}], [1,{n}] or a scalar", c.dims))),
    };
    let out = ctx.define(nd, nd.out0(), [1, 1, 1, n], Layout::FlatHwc)?;
    ctx.push(nd, NodeOp::Dense { weight, bias }, vec![a], out);
    Ok(())
}

fn matmul(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let a = ctx.act(nd, 0)?;
    let v = ctx.val(a);
    let layout = match v.layout {
        Layout::FlatChw | Layout::FlatHwc => Layout::FlatHwc,
        Layout::Nhwc if v.dims[1] == 1 && v.dims[2] == 1 => Layout::Nhwc,
        _ => return Err(nd.err(format!("A has ONNX shape {:?}; a vector [1,K] is expected", v.onnx_shape()))),
    };
    let k = v.len();
    let b = ctx.konst(nd, 1)?;
    let &[kb, n] = b.dims.as_slice() else {
        return Err(nd.err(format!("B has shape {:?}; expected a 2-D constant [K,N]", b.dims)));
    };
    if kb != k {
        return Err(nd.err(format!("B has shape {:?} but A has {k} features", b.dims)));
    }
    let bv = b.f32s();
    let weight: Vec<f32> = (0..n).flat_map(|j| (0..k).map(move |i| (j, i))).map(|(j, i)| bv[i * n + j]).collect();
    let out = ctx.define(nd, nd.out0(), [1, 1, 1, n], layout)?;
    ctx.push(nd, NodeOp::Dense { weight, bias: vec![0.0; n] }, vec![a], out);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Add, Concat

fn add(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let (Some(n0), Some(n1)) = (nd.input(0), nd.input(1)) else {
        return Err(nd.err("Add needs two inputs"));
    };
    match (ctx.is_const(n0), ctx.is_const(n1)) {
        (false, false) => {
            let (a, b) = (ctx.act(nd, 0)?, ctx.act(nd, 1)?);
            let (dims, layout) = broadcast(ctx, nd, a, b)?;
            let out = ctx.define(nd, nd.out0(), dims, layout)?;
            ctx.push(nd, NodeOp::Add, vec![a, b], out);
            Ok(())
        }
        (false, true) => add_bias_or_affine(ctx, nd, 0, 1),
        (true, false) => add_bias_or_affine(ctx, nd, 1, 0),
        (true, true) => Err(nd.err("adding two constants is not supported")),
    }
}

/// `value + constant`: folded into the producer's bias ([`add_bias`]) where it can be, else
/// a per-channel affine node; the fold's error when neither applies.
fn add_bias_or_affine(ctx: &mut Ctx, nd: &Nd, vi: usize, ci: usize) -> Result<()> {
    add_bias(ctx, nd, vi, ci).or_else(|e| affine(ctx, nd, vi, ci, false).map_err(|_| e))
}

/// Fold `value + constant` into the bias of the Conv / Dense that produced the value.
fn add_bias(ctx: &mut Ctx, nd: &Nd, vi: usize, ci: usize) -> Result<()> {
    let v = ctx.act(nd, vi)?;
    let c = ctx.konst(nd, ci)?.clone();
    let fail =
        |why: &str| nd.err(format!("adding constant \"{}\" of shape {:?}: {why}", nd.input(ci).unwrap_or(""), c.dims));
    let rank = ctx.val(v).onnx_shape().len();
    let Some(pi) = ctx.g.producer(v) else {
        return Err(fail("only a bias right after Conv, Gemm or MatMul is supported"));
    };
    if ctx.uses_of(v) != 1 {
        return Err(fail("the producer's output has other readers, cannot fold into its bias"));
    }
    let cv = c.f32s();
    match &mut ctx.g.nodes[pi].op {
        NodeOp::Conv { bias, .. } => {
            let cout = bias.len();
            if cv.len() == 1 && c.dims.len() <= 4 {
                bias.iter_mut().for_each(|b| *b += cv[0]);
            } else if c.dims == [cout, 1, 1] || c.dims == [1, cout, 1, 1] {
                bias.iter_mut().zip(&cv).for_each(|(b, x)| *b += x);
            } else {
                return Err(fail(&format!("a Conv bias must be per-channel [{cout},1,1] or a scalar")));
            }
        }
        NodeOp::Dense { bias, .. } => {
            let n = bias.len();
            let fits = c.dims.len() <= rank && (cv.len() == 1 || (cv.len() == n && c.dims.last() == Some(&n)));
            if !fits {
                return Err(fail(&format!("a dense bias must have shape [{n}] or [1,{n}]")));
            }
            bias.iter_mut().zip(cv.iter().cycle()).for_each(|(b, x)| *b += x);
        }
        _ => return Err(fail("only a bias right after Conv, Gemm or MatMul is supported")),
    }
    let out = nd.out0();
    if ctx.values.contains_key(out) || ctx.is_const(out) {
        return Err(nd.err(format!("output \"{out}\" is defined twice")));
    }
    ctx.g.values[v].name = out.to_string();
    ctx.values.insert(out.to_string(), v);
    Ok(())
}

fn concat(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let n = nd.p.input.len();
    if n == 0 {
        return Err(nd.err("Concat needs inputs"));
    }
    let axis = match nd.attr("axis") {
        Some(_) => nd.attr_i("axis", 0)?,
        None => return Err(nd.err("attribute axis is missing")),
    };
    let xs = (0..n).map(|i| ctx.act(nd, i)).collect::<Result<Vec<_>>>()?;
    let first = ctx.val(xs[0]).clone();
    let a = norm_axis(nd, axis, first.onnx_shape().len())?;
    let ch_axis = if first.layout == Layout::Nhwc { 3 } else { 1 };
    if a != ch_axis {
        return Err(nd.bad_attr(
            "axis",
            axis,
            &format!("only the channel axis of {:?} values is supported", first.layout),
        ));
    }
    let [_, h, w, _] = first.dims;
    if first.layout.is_flat() && h * w != 1 {
        return Err(nd.err(format!("input \"{}\" is a flattened 4-D value; not supported", first.name)));
    }
    let mut c = 0;
    for &x in &xs {
        let v = ctx.val(x);
        if v.layout != first.layout || v.dims[1..3] != first.dims[1..3] {
            return Err(nd.err(format!(
                "inputs have ONNX shapes {:?} ({:?}) and {:?} ({:?})",
                first.onnx_shape(),
                first.layout,
                v.onnx_shape(),
                v.layout
            )));
        }
        c += v.dims[3];
    }
    let out = ctx.define(nd, nd.out0(), [1, h, w, c], first.layout)?;
    ctx.push(nd, NodeOp::Concat, xs, out);
    Ok(())
}
