//! `kestrel-compiler`: ONNX import, graph passes, int8 post-training quantization, and the
//! `.kes` and QDQ ONNX writers behind the `kestrel` CLI.

pub mod ir;
pub mod onnx;
pub mod quant;
pub mod zoo;
pub mod lower;
pub mod passes;
pub mod plan;
pub mod data;
pub mod engines;
pub mod aligned;
pub mod pipeline;
pub mod signing;
pub mod train;
pub mod bench;
pub mod alloc_count;
