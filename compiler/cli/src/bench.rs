//! `kestrel bench`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args as ClapArgs;
use kestrel_compiler::output::Outputs;
use kestrel_engines::bench::{self, BenchOptions, Engine};

/// Arguments of `kestrel bench`.
#[derive(ClapArgs)]
pub struct Args {
    /// Float ONNX model (e.g. from `kestrel zoo NAME -o MODEL.onnx`)
    model: PathBuf,
    /// Threads for kestrel and ONNX Runtime (tract runs on one)
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Engines to time, comma separated: kestrel, ort, tract
    #[arg(long, value_delimiter = ',', default_value = "kestrel,ort,tract")]
    engines: Vec<Engine>,
    /// Measure this machine's int8 (vpdpbusd) and f32 (FMA) peak and report percent of it
    #[arg(long)]
    peak: bool,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
    /// Also write the table as markdown to FILE
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Samples per engine, at least
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Seconds of timed rounds, at least
    #[arg(long, default_value_t = 10.0)]
    time: f64,
    /// Random calibration inputs for the int8 model
    #[arg(long, default_value_t = 4)]
    calib: usize,
    /// Force a kestrel kernel set: scalar, avx2, avx512vnni, neon, neon-dotprod, dsp (default:
    /// the best this CPU has; one it lacks is refused)
    #[arg(long)]
    kernels: Option<String>,
}

pub fn run(a: Args) -> Result<()> {
    super::args::at_least_one("--runs", a.runs)?;
    super::args::in_range("--time", a.time, 0.0, 3600.0)?;
    super::args::at_least_one("--calib", a.calib)?;
    let outs = Outputs::new(&[&a.model]);
    if let Some(p) = &a.markdown {
        outs.check(p)?;
    }
    let onnx = kestrel_compiler::bounded::read(&a.model, kestrel_compiler::bounded::Kind::Onnx)?;
    let name = a.model.file_stem().and_then(|s| s.to_str()).unwrap_or("model").to_string();
    let opts = BenchOptions {
        threads: a.threads,
        engines: a.engines.clone(),
        min_runs: a.runs,
        min_seconds: a.time,
        peak: a.peak,
        calib: a.calib,
        kernels: a.kernels.clone(),
    };
    let counted = kestrel_engines::alloc_count::start();
    let allocs: Option<fn() -> u64> = if counted { Some(kestrel_engines::alloc_count::count) } else { None };
    // Progress only for a person watching: a script or a test reading stderr gets the
    // error line alone.
    let quiet = a.json || !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let r = bench::bench(&onnx, &name, &opts, allocs, &mut |m| {
        if !quiet {
            eprintln!("{m}...");
        }
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", bench::table(&r));
    }
    if let Some(p) = &a.markdown {
        let cmd = std::env::args().map(|s| if s.contains(' ') { format!("'{s}'") } else { s }).collect::<Vec<_>>().join(" ");
        let mut outs = outs;
        outs.stage(p, bench::markdown(&r, &cmd).as_bytes())?;
        outs.commit()?;
        if !a.json {
            println!("wrote {}", p.display());
        }
    }
    Ok(())
}
