//! The model zoo: the reference architectures of DESIGN.md, built directly as IR graphs
//! with seeded random weights (He-normal weights, small uniform biases).
//!
//! Every model takes an NCHW input named `input` (IR value dims `[1, H, W, C]`,
//! [`Layout::Nchw`]), fuses its ReLUs into the producing layer, names layers as Keras does
//! (`conv2d_1`, `block1_conv1`, `dense_1`, …), ends in a softmax node `predictions` and
//! writes a value named `output`. The weights are random, so the graphs serve benchmarks,
//! parity tests and training starts, not predictions.

use anyhow::bail;
use kestrel_runtime::{Activation, SoftmaxAxes};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

use crate::ir::{Graph, Layout, Node, NodeOp, ValueId, Window};

/// The reference workloads shared by benchmarks and parity tests.
pub const REFERENCE: [&str; 4] = ["mnist_cnn_28", "cifar_cnn_32", "vgg16_plants_150", "vgg16_ft_224"];

/// Build the zoo model `name` (one of [`REFERENCE`]) with weights drawn from `seed`; the
/// same name and seed always give the same graph.
pub fn build(name: &str, seed: u64) -> anyhow::Result<Graph> {
    let mut rng = StdRng::seed_from_u64(seed);
    let g = match name {
        "mnist_cnn_28" => mnist_cnn_28(&mut rng),
        "cifar_cnn_32" => cifar_cnn_32(&mut rng),
        "vgg16_plants_150" => vgg16_head(150, &[(12, Activation::None)], &mut rng),
        "vgg16_ft_224" => vgg16_head(224, &[(256, Activation::Relu), (12, Activation::None)], &mut rng),
        _ => bail!("unknown zoo model '{name}'; known models: {}", REFERENCE.join(", ")),
    };
    Ok(g)
}

/// The Keras VGG16 convolutional base (13 3x3 convs with padding 1 and fused ReLU, a 2x2
/// stride-2 max pool closing each of the 5 blocks; layers `block1_conv1` … `block5_pool`)
/// on `input`, an NCHW value of 3 channels (or any count) and at least 32x32 pixels.
/// Returns the output of `block5_pool`.
///
/// Panics if `input` is smaller than 32x32.
pub fn vgg16_base(g: &mut Graph, input: ValueId, rng: &mut impl Rng) -> ValueId {
    let [_, h, w, _] = g.values[input].dims;
    assert!(h >= 32 && w >= 32, "vgg16_base needs an input of at least 32x32, got {h}x{w}");
    let blocks: [(usize, usize); 5] = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)];
    let mut x = input;
    for (b, &(filters, convs)) in blocks.iter().enumerate() {
        for i in 1..=convs {
            x = conv(g, rng, &format!("block{}_conv{i}", b + 1), x, filters, 3, 1);
        }
        x = max_pool(g, &format!("block{}_pool", b + 1), x, 2);
    }
    x
}

/// Uniform `[0, 1)` input data for `g`, in the ONNX layout of its input (NCHW order for the
/// zoo models), of the input's length; deterministic for a seed.
pub fn random_input(g: &Graph, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..g.values[g.input].len()).map(|_| rng.random::<f32>()).collect()
}

/// A graph holding just the NCHW input value `input` of `c` x `h` x `w`.
fn new_graph(c: usize, h: usize, w: usize) -> (Graph, ValueId) {
    let mut g = Graph { values: Vec::new(), nodes: Vec::new(), input: 0, output: 0 };
    let x = g.add_value("input", [1, h, w, c], Layout::Nchw);
    g.input = x;
    (g, x)
}

fn push(g: &mut Graph, name: &str, onnx_op: &str, op: NodeOp, inputs: Vec<ValueId>, output: ValueId, act: Activation) {
    g.nodes.push(Node { name: name.into(), onnx_op: onnx_op.into(), op, inputs, output, act });
}

/// `n` He-normal weights for a layer of fan-in `fan_in`: std `sqrt(2 / fan_in)`.
fn he_normal(rng: &mut impl Rng, n: usize, fan_in: usize) -> Vec<f32> {
    let std = (2.0 / fan_in.max(1) as f32).sqrt();
    let dist = Normal::new(0.0f32, std).expect("a finite positive std");
    (0..n).map(|_| dist.sample(rng)).collect()
}

/// `n` biases uniform in `[-0.05, 0.05)`.
fn small_bias(rng: &mut impl Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-0.05f32..0.05)).collect()
}

/// `k`x`k` stride-1 conv with `pad` on every side and a fused ReLU.
fn conv(g: &mut Graph, rng: &mut impl Rng, name: &str, x: ValueId, cout: usize, k: usize, pad: usize) -> ValueId {
    let [_, h, w, cin] = g.values[x].dims;
    let win = Window { kernel: [k, k], strides: [1, 1], pads: [pad; 4], dilations: [1, 1] };
    let (oh, ow) = win.out_hw(h, w).unwrap_or_else(|| panic!("{name}: a {k}x{k} kernel does not fit a {h}x{w} map"));
    let fan_in = cin * k * k;
    let weight = he_normal(rng, cout * fan_in, fan_in);
    let bias = small_bias(rng, cout);
    let y = g.add_value(name, [1, oh, ow, cout], Layout::Nchw);
    push(g, name, "Conv", NodeOp::Conv { weight, bias, win, groups: 1 }, vec![x], y, Activation::Relu);
    y
}

/// `k`x`k` stride-`k` max pool without padding (Keras `MaxPooling2D(k)`, floor mode).
fn max_pool(g: &mut Graph, name: &str, x: ValueId, k: usize) -> ValueId {
    let [_, h, w, c] = g.values[x].dims;
    let win = Window { kernel: [k, k], strides: [k, k], pads: [0; 4], dilations: [1, 1] };
    let (oh, ow) = win.out_hw(h, w).unwrap_or_else(|| panic!("{name}: a {k}x{k} pool does not fit a {h}x{w} map"));
    let y = g.add_value(name, [1, oh, ow, c], Layout::Nchw);
    push(g, name, "MaxPool", NodeOp::MaxPool { win }, vec![x], y, Activation::None);
    y
}

/// Flatten of an NCHW value (channel-major order, as ONNX Flatten of NCHW).
fn flatten(g: &mut Graph, name: &str, x: ValueId) -> ValueId {
    let dims = g.values[x].dims;
    let y = g.add_value(name, dims, Layout::FlatChw);
    push(g, name, "Flatten", NodeOp::Alias, vec![x], y, Activation::None);
    y
}

/// Fully connected layer of `n` outputs with activation `act`.
fn dense(g: &mut Graph, rng: &mut impl Rng, name: &str, x: ValueId, n: usize, act: Activation) -> ValueId {
    let k = g.values[x].len();
    let weight = he_normal(rng, n * k, k);
    let bias = small_bias(rng, n);
    let y = g.add_value(name, [1, 1, 1, n], Layout::FlatHwc);
    push(g, name, "Gemm", NodeOp::Dense { weight, bias }, vec![x], y, act);
    y
}

/// The closing softmax `predictions`, writing the graph output `output`.
fn softmax_output(mut g: Graph, x: ValueId) -> Graph {
    let dims = g.values[x].dims;
    let y = g.add_value("output", dims, Layout::FlatHwc);
    push(&mut g, "predictions", "Softmax", NodeOp::Softmax(SoftmaxAxes::CHANNELS), vec![x], y, Activation::None);
    g.output = y;
    g
}

/// The course's Keras MNIST net: 3,730 parameters, 117,912 MACs.
fn mnist_cnn_28(rng: &mut StdRng) -> Graph {
    let (mut g, x) = new_graph(1, 28, 28);
    let x = conv(&mut g, rng, "conv2d_1", x, 6, 3, 0);
    let x = max_pool(&mut g, "max_pooling2d_1", x, 2);
    let x = conv(&mut g, rng, "conv2d_2", x, 12, 3, 0);
    let x = max_pool(&mut g, "max_pooling2d_2", x, 2);
    let x = flatten(&mut g, "flatten", x);
    let x = dense(&mut g, rng, "dense_1", x, 10, Activation::None);
    softmax_output(g, x)
}

/// The CIFAR-10 net: conv32 (same), conv32, pool, conv64 (same), conv64, pool, dense512,
/// dense10; 20,741,120 MACs.
fn cifar_cnn_32(rng: &mut StdRng) -> Graph {
    let (mut g, x) = new_graph(3, 32, 32);
    let x = conv(&mut g, rng, "conv2d_1", x, 32, 3, 1);
    let x = conv(&mut g, rng, "conv2d_2", x, 32, 3, 0);
    let x = max_pool(&mut g, "max_pooling2d_1", x, 2);
    let x = conv(&mut g, rng, "conv2d_3", x, 64, 3, 1);
    let x = conv(&mut g, rng, "conv2d_4", x, 64, 3, 0);
    let x = max_pool(&mut g, "max_pooling2d_2", x, 2);
    let x = flatten(&mut g, "flatten", x);
    let x = dense(&mut g, rng, "dense_1", x, 512, Activation::Relu);
    let x = dense(&mut g, rng, "dense_2", x, 10, Activation::None);
    softmax_output(g, x)
}

/// VGG16 base at `size`x`size`x3, flatten, then dense layers `dense_1`, `dense_2`, … of
/// the given widths and activations, then softmax.
fn vgg16_head(size: usize, head: &[(usize, Activation)], rng: &mut StdRng) -> Graph {
    let (mut g, x) = new_graph(3, size, size);
    let x = vgg16_base(&mut g, x, rng);
    let mut x = flatten(&mut g, "flatten", x);
    for (i, &(n, act)) in head.iter().enumerate() {
        x = dense(&mut g, rng, &format!("dense_{}", i + 1), x, n, act);
    }
    softmax_output(g, x)
}

// ---- Training architectures (`kestrel train` / `kestrel finetune`) ----

/// Architectures `kestrel train` builds: a convolutional base from here, a classifier head
/// from a command-line spec (see `train::head`).
pub const TRAIN_ARCHS: [&str; 4] = ["mnist_cnn", "cifar_cnn", "fashion_cnn", "vgg16"];

/// The default input size (h = w) and head of a training architecture.
pub fn train_defaults(arch: &str) -> Option<(usize, &'static str)> {
    Some(match arch {
        "mnist_cnn" => (28, "flatten,dense:N"),
        "fashion_cnn" => (28, "flatten,dense:128,relu,dropout:0.3,dense:N"),
        "cifar_cnn" => (32, "flatten,dense:512,relu,dropout:0.5,dense:N"),
        "vgg16" => (150, "flatten,dense:256,relu,dropout:0.5,dense:N"),
        _ => return None,
    })
}

/// The convolutional base of a training architecture (one of [`TRAIN_ARCHS`]) on an NCHW
/// input `input` of `c` x `h` x `w`, with seeded weights from `rng`. Returns the graph
/// (its output not yet set) and the base's last value; a head goes on top of it.
pub fn train_base(arch: &str, c: usize, h: usize, w: usize, rng: &mut StdRng) -> anyhow::Result<(Graph, ValueId)> {
    let min = match arch {
        "vgg16" => 32,
        "cifar_cnn" => 14,
        _ => 10,
    };
    if !TRAIN_ARCHS.contains(&arch) {
        bail!("unknown architecture '{arch}'; known: {}", TRAIN_ARCHS.join(", "));
    }
    if h < min || w < min {
        bail!("{arch} needs an input of at least {min}x{min}, got {h}x{w}");
    }
    let (mut g, x) = new_graph(c, h, w);
    let x = match arch {
        "mnist_cnn" => {
            let x = conv(&mut g, rng, "conv2d_1", x, 6, 3, 0);
            let x = max_pool(&mut g, "max_pooling2d_1", x, 2);
            let x = conv(&mut g, rng, "conv2d_2", x, 12, 3, 0);
            max_pool(&mut g, "max_pooling2d_2", x, 2)
        }
        "cifar_cnn" => {
            let x = conv(&mut g, rng, "conv2d_1", x, 32, 3, 1);
            let x = conv(&mut g, rng, "conv2d_2", x, 32, 3, 0);
            let x = max_pool(&mut g, "max_pooling2d_1", x, 2);
            let x = conv(&mut g, rng, "conv2d_3", x, 64, 3, 1);
            let x = conv(&mut g, rng, "conv2d_4", x, 64, 3, 0);
            max_pool(&mut g, "max_pooling2d_2", x, 2)
        }
        "fashion_cnn" => {
            let x = conv_bn_relu(&mut g, rng, 1, x, 32);
            let x = max_pool(&mut g, "max_pooling2d_1", x, 2);
            let x = conv_bn_relu(&mut g, rng, 2, x, 64);
            max_pool(&mut g, "max_pooling2d_2", x, 2)
        }
        _ => vgg16_base(&mut g, x, rng),
    };
    Ok((g, x))
}

/// `conv2d_{i}` (3x3, same padding, no activation) → `batch_normalization_{i}` (Keras
/// initial state, epsilon 1e-3) → `re_lu_{i}`.
fn conv_bn_relu(g: &mut Graph, rng: &mut impl Rng, i: usize, x: ValueId, cout: usize) -> ValueId {
    let x = conv(g, rng, &format!("conv2d_{i}"), x, cout, 3, 1);
    if let Some(n) = g.nodes.last_mut() {
        n.act = Activation::None;
    }
    let dims = g.values[x].dims;
    let name = format!("batch_normalization_{i}");
    let y = g.add_value(&name, dims, Layout::Nchw);
    let op = NodeOp::BatchNorm { scale: vec![1.0; cout], bias: vec![0.0; cout], mean: vec![0.0; cout], var: vec![1.0; cout], eps: 1e-3 };
    push(g, &name, "BatchNormalization", op, vec![x], y, Activation::None);
    let name = format!("re_lu_{i}");
    let z = g.add_value(&name, dims, Layout::Nchw);
    push(g, &name, "Relu", NodeOp::Act(Activation::Relu), vec![y], z, Activation::None);
    z
}

/// Head layer: Flatten of an NCHW value (channel-major).
pub fn head_flatten(g: &mut Graph, name: &str, x: ValueId) -> ValueId {
    flatten(g, name, x)
}

/// Head layer: GlobalAveragePooling2D (an average pool over the whole map, then flatten).
pub fn head_gap(g: &mut Graph, name: &str, x: ValueId) -> ValueId {
    let [_, h, w, c] = g.values[x].dims;
    let win = Window { kernel: [h, w], strides: [1, 1], pads: [0; 4], dilations: [1, 1] };
    let pooled = g.add_value(format!("{name}_pool"), [1, 1, 1, c], Layout::Nchw);
    push(g, name, "GlobalAveragePool", NodeOp::AvgPool { win, count_include_pad: false }, vec![x], pooled, Activation::None);
    flatten(g, &format!("{name}_flatten"), pooled)
}

/// Head layer: a dense layer of `n` outputs (He-normal weights from `rng`).
pub fn head_dense(g: &mut Graph, rng: &mut StdRng, name: &str, x: ValueId, n: usize, act: Activation) -> ValueId {
    dense(g, rng, name, x, n, act)
}

/// Close a head with the softmax `predictions` writing the graph output `output`.
pub fn head_softmax(g: Graph, x: ValueId) -> Graph {
    softmax_output(g, x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{export::export_float, pb_util};

    fn params(g: &Graph) -> u64 {
        g.nodes.iter().map(Graph::node_params).sum()
    }

    #[test]
    fn mnist_params_and_macs() {
        let g = build("mnist_cnn_28", 1).expect("builds");
        assert_eq!(params(&g), 3_730);
        assert_eq!(g.macs(), 117_912);
        let names: Vec<&str> = g.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            ["conv2d_1", "max_pooling2d_1", "conv2d_2", "max_pooling2d_2", "flatten", "dense_1", "predictions"]
        );
        assert_eq!(g.values[g.input].name, "input");
        assert_eq!(g.values[g.input].onnx_shape(), [1, 1, 28, 28]);
        assert_eq!(g.values[g.output].name, "output");
        assert_eq!(g.values[g.output].onnx_shape(), [1, 10]);
    }

    #[test]
    fn cifar_macs() {
        let g = build("cifar_cnn_32", 1).expect("builds");
        assert_eq!(g.macs(), 20_741_120);
        assert_eq!(g.values[g.input].onnx_shape(), [1, 3, 32, 32]);
    }

    #[test]
    fn vgg16_plants_conv_params() {
        let g = build("vgg16_plants_150", 3).expect("builds");
        let conv: u64 = g.nodes.iter().filter(|n| matches!(n.op, NodeOp::Conv { .. })).map(Graph::node_params).sum();
        assert_eq!(conv, 14_714_688);
        assert_eq!(g.nodes.iter().filter(|n| matches!(n.op, NodeOp::Conv { .. })).count(), 13);
        assert_eq!(g.nodes.iter().filter(|n| matches!(n.op, NodeOp::MaxPool { .. })).count(), 5);
        let pool5 = g.nodes.iter().find(|n| n.name == "block5_pool").expect("block5_pool");
        assert_eq!(g.values[pool5.output].dims, [1, 4, 4, 512]);
        assert_eq!(format!("{:.2}", g.macs() as f64 / 1e9), "6.62");
        assert_eq!(g.values[g.output].onnx_shape(), [1, 12]);
    }

    #[test]
    fn vgg16_ft_macs() {
        let g = build("vgg16_ft_224", 3).expect("builds");
        assert_eq!(format!("{:.2}", g.macs() as f64 / 1e9), "15.35");
        let names: Vec<&str> = g.nodes.iter().rev().take(3).map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["predictions", "dense_2", "dense_1"]);
    }

    #[test]
    fn deterministic_and_unknown_names() {
        assert_eq!(build("mnist_cnn_28", 5).expect("builds"), build("mnist_cnn_28", 5).expect("builds"));
        assert_ne!(build("mnist_cnn_28", 5).expect("builds"), build("mnist_cnn_28", 6).expect("builds"));
        let err = build("resnet50", 0).expect_err("unknown").to_string();
        assert!(REFERENCE.iter().all(|n| err.contains(n)), "{err}");
        let g = build("mnist_cnn_28", 0).expect("builds");
        let x = random_input(&g, 1);
        assert_eq!(x.len(), 784);
        assert!(x.iter().all(|v| (0.0..1.0).contains(v)));
        assert_eq!(x, random_input(&g, 1));
    }

    #[test]
    fn mnist_float_export_runs_in_tract() {
        let g = build("mnist_cnn_28", 42).expect("builds");
        let bytes = pb_util::encode(&export_float(&g));
        let out = crate::onnx::export::tests::run_tract(&bytes, &[1, 1, 28, 28], &random_input(&g, 7));
        assert_eq!(out.len(), 10);
        let view = out;
        let sum: f32 = view.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4, "sum {sum}");
        assert!(view.iter().all(|&p| (0.0..=1.0).contains(&p)));
    }
}
