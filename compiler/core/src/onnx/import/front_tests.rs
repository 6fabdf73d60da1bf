//! Tests of the front end on small graphs written the way other tools write them:
//! constant subgraphs (the Caffe2 zoo's ConstantOfShape weights, PyTorch's Shape arithmetic),
//! dead nodes, tf2onnx's NHWC inputs and BatchNorm-as-Mul+Add, zero Pads, Sum, ReduceMean
//! heads, input-shape rules and the list of every problem.

use super::*;
use crate::onnx::pb_util::{self as pu, attr_f, attr_i, attr_ints, node, tensor_f32, tensor_i64};

fn ramp(n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) * scale).collect()
}

pub(super) fn model(nodes: Vec<pb::NodeProto>, inits: Vec<pb::TensorProto>, input: &[usize], opset: i64) -> Vec<u8> {
    let graph = pb::GraphProto {
        node: nodes,
        initializer: inits,
        input: vec![pu::value_info_f32("x", input)],
        output: vec![pu::value_info_f32("y", &[])],
        ..Default::default()
    };
    pu::encode(&pu::model(graph, opset))
}

fn import(nodes: Vec<pb::NodeProto>, inits: Vec<pb::TensorProto>, input: &[usize]) -> Result<Graph> {
    import_onnx(&model(nodes, inits, input, 13))
}

fn ops(g: &Graph) -> Vec<&str> {
    g.nodes.iter().map(|n| n.onnx_op.as_str()).collect()
}

fn value_of<'g>(g: &'g Graph, name: &str) -> &'g Value {
    g.values.iter().find(|v| v.name == name).unwrap_or_else(|| panic!("no value {name}"))
}

/// A float tensor attribute holding one value (ConstantOfShape's `value`).
fn attr_value(v: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        name: "value".into(),
        r#type: pb::attribute_proto::AttributeType::Tensor as i32,
        t: Some(tensor_f32("", &[1], &[v])),
        ..Default::default()
    }
}

#[test]
fn constant_subgraphs_fold_and_dead_nodes_go() {
    // Weights made by ConstantOfShape, a bias by Range -> Cast -> Mul, a Reshape target by
    // Shape -> Gather -> Unsqueeze -> Concat, and a dead branch reading an unsupported op.
    let nodes = vec![
        node("ConstantOfShape", "w", &["wshape"], &["w"], vec![attr_value(0.5)]),
        node("Range", "r", &["zero", "four", "one"], &["ri"], vec![]),
        node("Cast", "cast", &["ri"], &["rf"], vec![attr_i("to", 1)]),
        node("Mul", "scale", &["rf", "half"], &["b"], vec![]),
        node("Conv", "conv", &["x", "w", "b"], &["c"], vec![]),
        node("Shape", "shape", &["c"], &["sh"], vec![]),
        node("Gather", "gather", &["sh", "zero_i"], &["n"], vec![attr_i("axis", 0)]),
        node("Unsqueeze", "unsq", &["n", "axes"], &["n1"], vec![]),
        node("Concat", "cat", &["n1", "minus1"], &["spec"], vec![attr_i("axis", 0)]),
        node("Reshape", "flat", &["c", "spec"], &["y"], vec![]),
        node("LSTM", "dead", &["c"], &["unused"], vec![]),
    ];
    let inits = vec![
        tensor_i64("wshape", &[4], &[4, 2, 1, 1]),
        tensor_f32("zero", &[], &[0.0]),
        tensor_f32("four", &[], &[4.0]),
        tensor_f32("one", &[], &[1.0]),
        tensor_f32("half", &[1], &[0.5]),
        tensor_i64("zero_i", &[], &[0]),
        tensor_i64("axes", &[1], &[0]),
        tensor_i64("minus1", &[1], &[-1]),
    ];
    let g = import(nodes, inits, &[1, 2, 3, 3]).unwrap();
    assert_eq!(ops(&g), ["Conv", "Reshape"]);
    match &g.nodes[0].op {
        NodeOp::Conv { weight, bias, .. } => {
            assert_eq!(weight, &vec![0.5; 8]);
            assert_eq!(bias, &[0.0, 0.5, 1.0, 1.5]);
        }
        op => panic!("{op:?}"),
    }
    assert_eq!(g.values[g.output].onnx_shape(), vec![1, 36]);
    assert_eq!(g.values[g.output].layout, Layout::FlatChw);
}

#[test]
fn a_transposed_constant_weight_folds() {
    // PyTorch's Linear exports `Transpose(W)` then MatMul.
    let nodes = vec![
        node("Transpose", "t", &["w"], &["wt"], vec![attr_ints("perm", &[1, 0])]),
        node("MatMul", "mm", &["x", "wt"], &["y"], vec![]),
    ];
    let g = import(nodes, vec![tensor_f32("w", &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])], &[1, 2]).unwrap();
    // y[n] = sum_k x[k] * W[n][k]: the dense weight is W itself.
    assert!(matches!(&g.nodes[0].op, NodeOp::Dense { weight, .. } if weight == &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
}

#[test]
fn keras_mnist_input_reshape_is_free() {
    // tf2onnx writes the NHWC->NCHW transpose of a 1-channel input as a Reshape.
    let nodes = vec![
        node("Reshape", "to_nchw", &["x", "s"], &["xc"], vec![]),
        node("Conv", "conv", &["xc", "w"], &["c"], vec![]),
        node("Relu", "relu", &["c"], &["r"], vec![]),
        node("Transpose", "to_nhwc", &["r"], &["rt"], vec![attr_ints("perm", &[0, 2, 3, 1])]),
        node("Reshape", "flatten", &["rt", "s2"], &["f"], vec![]),
        node("MatMul", "dense", &["f", "wd"], &["y"], vec![]),
    ];
    let inits = vec![
        tensor_i64("s", &[4], &[1, 1, 28, 28]),
        tensor_f32("w", &[4, 1, 3, 3], &ramp(36, 0.1)),
        tensor_i64("s2", &[2], &[-1, 2704]),
        tensor_f32("wd", &[2704, 10], &ramp(27040, 0.01)),
    ];
    let g = import(nodes, inits, &[1, 28, 28, 1]).unwrap();
    assert_eq!(g.values[g.input].layout, Layout::Nhwc);
    assert_eq!((value_of(&g, "xc").dims, value_of(&g, "xc").layout), ([1, 28, 28, 1], Layout::Nchw));
    assert_eq!(value_of(&g, "f").layout, Layout::FlatHwc);
    assert_eq!(ops(&g), ["Reshape", "Conv", "Relu", "Transpose", "Reshape", "MatMul"]);
}

#[test]
fn mul_and_add_fold_into_conv_and_batchnorm() {
    // tf2onnx: depthwise conv, then BatchNorm written as Mul + Add. Caffe2 zoo: BatchNorm,
    // then a per-channel scale as Unsqueeze + Mul + Add.
    let nodes = vec![
        node("Conv", "dw", &["x", "w"], &["c"], vec![attr_i("group", 2)]),
        node("Mul", "bn_mul", &["c", "s"], &["m"], vec![]),
        node("Add", "bn_add", &["m", "t"], &["a"], vec![]),
        node("BatchNormalization", "bn", &["a", "one", "zero", "zero", "one"], &["b"], vec![attr_f("epsilon", 0.0)]),
        node("Unsqueeze", "u", &["sc", "axes"], &["sc3"], vec![]),
        node("Mul", "scale", &["b", "sc3"], &["bs"], vec![]),
        node("Sub", "shift", &["bs", "k"], &["y"], vec![]),
    ];
    let inits = vec![
        tensor_f32("w", &[2, 1, 1, 1], &[1.0, 2.0]),
        tensor_f32("s", &[2, 1, 1], &[3.0, 4.0]),
        tensor_f32("t", &[1, 2, 1, 1], &[0.5, -0.5]),
        tensor_f32("one", &[2], &[1.0, 1.0]),
        tensor_f32("zero", &[2], &[0.0, 0.0]),
        tensor_f32("sc", &[2], &[2.0, 10.0]),
        tensor_i64("axes", &[2], &[1, 2]),
        tensor_f32("k", &[], &[1.0]),
    ];
    let g = import(nodes, inits, &[1, 2, 2, 2]).unwrap();
    assert_eq!(ops(&g), ["Conv", "BatchNormalization"]);
    assert!(matches!(&g.nodes[0].op, NodeOp::Conv { weight, bias, .. } if weight == &[3.0, 8.0] && bias == &[0.5, -0.5]));
    assert!(matches!(&g.nodes[1].op, NodeOp::BatchNorm { scale, bias, .. } if scale == &[2.0, 10.0] && bias == &[-1.0, -1.0]));
    assert_eq!(g.values[g.output].name, "y");
}

#[test]
fn a_shared_producer_is_not_folded_into() {
    // The conv output is read twice: folding the Mul into it would change the other reader.
    let nodes = vec![
        node("Conv", "c", &["x", "w"], &["c"], vec![]),
        node("Mul", "m", &["c", "s"], &["m"], vec![]),
        node("Add", "sum", &["m", "c"], &["y"], vec![]),
    ];
    let inits = vec![tensor_f32("w", &[1, 1, 1, 1], &[1.0]), tensor_f32("s", &[], &[2.0])];
    match import(nodes, inits, &[1, 1, 2, 2]) {
        Err(e) => assert!(e.to_string().starts_with("node \"m\" (Mul)"), "{e}"),
        Ok(g) => {
            assert!(matches!(&g.nodes[0].op, NodeOp::Conv { weight, .. } if weight == &[1.0]));
            assert!(ops(&g).contains(&"Mul"));
        }
    }
}

#[test]
fn zero_pads_fold_into_conv_and_max_pool_after_relu() {
    let nodes = vec![
        node("Pad", "p1", &["x", "pads1"], &["xp"], vec![]),
        node("Conv", "c", &["xp", "w"], &["c"], vec![attr_ints("strides", &[2, 2])]),
        node("Relu", "r", &["c"], &["r"], vec![]),
        node("Pad", "p2", &["r", "pads2"], &["rp"], vec![]),
        node("MaxPool", "mp", &["rp"], &["y"], vec![attr_ints("kernel_shape", &[3, 3]), attr_ints("strides", &[2, 2])]),
    ];
    let inits = vec![
        tensor_i64("pads1", &[8], &[0, 0, 0, 0, 0, 0, 1, 1]),
        tensor_i64("pads2", &[8], &[0, 0, 1, 1, 0, 0, 1, 1]),
        tensor_f32("w", &[2, 1, 3, 3], &ramp(18, 0.1)),
    ];
    let g = import(nodes.clone(), inits.clone(), &[1, 1, 7, 7]).unwrap();
    assert_eq!(ops(&g), ["Conv", "Relu", "MaxPool"]);
    assert!(matches!(g.nodes[0].op, NodeOp::Conv { win, .. } if win.pads == [0, 0, 1, 1]));
    assert!(matches!(g.nodes[2].op, NodeOp::MaxPool { win } if win.pads == [1, 1, 1, 1]));
    assert_eq!(g.values[g.output].dims, [1, 2, 2, 2]);
    // Without the Relu the max pool would see the pad's zeros win over negative values.
    let mut signed = nodes;
    signed.remove(2);
    signed[2].input[0] = "c".into();
    match import(signed, inits, &[1, 1, 7, 7]) {
        Err(e) => assert!(e.to_string().contains("\"p2\" (Pad)"), "{e}"),
        Ok(g) => assert!(g.nodes.iter().any(|n| n.onnx_op == "Pad"), "the pad was folded: {:?}", ops(&g)),
    }
}

#[test]
fn sum_and_reduce_mean_heads() {
    // Caffe2's Sum of three branches; Keras' GlobalAveragePooling as ReduceMean + Squeeze.
    let nodes = vec![
        node("Relu", "a", &["x"], &["a"], vec![]),
        node("Relu", "b", &["x"], &["b"], vec![]),
        node("Sum", "sum", &["a", "b", "x"], &["s"], vec![]),
        node("ReduceMean", "mean", &["s"], &["m"], vec![attr_ints("axes", &[2, 3])]),
        node("Squeeze", "sq", &["m", "sq_axes"], &["y"], vec![]),
    ];
    let g = import(nodes, vec![tensor_i64("sq_axes", &[2], &[2, 3])], &[1, 3, 4, 4]).unwrap();
    assert_eq!(ops(&g), ["Relu", "Relu", "Sum", "Sum", "ReduceMean", "Squeeze"]);
    assert_eq!(g.nodes[2].name, "sum:add1");
    assert!(matches!(g.nodes[4].op, NodeOp::AvgPool { win, .. } if win.kernel == [4, 4]));
    assert_eq!(g.values[g.output].onnx_shape(), vec![1, 3]);
    // keepdims = 0 gives the flat view directly; other axes are refused.
    let nodes = |axes: &[i64]| vec![node("ReduceMean", "mean", &["x"], &["y"], vec![attr_ints("axes", axes), attr_i("keepdims", 0)])];
    let g = import(nodes(&[-1, -2]), vec![], &[1, 3, 4, 4]).unwrap();
    assert_eq!(g.values[g.output].onnx_shape(), vec![1, 3]);
    let e = import(nodes(&[1]), vec![], &[1, 3, 4, 4]).unwrap_err().to_string();
    assert!(e.contains("attribute axes = [1]"), "{e}");
}

#[test]
fn every_problem_is_listed_at_once() {
    let nodes = vec![
        node("Conv", "c", &["x", "w"], &["c"], vec![attr_ints("pads", &[1, 1])]),
        node("Erf", "erf", &["c"], &["e"], vec![]),
        node("Relu", "r", &["x"], &["r"], vec![]),
        node("Hardmax", "hm", &["r"], &["h"], vec![]),
        node("Concat", "cat", &["e", "h"], &["y"], vec![attr_i("axis", 1)]),
    ];
    let e = import(nodes, vec![tensor_f32("w", &[1, 1, 3, 3], &ramp(9, 0.1))], &[1, 1, 4, 4]).unwrap_err();
    assert_eq!(
        e.lines(),
        [
            "node \"c\" (Conv): attribute pads = [1, 1] is not supported (only 2-D windows are supported)",
            "node \"erf\" (Erf): unsupported op",
            "node \"hm\" (Hardmax): unsupported op",
        ]
    );
    assert!(e.to_string().starts_with("3 nodes cannot be compiled; the first: node \"c\""), "{e}");
}

fn with_input(dims: Vec<pb::tensor_shape_proto::Dimension>, opts: &ImportOptions) -> std::result::Result<Graph, String> {
    let mut m = pb::ModelProto::decode(model(vec![node("Relu", "r", &["x"], &["y"], vec![])], vec![], &[1, 1, 1, 1], 13).as_slice()).unwrap();
    let g = m.graph.as_mut().unwrap();
    if let Some(pb::type_proto::Value::TensorType(t)) = g.input[0].r#type.as_mut().and_then(|t| t.value.as_mut()) {
        t.shape.as_mut().unwrap().dim = dims;
    }
    import_onnx_with(&pu::encode(&m), opts).map_err(|e| e.to_string())
}

fn dim_v(n: i64) -> pb::tensor_shape_proto::Dimension {
    pb::tensor_shape_proto::Dimension { value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(n)), ..Default::default() }
}

fn dim_p(p: &str) -> pb::tensor_shape_proto::Dimension {
    pb::tensor_shape_proto::Dimension { value: Some(pb::tensor_shape_proto::dimension::Value::DimParam(p.into())), ..Default::default() }
}

#[test]
fn batch_and_input_shape_rules() {
    let none = ImportOptions::default();
    // tf2onnx's symbolic batch is 1.
    let g = with_input(vec![dim_p("unk__12"), dim_v(3), dim_v(8), dim_v(8)], &none).unwrap();
    assert_eq!(g.values[g.input].onnx_shape(), vec![1, 3, 8, 8]);
    // A fixed batch above 1: refused, with --batch 1 offered; accepted with it.
    let e = with_input(vec![dim_v(4), dim_v(3), dim_v(8), dim_v(8)], &none).unwrap_err();
    assert!(e.contains("batch size 4") && e.contains("--batch 1"), "{e}");
    let batch1 = ImportOptions { batch: Some(1), ..Default::default() };
    assert!(with_input(vec![dim_v(4), dim_v(3), dim_v(8), dim_v(8)], &batch1).is_ok());
    let e = with_input(vec![dim_v(4), dim_v(3), dim_v(8), dim_v(8)], &ImportOptions { batch: Some(2), ..Default::default() }).unwrap_err();
    assert!(e.contains("--batch 2"), "{e}");
    // Dynamic H or W: named, with --input-shape offered; fixed by it.
    let dynamic = || vec![dim_p("N"), dim_v(3), dim_p("height"), dim_p("width")];
    let e = with_input(dynamic(), &none).unwrap_err();
    assert!(e.contains("graph input \"x\" dimension 2 is \"height\"") && e.contains("--input-shape 1,3,224,224"), "{e}");
    let shape = |s: &[usize]| ImportOptions { input_shape: Some(s.to_vec()), ..Default::default() };
    let g = with_input(dynamic(), &shape(&[1, 3, 32, 40])).unwrap();
    assert_eq!(g.values[g.input].onnx_shape(), vec![1, 3, 32, 40]);
    let e = with_input(dynamic(), &shape(&[1, 4, 32, 40])).unwrap_err();
    assert!(e.contains("dimension 1 of graph input \"x\" is fixed at 3"), "{e}");
    let e = with_input(dynamic(), &shape(&[1, 3, 32])).unwrap_err();
    assert!(e.contains("has rank 3"), "{e}");
}

#[test]
fn check_lists_problems_and_passes_a_good_model() {
    let dir = std::env::temp_dir().join(format!("kestrel-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, nodes: Vec<pb::NodeProto>| {
        let p = dir.join(name);
        std::fs::write(&p, model(nodes, vec![tensor_f32("w", &[2, 1, 3, 3], &ramp(18, 0.1))], &[1, 1, 6, 6], 13)).unwrap();
        p
    };
    let good = write("good.onnx", vec![node("Conv", "c", &["x", "w"], &["c"], vec![]), node("Relu", "r", &["c"], &["y"], vec![])]);
    assert_eq!(crate::pipeline::check(&good, &ImportOptions::default()).unwrap(), Vec::<String>::new());
    let bad = write(
        "bad.onnx",
        vec![node("Erf", "e", &["x"], &["e"], vec![]), node("Conv", "c", &["e", "w"], &["c"], vec![]), node("Celu", "y", &["c"], &["y"], vec![])],
    );
    assert_eq!(
        crate::pipeline::check(&bad, &ImportOptions::default()).unwrap(),
        ["node \"e\" (Erf): unsupported op", "node \"y\" (Celu): unsupported op"]
    );
    // An unreadable file is an error, not a list.
    assert!(crate::pipeline::check(&dir.join("missing.onnx"), &ImportOptions::default()).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
