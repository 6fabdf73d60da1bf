//! `kestrel train`: train a zoo architecture with a head on a dataset (Candle).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args as ClapArgs;
use indicatif::{ProgressBar, ProgressStyle};
use kestrel_train::config::RunConfig;
use kestrel_train::checkpoint::Progress;
use kestrel_train::trainer::{self, Run, Ui};
use kestrel_train::{checkpoint, dataset};

/// Arguments of `kestrel train`.
#[derive(ClapArgs)]
pub struct Args {
    /// Dataset: a folder in the Keras layout (train/, valid/ or validation/, test/; one
    /// folder per class) or IDX files (a folder with train-images-idx3-ubyte[.gz], or one file)
    #[arg(long, required_unless_present = "resume")]
    data: Option<PathBuf>,
    /// Architecture: mnist_cnn, fashion_cnn, cifar_cnn, vgg16
    #[arg(long, required_unless_present = "resume")]
    arch: Option<String>,
    /// Classifier head, e.g. flatten,dense:256,relu,dropout:0.5,dense:N or gap,dense:N
    /// (N = number of classes; default: the architecture's head)
    #[arg(long)]
    head: Option<String>,
    /// Input height and width (default: 28 for mnist/fashion, 32 for cifar, 150 for vgg16)
    #[arg(long)]
    input_size: Option<usize>,
    /// Input channels (default: 1 if every image is grayscale, else 3)
    #[arg(long)]
    channels: Option<usize>,
    /// Epochs [default: 10; with --resume: the run's, or more to extend it]
    #[arg(long)]
    epochs: Option<usize>,
    /// Batch size
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Learning rate
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Optimizer: sgd, momentum, adam, rmsprop
    #[arg(long, default_value = "adam")]
    optimizer: String,
    /// Momentum of --optimizer momentum
    #[arg(long, default_value_t = 0.9)]
    momentum: f64,
    /// Multiply the learning rate by this after every epoch (1 = constant)
    #[arg(long, default_value_t = 1.0)]
    lr_decay: f64,
    /// Augmentation, e.g. rotation=40,width_shift=0.2,height_shift=0.2,shear=0.2,zoom=0.2,hflip
    #[arg(long, default_value = "")]
    augment: String,
    /// Pixel scale (Keras rescale)
    #[arg(long, default_value_t = 1.0 / 255.0)]
    rescale: f32,
    /// L2 regularization factor on conv and dense weights
    #[arg(long, default_value_t = 0.0)]
    l2: f64,
    /// Seed of weights, shuffling, augmentation and dropout
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Train on at most N images per class (a quick check)
    #[arg(long)]
    sample: Option<usize>,
    /// Fraction of the training data held out for validation when there is no valid/ split
    #[arg(long, default_value_t = 0.1)]
    validation_split: f32,
    /// Stop after this many epochs without a better validation loss
    #[arg(long)]
    early_stopping: Option<usize>,
    /// Accept images of mixed color modes (each converted to the model's channels)
    #[arg(long)]
    convert_modes: bool,
    /// Loss: auto (binary cross-entropy with a sigmoid head for two classes, as the course
    /// does; categorical otherwise), categorical, binary
    #[arg(long, default_value = "auto")]
    loss: String,
    /// Run directory (must not exist)
    #[arg(long, required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// Continue the run in this directory (after an interruption; --epochs may extend it)
    #[arg(long, conflicts_with_all = ["data", "arch", "out"])]
    resume: Option<PathBuf>,
}

/// The progress bar and Keras-style lines of a run.
pub struct Bar {
    pb: Option<ProgressBar>,
}

impl Bar {
    pub fn new() -> Bar {
        Bar { pb: None }
    }
}

impl Ui for Bar {
    fn start(&mut self, len: usize, what: &str) {
        let pb = ProgressBar::new(len as u64);
        if let Ok(s) = ProgressStyle::with_template("{prefix:>10} {pos:>6}/{len:6} [{bar:30}] {elapsed}<{eta} {msg}") {
            pb.set_style(s.progress_chars("=> "));
        }
        pb.set_prefix(what.to_string());
        self.pb = Some(pb);
    }
    fn tick(&mut self, n: usize, msg: &str) {
        if let Some(pb) = &self.pb {
            pb.inc(n as u64);
            if !msg.is_empty() {
                pb.set_message(msg.to_string());
            }
        }
    }
    fn finish(&mut self) {
        if let Some(pb) = self.pb.take() {
            pb.finish_and_clear();
        }
    }
    fn line(&mut self, s: &str) {
        match &self.pb {
            Some(pb) => pb.suspend(|| println!("{s}")),
            None => println!("{s}"),
        }
    }
}

/// Fail if `out` exists and holds anything; else create it. Returns whether it was created.
pub fn check_new_run_dir(out: &Path) -> Result<bool> {
    if out.exists() {
        let empty = out.is_dir() && std::fs::read_dir(out).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !empty {
            bail!("run directory {} exists; pass --resume {} to continue it, or choose another --out", out.display(), out.display());
        }
        return Ok(false);
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    Ok(true)
}

/// Start a new run in `out` (or continue one when `resume`), train it, and on a failure
/// before the first checkpoint take back what the run wrote: a failed start leaves no run
/// directory behind that would refuse the same `--out` and fail `--resume`.
pub fn start_and_train(run: &mut Run, cfg: &RunConfig, out: &Path, resume: bool, go: impl FnOnce(&mut Run) -> Result<Progress>) -> Result<Progress> {
    let created = if resume { false } else { check_new_run_dir(out)? };
    let result = checkpoint::write_atomic(&out.join("config.json"), serde_json::to_string_pretty(cfg)?.as_bytes()).and_then(|()| go(run));
    if result.is_err() && !resume && !out.join(checkpoint::FILE).exists() {
        for f in ["config.json", "history.json", "curves.png"] {
            let _ = std::fs::remove_file(out.join(f));
        }
        if created {
            let _ = std::fs::remove_dir(out);
        }
    }
    result
}

/// Read the config of a run to resume.
pub fn read_config(dir: &Path) -> Result<RunConfig> {
    let p = dir.join("config.json");
    if !p.is_file() {
        bail!("{} is not a run directory (no config.json)", dir.display());
    }
    let s = kestrel_compiler::bounded::read_text(&p, kestrel_compiler::bounded::Kind::Json)?;
    serde_json::from_str(&s).with_context(|| format!("{}: not a kestrel run config", p.display()))
}

/// Channels and size of the input from the options, the architecture and the data.
pub fn input_shape(arch: &str, data: &Path, size: Option<usize>, channels: Option<usize>, convert_modes: bool) -> Result<[usize; 3]> {
    let (default, _) = kestrel_compiler::zoo::train_defaults(arch).with_context(|| {
        format!("unknown architecture '{arch}'; known: {}", kestrel_compiler::zoo::TRAIN_ARCHS.join(", "))
    })?;
    let c = match channels {
        Some(c @ (1 | 3)) => c,
        Some(c) => bail!("--channels must be 1 or 3, not {c}"),
        None => {
            let ds = dataset::open(data, &dataset::OpenOptions { validation_split: 0.0, convert_modes })?;
            ds.channels
        }
    };
    let s = size.unwrap_or(default);
    if s == 0 {
        bail!("--input-size must be positive");
    }
    Ok([c, s, s])
}

pub fn run(a: Args) -> Result<()> {
    let device = trainer::pick_device();
    let (cfg, out) = match &a.resume {
        Some(dir) => {
            let mut cfg = read_config(dir)?;
            if let Some(e) = a.epochs {
                if e < cfg.epochs {
                    bail!("--epochs {e} is fewer than the run's {} epochs", cfg.epochs);
                }
                cfg.epochs = e;
            }
            (cfg, dir.clone())
        }
        None => {
            super::args::rescale(a.rescale)?;
            super::args::in_range("--validation-split", a.validation_split as f64, 0.0, 0.9)?;
            super::args::in_range("--lr", a.lr, 1e-12, 10.0)?;
            let (data, arch, out) = (a.data.clone().unwrap_or_default(), a.arch.clone().unwrap_or_default(), a.out.clone().unwrap_or_default());
            let input = input_shape(&arch, &data, a.input_size, a.channels, a.convert_modes)?;
            let head = a.head.clone().unwrap_or_else(|| kestrel_compiler::zoo::train_defaults(&arch).map(|d| d.1.to_string()).unwrap_or_default());
            let epochs = a.epochs.unwrap_or(10);
            if epochs == 0 {
                bail!("--epochs must be at least 1");
            }
            let cfg = RunConfig {
                data,
                arch,
                head,
                input,
                epochs,
                batch_size: a.batch_size,
                lr: a.lr,
                optimizer: a.optimizer.clone(),
                momentum: a.momentum,
                lr_decay: a.lr_decay,
                l2: a.l2,
                augment: a.augment.clone(),
                rescale: a.rescale,
                seed: a.seed,
                sample: a.sample,
                validation_split: a.validation_split,
                early_stopping: a.early_stopping,
                convert_modes: a.convert_modes,
                loss: a.loss.clone(),
                finetune: None,
            };
            (cfg, out)
        }
    };
    // Build everything (and fail on bad input) before touching the run directory.
    let mut run = Run::new(cfg.clone(), &out, &device)?;
    let mut ui = Bar::new();
    let p = start_and_train(&mut run, &cfg, &out, a.resume.is_some(), |run| {
        print_header(run, &device, &mut ui);
        run.train(&mut ui)
    })?;
    ui.line(&format!("wrote {} (model.onnx, labels.txt, history.json, curves.png, confusion_matrix.png, metrics.json) after {} epochs", out.display(), p.epoch));
    Ok(())
}

/// Device, data and model summary lines.
pub fn print_header(run: &Run, device: &kestrel_train::Device, ui: &mut dyn Ui) {
    let ds = &run.ds;
    let g = &run.net.graph;
    let params: u64 = g.nodes.iter().map(kestrel_compiler::ir::Graph::node_params).sum();
    ui.line(&format!("device: {}", trainer::describe_device(device)));
    ui.line(&format!(
        "data: {} classes; {} training, {} validation images; input {}x{}x{}",
        ds.classes.len(),
        ds.train.len(),
        ds.valid.as_ref().map_or(0, |v| v.len()),
        run.shape.c,
        run.shape.h,
        run.shape.w
    ));
    let empty: Vec<&String> = ds.classes.iter().zip(ds.train.class_counts(ds.classes.len())).filter(|(_, n)| *n == 0).map(|(c, _)| c).collect();
    if !empty.is_empty() {
        ui.line(&format!("warning: no training images for class(es) {}", empty.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")));
    }
    ui.line(&format!("model: {} + {} ({} parameters, {} MACs per image)", run.cfg.arch, run.cfg.head, params, g.macs()));
    ui.line(match &run.net.binary {
        Some(l) => format!("loss: binary cross-entropy on one sigmoid output ({l}); exported as the equivalent two-class softmax"),
        None => "loss: categorical cross-entropy (softmax)".to_string(),
    }
    .as_str());
}
