//! The Pad builder (a child module of `ops.rs`): ONNX Pad on the height and width of a 4-D
//! value (NCHW or NHWC), constant (any value), reflect or edge, as [`NodeOp::Pad`].

use super::super::{Ctx, Nd, Result};
use crate::ir::{Layout, NodeOp};
use kestrel_runtime::PadMode;

pub(in super::super) fn pad(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let x = ctx.act(nd, 0)?;
    let v = ctx.val(x).clone();
    let (h_axis, w_axis) = match v.layout {
        Layout::Nchw => (2, 3),
        Layout::Nhwc => (1, 2),
        _ => return Err(nd.err(format!("input \"{}\" has ONNX shape {:?}; Pad needs a 4-D tensor", v.name, v.onnx_shape()))),
    };
    let mode = match nd.attr_s("mode", "constant")?.as_str() {
        "constant" => PadMode::Constant,
        "reflect" => PadMode::Reflect,
        "edge" => PadMode::Edge,
        other => return Err(nd.bad_attr("mode", format!("\"{other}\""), "only constant, reflect and edge are supported")),
    };
    let (pads, value) = if ctx.opset < 11 {
        (nd.attr_ints("pads")?.ok_or_else(|| nd.err("attribute pads is missing"))?, nd.attr_f("value", 0.0)?)
    } else {
        if nd.input(3).is_some() {
            return Err(nd.err("the axes input is not supported"));
        }
        let p = ctx.konst(nd, 1)?.i64s().ok_or_else(|| nd.err("pads must be an int64 constant"))?.to_vec();
        let value = match ctx.opt_konst(nd, 2)? {
            None => 0.0,
            Some(c) => match c.f32s().as_slice() {
                [v] => *v,
                _ => return Err(nd.err(format!("constant_value has shape {:?}; expected a scalar", c.dims))),
            },
        };
        (p, value)
    };
    if pads.len() != 8 || pads.iter().any(|&p| !(0..=u16::MAX as i64 - 1).contains(&p)) {
        return Err(nd.bad_attr("pads", format!("{pads:?}"), "8 values in 0..65535 expected (no cropping)"));
    }
    if (0..4).any(|a| a != h_axis && a != w_axis && (pads[a] != 0 || pads[a + 4] != 0)) {
        return Err(nd.bad_attr("pads", format!("{pads:?}"), "only height and width can be padded"));
    }
    if !value.is_finite() {
        return Err(nd.err("the pad value must be finite"));
    }
    let [t, l, b, r] = [pads[h_axis], pads[w_axis], pads[h_axis + 4], pads[w_axis + 4]].map(|p| p as usize);
    let [_, h, w, c] = v.dims;
    if mode == PadMode::Reflect && (t.max(b) >= h || l.max(r) >= w) {
        return Err(nd.bad_attr("pads", format!("{pads:?}"), &format!("reflect pads must be smaller than the {h}x{w} input")));
    }
    let value = if mode == PadMode::Constant { value } else { 0.0 };
    let out = ctx.define(nd, nd.out0(), [1, h + t + b, w + l + r, c], v.layout)?;
    ctx.push(nd, NodeOp::Pad { pads: [t, l, b, r], mode, value }, vec![x], out);
    Ok(())
}
