//! The live pipeline: a capture thread (`capture.rs`: pacing, reconnection with backoff)
//! feeding a bounded newest-wins queue, and the loop that classifies each frame
//! (`classify.rs`: preprocess → runtime → smoothing → alerts), feeds the sinks and keeps
//! stage timings, stall detection and periodic reports (`health.rs`). Here: the
//! configuration, what the pipeline tells the sinks, and the loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use kestrel_runtime::Model;

use crate::capture::CaptureThread;
use crate::classify::Classifier;
use crate::health::Health;
use crate::preprocess::Rect;
use crate::queue::Pop;
use crate::sinks::{FrameCtx, Sink};
use crate::smooth::AlertRule;
use crate::source::Opener;
use crate::stats::{round3, StatsReport};
use crate::tiles::TileGrid;
use crate::Frame;

/// How the pipeline runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Pace the capture to this many frames per second (`None`: as fast as the source gives).
    pub fps: Option<f64>,
    /// Classify tiles of each frame instead of the whole frame.
    pub tiles: Option<TileGrid>,
    /// Moving-average window in frames (1: no smoothing).
    pub smooth: usize,
    /// An alert clears when its score falls below `threshold - hysteresis`; the label
    /// changes when another class leads by `hysteresis / 2`.
    pub hysteresis: f32,
    /// Alert rules.
    pub alerts: Vec<AlertRule>,
    /// Stop after this many processed frames.
    pub max_frames: Option<u64>,
    /// Report a stall when no frame arrives for this long.
    pub stall_after: Duration,
    /// Newest frame wins (drops counted). `false`: capture waits, every frame is processed.
    pub drop_frames: bool,
    /// Frames the queue holds.
    pub queue: usize,
    /// Report stats this often.
    pub report_every: Duration,
    /// Reconnect backoff: first wait and the longest.
    pub backoff: (Duration, Duration),
    /// Print reports and events as lines on stderr.
    pub log: bool,
    /// Threads the runtime splits big layers over (1: the pipeline thread alone).
    pub threads: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            fps: None,
            tiles: None,
            smooth: 5,
            hysteresis: 0.1,
            alerts: Vec::new(),
            max_frames: None,
            stall_after: Duration::from_secs(2),
            drop_frames: true,
            queue: 1,
            report_every: Duration::from_secs(1),
            backoff: (Duration::from_millis(200), Duration::from_secs(5)),
            log: false,
            threads: 1,
        }
    }
}

/// Something that happened to the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A note about the setup (e.g. a channel conversion).
    Note(String),
    /// A corrupt frame was skipped.
    Corrupt(String),
    /// The source went away.
    Disconnected(String),
    /// A reconnect attempt is scheduled.
    Reconnecting {
        /// Attempt number, from 1.
        attempt: u32,
        /// Wait before it.
        wait_ms: u64,
    },
    /// The source is back.
    Reconnected {
        /// Attempts it took.
        attempts: u32,
    },
    /// A reconnect attempt failed.
    ReconnectFailed(String),
    /// No frame for `Config::stall_after`.
    Stalled {
        /// Seconds without a frame.
        for_s: f64,
    },
    /// Frames flow again after a stall.
    Resumed {
        /// Seconds the stall lasted.
        after_s: f64,
    },
    /// An alert was raised.
    AlertRaised(Alert),
    /// An alert cleared.
    AlertCleared(Alert),
    /// The source has no more frames.
    Ended,
}

impl Event {
    /// Short name.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Note(_) => "note",
            Event::Corrupt(_) => "corrupt",
            Event::Disconnected(_) => "disconnected",
            Event::Reconnecting { .. } => "reconnecting",
            Event::Reconnected { .. } => "reconnected",
            Event::ReconnectFailed(_) => "reconnect_failed",
            Event::Stalled { .. } => "stalled",
            Event::Resumed { .. } => "resumed",
            Event::AlertRaised(_) => "alert",
            Event::AlertCleared(_) => "alert_cleared",
            Event::Ended => "ended",
        }
    }

    /// One human-readable line (`labels` name the classes).
    pub fn line(&self, labels: &[String]) -> String {
        match self {
            Event::Note(m) => format!("note: {m}"),
            Event::Corrupt(m) => format!("skipped a corrupt frame: {m}"),
            Event::Disconnected(m) => format!("source lost: {m}"),
            Event::Reconnecting { attempt, wait_ms } => format!("reconnecting in {wait_ms} ms (attempt {attempt})"),
            Event::Reconnected { attempts } => format!("source reconnected after {attempts} attempt(s)"),
            Event::ReconnectFailed(m) => format!("reconnect failed: {m}"),
            Event::Stalled { for_s } => format!("source stalled: no frame for {for_s:.1} s"),
            Event::Resumed { after_s } => format!("frames resumed after a {after_s:.1} s stall"),
            Event::AlertRaised(a) => format!("ALERT raised: {}", a.describe(labels)),
            Event::AlertCleared(a) => format!("alert cleared: {}", a.describe(labels)),
            Event::Ended => "the source has no more frames".into(),
        }
    }

    /// As a JSON object.
    pub fn json(&self, t: f64, labels: &[String]) -> serde_json::Value {
        let mut v = serde_json::json!({"type": "event", "t": round3(t), "event": self.kind(), "message": self.line(labels)});
        match self {
            Event::Reconnecting { attempt, wait_ms } => {
                v["attempt"] = (*attempt).into();
                v["wait_ms"] = (*wait_ms).into();
            }
            Event::Reconnected { attempts } => v["attempts"] = (*attempts).into(),
            Event::Stalled { for_s } => v["for_s"] = round3(*for_s).into(),
            Event::Resumed { after_s } => v["after_s"] = round3(*after_s).into(),
            Event::AlertRaised(a) | Event::AlertCleared(a) => v["alert"] = a.json(labels),
            _ => {}
        }
        v
    }
}

/// An active (or just changed) alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Frame it refers to.
    pub seq: u64,
    /// Class index.
    pub class: usize,
    /// Smoothed score.
    pub score: f32,
    /// Threshold of the rule.
    pub threshold: f32,
    /// Tile (row, col) when tiled.
    pub tile: Option<(usize, usize)>,
}

impl Alert {
    fn describe(&self, labels: &[String]) -> String {
        let at = self.tile.map(|(r, c)| format!(" in tile {r},{c}")).unwrap_or_default();
        format!("{} {:.2} >= {:.2}{at} (frame {})", class_name(labels, self.class), self.score, self.threshold, self.seq)
    }

    /// As JSON.
    pub fn json(&self, labels: &[String]) -> serde_json::Value {
        let mut v = serde_json::json!({
            "frame": self.seq,
            "class": class_name(labels, self.class),
            "score": round3(self.score as f64),
            "threshold": self.threshold,
        });
        if let Some((r, c)) = self.tile {
            v["tile"] = serde_json::json!([r, c]);
        }
        v
    }
}

/// The name of class `i`.
pub fn class_name(labels: &[String], i: usize) -> String {
    labels.get(i).cloned().unwrap_or_else(|| format!("class {i}"))
}

/// One tile's result.
#[derive(Debug, Clone, PartialEq)]
pub struct TileResult {
    /// Row of the tile.
    pub row: usize,
    /// Column of the tile.
    pub col: usize,
    /// Where it is in the frame.
    pub rect: Rect,
    /// Its (smoothed) top class.
    pub label: usize,
    /// That class's smoothed score.
    pub score: f32,
    /// Every class's smoothed score.
    pub scores: Vec<f32>,
}

/// What the pipeline concluded about one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameResult {
    /// The frame's sequence number.
    pub seq: u64,
    /// Processed frames so far, this one included.
    pub index: u64,
    /// Seconds since the pipeline started, at capture.
    pub t: f64,
    /// The (smoothed, sticky) label. Tiled: over the per-class maximum of the tiles.
    pub label: usize,
    /// Its smoothed score.
    pub score: f32,
    /// Smoothed scores per class (tiled: the maximum over tiles).
    pub scores: Vec<f32>,
    /// This frame's own top class before smoothing (tiled: of the best tile).
    pub raw_label: usize,
    /// Its unsmoothed score.
    pub raw_score: f32,
    /// Tiles, row by row (empty when not tiled).
    pub tiles: Vec<TileResult>,
    /// Alerts active after this frame.
    pub alerts: Vec<Alert>,
    /// Stage times for this frame, ms: capture, preprocess, inference.
    pub ms: [f64; 3],
}

/// What a finished run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The whole run as one report.
    pub report: StatsReport,
    /// The last result.
    pub last: Option<FrameResult>,
    /// Why it stopped: `frames` (limit reached), `ended` (source done), `stopped` (asked).
    pub reason: &'static str,
}

/// Run the pipeline on `model` until the source ends, `cfg.max_frames` frames are done, or
/// `stop` is set. Setup problems (a model the frames can't feed, a source that can't be
/// opened) are errors; trouble while running is reported as events and survived.
pub fn run(model: &Model<'_>, opener: Opener, cfg: &Config, sinks: &mut [&mut dyn Sink], stop: &Arc<AtomicBool>) -> Result<Summary> {
    let mut classifier = Classifier::new(model, cfg)?;
    let start = Instant::now();
    let mut out = Outputs { sinks, labels: class_labels(model), start, log: cfg.log, heat_class: cfg.alerts.first().map(|a| a.class) };
    let mut capture = CaptureThread::start(opener, cfg, stop)?;
    if let Some(n) = classifier.conversion_note() {
        out.event(Instant::now(), &Event::Note(n));
    }
    let mut health = Health::new(start, cfg);
    let mut last = None;
    let reason = loop {
        for (at, e) in capture.events() {
            out.event(at, &e);
        }
        if stop.load(Ordering::Relaxed) {
            break "stopped";
        }
        if cfg.max_frames.is_some_and(|m| health.frames() >= m) {
            break "frames";
        }
        let now = Instant::now();
        if health.report_due(now) {
            let rep = health.report(now, capture.counts(), capture.source_state(health.stalled()));
            out.stats(&rep, None);
        }
        let frame = match capture.pop(Duration::from_millis(50)) {
            Pop::Frame(f) => f,
            Pop::Closed => break "ended",
            Pop::Timeout => {
                if let Some(e) = health.idle() {
                    out.event(Instant::now(), &e);
                }
                continue;
            }
        };
        if let Some(e) = health.frame_arrived() {
            out.event(Instant::now(), &e);
        }
        match classifier.classify(&frame, health.frames() + 1, start, &mut |e: &Event| out.event(Instant::now(), e))? {
            Ok(result) => {
                out.frame(&frame, &result, health.recent_fps())?;
                let (t_pre, t_inf) = classifier.times();
                health.frame_done(frame.capture_time, t_pre, t_inf, frame.captured_at.elapsed());
                last = Some(result);
            }
            Err(e) => {
                capture.count_corrupt();
                out.event(Instant::now(), &Event::Corrupt(format!("frame {}: {e}", frame.seq)));
            }
        }
        capture.recycle(frame);
    };

    capture.shut_down();
    for (at, e) in capture.events() {
        out.event(at, &e);
    }
    let source = capture.source_state(health.stalled());
    let report = health.summary(capture.counts(), source);
    out.stats(&report, Some(reason));
    Ok(Summary { report, last, reason })
}

/// The model's class names, one per output (made up where the model has none).
fn class_labels(model: &Model<'_>) -> Vec<String> {
    let classes = model.output().len();
    let mut labels: Vec<String> = model.labels().map(String::from).collect();
    labels.truncate(classes);
    while labels.len() < classes {
        labels.push(format!("class {}", labels.len()));
    }
    labels
}

/// The sinks with what they are told alongside: class names, the heat-map class, the log.
struct Outputs<'s, 'k> {
    sinks: &'s mut [&'k mut dyn Sink],
    labels: Vec<String>,
    start: Instant,
    log: bool,
    heat_class: Option<usize>,
}

impl Outputs<'_, '_> {
    /// Something that happened at `at`.
    fn event(&mut self, at: Instant, e: &Event) {
        let t = at.saturating_duration_since(self.start).as_secs_f64();
        if self.log {
            eprintln!("stream: {:7.1}s {}", t, e.line(&self.labels));
        }
        for s in self.sinks.iter_mut() {
            s.event(t, e, &self.labels);
        }
    }

    /// A periodic report, or (`summary`: why the run stopped) the one of the whole run.
    fn stats(&mut self, rep: &StatsReport, summary: Option<&str>) {
        if self.log {
            match summary {
                Some(reason) => eprintln!("stream: summary ({reason}): {}", rep.line()),
                None => eprintln!("stream: {}", rep.line()),
            }
        }
        for s in self.sinks.iter_mut() {
            s.stats(rep, summary.is_some());
        }
    }

    /// A classified frame; the annotated image is rendered once if any sink wants it.
    fn frame(&mut self, frame: &Frame, result: &FrameResult, fps: f64) -> Result<()> {
        let image = if self.sinks.iter().any(|s| s.needs_image(result)) {
            Some(crate::annotate::render(frame, result, &self.labels, self.heat_class, fps))
        } else {
            None
        };
        let ctx = FrameCtx { frame, result, image: image.as_ref(), labels: &self.labels, heat_class: self.heat_class };
        for s in self.sinks.iter_mut() {
            s.frame(&ctx)?;
        }
        Ok(())
    }
}
