//! Training tests on small generated data (seconds each).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use super::config::{FinetuneConfig, RunConfig};
use super::dataset::{self, OpenOptions};
use super::loader::{make_batch, Shape};
use super::trainer::{Quiet, Run};
use super::{augment::Augment, finetune, synth, weights};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kestrel-train-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

fn config(data: &Path, arch: &str, head: &str, input: [usize; 3], epochs: usize) -> RunConfig {
    RunConfig {
        data: data.to_path_buf(),
        arch: arch.into(),
        head: head.into(),
        input,
        epochs,
        batch_size: 8,
        lr: 3e-3,
        optimizer: "adam".into(),
        momentum: 0.9,
        lr_decay: 1.0,
        l2: 0.0,
        augment: String::new(),
        rescale: 1.0 / 255.0,
        seed: 7,
        sample: None,
        validation_split: 0.0,
        early_stopping: None,
        convert_modes: false,
        loss: "auto".into(),
        finetune: None,
    }
}

fn state(run: &Run) -> BTreeMap<String, Vec<f32>> {
    run.net.state().expect("state").into_iter().map(|(k, v)| (k, v.flatten_all().expect("f").to_vec1::<f32>().expect("v"))).collect()
}

#[test]
fn loss_goes_down_and_a_tiny_set_is_memorised() {
    let d = tmp("memorise");
    synth::write_folder(&d.join("data"), 4, &[("train", 6)], 16, false, 1).expect("data");
    let cfg = config(&d.join("data"), "mnist_cnn", "flatten,dense:32,relu,dense:N", [1, 16, 16], 40);
    let mut run = Run::new(cfg, &d.join("run"), &Device::Cpu).expect("run");
    let p = run.train(&mut Quiet).expect("trains");
    let first = &p.history[0];
    let last = p.history.last().expect("epochs");
    assert!(last.loss < first.loss * 0.2, "loss {} → {}", first.loss, last.loss);
    assert_eq!(last.accuracy, 1.0, "memorised: {:?}", last);
    for f in ["model.onnx", "labels.txt", "history.json", "curves.png", "checkpoint.safetensors", "metrics.json"] {
        assert!(d.join("run").join(f).is_file(), "{f}");
    }
    let labels = std::fs::read_to_string(d.join("run/labels.txt")).expect("labels");
    assert_eq!(labels.lines().collect::<Vec<_>>(), ["bar_h", "bar_v", "diagonal", "square"]);
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn two_classes_train_a_sigmoid_head_with_binary_cross_entropy() {
    let d = tmp("binary");
    synth::write_folder(&d.join("data"), 2, &[("train", 8), ("valid", 3)], 16, false, 5).expect("data");
    let cfg = config(&d.join("data"), "mnist_cnn", "flatten,dense:16,relu,dense:N", [1, 16, 16], 25);
    let mut run = Run::new(cfg.clone(), &d.join("run"), &Device::Cpu).expect("run");
    let head = run.net.binary.clone().expect("two classes: a binary head");
    assert_eq!(run.net.var(&format!("{head}.weight")).expect("w").dims()[0], 1, "one sigmoid output");
    // The loss is binary cross-entropy on the logit z: -[y log σ(z) + (1-y) log(1-σ(z))].
    let x = Tensor::rand(0f32, 1.0, (4, 1, 16, 16), &Device::Cpu).expect("x");
    let mut rng = rand::SeedableRng::seed_from_u64(1);
    let logits = run.net.forward(&x, false, &mut rng).expect("forward");
    let z: Vec<f32> = logits.narrow(1, 1, 1).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    assert!(logits.narrow(1, 0, 1).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().all(|&v| v == 0.0));
    let y = [0u32, 1, 1, 0];
    let (loss, _) = super::net::loss_and_correct(&logits, &Tensor::new(&y, &Device::Cpu).unwrap()).expect("loss");
    let sig = |v: f32| 1.0 / (1.0 + (-v).exp());
    let bce: f32 = z.iter().zip(y).map(|(&z, y)| if y == 1 { -sig(z).ln() } else { -(1.0 - sig(z)).ln() }).sum::<f32>() / 4.0;
    assert!((loss.to_scalar::<f32>().unwrap() - bce).abs() < 1e-5, "{} vs {bce}", loss.to_scalar::<f32>().unwrap());
    let p = run.train(&mut Quiet).expect("trains");
    assert!(p.history.last().unwrap().accuracy >= 0.9, "{:?}", p.history.last());
    // The export: a two-output dense + softmax giving [1 - σ(z), σ(z)], for kestrel compile.
    let g = kestrel_compiler::onnx::import::import_onnx(&std::fs::read(d.join("run/model.onnx")).unwrap()).expect("model.onnx");
    assert_eq!(g.values[g.output].onnx_shape(), [1, 2]);
    let logits = run.net.forward(&x, false, &mut rng).expect("forward");
    let z: Vec<f32> = logits.narrow(1, 1, 1).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let onnx = std::fs::read(d.join("run/model.onnx")).unwrap();
    let tract = kestrel_engines::TractModel::new(&onnx, &[1, 1, 16, 16]).expect("tract");
    for (i, &zi) in z.iter().enumerate() {
        let xi: Vec<f32> = x.get(i).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let out = tract.run(&[1, 1, 16, 16], &xi).expect("run");
        assert!((out[1] - sig(zi)).abs() < 1e-5 && (out[0] - (1.0 - sig(zi))).abs() < 1e-5, "{out:?} vs σ({zi})");
    }
    // categorical keeps the softmax over two outputs; binary needs two classes.
    let mut c = cfg.clone();
    c.loss = "categorical".into();
    assert!(Run::new(c, &d.join("c"), &Device::Cpu).expect("run").net.binary.is_none());
    synth::write_folder(&d.join("three"), 3, &[("train", 2)], 16, false, 5).expect("data");
    let mut c = config(&d.join("three"), "mnist_cnn", "flatten,dense:N", [1, 16, 16], 1);
    c.loss = "binary".into();
    let e = Run::new(c, &d.join("b"), &Device::Cpu).err().expect("binary with 3 classes fails");
    assert!(format!("{e:#}").contains("exactly two classes"), "{e:#}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn resume_equals_uninterrupted() {
    let d = tmp("resume");
    synth::write_folder(&d.join("data"), 3, &[("train", 5), ("valid", 2)], 16, false, 2).expect("data");
    let mut cfg = config(&d.join("data"), "fashion_cnn", "flatten,dense:16,relu,dropout:0.3,dense:N", [1, 16, 16], 3);
    cfg.augment = "rotation=10,shift=0.1,zoom=0.1".into();
    cfg.lr_decay = 0.8;
    let mut full = Run::new(cfg.clone(), &d.join("full"), &Device::Cpu).expect("run");
    full.train(&mut Quiet).expect("trains");
    // "Interrupted" after 2 epochs, then resumed to 3 in the same directory by a new process' worth of state.
    let part = d.join("part");
    let mut first = cfg.clone();
    first.epochs = 2;
    Run::new(first, &part, &Device::Cpu).expect("run").train(&mut Quiet).expect("trains");
    let mut resumed = Run::new(cfg, &part, &Device::Cpu).expect("run");
    let p = resumed.train(&mut Quiet).expect("resumes");
    assert_eq!(p.epoch, 3);
    assert_eq!(state(&resumed), state(&full), "resumed weights differ from the uninterrupted run");
    assert_eq!(std::fs::read(part.join("model.onnx")).expect("a"), std::fs::read(d.join("full/model.onnx")).expect("b"));
    std::fs::remove_dir_all(&d).ok();
}

/// A torchvision-style safetensors file of `g`'s conv layers (`features.{2i}`) plus a
/// classifier top, optionally with one tensor dropped and one reshaped.
fn torchvision_file(run: &Run, path: &Path, drop_last: bool, bad_first: bool) {
    let mut m: BTreeMap<String, Tensor> = BTreeMap::new();
    let convs: Vec<String> = run.net.graph.nodes.iter().filter(|n| matches!(n.op, kestrel_compiler::ir::NodeOp::Conv { .. })).map(|n| n.name.clone()).collect();
    for (i, l) in convs.iter().enumerate() {
        if drop_last && i + 1 == convs.len() {
            continue;
        }
        let w = run.net.var(&format!("{l}.weight")).expect("w").as_tensor().clone();
        let w = if bad_first && i == 0 { Tensor::zeros((w.dim(0).expect("d") + 1, w.dim(1).expect("d"), 3, 3), w.dtype(), &Device::Cpu).expect("z") } else { w };
        m.insert(format!("features.{}.weight", 2 * i), w);
        m.insert(format!("features.{}.bias", 2 * i), run.net.var(&format!("{l}.bias")).expect("b").as_tensor().clone());
    }
    m.insert("classifier.0.weight".into(), Tensor::zeros((4, 8), candle_core::DType::F32, &Device::Cpu).expect("z"));
    candle_core::safetensors::save(&m.into_iter().collect(), path).expect("save");
}

#[test]
fn finetune_keeps_frozen_weights_bit_identical() {
    let d = tmp("frozen");
    synth::write_folder(&d.join("data"), 3, &[("train", 4), ("valid", 2)], 16, true, 3).expect("data");
    // Pretrained weights: another seed of the same base, saved with torchvision names.
    let donor = Run::new(config(&d.join("data"), "cifar_cnn", "flatten,dense:N", [3, 16, 16], 1), &d.join("x"), &Device::Cpu).expect("donor");
    let wfile = d.join("pre.safetensors");
    torchvision_file(&donor, &wfile, false, false);
    let mut cfg = config(&d.join("data"), "cifar_cnn", "flatten,dense:8,relu,dropout:0.5,dense:N", [3, 16, 16], 2);
    cfg.seed = 99;
    cfg.finetune = Some(FinetuneConfig { weights: wfile, stage2_epochs: 2, unfreeze: vec!["conv2d_4".into()], stage2_lr: 1e-2, extract_features: false });
    let mut run = Run::new(cfg.clone(), &d.join("run"), &Device::Cpu).expect("run");
    let rep = finetune::setup(&mut run).expect("setup");
    assert_eq!(rep.matched_by, "order");
    assert_eq!(rep.ignored, ["classifier.0.weight"]);
    let before = state(&run);
    assert_eq!(before["conv2d_1.weight"], state(&donor)["conv2d_1.weight"]);
    run.train(&mut Quiet).expect("trains");
    let after = state(&run);
    for l in ["conv2d_1", "conv2d_2", "conv2d_3"] {
        for p in ["weight", "bias"] {
            let k = format!("{l}.{p}");
            assert!(before[&k].iter().zip(&after[&k]).all(|(a, b)| a.to_bits() == b.to_bits()), "{k} changed");
        }
    }
    assert_ne!(before["conv2d_4.weight"], after["conv2d_4.weight"], "the unfrozen block trains in stage 2");
    assert_ne!(before["dense_2.weight"], after["dense_2.weight"], "the head trains");
    // The fast path: stage 1 on extracted features.
    let mut fcfg = cfg;
    if let Some(f) = fcfg.finetune.as_mut() {
        f.extract_features = true;
        f.stage2_epochs = 0;
    }
    let mut run = Run::new(fcfg, &d.join("run2"), &Device::Cpu).expect("run");
    finetune::setup(&mut run).expect("setup");
    let before = state(&run);
    let p = run.train(&mut Quiet).expect("trains on features");
    assert_eq!(p.epoch, 2);
    let after = state(&run);
    assert_eq!(before["conv2d_4.weight"], after["conv2d_4.weight"]);
    assert_ne!(before["dense_1.weight"], after["dense_1.weight"]);
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn weights_from_onnx_and_safetensors_and_mismatches() {
    let d = tmp("weights");
    synth::write_folder(&d.join("data"), 2, &[("train", 2)], 16, true, 4).expect("data");
    let cfg = config(&d.join("data"), "cifar_cnn", "flatten,dense:N", [3, 16, 16], 1);
    let donor = Run::new(cfg.clone(), &d.join("a"), &Device::Cpu).expect("donor");
    let mut other = cfg.clone();
    other.seed = 1234;
    let fresh = || Run::new(other.clone(), &d.join("b"), &Device::Cpu).expect("run");
    let base: Vec<String> = ["conv2d_1", "conv2d_2", "conv2d_3", "conv2d_4"].map(String::from).to_vec();
    // ONNX: the float export of the donor (names match ours, head included).
    let onnx = d.join("donor.onnx");
    std::fs::write(&onnx, kestrel_compiler::onnx::pb_util::encode(&kestrel_compiler::onnx::export::export_float(&donor.net.to_graph().expect("g")))).expect("write");
    let run = fresh();
    let rep = weights::load_into(&run.net, &weights::read_layers(&onnx).expect("read"), &base, "donor.onnx").expect("loads");
    assert_eq!(rep.matched_by, "name");
    assert_eq!(rep.loaded.len(), 5, "4 convs + the dense head");
    assert_eq!(state(&run), state(&donor));
    // safetensors, torchvision names (by order).
    let st = d.join("tv.safetensors");
    torchvision_file(&donor, &st, false, false);
    let run = fresh();
    weights::load_into(&run.net, &weights::read_layers(&st).expect("read"), &base, "tv").expect("loads");
    assert_eq!(state(&run)["conv2d_3.weight"], state(&donor)["conv2d_3.weight"]);
    // safetensors, Keras names and HWIO kernels.
    let mut m: BTreeMap<String, Tensor> = BTreeMap::new();
    for l in &base {
        let w = donor.net.var(&format!("{l}.weight")).expect("w").as_tensor().permute((2, 3, 1, 0)).expect("p").contiguous().expect("c");
        m.insert(format!("{l}/kernel:0"), w);
        m.insert(format!("{l}/bias:0"), donor.net.var(&format!("{l}.bias")).expect("b").as_tensor().clone());
    }
    let keras = d.join("keras.safetensors");
    candle_core::safetensors::save(&m.into_iter().collect(), &keras).expect("save");
    let run = fresh();
    let rep = weights::load_into(&run.net, &weights::read_layers(&keras).expect("read"), &base, "keras").expect("loads");
    assert_eq!(rep.matched_by, "name");
    assert_eq!(state(&run)["conv2d_2.weight"], state(&donor)["conv2d_2.weight"]);
    // A classifier top under torchvision names loads in order when the shapes fit.
    let mut m: BTreeMap<String, Tensor> = candle_core::safetensors::load(&st, &Device::Cpu).expect("load").into_iter().filter(|(k, _)| k.starts_with("features")).collect();
    // (Two classes: the donor's sigmoid head, as the two-output dense it exports to.)
    let dg = donor.net.to_graph().expect("graph");
    let Some(kestrel_compiler::ir::NodeOp::Dense { weight, bias }) = dg.nodes.iter().find(|n| n.name == "dense_1").map(|n| n.op.clone()) else { panic!("dense_1") };
    let k = weight.len() / 2;
    m.insert("classifier.0.weight".into(), Tensor::from_vec(weight, (2, k), &Device::Cpu).expect("w"));
    m.insert("classifier.0.bias".into(), Tensor::from_vec(bias, 2, &Device::Cpu).expect("b"));
    let top = d.join("top.safetensors");
    candle_core::safetensors::save(&m.into_iter().collect(), &top).expect("save");
    let run = fresh();
    let rep = weights::load_into(&run.net, &weights::read_layers(&top).expect("read"), &base, "top").expect("loads");
    assert!(rep.ignored.is_empty(), "{:?}", rep.ignored);
    assert_eq!(state(&run), state(&donor));
    // Mismatches: one missing conv, one wrongly shaped.
    let bad = d.join("bad.safetensors");
    torchvision_file(&donor, &bad, true, true);
    let err = weights::load_into(&fresh().net, &weights::read_layers(&bad).expect("read"), &base, "bad").expect_err("mismatch").to_string();
    assert!(err.contains("missing: conv2d_4.weight") && err.contains("wrong shape: features.0.weight"), "{err}");
    // Too many convs: a VGG16 file for this small base.
    let vgg = Run::new(config(&d.join("data"), "vgg16", "gap,dense:N", [3, 32, 32], 1), &d.join("c"), &Device::Cpu).expect("vgg");
    let vf = d.join("vgg.safetensors");
    torchvision_file(&vgg, &vf, false, false);
    let err = weights::load_into(&fresh().net, &weights::read_layers(&vf).expect("read"), &base, "vgg").expect_err("mismatch").to_string();
    assert!(err.contains("unexpected: features.8.weight"), "{err}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn loader_skips_corrupt_images_and_keeps_empty_classes() {
    let d = tmp("loader");
    let data = d.join("data");
    synth::write_folder(&data, 3, &[("train", 3), ("valid", 1)], 12, false, 5).expect("data");
    std::fs::create_dir_all(data.join("train/zz_empty")).expect("empty class");
    std::fs::write(data.join("train/bar_h/garbage.png"), b"not a png at all").expect("write");
    // A valid header with the pixel data cut off: found only when decoded.
    let good = std::fs::read(data.join("train/bar_v/0000.png")).expect("read");
    std::fs::write(data.join("train/bar_v/truncated.png"), &good[..good.len() / 2]).expect("write");
    let ds = dataset::open(&data, &OpenOptions::default()).expect("opens");
    assert_eq!(ds.classes, ["bar_h", "bar_v", "square", "zz_empty"]);
    assert_eq!(ds.train.class_counts(4), [3, 4, 3, 0]);
    assert_eq!(ds.corrupt_list().len(), 1, "the garbage file is found by its header");
    let s = Shape { c: 1, h: 12, w: 12, rescale: 1.0 / 255.0 };
    let all: Vec<usize> = (0..ds.train.len()).collect();
    let b = make_batch(&ds, &ds.train, &all, s, None);
    assert_eq!(b.n, 9, "the truncated image is skipped");
    let skipped: Vec<String> = ds.corrupt_list().iter().map(|(p, _)| p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()).collect();
    assert_eq!(skipped, ["garbage.png", "truncated.png"]);
    // Augmentation keeps labels and is reproducible.
    let aug = Augment::parse("rotation=30,shift=0.2,zoom=0.2,shear=0.2,hflip").expect("aug");
    let a1 = make_batch(&ds, &ds.train, &all, s, Some((&aug, 3, 1)));
    let a2 = make_batch(&ds, &ds.train, &all, s, Some((&aug, 3, 1)));
    assert_eq!(a1, a2);
    assert_eq!(a1.y, b.y);
    assert_ne!(a1.x, b.x);
    assert_ne!(a1.x, make_batch(&ds, &ds.train, &all, s, Some((&aug, 3, 2))).x, "another epoch, other draws");
    // Two classes with images remain: trainable, with a warning for the empty one (CLI).
    dataset::check_trainable(&ds).expect("trainable");
    std::fs::remove_dir_all(&d).ok();
}
