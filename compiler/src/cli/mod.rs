//! Command-line interface (clap).

mod bench;
mod compile;
mod eval;
mod finetune;
mod inspect;
mod run;
mod sign;
mod stream;
mod train;
mod verify;
mod zoo;

use std::path::Path;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use kestrel_compiler::aligned::AlignedBuf;

/// Kestrel: from a float CNN in ONNX to int8 inference on edge hardware.
#[derive(Parser)]
#[command(name = "kestrel", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Quantize an ONNX model to int8 (or keep f32) and write a .kes (and a QDQ ONNX)
    Compile(compile::Args),
    /// Keras-style summary of an .onnx or .kes: layers, shapes, params, MACs, arena
    Inspect(inspect::Args),
    /// Run a .kes on images or .npy tensors and print the top classes
    Run(run::Args),
    /// Compare a .kes with the float ONNX in tract and ONNX Runtime and with the QDQ export
    Verify(verify::Args),
    /// Write a reference model of the model zoo (seeded random weights) as ONNX
    Zoo(zoo::Args),
    /// Time kestrel int8/f32, ONNX Runtime (QDQ and float) and tract on one model, interleaved
    Bench(bench::Args),
    /// Write a new Ed25519 model-signing key pair: KEY (secret, mode 0600) and KEY.pub
    Keygen(sign::KeygenArgs),
    /// Sign a .kes with a secret key (appends a signature block; the key stays out of it)
    Sign(sign::SignArgs),
    /// Check that a .kes is signed by the holder of a public key, and valid
    VerifySignature(sign::VerifyArgs),
    /// Train a zoo architecture with a classifier head on a dataset (Candle)
    Train(train::Args),
    /// Accuracy, per-class report and confusion matrix of a float .onnx and int8 .kes on a dataset
    Eval(eval::Args),
    /// Fine-tune a pretrained base (VGG16 …) with a new head: the two-stage recipe
    Finetune(finetune::Args),
    /// Live classification of a camera, video/stream, folder or test pattern: smoothing, alerts, tiles, preview page
    Stream(stream::Args),
}

pub fn main() -> Result<()> {
    let cli = Cli::try_parse().unwrap_or_else(|e| usage_error(e));
    match cli.cmd {
        Cmd::Compile(a) => compile::run(a),
        Cmd::Inspect(a) => inspect::run(a),
        Cmd::Run(a) => run::run(a),
        Cmd::Verify(a) => verify::run(a),
        Cmd::Zoo(a) => zoo::run(a),
        Cmd::Bench(a) => bench::run(a),
        Cmd::Keygen(a) => sign::keygen(a),
        Cmd::Sign(a) => sign::sign(a),
        Cmd::VerifySignature(a) => sign::verify_signature(a),
        Cmd::Train(a) => train::run(a),
        Cmd::Eval(a) => eval::run(a),
        Cmd::Finetune(a) => finetune::run(a),
        Cmd::Stream(a) => stream::run(a),
    }
}

/// Help and version print as clap does; a usage error becomes one line on stderr (the
/// message and what it lists, without the usage block) and exit code 2.
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand) {
        e.exit();
    }
    let text = e.render().to_string();
    let msg: Vec<&str> = text.lines().take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
    eprintln!("{} (see --help)", msg.join(" "));
    std::process::exit(2);
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
fn progress(len: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {elapsed}") {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    pb
}

/// Read a `.kes` into an aligned buffer.
fn read_kes(path: &Path) -> Result<AlignedBuf> {
    let b = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(AlignedBuf::from_bytes(&b))
}

/// Write a file atomically (temp file + rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp-kestrel");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Load every input of a directory (or the listed files) as NHWC tensors.
fn load_inputs(files: &[std::path::PathBuf], dims: [usize; 4], pp: &kestrel_runtime::Preprocess) -> Result<Vec<Vec<f32>>> {
    let pb = progress(files.len(), "loading");
    let r = files
        .iter()
        .map(|f| {
            pb.inc(1);
            kestrel_compiler::data::load_input(f, dims, pp)
        })
        .collect();
    pb.finish_and_clear();
    r
}
