//! Classifier heads from a command-line spec, put on a zoo base.
//!
//! A spec is a comma-separated list of layers: `flatten`, `gap` (global average pooling),
//! `dense:W` (W a width or `N`, the number of classes), `relu`, `relu6`, `leaky_relu[:A]`
//! (fused into the dense before them) and `dropout:P` (training only: the IR has no dropout
//! node). The head must end in `dense:N`; a softmax `predictions` closes the graph.
//! Examples: `flatten,dense:256,relu,dropout:0.5,dense:N`, `gap,dense:N`.

use anyhow::{bail, Context, Result};
use kestrel_runtime::Activation;
use rand::rngs::StdRng;
use rand::SeedableRng;

use kestrel_compiler::ir::{Graph, NodeOp, ValueId};
use kestrel_compiler::zoo;

/// One layer of a head spec.
#[derive(Debug, Clone, PartialEq)]
pub enum HeadLayer {
    /// Flatten (channel-major, as Keras/ONNX on NCHW).
    Flatten,
    /// Global average pooling.
    Gap,
    /// Dense of a width; `None` = the number of classes.
    Dense(Option<usize>),
    /// Activation fused into the preceding dense.
    Act(Activation),
    /// Dropout rate (training only).
    Dropout(f32),
}

/// Parse a head spec.
pub fn parse(spec: &str) -> Result<Vec<HeadLayer>> {
    let mut out = Vec::new();
    for tok in spec.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (name, arg) = tok.split_once(':').map_or((tok, None), |(a, b)| (a, Some(b.trim())));
        let bad = || format!("head layer '{tok}'");
        let l = match (name.to_ascii_lowercase().as_str(), arg) {
            ("flatten", None) => HeadLayer::Flatten,
            ("gap" | "global_average_pooling" | "globalaveragepooling2d", None) => HeadLayer::Gap,
            ("dense", Some("N" | "n")) => HeadLayer::Dense(None),
            ("dense", Some(w)) => {
                let w: usize = w.parse().with_context(|| format!("{}: the width must be a number or N", bad()))?;
                if w == 0 {
                    bail!("{}: the width must be at least 1", bad());
                }
                HeadLayer::Dense(Some(w))
            }
            ("relu", None) => HeadLayer::Act(Activation::Relu),
            ("relu6", None) => HeadLayer::Act(Activation::Clip(0.0, 6.0)),
            ("leaky_relu" | "leakyrelu", a) => {
                let a: f32 = a.map(str::parse).transpose().with_context(bad)?.unwrap_or(0.3);
                HeadLayer::Act(Activation::LeakyRelu(a))
            }
            ("dropout", Some(p)) => {
                let p: f32 = p.parse().with_context(|| format!("{}: the rate must be a number", bad()))?;
                if !(0.0..1.0).contains(&p) {
                    bail!("{}: the rate must be in [0, 1)", bad());
                }
                HeadLayer::Dropout(p)
            }
            _ => bail!(
                "unknown {} (use flatten, gap, dense:W or dense:N, relu, relu6, leaky_relu[:A], dropout:P)",
                bad()
            ),
        };
        out.push(l);
    }
    if !matches!(out.iter().rev().find(|l| !matches!(l, HeadLayer::Dropout(_))), Some(HeadLayer::Dense(_))) {
        bail!("the head '{spec}' must end in a dense layer (dense:N)");
    }
    Ok(out)
}

/// A model to train: the graph and the dropout the trainer applies.
#[derive(Debug, Clone)]
pub struct Built {
    /// The float graph (ends in softmax `predictions`).
    pub graph: Graph,
    /// Values followed by dropout of a rate.
    pub dropout: Vec<(ValueId, f32)>,
    /// The last value of the convolutional base (where `--extract-features` cuts).
    pub base_out: ValueId,
}

/// The zoo base `arch` on a `c` x `h` x `w` input with the head `spec` for `classes`
/// classes; weights seeded by `seed`.
pub fn build(arch: &str, spec: &str, c: usize, h: usize, w: usize, classes: usize, seed: u64) -> Result<Built> {
    let layers = parse(spec)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut g, base_out) = zoo::train_base(arch, c, h, w, &mut rng)?;
    let mut x = base_out;
    let mut dropout = Vec::new();
    let mut dense_i = 0;
    let mut flat = false;
    for (i, l) in layers.iter().enumerate() {
        match l {
            HeadLayer::Flatten | HeadLayer::Gap if flat => bail!("head layer {}: the input is already flat", i + 1),
            HeadLayer::Flatten => {
                x = zoo::head_flatten(&mut g, "flatten", x);
                flat = true;
            }
            HeadLayer::Gap => {
                x = zoo::head_gap(&mut g, "global_average_pooling2d", x);
                flat = true;
            }
            HeadLayer::Dense(w) => {
                if !flat {
                    bail!("head layer {} (dense): put flatten or gap before the first dense layer", i + 1);
                }
                dense_i += 1;
                let n = w.unwrap_or(classes);
                x = zoo::head_dense(&mut g, &mut rng, &format!("dense_{dense_i}"), x, n, Activation::None);
            }
            HeadLayer::Act(a) => {
                let last = g.nodes.last_mut().filter(|n| n.output == x && matches!(n.op, NodeOp::Dense { .. }));
                let Some(n) = last.filter(|n| n.act == Activation::None) else {
                    bail!("head layer {}: an activation must follow a dense layer", i + 1);
                };
                n.act = *a;
            }
            HeadLayer::Dropout(p) => dropout.push((x, *p)),
        }
    }
    let k = g.values[x].len();
    if k != classes {
        bail!("the head ends in a dense layer of {k} outputs, but the data has {classes} classes (use dense:N)");
    }
    if g.nodes.last().is_some_and(|n| n.act != Activation::None) {
        bail!("the last dense layer feeds the softmax: put no activation after it");
    }
    let graph = zoo::head_softmax(g, x);
    dropout.retain(|(v, _)| *v != x);
    Ok(Built { graph, dropout, base_out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_builds_heads() {
        let b = build("cifar_cnn", "flatten,dense:256,relu,dropout:0.5,dense:N", 3, 32, 32, 7, 1).expect("builds");
        let names: Vec<&str> = b.graph.nodes.iter().rev().take(4).map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["predictions", "dense_2", "dense_1", "flatten"]);
        assert_eq!(b.graph.values[b.graph.output].onnx_shape(), [1, 7]);
        assert_eq!(b.dropout.len(), 1);
        let g = build("vgg16", "gap,dense:N", 3, 32, 32, 2, 1).expect("builds");
        assert_eq!(g.graph.values[g.graph.output].onnx_shape(), [1, 2]);
        for bad in ["dense:N", "flatten,relu,dense:N", "flatten,dense:x", "flatten,dense:5", "flatten,dense:N,relu", "conv,dense:N", "flatten"] {
            assert!(build("mnist_cnn", bad, 1, 28, 28, 10, 1).is_err(), "{bad}");
        }
        assert!(build("resnet", "flatten,dense:N", 1, 28, 28, 10, 1).is_err());
        assert!(build("vgg16", "flatten,dense:N", 3, 16, 16, 10, 1).is_err());
    }
}
