//! Every supported op through the whole pipeline, against ONNX Runtime and tract: a small
//! graph with depthwise and dilated convs, BatchNormalization, ReLU, ReLU6, LeakyRelu,
//! a residual Add, a channel Concat, average, max and global average pooling, Gemm and
//! Softmax. f32 `.kes` vs tract and ONNX Runtime float; int8 `.kes` vs ONNX Runtime on the
//! QDQ export.

use kestrel_engines::{OrtModel, TractModel};
use kestrel_compiler::ir::{Graph, Layout, NodeOp, Window};
use kestrel_compiler::onnx::{export, pb_util};
use kestrel_runtime::{Activation, Model, SoftmaxAxes};
use kestrel_tests::graph_builder::B;
use kestrel_tests::*;

fn all_ops_graph() -> Graph {
    let mut b = B::new(42);
    let x = b.g.add_value("input", [1, 16, 16, 3], Layout::Nchw);
    b.g.input = x;
    let c1 = b.conv("conv1", x, 8, 3, 1, 1, 1, 1, Activation::None);
    let bn = {
        let (scale, bias) = (b.rand(8, 1.0).iter().map(|v| 1.0 + v.abs()).collect(), b.rand(8, 0.2));
        let (mean, var) = (b.rand(8, 0.1), b.rand(8, 0.5).iter().map(|v| 0.5 + v.abs()).collect());
        b.node("bn1", "BatchNormalization", NodeOp::BatchNorm { scale, bias, mean, var, eps: 1e-5 }, vec![c1], [1, 16, 16, 8], Layout::Nchw, Activation::None)
    };
    let r1 = b.node("relu1", "Relu", NodeOp::Act(Activation::Relu), vec![bn], [1, 16, 16, 8], Layout::Nchw, Activation::None);
    let dw = b.conv("dwconv", r1, 8, 3, 1, 1, 1, 8, Activation::Clip(0.0, 6.0));
    let dil = b.conv("dilated", r1, 8, 3, 2, 2, 1, 1, Activation::None);
    let lk = b.node("leaky", "LeakyRelu", NodeOp::Act(Activation::LeakyRelu(0.1)), vec![dil], [1, 16, 16, 8], Layout::Nchw, Activation::None);
    let add = b.node("residual", "Add", NodeOp::Add, vec![dw, lk], [1, 16, 16, 8], Layout::Nchw, Activation::Relu);
    let cat = b.node("concat", "Concat", NodeOp::Concat, vec![add, r1], [1, 16, 16, 16], Layout::Nchw, Activation::None);
    let ap = b.pool("avgpool", cat, 2, 2, 0, false);
    let c2 = b.conv("conv1x1_s2", ap, 16, 1, 0, 1, 2, 1, Activation::Relu);
    let c3 = b.conv("conv3", c2, 16, 3, 1, 1, 1, 1, Activation::Relu);
    let mp = b.pool("maxpool", c3, 3, 2, 1, true);
    let gap = {
        let [_, h, w, c] = b.g.values[mp].dims;
        let win = Window { kernel: [h, w], strides: [1, 1], pads: [0; 4], dilations: [1, 1] };
        b.node("gap", "GlobalAveragePool", NodeOp::AvgPool { win, count_include_pad: false }, vec![mp], [1, 1, 1, c], Layout::Nchw, Activation::None)
    };
    let fl = b.node("flatten", "Flatten", NodeOp::Alias, vec![gap], [1, 1, 1, 16], Layout::FlatChw, Activation::None);
    let weight = b.rand(10 * 16, 0.5);
    let bias = b.rand(10, 0.1);
    let d = b.node("dense", "Gemm", NodeOp::Dense { weight, bias }, vec![fl], [1, 1, 1, 10], Layout::FlatHwc, Activation::None);
    let sm = b.node("predictions", "Softmax", NodeOp::Softmax(SoftmaxAxes::CHANNELS), vec![d], [1, 1, 1, 10], Layout::FlatHwc, Activation::None);
    b.g.output = sm;
    b.g.values[sm].name = "output".into();
    b.g
}

#[test]
fn all_ops_f32_match_tract_and_onnxruntime() {
    let onnx = pb_util::encode(&export::export_float(&all_ops_graph()));
    let g = import_optimized(&onnx, false);
    let shape = g.values[g.input].onnx_shape();
    let kes = compile_f32(&g);
    let mut ort = OrtModel::new(&onnx, 1).expect("ONNX Runtime (run scripts/setup.sh or set ORT_DYLIB_PATH)");
    let tract = TractModel::new(&onnx, &shape).expect("tract");
    for (i, x) in inputs(&g, 20, 21).iter().enumerate() {
        let k = run_kes(&g, &kes, x);
        let (o, t) = (ort.run(&shape, x).expect("ort"), tract.run(&shape, x).expect("tract"));
        assert!(rel_err(&k, &o) <= 1e-4, "input {i}: vs ONNX Runtime {}", rel_err(&k, &o));
        assert!(rel_err(&k, &t) <= 1e-4, "input {i}: vs tract {}", rel_err(&k, &t));
    }
}

#[test]
fn all_ops_int8_match_onnxruntime_qdq() {
    let onnx = pb_util::encode(&export::export_float(&all_ops_graph()));
    let g = import_optimized(&onnx, true);
    let shape = g.values[g.input].onnx_shape();
    let (kes, q) = compile_int8(&g, &inputs(&g, 16, 3));
    let mut ort = OrtModel::new(&pb_util::encode(&export::export_qdq(&g, &q)), 1).expect("ONNX Runtime");
    let scale = Model::load(kes.as_slice()).expect("load").output().scale;
    let mut worst = 0f32;
    for x in inputs(&g, 50, 23) {
        let (k, o) = (run_kes(&g, &kes, &x), ort.run(&shape, &x).expect("ort"));
        worst = k.iter().zip(&o).fold(worst, |m, (a, b)| m.max((a - b).abs() / scale));
    }
    eprintln!("all-ops int8 vs ONNX Runtime QDQ: worst {worst:.3} LSB over 50 inputs");
    assert!(worst <= 1.0 + 1e-3, "int8 .kes differs from ONNX Runtime QDQ by {worst} LSB");
}
