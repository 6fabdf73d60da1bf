//! The course's two-stage fine-tuning recipe on a [`Run`]: load pretrained weights into
//! the convolutional base; stage 1 freezes the base and trains the new head (optionally on
//! features the frozen base computes once); stage 2 unfreezes the named blocks and trains
//! them with the head by momentum SGD (μ 0.9) at a low learning rate.

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};

use super::optim::Kind;
use super::trainer::{Run, Stage};
use super::weights::{self, LoadReport, SrcLayer};

/// Load the pretrained weights and set the two stages of `run` (its config must have
/// `finetune` settings).
pub fn setup(run: &mut Run) -> Result<LoadReport> {
    let path = run.cfg.finetune.as_ref().context("not a fine-tuning run")?.weights.clone();
    setup_with(run, &weights::read_layers(&path)?)
}

/// [`setup`] with the weights file's layers already read (`weights::read_layers` of the
/// config's weights), so a caller that looked at them first doesn't read the file twice.
pub fn setup_with(run: &mut Run, src: &[SrcLayer]) -> Result<LoadReport> {
    let ft = run.cfg.finetune.clone().context("not a fine-tuning run")?;
    let g = &run.built.graph;
    let last = g.producer(run.built.base_out).context("the base has no layers")?;
    let base: Vec<String> = g.nodes[..=last].iter().map(|n| n.name.clone()).collect();
    let report = weights::load_into(&run.net, src, &base, &ft.weights.display().to_string())?;
    let base_set: BTreeSet<String> = base.iter().cloned().collect();
    let unfrozen: BTreeSet<String> = base.iter().filter(|l| ft.unfreeze.iter().any(|p| l.starts_with(p.as_str()))).cloned().collect();
    if ft.stage2_epochs > 0 {
        let params = run.net.param_layers();
        for p in &ft.unfreeze {
            if !base.iter().any(|l| l.starts_with(p.as_str()) && params.contains(l)) {
                let blocks: BTreeSet<&str> = base.iter().filter(|l| params.contains(*l)).map(|l| l.split('_').next().unwrap_or(l)).collect();
                bail!("--unfreeze {p}: no layer of the base starts with it (blocks: {})", blocks.into_iter().collect::<Vec<_>>().join(", "));
            }
        }
    }
    if !(ft.stage2_lr > 0.0 && ft.stage2_lr.is_finite()) {
        bail!("--stage2-lr must be a positive number");
    }
    run.stages = vec![
        Stage {
            epochs: run.cfg.epochs,
            kind: Kind::parse(&run.cfg.optimizer, run.cfg.momentum)?,
            lr: run.cfg.lr,
            frozen: base_set.clone(),
            features: ft.extract_features,
        },
        Stage {
            epochs: ft.stage2_epochs,
            kind: Kind::Momentum { momentum: 0.9 },
            lr: ft.stage2_lr,
            frozen: base_set.difference(&unfrozen).cloned().collect(),
            features: false,
        },
    ];
    Ok(report)
}
