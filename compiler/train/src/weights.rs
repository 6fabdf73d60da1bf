//! Pretrained weights for a network's layers, from ONNX (e.g. the ONNX model zoo's VGG16:
//! conv and dense layers of the imported graph) or safetensors with torchvision / timm names
//! (`features.N.weight`), Keras names (`block1_conv1.weight`, or `block1_conv1/kernel:0`
//! in Keras' HWIO layout) or a kestrel checkpoint (`model.{layer}.weight`; its `optim.*`
//! tensors are skipped). BatchNorm layers come with their running statistics: ONNX
//! `BatchNormalization` nodes, `{layer}.weight/bias/running_mean/running_var` (PyTorch,
//! kestrel) or Keras' `gamma/beta/moving_mean/moving_variance`.
//!
//! The convolutional base must be filled completely: its layers are matched by name when
//! the file has them all, else the file's convolutions are taken in order. Head layers are
//! loaded where a layer of the same name and shape exists, or, for a head that repeats the
//! file's classifier top (VGG16 with its ImageNet top: torchvision `classifier.N`, the ONNX
//! zoo's `vgg0_dense*`, Keras `fc1`/`fc2`/`predictions`), from the file's dense layers in
//! order when every shape fits; otherwise the top is ignored (a new head). Anything of the
//! base that doesn't fit is one error listing the missing, unexpected and wrongly shaped
//! tensors.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};

use super::net::Net;
use kestrel_compiler::ir::NodeOp;

/// A layer's weights from a file, in ONNX layouts (conv OIHW, dense `[n][k]`).
#[derive(Debug, Clone, PartialEq)]
pub struct SrcLayer {
    /// Name in our convention (prefixes stripped, `/` → `.`).
    pub name: String,
    /// Name of the weight tensor in the file.
    pub file_name: String,
    /// Convolution, dense or BatchNorm.
    pub kind: Kind,
    /// Weight shape (BatchNorm: `[channels]`).
    pub shape: Vec<usize>,
    /// Weight values (BatchNorm: gamma).
    pub weight: Vec<f32>,
    /// Bias values (zeros if the file has none; BatchNorm: beta).
    pub bias: Vec<f32>,
}

/// What a [`SrcLayer`] is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// 4-D OIHW weight.
    Conv,
    /// `[n][k]` weight.
    Dense,
    /// Inference BatchNorm: its running mean and variance.
    BatchNorm {
        /// Running mean.
        mean: Vec<f32>,
        /// Running variance.
        var: Vec<f32>,
    },
}

impl SrcLayer {
    /// A convolution.
    pub fn is_conv(&self) -> bool {
        self.kind == Kind::Conv
    }
}

/// What a load did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Layers filled, with the file's name for each.
    pub loaded: Vec<(String, String)>,
    /// File layers not used (a classifier top).
    pub ignored: Vec<String>,
    /// How the base was matched: "name" or "order".
    pub matched_by: String,
}

/// Read the conv and dense layers of a weights file (`.onnx` or `.safetensors`), in the
/// file's order (natural order of names for safetensors).
pub fn read_layers(path: &Path) -> Result<Vec<SrcLayer>> {
    if !path.is_file() {
        bail!("weights file {} does not exist", path.display());
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "onnx" => read_onnx(path),
        "safetensors" | "st" => read_safetensors(path),
        _ => bail!("{}: weights must be .onnx or .safetensors", path.display()),
    }
}

fn read_onnx(path: &Path) -> Result<Vec<SrcLayer>> {
    let g = kestrel_compiler::onnx::import::import_path(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = Vec::new();
    for n in &g.nodes {
        match &n.op {
            NodeOp::Conv { weight, bias, win, groups } => {
                let cout = bias.len();
                let cin = g.values[n.inputs[0]].dims[3] / groups;
                out.push(SrcLayer {
                    name: n.name.clone(),
                    file_name: n.name.clone(),
                    kind: Kind::Conv,
                    shape: vec![cout, cin, win.kernel[0], win.kernel[1]],
                    weight: weight.clone(),
                    bias: bias.clone(),
                });
            }
            NodeOp::Dense { weight, bias } => out.push(SrcLayer {
                name: n.name.clone(),
                file_name: n.name.clone(),
                kind: Kind::Dense,
                shape: vec![bias.len(), weight.len() / bias.len().max(1)],
                weight: weight.clone(),
                bias: bias.clone(),
            }),
            NodeOp::BatchNorm { scale, bias, mean, var, .. } => out.push(SrcLayer {
                name: n.name.clone(),
                file_name: n.name.clone(),
                kind: Kind::BatchNorm { mean: mean.clone(), var: var.clone() },
                shape: vec![scale.len()],
                weight: scale.clone(),
                bias: bias.clone(),
            }),
            _ => {}
        }
    }
    Ok(out)
}

/// Input channels of the file's first convolution (the base's input), if it has one.
pub fn input_channels(src: &[SrcLayer]) -> Option<usize> {
    src.iter().find(|l| l.is_conv()).map(|l| l.shape[1])
}

/// Natural-order key: numbers compare as numbers (`features.10` after `features.2`).
fn natural_key(s: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut num: Option<u64> = None;
    for ch in s.chars() {
        if let Some(d) = ch.to_digit(10) {
            num = Some(num.unwrap_or(0).saturating_mul(10).saturating_add(d as u64));
        } else {
            if let Some(n) = num.take() {
                out.push((std::mem::take(&mut text), n));
            }
            text.push(ch);
        }
    }
    out.push((text, num.unwrap_or(0)));
    out
}

/// The tensors of one layer prefix in a safetensors file.
#[derive(Default)]
struct StLayer {
    /// File name, tensor, Keras layout.
    weight: Option<(String, Tensor, bool)>,
    bias: Option<Tensor>,
    mean: Option<Vec<f32>>,
    var: Option<Vec<f32>>,
}

fn read_safetensors(path: &Path) -> Result<Vec<SrcLayer>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| anyhow::anyhow!("{}: not a safetensors file: {e}", path.display()))?;
    let mut layers: BTreeMap<String, StLayer> = BTreeMap::new();
    for (name, view) in st.tensors() {
        if name.starts_with("optim.") {
            continue; // a kestrel checkpoint's optimizer state
        }
        let norm = name.strip_prefix("model.").unwrap_or(&name).replace('/', ".");
        let norm = norm.trim_end_matches(":0");
        let Some((prefix, what)) = norm.rsplit_once('.') else { continue };
        let t = candle_core::safetensors::Load::load(&view, &Device::Cpu)?.to_dtype(candle_core::DType::F32)?;
        let e = layers.entry(prefix.to_string()).or_default();
        match what {
            "weight" | "gamma" => e.weight = Some((name.clone(), t, false)),
            "kernel" => e.weight = Some((name.clone(), t, true)),
            "bias" | "beta" => e.bias = Some(t),
            "running_mean" | "moving_mean" => e.mean = Some(t.flatten_all()?.to_vec1::<f32>()?),
            "running_var" | "moving_variance" => e.var = Some(t.flatten_all()?.to_vec1::<f32>()?),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (prefix, l) in layers {
        let Some((file_name, w, keras)) = l.weight else { continue };
        let (w, kind) = match (w.rank(), keras, l.mean, l.var) {
            (4, true, ..) => (w.permute((3, 2, 0, 1))?.contiguous()?, Kind::Conv), // HWIO → OIHW
            (2, true, ..) => (w.t()?.contiguous()?, Kind::Dense),                  // [k][n] → [n][k]
            (4, false, ..) => (w, Kind::Conv),
            (2, false, ..) => (w, Kind::Dense),
            (1, _, Some(mean), Some(var)) if mean.len() == w.elem_count() && var.len() == mean.len() => (w, Kind::BatchNorm { mean, var }),
            _ => continue, // scales without statistics and the like
        };
        let shape = w.dims().to_vec();
        let bias = match l.bias {
            Some(b) => b.flatten_all()?.to_vec1::<f32>()?,
            None => vec![0.0; shape[0]],
        };
        out.push(SrcLayer { name: prefix, file_name, kind, weight: w.flatten_all()?.to_vec1::<f32>()?, shape, bias });
    }
    out.sort_by_key(|l| natural_key(&l.name));
    Ok(out)
}

/// Fill `base` (layer names of the network's convolutional base, in graph order) and any
/// head layer of the same name and shape from `src`.
pub fn load_into(net: &Net, src: &[SrcLayer], base: &[String], what: &str) -> Result<LoadReport> {
    // A binary sigmoid head holds one row; it takes a two-output dense as its equivalent
    // (row 1 − row 0, bias 1 − bias 0: the same softmax probabilities).
    let binary = |layer: &str| net.binary.as_deref() == Some(layer);
    let shape_of = |layer: &str| -> Option<Vec<usize>> {
        let mut s = net.var(&format!("{layer}.weight")).ok().map(|v| v.dims().to_vec())?;
        if binary(layer) {
            s[0] = 2;
        }
        Some(s)
    };
    let base: Vec<&String> = base.iter().filter(|l| shape_of(l).is_some()).collect();
    let by_name: BTreeMap<&str, &SrcLayer> = src.iter().map(|l| (l.name.as_str(), l)).collect();
    let all_named = base.iter().all(|l| by_name.contains_key(l.as_str()));
    let mut pairs: Vec<(&str, &SrcLayer)> = Vec::new();
    let mut missing = Vec::new();
    let mut unexpected = Vec::new();
    let mut used = vec![false; src.len()];
    let matched_by = if all_named {
        for l in &base {
            let s = by_name[l.as_str()];
            pairs.push((l, s));
        }
        "name"
    } else {
        // Convolutions with convolutions, BatchNorms with BatchNorms, each in order.
        for rank in [4, 1] {
            let of_rank = |s: &SrcLayer| if rank == 4 { s.is_conv() } else { matches!(s.kind, Kind::BatchNorm { .. }) };
            let file: Vec<usize> = (0..src.len()).filter(|&i| of_rank(&src[i])).collect();
            let ours: Vec<&String> = base.iter().copied().filter(|l| shape_of(l).is_some_and(|s| s.len() == rank)).collect();
            for (j, l) in ours.iter().enumerate() {
                match file.get(j) {
                    Some(&i) => pairs.push((l, &src[i])),
                    None => missing.push(format!("{l}.weight")),
                }
            }
            for &i in file.iter().skip(ours.len()) {
                unexpected.push(src[i].file_name.clone());
                used[i] = true;
            }
        }
        for l in base.iter().filter(|l| shape_of(l).is_some_and(|s| s.len() == 2)) {
            missing.push(format!("{l}.weight"));
        }
        "order"
    };
    let mut wrong = Vec::new();
    for (l, s) in &pairs {
        let want = shape_of(l).unwrap_or_default();
        if s.shape != want {
            wrong.push(format!("{} (file {:?}, model {l}.weight {:?})", s.file_name, s.shape, want));
        }
    }
    if !missing.is_empty() || !unexpected.is_empty() || !wrong.is_empty() {
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("missing: {}", missing.join(", ")));
        }
        if !unexpected.is_empty() {
            parts.push(format!("unexpected: {}", unexpected.join(", ")));
        }
        if !wrong.is_empty() {
            parts.push(format!("wrong shape: {}", wrong.join(", ")));
        }
        bail!("the weights in {what} don't fit the model: {}", parts.join("; "));
    }
    // Optional head layers: same name and shape.
    for l in net.param_layers() {
        if base.iter().any(|b| **b == l) {
            continue;
        }
        if let Some(s) = by_name.get(l.as_str()) {
            if shape_of(&l).as_deref() == Some(s.shape.as_slice()) {
                pairs.push((by_name.get_key_value(l.as_str()).map(|(k, _)| *k).unwrap_or(""), s));
            }
        }
    }
    // A classifier top under other names (torchvision `classifier.N`, ONNX zoo `vgg0_dense0`,
    // Keras `fc1`): taken in order when every head dense layer finds one of its shape.
    let head_dense: Vec<String> = net
        .param_layers()
        .into_iter()
        .filter(|l| !base.iter().any(|b| *b == l) && shape_of(l).is_some_and(|s| s.len() == 2))
        .collect();
    let src_dense: Vec<&SrcLayer> = src.iter().filter(|l| l.kind == Kind::Dense).collect();
    let named: Vec<&str> = pairs.iter().map(|(l, _)| *l).collect();
    if !head_dense.is_empty()
        && head_dense.iter().all(|l| !named.contains(&l.as_str()))
        && src_dense.len() == head_dense.len()
        && head_dense.iter().zip(&src_dense).all(|(l, s)| shape_of(l).as_deref() == Some(s.shape.as_slice()))
    {
        for (l, s) in head_dense.iter().zip(src_dense) {
            pairs.push((l.as_str(), s));
        }
    }
    let mut report = LoadReport { matched_by: matched_by.into(), ..Default::default() };
    for (l, s) in &pairs {
        let w = net.var(&format!("{l}.weight"))?;
        let b = net.var(&format!("{l}.bias"))?;
        let (wv, bv) = if binary(l) && s.bias.len() == 2 {
            let k = s.weight.len() / 2;
            ((0..k).map(|i| s.weight[k + i] - s.weight[i]).collect(), vec![s.bias[1] - s.bias[0]])
        } else {
            (s.weight.clone(), s.bias.clone())
        };
        if b.dims() != [bv.len()] {
            bail!("the weights in {what} don't fit the model: wrong shape: bias of {} ({} values, model {l}.bias {:?})", s.file_name, s.bias.len(), b.dims());
        }
        w.set(&Tensor::from_vec(wv, w.dims(), &net.device)?)?;
        b.set(&Tensor::from_vec(bv, b.dims(), &net.device)?)?;
        if let Kind::BatchNorm { mean, var } = &s.kind {
            for (what, v) in [("running_mean", mean), ("running_var", var)] {
                let buf = net.buffers.get(&format!("{l}.{what}")).with_context(|| format!("{l} of the model is not a BatchNorm (the file's {} is)", s.file_name))?;
                buf.set(&Tensor::from_vec(v.clone(), buf.dims(), &net.device)?)?;
            }
        }
        report.loaded.push((l.to_string(), s.file_name.clone()));
        if let Some(i) = src.iter().position(|x| std::ptr::eq(x, *s)) {
            used[i] = true;
        }
    }
    report.ignored = src.iter().zip(&used).filter(|(_, u)| !**u).map(|(s, _)| s.file_name.clone()).collect();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec!["features.10", "features.2", "features.0"];
        v.sort_by_key(|s| natural_key(s));
        assert_eq!(v, ["features.0", "features.2", "features.10"]);
    }
}
