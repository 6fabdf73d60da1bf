//! `kestrel finetune`: the two-stage recipe on a pretrained base (VGG16 …).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args as ClapArgs;
use kestrel_train::config::{FinetuneConfig, RunConfig};
use kestrel_train::trainer::{self, Run, Ui};
use kestrel_train::{finetune, weights};

use super::train::{input_shape, print_header, read_config, start_and_train, Bar};

/// Arguments of `kestrel finetune`.
#[derive(ClapArgs)]
pub struct Args {
    /// Architecture of the base (vgg16, or any training architecture)
    #[arg(long, default_value = "vgg16")]
    arch: String,
    /// Pretrained weights: .onnx (e.g. the ONNX model zoo's VGG16) or .safetensors
    /// (torchvision `features.N.weight`, Keras `block1_conv1` names, or a kestrel checkpoint)
    #[arg(long, required_unless_present = "resume")]
    weights: Option<PathBuf>,
    /// Dataset in the Keras folder layout (or IDX files)
    #[arg(long, required_unless_present = "resume")]
    data: Option<PathBuf>,
    /// New classifier head, e.g. flatten,dense:256,relu,dropout:0.5,dense:N
    #[arg(long)]
    head: Option<String>,
    /// Input height and width (default: 150 for vgg16)
    #[arg(long)]
    input_size: Option<usize>,
    /// Input channels, 1 or 3 (default: those of the weights' first convolution; images
    /// of the other mode need --convert-modes)
    #[arg(long)]
    channels: Option<usize>,
    /// Stage 1 epochs: the base frozen, the head trains
    #[arg(long, default_value_t = 10)]
    stage1_epochs: usize,
    /// Stage 2 epochs: the --unfreeze blocks train with the head (momentum SGD)
    #[arg(long, default_value_t = 0)]
    stage2_epochs: usize,
    /// Layer-name prefixes to unfreeze in stage 2 (comma separated)
    #[arg(long, value_delimiter = ',', default_value = "block5")]
    unfreeze: Vec<String>,
    /// Stage 2 learning rate (SGD, momentum 0.9)
    #[arg(long, default_value_t = 1e-4)]
    stage2_lr: f64,
    /// Stage 1 learning rate
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Stage 1 optimizer: sgd, momentum, adam, rmsprop
    #[arg(long, default_value = "adam")]
    optimizer: String,
    /// Stage 1 trains on features the frozen base computes once (no augmentation)
    #[arg(long)]
    extract_features: bool,
    /// Batch size
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Augmentation, e.g. shear=0.2,zoom=0.2,hflip
    #[arg(long, default_value = "")]
    augment: String,
    /// Pixel scale (Keras rescale)
    #[arg(long, default_value_t = 1.0 / 255.0)]
    rescale: f32,
    /// L2 regularization factor on conv and dense weights
    #[arg(long, default_value_t = 0.0)]
    l2: f64,
    /// Seed
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Train on at most N images per class
    #[arg(long)]
    sample: Option<usize>,
    /// Validation fraction when the data has no valid/ split
    #[arg(long, default_value_t = 0.1)]
    validation_split: f32,
    /// Accept images of mixed color modes
    #[arg(long)]
    convert_modes: bool,
    /// Loss: auto (binary cross-entropy with a sigmoid head for two classes; categorical
    /// otherwise), categorical, binary
    #[arg(long, default_value = "auto")]
    loss: String,
    /// Run directory (must not exist)
    #[arg(long, required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// Continue the run in this directory
    #[arg(long, conflicts_with_all = ["data", "weights", "out"])]
    resume: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let device = trainer::pick_device();
    // The weights' layers of a new run, read once: their first conv gives the default channels.
    let (cfg, out, layers) = match &a.resume {
        Some(dir) => {
            let cfg = read_config(dir)?;
            if cfg.finetune.is_none() {
                bail!("{} is a training run; continue it with kestrel train --resume", dir.display());
            }
            (cfg, dir.clone(), None)
        }
        None => {
            super::args::rescale(a.rescale)?;
            super::args::in_range("--validation-split", a.validation_split as f64, 0.0, 0.9)?;
            let data = a.data.clone().unwrap_or_default();
            let weights = a.weights.clone().unwrap_or_default();
            let layers = weights::read_layers(&weights)?;
            let channels = a.channels.unwrap_or_else(|| weights::input_channels(&layers).unwrap_or(3));
            let input = input_shape(&a.arch, &data, a.input_size, Some(channels), a.convert_modes)?;
            let head = a.head.clone().unwrap_or_else(|| kestrel_compiler::zoo::train_defaults(&a.arch).map(|d| d.1.to_string()).unwrap_or_default());
            if a.stage1_epochs + a.stage2_epochs == 0 {
                bail!("--stage1-epochs and --stage2-epochs are both 0: nothing to train");
            }
            if a.extract_features && !a.augment.is_empty() {
                bail!("--extract-features computes the base's features once, so it can't use --augment");
            }
            let cfg = RunConfig {
                data,
                arch: a.arch.clone(),
                head,
                input,
                epochs: a.stage1_epochs,
                batch_size: a.batch_size,
                lr: a.lr,
                optimizer: a.optimizer.clone(),
                momentum: 0.9,
                lr_decay: 1.0,
                l2: a.l2,
                augment: a.augment.clone(),
                rescale: a.rescale,
                seed: a.seed,
                sample: a.sample,
                validation_split: a.validation_split,
                early_stopping: None,
                convert_modes: a.convert_modes,
                loss: a.loss.clone(),
                finetune: Some(FinetuneConfig {
                    weights,
                    stage2_epochs: a.stage2_epochs,
                    unfreeze: a.unfreeze.clone(),
                    stage2_lr: a.stage2_lr,
                    extract_features: a.extract_features,
                }),
            };
            (cfg, a.out.clone().unwrap_or_default(), Some(layers))
        }
    };
    let mut run = Run::new(cfg.clone(), &out, &device)?;
    let report = match &layers {
        Some(l) => finetune::setup_with(&mut run, l)?,
        None => finetune::setup(&mut run)?,
    };
    let mut ui = Bar::new();
    let p = start_and_train(&mut run, &cfg, &out, a.resume.is_some(), |run| {
        print_header(run, &device, &mut ui);
        ui.line(&format!(
            "weights: {} layers loaded from {} (matched by {}){}",
            report.loaded.len(),
            cfg.finetune.as_ref().map(|f| f.weights.display().to_string()).unwrap_or_default(),
            report.matched_by,
            if report.ignored.is_empty() { String::new() } else { format!("; ignored: {}", report.ignored.join(", ")) }
        ));
        run.train(&mut ui)
    })?;
    ui.line(&format!("wrote {} (model.onnx, labels.txt, history.json, curves.png, confusion_matrix.png, metrics.json) after {} epochs", out.display(), p.epoch));
    Ok(())
}
