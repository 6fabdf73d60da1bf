//! `kestrel eval`: accuracy, per-class report and confusion matrix of a float ONNX model
//! and its int8 `.kes`, side by side, on a dataset split.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args as ClapArgs;
use kestrel_compiler::pipeline::{self, CompileOptions};
use kestrel_compiler::quant::calibrate::Method;
use kestrel_train::dataset::{self, OpenOptions};
use kestrel_train::eval::{self, Predictions};
use kestrel_train::metrics::{report_table, Confusion};
use kestrel_train::{checkpoint, plot};
use kestrel_runtime::{Model, Precision, Preprocess};
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// Arguments of `kestrel eval`.
#[derive(ClapArgs)]
pub struct Args {
    /// The model(s): a float .onnx, an int8 .kes, or both (evaluated side by side)
    #[arg(required = true, num_args = 1..=2)]
    models: Vec<PathBuf>,
    /// Dataset: a Keras-layout folder, a folder with IDX files, or an IDX image file
    #[arg(long)]
    data: PathBuf,
    /// Split to evaluate: test, valid or train (default: test, else valid, else train)
    #[arg(long)]
    split: Option<String>,
    /// Calibration inputs for compiling the .onnx to int8 on the fly (default: 100
    /// training images of the data)
    #[arg(long)]
    calib: Option<PathBuf>,
    /// Only the float model, no int8 compile on the fly
    #[arg(long)]
    no_int8: bool,
    /// Pixel scale for the float model when no .kes says it
    #[arg(long, default_value_t = 1.0 / 255.0)]
    rescale: f32,
    /// Labels file (default: the .kes's labels, else the data's class names)
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Folder for confusion_matrix_{float,int8}.png and eval.json
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// Evaluate at most this many images (the first N of the split)
    #[arg(long)]
    limit: Option<usize>,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

fn ext(p: &Path) -> String {
    p.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).unwrap_or_default()
}

struct Scored {
    name: &'static str,
    path: String,
    preds: Predictions,
    conf: Confusion,
}

pub fn run(a: Args) -> Result<()> {
    let mut onnx = None;
    let mut kes = None;
    for m in &a.models {
        match ext(m).as_str() {
            "onnx" if onnx.is_none() => onnx = Some(m.clone()),
            "kes" if kes.is_none() => kes = Some(m.clone()),
            "onnx" | "kes" => bail!("give at most one .onnx and one .kes"),
            _ => bail!("{}: expected a .onnx or .kes model", m.display()),
        }
    }
    let kes_bytes = kes.as_ref().map(|p| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))).transpose()?;
    let kes_model = kes_bytes.as_ref().map(|b| kestrel_runtime::AlignedBuf::from_bytes(b));
    let (kes_pp, kes_labels, kes_out) = match &kes_model {
        Some(buf) => {
            let m = Model::load(buf.as_slice()).map_err(|e| anyhow::anyhow!("{}: {e}", kes.as_ref().map(|p| p.display().to_string()).unwrap_or_default()))?;
            (Some(m.meta().preprocess), m.labels().map(String::from).collect::<Vec<_>>(), Some(m.output().len()))
        }
        None => (None, vec![], None),
    };
    let mut ds = dataset::open(&a.data, &OpenOptions { validation_split: 0.0, convert_modes: true })?;
    let mut split = eval::pick_split(&ds, a.split.as_deref())?.clone();
    if let Some(n) = a.limit {
        split.items.truncate(n.max(1));
    }
    let k = ds.classes.len();
    let graph = onnx.as_deref().map(|p| pipeline::load_graph(p, false)).transpose()?;
    if let Some(g) = &graph {
        if g.values[g.output].len() != k {
            bail!("{} has {} outputs, the data has {k} classes", onnx.as_ref().map(|p| p.display().to_string()).unwrap_or_default(), g.values[g.output].len());
        }
    }
    if let Some(n) = kes_out.filter(|&n| n != k) {
        bail!("{} has {n} outputs, the data has {k} classes", kes.as_ref().map(|p| p.display().to_string()).unwrap_or_default());
    }
    let labels = match &a.labels {
        Some(p) => pipeline::read_labels(p)?,
        None if kes_labels.len() == k => kes_labels,
        None => ds.classes.clone(),
    };
    if labels.len() != k {
        bail!("the labels file has {} labels, the data has {k} classes", labels.len());
    }
    ds.classes = labels.clone();
    let pp = kes_pp.unwrap_or(Preprocess { rescale: a.rescale, ..kestrel_compiler::lower::default_preprocess() });
    let mut ui = super::train::Bar::new();
    let mut scored = Vec::new();
    let truth: Vec<usize> = split.items.iter().map(|(_, l)| *l).collect();
    let score = |name: &'static str, path: String, preds: Predictions| {
        let mut conf = Confusion::new(k);
        for (t, p) in truth.iter().zip(&preds) {
            if let Some(p) = p {
                conf.add(*t, *p);
            }
        }
        Scored { name, path, preds, conf }
    };
    if let (Some(g), Some(p)) = (&graph, &onnx) {
        let preds = eval::predict_float(g, &ds, &split, &pp, 256, &mut ui)?;
        scored.push(score("float", p.display().to_string(), preds));
    }
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    match (&kes_bytes, &graph) {
        (Some(b), _) => {
            let preds = eval::predict_kes(b, &ds, &split, threads, &mut ui)?;
            scored.push(score("int8", kes.as_ref().map(|p| p.display().to_string()).unwrap_or_default(), preds));
        }
        (None, Some(g)) if !a.no_int8 => {
            let calib = calibration(&a, &ds, g, &pp)?;
            let opts = CompileOptions { precision: Precision::Int8, method: Method::MinMax, preprocess: pp, labels: labels.clone() };
            let c = pipeline::compile(g.clone(), &calib, &opts, &mut || {})?;
            let preds = eval::predict_kes(&c.lowered.bytes, &ds, &split, threads, &mut ui)?;
            scored.push(score("int8", format!("compiled on the fly ({} calibration inputs, minmax)", calib.len()), preds));
        }
        _ => {}
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut files = Vec::new();
    for s in &scored {
        let p = a.out.join(format!("confusion_matrix_{}.png", s.name));
        let title = format!("{} on {} {} images: accuracy {:.2}%", s.name, s.conf.total(), split.name, 100.0 * s.conf.accuracy());
        checkpoint::write_atomic(&p, &plot::confusion_png(&s.conf.m, &labels, &title)?)?;
        files.push(p);
    }
    let agreement = (scored.len() == 2).then(|| {
        let both: Vec<(usize, usize)> = scored[0].preds.iter().zip(&scored[1].preds).filter_map(|(a, b)| a.zip(*b)).collect();
        both.iter().filter(|(a, b)| a == b).count() as f64 / both.len().max(1) as f64
    });
    let skipped = ds.corrupt_list();
    let j = serde_json::json!({
        "data": a.data,
        "split": split.name,
        "images": split.len(),
        "classes": labels,
        "models": scored.iter().map(|s| serde_json::json!({
            "kind": s.name, "model": s.path, "accuracy": s.conf.accuracy(), "correct": (0..k).map(|i| s.conf.m[i][i]).sum::<usize>(),
            "evaluated": s.conf.total(), "per_class": s.conf.report(&labels), "confusion_matrix": s.conf.m,
        })).collect::<Vec<_>>(),
        "top1_agreement": agreement,
        "skipped_images": skipped.iter().map(|(p, w)| serde_json::json!({"path": p, "error": w})).collect::<Vec<_>>(),
    });
    let jp = a.out.join("eval.json");
    checkpoint::write_atomic(&jp, serde_json::to_string_pretty(&j)?.as_bytes())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    println!("data: {} ({} split: {} images, {} classes)", a.data.display(), split.name, split.len(), k);
    for s in &scored {
        let right: usize = (0..k).map(|i| s.conf.m[i][i]).sum();
        println!("{:<6} accuracy {:>7.3}%  ({right}/{})  {}", s.name, 100.0 * s.conf.accuracy(), s.conf.total(), s.path);
    }
    if let Some(ag) = agreement {
        println!("top-1 agreement float vs int8: {:.3}%", 100.0 * ag);
    }
    for s in &scored {
        println!("\n{} per class:\n{}", s.name, report_table(&s.conf.report(&labels)).trim_end());
    }
    if !skipped.is_empty() {
        println!("\nskipped {} unreadable images:", skipped.len());
        for (p, w) in &skipped {
            println!("  {}: {w}", p.display());
        }
    }
    println!();
    for f in files.iter().chain([&jp]) {
        println!("wrote {}", f.display());
    }
    Ok(())
}

/// Calibration inputs (NHWC): `--calib DIR`, else 100 seeded picks from the training split.
fn calibration(a: &Args, ds: &dataset::Dataset, g: &kestrel_compiler::ir::Graph, pp: &Preprocess) -> Result<Vec<Vec<f32>>> {
    let dims = g.values[g.input].dims;
    if let Some(dir) = &a.calib {
        let files = kestrel_compiler::data::list_inputs(dir)?;
        return super::load_inputs(&files, dims, &Preprocess { src_nchw: true, ..*pp });
    }
    let src = if ds.train.is_empty() { eval::pick_split(ds, a.split.as_deref())? } else { &ds.train };
    let mut ids: Vec<usize> = (0..src.len()).collect();
    ids.shuffle(&mut rand::rngs::StdRng::seed_from_u64(1));
    ids.truncate(100);
    ids.iter().filter_map(|&i| eval::sample_nhwc(src, i, dims, pp).ok()).map(Ok).collect::<Result<Vec<_>>>().and_then(|v| {
        if v.is_empty() {
            bail!("no calibration image could be decoded; pass --calib DIR");
        }
        Ok(v)
    })
}
