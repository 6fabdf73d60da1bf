//! Folding a zero `Pad` on H and W into the padding of the Conv or pool that reads it
//! (ResNet50 and DenseNet121 from Keras pad before their stride-2 convs and pools). Exact
//! only where the padded zeros mean the same thing to the reader:
//! - Conv: always (conv padding is zeros);
//! - MaxPool: only when the input is ≥ 0 (it comes from a Relu, or a Clip whose lower bound
//!   is ≥ 0): a zero then never wins where the pool's own padding would be ignored;
//! - AveragePool: only with `count_include_pad = 1`, or no padding of its own (the folded
//!   pool then counts the pad, as the explicit zeros were counted).
//!
//! Any other Pad is left to its own builder.

use std::collections::HashMap;

use super::{Ctx, Nd, Result};
use crate::ir::{Layout, NodeOp};
use crate::onnx::pb;
use kestrel_runtime::Activation;

/// Pads waiting for their readers.
#[derive(Default)]
pub(super) struct PadFold {
    /// The readers of every Pad output in the graph.
    pub readers: HashMap<String, Vec<pb::NodeProto>>,
    /// Folded Pad outputs: the padded activation and the pads (top, left, bottom, right).
    pub pending: HashMap<String, (String, [usize; 4])>,
}

impl PadFold {
    /// Record the readers of each Pad's output among `nodes`.
    pub(super) fn new(nodes: &[&pb::NodeProto]) -> Self {
        let outs: Vec<&str> = nodes.iter().filter(|n| n.op_type == "Pad").filter_map(|n| n.output.first()).map(String::as_str).collect();
        let mut readers: HashMap<String, Vec<pb::NodeProto>> = HashMap::new();
        for n in nodes {
            for i in n.input.iter().filter(|i| outs.contains(&i.as_str())) {
                readers.entry(i.clone()).or_default().push((*n).clone());
            }
        }
        PadFold { readers, pending: HashMap::new() }
    }
}

/// Fold a Pad node into its readers if every one of them can take its padding.
pub(super) fn try_fold_pad(ctx: &mut Ctx, nd: &Nd) -> Result<bool> {
    if nd.op() != "Pad" {
        return Ok(false);
    }
    let (Some(src), out) = (nd.input(0), nd.out0()) else { return Ok(false) };
    let Some(&x) = ctx.values.get(src) else { return Ok(false) };
    let Some(hw) = zero_hw_pads(ctx, nd)? else { return Ok(false) };
    let nonneg = input_nonnegative(ctx, x);
    let readers = ctx.pads.readers.get(out).cloned().unwrap_or_default();
    let graph_output = ctx.uses.get(out).copied().unwrap_or(0) > readers.len();
    if ctx.val(x).layout != Layout::Nchw || readers.is_empty() || graph_output {
        return Ok(false);
    }
    if !readers.iter().all(|r| merged(r, hw, nonneg).is_some()) {
        return Ok(false);
    }
    ctx.pads.pending.insert(out.to_string(), (src.to_string(), hw));
    Ok(true)
}

/// A Conv / pool reading a folded Pad: built with the pad merged into its own.
pub(super) fn try_build_padded(ctx: &mut Ctx, nd: &Nd) -> Result<bool> {
    let Some((src, hw)) = nd.input(0).and_then(|i| ctx.pads.pending.get(i)).cloned() else { return Ok(false) };
    let x = ctx.values.get(&src).copied();
    let nonneg = x.is_some_and(|x| input_nonnegative(ctx, x));
    let Some(mut p) = merged(nd.p, hw, nonneg) else {
        return Err(nd.err("internal: a folded Pad's reader cannot take its padding"));
    };
    p.input[0] = src;
    let Some(build) = super::ops::builder(nd.op()) else { return Ok(false) };
    build(ctx, &Nd { p: &p, name: nd.name.clone() })?;
    Ok(true)
}

/// The H/W pads of a constant zero Pad on a 4-D value, `None` if it is not one.
fn zero_hw_pads(ctx: &Ctx, nd: &Nd) -> Result<Option<[usize; 4]>> {
    if nd.attr_s("mode", "constant")? != "constant" {
        return Ok(None);
    }
    let (pads, value) = if ctx.opset < 11 {
        (nd.attr_ints(if ctx.opset < 2 { "paddings" } else { "pads" })?, nd.attr_f("value", 0.0)?)
    } else {
        if nd.input(3).is_some() {
            return Ok(None);
        }
        let pads = ctx.opt_konst(nd, 1)?.and_then(|c| c.i64s().map(<[i64]>::to_vec));
        let value = ctx.opt_konst(nd, 2)?.map(|c| c.f32s()).map_or(0.0, |v| v.first().copied().unwrap_or(0.0));
        (pads, value)
    };
    let Some(p) = pads else { return Ok(None) };
    match *p.as_slice() {
        [0, 0, t, l, 0, 0, b, r] if value == 0.0 && [t, l, b, r].iter().all(|&v| (0..=super::MAX_WINDOW).contains(&v)) => {
            Ok(Some([t as usize, l as usize, b as usize, r as usize]))
        }
        _ => Ok(None),
    }
}

/// True when value `x` is the output of a Relu, or of a Clip with a lower bound ≥ 0.
fn input_nonnegative(ctx: &Ctx, x: usize) -> bool {
    ctx.g.producer(x).is_some_and(|p| match ctx.g.nodes[p].op {
        NodeOp::Act(Activation::Relu) => true,
        NodeOp::Act(Activation::Clip(lo, _)) => lo >= 0.0,
        _ => ctx.g.nodes[p].act == Activation::Relu,
    })
}

/// Reader `r` with `hw` added to its pads, if that is exact (see the module doc).
fn merged(r: &pb::NodeProto, hw: [usize; 4], nonneg: bool) -> Option<pb::NodeProto> {
    let attr = |n: &str| r.attribute.iter().find(|a| a.name == n);
    let auto = attr("auto_pad").map(|a| String::from_utf8_lossy(&a.s).into_owned()).unwrap_or_default();
    if !matches!(auto.as_str(), "" | "NOTSET" | "VALID") {
        return None;
    }
    let own: Vec<i64> = match attr("pads") {
        Some(a) if auto != "VALID" => a.ints.clone(),
        _ => vec![0; 4],
    };
    if own.len() != 4 {
        return None;
    }
    let count_pad = attr("count_include_pad").is_some_and(|a| a.i != 0);
    let ok = match r.op_type.as_str() {
        "Conv" => true,
        "MaxPool" => nonneg,
        "AveragePool" => count_pad || own.iter().all(|&p| p == 0),
        _ => false,
    };
    if !ok {
        return None;
    }
    let pads: Vec<i64> = own.iter().zip(hw).map(|(&a, b)| a + b as i64).collect();
    if r.op_type != "Conv" && !pool_pads_fit(r, &pads) {
        return None;
    }
    let mut p = r.clone();
    p.attribute.retain(|a| !matches!(a.name.as_str(), "pads" | "auto_pad" | "count_include_pad"));
    p.attribute.push(crate::onnx::pb_util::attr_ints("pads", &pads));
    if r.op_type == "AveragePool" {
        p.attribute.push(crate::onnx::pb_util::attr_i("count_include_pad", 1));
    }
    Some(p)
}

/// A pool's padding must stay smaller than its (dilated) window.
fn pool_pads_fit(r: &pb::NodeProto, pads: &[i64]) -> bool {
    let ints = |n: &str| r.attribute.iter().find(|a| a.name == n).map(|a| a.ints.clone());
    let (Some(k), d) = (ints("kernel_shape"), ints("dilations").unwrap_or_else(|| vec![1, 1])) else { return false };
    k.len() == 2 && d.len() == 2 && (0..4).all(|i| pads[i] < d[i % 2] * (k[i % 2] - 1) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::pb_util::{attr_i, attr_ints, node};

    #[test]
    fn pads_merge_only_where_exact() {
        let conv = node("Conv", "c", &["p", "w"], &["y"], vec![attr_ints("pads", &[1, 1, 1, 1])]);
        let m = merged(&conv, [0, 0, 1, 1], false).unwrap();
        assert_eq!(m.attribute.iter().find(|a| a.name == "pads").unwrap().ints, [1, 1, 2, 2]);
        let mp = node("MaxPool", "m", &["p"], &["y"], vec![attr_ints("kernel_shape", &[3, 3]), attr_ints("strides", &[2, 2])]);
        assert!(merged(&mp, [1, 1, 1, 1], false).is_none(), "max pool of a signed input");
        assert!(merged(&mp, [1, 1, 1, 1], true).is_some());
        assert!(merged(&mp, [3, 0, 0, 0], true).is_none(), "pad as large as the window");
        let ap = |cip: i64, pads: &[i64]| {
            node("AveragePool", "a", &["p"], &["y"], vec![attr_ints("kernel_shape", &[3, 3]), attr_ints("pads", pads), attr_i("count_include_pad", cip)])
        };
        assert!(merged(&ap(0, &[1, 1, 1, 1]), [1, 1, 1, 1], false).is_none());
        let m = merged(&ap(0, &[0, 0, 0, 0]), [1, 1, 1, 1], false).unwrap();
        assert_eq!(m.attribute.iter().find(|a| a.name == "count_include_pad").unwrap().i, 1);
        assert!(merged(&ap(1, &[1, 0, 0, 0]), [0, 0, 1, 1], false).is_some());
    }
}
