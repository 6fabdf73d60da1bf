//! Frame sources: one trait, four kinds (camera, video/stream through ffmpeg, a folder or
//! glob of images, a synthetic test pattern).
//!
//! A source is opened by an [`Opener`]: the pipeline calls it once at the start (a failure
//! there is the user's error) and again, with backoff, whenever the source reports
//! [`SourceError::Disconnected`]. Opening inside the capture thread also lets sources that
//! are not `Send` (some camera backends) work.

use std::time::Duration;

#[cfg(feature = "camera")]
mod camera;
mod dir;
mod ffmpeg;
mod pattern;

pub use dir::DirSource;
pub use ffmpeg::FfmpegSource;
pub use pattern::{Dropout, PatternConfig, PatternSource};

use crate::Frame;

/// Why a source did not deliver a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// No more frames (end of a file or folder). The pipeline ends.
    #[error("end of stream")]
    End,
    /// This frame is unusable (undecodable image, wrong size); the next one may be fine.
    /// The pipeline skips and counts it.
    #[error("corrupt frame: {0}")]
    Corrupt(String),
    /// The source went away (camera unplugged, stream cut, decoder died, no frame for too
    /// long). The pipeline reopens it with backoff and keeps serving its last state.
    #[error("source lost: {0}")]
    Disconnected(String),
    /// The source cannot be opened (bad path, no such camera, stream that does not answer).
    #[error("{0}")]
    Open(String),
}

/// A producer of frames.
pub trait FrameSource {
    /// Fill `frame` (pixels and size; reuse its buffer) with the next frame.
    fn next_frame(&mut self, frame: &mut Frame) -> Result<(), SourceError>;
}

/// Opens (and reopens) a source. Called on the capture thread.
pub type Opener = Box<dyn FnMut() -> Result<Box<dyn FrameSource>, SourceError> + Send>;

/// Knobs shared by the sources.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// How long opening may take before the source counts as not answering (ffmpeg: until
    /// the first frame is decoded).
    pub open_timeout: Duration,
    /// A source that delivers no frame for this long is declared lost and reopened (ffmpeg;
    /// the pipeline reports a stall earlier, see `Config::stall_after`).
    pub read_timeout: Duration,
}

impl Default for SourceOptions {
    fn default() -> SourceOptions {
        SourceOptions { open_timeout: Duration::from_secs(10), read_timeout: Duration::from_secs(10) }
    }
}

/// A parsed `--source` value.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// `camera:N`: the Nth camera (V4L2 `/dev/videoN` on Linux).
    Camera(u32),
    /// `video:PATH_OR_URL`: a file or a network stream (rtsp://, http://, ...) decoded by ffmpeg.
    Video(String),
    /// `dir:PATH`: every .png/.jpg in a folder in name order, or the files a glob matches.
    Dir(String),
    /// `pattern[:WxH][:dropout]`: the synthetic test pattern.
    Pattern(PatternConfig),
}

/// The syntax, for error messages.
pub const SOURCE_SYNTAX: &str = "camera:N, video:PATH_OR_URL, dir:PATH_OR_GLOB or pattern[:WxH][:dropout]";

impl SourceSpec {
    /// Parse `camera:0`, `video:clip.mp4`, `video:rtsp://host/stream`, `dir:photos/`,
    /// `dir:photos/*.jpg`, `pattern`, `pattern:640x480`, `pattern:640x480:dropout`.
    pub fn parse(s: &str) -> Result<SourceSpec, String> {
        let bad = || format!("unknown source {s:?}: use {SOURCE_SYNTAX}");
        let (kind, rest) = match s.split_once(':') {
            Some((k, r)) => (k, Some(r)),
            None => (s, None),
        };
        match (kind, rest) {
            ("camera", Some(i)) => i
                .parse::<u32>()
                .map(SourceSpec::Camera)
                .map_err(|_| format!("camera index {i:?} is not a number (use camera:0, camera:1, ...)")),
            ("video", Some(p)) if !p.is_empty() => Ok(SourceSpec::Video(p.to_string())),
            ("dir", Some(p)) if !p.is_empty() => Ok(SourceSpec::Dir(p.to_string())),
            ("pattern", None) => Ok(SourceSpec::Pattern(PatternConfig::default())),
            ("pattern", Some(opts)) => {
                let mut cfg = PatternConfig::default();
                for part in opts.split(':') {
                    if part == "dropout" {
                        cfg.dropout = Some(Dropout::default());
                    } else if let Some((w, h)) = part.split_once('x') {
                        let (w, h) = (w.parse::<u32>().ok(), h.parse::<u32>().ok());
                        match (w, h) {
                            (Some(w @ 1..=8192), Some(h @ 1..=8192)) => (cfg.width, cfg.height) = (w, h),
                            _ => return Err(format!("pattern size {part:?} must be WxH, 1 to 8192 each")),
                        }
                    } else {
                        return Err(bad());
                    }
                }
                Ok(SourceSpec::Pattern(cfg))
            }
            _ => Err(bad()),
        }
    }

    /// A video path that is a file (not a URL): it ends; a URL is live and is reopened.
    pub fn is_live(&self) -> bool {
        match self {
            SourceSpec::Camera(_) | SourceSpec::Pattern(_) => true,
            SourceSpec::Video(p) => p.contains("://"),
            SourceSpec::Dir(_) => false,
        }
    }

    /// The opener for this source.
    pub fn opener(&self, opts: &SourceOptions) -> Opener {
        match self.clone() {
            SourceSpec::Pattern(cfg) => pattern::opener(cfg),
            SourceSpec::Dir(p) => Box::new(move || Ok(Box::new(DirSource::open(&p)?) as Box<dyn FrameSource>)),
            SourceSpec::Video(p) => {
                let opts = opts.clone();
                Box::new(move || Ok(Box::new(FfmpegSource::open(&p, &opts)?) as Box<dyn FrameSource>))
            }
            SourceSpec::Camera(i) => camera_opener(i),
        }
    }
}

impl std::fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceSpec::Camera(i) => write!(f, "camera:{i}"),
            SourceSpec::Video(p) => write!(f, "video:{p}"),
            SourceSpec::Dir(p) => write!(f, "dir:{p}"),
            SourceSpec::Pattern(c) => {
                write!(f, "pattern:{}x{}", c.width, c.height)?;
                if c.dropout.is_some() {
                    write!(f, ":dropout")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(feature = "camera")]
fn camera_opener(index: u32) -> Opener {
    Box::new(move || Ok(Box::new(camera::CameraSource::open(index)?) as Box<dyn FrameSource>))
}

#[cfg(not(feature = "camera"))]
fn camera_opener(index: u32) -> Opener {
    Box::new(move || {
        Err(SourceError::Open(format!(
            "camera:{index}: this build has no camera support (rebuild with the cargo feature `camera`, which needs libclang-dev)"
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        assert_eq!(SourceSpec::parse("camera:1"), Ok(SourceSpec::Camera(1)));
        assert_eq!(SourceSpec::parse("video:rtsp://h/s"), Ok(SourceSpec::Video("rtsp://h/s".into())));
        assert_eq!(SourceSpec::parse("dir:a/*.png"), Ok(SourceSpec::Dir("a/*.png".into())));
        let SourceSpec::Pattern(p) = SourceSpec::parse("pattern:64x48:dropout").unwrap() else { panic!() };
        assert_eq!((p.width, p.height, p.dropout.is_some()), (64, 48, true));
        assert!(SourceSpec::parse("pattern").is_ok());
        for bad in ["webcam", "camera:x", "video:", "pattern:0x4", "pattern:big", "file:x", ""] {
            assert!(SourceSpec::parse(bad).is_err(), "{bad}");
        }
        assert!(SourceSpec::parse("nope:1").unwrap_err().contains("camera:N"));
        assert!(SourceSpec::Video("http://x/y".into()).is_live());
        assert!(!SourceSpec::Video("clip.mp4".into()).is_live());
    }
}
