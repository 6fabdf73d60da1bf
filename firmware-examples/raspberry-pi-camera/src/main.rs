//! Raspberry Pi live camera: the camera's frames → the `.kes` → smoothed labels and alerts,
//! served on the preview page (MJPEG of annotated frames + live labels).
//!
//! ```text
//! pi-camera MODEL.kes [--camera N] [--serve 0.0.0.0:8080] [--fps N] [--alert CLASS>=P] [--threads N]
//! pi-camera MODEL.kes --test-mode N      # synthetic source, N frames, preview on 127.0.0.1:0
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use kestrel_runtime::Model;
use kestrel_stream::source::PatternConfig;
use kestrel_stream::{AlertRule, Config, JsonLines, PreviewServer, SourceOptions, SourceSpec};

struct Args {
    model: PathBuf,
    camera: u32,
    serve: String,
    fps: Option<f64>,
    alert: Option<String>,
    threads: usize,
    test_frames: Option<u64>,
}

fn parse() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    let mut a = Args { model: PathBuf::new(), camera: 0, serve: "0.0.0.0:8080".into(), fps: None, alert: None, threads: 4, test_frames: None };
    let mut model = None;
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| anyhow!("{k} needs a value"));
        match k.as_str() {
            "--camera" => a.camera = v()?.parse().context("--camera")?,
            "--serve" => a.serve = v()?,
            "--fps" => a.fps = Some(v()?.parse().context("--fps")?),
            "--alert" => a.alert = Some(v()?),
            "--threads" => a.threads = v()?.parse().context("--threads")?,
            "--test-mode" => a.test_frames = Some(v()?.parse().context("--test-mode")?),
            "-h" | "--help" => {
                println!("usage: pi-camera MODEL.kes [--camera N] [--serve ADDR] [--fps N] [--alert CLASS>=P] [--threads N] [--test-mode FRAMES]");
                std::process::exit(0);
            }
            s if s.starts_with('-') => bail!("unknown option {s}"),
            s => model = Some(PathBuf::from(s)),
        }
    }
    a.model = model.ok_or_else(|| anyhow!("give the .kes model (see --help)"))?;
    Ok(a)
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let a = parse()?;
    let buf = kestrel_runtime::AlignedBuf::read(&a.model).with_context(|| format!("cannot read {}", a.model.display()))?;
    let model = Model::load(buf.as_slice()).map_err(|e| anyhow!("{}: {e}", a.model.display()))?;
    let labels: Vec<String> = model.labels().map(String::from).collect();
    let (spec, serve) = match a.test_frames {
        Some(_) => (SourceSpec::Pattern(PatternConfig { width: 320, height: 240, ..PatternConfig::default() }), "127.0.0.1:0".to_string()),
        None => (SourceSpec::Camera(a.camera), a.serve.clone()),
    };
    let cfg = Config {
        fps: a.fps,
        alerts: a.alert.iter().map(|s| AlertRule::parse(s, &labels).map_err(|e| anyhow!(e))).collect::<Result<_>>()?,
        max_frames: a.test_frames,
        threads: a.threads.max(1),
        log: true,
        ..Config::default()
    };
    let mut preview = PreviewServer::start(&serve)?;
    eprintln!("pi-camera: {} on {} (preview {})", a.model.display(), spec, preview.url());
    let mut events = JsonLines::new(std::io::stdout().lock(), 3).without_frames();
    let stop = Arc::new(AtomicBool::new(false));
    let s = kestrel_stream::run(&model, spec.opener(&SourceOptions::default()), &cfg, &mut [&mut preview, &mut events], &stop)?;
    stop.store(true, Ordering::Relaxed);
    preview.close();
    if let Some(n) = a.test_frames {
        if s.report.frames != n {
            bail!("test mode: {} of {n} frames processed", s.report.frames);
        }
        let last = s.last.as_ref().map(|r| labels.get(r.label).cloned().unwrap_or_default()).unwrap_or_default();
        println!("pi-camera test mode: {n} frames, {:.1} fps, last label {last}", s.report.fps());
    }
    Ok(())
}
