//! `kestrel run`: classify images or `.npy` tensors with a `.kes`.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use clap::Args as ClapArgs;
use kestrel_compiler::data::NpyLayout;
use kestrel_runtime::AlignedBuf;
use kestrel_runtime::kernels;
use kestrel_runtime::ThreadPool;

/// Arguments of `kestrel run`.
#[derive(ClapArgs)]
pub struct Args {
    /// The .kes model
    model: PathBuf,
    /// Images (png/jpg) or .npy float32 tensors in the ONNX model's input layout
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// How many top classes to print (at least 1)
    #[arg(short = 'k', long, default_value_t = 5)]
    top: usize,
    /// How .npy inputs are read: onnx (the model's ONNX input shape, e.g. [1, C, H, W]),
    /// nhwc ([1, H, W, C], channels last) or flat (any shape with the right element count,
    /// in the model's ONNX layout)
    #[arg(long, value_enum, default_value = "onnx")]
    npy_layout: NpyLayoutArg,
    /// Print every input's whole dequantized output vector as JSON
    #[arg(long)]
    json: bool,
    /// Worker threads for each inference (large ops split by output rows); more than the
    /// cores is clamped with a note
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Force a kernel set: scalar, avx2, avx512vnni, neon, neon-dotprod, dsp (default: the
    /// best this CPU has); one this CPU lacks is refused, never run
    #[arg(long)]
    kernels: Option<String>,
    /// Refuse the model unless it is signed with this public key (KEY.pub from `kestrel keygen`)
    #[arg(long)]
    pubkey: Option<PathBuf>,
    #[command(flatten)]
    limits: super::ModelLimits,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum NpyLayoutArg {
    Onnx,
    Nhwc,
    Flat,
}

pub fn run(a: Args) -> Result<()> {
    super::args::at_least_one("--top", a.top)?;
    let layout = match a.npy_layout {
        NpyLayoutArg::Onnx => NpyLayout::Onnx,
        NpyLayoutArg::Nhwc => NpyLayout::Nhwc,
        NpyLayoutArg::Flat => NpyLayout::Flat,
    };
    let buf = super::read_kes(&a.model)?;
    let m = match &a.pubkey {
        Some(k) => {
            let m = super::sign::load_trusted(&a.model, buf.as_slice(), k)?;
            m.check_limits(&a.limits.get()).map_err(|e| anyhow!("{}: {e}", a.model.display()))?;
            m
        }
        None => super::load_model(&a.model, buf.as_slice(), &a.limits)?,
    };
    let (threads, clamp_note) = kestrel_compiler::threads::check_threads(a.threads)?;
    if let Some(n) = clamp_note {
        eprintln!("note: {n}");
    }
    let kset = match &a.kernels {
        Some(n) => kernels::by_name(n).map_err(|e| anyhow!("--kernels {n}: {e}"))?,
        None => kernels::best(),
    };
    let pool = ThreadPool::new(threads);
    let pp = m.meta().preprocess;
    let labels: Vec<String> = m.labels().map(String::from).collect();
    let mut arena = AlignedBuf::zeroed(m.arena_size());
    let mut out = vec![0f32; m.output().len()];
    let mut results = Vec::new();
    // Said once, with the first image that is read (an error stays the one line).
    let mut said_preprocessing = false;
    // An input that can't be read is skipped and listed at the end (exit 1), as eval does.
    let mut failed = Vec::new();
    for path in &a.inputs {
        if path.is_dir() {
            bail!("{} is a directory; pass the files (e.g. {}/*)", path.display(), path.display());
        }
        let x = match kestrel_compiler::data::load_input_as(path, m.input().dims, &pp, layout) {
            Ok(x) => x,
            Err(e) => {
                failed.push(format!("{e:#}"));
                continue;
            }
        };
        if !said_preprocessing && !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy")) {
            let [_, h, w, c] = m.input().dims;
            eprintln!("note: images are preprocessed as {} says: {}", super::shown(&a.model), describe(&pp, h, w, c));
            said_preprocessing = true;
        }
        m.set_input_f32_with(kset, arena.as_mut_slice(), &x)?;
        m.run_parallel(kset, &pool, arena.as_mut_slice())?;
        m.output_f32(arena.as_slice(), &mut out)?;
        if m.meta().output_nchw {
            let [_, h, w, c] = m.output().dims;
            out = kestrel_compiler::data::nhwc_to_nchw(&out, c, h, w);
        }
        let mut idx: Vec<usize> = (0..out.len()).collect();
        idx.sort_by(|&i, &j| out[j].total_cmp(&out[i]).then(i.cmp(&j)));
        let top: Vec<(usize, String, f32)> = idx
            .iter()
            .take(a.top)
            .map(|&i| (i, labels.get(i).cloned().unwrap_or_else(|| format!("class {i}")), out[i]))
            .collect();
        if a.json {
            results.push(serde_json::json!({
                "input": path,
                "output": out,
                "top": top.iter().map(|(i, l, s)| serde_json::json!({"index": i, "label": l, "score": s})).collect::<Vec<_>>(),
            }));
        } else {
            let t: Vec<String> = top.iter().map(|(_, l, s)| format!("{l} {s:.4}")).collect();
            println!("{}: {}", super::shown(path), t.join(", "));
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    match failed.len() {
        0 => Ok(()),
        1 if a.inputs.len() == 1 => bail!("{}", failed[0]),
        n => bail!("{n} of {} inputs could not be read (the others were classified): {}", a.inputs.len(), failed.join("; ")),
    }
}

/// The preprocessing a `.kes` applies to images, in words.
pub(crate) fn describe(pp: &kestrel_runtime::Preprocess, h: usize, w: usize, c: usize) -> String {
    let resize = ["stretch", "center crop", "letterbox"].get(pp.resize as usize).copied().unwrap_or("resize");
    let order = if c == 1 { "gray" } else { ["RGB", "BGR", "gray"].get(pp.channel_order as usize).copied().unwrap_or("RGB") };
    let per = |v: &[f32; 4]| v[..c.min(4)].iter().map(|x| format!("{x}")).collect::<Vec<_>>().join(",");
    format!("{resize} to {w}x{h}, {order}, pixel x {} then (x - mean {}) / std {}", pp.rescale, per(&pp.mean), per(&pp.std))
}
