//! `kestrel-train`: training and fine-tuning with Candle: datasets (Keras folder layout, IDX), augmentation,
//! the zoo graphs as trainable Candle networks, optimizers, checkpoints and the training
//! loop behind `kestrel train`, `kestrel finetune` and `kestrel eval`.
//!
//! The IR [`kestrel_compiler::ir::Graph`] stays the single description of a model: the zoo builds it,
//! [`net::Net`] runs it in Candle, and the trained weights go back into it for the ONNX
//! export that `kestrel compile` reads.

/// The device training runs on (CPU, or a CUDA GPU with the `cuda` feature).
pub use candle_core::Device;

pub mod augment;
pub mod checkpoint;
pub mod classmap;
pub mod config;
pub mod dataset;
pub mod eval;
pub mod finetune;
pub mod fused;
pub mod head;
pub mod history;
pub mod idx;
pub mod im2col;
pub mod loader;
pub mod metrics;
pub mod net;
pub mod optim;
pub mod plot;
pub mod synth;
pub mod trainer;
pub mod weights;

#[cfg(test)]
mod tests;
