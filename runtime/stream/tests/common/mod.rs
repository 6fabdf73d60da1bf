//! Shared by the integration tests: the shipped model, temp dirs, a sink that keeps results.
#![allow(dead_code)]

use std::path::PathBuf;

use kestrel_stream::pipeline::{Event, FrameResult};
use kestrel_stream::sinks::FrameCtx;
use kestrel_runtime::AlignedBuf;
use kestrel_stream::{Sink, StatsReport};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shipped reference model (28x28x1 int8).
pub fn mnist() -> AlignedBuf {
    AlignedBuf::read(&repo().join("models/mnist_cnn_28/model.kes")).expect("models/mnist_cnn_28/model.kes")
}

pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kestrel-stream-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

/// Fails (never skips) when a tool the tests need is missing.
pub fn require(tool: &str) {
    let ok = std::process::Command::new(tool).arg("-version").output().is_ok()
        || std::process::Command::new(tool).arg("--version").output().is_ok();
    assert!(ok, "`{tool}` is not installed: run scripts/setup.sh (it installs Debian's {tool})");
}

/// Keeps everything the pipeline reports.
#[derive(Default)]
pub struct Collect {
    pub results: Vec<FrameResult>,
    pub events: Vec<Event>,
    pub stats: Vec<StatsReport>,
    pub summary: Option<StatsReport>,
    pub keep_results: bool,
}

impl Collect {
    pub fn keeping() -> Collect {
        Collect { keep_results: true, ..Collect::default() }
    }
    pub fn count(&self, kind: &str) -> usize {
        self.events.iter().filter(|e| e.kind() == kind).count()
    }
}

impl Sink for Collect {
    fn frame(&mut self, ctx: &FrameCtx<'_>) -> anyhow::Result<()> {
        if self.keep_results {
            self.results.push(ctx.result.clone());
        }
        Ok(())
    }
    fn event(&mut self, _t: f64, e: &Event, _labels: &[String]) {
        self.events.push(e.clone());
    }
    fn stats(&mut self, s: &StatsReport, last: bool) {
        if last {
            self.summary = Some(s.clone());
        } else {
            self.stats.push(s.clone());
        }
    }
}
