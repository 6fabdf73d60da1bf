//! Every input the fuzzers (`fuzz/`, `scripts/fuzz.sh`) ever crashed, hung or ran out of
//! memory on lives in `tests/fuzz-regressions/<target>/`, and is replayed here through the
//! same harness the fuzz target runs (`kestrel_tests::fuzz_harness`), together with the
//! checked-in seed corpora `fuzz/seeds/<target>/`.
//!
//! `KESTREL_BLESS=1 cargo test -p kestrel-tests --test fuzz_regressions` rewrites the
//! generated seeds (signed and f32 models, small .npy, IDX and image files).

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey};
use kestrel_compiler::ir::{Graph, Layout, Node, NodeOp, Window};
use kestrel_runtime::{Activation, Lrn, PadMode, SoftmaxAxes, Unary};
use kestrel_runtime::signature;
use kestrel_tests::fuzz_harness;
use kestrel_tests::*;

const TARGETS: [&str; 5] = ["kes", "onnx_import", "npy", "idx", "image"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn replay(root: &Path) -> (usize, Vec<String>) {
    let mut n = 0;
    let mut failures = vec![];
    for t in TARGETS {
        for f in files(&root.join(t)) {
            let bytes = std::fs::read(&f).expect("read input");
            n += 1;
            if std::panic::catch_unwind(|| fuzz_harness::run(t, &bytes)).is_err() {
                failures.push(format!("{t}: {}", f.display()));
            }
        }
    }
    (n, failures)
}

#[test]
fn fuzz_crashes_stay_fixed() {
    let (n, failures) = replay(&repo().join("tests/fuzz-regressions"));
    eprintln!("replayed {n} fuzz regression inputs");
    assert!(failures.is_empty(), "regressed: {failures:#?}");
}

#[test]
fn seed_corpora_pass_the_harness() {
    if std::env::var_os("KESTREL_BLESS").is_some() {
        bless_seeds();
    }
    let (n, failures) = replay(&repo().join("fuzz/seeds"));
    assert!(n >= 20, "seed corpora missing: only {n} files under fuzz/seeds");
    assert!(failures.is_empty(), "seeds that fail the harness: {failures:#?}");
    // The .kes seeds (and runtime/core/tests/reader.rs, which reads them) need models of
    // the current format: after a format change, re-bless.
    for f in files(&repo().join("fuzz/seeds/kes")) {
        let b = kestrel_runtime::AlignedBuf::from_bytes(&std::fs::read(&f).expect("seed"));
        if let Err(e) = kestrel_runtime::Model::load(b.as_slice()) {
            panic!("{} no longer loads ({e}); regenerate: KESTREL_BLESS=1 cargo test -p kestrel-tests --test fuzz_regressions", f.display());
        }
    }
}

/// Sign a model with the fuzz corpus' test key (secret seed `[7; 32]`).
fn sign_with_fuzz_key(unsigned: &[u8]) -> Vec<u8> {
    let sk = SigningKey::from_bytes(&[7; 32]);
    let (mut out, n) = signature::prepare_signed(unsigned, &sk.verifying_key().to_bytes()).expect("prepare");
    let s = sk.sign(&out[..n]).to_bytes();
    signature::put_signature(&mut out, &s);
    out
}

/// The tiny graphs' weights: `k` values in [-0.45, 0.55) per call, from an LCG seeded by `seed`.
fn seeded_values(seed: u32) -> impl FnMut(usize) -> Vec<f32> {
    let mut n = seed;
    move |k| {
        (0..k)
            .map(|_| {
                n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                ((n >> 16) % 200) as f32 / 200.0 - 0.45
            })
            .collect()
    }
}

/// A tiny graph with every op the runtime has (conv, depthwise conv with clip, 1x1 conv,
/// add with ReLU, concat, max and average pool, standalone leaky ReLU, flatten, dense,
/// softmax) on a 6x6x2 input: small enough for Miri (`runtime/core/tests/reader.rs`).
fn tiny_all_ops() -> Graph {
    let mut vals = seeded_values(0);
    let mut g = Graph { values: vec![], nodes: vec![], input: 0, output: 0 };
    let x = g.add_value("input", [1, 6, 6, 2], Layout::Nchw);
    let win = |k: usize, s: usize, p: usize| Window { kernel: [k, k], strides: [s, s], pads: [p; 4], dilations: [1, 1] };
    let node = |g: &mut Graph, name: &str, op: NodeOp, inputs: Vec<usize>, dims: [usize; 4], layout: Layout, act: Activation| {
        let y = g.add_value(name, dims, layout);
        g.nodes.push(Node { name: name.into(), onnx_op: name.into(), op, inputs, output: y, act });
        y
    };
    let conv = |w: Vec<f32>, b: Vec<f32>, win: Window, groups: usize| NodeOp::Conv { weight: w, bias: b, win, groups };
    let a = node(&mut g, "conv", conv(vals(4 * 2 * 9), vals(4), win(3, 1, 1), 1), vec![x], [1, 6, 6, 4], Layout::Nchw, Activation::Relu);
    let b = node(&mut g, "depthwise", conv(vals(4 * 9), vals(4), win(3, 2, 1), 4), vec![a], [1, 3, 3, 4], Layout::Nchw, Activation::Clip(0.0, 0.6));
    let c = node(&mut g, "pointwise", conv(vals(16), vals(4), win(1, 1, 0), 1), vec![b], [1, 3, 3, 4], Layout::Nchw, Activation::None);
    let d = node(&mut g, "add", NodeOp::Add, vec![b, c], [1, 3, 3, 4], Layout::Nchw, Activation::Relu);
    let e = node(&mut g, "concat", NodeOp::Concat, vec![d, b], [1, 3, 3, 8], Layout::Nchw, Activation::None);
    let f = node(&mut g, "maxpool", NodeOp::MaxPool { win: win(2, 1, 0) }, vec![e], [1, 2, 2, 8], Layout::Nchw, Activation::None);
    let h = node(&mut g, "avgpool", NodeOp::AvgPool { win: win(2, 1, 0), count_include_pad: false }, vec![f], [1, 1, 1, 8], Layout::Nchw, Activation::None);
    let l = node(&mut g, "leaky", NodeOp::Act(Activation::LeakyRelu(0.1)), vec![h], [1, 1, 1, 8], Layout::Nchw, Activation::None);
    let fl = node(&mut g, "flatten", NodeOp::Alias, vec![l], [1, 1, 1, 8], Layout::FlatChw, Activation::None);
    let de = node(&mut g, "dense", NodeOp::Dense { weight: vals(3 * 8), bias: vals(3) }, vec![fl], [1, 1, 1, 3], Layout::FlatHwc, Activation::None);
    g.output = node(&mut g, "softmax", NodeOp::Softmax(SoftmaxAxes::CHANNELS), vec![de], [1, 1, 1, 3], Layout::FlatHwc, Activation::None);
    g
}

/// A tiny graph with the point-wise and broadcasting ops (every [`Unary`] function, Swish
/// written as `x * sigmoid(x)` for the passes to fuse, per-channel PRelu, the
/// squeeze-and-excitation Mul and Add of a `[1, 1, 1, C]` gate) on a 6x6x2 input, ending in
/// dense + softmax like [`tiny_all_ops`].
fn tiny_new_ops() -> Graph {
    let mut vals = seeded_values(7);
    let mut g = Graph { values: vec![], nodes: vec![], input: 0, output: 0 };
    let x = g.add_value("input", [1, 6, 6, 2], Layout::Nchw);
    let win = |k: usize, p: usize| Window { kernel: [k, k], strides: [1, 1], pads: [p; 4], dilations: [1, 1] };
    let node = |g: &mut Graph, name: &str, op: NodeOp, inputs: Vec<usize>, dims: [usize; 4]| {
        let y = g.add_value(name, dims, Layout::Nchw);
        g.nodes.push(Node { name: name.into(), onnx_op: name.into(), op, inputs, output: y, act: Activation::None });
        y
    };
    let map = [1, 6, 6, 4];
    let a = node(&mut g, "conv", NodeOp::Conv { weight: vals(4 * 2 * 9), bias: vals(4), win: win(3, 1), groups: 1 }, vec![x], map);
    let s = node(&mut g, "sigmoid", NodeOp::Unary(Unary::Sigmoid), vec![a], map);
    let mut y = node(&mut g, "swish", NodeOp::Mul, vec![a, s], map);
    for (name, u) in [
        ("hardsigmoid", Unary::HardSigmoid(0.3, 0.4)),
        ("hardswish", Unary::HardSwish),
        ("tanh", Unary::Tanh),
        ("elu", Unary::Elu(0.8)),
        ("selu", Unary::Selu(1.673_263_2, 1.050_701)),
        ("softplus", Unary::Softplus),
    ] {
        y = node(&mut g, name, NodeOp::Unary(u), vec![y], map);
    }
    let p = node(&mut g, "prelu", NodeOp::PRelu { slope: vec![0.1, -0.3, 0.0, 0.6] }, vec![y], map);
    let gap = node(&mut g, "squeeze", NodeOp::AvgPool { win: win(6, 0), count_include_pad: false }, vec![p], [1, 1, 1, 4]);
    let gate = node(&mut g, "gate", NodeOp::Unary(Unary::Sigmoid), vec![gap], [1, 1, 1, 4]);
    let m = node(&mut g, "excite", NodeOp::Mul, vec![p, gate], map);
    let ad = node(&mut g, "shift", NodeOp::Add, vec![gate, m], map);
    let h = node(&mut g, "avgpool", NodeOp::AvgPool { win: win(6, 0), count_include_pad: false }, vec![ad], [1, 1, 1, 4]);
    let fl = g.add_value("flatten", [1, 1, 1, 4], Layout::FlatChw);
    g.nodes.push(Node { name: "flatten".into(), onnx_op: "Flatten".into(), op: NodeOp::Alias, inputs: vec![h], output: fl, act: Activation::None });
    let de = g.add_value("dense", [1, 1, 1, 3], Layout::FlatHwc);
    g.nodes.push(Node { name: "dense".into(), onnx_op: "Gemm".into(), op: NodeOp::Dense { weight: vals(12), bias: vals(3) }, inputs: vec![fl], output: de, act: Activation::None });
    let sm = g.add_value("softmax", [1, 1, 1, 3], Layout::FlatHwc);
    g.nodes.push(Node { name: "softmax".into(), onnx_op: "Softmax".into(), op: NodeOp::Softmax(SoftmaxAxes::CHANNELS), inputs: vec![de], output: sm, act: Activation::None });
    g.output = sm;
    g
}

/// A tiny graph with the layout and normalization ops the classic and PyTorch graphs need
/// (a reflect Pad, LRN, a Copy that reads rows backwards and every other column, as a
/// negative-step Slice writes it, and a log-softmax over H) on a 6x6x2 input, ending in
/// dense + softmax like [`tiny_all_ops`].
fn tiny_layout_ops() -> Graph {
    let mut vals = seeded_values(11);
    let mut g = Graph { values: vec![], nodes: vec![], input: 0, output: 0 };
    let x = g.add_value("input", [1, 6, 6, 2], Layout::Nchw);
    let win = |k: usize, p: usize| Window { kernel: [k, k], strides: [1, 1], pads: [p; 4], dilations: [1, 1] };
    let node = |g: &mut Graph, name: &str, op: NodeOp, inputs: Vec<usize>, dims: [usize; 4], layout: Layout| {
        let y = g.add_value(name, dims, layout);
        g.nodes.push(Node { name: name.into(), onnx_op: name.into(), op, inputs, output: y, act: Activation::None });
        y
    };
    let a = node(&mut g, "conv", NodeOp::Conv { weight: vals(4 * 2 * 9), bias: vals(4), win: win(3, 1), groups: 1 }, vec![x], [1, 6, 6, 4], Layout::Nchw);
    let p = node(&mut g, "pad", NodeOp::Pad { pads: [1, 1, 1, 1], mode: PadMode::Reflect, value: 0.0 }, vec![a], [1, 8, 8, 4], Layout::Nchw);
    let l = node(&mut g, "lrn", NodeOp::Lrn(Lrn { size: 3, alpha: 0.5, beta: 0.75, bias: 1.0 }), vec![p], [1, 8, 8, 4], Layout::Nchw);
    // Rows 7..=0, columns 0, 2, 4, 6, every channel: (h, w, c) is element h * 32 + w * 4 + c.
    let c = node(&mut g, "flip", NodeOp::Copy { base: 7 * 32, dims: vec![8, 4, 4], strides: vec![-32, 8, 1] }, vec![l], [1, 8, 4, 4], Layout::Nchw);
    let s = node(&mut g, "log_softmax", NodeOp::Softmax(SoftmaxAxes { first: 1, last: 1, log: true }), vec![c], [1, 8, 4, 4], Layout::Nchw);
    let h = node(&mut g, "avgpool", NodeOp::AvgPool { win: Window { kernel: [8, 4], strides: [1, 1], pads: [0; 4], dilations: [1, 1] }, count_include_pad: false }, vec![s], [1, 1, 1, 4], Layout::Nchw);
    let fl = node(&mut g, "flatten", NodeOp::Alias, vec![h], [1, 1, 1, 4], Layout::FlatChw);
    let de = node(&mut g, "dense", NodeOp::Dense { weight: vals(12), bias: vals(3) }, vec![fl], [1, 1, 1, 3], Layout::FlatHwc);
    g.output = node(&mut g, "softmax", NodeOp::Softmax(SoftmaxAxes::CHANNELS), vec![de], [1, 1, 1, 3], Layout::FlatHwc);
    g
}

fn bless_seeds() {
    let seeds = repo().join("fuzz/seeds");
    let w = |t: &str, name: &str, b: &[u8]| std::fs::write(seeds.join(t).join(name), b).expect("write seed");
    // .kes: a tiny model with every op, int8 and f32, written only where missing: the
    // checked-in pair predates OpKind::DepthwiseConv2d (its depthwise conv is a Conv2d
    // record), and runtime/core/tests/reader.rs reads it as the old files users still have.
    let missing = |name: &str| !seeds.join("kes").join(name).exists();
    if missing("tiny_all_ops.f32.kes") {
        let mut g = tiny_all_ops();
        kestrel_compiler::passes::optimize(&mut g, false).expect("passes f32");
        w("kes", "tiny_all_ops.f32.kes", compile_f32(&g).as_slice());
    }
    if missing("tiny_all_ops.int8.kes") {
        let mut g = tiny_all_ops();
        kestrel_compiler::passes::optimize(&mut g, true).expect("passes int8");
        let (kes, _) = compile_int8(&g, &inputs(&g, 4, 5));
        w("kes", "tiny_all_ops.int8.kes", kes.as_slice());
    }
    // .kes: the point-wise and broadcasting ops, int8 and f32.
    let mut g = tiny_new_ops();
    kestrel_compiler::passes::optimize(&mut g, false).expect("passes f32");
    w("kes", "tiny_new_ops.f32.kes", compile_f32(&g).as_slice());
    let mut g = tiny_new_ops();
    kestrel_compiler::passes::optimize(&mut g, true).expect("passes int8");
    let (kes, _) = compile_int8(&g, &inputs(&g, 4, 5));
    w("kes", "tiny_new_ops.int8.kes", kes.as_slice());
    // .kes: the layout and normalization ops, int8 and f32.
    let mut g = tiny_layout_ops();
    kestrel_compiler::passes::optimize(&mut g, false).expect("passes f32");
    w("kes", "tiny_layout_ops.f32.kes", compile_f32(&g).as_slice());
    let mut g = tiny_layout_ops();
    kestrel_compiler::passes::optimize(&mut g, true).expect("passes int8");
    let (kes, _) = compile_int8(&g, &inputs(&g, 4, 5));
    w("kes", "tiny_layout_ops.int8.kes", kes.as_slice());
    // .kes: the golden int8 model (as tests/kes_format.rs makes it), signed with the fuzz
    // key, and the f32 model.
    let g = import_optimized(&reference_onnx("mnist_cnn_28"), true);
    let golden = compile_int8(&g, &inputs(&g, 8, 3)).0.as_slice().to_vec();
    w("kes", "mnist_cnn_28.int8.kes", &golden);
    w("kes", "mnist_cnn_28.int8.signed.kes", &sign_with_fuzz_key(&golden));
    let g = import_optimized(&reference_onnx("mnist_cnn_28"), false);
    w("kes", "mnist_cnn_28.f32.kes", compile_f32(&g).as_slice());
    // .npy: a float32 vector, float64 and format 2.0 headers.
    w("npy", "vec_f4.npy", &kestrel_compiler::data::write_npy(&[3], &[1.0, -2.5, f32::MAX]));
    let mut f8 = b"\x93NUMPY\x01\x00".to_vec();
    let h = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1), }          \n";
    f8.extend_from_slice(&(h.len() as u16).to_le_bytes());
    f8.extend_from_slice(h.as_bytes());
    f8.extend(1.5f64.to_le_bytes().iter().chain(&(-0.25f64).to_le_bytes()));
    w("npy", "mat_f8.npy", &f8);
    let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
    let h = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n";
    v2.extend_from_slice(&(h.len() as u32).to_le_bytes());
    v2.extend_from_slice(h.as_bytes());
    v2.extend(7f32.to_le_bytes());
    w("npy", "v2.npy", &v2);
    // IDX: 2 images of 3x2, and 4 labels.
    let mut img = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 2];
    img.extend(0..12u8);
    w("idx", "images-idx3-ubyte", &img);
    w("idx", "labels-idx1-ubyte", &[0, 0, 8, 1, 0, 0, 0, 4, 3, 1, 4, 1]);
    // Images, each after the harness' 3 parameter bytes (28x28 gray, 32x32 rgb letterbox).
    let gray = image::GrayImage::from_fn(12, 9, |x, y| image::Luma([(x * 20 + y * 7) as u8]));
    let rgb = image::RgbImage::from_fn(10, 14, |x, y| image::Rgb([(x * 25) as u8, (y * 18) as u8, 128]));
    for (name, img, fmt, params) in [
        ("gray.png", image::DynamicImage::ImageLuma8(gray.clone()), image::ImageFormat::Png, [27u8, 27, 0]),
        ("rgb.png", image::DynamicImage::ImageRgb8(rgb.clone()), image::ImageFormat::Png, [31, 31, 1 | 2 << 3]),
        ("rgb.jpg", image::DynamicImage::ImageRgb8(rgb), image::ImageFormat::Jpeg, [31, 15, 1 | 1 << 3 | 1 << 1]),
        ("gray.jpg", image::DynamicImage::ImageLuma8(gray), image::ImageFormat::Jpeg, [7, 7, 0]),
    ] {
        let mut b = std::io::Cursor::new(params.to_vec());
        b.set_position(3);
        img.write_to(&mut b, fmt).expect("encode seed image");
        w("image", name, &b.into_inner());
    }
}
