//! Reductions expressed with existing IR ops: ReduceMean / ReduceMax over H and W are
//! global average / max pools (keepdims or not: without, a flat view follows), and `Sum`
//! of N same-shape activations is a chain of Adds.

use super::{Ctx, Nd, Result};
use crate::ir::{Layout, NodeOp, Window};

/// The reduced axes: attribute before opset `from_input`, input 1 from it on.
fn reduce_axes(ctx: &Ctx, nd: &Nd, from_input: i64) -> Result<Option<Vec<i64>>> {
    if ctx.opset < from_input {
        return nd.attr_ints("axes");
    }
    Ok(ctx.opt_konst(nd, 1)?.and_then(|c| c.i64s().map(<[i64]>::to_vec)))
}

/// Build `op(global window)` over H and W of input 0.
fn global_pool(ctx: &mut Ctx, nd: &Nd, op: fn(Window) -> NodeOp) -> Result<()> {
    let x = ctx.act(nd, 0)?;
    let v = ctx.val(x).clone();
    let r = v.onnx_shape().len() as i64;
    let hw = match v.layout {
        Layout::Nchw => [2, 3],
        Layout::Nhwc => [1, 2],
        _ => return Err(nd.err(format!("input \"{}\" has ONNX shape {:?}; a 4-D map is expected", v.name, v.onnx_shape()))),
    };
    let mut axes: Vec<i64> = reduce_axes(ctx, nd, 18)?.unwrap_or_else(|| (0..r).collect());
    axes.iter_mut().for_each(|a| *a = if *a < 0 { *a + r } else { *a });
    axes.sort_unstable();
    axes.dedup();
    if axes != hw {
        return Err(nd.bad_attr("axes", format!("{axes:?}"), &format!("only H and W ({hw:?}) of a {:?} map are supported", v.layout)));
    }
    let [_, h, w, c] = v.dims;
    let win = Window { kernel: [h, w], strides: [1, 1], pads: [0; 4], dilations: [1, 1] };
    let keep = nd.attr_i("keepdims", 1)? != 0;
    let pooled_name = if keep { nd.out0().to_string() } else { format!("{}:pooled", nd.out0()) };
    let pooled = ctx.define(nd, &pooled_name, [1, 1, 1, c], v.layout)?;
    ctx.push(nd, op(win), vec![x], pooled);
    if !keep {
        let flat = if v.layout == Layout::Nchw { Layout::FlatChw } else { Layout::FlatHwc };
        let out = ctx.define(nd, nd.out0(), [1, 1, 1, c], flat)?;
        ctx.push_named(nd, &format!("{}:flat", nd.name), NodeOp::Alias, vec![pooled], out);
    }
    Ok(())
}

pub(super) fn reduce_mean(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    global_pool(ctx, nd, |win| NodeOp::AvgPool { win, count_include_pad: false })
}

pub(super) fn reduce_max(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    global_pool(ctx, nd, |win| NodeOp::MaxPool { win })
}

/// `Sum(a, b, c, ...)` as `((a + b) + c) + ...`; one input is a copy of it.
pub(super) fn sum(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let n = nd.p.input.len();
    let xs = (0..n).map(|i| ctx.act(nd, i)).collect::<Result<Vec<_>>>()?;
    let first = ctx.val(*xs.first().ok_or_else(|| nd.err("Sum needs inputs"))?).clone();
    if let Some(&bad) = xs.iter().find(|&&x| ctx.val(x).dims != first.dims || ctx.val(x).layout != first.layout) {
        return Err(nd.err(format!(
            "inputs have ONNX shapes {:?} ({:?}) and {:?} ({:?}); only same-shape sums are supported",
            first.onnx_shape(),
            first.layout,
            ctx.val(bad).onnx_shape(),
            ctx.val(bad).layout
        )));
    }
    if n == 1 {
        return ctx.forward(nd, nd.out0());
    }
    let mut acc = xs[0];
    for (i, &x) in xs.iter().enumerate().skip(1) {
        let last = i + 1 == n;
        let name = if last { nd.out0().to_string() } else { format!("{}:sum{i}", nd.out0()) };
        let out = ctx.define(nd, &name, first.dims, first.layout)?;
        let node_name = if last { nd.name.clone() } else { format!("{}:add{i}", nd.name) };
        ctx.push_named(nd, &node_name, NodeOp::Add, vec![acc, x], out);
        acc = out;
    }
    Ok(())
}
