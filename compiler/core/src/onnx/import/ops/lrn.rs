//! The LRN builder (a child module of `ops.rs`): ONNX LocalResponseNormalization across the
//! channels of an NCHW value, as [`NodeOp::Lrn`].

use super::super::{Ctx, Nd, Result};
use super::pointwise::finite;
use crate::ir::{Layout, NodeOp};
use kestrel_runtime::Lrn;

pub(in super::super) fn lrn(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let x = ctx.act(nd, 0)?;
    let v = ctx.val(x);
    if v.layout != Layout::Nchw {
        return Err(nd.err(format!(
            "input \"{}\" has ONNX shape {:?} ({:?}); LRN normalizes axis 1, supported on a [1, C, H, W] tensor",
            v.name,
            v.onnx_shape(),
            v.layout
        )));
    }
    let size = match nd.attr("size") {
        Some(_) => nd.attr_i("size", 0)?,
        None => return Err(nd.err("attribute size is missing")),
    };
    if !(1..=i64::from(u16::MAX)).contains(&size) {
        return Err(nd.bad_attr("size", size, "must be in 1..=65535"));
    }
    let p = Lrn { size: size as usize, alpha: finite(nd, "alpha", 1e-4)?, beta: finite(nd, "beta", 0.75)?, bias: finite(nd, "bias", 1.0)? };
    ctx.push_same_shape(nd, NodeOp::Lrn(p), x)
}
