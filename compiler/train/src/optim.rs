//! Optimizers with their state in named tensors (so checkpoints can hold it): SGD,
//! momentum SGD (Keras form `v = μv − lr·g; w += v`), Adam and RMSprop. L2 regularization
//! (Keras `kernel_regularizer=l2(λ)`: loss `+ λ·Σw²`) adds `2λw` to the gradient of conv and
//! dense weights, not biases. Only the parameters passed to [`Optimizer::step`] change, so
//! frozen ones stay bit-identical.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

/// Which update rule.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// Plain SGD.
    Sgd,
    /// SGD with momentum.
    Momentum {
        /// μ (0.9).
        momentum: f64,
    },
    /// Adam (β1 0.9, β2 0.999, ε 1e-7 as Keras).
    Adam,
    /// RMSprop (ρ 0.9, ε 1e-7 as Keras).
    RmsProp,
}

impl Kind {
    /// From a command-line name.
    pub fn parse(s: &str, momentum: f64) -> Result<Kind> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "sgd" => Kind::Sgd,
            "momentum" => Kind::Momentum { momentum },
            "adam" => Kind::Adam,
            "rmsprop" => Kind::RmsProp,
            _ => bail!("unknown optimizer '{s}' (use sgd, momentum, adam or rmsprop)"),
        })
    }
}

const B1: f64 = 0.9;
const B2: f64 = 0.999;
const RHO: f64 = 0.9;
const EPS: f64 = 1e-7;

/// An optimizer and its per-parameter state.
pub struct Optimizer {
    /// Update rule.
    pub kind: Kind,
    /// Learning rate of the next step.
    pub lr: f64,
    /// L2 factor λ.
    pub l2: f64,
    /// Steps taken.
    pub steps: u64,
    /// State tensors by `{param}.{slot}`.
    pub state: BTreeMap<String, Tensor>,
}

impl Optimizer {
    /// A fresh optimizer.
    pub fn new(kind: Kind, lr: f64, l2: f64) -> Optimizer {
        Optimizer { kind, lr, l2, steps: 0, state: BTreeMap::new() }
    }

    fn slot(&mut self, name: &str, slot: &str, like: &Tensor) -> Result<Tensor> {
        let key = format!("{name}.{slot}");
        if let Some(t) = self.state.get(&key) {
            return Ok(t.clone());
        }
        let z = like.zeros_like()?;
        self.state.insert(key, z.clone());
        Ok(z)
    }

    /// One update of `params` from `grads` (parameters without a gradient are skipped).
    pub fn step(&mut self, params: &[(String, Var)], grads: &GradStore) -> Result<()> {
        self.steps += 1;
        let t = self.steps as i32;
        for (name, var) in params {
            let Some(g) = grads.get(var.as_tensor()) else { continue };
            let w = var.as_tensor();
            let g = if self.l2 > 0.0 && name.ends_with(".weight") { (g + w.affine(2.0 * self.l2, 0.0)?)? } else { g.clone() };
            let new_w = match self.kind {
                Kind::Sgd => (w - g.affine(self.lr, 0.0)?)?,
                Kind::Momentum { momentum } => {
                    let v = self.slot(name, "velocity", w)?;
                    let v = (v.affine(momentum, 0.0)? - g.affine(self.lr, 0.0)?)?;
                    self.state.insert(format!("{name}.velocity"), v.clone());
                    (w + v)?
                }
                Kind::Adam => {
                    let m = self.slot(name, "m", w)?;
                    let v = self.slot(name, "v", w)?;
                    let m = (m.affine(B1, 0.0)? + g.affine(1.0 - B1, 0.0)?)?;
                    let v = (v.affine(B2, 0.0)? + g.sqr()?.affine(1.0 - B2, 0.0)?)?;
                    let mhat = m.affine(1.0 / (1.0 - B1.powi(t)), 0.0)?;
                    let vhat = v.affine(1.0 / (1.0 - B2.powi(t)), 0.0)?;
                    self.state.insert(format!("{name}.m"), m);
                    self.state.insert(format!("{name}.v"), v);
                    (w - mhat.div(&(vhat.sqrt()? + EPS)?)?.affine(self.lr, 0.0)?)?
                }
                Kind::RmsProp => {
                    let s = self.slot(name, "ms", w)?;
                    let s = (s.affine(RHO, 0.0)? + g.sqr()?.affine(1.0 - RHO, 0.0)?)?;
                    self.state.insert(format!("{name}.ms"), s.clone());
                    (w - g.div(&(s.sqrt()? + EPS)?)?.affine(self.lr, 0.0)?)?
                }
            };
            var.set(&new_w)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Each rule minimizes (w - 3)^2 from w = 0.
    #[test]
    fn rules_converge_on_a_quadratic() {
        for (kind, lr) in [(Kind::Sgd, 0.1), (Kind::Momentum { momentum: 0.9 }, 0.02), (Kind::Adam, 0.1), (Kind::RmsProp, 0.05)] {
            let w = Var::from_vec(vec![0f32], 1, &Device::Cpu).expect("var");
            let mut opt = Optimizer::new(kind, lr, 0.0);
            for _ in 0..300 {
                let loss = w.as_tensor().affine(1.0, -3.0).expect("a").sqr().expect("s").sum_all().expect("sum");
                let g = loss.backward().expect("grad");
                opt.step(&[("x.weight".into(), w.clone())], &g).expect("step");
            }
            let v = w.as_tensor().to_vec1::<f32>().expect("v")[0];
            assert!((v - 3.0).abs() < 0.05, "{kind:?}: {v}");
        }
        assert!(Kind::parse("adagrad", 0.9).is_err());
    }
}
