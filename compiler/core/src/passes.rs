//! Graph passes on the float IR: fold BatchNorm into the preceding conv, fuse activations
//! into their producer. Dropout and Identity are already gone at import.

use anyhow::{bail, Result};
use kestrel_runtime::Activation;

use crate::ir::{Graph, Layout, NodeOp, Window};

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
            let win = Window { kernel: [1, 1], strides: [1, 1], pads: [0; 4], dilations: [1, 1] };
            g.nodes[bi].op = NodeOp::Conv { weight: k, bias: b, win, groups: c };
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

/// The standard pipeline for a target precision.
pub fn optimize(g: &mut Graph, int8: bool) -> Result<()> {
    fold_batchnorm(g)?;
    fuse_activations(g, !int8);
    Ok(())
}
