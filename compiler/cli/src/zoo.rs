//! `kestrel zoo`: write a reference model (seeded random weights) and sample inputs.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args as ClapArgs;
use kestrel_compiler::onnx::{export, pb_util};
use kestrel_compiler::output::Outputs;

/// Arguments of `kestrel zoo`.
#[derive(ClapArgs)]
pub struct Args {
    /// Model name: mnist_cnn_28, cifar_cnn_32, vgg16_plants_150, vgg16_ft_224
    name: String,
    /// Output ONNX file
    #[arg(short, long)]
    output: PathBuf,
    /// Seed of the random weights
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write random sample inputs (.npy, ONNX layout) into this directory
    #[arg(long)]
    inputs: Option<PathBuf>,
    /// Number of sample inputs
    #[arg(long, default_value_t = 8)]
    count: usize,
}

pub fn run(a: Args) -> Result<()> {
    let g = kestrel_compiler::zoo::build(&a.name, a.seed)?;
    // The model and its sample inputs are written together, or nothing is.
    let mut outs = Outputs::new(&[]);
    outs.stage(&a.output, &pb_util::encode(&export::export_float(&g)))?;
    if let Some(dir) = &a.inputs {
        outs.dir(dir)?;
        let shape = g.values[g.input].onnx_shape();
        for i in 0..a.count {
            let x = kestrel_compiler::zoo::random_input(&g, a.seed.wrapping_mul(1000).wrapping_add(i as u64));
            let p = dir.join(format!("input_{i:03}.npy"));
            outs.stage(&p, &kestrel_compiler::data::write_npy(&shape, &x))?;
        }
    }
    outs.commit()?;
    println!("wrote {} ({}, {} MACs)", a.output.display(), a.name, g.macs());
    if let Some(dir) = &a.inputs {
        println!("wrote {} inputs to {}", a.count, dir.display());
    }
    Ok(())
}
