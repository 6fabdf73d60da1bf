//! Checkpoints: one safetensors file per run, replaced atomically after every epoch
//! (written to a temporary file, synced, renamed over the old one), so a kill at any
//! moment leaves either the previous checkpoint or the new one, never half of one.
//!
//! Tensors: `model.{param}` (parameters and BatchNorm buffers, as [`Net::state`] names
//! them) and `optim.{param}.{slot}` (optimizer state). Metadata `kestrel` holds
//! [`Progress`] as JSON.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::history::EpochRecord;
use super::net::Net;
use super::optim::Optimizer;

/// File name of the checkpoint in a run directory.
pub const FILE: &str = "checkpoint.safetensors";

/// Where a run stands after an epoch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Epochs completed (over all stages).
    pub epoch: usize,
    /// Stage of the last completed epoch.
    pub stage: usize,
    /// Optimizer steps taken in that stage.
    pub steps: u64,
    /// Every epoch so far.
    pub history: Vec<EpochRecord>,
    /// Early stopping: best validation loss seen.
    pub best_val_loss: Option<f32>,
    /// Early stopping: epochs since it improved.
    pub wait: usize,
    /// Early stopping fired.
    pub stopped: bool,
}

/// Write `bytes` to `path` the one safe way ([`kestrel_compiler::output`]): temp file in
/// the same folder, fsync, rename, fsync the folder; never over a directory, device or FIFO.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    kestrel_compiler::output::write_file(path, bytes, &[])
}

/// Save the network, the optimizer and the progress.
pub fn save(path: &Path, net: &Net, opt: &Optimizer, p: &Progress) -> Result<()> {
    let mut tensors: BTreeMap<String, Tensor> = BTreeMap::new();
    for (k, v) in net.state()? {
        tensors.insert(format!("model.{k}"), v);
    }
    for (k, v) in &opt.state {
        tensors.insert(format!("optim.{k}"), v.to_device(&Device::Cpu)?);
    }
    let mut meta = HashMap::new();
    meta.insert("kestrel".to_string(), serde_json::to_string(p)?);
    let bytes = safetensors::serialize(tensors.iter().map(|(k, v)| (k.clone(), v)), Some(meta))
        .map_err(|e| anyhow::anyhow!("cannot serialize the checkpoint: {e}"))?;
    write_atomic(path, &bytes)
}

/// A loaded checkpoint.
pub struct Loaded {
    /// `model.*` tensors without the prefix.
    pub model: BTreeMap<String, Tensor>,
    /// `optim.*` tensors without the prefix.
    pub optim: BTreeMap<String, Tensor>,
    /// Progress.
    pub progress: Progress,
}

/// Read a checkpoint.
pub fn load(path: &Path, device: &Device) -> Result<Loaded> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| anyhow::anyhow!("{}: not a safetensors file: {e}", path.display()))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let progress: Progress = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("kestrel"))
        .map(|s| serde_json::from_str(s))
        .transpose()?
        .with_context(|| format!("{} is not a kestrel checkpoint (no progress metadata)", path.display()))?;
    let mut model = BTreeMap::new();
    let mut optim = BTreeMap::new();
    for (name, view) in st.tensors() {
        let t = candle_core::safetensors::Load::load(&view, device)?;
        if let Some(k) = name.strip_prefix("model.") {
            model.insert(k.to_string(), t);
        } else if let Some(k) = name.strip_prefix("optim.") {
            optim.insert(k.to_string(), t);
        }
    }
    Ok(Loaded { model, optim, progress })
}
