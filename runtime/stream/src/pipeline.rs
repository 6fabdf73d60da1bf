//! The live pipeline: a capture thread feeding a bounded newest-wins queue, and the
//! processing loop (preprocess → runtime → smoothing → alerts → sinks) with stage timings,
//! stall detection, reconnection with backoff and periodic reports.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use kestrel_runtime::Model;

use crate::preprocess::{Preprocessor, Rect};
use crate::queue::{FrameQueue, Pop};
use crate::sinks::{FrameCtx, Sink};
use crate::smooth::{argmax, AlertRule, AlertState, Smoother};
use crate::source::{FrameSource, Opener, SourceError};
use crate::stats::{round3, Stages, StatsReport};
use crate::tiles::TileGrid;
use kestrel_runtime::AlignedBuf;

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

const LIVE: u8 = 0;
const RECONNECTING: u8 = 1;
const ENDED: u8 = 2;

/// Counters the capture thread updates.
#[derive(Default)]
struct CaptureShared {
    corrupt: AtomicU64,
    reconnects: AtomicU64,
    status: AtomicU8,
    stop: AtomicBool,
}

fn sleep_unless(stop: &AtomicBool, ext: &AtomicBool, d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if stop.load(Ordering::Relaxed) || ext.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(20)));
    }
    true
}

struct Capture {
    opener: Opener,
    queue: Arc<FrameQueue>,
    events: SyncSender<(Instant, Event)>,
    shared: Arc<CaptureShared>,
    ext_stop: Arc<AtomicBool>,
    fps: Option<f64>,
    backoff: (Duration, Duration),
}

impl Capture {
    fn event(&self, e: Event) {
        let _ = self.events.try_send((Instant::now(), e));
    }

    fn stopped(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed) || self.ext_stop.load(Ordering::Relaxed)
    }

    /// The capture thread: open, then deliver frames until the end, reopening on loss.
    fn run(mut self, opened: SyncSender<Result<(), String>>) {
        let mut src: Box<dyn FrameSource> = match (self.opener)() {
            Ok(s) => {
                let _ = opened.send(Ok(()));
                s
            }
            Err(e) => {
                let _ = opened.send(Err(e.to_string()));
                self.queue.close();
                return;
            }
        };
        let period = self.fps.filter(|f| *f > 0.0).map(|f| Duration::from_secs_f64(1.0 / f));
        let mut due = Instant::now();
        let mut seq = 0u64;
        while !self.stopped() {
            if let Some(p) = period {
                let now = Instant::now();
                if due > now && !sleep_unless(&self.shared.stop, &self.ext_stop, due - now) {
                    break;
                }
                due = if due + p < Instant::now() { Instant::now() + p } else { due + p };
            }
            let mut f = self.queue.spare();
            let t0 = Instant::now();
            match src.next_frame(&mut f) {
                Ok(()) if f.is_consistent() => {
                    seq += 1;
                    f.seq = seq;
                    f.captured_at = t0;
                    f.capture_time = t0.elapsed();
                    self.queue.push(f);
                }
                Ok(()) => {
                    seq += 1;
                    self.shared.corrupt.fetch_add(1, Ordering::Relaxed);
                    self.event(Event::Corrupt(format!("frame {seq}: {}x{} with {} bytes", f.width, f.height, f.rgb.len())));
                    self.queue.recycle(f);
                }
                Err(SourceError::Corrupt(m)) => {
                    seq += 1;
                    self.shared.corrupt.fetch_add(1, Ordering::Relaxed);
                    self.event(Event::Corrupt(m));
                    self.queue.recycle(f);
                }
                Err(SourceError::End) => {
                    self.event(Event::Ended);
                    break;
                }
                Err(SourceError::Disconnected(m) | SourceError::Open(m)) => {
                    self.queue.recycle(f);
                    drop(src);
                    self.event(Event::Disconnected(m));
                    match self.reconnect() {
                        Some(s) => src = s,
                        None => break,
                    }
                }
            }
        }
        self.shared.status.store(ENDED, Ordering::Relaxed);
        self.queue.close();
    }

    fn reconnect(&mut self) -> Option<Box<dyn FrameSource>> {
        self.shared.status.store(RECONNECTING, Ordering::Relaxed);
        let mut wait = self.backoff.0;
        for attempt in 1u32.. {
            self.event(Event::Reconnecting { attempt, wait_ms: wait.as_millis() as u64 });
            if !sleep_unless(&self.shared.stop, &self.ext_stop, wait) {
                return None;
            }
            match (self.opener)() {
                Ok(s) => {
                    self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
                    self.shared.status.store(LIVE, Ordering::Relaxed);
                    self.event(Event::Reconnected { attempts: attempt });
                    return Some(s);
                }
                Err(SourceError::End) => return None,
                Err(e) => self.event(Event::ReconnectFailed(e.to_string())),
            }
            wait = (wait * 2).min(self.backoff.1);
        }
        None
    }
}

/// Run the pipeline on `model` until the source ends, `cfg.max_frames` frames are done, or
/// `stop` is set. Setup problems (a model the frames can't feed, a source that can't be
/// opened) are errors; trouble while running is reported as events and survived.
pub fn run(model: &Model<'_>, opener: Opener, cfg: &Config, sinks: &mut [&mut dyn Sink], stop: &Arc<AtomicBool>) -> Result<Summary> {
    let mut pre = Preprocessor::new(model).map_err(|e| anyhow!(e))?;
    let classes = model.output().len();
    let mut labels: Vec<String> = model.labels().map(String::from).collect();
    labels.truncate(classes);
    while labels.len() < classes {
        labels.push(format!("class {}", labels.len()));
    }
    let mut arena = AlignedBuf::zeroed(model.arena_size());
    let pool = (cfg.threads > 1).then(|| kestrel_runtime::ThreadPool::new(cfg.threads));
    let kernels = kestrel_runtime::kernels::best();
    let start = Instant::now();
    let emit = |sinks: &mut [&mut dyn Sink], at: Instant, e: &Event, labels: &[String]| {
        let t = at.saturating_duration_since(start).as_secs_f64();
        if cfg.log {
            eprintln!("stream: {:7.1}s {}", t, e.line(labels));
        }
        for s in sinks.iter_mut() {
            s.event(t, e, labels);
        }
    };

    let queue = Arc::new(FrameQueue::new(cfg.queue, !cfg.drop_frames));
    let shared = Arc::new(CaptureShared::default());
    let (ev_tx, ev_rx) = mpsc::sync_channel::<(Instant, Event)>(1024);
    let (open_tx, open_rx) = mpsc::sync_channel(1);
    let cap = Capture {
        opener,
        queue: queue.clone(),
        events: ev_tx,
        shared: shared.clone(),
        ext_stop: stop.clone(),
        fps: cfg.fps,
        backoff: cfg.backoff,
    };
    let handle: JoinHandle<()> = std::thread::Builder::new().name("kestrel-capture".into()).spawn(move || cap.run(open_tx))?;
    match open_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let _ = handle.join();
            bail!("{e}");
        }
        Err(_) => bail!("the capture thread died while opening the source"),
    }
    if let Some(n) = pre.conversion_note() {
        emit(sinks, Instant::now(), &Event::Note(n), &labels);
    }

    let tiles = cfg.tiles;
    let n_tiles = tiles.map_or(1, |t| t.len());
    let mut tile_smooth: Vec<Smoother> = (0..n_tiles).map(|_| Smoother::new(cfg.smooth, classes, cfg.hysteresis / 2.0)).collect();
    let mut frame_smooth = Smoother::new(if tiles.is_some() { 1 } else { cfg.smooth }, classes, cfg.hysteresis / 2.0);
    let mut alert_state = vec![AlertState::default(); cfg.alerts.len() * n_tiles];
    let mut rects: Vec<Rect> = Vec::new();
    let mut rect_size = (0, 0);
    let mut out = vec![0f32; classes];
    let mut per_tile: Vec<Vec<f32>> = vec![vec![0f32; classes]; n_tiles];
    let mut frame_scores = vec![0f32; classes];

    let mut total = Stages::default();
    let mut window = Stages::default();
    let (mut frames, mut win_frames) = (0u64, 0u64);
    let (mut stalls, mut win_stalls) = (0u64, 0u64);
    let mut last_counts = (0u64, 0u64, 0u64); // dropped, corrupt, reconnects at the last report
    let mut last_report = start;
    let mut last_frame_at = Instant::now();
    let mut stalled_since: Option<Instant> = None;
    let mut last: Option<FrameResult> = None;
    let mut reason = "ended";
    let mut recent_fps = 0.0f64;

    let status = |stalled: bool| -> &'static str {
        match shared.status.load(Ordering::Relaxed) {
            RECONNECTING => "reconnecting",
            ENDED => "ended",
            _ if stalled => "stalled",
            _ => "live",
        }
    };

    loop {
        while let Ok((at, e)) = ev_rx.try_recv() {
            emit(sinks, at, &e, &labels);
        }
        if stop.load(Ordering::Relaxed) {
            reason = "stopped";
            break;
        }
        if cfg.max_frames.is_some_and(|m| frames >= m) {
            reason = "frames";
            break;
        }
        let now = Instant::now();
        if now.duration_since(last_report) >= cfg.report_every {
            let (d, c, r) = (queue.dropped(), shared.corrupt.load(Ordering::Relaxed), shared.reconnects.load(Ordering::Relaxed));
            let rep = StatsReport {
                at_s: now.duration_since(start).as_secs_f64(),
                period_s: now.duration_since(last_report).as_secs_f64(),
                frames: win_frames,
                dropped: d - last_counts.0,
                corrupt: c - last_counts.1,
                reconnects: r - last_counts.2,
                stalls: win_stalls,
                stages: window.clone(),
                source: status(stalled_since.is_some()),
            };
            recent_fps = rep.fps();
            if cfg.log {
                eprintln!("stream: {}", rep.line());
            }
            for s in sinks.iter_mut() {
                s.stats(&rep, false);
            }
            last_counts = (d, c, r);
            last_report = now;
            window.clear();
            win_frames = 0;
            win_stalls = 0;
        }
        let frame = match queue.pop(Duration::from_millis(50)) {
            Pop::Frame(f) => f,
            Pop::Closed => break,
            Pop::Timeout => {
                let idle = last_frame_at.elapsed();
                if stalled_since.is_none() && idle >= cfg.stall_after {
                    stalled_since = Some(last_frame_at);
                    stalls += 1;
                    win_stalls += 1;
                    emit(sinks, Instant::now(), &Event::Stalled { for_s: idle.as_secs_f64() }, &labels);
                }
                continue;
            }
        };
        last_frame_at = Instant::now();
        if let Some(since) = stalled_since.take() {
            emit(sinks, Instant::now(), &Event::Resumed { after_s: since.elapsed().as_secs_f64() }, &labels);
        }

        // Preprocess and infer, whole frame or tile by tile.
        if (frame.width, frame.height) != rect_size || rects.is_empty() {
            rect_size = (frame.width, frame.height);
            rects = match tiles {
                Some(g) => g.rects(frame.width, frame.height),
                None => vec![Rect::full(&frame)],
            };
        }
        let (mut t_pre, mut t_inf) = (Duration::ZERO, Duration::ZERO);
        let mut failed = None;
        for (i, rect) in rects.iter().enumerate() {
            let t0 = Instant::now();
            let dst = model.input_bytes_mut(arena.as_mut_slice()).map_err(rt)?;
            if let Err(e) = pre.run(&frame, *rect, dst) {
                failed = Some(e);
                break;
            }
            let t1 = Instant::now();
            match &pool {
                Some(p) => model.run_parallel(kernels, p, arena.as_mut_slice()).map_err(rt)?,
                None => model.run(arena.as_mut_slice()).map_err(rt)?,
            }
            model.output_f32(arena.as_slice(), &mut out).map_err(rt)?;
            let t2 = Instant::now();
            t_pre += t1 - t0;
            t_inf += t2 - t1;
            per_tile[i].copy_from_slice(&out);
        }
        if let Some(e) = failed {
            shared.corrupt.fetch_add(1, Ordering::Relaxed);
            emit(sinks, Instant::now(), &Event::Corrupt(format!("frame {}: {e}", frame.seq)), &labels);
            queue.recycle(frame);
            continue;
        }

        // Smooth, label, alert.
        let (raw_tile, raw_label) = {
            let mut best = (0, 0, f32::MIN);
            for (i, s) in per_tile.iter().enumerate() {
                let a = argmax(s);
                if s[a] > best.2 {
                    best = (i, a, s[a]);
                }
            }
            (best.0, best.1)
        };
        let raw_score = per_tile[raw_tile][raw_label];
        let mut tile_results = Vec::new();
        if tiles.is_some() {
            frame_scores.iter_mut().for_each(|v| *v = 0.0);
            for (i, s) in per_tile.iter().enumerate() {
                tile_smooth[i].push(s);
                let sm = tile_smooth[i].scores();
                for (f, v) in frame_scores.iter_mut().zip(sm) {
                    *f = f.max(*v);
                }
                let label = tile_smooth[i].label();
                let g = tiles.unwrap_or(TileGrid { rows: 1, cols: 1, overlap: 0.0 });
                tile_results.push(TileResult {
                    row: i / g.cols,
                    col: i % g.cols,
                    rect: rects[i],
                    label,
                    score: sm[label],
                    scores: sm.to_vec(),
                });
            }
            frame_smooth.push(&frame_scores);
        } else {
            frame_smooth.push(&per_tile[0]);
        }
        let label = frame_smooth.label();
        let scores = frame_smooth.scores().to_vec();
        let mut active = Vec::new();
        for (ri, rule) in cfg.alerts.iter().enumerate() {
            for ti in 0..n_tiles {
                let (score, tile) = match tile_results.get(ti) {
                    Some(t) => (t.scores[rule.class], Some((t.row, t.col))),
                    None => (scores[rule.class], None),
                };
                let alert = Alert { seq: frame.seq, class: rule.class, score, threshold: rule.threshold, tile };
                match alert_state[ri * n_tiles + ti].update(score, rule.threshold, cfg.hysteresis) {
                    Some(true) => emit(sinks, Instant::now(), &Event::AlertRaised(alert.clone()), &labels),
                    Some(false) => emit(sinks, Instant::now(), &Event::AlertCleared(alert.clone()), &labels),
                    None => {}
                }
                if alert_state[ri * n_tiles + ti].active {
                    active.push(alert);
                }
            }
        }
        frames += 1;
        win_frames += 1;
        let result = FrameResult {
            seq: frame.seq,
            index: frames,
            t: frame.captured_at.saturating_duration_since(start).as_secs_f64(),
            label,
            score: scores[label],
            scores,
            raw_label,
            raw_score,
            tiles: tile_results,
            alerts: active,
            ms: [frame.capture_time.as_secs_f64() * 1e3, t_pre.as_secs_f64() * 1e3, t_inf.as_secs_f64() * 1e3],
        };

        // Sinks.
        let heat_class = cfg.alerts.first().map(|a| a.class);
        let image = if sinks.iter().any(|s| s.needs_image(&result)) {
            Some(crate::annotate::render(&frame, &result, &labels, heat_class, recent_fps))
        } else {
            None
        };
        let ctx = FrameCtx { frame: &frame, result: &result, image: image.as_ref(), labels: &labels, heat_class };
        for s in sinks.iter_mut() {
            s.frame(&ctx)?;
        }
        let total_t = frame.captured_at.elapsed();
        for st in [&mut total, &mut window] {
            st.capture.add(frame.capture_time);
            st.preprocess.add(t_pre);
            st.inference.add(t_inf);
            st.total.add(total_t);
        }
        last = Some(result);
        queue.recycle(frame);
    }

    // Shut the capture thread down; a source blocked in a read gets a moment, then is left.
    shared.stop.store(true, Ordering::Relaxed);
    queue.close();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !handle.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if handle.is_finished() {
        let _ = handle.join();
    }
    while let Ok((at, e)) = ev_rx.try_recv() {
        emit(sinks, at, &e, &labels);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let report = StatsReport {
        at_s: elapsed,
        period_s: elapsed,
        frames,
        dropped: queue.dropped(),
        corrupt: shared.corrupt.load(Ordering::Relaxed),
        reconnects: shared.reconnects.load(Ordering::Relaxed),
        stalls,
        stages: total,
        source: status(stalled_since.is_some()),
    };
    if cfg.log {
        eprintln!("stream: summary ({reason}): {}", report.line());
    }
    for s in sinks.iter_mut() {
        s.stats(&report, true);
    }
    Ok(Summary { report, last, reason })
}

fn rt(e: kestrel_runtime::Error) -> anyhow::Error {
    anyhow!("runtime: {e}")
}
