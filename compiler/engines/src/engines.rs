//! Reference engines used by `verify`, `bench` and the parity tests: ONNX Runtime (through
//! `ort`, loading the `libonnxruntime.so` that `scripts/setup.sh` installs) and tract.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Context, Result};

/// Where `scripts/setup.sh` puts ONNX Runtime's library, if `ORT_DYLIB_PATH` is unset.
pub fn default_ort_dylib() -> Option<PathBuf> {
    let venv = std::env::var_os("KESTREL_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/kestrel/venv")))?;
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    for py in lib.flatten() {
        let capi = py.path().join("site-packages/onnxruntime/capi");
        if let Ok(rd) = std::fs::read_dir(&capi) {
            let mut libs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libonnxruntime.so"))
            }).collect();
            libs.sort();
            if let Some(l) = libs.pop() {
                return Some(l);
            }
        }
    }
    None
}

fn ort_env() -> Result<&'static ort::environment::Environment> {
    static ENV: OnceLock<std::result::Result<ort::environment::Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let path = std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from).or_else(default_ort_dylib).ok_or_else(|| {
            "ONNX Runtime not found: set ORT_DYLIB_PATH to libonnxruntime.so (run scripts/setup.sh to install it)".to_string()
        })?;
        if !path.exists() {
            return Err(format!(
                "ONNX Runtime not found at ORT_DYLIB_PATH={} (run scripts/setup.sh to install it)",
                path.display()
            ));
        }
        let b = ort::init_from(&path).map_err(|e| format!("cannot load ONNX Runtime from {}: {e} (ORT_DYLIB_PATH; scripts/setup.sh installs it)", path.display()))?;
        b.with_name("kestrel").build().map_err(|e| format!("cannot start ONNX Runtime: {e}"))
    })
    .as_ref()
    .map_err(|e| anyhow!("{e}"))
}

/// An ONNX model loaded in ONNX Runtime (full graph optimizations, `threads` intra-op threads).
pub struct OrtModel {
    session: ort::session::Session,
}

impl OrtModel {
    /// Load an ONNX model from bytes.
    pub fn new(onnx: &[u8], threads: usize) -> Result<OrtModel> {
        let env = ort_env()?;
        let b = ort::session::Session::builder(env).map_err(|e| anyhow!("ONNX Runtime: {e}"))?;
        let mut b = b
            .with_optimization_level(ort::session::builder::GraphOptimizationLevel::Level3)
            .map_err(|e| anyhow!("ONNX Runtime: {e}"))?
            .with_intra_threads(threads)
            .map_err(|e| anyhow!("ONNX Runtime: {e}"))?;
        let session = b.commit_from_memory(onnx).map_err(|e| anyhow!("ONNX Runtime could not load the model: {e}"))?;
        Ok(OrtModel { session })
    }

    /// Run on one f32 input of `shape` (the ONNX input layout); returns the first output.
    pub fn run(&mut self, shape: &[usize], input: &[f32]) -> Result<Vec<f32>> {
        let t = ort::value::Tensor::from_array((shape.to_vec(), input.to_vec())).map_err(|e| anyhow!("ONNX Runtime: {e}"))?;
        let out = self.session.run(ort::inputs![t]).map_err(|e| anyhow!("ONNX Runtime run failed: {e}"))?;
        let (_, v) = out[0].try_extract_tensor::<f32>().map_err(|e| anyhow!("ONNX Runtime output: {e}"))?;
        Ok(v.to_vec())
    }
}

/// An ONNX model loaded in tract (optimized, single-threaded).
pub struct TractModel {
    plan: std::sync::Arc<tract_onnx::prelude::TypedRunnableModel>,
}

impl TractModel {
    /// Load from bytes with a fixed input shape.
    pub fn new(model_bytes: &[u8], shape: &[usize]) -> Result<TractModel> {
        use tract_onnx::prelude::*;
        let plan = tract_onnx::onnx()
            .model_for_read(&mut &model_bytes[..])
            .context("tract could not read the model")?
            .with_input_fact(0, f32::fact(shape).into())?
            .into_optimized()
            .context("tract could not optimize the model")?
            .into_runnable()?;
        Ok(TractModel { plan })
    }

    /// Run on one f32 input; returns the first output.
    pub fn run(&self, shape: &[usize], input: &[f32]) -> Result<Vec<f32>> {
        use tract_onnx::prelude::*;
        let t = Tensor::from_shape(shape, input)?;
        let out = self.plan.run(tvec!(t.into()))?;
        let Some(first) = out.first() else { bail!("tract returned no output") };
        Ok(first.to_plain_array_view::<f32>()?.iter().copied().collect())
    }
}
