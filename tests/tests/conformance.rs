//! ONNX conformance: the node tests of Debian's libonnx-testdata for the ops Kestrel
//! supports run through import → f32 `.kes` → kestrel-runtime and match the expected
//! outputs. Tests outside the supported envelope (batch > 1, 1-D/3-D tensors, weights as
//! graph inputs) are listed with the reason.

use std::path::Path;

use kestrel_runtime::AlignedBuf;
use kestrel_compiler::lower::{default_preprocess, lower, LowerOptions};
use kestrel_compiler::onnx::import;
use kestrel_runtime::Model;
use kestrel_tests::*;
use prost::Message;

const DIR: &str = "/usr/share/libonnx-testdata/data/node";

/// Test-name prefixes of the supported ops.
const OPS: &[&str] = &[
    "test_conv_", "test_basic_conv", "test_batchnorm", "test_relu", "test_clip", "test_leakyrelu", "test_maxpool",
    "test_averagepool", "test_globalaveragepool", "test_gemm", "test_matmul", "test_flatten", "test_reshape",
    "test_transpose", "test_dropout", "test_softmax", "test_add", "test_concat",
];

/// Op families that have 2-D batch-splittable node tests and must pass.
const MUST_PASS: &[&str] = &[
    "test_conv_", "test_basic_conv", "test_batchnorm", "test_maxpool_2d", "test_averagepool_2d", "test_globalaveragepool",
    "test_gemm", "test_matmul_2d", "test_softmax", "test_flatten",
];

fn tensor(path: &Path) -> Result<(Vec<usize>, Vec<f32>), String> {
    let b = std::fs::read(path).map_err(|e| e.to_string())?;
    let t = kestrel_compiler::onnx::pb::TensorProto::decode(&b[..]).map_err(|e| e.to_string())?;
    if t.data_type != 1 {
        return Err(format!("tensor type {} is not float", t.data_type));
    }
    let v = if !t.raw_data.is_empty() {
        t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    } else {
        t.float_data.clone()
    };
    Ok((t.dims.iter().map(|&d| d as usize).collect(), v))
}

/// The node tests pass weights (W, B, scale, ...) as graph inputs; Kestrel compiles
/// models whose weights are constants. Turn graph inputs 1.. into initializers holding the
/// test's own data, so the op itself is what gets tested.
fn constant_weights(model: &[u8], data: &Path) -> Result<Vec<u8>, String> {
    let mut m = kestrel_compiler::onnx::pb::ModelProto::decode(model).map_err(|e| e.to_string())?;
    let g = m.graph.as_mut().ok_or("no graph")?;
    let inputs: Vec<String> = g.input.iter().map(|i| i.name.clone()).collect();
    for (i, name) in inputs.iter().enumerate().skip(1) {
        let p = data.join(format!("input_{i}.pb"));
        let b = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let mut t = kestrel_compiler::onnx::pb::TensorProto::decode(&b[..]).map_err(|e| e.to_string())?;
        t.name = name.clone();
        g.initializer.push(t);
    }
    g.input.truncate(1);
    // Kestrel runs batch 1: a batch-N test runs as N batch-1 inferences (see `run_case`).
    for vi in g.input.iter_mut().chain(g.output.iter_mut()) {
        if let Some(kestrel_compiler::onnx::pb::type_proto::Value::TensorType(t)) = vi.r#type.as_mut().and_then(|t| t.value.as_mut()) {
            if let Some(d) = t.shape.as_mut().and_then(|s| s.dim.first_mut()) {
                d.value = Some(kestrel_compiler::onnx::pb::tensor_shape_proto::dimension::Value::DimValue(1));
            }
        }
    }
    Ok(m.encode_to_vec())
}

enum Outcome {
    Pass,
    Skip(String),
    Fail(String),
}

fn run_case(dir: &Path) -> Outcome {
    let model = match std::fs::read(dir.join("model.onnx")) {
        Ok(m) => m,
        Err(e) => return Outcome::Skip(format!("unreadable: {e}")),
    };
    let data = dir.join("test_data_set_0");
    let model = match constant_weights(&model, &data) {
        Ok(m) => m,
        Err(e) => return Outcome::Skip(e),
    };
    let mut g = match import::import_onnx(&model) {
        Ok(g) => g,
        Err(e) => return Outcome::Skip(format!("import: {e}")),
    };
    if let Err(e) = kestrel_compiler::passes::optimize(&mut g, false) {
        return Outcome::Skip(format!("passes: {e:#}"));
    }
    let opts = LowerOptions { preprocess: default_preprocess(), labels: vec![] };
    let l = match lower(&g, None, &opts) {
        Ok(l) => l,
        Err(e) => return Outcome::Skip(format!("lower: {e:#}")),
    };
    let (x, y) = match (tensor(&data.join("input_0.pb")), tensor(&data.join("output_0.pb"))) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => return Outcome::Skip(format!("test data: {e}")),
    };
    let buf = AlignedBuf::from_bytes(&l.bytes);
    let m = match Model::load(buf.as_slice()) {
        Ok(m) => m,
        Err(e) => return Outcome::Fail(format!("runtime refused the compiled model: {e}")),
    };
    let batch = x.0.first().copied().unwrap_or(1).max(1);
    let (xn, yn) = (x.1.len() / batch, y.1.len() / batch);
    if y.0.first() != Some(&batch) && batch > 1 {
        return Outcome::Skip("output batch differs from the input batch".into());
    }
    let mut arena = AlignedBuf::zeroed(m.arena_size());
    for b in 0..batch {
        let (xb, yb) = (&x.1[b * xn..(b + 1) * xn], &y.1[b * yn..(b + 1) * yn]);
        if let Err(e) = m.set_input_f32(arena.as_mut_slice(), &to_nhwc(&g, xb)) {
            return Outcome::Fail(format!("input: {e}"));
        }
        if let Err(e) = m.run(arena.as_mut_slice()) {
            return Outcome::Fail(format!("run: {e}"));
        }
        let mut out = vec![0f32; m.output().len()];
        if let Err(e) = m.output_f32(arena.as_slice(), &mut out) {
            return Outcome::Fail(format!("output: {e}"));
        }
        let out = output_to_onnx(&g, &out);
        if out.len() != yb.len() {
            return Outcome::Fail(format!("{} outputs, expected {}", out.len(), yb.len()));
        }
        let err = out.iter().zip(yb).fold(0f32, |m, (a, b)| m.max((a - b).abs() / (1.0 + b.abs())));
        if err > 1e-4 {
            return Outcome::Fail(format!("sample {b}: max error {err}"));
        }
    }
    Outcome::Pass
}

#[test]
fn onnx_node_tests() {
    let root = Path::new(DIR);
    assert!(
        root.is_dir(),
        "{DIR} is missing: install Debian's libonnx-testdata (scripts/setup.sh does it)"
    );
    let mut dirs: Vec<_> = std::fs::read_dir(root).expect("read node tests").flatten().map(|e| e.path()).collect();
    dirs.sort();
    let (mut pass, mut skip, mut fail) = (vec![], vec![], vec![]);
    for d in dirs {
        let name = d.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        if !OPS.iter().any(|p| name.starts_with(p)) || name.contains("_expanded") {
            continue;
        }
        match run_case(&d) {
            Outcome::Pass => pass.push(name),
            Outcome::Skip(r) => skip.push((name, r)),
            Outcome::Fail(r) => fail.push((name, r)),
        }
    }
    eprintln!("passed ({}): {}", pass.len(), pass.join(" "));
    eprintln!("skipped ({}), outside the supported envelope:", skip.len());
    for (n, r) in &skip {
        eprintln!("  {n}: {r}");
    }
    for (n, r) in &fail {
        eprintln!("FAILED {n}: {r}");
    }
    assert!(fail.is_empty(), "{} node tests failed", fail.len());
    // Every supported op that the test data exercises in 2-D must keep passing.
    for family in MUST_PASS {
        assert!(
            pass.iter().any(|n| n.starts_with(family)),
            "no {family}* node test passed; the importer or the runtime regressed"
        );
    }
    assert!(pass.len() >= 40, "only {} node tests passed; the importer or the test data regressed", pass.len());
}
