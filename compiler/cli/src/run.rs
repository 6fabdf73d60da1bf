//! `kestrel run`: classify images or `.npy` tensors with a `.kes`.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use clap::Args as ClapArgs;
use kestrel_runtime::AlignedBuf;
use kestrel_runtime::kernels;
use kestrel_runtime::{Model, ThreadPool};

/// Arguments of `kestrel run`.
#[derive(ClapArgs)]
pub struct Args {
    /// The .kes model
    model: PathBuf,
    /// Images (png/jpg) or .npy float32 tensors in the ONNX model's input layout
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// How many top classes to print
    #[arg(short = 'k', long, default_value_t = 5)]
    top: usize,
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
}

pub fn run(a: Args) -> Result<()> {
    let buf = super::read_kes(&a.model)?;
    let m = match &a.pubkey {
        Some(k) => super::sign::load_trusted(&a.model, buf.as_slice(), k)?,
        None => Model::load(buf.as_slice()).map_err(|e| anyhow!("{}: {e}", a.model.display()))?,
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
    for path in &a.inputs {
        if path.is_dir() {
            bail!("{} is a directory; pass the files (e.g. {}/*)", path.display(), path.display());
        }
        let x = kestrel_compiler::data::load_input(path, m.input().dims, &pp)?;
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
            .take(a.top.max(1))
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
            println!("{}: {}", path.display(), t.join(", "));
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    Ok(())
}
