//! `kestrel-compiler`: the compile path behind `kestrel compile`: ONNX import, the float IR
//! and its passes, int8 post-training quantization, lowering with the arena plan, and the
//! `.kes` and QDQ ONNX writers; the model zoo's graph builders; signing. It builds without
//! Candle (training is `kestrel-train`) and without ONNX Runtime or tract (`kestrel-engines`).

pub mod bounded;
pub mod data;
pub mod ir;
pub mod lower;
pub mod onnx;
pub mod output;
pub mod passes;
pub mod pipeline;
pub mod plan;
pub mod quant;
pub mod signing;
pub mod threads;
pub mod zoo;
