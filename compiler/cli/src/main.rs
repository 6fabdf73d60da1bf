//! `kestrel`: compile, inspect, run and verify CNNs for edge inference (clap).
//!
//! The binary composes the crates by feature: the compile path (`kestrel-compiler`) and the
//! runtime always; `engines` (ONNX Runtime and tract: `verify`, `bench`), `train` (Candle:
//! `train`, `finetune`, `eval`) and `stream` (`kestrel-stream`) by default. A deploy-only
//! build: `cargo build -p kestrel-cli --no-default-features` (compile, inspect, run, zoo, sign).

mod args;
#[cfg(feature = "engines")]
mod bench;
mod check;
mod compile;
#[cfg(feature = "train")]
mod eval;
#[cfg(feature = "train")]
mod finetune;
mod inspect;
mod run;
mod sign;
#[cfg(feature = "stream")]
mod stream;
#[cfg(feature = "train")]
mod train;
#[cfg(feature = "engines")]
mod verify;
mod zoo;

use std::path::Path;

use anyhow::Result;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use kestrel_runtime::AlignedBuf;

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
    /// List every node of an ONNX model that cannot be compiled, one line each (exit 1 if any)
    Check(check::Args),
    /// Keras-style summary of an .onnx or .kes: layers, shapes, params, MACs, arena
    Inspect(inspect::Args),
    /// Run a .kes on images or .npy tensors and print the top classes
    Run(run::Args),
    #[cfg(feature = "engines")]
    /// Compare a .kes with the float ONNX in tract and ONNX Runtime and with the QDQ export
    Verify(verify::Args),
    /// Write a reference model of the model zoo (seeded random weights) as ONNX
    Zoo(zoo::Args),
    #[cfg(feature = "engines")]
    /// Time kestrel int8/f32, ONNX Runtime (QDQ and float) and tract on one model, interleaved
    Bench(bench::Args),
    /// Write a new Ed25519 model-signing key pair: KEY (secret, mode 0600) and KEY.pub
    Keygen(sign::KeygenArgs),
    /// Sign a .kes with a secret key (appends a signature block; the key stays out of it)
    Sign(sign::SignArgs),
    /// Check that a .kes is signed by the holder of a public key, and valid
    VerifySignature(sign::VerifyArgs),
    #[cfg(feature = "train")]
    /// Train a zoo architecture with a classifier head on a dataset (Candle)
    Train(train::Args),
    #[cfg(feature = "train")]
    /// Accuracy, per-class report and confusion matrix of a float .onnx and int8 .kes on a dataset
    Eval(eval::Args),
    #[cfg(feature = "train")]
    /// Fine-tune a pretrained base (VGG16 …) with a new head: the two-stage recipe
    Finetune(finetune::Args),
    #[cfg(feature = "stream")]
    /// Live classification of a camera, video/stream, folder or test pattern: smoothing, alerts, tiles, preview page
    Stream(stream::Args),
}

fn dispatch() -> Result<()> {
    let cli = Cli::try_parse().unwrap_or_else(|e| usage_error(e));
    match cli.cmd {
        Cmd::Compile(a) => compile::run(a),
        Cmd::Check(a) => check::run(a),
        Cmd::Inspect(a) => inspect::run(a),
        Cmd::Run(a) => run::run(a),
        #[cfg(feature = "engines")]
        Cmd::Verify(a) => verify::run(a),
        Cmd::Zoo(a) => zoo::run(a),
        #[cfg(feature = "engines")]
        Cmd::Bench(a) => bench::run(a),
        Cmd::Keygen(a) => sign::keygen(a),
        Cmd::Sign(a) => sign::sign(a),
        Cmd::VerifySignature(a) => sign::verify_signature(a),
        #[cfg(feature = "train")]
        Cmd::Train(a) => train::run(a),
        #[cfg(feature = "train")]
        Cmd::Eval(a) => eval::run(a),
        #[cfg(feature = "train")]
        Cmd::Finetune(a) => finetune::run(a),
        #[cfg(feature = "stream")]
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

/// A path for text output: as it is, or quoted with escapes when it holds a control
/// character (a file name with a newline must not forge an output line).
fn shown(p: &Path) -> String {
    let s = p.display().to_string();
    if s.chars().any(char::is_control) { format!("{s:?}") } else { s }
}

/// Read a `.kes` into an aligned buffer.
fn read_kes(path: &Path) -> Result<AlignedBuf> {
    let b = kestrel_compiler::bounded::read(path, kestrel_compiler::bounded::Kind::Kes)?;
    Ok(AlignedBuf::from_bytes(&b))
}

/// The CLI's default arena limit (`--max-arena-mib`).
const DEFAULT_MAX_ARENA_MIB: usize = 1024;

/// What a command that runs a model lets it need.
#[derive(clap::Args)]
struct ModelLimits {
    /// Refuse a model whose arena (activations + scratch) is above this many MiB, before
    /// allocating it
    #[arg(long, default_value_t = DEFAULT_MAX_ARENA_MIB)]
    max_arena_mib: usize,
}

impl ModelLimits {
    fn get(&self) -> kestrel_runtime::Limits {
        kestrel_runtime::Limits { max_arena: self.max_arena_mib.saturating_mul(1 << 20) }
    }
}

/// Load a `.kes` that was not checked against a public key: within `limits`; a signature
/// it carries can't be checked here (a warning says so), and a signature block that is
/// present but broken is refused.
fn load_model<'a>(path: &Path, bytes: &'a [u8], limits: &ModelLimits) -> Result<kestrel_runtime::Model<'a>> {
    let m = kestrel_runtime::Model::load_with_limits(bytes, &limits.get()).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    // `load` has checked the block's structure: a broken one is refused there.
    if let Ok(Some(info)) = kestrel_runtime::signature::signature_info(bytes) {
        let id: String = info.key_id.iter().map(|b| format!("{b:02x}")).collect();
        eprintln!("warning: {} is signed (key {id}), but its signature is not checked without --pubkey KEY.pub", path.display());
    }
    Ok(m)
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

/// Counts heap allocations for `kestrel bench` (off, one relaxed load each, until it runs).
#[cfg(feature = "engines")]
#[global_allocator]
static ALLOC: kestrel_engines::alloc_count::Counting = kestrel_engines::alloc_count::Counting;

fn main() {
    // A bug must still surface as one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info.payload().downcast_ref::<&str>().map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        // `kestrel run ... | head`: the reader went away; stop quietly, as Unix tools do.
        if msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("kestrel: internal error: {msg}{at} (please report it)");
    }));
    if let Err(e) = dispatch() {
        let msg = format!("{e:#}").replace('\n', " ");
        eprintln!("error: {msg}");
        std::process::exit(1);
    }
}
