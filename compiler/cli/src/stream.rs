//! `kestrel stream`: live classification of a camera, a video or stream, a folder of images
//! or the synthetic pattern, with smoothing, alerts, tiles, saved frames and a preview page.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use clap::{Args as ClapArgs, ValueEnum};
use kestrel_stream::{
    AlertRule, Config, JsonLines, PreviewServer, SaveFrames, SaveMode, Sink, SourceOptions, SourceSpec, TileGrid,
};

/// Which frames `--out` keeps.
#[derive(Clone, Copy, ValueEnum)]
enum Save {
    /// Every processed frame.
    All,
    /// Frames with an active alert.
    Alerts,
}

/// Arguments of `kestrel stream`.
#[derive(ClapArgs)]
pub struct Args {
    /// The .kes model
    model: PathBuf,
    /// camera:N | video:PATH_OR_URL (file, rtsp://, http://...) | dir:PATH_OR_GLOB | pattern[:WxH][:dropout]
    #[arg(long)]
    source: String,
    /// Pace the capture to N frames per second (default: as fast as the source delivers)
    #[arg(long)]
    fps: Option<f64>,
    /// Classify ROWSxCOLS tiles of each frame (e.g. 3x4) instead of the whole frame
    #[arg(long)]
    tiles: Option<String>,
    /// Fraction of a tile shared with its neighbours (0 to 0.9)
    #[arg(long, default_value_t = 0.0)]
    overlap: f32,
    /// Moving average over N frames (1: no smoothing)
    #[arg(long, default_value_t = 5)]
    smooth: usize,
    /// An alert clears below its threshold minus this; the label changes when another class leads by half of it
    #[arg(long, default_value_t = 0.1)]
    hysteresis: f32,
    /// Raise an alert when a class's smoothed score reaches P, e.g. --alert damaged>=0.8 (repeatable)
    #[arg(long)]
    alert: Vec<String>,
    /// Write annotated frames (frame_N.jpg; heat_N.png with --tiles) into DIR
    #[arg(long)]
    out: Option<PathBuf>,
    /// Which frames --out writes (default: all)
    #[arg(long, value_enum)]
    save: Option<Save>,
    /// Serve the live preview page on ADDR (e.g. 127.0.0.1:8080)
    #[arg(long)]
    serve: Option<String>,
    /// Stop after N processed frames
    #[arg(long)]
    frames: Option<u64>,
    /// Process every frame (capture waits) instead of the newest-wins queue that drops
    /// frames (a dir: source always waits: a folder is not a camera)
    #[arg(long)]
    every_frame: bool,
    /// Report a stall after this many milliseconds without a frame
    #[arg(long, default_value_t = 2000)]
    stall_ms: u64,
    /// Seconds a video/stream may take to deliver its first frame
    #[arg(long, default_value_t = 10.0)]
    open_timeout: f64,
    /// Threads for the model's big layers
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Classes listed per frame in the JSON lines
    #[arg(long, default_value_t = 3)]
    top: usize,
    /// Leave the per-frame JSON lines out (events and stats only)
    #[arg(long)]
    no_frame_json: bool,
    /// No per-second report on stderr
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    limits: super::ModelLimits,
}

pub fn run(a: Args) -> Result<()> {
    let spec = SourceSpec::parse(&a.source).map_err(|e| anyhow!("--source: {e}"))?;
    let buf = super::read_kes(&a.model)?;
    let m = super::load_model(&a.model, buf.as_slice(), &a.limits)?;
    kestrel_stream::Preprocessor::new(&m).map_err(|e| anyhow!("{}: {e}", a.model.display()))?;
    let mut labels: Vec<String> = m.labels().map(String::from).collect();
    let classes = m.output().len();
    while labels.len() < classes {
        labels.push(labels.len().to_string());
    }
    let tiles = match &a.tiles {
        Some(t) => Some(TileGrid::parse(t, a.overlap).map_err(|e| anyhow!(e))?),
        None => None,
    };
    let alerts = a.alert.iter().map(|s| AlertRule::parse(s, &labels).map_err(|e| anyhow!(e))).collect::<Result<Vec<_>>>()?;
    if a.fps.is_some_and(|f| !(f > 0.0 && f.is_finite())) {
        return Err(anyhow!("--fps must be a positive number"));
    }
    super::args::at_least_one("--smooth", a.smooth)?;
    super::args::at_least_one("--top", a.top)?;
    super::args::in_range("--hysteresis", a.hysteresis as f64, 0.0, 1.0)?;
    super::args::in_range("--overlap", a.overlap as f64, 0.0, 0.9)?;
    super::args::in_range("--open-timeout", a.open_timeout, 0.1, 3600.0)?;
    if a.out.is_none() && a.save.is_some() {
        return Err(anyhow!("--save says which frames --out writes; it needs --out DIR"));
    }
    let (threads, clamp_note) = kestrel_compiler::threads::check_threads(a.threads)?;
    if let Some(note) = clamp_note {
        eprintln!("note: {note}");
    }
    let cfg = Config {
        fps: a.fps,
        tiles,
        smooth: a.smooth,
        hysteresis: a.hysteresis,
        alerts,
        max_frames: a.frames,
        stall_after: Duration::from_millis(a.stall_ms.max(1)),
        // A folder is not a camera: nothing is lost by waiting for the classifier.
        drop_frames: !a.every_frame && !matches!(spec, SourceSpec::Dir(_)),
        log: !a.quiet,
        threads,
        ..Config::default()
    };
    let opts = SourceOptions {
        open_timeout: Duration::from_secs_f64(a.open_timeout.max(0.1)),
        read_timeout: Duration::from_secs_f64((a.stall_ms as f64 / 1000.0 * 5.0).max(10.0)),
    };
    let stdout = std::io::stdout();
    let mut json = JsonLines::new(stdout.lock(), a.top);
    if a.no_frame_json {
        json = json.without_frames();
    }
    let mut save = match &a.out {
        Some(d) => Some(SaveFrames::new(d, if matches!(a.save, None | Some(Save::All)) { SaveMode::All } else { SaveMode::Alerts })?),
        None => None,
    };
    let mut preview = match &a.serve {
        Some(addr) => {
            let p = PreviewServer::start(addr)?;
            eprintln!("stream: preview on {}", p.url());
            Some(p)
        }
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let _ = ctrlc::set_handler(move || s2.store(true, Ordering::Relaxed));

    let mut sinks: Vec<&mut dyn Sink> = vec![&mut json];
    if let Some(s) = save.as_mut() {
        sinks.push(s);
    }
    if let Some(p) = preview.as_mut() {
        sinks.push(p);
    }
    let summary = match kestrel_stream::run(&m, spec.opener(&opts), &cfg, &mut sinks, &stop) {
        Ok(s) => s,
        // stdout closed (`kestrel stream ... | head`): a normal way to stop.
        Err(e) if e.to_string() == kestrel_stream::sinks::OUTPUT_CLOSED => return Ok(()),
        Err(e) => return Err(e),
    };
    drop(sinks);
    if let (Some(p), "ended") = (preview.as_mut(), summary.reason) {
        eprintln!("stream: the source ended; still serving the last frame on {} (Ctrl-C to quit)", p.url());
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    if let Some(p) = preview.as_mut() {
        p.close();
    }
    Ok(())
}
