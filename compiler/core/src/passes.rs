//! Graph passes on the float IR: fold BatchNorm into the preceding conv, fuse activations
//! into their producer, fuse `x * sigmoid(x)` into Swish (and `x * hardsigmoid(x)` into
//! HardSwish). Dropout and Identity are already gone at import.

use anyhow::{bail, Result};
use kestrel_runtime::{Activation, Unary};

use crate::ir::{Graph, Layout, NodeOp};

/// Fold every BatchNormalization into the Conv that produces its input.
pub fn fold_batchnorm(g: &mut Graph) -> Result<()> {
    while let Some(bi) = g.nodes.iter().position(|n| matches!(n.op, NodeOp::BatchNorm { .. })) {
        let bn = g.nodes[bi].clone();
        let NodeOp::BatchNorm { scale, bias, mean, var, eps } = &bn.op else { unreachable!() };
        let src = bn.inputs[0];
        let conv = g.producer(src).filter(|&p| {
            matches!(g.nodes[p].op, NodeOp::Conv { .. }) && g.nodes[p].act == Activation::None && g.consumers(src).len() == 1 && src != g.output
        });
        let Some(ci) = conv else {
            // Not after a conv: a per-channel affine map, i.e. a depthwise 1x1 convolution.
            let c = scale.len();
            if g.values[src].layout != Layout::Nchw || g.values[src].dims[3] != c {
                bail!("node \"{}\" (BatchNormalization): needs an NCHW input with {} channels", bn.name, c);
            }
            let k: Vec<f32> = (0..c).map(|i| scale[i] / (var[i] + eps).sqrt()).collect();
            let b = (0..c).map(|i| bias[i] - mean[i] * k[i]).collect();
            g.nodes[bi].op = NodeOp::affine(k, b);
            continue;
        };
        let NodeOp::Conv { weight, bias: cb, .. } = &mut g.nodes[ci].op else { unreachable!() };
        let cout = cb.len();
        if scale.len() != cout {
            bail!("node \"{}\" (BatchNormalization): {} channels, but the conv has {}", bn.name, scale.len(), cout);
        }
        let per = weight.len() / cout;
        for c in 0..cout {
            let k = scale[c] / (var[c] + eps).sqrt();
            for w in &mut weight[c * per..(c + 1) * per] {
                *w *= k;
            }
            cb[c] = (cb[c] - mean[c]) * k + bias[c];
        }
        g.nodes[ci].output = bn.output;
        g.nodes.remove(bi);
    }
    Ok(())
}

/// Fuse standalone activations into the Conv / Dense / Add that produces their input, when
/// that value has no other reader. `allow_leaky`: int8 models keep LeakyRelu standalone
/// (it becomes a lookup table), f32 models fuse it too.
pub fn fuse_activations(g: &mut Graph, allow_leaky: bool) {
    let mut i = 0;
    while i < g.nodes.len() {
        let NodeOp::Act(a) = g.nodes[i].op else {
            i += 1;
            continue;
        };
        let src = g.nodes[i].inputs[0];
        let fusable = matches!(a, Activation::Relu | Activation::Clip(..)) || allow_leaky;
        let p = g.producer(src).filter(|&p| {
            matches!(g.nodes[p].op, NodeOp::Conv { .. } | NodeOp::Dense { .. } | NodeOp::Add)
                && g.nodes[p].act == Activation::None
                && g.consumers(src).len() == 1
                && src != g.output
        });
        match p {
            Some(p) if fusable => {
                g.nodes[p].act = a;
                g.nodes[p].output = g.nodes[i].output;
                g.nodes.remove(i);
            }
            _ => i += 1,
        }
    }
}

/// Fuse `Mul(x, f(x))` into one point-wise node where `f(x)` has no other reader: Swish for
/// `f = Sigmoid` (SiLU, EfficientNet's activation), HardSwish for `f = HardSigmoid(1/6, 1/2)`.
/// One op instead of two, and in int8 one table instead of a table and a multiply whose
/// intermediate would be quantized.
pub fn fuse_gated_activations(g: &mut Graph) {
    let mut i = 0;
    while i < g.nodes.len() {
        let n = &g.nodes[i];
        let fused = match (&n.op, n.inputs.as_slice(), n.act) {
            (NodeOp::Mul, &[a, b], Activation::None) => [(a, b), (b, a)].into_iter().find_map(|(x, gate)| {
                let p = g.producer(gate)?;
                let pn = &g.nodes[p];
                let u = match pn.op {
                    NodeOp::Unary(Unary::Sigmoid) => Unary::Swish,
                    NodeOp::Unary(Unary::HardSigmoid(al, be)) if (al - 1.0 / 6.0).abs() < 1e-7 && be == 0.5 => Unary::HardSwish,
                    _ => return None,
                };
                let alone = pn.inputs == [x] && g.consumers(gate).len() == 1 && gate != g.output;
                alone.then_some((p, x, u))
            }),
            _ => None,
        };
        match fused {
            Some((p, x, u)) => {
                g.nodes[i].op = NodeOp::Unary(u);
                g.nodes[i].onnx_op = if u == Unary::Swish { "Sigmoid+Mul" } else { "HardSigmoid+Mul" }.into();
                g.nodes[i].inputs = vec![x];
                g.nodes.remove(p);
                i = p;
            }
            None => i += 1,
        }
    }
}

/// The standard pipeline for a target precision.
pub fn optimize(g: &mut Graph, int8: bool) -> Result<()> {
    fold_batchnorm(g)?;
    fuse_gated_activations(g);
    fuse_activations(g, !int8);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Node;

    /// x → sigmoid → s; y = x * s (or s * x); `extra`: s is also the graph output's input.
    fn gated(gate: Unary, swap: bool, extra: bool) -> Graph {
        let mut g = Graph { values: vec![], nodes: vec![], input: 0, output: 0 };
        let x = g.add_value("x", [1, 2, 2, 3], Layout::Nchw);
        let s = g.add_value("s", [1, 2, 2, 3], Layout::Nchw);
        let y = g.add_value("y", [1, 2, 2, 3], Layout::Nchw);
        let node = |name: &str, op, inputs, output| Node { name: name.into(), onnx_op: name.into(), op, inputs, output, act: Activation::None };
        g.nodes.push(node("gate", NodeOp::Unary(gate), vec![x], s));
        g.nodes.push(node("mul", NodeOp::Mul, if swap { vec![s, x] } else { vec![x, s] }, y));
        g.output = y;
        if extra {
            let z = g.add_value("z", [1, 2, 2, 3], Layout::Nchw);
            g.nodes.push(node("add", NodeOp::Add, vec![y, s], z));
            g.output = z;
        }
        g
    }

    #[test]
    fn gated_activations_fuse_once_and_only_when_alone() {
        for swap in [false, true] {
            let mut g = gated(Unary::Sigmoid, swap, false);
            fuse_gated_activations(&mut g);
            assert_eq!(g.nodes.len(), 1);
            assert_eq!((&g.nodes[0].op, g.nodes[0].inputs.as_slice(), g.nodes[0].output), (&NodeOp::Unary(Unary::Swish), &[0][..], 2));
            let mut g = gated(Unary::HardSigmoid(1.0 / 6.0, 0.5), swap, false);
            fuse_gated_activations(&mut g);
            assert_eq!(g.nodes[0].op, NodeOp::Unary(Unary::HardSwish));
        }
        // The gate has another reader, or is not HardSwish's: left alone.
        for g0 in [gated(Unary::Sigmoid, false, true), gated(Unary::HardSigmoid(0.2, 0.5), false, false), gated(Unary::Tanh, false, false)] {
            let mut g = g0.clone();
            fuse_gated_activations(&mut g);
            assert_eq!(g, g0);
        }
    }
}
