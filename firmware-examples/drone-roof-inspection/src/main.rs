//! Drone roof inspection: every frame of a video file or stream is cut into overlapping
//! tiles, each tile is classified by the `.kes`, and every tile whose smoothed score for the
//! alert class reaches the threshold is written as a JSON line
//! `{"frame", "time", "tile", "class", "score"}`; the frames with alerts are saved as
//! heat-map overlays (`heat_NNNNNN.png`) in the output folder.
//!
//! ```text
//! drone-roof-inspection MODEL.kes --source video:flight.mp4|video:rtsp://drone/live
//!     --alert damaged>=0.8 [--tiles 3x4] [--overlap 0.2] [--smooth 3] [--out DIR] [--frames N]
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use kestrel_runtime::Model;
use kestrel_stream::pipeline::class_name;
use kestrel_stream::sinks::FrameCtx;
use kestrel_stream::{AlertRule, Config, SaveFrames, SaveMode, Sink, SourceOptions, SourceSpec, TileGrid};

struct Args {
    model: PathBuf,
    source: String,
    alert: String,
    tiles: String,
    overlap: f32,
    smooth: usize,
    out: PathBuf,
    frames: Option<u64>,
}

fn parse() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        model: PathBuf::new(),
        source: String::new(),
        alert: String::new(),
        tiles: "3x4".into(),
        overlap: 0.2,
        smooth: 3,
        out: PathBuf::from("inspection"),
        frames: None,
    };
    let mut model = None;
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| anyhow!("{k} needs a value"));
        match k.as_str() {
            "--source" => a.source = v()?,
            "--alert" => a.alert = v()?,
            "--tiles" => a.tiles = v()?,
            "--overlap" => a.overlap = v()?.parse().context("--overlap")?,
            "--smooth" => a.smooth = v()?.parse().context("--smooth")?,
            "--out" => a.out = v()?.into(),
            "--frames" => a.frames = Some(v()?.parse().context("--frames")?),
            "-h" | "--help" => {
                println!("usage: drone-roof-inspection MODEL.kes --source video:PATH_OR_URL --alert CLASS>=P [--tiles RxC] [--overlap F] [--smooth N] [--out DIR] [--frames N]");
                std::process::exit(0);
            }
            s if s.starts_with('-') => bail!("unknown option {s}"),
            s => model = Some(PathBuf::from(s)),
        }
    }
    a.model = model.ok_or_else(|| anyhow!("give the .kes model (see --help)"))?;
    if a.source.is_empty() || a.alert.is_empty() {
        bail!("--source video:PATH_OR_URL and --alert CLASS>=P are required (see --help)");
    }
    Ok(a)
}

/// The video's frame rate from ffprobe (files only), to timestamp frames in video time.
fn video_fps(spec: &SourceSpec) -> Option<f64> {
    let SourceSpec::Video(p) = spec else { return None };
    if p.contains("://") {
        return None;
    }
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=r_frame_rate", "-of", "csv=p=0", p])
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout);
    let (n, d) = s.trim().split_once('/')?;
    let fps = n.parse::<f64>().ok()? / d.parse::<f64>().ok()?;
    (fps.is_finite() && fps > 0.0).then_some(fps)
}

/// One JSON line per alerting tile per frame.
struct AlertLines<W: Write> {
    out: W,
    fps: Option<f64>,
    lines: u64,
}

impl<W: Write> Sink for AlertLines<W> {
    fn frame(&mut self, ctx: &FrameCtx<'_>) -> Result<()> {
        let r = ctx.result;
        let time = match self.fps {
            Some(f) => (r.seq - 1) as f64 / f,
            None => r.t,
        };
        for a in &r.alerts {
            let v = serde_json::json!({
                "frame": r.seq,
                "time": (time * 1000.0).round() / 1000.0,
                "tile": a.tile.map(|(row, col)| [row, col]),
                "class": class_name(ctx.labels, a.class),
                "score": (a.score as f64 * 1000.0).round() / 1000.0,
            });
            writeln!(self.out, "{v}")?;
            self.lines += 1;
        }
        Ok(())
    }
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let a = parse()?;
    let spec = SourceSpec::parse(&a.source).map_err(|e| anyhow!(e))?;
    let buf = kestrel_runtime::AlignedBuf::read(&a.model).with_context(|| format!("cannot read {}", a.model.display()))?;
    let model = Model::load(buf.as_slice()).map_err(|e| anyhow!("{}: {e}", a.model.display()))?;
    let labels: Vec<String> = model.labels().map(String::from).collect();
    let cfg = Config {
        tiles: Some(TileGrid::parse(&a.tiles, a.overlap).map_err(|e| anyhow!(e))?),
        alerts: vec![AlertRule::parse(&a.alert, &labels).map_err(|e| anyhow!(e))?],
        smooth: a.smooth.max(1),
        max_frames: a.frames,
        // A file: inspect every frame. A live stream: the newest frame wins.
        drop_frames: spec.is_live(),
        log: true,
        ..Config::default()
    };
    let mut alerts = AlertLines { out: std::io::stdout().lock(), fps: video_fps(&spec), lines: 0 };
    let mut heat = SaveFrames::new(&a.out, SaveMode::Alerts)?;
    let stop = Arc::new(AtomicBool::new(false));
    let s = kestrel_stream::run(&model, spec.opener(&SourceOptions::default()), &cfg, &mut [&mut alerts, &mut heat], &stop)?;
    eprintln!(
        "drone-roof-inspection: {} frames, {} alert lines, {} heat maps in {}",
        s.report.frames,
        alerts.lines,
        heat.written,
        a.out.display()
    );
    Ok(())
}
