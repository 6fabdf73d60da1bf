//! `kestrel-stream`: live inference on a device with an operating system.
//!
//! ```text
//! FrameSource ──capture thread──► FrameQueue (bounded, newest wins, drops counted)
//!    camera / video / dir / pattern          │
//!                                            ▼
//!   Preprocessor: resize (stretch | center crop | letterbox, as the .kes says) + normalize
//!                 + quantize, fused, straight into the model's int8 input in the arena
//!                                            ▼
//!   kestrel-runtime ──► Smoother (moving average over N frames, hysteresis) ──► alerts
//!                                            ▼
//!   sinks: JSON lines · annotated frames / heat maps in a folder · the preview page (MJPEG)
//! ```
//!
//! Image decoding, the HTTP server and the camera live here, never in `runtime/core`.
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod annotate;
mod capture;
mod classify;
pub mod font;
pub mod frame;
mod health;
pub mod pipeline;
pub mod preprocess;
pub mod preview;
pub mod queue;
pub mod sinks;
pub mod smooth;
pub mod source;
pub mod stats;
pub mod tiles;

pub use frame::Frame;
pub use pipeline::{run, Config, Event, FrameResult, Summary, TileResult};
pub use preprocess::Preprocessor;
pub use preview::PreviewServer;
pub use sinks::{JsonLines, SaveFrames, SaveMode, Sink};
pub use smooth::{AlertRule, Smoother};
pub use source::{FrameSource, Opener, SourceError, SourceOptions, SourceSpec};
pub use stats::{Hist, StatsReport};
pub use tiles::TileGrid;
