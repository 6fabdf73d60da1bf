//! Parity of the reference workloads (DESIGN.md) with ONNX Runtime and tract:
//! f32 `.kes` vs tract and ONNX Runtime float within 1e-4 relative; int8 `.kes` vs ONNX
//! Runtime on our QDQ export within 1 LSB on every output element.
//! ONNX Runtime is loaded from ORT_DYLIB_PATH or where scripts/setup.sh installs it.

use kestrel_engines::{OrtModel, TractModel};
use kestrel_compiler::onnx::{export, pb_util};
use kestrel_runtime::Model;
use kestrel_tests::*;

fn f32_parity(name: &str, n: usize) {
    let onnx = reference_onnx(name);
    let g = import_optimized(&onnx, false);
    let shape = g.values[g.input].onnx_shape();
    let kes = compile_f32(&g);
    let mut ort = OrtModel::new(&onnx, 1).expect("ONNX Runtime (run scripts/setup.sh or set ORT_DYLIB_PATH)");
    let tract = TractModel::new(&onnx, &shape).expect("tract");
    for (i, x) in inputs(&g, n, 7).iter().enumerate() {
        let k = run_kes(&g, &kes, x);
        let o = ort.run(&shape, x).expect("ort run");
        let t = tract.run(&shape, x).expect("tract run");
        let (eo, et) = (rel_err(&k, &o), rel_err(&k, &t));
        assert!(eo <= 1e-4, "{name} input {i}: f32 .kes vs ONNX Runtime relative error {eo}");
        assert!(et <= 1e-4, "{name} input {i}: f32 .kes vs tract relative error {et}");
    }
}

fn int8_parity(name: &str, n_calib: usize, n: usize) {
    let onnx = reference_onnx(name);
    let g = import_optimized(&onnx, true);
    let shape = g.values[g.input].onnx_shape();
    let (kes, q) = compile_int8(&g, &inputs(&g, n_calib, 3));
    let qdq = pb_util::encode(&export::export_qdq(&g, &q));
    let mut ort = OrtModel::new(&qdq, 1).expect("ONNX Runtime (run scripts/setup.sh or set ORT_DYLIB_PATH)");
    let scale = Model::load(kes.as_slice()).expect("load").output().scale;
    let mut worst = 0f32;
    for (i, x) in inputs(&g, n, 11).iter().enumerate() {
        let k = run_kes(&g, &kes, x);
        let o = ort.run(&shape, x).expect("ort run");
        assert_eq!(k.len(), o.len());
        let lsb = k.iter().zip(&o).fold(0f32, |m, (a, b)| m.max((a - b).abs() / scale));
        worst = worst.max(lsb);
        assert!(lsb <= 1.0 + 1e-3, "{name} input {i}: int8 .kes differs from ONNX Runtime QDQ by {lsb} LSB");
    }
    eprintln!("{name}: int8 vs ONNX Runtime QDQ, worst {worst:.3} LSB over {n} inputs");
}

#[test]
fn mnist_cnn_28_f32() {
    f32_parity("mnist_cnn_28", 50);
}

#[test]
fn mnist_cnn_28_int8() {
    int8_parity("mnist_cnn_28", 16, 50);
}

#[test]
fn cifar_cnn_32_f32() {
    f32_parity("cifar_cnn_32", 50);
}

#[test]
fn cifar_cnn_32_int8() {
    int8_parity("cifar_cnn_32", 16, 50);
}

#[test]
fn vgg16_plants_150_f32() {
    f32_parity("vgg16_plants_150", 3);
}

#[test]
fn vgg16_plants_150_int8() {
    int8_parity("vgg16_plants_150", 2, 3);
}

#[test]
fn vgg16_ft_224_f32() {
    f32_parity("vgg16_ft_224", 3);
}

#[test]
fn vgg16_ft_224_int8() {
    int8_parity("vgg16_ft_224", 2, 3);
}
