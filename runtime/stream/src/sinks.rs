//! Where results go: JSON lines, annotated frames in a folder, the preview page (see
//! [`crate::preview`]), or anything that implements [`Sink`].

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use image::RgbImage;

use crate::pipeline::{class_name, Event, FrameResult};
use crate::stats::{round3, StatsReport};
use crate::Frame;

/// One processed frame as the sinks see it.
pub struct FrameCtx<'a> {
    /// The frame as captured.
    pub frame: &'a Frame,
    /// What the pipeline concluded.
    pub result: &'a FrameResult,
    /// The annotated frame, when a sink asked for it ([`Sink::needs_image`]).
    pub image: Option<&'a RgbImage>,
    /// Class names.
    pub labels: &'a [String],
    /// The class the heat map shows (the first alert's), if any.
    pub heat_class: Option<usize>,
}

/// A consumer of results.
pub trait Sink {
    /// Whether this sink wants the annotated frame for `result` (rendered once per frame
    /// for every sink that asks).
    fn needs_image(&self, _result: &FrameResult) -> bool {
        false
    }
    /// A processed frame. An error stops the pipeline.
    fn frame(&mut self, ctx: &FrameCtx<'_>) -> Result<()>;
    /// Something happened (`t`: seconds since the start).
    fn event(&mut self, _t: f64, _e: &Event, _labels: &[String]) {}
    /// Periodic stats (`last`: the summary of the whole run).
    fn stats(&mut self, _s: &StatsReport, _last: bool) {}
}

/// The error [`JsonLines`] stops the pipeline with when its output is closed.
pub const OUTPUT_CLOSED: &str = "output closed";

/// A frame's result as a JSON object (`top_k` best classes).
pub fn frame_json(r: &FrameResult, labels: &[String], top_k: usize) -> serde_json::Value {
    let mut idx: Vec<usize> = (0..r.scores.len()).collect();
    idx.sort_by(|&a, &b| r.scores[b].total_cmp(&r.scores[a]).then(a.cmp(&b)));
    let top: Vec<serde_json::Value> = idx
        .iter()
        .take(top_k.max(1))
        .map(|&i| serde_json::json!({"label": class_name(labels, i), "score": round3(r.scores[i] as f64)}))
        .collect();
    let mut v = serde_json::json!({
        "type": "frame",
        "frame": r.seq,
        "t": round3(r.t),
        "label": class_name(labels, r.label),
        "score": round3(r.score as f64),
        "raw": {"label": class_name(labels, r.raw_label), "score": round3(r.raw_score as f64)},
        "top": top,
        "alerts": r.alerts.iter().map(|a| a.json(labels)).collect::<Vec<_>>(),
        "ms": {"capture": round3(r.ms[0]), "preprocess": round3(r.ms[1]), "inference": round3(r.ms[2])},
    });
    if !r.tiles.is_empty() {
        v["tiles"] = r
            .tiles
            .iter()
            .map(|t| {
                serde_json::json!({
                    "tile": [t.row, t.col],
                    "rect": [t.rect.x.round(), t.rect.y.round(), t.rect.w.round(), t.rect.h.round()],
                    "label": class_name(labels, t.label),
                    "score": round3(t.score as f64),
                })
            })
            .collect();
    }
    v
}

/// JSON lines: one object per frame (`"type": "frame"`), event (`"event"`), second
/// (`"stats"`) and at the end (`"summary"`).
pub struct JsonLines<W: Write> {
    out: W,
    top_k: usize,
    frames: bool,
}

impl<W: Write> JsonLines<W> {
    /// Write to `out`, listing the `top_k` best classes per frame.
    pub fn new(out: W, top_k: usize) -> JsonLines<W> {
        JsonLines { out, top_k, frames: true }
    }

    /// Leave out the per-frame lines (events and stats only).
    pub fn without_frames(mut self) -> JsonLines<W> {
        self.frames = false;
        self
    }

    fn line(&mut self, v: &serde_json::Value) -> std::io::Result<()> {
        writeln!(self.out, "{v}")?;
        self.out.flush()
    }
}

impl<W: Write> Sink for JsonLines<W> {
    fn frame(&mut self, ctx: &FrameCtx<'_>) -> Result<()> {
        if self.frames {
            let v = frame_json(ctx.result, ctx.labels, self.top_k);
            // A closed stdout (`| head`) ends the run quietly instead of failing it.
            if self.line(&v).is_err() {
                return Err(anyhow::anyhow!(OUTPUT_CLOSED));
            }
        }
        Ok(())
    }
    fn event(&mut self, t: f64, e: &Event, labels: &[String]) {
        let _ = self.line(&e.json(t, labels));
    }
    fn stats(&mut self, s: &StatsReport, last: bool) {
        let _ = self.line(&s.json(if last { "summary" } else { "stats" }));
    }
}

/// Which frames [`SaveFrames`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveMode {
    /// Every processed frame.
    All,
    /// Frames with an active alert.
    Alerts,
}

/// Annotated frames in a folder: `frame_NNNNNN.jpg`, or for tiled inspection the heat-map
/// overlay `heat_NNNNNN.png`.
pub struct SaveFrames {
    dir: PathBuf,
    mode: SaveMode,
    /// Files written so far.
    pub written: u64,
}

impl SaveFrames {
    /// Create `dir` if needed; refuse one that already holds frames (of an earlier run),
    /// which this run would overwrite.
    pub fn new(dir: impl Into<PathBuf>, mode: SaveMode) -> Result<SaveFrames> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let entries = std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
        let mut earlier: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| is_frame_name(n)).collect();
        if !earlier.is_empty() {
            earlier.sort();
            bail!("{} already holds {} saved frame(s) ({} …) that this run would overwrite; choose another --out or move them", dir.display(), earlier.len(), earlier[0]);
        }
        Ok(SaveFrames { dir, mode, written: 0 })
    }
}

/// A file name [`SaveFrames`] writes.
fn is_frame_name(n: &str) -> bool {
    (n.starts_with("frame_") && n.ends_with(".jpg")) || (n.starts_with("heat_") && n.ends_with(".png"))
}

/// Write `bytes` to `path` whole or not at all: a temp file beside it, then a rename.
fn write_whole(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.partial"));
    let r = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

impl Sink for SaveFrames {
    fn needs_image(&self, r: &FrameResult) -> bool {
        self.mode == SaveMode::All || !r.alerts.is_empty()
    }

    fn frame(&mut self, ctx: &FrameCtx<'_>) -> Result<()> {
        let Some(img) = ctx.image else { return Ok(()) };
        if !self.needs_image(ctx.result) {
            return Ok(());
        }
        let path = if ctx.result.tiles.is_empty() {
            self.dir.join(format!("frame_{:06}.jpg", ctx.result.seq))
        } else {
            self.dir.join(format!("heat_{:06}.png", ctx.result.seq))
        };
        let bytes = if ctx.result.tiles.is_empty() {
            crate::annotate::jpeg(img, 90)
        } else {
            let mut png = std::io::Cursor::new(Vec::new());
            img.write_to(&mut png, image::ImageFormat::Png).with_context(|| format!("cannot encode {}", path.display()))?;
            png.into_inner()
        };
        write_whole(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
        self.written += 1;
        Ok(())
    }
}
