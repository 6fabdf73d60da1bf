//! Tests of the op builders added for the corpus' classic and PyTorch graphs: LRN's
//! attributes and the layouts it takes.

use super::*;
use crate::onnx::pb_util::{self as pu, attr_f, attr_i, node};
use kestrel_runtime::Lrn;

fn model(nodes: Vec<pb::NodeProto>, input: &[usize], opset: i64) -> Vec<u8> {
    let graph = pb::GraphProto {
        node: nodes,
        input: vec![pu::value_info_f32("x", input)],
        output: vec![pu::value_info_f32("y", &[])],
        ..Default::default()
    };
    pu::encode(&pu::model(graph, opset))
}

fn import(nodes: Vec<pb::NodeProto>, input: &[usize], opset: i64) -> std::result::Result<Graph, String> {
    import_onnx(&model(nodes, input, opset)).map_err(|e| e.to_string())
}

#[test]
fn lrn_attributes_and_defaults() {
    let attrs = vec![attr_i("size", 5), attr_f("alpha", 2e-4), attr_f("beta", 0.5), attr_f("bias", 2.0)];
    let g = import(vec![node("LRN", "norm", &["x"], &["y"], attrs)], &[1, 8, 4, 4], 13).expect("import");
    assert_eq!(g.nodes[0].op, NodeOp::Lrn(Lrn { size: 5, alpha: 2e-4, beta: 0.5, bias: 2.0 }));
    assert_eq!(g.values[g.output].dims, [1, 4, 4, 8]);
    let g = import(vec![node("LRN", "norm", &["x"], &["y"], vec![attr_i("size", 3)])], &[1, 8, 4, 4], 13).expect("import");
    assert_eq!(g.nodes[0].op, NodeOp::Lrn(Lrn { size: 3, alpha: 1e-4, beta: 0.75, bias: 1.0 }));
}

#[test]
fn lrn_refusals_name_the_attribute_or_the_shape() {
    let lrn = |attrs| vec![node("LRN", "norm", &["x"], &["y"], attrs)];
    let e = import(lrn(vec![]), &[1, 8, 4, 4], 13).unwrap_err();
    assert_eq!(e, "node \"norm\" (LRN): attribute size is missing");
    let e = import(lrn(vec![attr_i("size", 0)]), &[1, 8, 4, 4], 13).unwrap_err();
    assert!(e.starts_with("node \"norm\" (LRN): attribute size = 0 is not supported"), "{e}");
    let e = import(lrn(vec![attr_i("size", 3), attr_f("beta", f32::INFINITY)]), &[1, 8, 4, 4], 13).unwrap_err();
    assert!(e.contains("beta") && e.contains("finite"), "{e}");
    let e = import(lrn(vec![attr_i("size", 3)]), &[1, 8], 13).unwrap_err();
    assert!(e.contains("LRN normalizes axis 1, supported on a [1, C, H, W] tensor"), "{e}");
}
