//! The settings of a run, saved as `RUN_DIR/config.json` so `--resume RUN_DIR` rebuilds
//! exactly the same run.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything that decides what a run computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Dataset folder or IDX file.
    pub data: PathBuf,
    /// Zoo architecture.
    pub arch: String,
    /// Head spec.
    pub head: String,
    /// Input channels, height, width.
    pub input: [usize; 3],
    /// Epochs of the first (or only) stage.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Learning rate of the first stage.
    pub lr: f64,
    /// Optimizer of the first stage: sgd, momentum, adam, rmsprop.
    pub optimizer: String,
    /// Momentum of the `momentum` optimizer.
    pub momentum: f64,
    /// Learning rate multiplier applied after every epoch (1 = constant).
    pub lr_decay: f64,
    /// L2 factor on conv and dense weights.
    pub l2: f64,
    /// Augmentation spec.
    pub augment: String,
    /// Pixel scale.
    pub rescale: f32,
    /// Seed of weights, shuffling, augmentation and dropout.
    pub seed: u64,
    /// Samples per class kept (quick checks).
    pub sample: Option<usize>,
    /// Validation fraction held out when the data has no validation split.
    pub validation_split: f32,
    /// Stop after this many epochs without a better validation loss.
    pub early_stopping: Option<usize>,
    /// Accept mixed color modes.
    pub convert_modes: bool,
    /// Loss: `auto` (binary for two classes, else categorical), `categorical`, `binary`.
    /// Runs saved before this setting existed trained categorically.
    #[serde(default = "categorical")]
    pub loss: String,
    /// Fine-tuning settings (`kestrel finetune`).
    pub finetune: Option<FinetuneConfig>,
}

/// The second half of the course's recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneConfig {
    /// Pretrained weights (ONNX or safetensors).
    pub weights: PathBuf,
    /// Epochs of stage 2 (0: only the head trains).
    pub stage2_epochs: usize,
    /// Layer-name prefixes unfrozen in stage 2 (e.g. `block5`).
    pub unfreeze: Vec<String>,
    /// Learning rate of stage 2 (momentum SGD, μ 0.9).
    pub stage2_lr: f64,
    /// Stage 1 trains the head on features the frozen base computed once.
    pub extract_features: bool,
}

fn categorical() -> String {
    "categorical".into()
}

impl RunConfig {
    /// Whether the run trains a binary sigmoid head (binary cross-entropy) for `classes`.
    pub fn binary(&self, classes: usize) -> anyhow::Result<bool> {
        match self.loss.as_str() {
            "auto" => Ok(classes == 2),
            "categorical" => Ok(false),
            "binary" if classes == 2 => Ok(true),
            "binary" => anyhow::bail!("--loss binary needs exactly two classes; the data has {classes}"),
            other => anyhow::bail!("--loss {other}: use auto, categorical or binary"),
        }
    }
}

impl RunConfig {
    /// Epochs over all stages.
    pub fn total_epochs(&self) -> usize {
        self.epochs + self.finetune.as_ref().map_or(0, |f| f.stage2_epochs)
    }
}
