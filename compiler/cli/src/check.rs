//! `kestrel check`: every node of an ONNX model that cannot be compiled, one line each, and
//! the input-shape flags it shares with `compile`.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args as ClapArgs;
use kestrel_compiler::onnx::import::{ImportError, ImportOptions};
use kestrel_compiler::pipeline::{self, LoadError};

/// How to fix the model input's shape (`compile` and `check`).
#[derive(ClapArgs, Clone, Default)]
pub struct ShapeArgs {
    /// Compile at this batch size (only 1): lets a model whose input declares a fixed batch above 1 compile at batch 1
    #[arg(long)]
    batch: Option<usize>,
    /// The input's full ONNX shape, for dynamic dims (comma separated, e.g. 1,3,224,224)
    #[arg(long, value_delimiter = ',')]
    input_shape: Option<Vec<usize>>,
}

impl ShapeArgs {
    /// The importer's options.
    pub fn options(&self) -> ImportOptions {
        ImportOptions { batch: self.batch, input_shape: self.input_shape.clone() }
    }
}

/// Arguments of `kestrel check`.
#[derive(ClapArgs)]
pub struct Args {
    /// Float ONNX model
    model: PathBuf,
    #[command(flatten)]
    shape: ShapeArgs,
}

pub fn run(a: Args) -> Result<()> {
    let problems = pipeline::check(&a.model, &a.shape.options())?;
    if problems.is_empty() {
        println!("{}: compiles", a.model.display());
        return Ok(());
    }
    for p in &problems {
        println!("{p}");
    }
    bail!("{} cannot be compiled: {} problem(s), listed above", a.model.display(), problems.len())
}

/// When `e` is an import failure with several problems, print each on stderr (one line
/// each) before the caller reports `e` itself.
pub fn print_problems(e: &anyhow::Error) {
    if let Some(LoadError { err: err @ ImportError::Many(_), .. }) = e.downcast_ref::<LoadError>() {
        for line in err.lines() {
            eprintln!("  {line}");
        }
    }
}
