//! Tests of the op builders added for the corpus' classic and PyTorch graphs: LRN's
//! attributes and the layouts it takes.

use super::*;
use crate::onnx::pb_util::{self as pu, attr_f, attr_i, node};
use kestrel_runtime::Lrn;

/// The one-node-chain model of the front end's tests (input "x", output "y").
use super::front_tests::model as model_with;

fn import(nodes: Vec<pb::NodeProto>, input: &[usize], opset: i64) -> std::result::Result<Graph, String> {
    import_onnx(&model_with(nodes, vec![], input, opset)).map_err(|e| e.to_string())
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

#[test]
fn prelu_slope_of_c_values_is_per_channel_before_opset_7() {
    let nodes = || vec![node("PRelu", "act", &["x", "slope"], &["y"], vec![])];
    let inits = || vec![pu::tensor_f32("slope", &[3], &[0.1, -0.2, 0.3])];
    let g = import_onnx(&model_with(nodes(), inits(), &[1, 3, 4, 5], 6)).expect("opset 6");
    assert_eq!(g.nodes[0].op, NodeOp::PRelu { slope: vec![0.1, -0.2, 0.3] });
    // From opset 7 it broadcasts numpy-style: over W (5), which does not fit.
    let e = import_onnx(&model_with(nodes(), inits(), &[1, 3, 4, 5], 13)).unwrap_err().to_string();
    assert!(e.contains("only a scalar or one slope per channel"), "{e}");
}
