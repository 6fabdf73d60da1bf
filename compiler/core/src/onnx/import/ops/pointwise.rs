//! Builders of the point-wise ops (a child module of `ops.rs`): the activations that
//! become [`NodeOp::Unary`] (Sigmoid, HardSigmoid, HardSwish, Tanh, Elu, Selu, Softplus),
//! PRelu with a per-channel slope, Mul of two activations with the per-channel broadcast
//! of squeeze-and-excitation blocks ([`broadcast`], which Add uses too), and Mul / Add of
//! an activation and a per-channel constant as an affine node ([`affine`]).
//! Point-wise ops take a value of any layout (4-D or a vector) and keep it.

use super::super::{Const, Ctx, Nd, Result};
use crate::ir::{Layout, NodeOp, Value, ValueId};
use kestrel_runtime::Unary;

/// Define the output as `u(x)`.
fn unary(ctx: &mut Ctx, nd: &Nd, u: Unary) -> Result<()> {
    let x = ctx.act(nd, 0)?;
    ctx.push_same_shape(nd, NodeOp::Unary(u), x)
}

pub(in super::super) fn sigmoid(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    unary(ctx, nd, Unary::Sigmoid)
}

pub(in super::super) fn hard_sigmoid(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let u = Unary::HardSigmoid(finite(nd, "alpha", 0.2)?, finite(nd, "beta", 0.5)?);
    unary(ctx, nd, u)
}

pub(in super::super) fn hard_swish(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    unary(ctx, nd, Unary::HardSwish)
}

pub(in super::super) fn tanh(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    unary(ctx, nd, Unary::Tanh)
}

pub(in super::super) fn elu(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let u = Unary::Elu(finite(nd, "alpha", 1.0)?);
    unary(ctx, nd, u)
}

pub(in super::super) fn selu(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let u = Unary::Selu(finite(nd, "alpha", 1.673_263_2)?, finite(nd, "gamma", 1.050_701)?);
    unary(ctx, nd, u)
}

pub(in super::super) fn softplus(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    unary(ctx, nd, Unary::Softplus)
}

/// A float attribute that must be finite.
pub(super) fn finite(nd: &Nd, name: &str, default: f32) -> Result<f32> {
    let v = nd.attr_f(name, default)?;
    if v.is_finite() { Ok(v) } else { Err(nd.bad_attr(name, v, "must be finite")) }
}

/// A constant `k` that broadcasts per channel against value `v`'s ONNX view — one value,
/// or `C` shaped `[C, 1, 1]` / `[1, C, 1, 1]` for NCHW and `[C]` / `[1, C]` for NHWC and
/// vectors — as `C` values; `None` for any other shape.
fn per_channel(v: &Value, k: &Const) -> Option<Vec<f32>> {
    let c = v.dims[3];
    let mut dims: &[usize] = &k.dims;
    while let [1, rest @ ..] = dims {
        dims = rest;
    }
    let fits = match v.layout {
        Layout::Nchw => dims == [c, 1, 1] || (v.dims[1] * v.dims[2] == 1 && dims == [c]),
        Layout::Nhwc => dims == [c],
        Layout::FlatChw | Layout::FlatHwc => v.dims[1] * v.dims[2] == 1 && dims == [c],
    };
    let vals = k.f32s();
    match vals.len() {
        1 if k.dims.len() <= v.onnx_shape().len() => Some(vec![vals[0]; c]),
        _ if fits => Some(vals),
        _ => None,
    }
}

/// PRelu with a constant slope: one value or one per channel ([`per_channel`]). Before
/// opset 7 (no broadcasting yet) a slope of `C` values is one per channel whatever the
/// input's rank: PyTorch's `PReLU(num_parameters=C)` exported at opset 6 writes it so.
pub(in super::super) fn prelu(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let x = ctx.act(nd, 0)?;
    let s = ctx.konst(nd, 1)?;
    let v = ctx.val(x);
    let legacy = ctx.opset < 7 && s.dims == [v.dims[3]] && matches!(v.layout, Layout::Nchw);
    let slope = per_channel(v, s).or_else(|| legacy.then(|| s.f32s())).ok_or_else(|| {
        nd.err(format!(
            "slope of shape {:?} on ONNX shape {:?}: only a scalar or one slope per channel is supported",
            s.dims,
            v.onnx_shape()
        ))
    })?;
    if slope.iter().any(|a| !a.is_finite()) {
        return Err(nd.err("slope values must be finite"));
    }
    ctx.push_same_shape(nd, NodeOp::PRelu { slope }, x)
}

/// `x * k` or `x + k` (`mul`) for activation input `vi` and constant input `ci`, one value
/// or one per channel, as a per-channel affine node ([`NodeOp::affine`]) on a 4-D value.
pub(in super::super) fn affine(ctx: &mut Ctx, nd: &Nd, vi: usize, ci: usize, mul: bool) -> Result<()> {
    let x = ctx.act(nd, vi)?;
    let k = ctx.konst(nd, ci)?;
    let v = ctx.val(x);
    let vals = per_channel(v, k).filter(|_| matches!(v.layout, Layout::Nchw | Layout::Nhwc)).ok_or_else(|| {
        nd.err(format!(
            "constant \"{}\" of shape {:?} on ONNX shape {:?} ({:?}): only a scalar or one value per channel of a 4-D tensor is supported",
            nd.input(ci).unwrap_or(""),
            k.dims,
            v.onnx_shape(),
            v.layout
        ))
    })?;
    if vals.iter().any(|a| !a.is_finite()) {
        return Err(nd.err("constant values must be finite"));
    }
    let c = vals.len();
    let op = if mul { NodeOp::affine(vals, vec![0.0; c]) } else { NodeOp::affine(vec![1.0; c], vals) };
    ctx.push_same_shape(nd, op, x)
}

/// Mul of two activations (same shape, or one per-channel `[1, C, 1, 1]`-like factor).
pub(in super::super) fn mul(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let (Some(n0), Some(n1)) = (nd.input(0), nd.input(1)) else {
        return Err(nd.err("Mul needs two inputs"));
    };
    match (ctx.is_const(n0), ctx.is_const(n1)) {
        (false, true) => return affine(ctx, nd, 0, 1, true),
        (true, false) => return affine(ctx, nd, 1, 0, true),
        (true, true) => return Err(nd.err("multiplying two constants is not supported")),
        (false, false) => {}
    }
    let (a, b) = (ctx.act(nd, 0)?, ctx.act(nd, 1)?);
    let (dims, layout) = broadcast(ctx, nd, a, b)?;
    let out = ctx.define(nd, nd.out0(), dims, layout)?;
    ctx.push(nd, NodeOp::Mul, vec![a, b], out);
    Ok(())
}

/// The output dims and layout of a two-input element-wise op on activations `a` and `b`:
/// one ONNX shape, or one of them one value per channel (`[1, C, 1, 1]` against NCHW,
/// `[1, 1, 1, C]` or `[1, C]` against NHWC) broadcast over the other's H and W.
pub(in super::super) fn broadcast(ctx: &Ctx, nd: &Nd, a: ValueId, b: ValueId) -> Result<([usize; 4], Layout)> {
    let (va, vb) = (ctx.val(a), ctx.val(b));
    if va.dims == vb.dims && va.onnx_shape() == vb.onnx_shape() {
        return Ok((va.dims, va.layout));
    }
    let per_channel = |big: &Value, small: &Value| {
        let c = big.dims[3];
        small.dims == [1, 1, 1, c]
            && match big.layout {
                Layout::Nchw => small.layout == Layout::Nchw,
                Layout::Nhwc => small.layout != Layout::Nchw,
                Layout::FlatChw | Layout::FlatHwc => false,
            }
    };
    if per_channel(va, vb) {
        Ok((va.dims, va.layout))
    } else if per_channel(vb, va) {
        Ok((vb.dims, vb.layout))
    } else {
        Err(nd.err(format!(
            "inputs have ONNX shapes {:?} ({:?}) and {:?} ({:?}); only one shape, or one value per channel broadcast over H and W, is supported",
            va.onnx_shape(),
            va.layout,
            vb.onnx_shape(),
            vb.layout
        )))
    }
}
