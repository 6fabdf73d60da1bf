//! Calibration: run the float model (through the runtime's own f32 kernels) over
//! representative inputs, observe every activation, and choose int8 ranges with
//! `minmax`, `percentile` or `entropy` (KL divergence, as TensorRT).

use anyhow::Result;
use kestrel_runtime::Model;

use super::{QParams, QuantInfo};
use kestrel_runtime::AlignedBuf;
use crate::ir::{Graph, NodeOp, ValueId};
use crate::lower::{lower, LowerOptions, Lowered};

/// How activation ranges are chosen from the observed values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// The observed minimum and maximum.
    MinMax,
    /// Clip the tails: keep the central `p` percent (default 99.99).
    Percentile(f32),
    /// Minimize the KL divergence between the float and quantized histograms.
    Entropy,
}

const BINS: usize = 2048;

/// Observations of one tensor: range and histograms of the positive and negative parts.
#[derive(Debug, Clone)]
struct Stats {
    min: f32,
    max: f32,
    pos: Vec<u64>,
    neg: Vec<u64>,
}

impl Stats {
    fn new() -> Stats {
        Stats { min: f32::INFINITY, max: f32::NEG_INFINITY, pos: vec![0; BINS], neg: vec![0; BINS] }
    }
    fn observe_range(&mut self, x: &[f32]) {
        for &v in x.iter().filter(|v| v.is_finite()) {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
    }
    fn observe_hist(&mut self, x: &[f32]) {
        let (pmax, nmax) = (self.max.max(0.0), (-self.min).max(0.0));
        for &v in x.iter().filter(|v| v.is_finite()) {
            if v >= 0.0 {
                let i = if pmax > 0.0 { ((v / pmax) * BINS as f32) as usize } else { 0 };
                self.pos[i.min(BINS - 1)] += 1;
            } else {
                let i = if nmax > 0.0 { ((-v / nmax) * BINS as f32) as usize } else { 0 };
                self.neg[i.min(BINS - 1)] += 1;
            }
        }
    }
    /// Value at quantile `q` (0..1) of the observed values.
    fn quantile(&self, q: f64) -> f32 {
        let total: u64 = self.pos.iter().sum::<u64>() + self.neg.iter().sum::<u64>();
        let target = (q * total as f64).ceil() as u64;
        let mut acc = 0u64;
        let nw = (-self.min).max(0.0) / BINS as f32;
        for i in (0..BINS).rev() {
            acc += self.neg[i];
            if acc >= target && self.neg[i] > 0 {
                return -(i as f32) * nw;
            }
        }
        let pw = self.max.max(0.0) / BINS as f32;
        for i in 0..BINS {
            acc += self.pos[i];
            if acc >= target && self.pos[i] > 0 {
                return (i + 1) as f32 * pw;
            }
        }
        self.max
    }
    fn range(&self, method: Method) -> (f32, f32) {
        if !self.min.is_finite() || !self.max.is_finite() {
            return (0.0, 0.0);
        }
        match method {
            Method::MinMax => (self.min, self.max),
            Method::Percentile(p) => {
                let tail = (1.0 - p as f64 / 100.0).clamp(0.0, 0.5);
                let lo = if self.min < 0.0 { self.quantile(tail).min(0.0) } else { self.min };
                (lo.max(self.min), self.quantile(1.0 - tail).min(self.max))
            }
            Method::Entropy => {
                let levels = if self.min < 0.0 { 128 } else { 256 };
                let hi = self.max.max(0.0) * kl_threshold(&self.pos, levels);
                let lo = self.min.min(0.0) * kl_threshold(&self.neg, levels);
                (lo, hi)
            }
        }
    }
}

/// Fraction (0..1] of the histogram range that minimizes KL(P || Q) when quantized to `levels`.
fn kl_threshold(h: &[u64], levels: usize) -> f32 {
    let n = h.len();
    if h.iter().sum::<u64>() == 0 {
        return 1.0;
    }
    let mut best = (f64::INFINITY, n);
    let mut i = levels;
    while i <= n {
        let outliers: u64 = h[i..].iter().sum();
        let mut p: Vec<f64> = h[..i].iter().map(|&c| c as f64).collect();
        p[i - 1] += outliers as f64;
        // Q: merge into `levels` chunks, spread each chunk's mass over its non-empty bins.
        let mut q = vec![0f64; i];
        for l in 0..levels {
            let (s, e) = (l * i / levels, ((l + 1) * i / levels).max(l * i / levels + 1));
            let mass: f64 = h[s..e].iter().map(|&c| c as f64).sum();
            let nz = h[s..e].iter().filter(|&&c| c > 0).count();
            if nz > 0 {
                for j in s..e {
                    if h[j] > 0 {
                        q[j] = mass / nz as f64;
                    }
                }
            }
        }
        let (ps, qs): (f64, f64) = (p.iter().sum(), q.iter().sum());
        let mut kl = 0.0;
        for j in 0..i {
            if p[j] > 0.0 {
                let pj = p[j] / ps;
                let qj = if q[j] > 0.0 { q[j] / qs } else { 1e-12 };
                kl += pj * (pj / qj).ln();
            }
        }
        if kl < best.0 {
            best = (kl, i);
        }
        i += 16;
    }
    (best.1 as f32 + 0.5).min(n as f32) / n as f32
}

/// Run `model` on every input, calling `f(value, activations)` for the input and every op output.
fn observe_all(
    g: &Graph,
    l: &Lowered,
    m: &Model<'_>,
    inputs: &[Vec<f32>],
    tick: &mut dyn FnMut(),
    f: &mut dyn FnMut(ValueId, &[f32]),
) -> Result<()> {
    let mut arena = AlignedBuf::zeroed(m.arena_size());
    let mut buf = Vec::new();
    for x in inputs {
        m.set_input_f32(arena.as_mut_slice(), x)?;
        f(g.input, x);
        let mut err = None;
        m.run_observed(arena.as_mut_slice(), &mut |i, a| {
            let v = l.op_values[i];
            let t = l.value_tensor[v].map(|t| t as usize).unwrap_or(0);
            buf.resize(m.tensor(t).len(), 0.0);
            if let Err(e) = m.tensor_f32(a, t, &mut buf) {
                err = Some(e);
            }
            f(v, &buf);
        })?;
        if let Some(e) = err {
            return Err(e.into());
        }
        tick();
    }
    Ok(())
}

/// Choose activation quantization for `g` (already optimized for int8) from `inputs`
/// (NHWC f32 tensors). `tick` is called once per input and pass (progress bars).
pub fn calibrate(g: &Graph, inputs: &[Vec<f32>], method: Method, tick: &mut dyn FnMut()) -> Result<QuantInfo> {
    let opts = LowerOptions { preprocess: crate::lower::default_preprocess(), labels: vec![] };
    calibrate_lowered(g, &lower(g, None, &opts)?, inputs, method, tick)
}

/// [`calibrate`] through `f32`, the f32 lowering of `g` the caller already has (`kestrel
/// compile` also needs it for the per-layer report, so the graph is lowered once).
pub fn calibrate_lowered(g: &Graph, f32: &Lowered, inputs: &[Vec<f32>], method: Method, tick: &mut dyn FnMut()) -> Result<QuantInfo> {
    anyhow::ensure!(!inputs.is_empty(), "no calibration inputs");
    let buf = AlignedBuf::from_bytes(&f32.bytes);
    let m = Model::load(buf.as_slice())?;
    let mut stats: Vec<Option<Stats>> = vec![None; g.values.len()];
    observe_all(g, f32, &m, inputs, tick, &mut |v, x| stats[v].get_or_insert_with(Stats::new).observe_range(x))?;
    if method != Method::MinMax {
        observe_all(g, f32, &m, inputs, tick, &mut |v, x| {
            if let Some(s) = stats[v].as_mut() {
                s.observe_hist(x)
            }
        })?;
    }
    let mut act: Vec<Option<QParams>> = vec![None; g.values.len()];
    let from = |v: ValueId| {
        let (lo, hi) = stats[v].as_ref().map(|s| s.range(method)).unwrap_or((0.0, 0.0));
        QParams::from_range(lo, hi)
    };
    act[g.input] = Some(from(g.input));
    for n in &g.nodes {
        let x = act[n.inputs[0]];
        act[n.output] = match n.op {
            NodeOp::MaxPool { .. } | NodeOp::AvgPool { .. } | NodeOp::Pad { .. } | NodeOp::Copy { .. } | NodeOp::Alias => x,
            NodeOp::Softmax(a) if !a.log => Some(QParams::softmax()),
            _ => Some(from(n.output)),
        };
    }
    Ok(QuantInfo { act })
}

/// Number of passes over the inputs `calibrate` makes (for progress bars).
pub fn passes(method: Method) -> usize {
    if method == Method::MinMax { 1 } else { 2 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_clips_outliers() {
        let mut s = Stats::new();
        let mut x: Vec<f32> = (0..100_000).map(|i| (i % 1000) as f32 / 1000.0).collect();
        x.push(100.0);
        s.observe_range(&x);
        s.observe_hist(&x);
        let (lo, hi) = s.range(Method::Percentile(99.9));
        assert_eq!(lo, 0.0);
        assert!(hi < 2.0, "{hi}");
        let (_, hi_mm) = s.range(Method::MinMax);
        assert_eq!(hi_mm, 100.0);
        let (_, hi_kl) = s.range(Method::Entropy);
        assert!(hi_kl < 100.0 && hi_kl > 0.5, "{hi_kl}");
    }
}
