//! Soak: 100,000 synthetic frames through the whole pipeline (capture thread, newest-wins
//! queue with drops, preprocess, runtime, smoothing, alerts, JSON lines) keep resident
//! memory flat. A generous bound on growth after warm-up, not a duration.

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use common::*;
use kestrel_runtime::Model;
use kestrel_stream::sinks::FrameCtx;
use kestrel_stream::source::PatternConfig;
use kestrel_stream::{run, AlertRule, Config, JsonLines, Sink, SourceOptions, SourceSpec};

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct Rss {
    at: Vec<(u64, u64)>,
}

impl Sink for Rss {
    fn frame(&mut self, ctx: &FrameCtx<'_>) -> anyhow::Result<()> {
        if ctx.result.index.is_multiple_of(10_000) {
            self.at.push((ctx.result.index, rss_kib()));
        }
        Ok(())
    }
}

#[test]
fn hundred_thousand_frames_keep_memory_flat() {
    const FRAMES: u64 = 100_000;
    let buf = mnist();
    let m = Model::load(buf.as_slice()).unwrap();
    let labels: Vec<String> = m.labels().map(String::from).collect();
    let spec = SourceSpec::Pattern(PatternConfig { width: 40, height: 30, ..PatternConfig::default() });
    let cfg = Config {
        max_frames: Some(FRAMES),
        alerts: vec![AlertRule::parse("digit_3>=0.3", &labels).unwrap()],
        // Capture waits for the model instead of spinning on frames that would be dropped
        // (the drop path is covered by the queue's tests and the other pipeline tests).
        drop_frames: false,
        ..Config::default()
    };
    let mut json = JsonLines::new(std::io::sink(), 3);
    let mut rss = Rss { at: Vec::new() };
    let s = run(&m, spec.opener(&SourceOptions::default()), &cfg, &mut [&mut json, &mut rss], &Arc::new(AtomicBool::new(false)))
        .unwrap();
    assert_eq!(s.report.frames, FRAMES);
    println!("soak: {}", s.report.line());
    println!("soak: {} frames, {} dropped, {:.0} fps; VmRSS (frame, KiB): {:?}", s.report.frames, s.report.dropped, s.report.fps(), rss.at);
    let warm = rss.at.iter().find(|(i, _)| *i == 10_000).map(|x| x.1).unwrap();
    let end = rss.at.last().unwrap().1;
    assert!(
        end <= warm + 8 * 1024,
        "resident memory grew from {warm} KiB at frame 10,000 to {end} KiB at frame {FRAMES}"
    );
}
