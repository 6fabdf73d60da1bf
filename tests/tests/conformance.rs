//! ONNX conformance: the node tests of Debian's libonnx-testdata for the ops Kestrel
//! supports run through import → f32 `.kes` → kestrel-runtime and match the expected
//! outputs. Tests outside the supported envelope (batch > 1, 1-D/3-D tensors, weights as
//! graph inputs) are listed with the reason.

use std::path::Path;

use kestrel_compiler::aligned::AlignedBuf;
use kestrel_compiler::lower::{default_preprocess, lower, LowerOptions};
use kestrel_compiler::onnx::import;
use kestrel_runtime::Model;
use kestrel_tests::*;
use prost::Message;

const DIR: &str = "/usr/share/libonnx-testdata/data/node";

/// Test-name prefixes of the supported ops.
const OPS: &[&str] = &[
    "test_conv", "test_basic_conv", "test_batchnorm", "test_relu", "test_clip", "test_leakyrelu", "test_maxpool",
    "test_averagepool", "test_globalaveragepool", "test_gemm", "test_matmul", "test_flatten", "test_reshape",
    "test_transpose", "test_dropout", "test_softmax", "test_add", "test_concat",
];

fn tensor(path: &Path) -> Result<(Vec<usize>, Vec<f32>), String> {
    let b = std::fs::read(path).map_err(|e| e.to_string())?;
    let t = tract_onnx::pb::TensorProto::decode(&b[..]).map_err(|e| e.to_string())?;
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
    let data = dir.join("test_data_set_0");
    let (x, y) = match (tensor(&data.join("input_0.pb")), tensor(&data.join("output_0.pb"))) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => return Outcome::Skip(format!("test data: {e}")),
    };
    if data.join("input_1.pb").exists() {
        return Outcome::Skip("more than one graph input".into());
    }
    let buf = AlignedBuf::from_bytes(&l.bytes);
    let m = match Model::load(buf.as_slice()) {
        Ok(m) => m,
        Err(e) => return Outcome::Fail(format!("runtime refused the compiled model: {e}")),
    };
    let mut arena = AlignedBuf::zeroed(m.arena_size());
    if let Err(e) = m.set_input_f32(arena.as_mut_slice(), &to_nhwc(&g, &x.1)) {
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
    if out.len() != y.1.len() {
        return Outcome::Fail(format!("{} outputs, expected {}", out.len(), y.1.len()));
    }
    let err = out.iter().zip(&y.1).fold(0f32, |m, (a, b)| m.max((a - b).abs() / (1.0 + b.abs())));
    if err > 1e-4 {
        return Outcome::Fail(format!("max error {err}"));
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
    assert!(pass.len() >= 20, "only {} node tests ran; the importer or the test data regressed", pass.len());
}
