//! The per-epoch record of a run (`history.json`, as Keras' `History.history`) and the
//! Keras-style line printed after each epoch.

use serde::{Deserialize, Serialize};

/// One epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Training stage (1, or 2 for a fine-tuning's second stage).
    #[serde(default = "one")]
    pub stage: usize,
    /// Mean training loss.
    pub loss: f32,
    /// Training accuracy.
    pub accuracy: f32,
    /// Validation loss.
    pub val_loss: Option<f32>,
    /// Validation accuracy.
    pub val_accuracy: Option<f32>,
    /// Learning rate used.
    pub lr: f64,
    /// Wall time of the epoch (training + validation), seconds.
    pub seconds: f32,
    /// Training throughput, images per second.
    pub images_per_sec: f32,
}

fn one() -> usize {
    1
}

impl EpochRecord {
    /// `Epoch 3/12 - 95s - 610 img/s - loss: 0.3012 - accuracy: 0.8912 - val_loss: … - lr: 1.0e-3`.
    pub fn keras_line(&self, epochs: usize) -> String {
        let stage = if self.stage > 1 { format!(" (stage {})", self.stage) } else { String::new() };
        let mut s = format!(
            "Epoch {}/{}{stage} - {:.0}s - {:.0} img/s - loss: {:.4} - accuracy: {:.4}",
            self.epoch, epochs, self.seconds, self.images_per_sec, self.loss, self.accuracy
        );
        if let (Some(l), Some(a)) = (self.val_loss, self.val_accuracy) {
            s += &format!(" - val_loss: {l:.4} - val_accuracy: {a:.4}");
        }
        s + &format!(" - lr: {:.2e}", self.lr)
    }
}
