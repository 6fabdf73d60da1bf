//! `kestrel bench` end to end on the small reference workload (every engine, JSON and
//! markdown), `kestrel run --threads/--kernels` giving the same answers on every path, and
//! their bad inputs as one line with exit code 1. Speeds are not asserted here: they are
//! measured by `kestrel bench` itself (README "Speed").

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{kestrel, repo, tmp, ok};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn fails_with(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit code; stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "stderr must be one line: {err:?}");
    assert!(err.starts_with("error: ") && !err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr {err:?} should mention {n:?}");
    }
}

#[test]
fn bench_all_engines_json_and_markdown() {
    let d = tmp("all");
    let onnx = repo().join("models/mnist_cnn_28/model.onnx");
    let md = d.join("bench.md");
    let out = ok(&kestrel(&[
        "bench", s(&onnx), "--json", "--peak", "--runs", "3", "--time", "0.2", "--markdown", s(&md),
    ]));
    let r: serde_json::Value = serde_json::from_str(&out).expect("bench --json prints JSON");
    assert_eq!(r["macs"].as_u64(), Some(117_912), "{r}");
    let rows = r["rows"].as_array().expect("rows");
    let engines: Vec<&str> = rows.iter().map(|row| row["engine"].as_str().unwrap()).collect();
    for want in ["kestrel int8", "kestrel f32", "ONNX Runtime int8 (QDQ)", "ONNX Runtime f32", "tract f32"] {
        assert!(engines.iter().any(|e| e.starts_with(want)), "{want} missing from {engines:?}; notes {}", r["notes"]);
    }
    for row in rows {
        assert!(row["samples"].as_u64().unwrap() >= 3, "{row}");
        let (med, min) = (row["median_ms"].as_f64().unwrap(), row["min_ms"].as_f64().unwrap());
        assert!(min > 0.0 && min <= med, "{row}");
        if row["engine"].as_str().unwrap().starts_with("kestrel") {
            // The runtime's promise: no heap allocation per inference, and the arena it plans.
            assert_eq!(row["allocs_per_inference"].as_f64(), Some(0.0), "{row}");
            assert!(row["arena_bytes"].as_u64().unwrap() > 0, "{row}");
        }
    }
    assert!(r["peak"]["int8_gmacs"].as_f64().unwrap() > 0.0, "{r}");
    let md = std::fs::read_to_string(&md).expect("markdown written");
    assert!(md.contains("| engine") && md.contains("kestrel int8") && md.contains("kestrel bench"), "{md}");
}

#[test]
fn run_threads_and_kernel_sets_agree() {
    let kes = repo().join("models/fashion-mnist/model.kes");
    let samples: Vec<PathBuf> = std::fs::read_dir(repo().join("models/fashion-mnist/samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let mut args = vec!["run", s(&kes), "--json"];
    args.extend(samples.iter().map(|p| s(p)));
    let base = ok(&kestrel(&args));
    let mut sets = vec!["scalar"];
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            sets.push("avx2");
        }
        if std::is_x86_feature_detected!("avx512vnni") && std::is_x86_feature_detected!("avx512bw") {
            sets.push("avx512vnni");
        }
    }
    for set in sets {
        for threads in ["1", "2"] {
            let mut a = args.clone();
            a.extend(["--kernels", set, "--threads", threads]);
            assert_eq!(ok(&kestrel(&a)), base, "--kernels {set} --threads {threads}");
        }
    }
    // More threads than cores: clamped, said so on stderr, same answers.
    let mut a = args.clone();
    a.extend(["--threads", "1000"]);
    let out = kestrel(&a);
    assert_eq!(ok(&out), base);
    assert!(String::from_utf8_lossy(&out.stderr).contains("using"), "clamp must be reported");
}

#[test]
fn bench_and_run_bad_input_is_one_line() {
    let onnx = repo().join("models/mnist_cnn_28/model.onnx");
    let kes = repo().join("models/mnist_cnn_28/model.kes");
    let x = repo().join("models/mnist_cnn_28/samples/sample_0.npy");
    fails_with(&kestrel(&["bench", s(&onnx), "--threads", "0"]), &["--threads"]);
    fails_with(&kestrel(&["run", s(&kes), s(&x), "--threads", "0"]), &["--threads"]);
    fails_with(&kestrel(&["run", s(&kes), s(&x), "--kernels", "fastest"]), &["--kernels fastest", "unknown"]);
    fails_with(&kestrel(&["bench", s(&onnx), "--kernels", "fastest", "--engines", "kestrel"]), &["--kernels fastest"]);
    // A kernel set this CPU/build lacks is refused with its name, never run.
    #[cfg(target_arch = "x86_64")]
    fails_with(&kestrel(&["run", s(&kes), s(&x), "--kernels", "neon"]), &["--kernels neon"]);
    fails_with(&kestrel(&["bench", "/nonexistent/m.onnx"]), &["/nonexistent/m.onnx"]);
    let d = tmp("bad");
    let junk = d.join("junk.onnx");
    std::fs::write(&junk, b"not an onnx file").unwrap();
    fails_with(&kestrel(&["bench", s(&junk)]), &["junk"]);
    // A usage error: one line, exit code 2 (clap's convention).
    let out = kestrel(&["bench", s(&onnx), "--engines", "kestrel,tflite"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err:?}");
    assert!(err.starts_with("error: ") && err.contains("tflite"), "{err}");
}
