//! `kestrel eval` matches class folders to the model's labels by name, whatever order the
//! folders sort in, and evaluates `test/`-only, `valid/`-only and flat class folders. The
//! shipped Fashion-MNIST model gets each of its 10 shipped samples right, so every layout
//! must score 100%; matching by sorted folder order would score about 10%.

use std::path::{Path, PathBuf};

mod common;
use common::{kestrel, ok, repo, s, tmp};

/// The shipped samples as class folders under `root/split` (`split` empty: flat), each
/// folder named by `name(class)`.
fn dataset(root: &Path, split: &str, name: &dyn Fn(&str, usize) -> String) {
    let labels: Vec<String> = std::fs::read_to_string(repo().join("models/fashion-mnist/labels.txt")).expect("labels").lines().map(String::from).collect();
    let mut n = 0;
    for e in std::fs::read_dir(repo().join("models/fashion-mnist/samples")).expect("samples").flatten() {
        let p: PathBuf = e.path();
        let stem = p.file_stem().and_then(|f| f.to_str()).expect("name").to_string();
        let class = stem.split_once('_').map(|(_, c)| c.replace('_', " ").replace("T-shirt-top", "T-shirt/top")).expect("class");
        let idx = labels.iter().position(|l| *l == class).expect("a label");
        let dir = root.join(split).join(name(&class, idx));
        std::fs::create_dir_all(&dir).expect("class dir");
        std::fs::copy(&p, dir.join(p.file_name().expect("file"))).expect("copy");
        n += 1;
    }
    assert_eq!(n, 10);
}

fn accuracy(model: &Path, data: &Path, out: &Path) -> (f64, String) {
    let stdout = ok(&kestrel(&["eval", &s(model), "--data", &s(data), "--out", &s(out), "--json"]));
    let j: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    (j["models"][0]["accuracy"].as_f64().expect("accuracy"), j["class_mapping"].as_str().unwrap_or("").to_string())
}

#[test]
fn class_folders_are_matched_by_name() {
    let d = tmp("classes");
    let kes = repo().join("models/fashion-mnist/model.kes");
    let by_name = |c: &str, _: usize| c.replace('/', "_");
    for (layout, split) in [("test-only", "test"), ("valid-only", "valid"), ("flat", "")] {
        let data = d.join(layout);
        dataset(&data, split, &by_name);
        let (acc, mapping) = accuracy(&kes, &data, &d.join(format!("{layout}-out")));
        assert_eq!(acc, 1.0, "{layout}: {mapping}");
        assert!(mapping.contains("matched to the model's labels by name") && mapping.contains("Ankle boot -> 9"), "{mapping}");
    }
    let data = d.join("index");
    dataset(&data, "test", &|_, i| i.to_string());
    let (acc, mapping) = accuracy(&kes, &data, &d.join("index-out"));
    assert_eq!(acc, 1.0, "{mapping}");
    assert!(mapping.contains("by index"), "{mapping}");
    std::fs::remove_dir_all(&d).ok();
}

/// `-o` through a symlink replaces the link's target and keeps the link.
#[test]
fn outputs_write_through_symlinks() {
    let d = tmp("symlink");
    let real = d.join("real.onnx");
    std::fs::write(&real, b"old").expect("real");
    std::os::unix::fs::symlink("real.onnx", d.join("link.onnx")).expect("symlink");
    ok(&kestrel(&["zoo", "mnist_cnn_28", "-o", &s(&d.join("link.onnx"))]));
    assert!(std::fs::symlink_metadata(d.join("link.onnx")).expect("link").file_type().is_symlink());
    assert!(std::fs::metadata(&real).expect("real").len() > 1000, "the target was written");
    let names: Vec<String> = std::fs::read_dir(&d).expect("dir").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 2, "no temp file left: {names:?}");
    std::fs::remove_dir_all(&d).ok();
}
