//! `kestrel compile`.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args as ClapArgs, ValueEnum};
use kestrel_compiler::output::Outputs;
use kestrel_compiler::pipeline::{self, CompileOptions};
use kestrel_compiler::quant::calibrate::{passes, Method};
use kestrel_runtime::{ChannelOrder, Precision, Resize};

#[derive(Clone, Copy, ValueEnum)]
enum MethodArg {
    Minmax,
    Percentile,
    Entropy,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum PrecisionArg {
    Int8,
    F32,
}

#[derive(Clone, Copy, ValueEnum)]
enum ResizeArg {
    Stretch,
    Crop,
    Letterbox,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum ChannelsArg {
    Rgb,
    Bgr,
    Gray,
}

/// Arguments of `kestrel compile`.
#[derive(ClapArgs)]
pub struct Args {
    /// Float ONNX model
    model: PathBuf,
    /// Output .kes file
    #[arg(short, long)]
    output: PathBuf,
    /// Calibration data: a directory of images (png/jpg) or .npy float32 tensors
    #[arg(long)]
    calib: Option<PathBuf>,
    /// Calibration method
    #[arg(long, value_enum, default_value = "minmax")]
    method: MethodArg,
    /// Percentile kept by --method percentile
    #[arg(long, default_value_t = 99.99)]
    percentile: f32,
    /// Numeric precision of the .kes
    #[arg(long, value_enum, default_value = "int8")]
    precision: PrecisionArg,
    /// Labels file: one class name per line, in output order
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Also write the quantized model as QDQ ONNX (runs in ONNX Runtime and tract)
    #[arg(long)]
    export_onnx: Option<PathBuf>,
    /// Image preprocessing: multiply 0..255 pixels by this (1e-6 to 1000)
    #[arg(long, default_value_t = 1.0 / 255.0)]
    rescale: f32,
    /// Image preprocessing: per-channel mean, subtracted after rescale (comma separated)
    #[arg(long, value_delimiter = ',', default_value = "0")]
    mean: Vec<f32>,
    /// Image preprocessing: per-channel std (comma separated)
    #[arg(long, value_delimiter = ',', default_value = "1")]
    std: Vec<f32>,
    /// Image preprocessing: how images are fitted to the input size
    #[arg(long, value_enum, default_value = "stretch")]
    resize: ResizeArg,
    /// Image preprocessing: channel order the model expects (gray for 1 channel; default rgb)
    #[arg(long, value_enum)]
    channels: Option<ChannelsArg>,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    shape: super::check::ShapeArgs,
}

pub fn run(a: Args) -> Result<()> {
    let int8 = a.precision == PrecisionArg::Int8;
    let method = match a.method {
        MethodArg::Minmax => Method::MinMax,
        MethodArg::Percentile => {
            if !(50.0..=100.0).contains(&a.percentile) {
                bail!("--percentile must be between 50 and 100");
            }
            Method::Percentile(a.percentile)
        }
        MethodArg::Entropy => Method::Entropy,
    };
    super::args::rescale(a.rescale)?;
    if int8 && a.calib.is_none() {
        bail!("int8 compilation needs calibration data: --calib DIR (images or .npy tensors), or use --precision f32");
    }
    if !int8 && a.export_onnx.is_some() {
        bail!("--export-onnx writes the int8 QDQ model; it needs --precision int8");
    }
    let mut outs = Outputs::new(&[&a.model]);
    if let Some(l) = &a.labels {
        outs.input(l);
    }
    let labels = a.labels.as_deref().map(pipeline::read_labels).transpose()?.unwrap_or_default();
    let g = pipeline::load_graph_with(&a.model, int8, &a.shape.options()).inspect_err(super::check::print_problems)?;
    let c = g.values[g.input].dims[3];
    let channels = a.channels.unwrap_or(ChannelsArg::Rgb);
    match (a.channels, c) {
        (Some(ChannelsArg::Gray), 1) | (Some(ChannelsArg::Rgb | ChannelsArg::Bgr), 3) | (None, _) => {}
        (Some(ChannelsArg::Gray), _) => bail!("--channels gray needs a 1-channel model; this model takes {c} channels (rgb or bgr)"),
        (Some(_), _) => bail!("--channels rgb/bgr need a 3-channel model; this model takes {c} channel(s){}", if c == 1 { " (gray)" } else { "" }),
    }
    let preprocess = kestrel_runtime::Preprocess {
        src_nchw: true,
        channel_order: match channels {
            ChannelsArg::Rgb => ChannelOrder::Rgb,
            ChannelsArg::Bgr => ChannelOrder::Bgr,
            ChannelsArg::Gray => ChannelOrder::Gray,
        },
        resize: match a.resize {
            ResizeArg::Stretch => Resize::Stretch,
            ResizeArg::Crop => Resize::CenterCrop,
            ResizeArg::Letterbox => Resize::Letterbox,
        },
        rescale: a.rescale,
        mean: super::args::per_channel(&a.mean, "--mean", c)?,
        std: super::args::per_channel(&a.std, "--std", c)?,
    };
    let mut pp = preprocess;
    pp.src_nchw = g.values[g.input].layout == kestrel_compiler::ir::Layout::Nchw;
    let calib = match &a.calib {
        Some(dir) if int8 => {
            let files = kestrel_compiler::data::list_inputs(dir)?;
            files.iter().for_each(|f| outs.input(f));
            super::load_inputs(&files, g.values[g.input].dims, &pp)?
        }
        _ => vec![],
    };
    // A bad -o or --export-onnx fails before the work.
    outs.check(&a.output)?;
    if let Some(p) = &a.export_onnx {
        outs.check(p)?;
    }
    let opts = CompileOptions {
        precision: if int8 { Precision::Int8 } else { Precision::F32 },
        method,
        preprocess,
        labels,
    };
    let pb = super::progress(calib.len() * (passes(method) + 1), "calibrating");
    let c = pipeline::compile(g, &calib, &opts, &mut || pb.inc(1))?;
    pb.finish_and_clear();
    outs.stage(&a.output, &c.lowered.bytes)?;
    if let Some(p) = &a.export_onnx {
        outs.stage(p, &pipeline::qdq_bytes(&c)?)?;
    }
    outs.commit()?;
    if a.json {
        let j = serde_json::json!({
            "output": a.output,
            "precision": if int8 { "int8" } else { "f32" },
            "bytes": c.lowered.bytes.len(),
            "arena_bytes": c.lowered.arena,
            "arena_lower_bound": c.lowered.arena_lower_bound,
            "calibration_inputs": calib.len(),
            "layers": c.report,
            "qdq_onnx": a.export_onnx,
        });
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    println!(
        "wrote {} ({} model, {} bytes, arena {} bytes; lower bound {} bytes)",
        a.output.display(),
        if int8 { "int8" } else { "f32" },
        c.lowered.bytes.len(),
        c.lowered.arena,
        c.lowered.arena_lower_bound
    );
    if let Some(p) = &a.export_onnx {
        println!("wrote {} (QDQ ONNX)", p.display());
    }
    if !c.report.is_empty() {
        println!("\nper-layer float vs int8 on {} calibration inputs:", calib.len());
        println!("{:<28} {:<10} {:>10} {:>12}", "layer", "op", "SQNR dB", "max |err|");
        for l in &c.report {
            println!("{:<28} {:<10} {:>10.2} {:>12.5}", l.name, l.op, l.sqnr_db, l.max_abs_err);
        }
    }
    Ok(())
}
