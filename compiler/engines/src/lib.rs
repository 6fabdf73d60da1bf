//! `kestrel-engines`: the peers kestrel is measured against and checked with — ONNX Runtime
//! (through `ort`, loading the library `scripts/setup.sh` installs) and tract — and the
//! benchmark harness behind `kestrel bench`. Behind the CLI's `engines` feature: a
//! deploy-only `kestrel` builds without either engine.

pub mod alloc_count;
pub mod bench;
pub mod engines;

pub use engines::{OrtModel, TractModel};
