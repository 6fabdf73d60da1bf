//! The training loop: stages of epochs over streamed batches (or cached features), a
//! validation pass and an atomic checkpoint after every epoch, and the run's outputs.
//!
//! RUN_DIR holds `config.json`, `checkpoint.safetensors`, `history.json`, `curves.png`, and
//! at the end `model.onnx`, `labels.txt`, `confusion_matrix.png` and `metrics.json`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::augment::Augment;
use super::checkpoint::{self, Progress};
use super::config::RunConfig;
use super::dataset::{self, Dataset, Split};
use super::head::{self, Built};
use super::history::EpochRecord;
use super::loader::{epoch_order, for_each_batch, mix, stream, Shape};
use super::metrics::{report_table, Confusion};
use super::net::{logits_value, loss_and_correct, Net};
use super::optim::{Kind, Optimizer};
use super::plot;
use kestrel_compiler::ir::ValueId;

/// Progress reporting (a bar on a terminal, nothing in tests).
pub trait Ui {
    /// A new bar of `len` steps.
    fn start(&mut self, len: usize, what: &str);
    /// Advance the bar, with a status message.
    fn tick(&mut self, n: usize, msg: &str);
    /// Remove the bar.
    fn finish(&mut self);
    /// Print a line (above the bar).
    fn line(&mut self, s: &str);
}

/// A silent [`Ui`].
pub struct Quiet;

impl Ui for Quiet {
    fn start(&mut self, _: usize, _: &str) {}
    fn tick(&mut self, _: usize, _: &str) {}
    fn finish(&mut self) {}
    fn line(&mut self, _: &str) {}
}

/// One stage: epochs with one optimizer and one set of frozen layers.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Epochs.
    pub epochs: usize,
    /// Update rule.
    pub kind: Kind,
    /// Initial learning rate.
    pub lr: f64,
    /// Frozen layers.
    pub frozen: BTreeSet<String>,
    /// Train on cached base features (the base must be frozen).
    pub features: bool,
}

/// A run being trained.
pub struct Run {
    /// Settings.
    pub cfg: RunConfig,
    /// Data.
    pub ds: Dataset,
    /// The model and where its base ends.
    pub built: Built,
    /// The network.
    pub net: Net,
    /// Sample shape.
    pub shape: Shape,
    /// Augmentation of training batches.
    pub aug: Augment,
    /// Stages in order.
    pub stages: Vec<Stage>,
    /// Run directory.
    pub out: PathBuf,
}

/// The device: CUDA when built with the `cuda` feature and a GPU is there, else the CPU.
pub fn pick_device() -> Device {
    #[cfg(feature = "cuda")]
    if let Ok(d) = Device::new_cuda(0) {
        return d;
    }
    Device::Cpu
}

/// A line naming the device.
pub fn describe_device(d: &Device) -> String {
    match d {
        Device::Cpu => format!("cpu ({} threads)", candle_core::utils::get_num_threads()),
        other => format!("{other:?}"),
    }
}

/// Open the data of a run and apply `--sample`.
pub fn open_data(cfg: &RunConfig) -> Result<Dataset> {
    let opts = dataset::OpenOptions { validation_split: cfg.validation_split, convert_modes: cfg.convert_modes };
    let mut ds = dataset::open(&cfg.data, &opts)?;
    dataset::check_trainable(&ds)?;
    if let Some(n) = cfg.sample {
        let k = ds.classes.len();
        ds.train = dataset::sample_per_class(&ds.train, n, k, cfg.seed);
        ds.valid = ds.valid.as_ref().map(|v| dataset::sample_per_class(v, n.div_ceil(4).max(1), k, cfg.seed));
    }
    Ok(ds)
}

/// Bytes of activations one training image needs, roughly (forward values, their
/// gradients and the im2col buffers).
pub fn bytes_per_image(g: &kestrel_compiler::ir::Graph) -> usize {
    g.values.iter().map(|v| v.len()).sum::<usize>() * 4 * 4
}

fn mem_available() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line.split_whitespace().nth(1)?.parse::<usize>().ok().map(|kb| kb * 1024)
}

/// Refuse a batch size whose activations can't fit in memory.
pub fn check_batch_memory(g: &kestrel_compiler::ir::Graph, batch: usize) -> Result<()> {
    let need = bytes_per_image(g).saturating_mul(batch);
    if let Some(avail) = mem_available() {
        if need > avail {
            let gib = |b: usize| b as f64 / (1u64 << 30) as f64;
            bail!(
                "batch size {batch} needs about {:.1} GiB for activations, only {:.1} GiB of memory is available: lower --batch-size (at most about {})",
                gib(need),
                gib(avail),
                (avail / bytes_per_image(g).max(1)).max(1)
            );
        }
    }
    Ok(())
}

impl Run {
    /// Build a run from its settings (the stages are set by the caller).
    pub fn new(cfg: RunConfig, out: &Path, device: &Device) -> Result<Run> {
        if cfg.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        if !(cfg.lr > 0.0 && cfg.lr.is_finite()) {
            bail!("--lr must be a positive number");
        }
        let mut aug = Augment::parse(&cfg.augment)?;
        let ds = open_data(&cfg)?;
        let [c, h, w] = cfg.input;
        let built = head::build(&cfg.arch, &cfg.head, c, h, w, ds.classes.len(), cfg.seed)?;
        check_batch_memory(&built.graph, cfg.batch_size)?;
        let mut net = Net::new(built.graph.clone(), device)?;
        net.dropout = built.dropout.clone();
        if cfg.binary(ds.classes.len())? {
            net.make_binary()?;
        }
        let rescale = aug.rescale.take().unwrap_or(cfg.rescale);
        let shape = Shape { c, h, w, rescale };
        let kind = Kind::parse(&cfg.optimizer, cfg.momentum)?;
        let stages = vec![Stage { epochs: cfg.epochs, kind, lr: cfg.lr, frozen: BTreeSet::new(), features: false }];
        Ok(Run { cfg, ds, built, net, shape, aug, stages, out: out.to_path_buf() })
    }

    /// Layers of the convolutional base (everything up to the base output).
    pub fn base_layers(&self) -> BTreeSet<String> {
        let g = &self.built.graph;
        let Some(last) = g.producer(self.built.base_out) else { return BTreeSet::new() };
        g.nodes[..=last].iter().map(|n| n.name.clone()).collect()
    }

    fn stage_of(&self, epoch: usize) -> (usize, usize) {
        let mut start = 0;
        for (i, s) in self.stages.iter().enumerate() {
            if epoch < start + s.epochs {
                return (i, epoch - start);
            }
            start += s.epochs;
        }
        (self.stages.len().saturating_sub(1), 0)
    }

    fn total_epochs(&self) -> usize {
        self.stages.iter().map(|s| s.epochs).sum()
    }

    /// Train from the checkpoint in the run directory (if any) to the last epoch, then
    /// write the outputs.
    pub fn train(&mut self, ui: &mut dyn Ui) -> Result<Progress> {
        std::fs::create_dir_all(&self.out).with_context(|| format!("cannot create {}", self.out.display()))?;
        let ck = self.out.join(checkpoint::FILE);
        let mut progress = Progress::default();
        let mut opt: Option<Optimizer> = None;
        if ck.exists() {
            let l = checkpoint::load(&ck, &self.net.device)?;
            self.net.load_state(&l.model)?;
            progress = l.progress;
            if progress.epoch < self.total_epochs() && !progress.stopped {
                let (si, _) = self.stage_of(progress.epoch);
                if si + 1 == progress.stage {
                    let s = &self.stages[si];
                    let mut o = Optimizer::new(s.kind, s.lr, self.cfg.l2);
                    o.steps = progress.steps;
                    o.state = l.optim;
                    opt = Some(o);
                }
            }
            ui.line(&format!("resuming after epoch {} of {}", progress.epoch, self.total_epochs()));
        }
        let mut features: Option<Features> = None;
        let total = self.total_epochs();
        while progress.epoch < total && !progress.stopped {
            let epoch = progress.epoch;
            let (si, in_stage) = self.stage_of(epoch);
            let stage = self.stages[si].clone();
            self.net.frozen = stage.frozen.clone();
            if in_stage == 0 || opt.is_none() {
                if in_stage == 0 {
                    progress.best_val_loss = None;
                    progress.wait = 0;
                }
                if self.stages.len() > 1 {
                    let trainable = self.net.param_layers().into_iter().filter(|l| !stage.frozen.contains(l)).count();
                    ui.line(&format!(
                        "stage {}: {} epochs, {:?} at lr {:.1e}, {} layers with weights train{}",
                        si + 1,
                        stage.epochs,
                        stage.kind,
                        stage.lr,
                        trainable,
                        if stage.features { " on extracted features" } else { "" }
                    ));
                }
                opt = Some(Optimizer::new(stage.kind, stage.lr, self.cfg.l2));
            }
            let o = opt.as_mut().context("optimizer")?;
            o.lr = stage.lr * self.cfg.lr_decay.powi(in_stage as i32);
            if stage.features && features.is_none() {
                features = Some(self.extract_features(ui)?);
            }
            let feats = if stage.features { features.as_ref() } else { None };
            let t0 = Instant::now();
            let (loss, acc, n, train_secs) = self.train_epoch(epoch, o, feats, ui)?;
            let val = self.validate(feats, ui)?;
            let rec = EpochRecord {
                epoch: epoch + 1,
                stage: si + 1,
                loss,
                accuracy: acc,
                val_loss: val.as_ref().map(|v| v.0),
                val_accuracy: val.as_ref().map(|v| v.1.accuracy() as f32),
                lr: o.lr,
                seconds: t0.elapsed().as_secs_f32(),
                images_per_sec: n as f32 / train_secs.max(1e-9),
            };
            ui.line(&rec.keras_line(total));
            progress.epoch += 1;
            progress.stage = si + 1;
            progress.steps = o.steps;
            if let (Some(p), Some(vl)) = (self.cfg.early_stopping, rec.val_loss) {
                if progress.best_val_loss.is_none_or(|b| vl < b) {
                    progress.best_val_loss = Some(vl);
                    progress.wait = 0;
                } else {
                    progress.wait += 1;
                    if progress.wait >= p {
                        ui.line(&format!("early stopping: no better val_loss for {p} epochs"));
                        progress.stopped = true;
                    }
                }
            }
            progress.history.push(rec);
            checkpoint::save(&ck, &self.net, o, &progress)?;
            self.write_history(&progress)?;
        }
        self.write_outputs(&progress, ui)?;
        Ok(progress)
    }

    fn write_history(&self, p: &Progress) -> Result<()> {
        checkpoint::write_atomic(&self.out.join("history.json"), serde_json::to_string_pretty(&p.history)?.as_bytes())?;
        checkpoint::write_atomic(&self.out.join("curves.png"), &plot::curves_png(&p.history)?)
    }

    fn batch_tensor(&self, x: Vec<f32>, n: usize) -> Result<Tensor> {
        let Shape { c, h, w, .. } = self.shape;
        Ok(Tensor::from_vec(x, (n, c, h, w), &self.net.device)?)
    }

    /// One training epoch: (mean loss, accuracy, images, seconds).
    fn train_epoch(&self, epoch: usize, opt: &mut Optimizer, feats: Option<&Features>, ui: &mut dyn Ui) -> Result<(f32, f32, usize, f32)> {
        let trainable = self.net.trainable();
        let logits_v = logits_value(&self.net.graph);
        let seed = self.cfg.seed;
        let bs = self.cfg.batch_size;
        let n_total = feats.map_or(self.ds.train.len(), |f| f.train_y.len());
        let order = epoch_order(n_total, seed, epoch);
        let (mut sum_loss, mut correct, mut seen, mut batch_i) = (0f64, 0usize, 0usize, 0u64);
        ui.start(n_total, &format!("epoch {}", epoch + 1));
        let t0 = Instant::now();
        let mut step = |x: Tensor, start: ValueId, y: Vec<u32>| -> Result<()> {
            let n = y.len();
            let yt = Tensor::from_vec(y, n, &self.net.device)?;
            let mut rng = StdRng::seed_from_u64(mix(&[seed, stream::DROPOUT, epoch as u64, batch_i]));
            batch_i += 1;
            let logits = self.net.forward_from(start, &x, logits_v, true, &mut rng)?;
            let (loss, c) = loss_and_correct(&logits, &yt)?;
            let l = loss.to_scalar::<f32>()?;
            if !l.is_finite() {
                bail!("the loss diverged (it is {l}) at epoch {}: lower --lr", epoch + 1);
            }
            let grads = loss.backward()?;
            opt.step(&trainable, &grads)?;
            sum_loss += l as f64 * n as f64;
            correct += c;
            seen += n;
            ui.tick(n, &format!("loss: {:.4} - accuracy: {:.4}", sum_loss / seen as f64, correct as f64 / seen as f64));
            Ok(())
        };
        match feats {
            Some(f) => {
                for ids in order.chunks(bs) {
                    let idx = Tensor::from_vec(ids.iter().map(|&i| i as u32).collect::<Vec<_>>(), ids.len(), &self.net.device)?;
                    let y = ids.iter().map(|&i| f.train_y[i]).collect();
                    step(f.train_x.index_select(&idx, 0)?, f.start, y)?;
                }
            }
            None => {
                let aug = self.aug.is_active().then_some((&self.aug, seed, epoch));
                for_each_batch(&self.ds, &self.ds.train, &order, bs, self.shape, aug, |b| {
                    let x = self.batch_tensor(b.x, b.n)?;
                    step(x, self.net.graph.input, b.y)
                })?;
            }
        }
        ui.finish();
        if seen == 0 {
            bail!("no training image could be decoded");
        }
        Ok(((sum_loss / seen as f64) as f32, correct as f32 / seen as f32, seen, t0.elapsed().as_secs_f32()))
    }

    /// Loss and confusion matrix on the validation split (None without one).
    fn validate(&self, feats: Option<&Features>, ui: &mut dyn Ui) -> Result<Option<(f32, Confusion)>> {
        match feats {
            Some(f) if !f.valid_y.is_empty() => {
                let x = f.valid_x.as_ref().context("features")?;
                Ok(Some(evaluate_tensor(&self.net, x, f.start, &f.valid_y, self.cfg.batch_size.max(64), self.ds.classes.len())?))
            }
            Some(_) => Ok(None),
            None => match &self.ds.valid {
                Some(v) if !v.is_empty() => Ok(Some(evaluate_split(&self.net, &self.ds, v, self.shape, self.cfg.batch_size.max(64), ui)?)),
                _ => Ok(None),
            },
        }
    }

    /// Run the frozen base once over the training and validation data.
    fn extract_features(&self, ui: &mut dyn Ui) -> Result<Features> {
        let base_out = self.built.base_out;
        let mut rng = StdRng::seed_from_u64(0);
        let t0 = Instant::now();
        let mut run = |split: &Split| -> Result<(Option<Tensor>, Vec<u32>)> {
            let mut xs = Vec::new();
            let mut ys = Vec::new();
            let order: Vec<usize> = (0..split.len()).collect();
            ui.start(split.len(), &format!("features {}", split.name));
            for_each_batch(&self.ds, split, &order, self.cfg.batch_size.max(16), self.shape, None, |b| {
                let x = self.batch_tensor(b.x, b.n)?;
                xs.push(self.net.forward_from(self.net.graph.input, &x, base_out, false, &mut rng)?);
                ui.tick(b.n, "");
                ys.extend(b.y);
                Ok(())
            })?;
            ui.finish();
            Ok(((!xs.is_empty()).then(|| Tensor::cat(&xs, 0)).transpose()?, ys))
        };
        let (train_x, train_y) = run(&self.ds.train)?;
        let (valid_x, valid_y) = match &self.ds.valid {
            Some(v) => run(v)?,
            None => (None, Vec::new()),
        };
        let n = train_y.len() + valid_y.len();
        let secs = t0.elapsed().as_secs_f32();
        ui.line(&format!("extracted features of {n} images in {secs:.1}s ({:.1} images/s)", n as f32 / secs.max(1e-9)));
        Ok(Features { train_x: train_x.context("no training image could be decoded")?, train_y, valid_x, valid_y, start: base_out })
    }

    /// `model.onnx`, `labels.txt`, the validation confusion matrix and report, `metrics.json`.
    fn write_outputs(&self, p: &Progress, ui: &mut dyn Ui) -> Result<()> {
        let g = self.net.to_graph()?;
        let onnx = kestrel_compiler::onnx::pb_util::encode(&kestrel_compiler::onnx::export::export_float(&g));
        checkpoint::write_atomic(&self.out.join("model.onnx"), &onnx)?;
        checkpoint::write_atomic(&self.out.join("labels.txt"), (self.ds.classes.join("\n") + "\n").as_bytes())?;
        self.write_history(p)?;
        let mut metrics = serde_json::json!({
            "arch": self.cfg.arch,
            "head": self.cfg.head,
            "classes": self.ds.classes,
            "epochs_run": p.epoch,
            "early_stopped": p.stopped,
            "train_images": self.ds.train.len(),
            "last_epoch": p.history.last(),
        });
        if let Some(v) = self.ds.valid.as_ref().filter(|v| !v.is_empty()) {
            let (loss, conf) = evaluate_split(&self.net, &self.ds, v, self.shape, self.cfg.batch_size.max(64), ui)?;
            let report = conf.report(&self.ds.classes);
            ui.line(&format!("validation: loss {loss:.4}, accuracy {:.4} on {} images", conf.accuracy(), conf.total()));
            ui.line(report_table(&report).trim_end());
            checkpoint::write_atomic(
                &self.out.join("confusion_matrix.png"),
                &plot::confusion_png(&conf.m, &self.ds.classes, &format!("validation, accuracy {:.2}%", 100.0 * conf.accuracy()))?,
            )?;
            metrics["validation"] = serde_json::json!({
                "images": conf.total(), "loss": loss, "accuracy": conf.accuracy(),
                "per_class": report, "confusion_matrix": conf.m,
            });
        }
        let corrupt = self.ds.corrupt_list();
        if !corrupt.is_empty() {
            ui.line(&format!("skipped {} unreadable images:", corrupt.len()));
            for (p, why) in &corrupt {
                ui.line(&format!("  {}: {why}", p.display()));
            }
        }
        metrics["skipped_images"] = serde_json::json!(corrupt.iter().map(|(p, w)| serde_json::json!({"path": p, "error": w})).collect::<Vec<_>>());
        checkpoint::write_atomic(&self.out.join("metrics.json"), serde_json::to_string_pretty(&metrics)?.as_bytes())
    }
}

/// Cached outputs of the frozen base.
pub struct Features {
    /// Training features (candle layout of the base output).
    pub train_x: Tensor,
    /// Training labels.
    pub train_y: Vec<u32>,
    /// Validation features.
    pub valid_x: Option<Tensor>,
    /// Validation labels.
    pub valid_y: Vec<u32>,
    /// The value the features are.
    pub start: ValueId,
}

/// Mean loss and confusion matrix of `net` (inference mode) on a split.
pub fn evaluate_split(net: &Net, ds: &Dataset, split: &Split, shape: Shape, batch: usize, ui: &mut dyn Ui) -> Result<(f32, Confusion)> {
    let logits_v = logits_value(&net.graph);
    let k = ds.classes.len();
    let mut conf = Confusion::new(k);
    let mut sum = 0f64;
    let mut rng = StdRng::seed_from_u64(0);
    let order: Vec<usize> = (0..split.len()).collect();
    ui.start(split.len(), &format!("eval {}", split.name));
    for_each_batch(ds, split, &order, batch, shape, None, |b| {
        let x = Tensor::from_vec(b.x, (b.n, shape.c, shape.h, shape.w), &net.device)?;
        let logits = net.forward_from(net.graph.input, &x, logits_v, false, &mut rng)?;
        add_batch(&logits, &b.y, &mut conf, &mut sum)?;
        ui.tick(b.n, "");
        Ok(())
    })?;
    ui.finish();
    Ok(((sum / conf.total().max(1) as f64) as f32, conf))
}

/// Mean loss and confusion matrix of `net` on tensors given at value `start`.
pub fn evaluate_tensor(net: &Net, x: &Tensor, start: ValueId, y: &[u32], batch: usize, k: usize) -> Result<(f32, Confusion)> {
    let logits_v = logits_value(&net.graph);
    let mut conf = Confusion::new(k);
    let mut sum = 0f64;
    let mut rng = StdRng::seed_from_u64(0);
    for i in (0..y.len()).step_by(batch) {
        let n = batch.min(y.len() - i);
        let logits = net.forward_from(start, &x.narrow(0, i, n)?, logits_v, false, &mut rng)?;
        add_batch(&logits, &y[i..i + n], &mut conf, &mut sum)?;
    }
    Ok(((sum / conf.total().max(1) as f64) as f32, conf))
}

fn add_batch(logits: &Tensor, y: &[u32], conf: &mut Confusion, sum: &mut f64) -> Result<()> {
    let yt = Tensor::from_vec(y.to_vec(), y.len(), logits.device())?;
    let loss = candle_nn::loss::cross_entropy(logits, &yt)?.to_scalar::<f32>()?;
    *sum += loss as f64 * y.len() as f64;
    let pred = logits.argmax(1)?.to_vec1::<u32>()?;
    for (t, p) in y.iter().zip(pred) {
        conf.add(*t as usize, p as usize);
    }
    Ok(())
}
