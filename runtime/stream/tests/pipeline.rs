//! The pipeline end to end on the shipped model: every source kind, tiles, alerts, sinks,
//! and resilience (corrupt frames, outages with failing reopens, stalls).

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use kestrel_runtime::Model;
use kestrel_stream::preprocess::Rect;
use kestrel_stream::source::{Dropout, PatternConfig};
use kestrel_stream::{
    run, AlertRule, Config, Frame, JsonLines, Preprocessor, SaveFrames, SaveMode, SourceOptions, SourceSpec, TileGrid,
};

fn pattern(w: u32, h: u32) -> SourceSpec {
    SourceSpec::Pattern(PatternConfig { width: w, height: h, ..PatternConfig::default() })
}

#[test]
fn pattern_to_json_lines() {
    let buf = mnist();
    let m = Model::load(buf.as_slice()).unwrap();
    let cfg = Config { max_frames: Some(50), ..Config::default() };
    let mut out = Vec::new();
    let mut json = JsonLines::new(&mut out, 3);
    let mut col = Collect::keeping();
    let s = run(&m, pattern(64, 48).opener(&SourceOptions::default()), &cfg, &mut [&mut json, &mut col], &Arc::new(AtomicBool::new(false)))
        .unwrap();
    assert_eq!(s.reason, "frames");
    assert_eq!(s.report.frames, 50);
    assert_eq!(col.results.len(), 50);
    assert_eq!(col.count("note"), 1, "the gray conversion is announced: {:?}", col.events);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let frames: Vec<_> = lines.iter().filter(|v| v["type"] == "frame").collect();
    assert_eq!(frames.len(), 50);
    assert!(frames[0]["label"].as_str().unwrap().starts_with("digit_"));
    assert_eq!(frames[0]["top"].as_array().unwrap().len(), 3);
    let summary = lines.iter().find(|v| v["type"] == "summary").expect("summary line");
    assert_eq!(summary["frames"], 50);
    assert!(summary["inference"]["p99_ms"].as_f64().unwrap() > 0.0);
    assert!(lines.iter().any(|v| v["type"] == "event" && v["event"] == "note"));
}

#[test]
fn fused_preprocess_equals_set_input_f32() {
    let buf = mnist();
    let m = Model::load(buf.as_slice()).unwrap();
    let pp = m.meta().preprocess;
    let mut pre = Preprocessor::new(&m).unwrap();
    assert_eq!(pre.dims(), [28, 28, 1]);
    // A 28x28 frame: no resampling, so the fused pass must equal quantizing by hand.
    let mut f = Frame::filled(28, 28, [0, 0, 0]);
    for (i, p) in f.rgb.chunks_exact_mut(3).enumerate() {
        let v = (i * 37 % 256) as u8;
        p.copy_from_slice(&[v, v, v]);
    }
    let mut a = AlignedBytesPair::new(m.arena_size());
    pre.run(&f, Rect::full(&f), m.input_bytes_mut(a.0.as_mut_slice()).unwrap()).unwrap();
    let x: Vec<f32> = f.rgb.chunks_exact(3).map(|p| (p[0] as f32 * pp.rescale - pp.mean[0]) / pp.std[0]).collect();
    m.set_input_f32(a.1.as_mut_slice(), &x).unwrap();
    assert_eq!(m.input_bytes_mut(a.0.as_mut_slice()).unwrap(), m.input_bytes_mut(a.1.as_mut_slice()).unwrap());
    // A big uniform frame shrinks to the same uniform input.
    let big = Frame::filled(1920, 1080, [200, 200, 200]);
    pre.run(&big, Rect::full(&big), m.input_bytes_mut(a.0.as_mut_slice()).unwrap()).unwrap();
    m.set_input_f32(a.1.as_mut_slice(), &[(200.0 * pp.rescale - pp.mean[0]) / pp.std[0]; 784]).unwrap();
    assert_eq!(m.input_bytes_mut(a.0.as_mut_slice()).unwrap(), m.input_bytes_mut(a.1.as_mut_slice()).unwrap());
}

struct AlignedBytesPair(kestrel_runtime::AlignedBuf, kestrel_runtime::AlignedBuf);
impl AlignedBytesPair {
    fn new(n: usize) -> Self {
        AlignedBytesPair(kestrel_runtime::AlignedBuf::zeroed(n), kestrel_runtime::AlignedBuf::zeroed(n))
    }
}

#[test]
fn tiles_alerts_and_heat_maps() {
    let buf = mnist();
    let m = Model::load(buf.as_slice()).unwrap();
    let labels: Vec<String> = m.labels().map(String::from).collect();
    let dir = tmp("tiles");
    let cfg = Config {
        max_frames: Some(6),
        tiles: Some(TileGrid::parse("2x3", 0.2).unwrap()),
        alerts: vec![AlertRule::parse("digit_0>=0", &labels).unwrap()],
        smooth: 3,
        ..Config::default()
    };
    let mut out = Vec::new();
    let mut json = JsonLines::new(&mut out, 1);
    let mut save = SaveFrames::new(dir.join("alerts"), SaveMode::Alerts).unwrap();
    let mut col = Collect::keeping();
    run(&m, pattern(640, 360).opener(&SourceOptions::default()), &cfg, &mut [&mut json, &mut save, &mut col], &Arc::new(AtomicBool::new(false)))
        .unwrap();
    assert_eq!(col.results.len(), 6);
    let r = &col.results[5];
    assert_eq!(r.tiles.len(), 6);
    assert_eq!((r.tiles[5].row, r.tiles[5].col), (1, 2));
    assert_eq!(r.alerts.len(), 6, "a threshold of 0 alerts every tile");
    assert_eq!(col.count("alert"), 6, "each tile's alert is raised once");
    assert_eq!(save.written, 6);
    let heat = image::open(dir.join(format!("alerts/heat_{:06}.png", r.seq))).unwrap();
    assert_eq!((heat.width(), heat.height()), (640, 360));
    let text = String::from_utf8(out).unwrap();
    let line: serde_json::Value =
        text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).find(|v| v["type"] == "frame").unwrap();
    assert_eq!(line["tiles"].as_array().unwrap().len(), 6);
    assert_eq!(line["tiles"][1]["tile"], serde_json::json!([0, 1]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn survives_corrupt_frames_outages_and_stalls() {
    let buf = mnist();
    let m = Model::load(buf.as_slice()).unwrap();
    let dropout = Dropout {
        corrupt_every: 20,
        disconnect_every: 60,
        failed_reopens: 2,
        stall_every: 90,
        stall: Duration::from_millis(700),
    };
    let spec = SourceSpec::Pattern(PatternConfig { width: 32, height: 32, dropout: Some(dropout), ..PatternConfig::default() });
    let cfg = Config {
        max_frames: Some(100),
        stall_after: Duration::from_millis(250),
        backoff: (Duration::from_millis(10), Duration::from_millis(40)),
        drop_frames: false,
        ..Config::default()
    };
    let mut col = Collect::default();
    let s = run(&m, spec.opener(&SourceOptions::default()), &cfg, &mut [&mut col], &Arc::new(AtomicBool::new(false))).unwrap();
    assert_eq!(s.report.frames, 100, "the pipeline kept going");
    assert!(s.report.corrupt >= 3, "corrupt frames skipped and counted: {}", s.report.corrupt);
    assert!(s.report.reconnects >= 1, "reopened after the outage");
    assert_eq!(col.count("disconnected"), s.report.reconnects as usize);
    assert!(col.count("reconnect_failed") >= 2, "the first reopens fail: {:?}", col.events);
    assert!(col.count("stalled") >= 1 && col.count("resumed") >= 1, "{:?}", col.events);
    assert!(s.report.stalls >= 1);
}

#[test]
fn folder_source_every_image_in_order() {
    let buf = mnist();
    let m = Model::load(buf.as_slice()).unwrap();
    let dir = tmp("folder");
    for i in 0..5u8 {
        image::GrayImage::from_pixel(28, 28, image::Luma([i * 50])).save(dir.join(format!("img_{i}.png"))).unwrap();
    }
    std::fs::write(dir.join("img_2b.png"), b"broken").unwrap();
    let cfg = Config { drop_frames: false, smooth: 1, ..Config::default() };
    let mut col = Collect::keeping();
    let spec = SourceSpec::parse(&format!("dir:{}", dir.display())).unwrap();
    let s = run(&m, spec.opener(&SourceOptions::default()), &cfg, &mut [&mut col], &Arc::new(AtomicBool::new(false))).unwrap();
    assert_eq!(s.reason, "ended");
    assert_eq!(s.report.frames, 5);
    assert_eq!(s.report.corrupt, 1);
    assert_eq!(col.results.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2, 3, 5, 6]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn video_file_through_ffmpeg() {
    require("ffmpeg");
    let buf = mnist();
    let m = Model::load(buf.as_slice()).unwrap();
    let dir = tmp("video");
    let clip = dir.join("clip.mp4");
    let st = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=2"])
        .args(["-pix_fmt", "yuv420p", "-y"])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(st.success());
    let cfg = Config { drop_frames: false, ..Config::default() };
    let mut col = Collect::keeping();
    let spec = SourceSpec::parse(&format!("video:{}", clip.display())).unwrap();
    let s = run(&m, spec.opener(&SourceOptions::default()), &cfg, &mut [&mut col], &Arc::new(AtomicBool::new(false))).unwrap();
    assert_eq!(s.reason, "ended");
    assert_eq!(s.report.frames, 20, "every frame of a 2 s, 10 fps clip");

    // A missing file, a garbage file, and URLs that refuse or never answer: one-line errors.
    let opts = SourceOptions { open_timeout: Duration::from_millis(1500), ..SourceOptions::default() };
    let err = |spec: &str| -> String {
        let mut col = Collect::default();
        let e = run(&m, SourceSpec::parse(spec).unwrap().opener(&opts), &cfg, &mut [&mut col], &Arc::new(AtomicBool::new(false)))
            .expect_err(spec);
        format!("{e:#}")
    };
    assert!(err(&format!("video:{}", dir.join("nope.mp4").display())).contains("no such file"));
    std::fs::write(dir.join("junk.mp4"), b"not a video at all").unwrap();
    let e = err(&format!("video:{}", dir.join("junk.mp4").display()));
    assert!(e.contains("ffmpeg") && !e.contains('\n'), "{e}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let e = err(&format!("video:http://127.0.0.1:{port}/live"));
    assert!(e.contains("video:http://127.0.0.1") && !e.contains('\n'), "{e}");
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("video:http://{}/live", silent.local_addr().unwrap());
    let e = err(&url);
    assert!(e.contains("does not answer"), "{e}");
    drop(silent);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_camera_is_a_clear_error() {
    let mut open = SourceSpec::parse("camera:7").unwrap().opener(&SourceOptions::default());
    let e = open().err().expect("no camera here").to_string();
    assert!(e.starts_with("camera:7"), "{e}");
    assert!(!e.contains('\n'));
    if cfg!(feature = "camera") {
        assert!(e.contains("no such camera") || e.contains("cannot open"), "{e}");
    } else {
        assert!(e.contains("feature `camera`"), "{e}");
    }
}
