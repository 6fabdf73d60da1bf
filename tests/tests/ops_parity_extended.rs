//! The point-wise, broadcasting and padding ops through the whole pipeline (IR → ONNX →
//! import → passes → `.kes`), one small graph per op, against ONNX Runtime: Sigmoid,
//! HardSigmoid, HardSwish and Swish (written as `x * gate(x)` and fused back at import),
//! Tanh, Elu, Selu, Softplus, LeakyRelu and PRelu on a vector, per-channel PRelu, the
//! squeeze-and-excitation Mul and Add of a `[1, C, 1, 1]` gate and a `[1, C, H, W]` map, Mul
//! and Add by a per-channel constant (affine), Pad (constant, reflect, edge), LRN (two odd
//! windows).
//! The op's input is computed exactly alike by both (a conv, a global average pool), so
//! the int8 difference measured is the op's own.
//! f32 `.kes` vs ONNX Runtime float within 1e-4 relative; int8 `.kes` vs ONNX Runtime on
//! the QDQ export within 1 LSB on every output element; every kernel set gives the scalar
//! reference's bytes.

use kestrel_compiler::ir::{Graph, Layout, NodeOp, ValueId};
use kestrel_compiler::onnx::{export, pb_util};
use kestrel_engines::OrtModel;
use kestrel_runtime::{kernels, Activation, AlignedBuf, Lrn, Model, PadMode, Unary};
use kestrel_tests::graph_builder::B;
use kestrel_tests::*;

/// input 3x12x12 → conv 8 3x3 → `op` → output (named "output").
fn conv_then(seed: u64, op: impl FnOnce(&mut B, ValueId) -> ValueId) -> Graph {
    let mut b = B::new(seed);
    let x = b.g.add_value("input", [1, 12, 12, 3], Layout::Nchw);
    b.g.input = x;
    let c = b.conv("conv1", x, 8, 3, 1, 1, 1, 1, Activation::None);
    let y = op(&mut b, c);
    b.g.output = y;
    b.g.values[y].name = "output".into();
    b.g
}

fn unary(u: Unary) -> impl FnOnce(&mut B, ValueId) -> ValueId {
    move |b, x| b.same("f", "Unary", NodeOp::Unary(u), vec![x])
}

/// `x * gate(x)`, as frameworks write Swish and HardSwish.
fn gated(gate: Unary) -> impl FnOnce(&mut B, ValueId) -> ValueId {
    move |b, x| {
        let s = b.same("gate", "Gate", NodeOp::Unary(gate), vec![x]);
        b.same("gated", "Mul", NodeOp::Mul, vec![x, s])
    }
}

/// Squeeze and excitation: GAP → 1x1 conv + ReLU → 1x1 conv → HardSigmoid → `x * gate`
/// (`mul`) or `x + gate`.
fn se(mul: bool) -> impl FnOnce(&mut B, ValueId) -> ValueId {
    move |b, x| {
        let c = b.g.values[x].dims[3];
        let p = b.gap("squeeze", x);
        let r = b.conv("reduce", p, 4, 1, 0, 1, 1, 1, Activation::Relu);
        let e = b.conv("expand", r, c, 1, 0, 1, 1, 1, Activation::None);
        let gate = b.same("gate", "HardSigmoid", NodeOp::Unary(Unary::HardSigmoid(0.2, 0.5)), vec![e]);
        let dims = b.g.values[x].dims;
        let (name, op) = if mul { ("excite", NodeOp::Mul) } else { ("shift", NodeOp::Add) };
        // The gate first: the lowering must put the full-size input first.
        b.node(name, name, op, vec![gate, x], dims, Layout::Nchw, Activation::None)
    }
}

/// conv → a conv over the whole 12x12 map → flatten → `op` (an op on a `[1, 8]` vector).
fn on_vector(op: impl FnOnce(&mut B, ValueId) -> ValueId) -> impl FnOnce(&mut B, ValueId) -> ValueId {
    move |b, x| {
        let p = b.conv("conv_whole", x, 8, 12, 0, 1, 1, 1, Activation::None);
        let f = b.node("flatten", "Flatten", NodeOp::Alias, vec![p], [1, 1, 1, 8], Layout::FlatChw, Activation::None);
        op(b, f)
    }
}

fn pad(pads: [usize; 4], mode: PadMode, value: f32) -> impl FnOnce(&mut B, ValueId) -> ValueId {
    move |b, x| {
        let [_, h, w, c] = b.g.values[x].dims;
        let dims = [1, h + pads[0] + pads[2], w + pads[1] + pads[3], c];
        b.node("pad", "Pad", NodeOp::Pad { pads, mode, value }, vec![x], dims, Layout::Nchw, Activation::None)
    }
}

fn prelu(slopes: Vec<f32>) -> impl FnOnce(&mut B, ValueId) -> ValueId {
    move |b, x| b.same("prelu", "PRelu", NodeOp::PRelu { slope: slopes }, vec![x])
}

/// `n` values spread over `(-s, s)`, none zero.
fn slopes_of(n: usize, s: f32) -> Vec<f32> {
    (0..n).map(|i| s * (2.0 * (i as f32 + 0.5) / n as f32 - 1.0)).collect()
}

fn cases() -> Vec<(&'static str, Graph)> {
    let slopes = vec![0.25, -0.5, 0.0, 1.5, 0.1, 0.75, -0.2, 2.0];
    vec![
        ("sigmoid", conv_then(1, unary(Unary::Sigmoid))),
        ("hardsigmoid", conv_then(2, unary(Unary::HardSigmoid(0.3, 0.4)))),
        ("hardswish", conv_then(3, gated(Unary::HardSigmoid(1.0 / 6.0, 0.5)))),
        ("swish", conv_then(4, gated(Unary::Sigmoid))),
        ("tanh", conv_then(5, unary(Unary::Tanh))),
        ("elu", conv_then(6, unary(Unary::Elu(0.7)))),
        ("selu", conv_then(7, unary(Unary::Selu(1.673_263_2, 1.050_701)))),
        ("softplus", conv_then(8, unary(Unary::Softplus))),
        ("prelu", conv_then(9, prelu(slopes))),
        ("prelu_vector", conv_then(10, on_vector(prelu((0..8).map(|i| i as f32 * 0.1 - 0.3).collect())))),
        ("leakyrelu_vector", conv_then(11, on_vector(|b, x| b.same("leaky", "LeakyRelu", NodeOp::Act(Activation::LeakyRelu(0.2)), vec![x])))),
        ("tanh_vector", conv_then(12, on_vector(unary(Unary::Tanh)))),
        ("se_mul", conv_then(13, se(true))),
        ("se_add", conv_then(14, se(false))),
        ("scale_per_channel", conv_then(16, |b, x| b.same("scale", "Mul", NodeOp::affine(slopes_of(8, 1.5), vec![0.0; 8]), vec![x]))),
        ("shift_per_channel", conv_then(17, |b, x| b.same("shift", "Add", NodeOp::affine(vec![1.0; 8], slopes_of(8, 0.5)), vec![x]))),
        ("pad_constant", conv_then(18, pad([1, 2, 0, 3], PadMode::Constant, 0.37))),
        ("pad_zero", conv_then(19, pad([2, 2, 2, 2], PadMode::Constant, 0.0))),
        ("pad_reflect", conv_then(20, pad([2, 1, 3, 0], PadMode::Reflect, 0.0))),
        ("pad_edge", conv_then(21, pad([0, 3, 1, 2], PadMode::Edge, 0.0))),
        // Large alphas, so the normalization moves the values (AlexNet's 1e-4 barely does).
        ("lrn", conv_then(22, |b, x| b.same("lrn", "LRN", NodeOp::Lrn(Lrn { size: 5, alpha: 0.5, beta: 0.75, bias: 1.0 }), vec![x]))),
        // ONNX Runtime takes odd windows only (an even one is checked by the kernel's own test).
        ("lrn_wide", conv_then(23, |b, x| b.same("lrn", "LRN", NodeOp::Lrn(Lrn { size: 7, alpha: 2.0, beta: 0.6, bias: 2.0 }), vec![x]))),
        ("mul_same_shape", conv_then(15, |b, x| {
            let y = b.conv("conv2", x, 8, 3, 1, 1, 1, 1, Activation::None);
            b.same("product", "Mul", NodeOp::Mul, vec![x, y])
        })),
    ]
}

/// The float ONNX of `g`, imported and optimized as `kestrel compile` does.
fn roundtrip(g: &Graph, int8: bool) -> (Vec<u8>, Graph) {
    let onnx = pb_util::encode(&export::export_float(g));
    let imported = import_optimized(&onnx, int8);
    (onnx, imported)
}

/// Output bytes of `kes` on input `x` (ONNX layout) with kernel set `k`.
fn output_bytes(g: &Graph, kes: &AlignedBuf, x: &[f32], k: &kernels::Kernels) -> Vec<u8> {
    let m = Model::load(kes.as_slice()).expect("load");
    let mut arena = AlignedBuf::zeroed(m.arena_size());
    m.set_input_f32(arena.as_mut_slice(), &to_nhwc(g, x)).expect("input");
    m.run_with(k, arena.as_mut_slice()).expect("run");
    let t = m.output();
    arena.as_slice()[t.offset..t.offset + t.size].to_vec()
}

#[test]
fn gated_activations_fuse_at_import() {
    for (name, want) in [("swish", Unary::Swish), ("hardswish", Unary::HardSwish)] {
        let g = cases().into_iter().find(|c| c.0 == name).expect("case").1;
        for int8 in [false, true] {
            let (_, imported) = roundtrip(&g, int8);
            let ops: Vec<&NodeOp> = imported.nodes.iter().map(|n| &n.op).collect();
            assert_eq!(ops.len(), 2, "{name}: conv + one fused op, got {ops:?}");
            assert_eq!(*ops[1], NodeOp::Unary(want), "{name}");
        }
    }
}

#[test]
fn pointwise_f32_match_onnxruntime() {
    for (name, g) in cases() {
        let (onnx, g) = roundtrip(&g, false);
        let shape = g.values[g.input].onnx_shape();
        let kes = compile_f32(&g);
        let mut ort = OrtModel::new(&onnx, 1).expect("ONNX Runtime (run scripts/setup.sh or set ORT_DYLIB_PATH)");
        let mut worst = 0f32;
        for x in inputs(&g, 8, 31) {
            let (k, o) = (run_kes(&g, &kes, &x), ort.run(&shape, &x).expect("ort"));
            worst = worst.max(rel_err(&k, &o));
        }
        eprintln!("{name}: f32 vs ONNX Runtime, worst relative error {worst:.2e}");
        assert!(worst <= 1e-4, "{name}: f32 .kes vs ONNX Runtime {worst}");
    }
}

#[test]
fn pointwise_int8_match_onnxruntime_qdq_on_every_kernel_set() {
    for (name, g) in cases() {
        let (_, g) = roundtrip(&g, true);
        int8_matches_onnxruntime_on_every_kernel_set(name, &g);
    }
}

/// int8 `.kes` of `g` (calibrated on 16 seeded inputs) vs ONNX Runtime on its QDQ export:
/// within 1 LSB on every output element of 30 inputs, every kernel set giving scalar's bytes.
fn int8_matches_onnxruntime_on_every_kernel_set(name: &str, g: &Graph) {
    let shape = g.values[g.input].onnx_shape();
    let (kes, q) = compile_int8(&g, &inputs(&g, 16, 5));
    let mut ort = OrtModel::new(&pb_util::encode(&export::export_qdq(&g, &q)), 1).expect("ONNX Runtime");
    let scale = Model::load(kes.as_slice()).expect("load").output().scale;
    let (mut worst, mut differ, mut total) = (0f32, 0usize, 0usize);
    for x in inputs(&g, 30, 37) {
        let (k, o) = (run_kes(&g, &kes, &x), ort.run(&shape, &x).expect("ort"));
        for (a, b) in k.iter().zip(&o) {
            let d = (a - b).abs() / scale;
            worst = worst.max(d);
            differ += (d > 0.5) as usize;
        }
        total += k.len();
        let want = output_bytes(&g, &kes, &x, &kernels::SCALAR);
        for set in kernels::available() {
            assert_eq!(output_bytes(&g, &kes, &x, set), want, "{name}: kernel set {} differs from scalar", set.name);
        }
    }
    eprintln!("{name}: int8 vs ONNX Runtime QDQ, worst {worst:.3} LSB, {differ} of {total} outputs differ");
    assert!(worst <= 1.0 + 1e-3, "{name}: int8 .kes differs from ONNX Runtime QDQ by {worst} LSB");
}

/// A one-input ONNX model (opset 13) of `nodes` from "input" `[1, 3, 12, 10]` to "output".
fn onnx_model(nodes: Vec<kestrel_compiler::onnx::pb::NodeProto>, inits: Vec<kestrel_compiler::onnx::pb::TensorProto>, out: &[usize]) -> Vec<u8> {
    onnx_model_opset(nodes, inits, out, 13)
}

/// [`onnx_model`] at `opset`.
fn onnx_model_opset(nodes: Vec<kestrel_compiler::onnx::pb::NodeProto>, inits: Vec<kestrel_compiler::onnx::pb::TensorProto>, out: &[usize], opset: i64) -> Vec<u8> {
    use kestrel_compiler::onnx::pb;
    let graph = pb::GraphProto {
        name: "t".into(),
        node: nodes,
        initializer: inits,
        input: vec![pb_util::value_info_f32("input", &[1, 3, 12, 10])],
        output: vec![pb_util::value_info_f32("output", out)],
        ..Default::default()
    };
    pb_util::encode(&pb_util::model(graph, opset))
}

/// MaxPool and AveragePool (without count_include_pad) with `ceil_mode = 1` where it adds a
/// window, written directly in ONNX (the IR holds the extra padding the import makes of it).
fn ceil_mode_onnx(op: &str) -> Vec<u8> {
    use pb_util::{attr_i, attr_ints, node};
    let attrs = vec![attr_ints("kernel_shape", &[3, 3]), attr_ints("strides", &[2, 2]), attr_i("ceil_mode", 1)];
    onnx_model(vec![node(op, "pool", &["input"], &["output"], attrs)], vec![], &[1, 3, 6, 5])
}

/// `Add` of a scalar straight on the graph input (no bias to fold into), then `Mul` by a
/// per-channel `[1, 3, 1, 1]` constant: one per-channel affine op (the Add becomes one, and
/// the front end folds the Mul into it).
#[test]
fn mul_and_add_by_constants_match_onnxruntime() {
    use pb_util::{node, tensor_f32};
    let nodes = vec![node("Add", "shift", &["b", "input"], &["shifted"], vec![]), node("Mul", "scale", &["shifted", "k"], &["output"], vec![])];
    let inits = vec![tensor_f32("k", &[1, 3, 1, 1], &[0.5, -1.25, 2.0]), tensor_f32("b", &[], &[0.3])];
    let onnx = onnx_model(nodes, inits, &[1, 3, 12, 10]);
    let g = import_optimized(&onnx, false);
    assert!(g.nodes.len() == 1 && matches!(g.nodes[0].op, NodeOp::Conv { groups: 3, .. }), "{:?}", g.nodes);
    let shape = g.values[g.input].onnx_shape();
    let mut ort = OrtModel::new(&onnx, 1).expect("ONNX Runtime");
    let kes = compile_f32(&g);
    for x in inputs(&g, 4, 47) {
        let (k, o) = (run_kes(&g, &kes, &x), ort.run(&shape, &x).expect("ort"));
        assert!(rel_err(&k, &o) <= 1e-6, "f32 vs ONNX Runtime {}", rel_err(&k, &o));
    }
}

#[test]
fn ceil_mode_pools_match_onnxruntime() {
    for op in ["MaxPool", "AveragePool"] {
        let onnx = ceil_mode_onnx(op);
        let g = import_optimized(&onnx, false);
        assert_eq!(g.values[g.output].dims, [1, 6, 5, 3], "{op}: ceil mode output");
        let shape = g.values[g.input].onnx_shape();
        let mut ort = OrtModel::new(&onnx, 1).expect("ONNX Runtime");
        let kes = compile_f32(&g);
        for x in inputs(&g, 4, 41) {
            let (k, o) = (run_kes(&g, &kes, &x), ort.run(&shape, &x).expect("ort"));
            assert!(rel_err(&k, &o) <= 1e-6, "{op}: f32 vs ONNX Runtime {}", rel_err(&k, &o));
        }
        let g = import_optimized(&onnx, true);
        let (kes, q) = compile_int8(&g, &inputs(&g, 8, 5));
        let mut ort = OrtModel::new(&pb_util::encode(&export::export_qdq(&g, &q)), 1).expect("ONNX Runtime");
        let scale = Model::load(kes.as_slice()).expect("load").output().scale;
        for x in inputs(&g, 8, 43) {
            let (k, o) = (run_kes(&g, &kes, &x), ort.run(&shape, &x).expect("ort"));
            let worst = k.iter().zip(&o).fold(0f32, |m, (a, b)| m.max((a - b).abs() / scale));
            assert!(worst <= 1.0 + 1e-3, "{op}: int8 vs ONNX Runtime QDQ {worst} LSB");
        }
    }
}

/// Seeded weights in [-0.5, 0.5) (a 64-bit LCG, so the test needs no generator crate).
fn weights(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

/// A `k`x`k` Conv node (same padding) from `x` to `y` and its seeded weight and bias.
fn conv(name: &str, x: &str, y: &str, cin: usize, cout: usize, k: usize, seed: u64) -> (kestrel_compiler::onnx::pb::NodeProto, Vec<kestrel_compiler::onnx::pb::TensorProto>) {
    use pb_util::{attr_ints, node, tensor_f32};
    let (w, b) = (format!("{name}.w"), format!("{name}.b"));
    let attrs = vec![attr_ints("kernel_shape", &[k as i64, k as i64]), attr_ints("pads", &[(k / 2) as i64; 4])];
    let n = node("Conv", name, &[x, &w, &b], &[y], attrs);
    (n, vec![tensor_f32(&w, &[cout, cin, k, k], &weights(seed, cout * cin * k * k)), tensor_f32(&b, &[cout], &weights(seed + 1, cout))])
}

/// Views that move data and Slice of an activation, written directly in ONNX on input
/// `[1, 3, 12, 10]`, each between convs so the int8 difference measured is the copy's:
/// ShuffleNet's channel shuffle (Reshape to rank 5, Transpose, Reshape back), a Transpose
/// of H and C before Flatten + Gemm, and a Slice on C, H and W with steps 1, 2, 3.
fn copy_cases() -> Vec<(&'static str, Vec<u8>)> {
    use pb_util::{attr_i, attr_ints, node, tensor_f32, tensor_i64};
    let mut out = vec![];
    // Channel shuffle of 8 channels in 2 groups.
    let (c1, mut inits) = conv("conv1", "input", "a", 3, 8, 3, 11);
    let (c2, i2) = conv("conv2", "d", "output", 8, 4, 3, 13);
    inits.extend(i2);
    inits.push(tensor_i64("s5", &[5], &[1, 2, 4, 12, 10]));
    inits.push(tensor_i64("s4", &[4], &[1, 8, 12, 10]));
    let nodes = vec![
        c1,
        node("Reshape", "split", &["a", "s5"], &["b"], vec![]),
        node("Transpose", "shuffle", &["b"], &["c"], vec![attr_ints("perm", &[0, 2, 1, 3, 4])]),
        node("Reshape", "merge", &["c", "s4"], &["d"], vec![]),
        c2,
    ];
    out.push(("channel_shuffle", onnx_model(nodes, inits, &[1, 4, 12, 10])));
    // Transpose [1, 4, 12, 10] to [1, 12, 4, 10] (H becomes channels), Flatten, Gemm 5.
    let (c1, mut inits) = conv("conv1", "input", "a", 3, 4, 3, 17);
    inits.push(tensor_f32("fc.w", &[5, 480], &weights(19, 5 * 480)));
    inits.push(tensor_f32("fc.b", &[5], &weights(23, 5)));
    let nodes = vec![
        c1,
        node("Transpose", "hc", &["a"], &["b"], vec![attr_ints("perm", &[0, 2, 1, 3])]),
        node("Flatten", "flat", &["b"], &["c"], vec![attr_i("axis", 1)]),
        node("Gemm", "fc", &["c", "fc.w", "fc.b"], &["output"], vec![attr_i("transB", 1)]),
    ];
    out.push(("reorder_flatten", onnx_model(nodes, inits, &[1, 5])));
    // Slice channels 2..8, rows 1..11 step 2, columns 0..10 step 3.
    let (c1, mut inits) = conv("conv1", "input", "a", 3, 8, 3, 29);
    let (c2, i2) = conv("conv2", "b", "output", 6, 4, 1, 31);
    inits.extend(i2);
    for (n, v) in [("st", [2, 1, 0]), ("en", [8, 11, 10]), ("ax", [1, 2, 3]), ("sp", [1, 2, 3])] {
        inits.push(tensor_i64(n, &[3], &v));
    }
    let nodes = vec![c1, node("Slice", "crop", &["a", "st", "en", "ax", "sp"], &["b"], vec![]), c2];
    out.push(("slice_chw_steps", onnx_model(nodes, inits, &[1, 4, 5, 4])));
    // Negative steps: channels 7, 5, 3 (from 7 down to 1 exclusive, step -2), rows reversed,
    // columns 8 down to 1 step -3 (8, 5, 2).
    let (c1, mut inits) = conv("conv1", "input", "a", 3, 8, 3, 37);
    let (c2, i2) = conv("conv2", "b", "output", 3, 4, 1, 41);
    inits.extend(i2);
    for (n, v) in [("st", [7, -1, 8]), ("en", [1, i64::MIN, 0]), ("ax", [1, 2, 3]), ("sp", [-2, -1, -3])] {
        inits.push(tensor_i64(n, &[3], &v));
    }
    let nodes = vec![c1, node("Slice", "flip", &["a", "st", "en", "ax", "sp"], &["b"], vec![]), c2];
    out.push(("slice_negative_steps", onnx_model(nodes, inits, &[1, 4, 12, 3])));
    out
}

#[test]
fn copies_and_slices_match_onnxruntime_f32_and_int8_on_every_kernel_set() {
    for (name, onnx) in copy_cases() {
        let g = import_optimized(&onnx, false);
        assert!(g.nodes.iter().any(|n| matches!(n.op, NodeOp::Copy { .. })), "{name}: no copy op in {:?}", g.nodes);
        matches_onnxruntime_f32_and_int8(name, &onnx);
    }
}

/// Softmax and LogSoftmax of a conv's `[1, 4, 12, 10]` map (and of a Gemm's vector) on every
/// axis, in opset 13 (one axis) and opset 11 (the coerced 2-D matrix: `axis..rank`), and
/// after tf2onnx's NHWC transpose.
fn softmax_cases() -> Vec<(&'static str, Vec<u8>)> {
    use pb_util::{attr_i, attr_ints, node, tensor_f32};
    let on_map = |op: &str, attrs: Vec<kestrel_compiler::onnx::pb::AttributeProto>, opset: i64| {
        let (c1, inits) = conv("conv1", "input", "a", 3, 4, 3, 43);
        onnx_model_opset(vec![c1, node(op, "norm", &["a"], &["output"], attrs)], inits, &[1, 4, 12, 10], opset)
    };
    let mut out = vec![
        ("softmax_h", on_map("Softmax", vec![attr_i("axis", 2)], 13)),
        ("log_softmax_w", on_map("LogSoftmax", vec![attr_i("axis", -1)], 13)),
        ("softmax_channels_of_map", on_map("Softmax", vec![attr_i("axis", 1)], 13)),
        ("softmax_hw_opset11", on_map("Softmax", vec![attr_i("axis", 2)], 11)),
        ("log_softmax_chw_opset11", on_map("LogSoftmax", vec![attr_i("axis", 1)], 11)),
        ("log_softmax_w_opset11", on_map("LogSoftmax", vec![attr_i("axis", 3)], 11)),
    ];
    // tf2onnx: NHWC view, softmax over H.
    let (c1, inits) = conv("conv1", "input", "a", 3, 4, 3, 47);
    let nodes = vec![c1, node("Transpose", "to_nhwc", &["a"], &["b"], vec![attr_ints("perm", &[0, 2, 3, 1])]), node("Softmax", "norm", &["b"], &["output"], vec![attr_i("axis", 1)])];
    out.push(("softmax_nhwc_h", onnx_model(nodes, inits, &[1, 12, 10, 4])));
    // A Gemm's vector (the classifier head), log-softmax.
    let (c1, mut inits) = conv("conv1", "input", "a", 3, 4, 3, 53);
    inits.push(tensor_f32("fc.w", &[6, 480], &weights(59, 6 * 480)));
    inits.push(tensor_f32("fc.b", &[6], &weights(61, 6)));
    let nodes = vec![
        c1,
        node("Flatten", "flat", &["a"], &["b"], vec![attr_i("axis", 1)]),
        node("Gemm", "fc", &["b", "fc.w", "fc.b"], &["c"], vec![attr_i("transB", 1)]),
        node("LogSoftmax", "norm", &["c"], &["output"], vec![attr_i("axis", 1)]),
    ];
    out.push(("log_softmax_vector", onnx_model(nodes, inits, &[1, 6])));
    out
}

#[test]
fn softmax_on_any_axis_matches_onnxruntime_f32_and_int8_on_every_kernel_set() {
    for (name, onnx) in softmax_cases() {
        let g = import_optimized(&onnx, false);
        assert!(g.nodes.iter().any(|n| matches!(n.op, NodeOp::Softmax(_))), "{name}: no softmax in {:?}", g.nodes);
        matches_onnxruntime_f32_and_int8(name, &onnx);
    }
}

/// `onnx` compiled from its import: f32 within 1e-4 relative of ONNX Runtime on the same
/// file, int8 as [`int8_matches_onnxruntime_on_every_kernel_set`].
fn matches_onnxruntime_f32_and_int8(name: &str, onnx: &[u8]) {
    {
        let g = import_optimized(onnx, false);
        let shape = g.values[g.input].onnx_shape();
        let mut ort = OrtModel::new(onnx, 1).expect("ONNX Runtime (run scripts/setup.sh or set ORT_DYLIB_PATH)");
        let kes = compile_f32(&g);
        let mut worst = 0f32;
        for x in inputs(&g, 6, 53) {
            let (k, o) = (run_kes(&g, &kes, &x), ort.run(&shape, &x).expect("ort"));
            worst = worst.max(rel_err(&k, &o));
        }
        eprintln!("{name}: f32 vs ONNX Runtime, worst relative error {worst:.2e}");
        assert!(worst <= 1e-4, "{name}: f32 .kes vs ONNX Runtime {worst}");
    }
    int8_matches_onnxruntime_on_every_kernel_set(name, &import_optimized(onnx, true));
}
