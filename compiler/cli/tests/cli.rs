//! The `kestrel` CLI end to end: the main job on the shipped model, and every user error
//! as one clear line on stderr with a non-zero exit (never a panic).

use std::path::Path;

mod common;
use common::{fails_with, kestrel, repo, tmp};

fn shipped() -> (String, String) {
    let m = repo().join("models/mnist_cnn_28");
    (m.join("model.onnx").display().to_string(), m.join("calib").display().to_string())
}

fn compile_shipped(dir: &Path) -> String {
    let (onnx, calib) = shipped();
    let kes = dir.join("m.kes").display().to_string();
    let labels = repo().join("models/mnist_cnn_28/labels.txt").display().to_string();
    let out = kestrel(&["compile", &onnx, "--calib", &calib, "--labels", &labels, "-o", &kes]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    kes
}

#[test]
fn main_job_compile_run_inspect_verify() {
    let d = tmp("main");
    let (onnx, calib) = shipped();
    let kes = compile_shipped(&d);
    let sample = repo().join("models/mnist_cnn_28/samples/sample_0.npy").display().to_string();
    let out = kestrel(&["run", &kes, &sample, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let o = v[0]["output"].as_array().expect("output vector");
    assert_eq!(o.len(), 10);
    let sum: f64 = o.iter().map(|x| x.as_f64().unwrap_or(0.0)).sum();
    assert!((sum - 1.0).abs() < 0.05, "softmax output sums to {sum}");
    assert!(v[0]["top"][0]["label"].as_str().unwrap_or("").starts_with("digit_"));
    let out = kestrel(&["inspect", &kes, "--json"]);
    assert!(out.status.success());
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(s["total_params"], 3730);
    assert_eq!(s["total_macs"], 117912);
    let out = kestrel(&["inspect", &onnx]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Total params: 3,730"));
    let out = kestrel(&["verify", &onnx, &kes, "--inputs", &calib, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let qdq = &j["engines"][2];
    assert_eq!(qdq["engine"], "onnxruntime QDQ int8");
    assert!(qdq["max_lsb_diff"].as_f64().unwrap_or(9.0) <= 1.0, "{qdq}");
    // f32 compile and the QDQ export.
    let f = d.join("f.kes").display().to_string();
    assert!(kestrel(&["compile", &onnx, "--precision", "f32", "-o", &f]).status.success());
    let q = d.join("q.onnx").display().to_string();
    let out = kestrel(&["compile", &onnx, "--calib", &calib, "--method", "entropy", "-o", &kes, "--export-onnx", &q]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::metadata(&q).map(|m| m.len() > 0).unwrap_or(false));
    assert!(kestrel(&["compile", &onnx, "--calib", &calib, "--method", "percentile", "-o", &kes]).status.success());
}

#[test]
fn images_run_and_bad_images_fail() {
    let d = tmp("img");
    let kes = compile_shipped(&d);
    let png = d.join("digit.png");
    let img = image::GrayImage::from_fn(40, 30, |x, y| image::Luma([((x * 7 + y * 3) % 256) as u8]));
    img.save(&png).expect("png");
    let out = kestrel(&["run", &kes, png.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = d.join("broken.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nthis is not a png").unwrap();
    fails_with(&kestrel(&["run", &kes, bad.to_str().unwrap()]), &["broken.png", "decode"]);
}

#[test]
fn user_errors_are_one_line() {
    let d = tmp("errors");
    let (onnx, calib) = shipped();
    let kes = compile_shipped(&d);
    let out = d.join("o.kes").display().to_string();
    // missing file
    fails_with(&kestrel(&["compile", "/nonexistent/model.onnx", "--calib", &calib, "-o", &out]), &["/nonexistent/model.onnx"]);
    fails_with(&kestrel(&["run", "/nonexistent/m.kes", "x.npy"]), &["/nonexistent/m.kes"]);
    // empty calibration directory
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    fails_with(&kestrel(&["compile", &onnx, "--calib", empty.to_str().unwrap(), "-o", &out]), &["empty", ".npy"]);
    // int8 without calibration
    fails_with(&kestrel(&["compile", &onnx, "-o", &out]), &["--calib"]);
    // not an ONNX file
    let junk = d.join("junk.onnx");
    std::fs::write(&junk, b"definitely not protobuf \xff\xff\xff").unwrap();
    fails_with(&kestrel(&["compile", junk.to_str().unwrap(), "--precision", "f32", "-o", &out]), &["junk.onnx"]);
    // unsupported op: rewrite the shipped model's softmax as LSTM
    let bytes = std::fs::read(&onnx).unwrap();
    let lstm = d.join("lstm.onnx");
    let pos = bytes.windows(7).position(|w| w == b"Softmax").expect("softmax op in the model");
    let mut b = bytes.clone();
    b[pos..pos + 7].copy_from_slice(b"Hardmax");
    std::fs::write(&lstm, &b).unwrap();
    fails_with(&kestrel(&["compile", lstm.to_str().unwrap(), "--precision", "f32", "-o", &out]), &["Hardmax", "predictions"]);
    // wrong input shape
    let wrong = d.join("wrong.npy");
    std::fs::write(&wrong, kestrel_compiler::data::write_npy(&[1, 3, 32, 32], &vec![0.5; 3 * 32 * 32])).unwrap();
    fails_with(&kestrel(&["run", &kes, wrong.to_str().unwrap()]), &["wrong.npy", "[1, 3, 32, 32]"]);
    // corrupted, truncated and newer-version .kes
    let good = std::fs::read(&kes).unwrap();
    let mut c = good.clone();
    let mid = c.len() / 2;
    c[mid] ^= 0x40;
    let p = d.join("corrupt.kes");
    std::fs::write(&p, &c).unwrap();
    fails_with(&kestrel(&["run", p.to_str().unwrap(), wrong.to_str().unwrap()]), &["corrupt.kes", "checksum"]);
    std::fs::write(&p, &good[..good.len() - 100]).unwrap();
    fails_with(&kestrel(&["inspect", p.to_str().unwrap()]), &["truncated"]);
    let mut n = good.clone();
    n[8] = 9;
    std::fs::write(&p, &n).unwrap();
    fails_with(&kestrel(&["run", p.to_str().unwrap(), wrong.to_str().unwrap()]), &["version 9", "newer"]);
    // labels that don't match the outputs
    let lab = d.join("labels.txt");
    std::fs::write(&lab, "a\nb\n").unwrap();
    fails_with(&kestrel(&["compile", &onnx, "--calib", &calib, "--labels", lab.to_str().unwrap(), "-o", &out]), &["2 labels", "10 outputs"]);
    // unknown zoo model
    fails_with(&kestrel(&["zoo", "resnet9000", "-o", &out]), &["resnet9000"]);
}
