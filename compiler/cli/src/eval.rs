//! `kestrel eval`: accuracy, per-class report and confusion matrix of a float ONNX model
//! and its int8 `.kes`, side by side, on a dataset split.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args as ClapArgs;
use kestrel_compiler::pipeline::{self, CompileOptions};
use kestrel_compiler::quant::calibrate::Method;
use kestrel_train::classmap;
use kestrel_train::dataset::{self, OpenOptions};
use kestrel_train::eval::{self, Predictions};
use kestrel_train::metrics::{report_table, Confusion};
use kestrel_compiler::output::Outputs;
use kestrel_train::plot;
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
    super::args::rescale(a.rescale)?;
    if let Some(n) = a.limit {
        super::args::at_least_one("--limit", n)?;
    }
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
    let kes_bytes = kes.as_ref().map(|p| kestrel_compiler::bounded::read(p, kestrel_compiler::bounded::Kind::Kes)).transpose()?;
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
        split.items.truncate(n);
    }
    let graph = onnx.as_deref().map(|p| pipeline::load_graph(p, false)).transpose()?;
    let onnx_out = graph.as_ref().map(|g| g.values[g.output].len());
    let k = match (onnx_out, kes_out) {
        (Some(a_), Some(b_)) if a_ != b_ => bail!("the .onnx has {a_} outputs, the .kes {b_}: not the same model"),
        (Some(n), _) | (None, Some(n)) => n,
        (None, None) => bail!("give a .onnx or a .kes model"),
    };
    // The model's class names: --labels, else the .kes's; the data's folders are matched
    // to them by name (IDX labels are output indices already).
    let model_labels = match &a.labels {
        Some(p) => Some(pipeline::read_labels(p)?),
        None => (!kes_labels.is_empty()).then_some(kes_labels),
    };
    if let Some(l) = model_labels.as_ref().filter(|l| l.len() != k) {
        bail!("{} labels for a model with {k} outputs", l.len());
    }
    let (labels, mapping) = match model_labels {
        _ if split.idx.is_some() && split.items.iter().any(|(_, l)| *l >= k) => {
            bail!("the data has labels up to {}, the model {k} outputs", split.items.iter().map(|(_, l)| *l).max().unwrap_or(0))
        }
        l if split.idx.is_some() => {
            let l = match l {
                Some(l) => l,
                None if ds.classes.len() == k => ds.classes.clone(),
                None => (0..k).map(|i| i.to_string()).collect(),
            };
            (l, "IDX labels are output indices".to_string())
        }
        Some(l) => {
            let m = classmap::match_classes(&ds.classes, &l)?;
            for item in &mut split.items {
                item.1 = m.output[item.1];
            }
            let pairs: Vec<String> = ds.classes.iter().zip(&m.output).map(|(c, &o)| format!("{c} -> {o}")).collect();
            (l, format!("class folders matched to the model's labels {}: {}", m.how, pairs.join(", ")))
        }
        None => {
            if ds.classes.len() != k {
                bail!("the data has {} classes, the model {k} outputs, and the model has no labels to match them by name: pass --labels FILE", ds.classes.len());
            }
            eprintln!("warning: the model has no labels: class folders are taken in sorted order as outputs 0..{}; pass --labels FILE to match them by name", k - 1);
            (ds.classes.clone(), "sorted class folders as outputs 0.. (the model has no labels)".to_string())
        }
    };
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
    // The confusion matrices and eval.json are written together, or nothing is.
    let mut outs = Outputs::new(&a.models.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    if let Some(l) = &a.labels {
        outs.input(l);
    }
    outs.dir(&a.out)?;
    let mut files = Vec::new();
    for s in &scored {
        let p = a.out.join(format!("confusion_matrix_{}.png", s.name));
        let title = format!("{} on {} {} images: accuracy {:.2}%", s.name, s.conf.total(), split.name, 100.0 * s.conf.accuracy());
        outs.stage(&p, &plot::confusion_png(&s.conf.m, &labels, &title)?)?;
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
        "class_mapping": mapping,
        "skipped_images": skipped.iter().map(|(p, w)| serde_json::json!({"path": p, "error": w})).collect::<Vec<_>>(),
    });
    let jp = a.out.join("eval.json");
    outs.stage(&jp, serde_json::to_string_pretty(&j)?.as_bytes())?;
    outs.commit()?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    println!("data: {} ({} split: {} images, {} classes)", a.data.display(), split.name, split.len(), k);
    println!("{mapping}");
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
