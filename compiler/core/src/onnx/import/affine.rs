//! Graph-level folding of `activation ⊙ constant` (Mul, Add, Sub, Div by a scalar or a
//! per-channel constant) into the Conv, Dense or BatchNormalization that produced the
//! activation, before quantization, so int8 sees the graph a human would draw (tf2onnx
//! writes a depthwise conv's BatchNorm as Mul + Add; the Caffe2 zoo writes a scale after
//! each BatchNorm as Unsqueeze + Mul + Add). Where no such producer exists, a per-channel
//! map of an NCHW value is kept as a BatchNorm (mean 0, variance 1, eps 0: exact), which the
//! passes fold into a conv or turn into a depthwise 1x1; anything else is left to the op's
//! own builder.

use super::{Const, Ctx, Nd, Result};
use crate::ir::{Layout, NodeOp, ValueId};
use kestrel_runtime::Activation;

/// The per-channel effect of one node: `y = x * mul + add` on every channel.
struct Affine {
    mul: Vec<f32>,
    add: Vec<f32>,
}

/// Fold the node into its producer if it is `activation op constant` and the producer can
/// absorb it; `false` otherwise (nothing changed).
pub(super) fn try_fold(ctx: &mut Ctx, nd: &Nd) -> Result<bool> {
    let op = nd.op();
    if !matches!(op, "Mul" | "Add" | "Sub" | "Div") || nd.p.input.len() != 2 {
        return Ok(false);
    }
    let (Some(n0), Some(n1)) = (nd.input(0), nd.input(1)) else { return Ok(false) };
    let (vi, ci) = match (ctx.values.get(n0), ctx.is_const(n1), ctx.values.get(n1), ctx.is_const(n0)) {
        (Some(_), true, _, _) => (0, 1),
        // c + x and c * x commute; c - x and c / x are not folded.
        (_, _, Some(_), true) if matches!(op, "Add" | "Mul") => (1, 0),
        _ => return Ok(false),
    };
    let v = ctx.act(nd, vi)?;
    let Some(c) = ctx.opt_konst(nd, ci)?.cloned() else { return Ok(false) };
    let Some(k) = channel_vector(ctx, v, &c) else { return Ok(false) };
    let n = k.len();
    let aff = match op {
        "Mul" => Affine { add: vec![0.0; n], mul: k },
        "Div" if k.iter().all(|&d| d != 0.0) => Affine { add: vec![0.0; n], mul: k.iter().map(|d| 1.0 / d).collect() },
        "Add" => Affine { mul: vec![1.0; n], add: k },
        "Sub" => Affine { mul: vec![1.0; n], add: k.iter().map(|a| -a).collect() },
        _ => return Ok(false),
    };
    if let Some(pi) = foldable_producer(ctx, v) {
        if apply(&mut ctx.g.nodes[pi].op, &aff) {
            rename(ctx, nd, vi, v)?;
            return Ok(true);
        }
    }
    // No producer to absorb it: a per-channel affine map is a BatchNorm with mean 0 and
    // variance 1 (exact: eps 0), which later folds into a conv or becomes a depthwise 1x1.
    if ctx.val(v).layout != Layout::Nchw {
        return Ok(false);
    }
    let bn = NodeOp::BatchNorm { scale: aff.mul, bias: aff.add, mean: vec![0.0; n], var: vec![1.0; n], eps: 0.0 };
    ctx.push_same_shape(nd, bn, v)?;
    Ok(true)
}

/// The node producing `v` if it is a Conv, Dense or BatchNorm with no fused activation and
/// `v` has no other reader.
fn foldable_producer(ctx: &Ctx, v: ValueId) -> Option<usize> {
    let pi = ctx.g.producer(v)?;
    let n = &ctx.g.nodes[pi];
    let kind = matches!(n.op, NodeOp::Conv { .. } | NodeOp::Dense { .. } | NodeOp::BatchNorm { .. });
    (kind && n.act == Activation::None && ctx.uses_of(v) == 1 && v != ctx.g.input).then_some(pi)
}

/// The constant as one value per channel of `v` (a scalar is repeated), if it broadcasts to
/// `v` without changing its shape and varies along the channel axis only.
fn channel_vector(ctx: &Ctx, v: ValueId, c: &Const) -> Option<Vec<f32>> {
    let val = ctx.val(v);
    let shape = val.onnx_shape();
    let ch = val.dims[3];
    let ch_axis = match val.layout {
        Layout::Nchw => 1,
        Layout::Nhwc => 3,
        _ if val.dims[1] * val.dims[2] == 1 => 1,
        _ => return None,
    };
    let vals = c.f32s();
    if vals.len() == 1 && c.dims.len() <= shape.len() {
        return Some(vec![vals[0]; ch]);
    }
    if c.dims.len() > shape.len() || vals.len() != ch {
        return None;
    }
    // Align the constant's dims to the right of the value's.
    let pad = shape.len() - c.dims.len();
    let ok = c.dims.iter().enumerate().all(|(i, &d)| if i + pad == ch_axis { d == ch } else { d == 1 });
    ok.then_some(vals)
}

/// Fold `aff` into the producer's parameters; `false` if the op has none to fold into.
fn apply(op: &mut NodeOp, aff: &Affine) -> bool {
    match op {
        NodeOp::Conv { weight, bias, .. } | NodeOp::Dense { weight, bias } => {
            let n = bias.len();
            if aff.mul.len() != n {
                return false;
            }
            let per = weight.len() / n;
            for o in 0..n {
                weight[o * per..(o + 1) * per].iter_mut().for_each(|w| *w *= aff.mul[o]);
                bias[o] = bias[o] * aff.mul[o] + aff.add[o];
            }
            true
        }
        NodeOp::BatchNorm { scale, bias, .. } => {
            if aff.mul.len() != scale.len() {
                return false;
            }
            for o in 0..scale.len() {
                scale[o] *= aff.mul[o];
                bias[o] = bias[o] * aff.mul[o] + aff.add[o];
            }
            true
        }
        _ => false,
    }
}

/// The folded node's output names the producer's value; its read of input `vi` is gone.
fn rename(ctx: &mut Ctx, nd: &Nd, vi: usize, v: ValueId) -> Result<()> {
    let out = nd.out0();
    if ctx.values.contains_key(out) || ctx.is_const(out) {
        return Err(nd.err(format!("output \"{out}\" is defined twice")));
    }
    if let Some(u) = nd.input(vi).and_then(|s| ctx.uses.get_mut(s)) {
        *u = u.saturating_sub(1);
    }
    ctx.g.values[v].name = out.to_string();
    ctx.values.insert(out.to_string(), v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Window;

    #[test]
    fn conv_dense_and_batchnorm_absorb_a_per_channel_affine() {
        let win = Window { kernel: [1, 1], strides: [1, 1], pads: [0; 4], dilations: [1, 1] };
        let mut conv = NodeOp::Conv { weight: vec![1.0, 2.0, 3.0, 4.0], bias: vec![1.0, -1.0], win, groups: 1 };
        assert!(apply(&mut conv, &Affine { mul: vec![2.0, -1.0], add: vec![0.5, 0.0] }));
        assert_eq!(conv, NodeOp::Conv { weight: vec![2.0, 4.0, -3.0, -4.0], bias: vec![2.5, 1.0], win, groups: 1 });
        let mut bn = NodeOp::BatchNorm { scale: vec![1.0], bias: vec![2.0], mean: vec![0.0], var: vec![1.0], eps: 0.0 };
        assert!(apply(&mut bn, &Affine { mul: vec![3.0], add: vec![1.0] }));
        assert!(matches!(bn, NodeOp::BatchNorm { ref scale, ref bias, .. } if scale == &[3.0] && bias == &[7.0]));
        // A vector of the wrong length, and an op without parameters, are left alone.
        assert!(!apply(&mut bn, &Affine { mul: vec![1.0, 1.0], add: vec![0.0, 0.0] }));
        assert!(!apply(&mut NodeOp::Add, &Affine { mul: vec![1.0], add: vec![0.0] }));
    }
}
