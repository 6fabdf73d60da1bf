//! `kestrel stream` end to end: the synthetic source, a folder (same labels as `kestrel
//! run`), a video with tiles, alerts and heat maps, a logged reconnect, and every bad input
//! as one line on stderr with exit code 1.

use std::path::PathBuf;
use std::process::{Command, Output};

mod common;
use common::{kestrel, repo, tmp};

fn model() -> String {
    repo().join("models/mnist_cnn_28/model.kes").display().to_string()
}

fn fails_with(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit code; stderr: {err}");
    let last = err.trim_end().lines().last().unwrap_or("");
    assert!(last.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked") && !err.contains("internal error"), "{err}");
    assert_eq!(err.lines().filter(|l| l.starts_with("error")).count(), 1, "{err}");
    for n in needles {
        assert!(last.contains(n), "stderr {err:?} should mention {n:?}");
    }
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

#[test]
fn pattern_source_json_and_stats() {
    let out = kestrel(&["stream", &model(), "--source", "pattern:64x48", "--frames", "30", "--top", "2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("converted to gray"), "the 1-channel model is fed luma and says so: {err}");
    assert!(err.contains("summary (frames)") && err.contains("inference"), "{err}");
    let v = json_lines(&out);
    let frames: Vec<_> = v.iter().filter(|l| l["type"] == "frame").collect();
    assert_eq!(frames.len(), 30);
    assert_eq!(frames[0]["top"].as_array().unwrap().len(), 2);
    let s = v.iter().find(|l| l["type"] == "summary").expect("summary");
    assert_eq!(s["frames"], 30);
    for stage in ["capture", "preprocess", "inference", "total"] {
        assert!(s[stage]["p99_ms"].as_f64().is_some(), "{stage}: {s}");
    }
}

#[test]
fn folder_source_agrees_with_kestrel_run() {
    let dir = repo().join("models/fashion-mnist/samples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "png")).collect();
    files.sort();
    assert!(!files.is_empty());
    let src = format!("dir:{}", dir.display());
    let out = kestrel(&["stream", &model(), "--source", &src, "--every-frame", "--smooth", "1", "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let streamed: Vec<String> =
        json_lines(&out).iter().filter(|l| l["type"] == "frame").map(|l| l["raw"]["label"].as_str().unwrap().to_string()).collect();
    let mut args = vec!["run".to_string(), model(), "--json".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let run = Command::new(env!("CARGO_BIN_EXE_kestrel")).args(&args).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let ran: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let ran: Vec<String> = ran.as_array().unwrap().iter().map(|r| r["top"][0]["label"].as_str().unwrap().to_string()).collect();
    assert_eq!(streamed, ran, "the fused preprocessing gives kestrel run's labels");
}

#[test]
fn video_tiles_alerts_and_heat_maps() {
    let d = tmp("video");
    let clip = d.join("roof.mp4");
    let st = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=5:duration=2", "-pix_fmt", "yuv420p", "-y"])
        .arg(&clip)
        .status()
        .expect("ffmpeg is not installed: run scripts/setup.sh");
    assert!(st.success());
    let src = format!("video:{}", clip.display());
    let outdir = d.join("out");
    let o = outdir.display().to_string();
    let out = kestrel(&[
        "stream", &model(), "--source", &src, "--tiles", "2x3", "--overlap", "0.25", "--alert", "digit_1>=0", "--out", &o,
        "--save", "alerts", "--every-frame", "--quiet",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json_lines(&out);
    let frames: Vec<_> = v.iter().filter(|l| l["type"] == "frame").collect();
    assert_eq!(frames.len(), 10);
    assert_eq!(frames[0]["tiles"].as_array().unwrap().len(), 6);
    assert_eq!(frames[0]["alerts"].as_array().unwrap().len(), 6);
    assert!(v.iter().any(|l| l["event"] == "alert"));
    let pngs = std::fs::read_dir(&outdir).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with("heat_")).count();
    assert_eq!(pngs, 10);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_lost_source_is_reconnected_and_logged() {
    // --every-frame: the drop-out schedule counts generated frames; in lockstep with the model
    // the 250 frames meet one outage (two failed reopens) and one stall.
    let out = kestrel(&["stream", &model(), "--source", "pattern:32x32:dropout", "--frames", "250", "--stall-ms", "300", "--every-frame", "--no-frame-json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("source lost") && err.contains("reconnecting") && err.contains("source reconnected"), "{err}");
    assert!(err.contains("skipped a corrupt frame"), "{err}");
    let v = json_lines(&out);
    let s = v.iter().find(|l| l["type"] == "summary").unwrap();
    assert!(s["reconnects"].as_u64().unwrap() >= 1 && s["corrupt"].as_u64().unwrap() >= 1, "{s}");
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let m = model();
    fails_with(&kestrel(&["stream", &m, "--source", "webcam"]), &["unknown source", "camera:N"]);
    fails_with(&kestrel(&["stream", &m, "--source", "camera:9"]), &["camera:9"]);
    fails_with(&kestrel(&["stream", "/nonexistent.kes", "--source", "pattern"]), &["nonexistent.kes"]);
    fails_with(&kestrel(&["stream", &m, "--source", "video:/nonexistent.mp4"]), &["no such file"]);
    fails_with(&kestrel(&["stream", &m, "--source", "dir:/nonexistent-dir"]), &["no such directory"]);
    fails_with(&kestrel(&["stream", &m, "--source", "pattern", "--tiles", "0x3"]), &["--tiles"]);
    fails_with(&kestrel(&["stream", &m, "--source", "pattern", "--alert", "cat>=0.5"]), &["no class", "digit_0"]);
    // A stream URL that accepts the connection but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("video:http://{}/live", silent.local_addr().unwrap());
    fails_with(&kestrel(&["stream", &m, "--source", &url, "--open-timeout", "1"]), &["does not answer"]);
    // A port in use.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    fails_with(&kestrel(&["stream", &m, "--source", "pattern", "--frames", "1", "--serve", &addr]), &["already in use"]);
}
