//! Classifying one frame: preprocess and infer the whole frame or each tile, smooth the
//! scores per tile and over the frame, and update the alerts. Buffers, smoothers and alert
//! states live from frame to frame; a frame allocates only what its [`FrameResult`] holds.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use kestrel_runtime::kernels::Kernels;
use kestrel_runtime::{AlignedBuf, Model, ThreadPool};

use crate::pipeline::{Alert, Config, Event, FrameResult, TileResult};
use crate::preprocess::{Preprocessor, Rect};
use crate::smooth::{argmax, AlertRule, AlertState, Smoother};
use crate::tiles::TileGrid;
use crate::Frame;

/// What the pipeline keeps from frame to frame to classify the next one.
pub(crate) struct Classifier<'a> {
    model: Model<'a>,
    pre: Preprocessor,
    arena: AlignedBuf,
    pool: Option<ThreadPool>,
    kernels: &'static Kernels,
    tiles: Option<TileGrid>,
    /// The tiles of the last frame size (the whole frame when not tiled).
    rects: Vec<Rect>,
    rect_size: (u32, u32),
    /// The model's output for one region.
    out: Vec<f32>,
    /// Raw scores per region, row by row.
    per_tile: Vec<Vec<f32>>,
    tile_smooth: Vec<Smoother>,
    /// Tiled: the per-class maximum of the smoothed tile scores.
    frame_scores: Vec<f32>,
    frame_smooth: Smoother,
    alerts: &'a [AlertRule],
    hysteresis: f32,
    /// Per rule, per tile (rule-major).
    alert_state: Vec<AlertState>,
    /// Preprocess and inference time of the last frame, all regions.
    times: (Duration, Duration),
}

impl<'a> Classifier<'a> {
    /// Everything `cfg` needs to classify frames for `model`; an error when frames can't
    /// feed its input.
    pub fn new(model: &Model<'a>, cfg: &'a Config) -> Result<Classifier<'a>> {
        let pre = Preprocessor::new(model).map_err(|e| anyhow!(e))?;
        let classes = model.output().len();
        let arena = AlignedBuf::zeroed(model.arena_size());
        // More threads than cores only adds switching (`kestrel stream` says so and clamps).
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = cfg.threads.min(cores);
        let pool = (threads > 1).then(|| ThreadPool::new(threads));
        let n_tiles = cfg.tiles.map_or(1, |t| t.len());
        let margin = cfg.hysteresis / 2.0;
        Ok(Classifier {
            model: *model,
            pre,
            arena,
            pool,
            kernels: kestrel_runtime::kernels::best(),
            tiles: cfg.tiles,
            rects: Vec::new(),
            rect_size: (0, 0),
            out: vec![0f32; classes],
            per_tile: vec![vec![0f32; classes]; n_tiles],
            tile_smooth: (0..n_tiles).map(|_| Smoother::new(cfg.smooth, classes, margin)).collect(),
            frame_scores: vec![0f32; classes],
            frame_smooth: Smoother::new(if cfg.tiles.is_some() { 1 } else { cfg.smooth }, classes, margin),
            alerts: &cfg.alerts,
            hysteresis: cfg.hysteresis,
            alert_state: vec![AlertState::default(); cfg.alerts.len() * n_tiles],
            times: (Duration::ZERO, Duration::ZERO),
        })
    }

    /// A note about the channel conversion the preprocessor does, if any.
    pub fn conversion_note(&self) -> Option<String> {
        self.pre.conversion_note()
    }

    /// Preprocess and inference time of the last classified frame.
    pub fn times(&self) -> (Duration, Duration) {
        self.times
    }

    /// Classify `frame`, the `index`-th processed one (`start`: when the pipeline started).
    /// Alerts raised or cleared go to `event` as they happen. The inner error: the frame
    /// could not be preprocessed (a corrupt frame, survived); the outer one: the runtime failed.
    pub fn classify(
        &mut self,
        frame: &Frame,
        index: u64,
        start: Instant,
        event: &mut dyn FnMut(&Event),
    ) -> Result<Result<FrameResult, String>> {
        if let Err(e) = self.infer(frame)? {
            return Ok(Err(e));
        }
        let (raw_label, raw_score) = self.raw_best();
        let tiles = self.smooth();
        let label = self.frame_smooth.label();
        let scores = self.frame_smooth.scores().to_vec();
        let alerts = self.update_alerts(frame.seq, &scores, &tiles, event);
        let (t_pre, t_inf) = self.times;
        Ok(Ok(FrameResult {
            seq: frame.seq,
            index,
            t: frame.captured_at.saturating_duration_since(start).as_secs_f64(),
            label,
            score: scores[label],
            scores,
            raw_label,
            raw_score,
            tiles,
            alerts,
            ms: [frame.capture_time.as_secs_f64() * 1e3, t_pre.as_secs_f64() * 1e3, t_inf.as_secs_f64() * 1e3],
        }))
    }

    /// Preprocess and run the model on every region, into `per_tile` (and `times`).
    fn infer(&mut self, frame: &Frame) -> Result<Result<(), String>> {
        if (frame.width, frame.height) != self.rect_size || self.rects.is_empty() {
            self.rect_size = (frame.width, frame.height);
            self.rects = match self.tiles {
                Some(g) => g.rects(frame.width, frame.height),
                None => vec![Rect::full(frame)],
            };
        }
        let model = &self.model;
        let arena = self.arena.as_mut_slice();
        let (mut t_pre, mut t_inf) = (Duration::ZERO, Duration::ZERO);
        for (rect, scores) in self.rects.iter().zip(&mut self.per_tile) {
            let t0 = Instant::now();
            let dst = model.input_bytes_mut(arena).map_err(rt)?;
            if let Err(e) = self.pre.run(frame, *rect, dst) {
                return Ok(Err(e));
            }
            let t1 = Instant::now();
            match &self.pool {
                Some(p) => model.run_parallel(self.kernels, p, arena).map_err(rt)?,
                None => model.run(arena).map_err(rt)?,
            }
            model.output_f32(arena, &mut self.out).map_err(rt)?;
            let t2 = Instant::now();
            t_pre += t1 - t0;
            t_inf += t2 - t1;
            scores.copy_from_slice(&self.out);
        }
        self.times = (t_pre, t_inf);
        Ok(Ok(()))
    }

    /// The frame's own top class and score before smoothing (tiled: of the best tile).
    fn raw_best(&self) -> (usize, f32) {
        let mut best = (0, 0, f32::MIN);
        for (i, s) in self.per_tile.iter().enumerate() {
            let a = argmax(s);
            if s[a] > best.2 {
                best = (i, a, s[a]);
            }
        }
        (best.1, self.per_tile[best.0][best.1])
    }

    /// Push this frame's scores into the smoothers; the tiles' results (empty when not tiled).
    fn smooth(&mut self) -> Vec<TileResult> {
        let Some(g) = self.tiles else {
            self.frame_smooth.push(&self.per_tile[0]);
            return Vec::new();
        };
        let mut tiles = Vec::new();
        self.frame_scores.iter_mut().for_each(|v| *v = 0.0);
        for (i, (s, smoother)) in self.per_tile.iter().zip(&mut self.tile_smooth).enumerate() {
            smoother.push(s);
            let sm = smoother.scores();
            for (f, v) in self.frame_scores.iter_mut().zip(sm) {
                *f = f.max(*v);
            }
            let label = smoother.label();
            tiles.push(TileResult {
                row: i / g.cols,
                col: i % g.cols,
                rect: self.rects[i],
                label,
                score: sm[label],
                scores: sm.to_vec(),
            });
        }
        self.frame_smooth.push(&self.frame_scores);
        tiles
    }

    /// Update every rule's state on every tile (or the frame); the alerts active now.
    fn update_alerts(&mut self, seq: u64, scores: &[f32], tiles: &[TileResult], event: &mut dyn FnMut(&Event)) -> Vec<Alert> {
        let n_tiles = self.per_tile.len();
        let mut active = Vec::new();
        for (rule, states) in self.alerts.iter().zip(self.alert_state.chunks_mut(n_tiles)) {
            for (ti, state) in states.iter_mut().enumerate() {
                let (score, tile) = match tiles.get(ti) {
                    Some(t) => (t.scores[rule.class], Some((t.row, t.col))),
                    None => (scores[rule.class], None),
                };
                let alert = Alert { seq, class: rule.class, score, threshold: rule.threshold, tile };
                match state.update(score, rule.threshold, self.hysteresis) {
                    Some(true) => event(&Event::AlertRaised(alert.clone())),
                    Some(false) => event(&Event::AlertCleared(alert.clone())),
                    None => {}
                }
                if state.active {
                    active.push(alert);
                }
            }
        }
        active
    }
}

fn rt(e: kestrel_runtime::Error) -> anyhow::Error {
    anyhow!("runtime: {e}")
}
