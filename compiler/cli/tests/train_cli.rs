//! `kestrel train`, `finetune` and `eval` end to end on small generated data: train →
//! compile → run/eval with int8 agreeing with float, kill -9 and resume, and every bad
//! input as one clear line on stderr with exit code 1.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kestrel_train::synth;

mod common;
use common::{fails_with, kestrel, ok, s, tmp};


#[test]
fn train_compile_run_eval_int8_agrees_with_float() {
    let d = tmp("e2e");
    let data = d.join("data");
    synth::write_folder(&data, 4, &[("train", 30), ("valid", 6), ("test", 15)], 20, false, 11).expect("data");
    let run = d.join("run");
    let out = ok(&kestrel(&[
        "train", "--data", &s(&data), "--arch", "mnist_cnn", "--head", "flatten,dense:32,relu,dropout:0.2,dense:N",
        "--input-size", "20", "--epochs", "8", "--batch-size", "16", "--lr", "3e-3", "--optimizer", "adam",
        "--augment", "shift=0.05", "--seed", "3", "--out", &s(&run),
    ]));
    assert!(out.contains("device: cpu"), "{out}");
    assert!(out.contains("Epoch 8/8") && out.contains("val_accuracy"), "{out}");
    for f in ["model.onnx", "labels.txt", "history.json", "curves.png", "confusion_matrix.png", "metrics.json", "checkpoint.safetensors", "config.json"] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let hist: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("history.json")).expect("h")).expect("json");
    assert_eq!(hist.as_array().map(|a| a.len()), Some(8));
    // Calibrate on training images, compile, run, evaluate side by side.
    let kes = d.join("m.kes");
    ok(&kestrel(&["compile", &s(&run.join("model.onnx")), "--calib", &s(&data.join("train/bar_h")), "--labels", &s(&run.join("labels.txt")), "-o", &s(&kes)]));
    let img = data.join("test/square/0001.png");
    let r = ok(&kestrel(&["run", &s(&kes), &s(&img), "-k", "1"]));
    assert!(r.contains("square"), "{r}");
    let ev = d.join("eval");
    let e = ok(&kestrel(&["eval", &s(&run.join("model.onnx")), &s(&kes), "--data", &s(&data), "--out", &s(&ev)]));
    assert!(e.contains("test split"), "{e}");
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(ev.join("eval.json")).expect("eval.json")).expect("json");
    let agree = j["top1_agreement"].as_f64().expect("agreement");
    assert!(agree >= 0.95, "int8 top-1 = float top-1 on {agree} of held-out images");
    let float_acc = j["models"][0]["accuracy"].as_f64().expect("acc");
    assert!(float_acc >= 0.6, "float accuracy {float_acc} (chance: 0.25)");
    assert!(ev.join("confusion_matrix_float.png").is_file() && ev.join("confusion_matrix_int8.png").is_file());
    // Only the .onnx: int8 compiled on the fly.
    let e = ok(&kestrel(&["eval", &s(&run.join("model.onnx")), "--data", &s(&data), "--out", &s(&ev)]));
    assert!(e.contains("compiled on the fly"), "{e}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn kill_9_then_resume_ends_with_the_uninterrupted_weights() {
    let d = tmp("kill");
    let data = d.join("data");
    synth::write_folder(&data, 3, &[("train", 40), ("valid", 4)], 16, false, 12).expect("data");
    let args = |out: &Path| -> Vec<String> {
        ["train", "--data", &s(&data), "--arch", "fashion_cnn", "--head", "flatten,dense:16,relu,dropout:0.5,dense:N", "--input-size", "16",
         "--epochs", "4", "--batch-size", "8", "--augment", "rotation=10,hflip", "--lr-decay", "0.9", "--seed", "5", "--out", &s(out)]
            .iter().map(|a| a.to_string()).collect()
    };
    let full = d.join("full");
    ok(&Command::new(env!("CARGO_BIN_EXE_kestrel")).args(args(&full)).output().expect("run"));
    let part = d.join("part");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kestrel")).args(args(&part)).stdout(std::process::Stdio::null()).spawn().expect("spawn");
    let t0 = Instant::now();
    while !part.join("checkpoint.safetensors").exists() && t0.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    let out = ok(&kestrel(&["train", "--resume", &s(&part)]));
    assert!(out.contains("Epoch 4/4"), "{out}");
    assert_eq!(std::fs::read(part.join("model.onnx")).expect("part"), std::fs::read(full.join("model.onnx")).expect("full"));
    let leftovers: Vec<_> = std::fs::read_dir(&part).expect("dir").flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".partial")).collect();
    assert!(leftovers.is_empty(), "half-written files left: {leftovers:?}");
    std::fs::remove_dir_all(&d).ok();
}

/// `finetune` takes a kestrel run's own checkpoint and `model.onnx` for an architecture
/// with BatchNorm (grayscale, so the channels come from the weights), and the frozen base
/// of stage 1 keeps exactly the loaded weights and running statistics.
#[test]
fn finetune_reads_our_checkpoint_and_model_onnx() {
    let d = tmp("ft-own");
    let data = d.join("data");
    synth::write_folder(&data, 3, &[("train", 12), ("valid", 3)], 16, false, 21).expect("data");
    let run = d.join("run");
    let head = "flatten,dense:16,relu,dense:N";
    ok(&kestrel(&["train", "--data", &s(&data), "--arch", "fashion_cnn", "--head", head, "--input-size", "16", "--epochs", "1", "--batch-size", "8", "--out", &s(&run)]));
    let base = |f: &Path| -> Vec<kestrel_train::weights::SrcLayer> {
        let mut l = kestrel_train::weights::read_layers(f).expect("layers");
        l.retain(|l| l.kind != kestrel_train::weights::Kind::Dense);
        l
    };
    let trained = base(&run.join("model.onnx"));
    assert_eq!(trained.iter().filter(|l| matches!(l.kind, kestrel_train::weights::Kind::BatchNorm { .. })).count(), 2, "{trained:?}");
    for (i, w) in ["checkpoint.safetensors", "model.onnx"].iter().enumerate() {
        let ft = d.join(format!("ft{i}"));
        let out = ok(&kestrel(&[
            "finetune", "--arch", "fashion_cnn", "--head", head, "--input-size", "16", "--weights", &s(&run.join(w)), "--data", &s(&data),
            "--stage1-epochs", "1", "--batch-size", "8", "--out", &s(&ft),
        ]));
        assert!(out.contains("weights: 6 layers loaded") && out.contains("matched by name"), "{w}: {out}");
        let tuned = base(&ft.join("model.onnx"));
        assert_eq!(tuned.len(), trained.len());
        for (a, b) in trained.iter().zip(&tuned) {
            assert_eq!((&a.kind, &a.weight, &a.bias), (&b.kind, &b.weight, &b.bias), "{w}: base layer {} changed in the frozen stage", a.name);
        }
    }
    // Explicit channels that the weights don't have: one clear line.
    fails_with(
        &kestrel(&["finetune", "--arch", "fashion_cnn", "--head", head, "--input-size", "16", "--channels", "3", "--weights", &s(&run.join("model.onnx")), "--data", &s(&data), "--out", &s(&d.join("ft3"))]),
        &["don't fit", "wrong shape"],
    );
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn bad_input_is_one_clear_line() {
    let d = tmp("bad");
    let data = d.join("data");
    synth::write_folder(&data, 2, &[("train", 3)], 12, false, 13).expect("data");
    let run = |extra: &[&str]| {
        let mut a = vec!["train", "--arch", "mnist_cnn", "--epochs", "1", "--input-size", "12"];
        a.extend_from_slice(extra);
        kestrel(&a)
    };
    let out = s(&d.join("out"));
    // No classes.
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).expect("mk");
    fails_with(&run(&["--data", &s(&empty), "--out", &out]), &["no classes found"]);
    // One class only.
    let one = d.join("one");
    synth::write_folder(&one, 1, &[("train", 3)], 12, false, 1).expect("data");
    fails_with(&run(&["--data", &s(&one), "--out", &out]), &["only one class"]);
    // Mixed color modes.
    let mixed = d.join("mixed");
    synth::write_folder(&mixed, 2, &[("train", 2)], 12, false, 1).expect("data");
    image::RgbaImage::new(12, 12).save(mixed.join("train/bar_h/rgba.png")).expect("rgba");
    image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::new(12, 12).save(mixed.join("train/bar_v/gray16.png")).expect("16-bit");
    fails_with(&run(&["--data", &s(&mixed), "--out", &out]), &["mixed color modes", "Rgba8", "L16", "--convert-modes"]);
    // Unknown architecture, bad head, bad augmentation, bad optimizer.
    fails_with(&kestrel(&["train", "--data", &s(&data), "--arch", "resnet", "--out", &out]), &["unknown architecture 'resnet'"]);
    fails_with(&run(&["--data", &s(&data), "--head", "flatten,dense:7", "--out", &out]), &["7 outputs", "2 classes"]);
    fails_with(&run(&["--data", &s(&data), "--augment", "spin=3", "--out", &out]), &["unknown augmentation 'spin'"]);
    fails_with(&run(&["--data", &s(&data), "--optimizer", "adagrad", "--out", &out]), &["unknown optimizer"]);
    // An out-of-memory batch size.
    fails_with(&run(&["--data", &s(&data), "--batch-size", "1000000000", "--out", &out]), &["lower --batch-size"]);
    // A run directory that exists.
    std::fs::create_dir_all(d.join("out")).expect("mk");
    std::fs::write(d.join("out/something"), b"x").expect("w");
    fails_with(&run(&["--data", &s(&data), "--out", &out]), &["exists", "--resume"]);
    fails_with(&kestrel(&["train", "--resume", &s(&d.join("nowhere"))]), &["not a run directory"]);
    // Missing data.
    fails_with(&run(&["--data", &s(&d.join("nope")), "--out", &out]), &["does not exist"]);
    // Weights that don't fit the architecture.
    let w = d.join("w.onnx");
    ok(&kestrel(&["zoo", "mnist_cnn_28", "-o", &s(&w)]));
    let rgb = d.join("rgb");
    synth::write_folder(&rgb, 2, &[("train", 2)], 32, true, 1).expect("data");
    fails_with(
        &kestrel(&["finetune", "--arch", "vgg16", "--input-size", "32", "--weights", &s(&w), "--data", &s(&rgb), "--out", &s(&d.join("ft"))]),
        &["don't fit", "missing: block2_conv1.weight", "wrong shape: conv2d_1"],
    );
    fails_with(
        &kestrel(&["finetune", "--arch", "vgg16", "--input-size", "32", "--weights", &s(&d.join("none.onnx")), "--data", &s(&rgb), "--out", &s(&d.join("ft"))]),
        &["does not exist"],
    );
    // eval: wrong class count, wrong file kind.
    fails_with(&kestrel(&["eval", &s(&w), "--data", &s(&data), "--out", &s(&d)]), &["10 outputs", "2 classes"]);
    fails_with(&kestrel(&["eval", &s(&d.join("x.txt")), "--data", &s(&data)]), &["expected a .onnx or .kes"]);
    assert!(!d.join("out/checkpoint.safetensors").exists());
    std::fs::remove_dir_all(&d).ok();
}

/// The shipped Fashion-MNIST model: the README's quick start (compile with the shipped
/// calibration images, run on the shipped samples) gets every sample right, and on the
/// first 1,000 test images int8 stays with float.
#[test]
fn shipped_fashion_model_compiles_runs_and_evaluates() {
    let m = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fashion-mnist");
    let d = tmp("shipped");
    let kes = d.join("fashion.kes");
    ok(&kestrel(&["compile", &s(&m.join("model.onnx")), "--calib", &s(&m.join("calib")), "--labels", &s(&m.join("labels.txt")), "-o", &s(&kes)]));
    let mut samples: Vec<PathBuf> = std::fs::read_dir(m.join("samples")).expect("samples").flatten().map(|e| e.path()).collect();
    samples.sort();
    assert_eq!(samples.len(), 10);
    let mut args = vec!["run".to_string(), s(&kes), "-k".into(), "1".into(), "--json".into()];
    args.extend(samples.iter().map(|p| s(p)));
    let out = Command::new(env!("CARGO_BIN_EXE_kestrel")).args(&args).output().expect("run");
    let v: serde_json::Value = serde_json::from_str(&ok(&out)).expect("json");
    for (r, p) in v.as_array().expect("array").iter().zip(&samples) {
        let want = p.file_stem().and_then(|f| f.to_str()).and_then(|f| f.split_once('_')).map(|(_, c)| c.replace('_', " ").replace("T-shirt-top", "T-shirt/top")).expect("name");
        assert_eq!(r["top"][0]["label"].as_str(), Some(want.as_str()), "{}", p.display());
    }
    let data = Path::new("/usr/share/datasets/fashion-mnist");
    assert!(data.is_dir(), "scripts/setup.sh installs dataset-fashion-mnist");
    let ev = d.join("eval");
    ok(&kestrel(&["eval", &s(&m.join("model.onnx")), &s(&kes), "--data", &s(data), "--limit", "1000", "--out", &s(&ev)]));
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(ev.join("eval.json")).expect("eval.json")).expect("json");
    let (f, q) = (j["models"][0]["accuracy"].as_f64().expect("float"), j["models"][1]["accuracy"].as_f64().expect("int8"));
    assert!(f >= 0.9 && (f - q).abs() <= 0.01, "float {f}, int8 {q}");
    std::fs::remove_dir_all(&d).ok();
}
