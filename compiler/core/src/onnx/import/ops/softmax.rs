//! The Softmax and LogSoftmax builders (a child module of `ops.rs`): the ONNX axes they
//! normalize over (opset < 13: the coerced 2-D matrix's second dimension, `axis..rank`;
//! opset 13 on: `axis` alone) as a run of the value's physical NHWC axes
//! ([`SoftmaxAxes`]). Axes of size 1 don't change a softmax, so they may lie on either side.

use super::super::{Ctx, Nd, Result};
use super::norm_axis;
use crate::ir::{Layout, NodeOp};
use kestrel_runtime::SoftmaxAxes;

pub(in super::super) fn softmax(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    normalize(ctx, nd, false)
}

pub(in super::super) fn log_softmax(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    normalize(ctx, nd, true)
}

fn normalize(ctx: &mut Ctx, nd: &Nd, log: bool) -> Result<()> {
    let x = ctx.act(nd, 0)?;
    let v = ctx.val(x);
    let shape = v.onnx_shape();
    let axis = nd.attr_i("axis", if ctx.opset < 13 { 1 } else { -1 })?;
    let a = norm_axis(nd, axis, shape.len())?;
    let onnx_axes: Vec<usize> = if ctx.opset < 13 { (a..shape.len()).collect() } else { vec![a] };
    // The physical axes (1 = H, 2 = W, 3 = C) of each ONNX axis; the batch has none.
    let physical = |ax: usize| -> &'static [usize] {
        match (v.layout, ax) {
            (_, 0) => &[],
            (Layout::Nchw, 1) => &[3],
            (Layout::Nchw, 2) | (Layout::Nhwc, 1) => &[1],
            (Layout::Nchw, 3) | (Layout::Nhwc, 2) => &[2],
            (Layout::Nhwc, _) | (Layout::Nchw, _) => &[3],
            (Layout::FlatChw | Layout::FlatHwc, _) => &[1, 2, 3],
        }
    };
    let all: Vec<usize> = onnx_axes.iter().flat_map(|&ax| physical(ax)).copied().collect();
    let mut moving: Vec<usize> = all.iter().copied().filter(|&p| v.dims[p] > 1).collect();
    let refuse = |why: &str| nd.bad_attr("axis", axis, &format!("on ONNX shape {shape:?}: {why}"));
    if moving.is_empty() {
        // Over axes of size 1 only: every group is one element.
        moving.extend(all.first());
    }
    let (Some(&first), Some(&last)) = (moving.iter().min(), moving.iter().max()) else {
        return Err(refuse("a softmax over the batch axis alone is not supported"));
    };
    if (first..=last).any(|p| v.dims[p] > 1 && !moving.contains(&p)) {
        return Err(refuse("the axes normalized over are not one run of the NHWC axes"));
    }
    ctx.push_same_shape(nd, NodeOp::Softmax(SoftmaxAxes { first, last, log }), x)
}
