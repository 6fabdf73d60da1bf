//! `kestrel bench`: compile a float ONNX model to int8 and f32 `.kes` (calibrating on a few
//! seeded random inputs), then time kestrel (int8, f32), ONNX Runtime (the QDQ export and
//! the float model) and tract (float) on the same input, interleaved round by round after
//! a warm-up, and report median and minimum per inference, GMAC/s, percent of the measured
//! peak (`--peak`), heap allocations per inference and arena bytes.
//!
//! Each sample times a batch of inferences sized to take about 2 ms (one inference for
//! anything slower), so microsecond models are measured above the timer's resolution.

pub mod peak;

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use kestrel_runtime::kernels::{self, Kernels};
use kestrel_runtime::{Model, Precision, ThreadPool};
use serde::Serialize;

use kestrel_runtime::AlignedBuf;
use kestrel_compiler::threads::{check_threads, cores};
use crate::engines::{OrtModel, TractModel};
use kestrel_compiler::ir::Layout;
use kestrel_compiler::lower::default_preprocess;
use kestrel_compiler::pipeline::{self, CompileOptions};
use kestrel_compiler::quant::calibrate::Method;

pub use peak::Peak;

/// Which engines to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Engine {
    /// kestrel-runtime, int8 and f32.
    Kestrel,
    /// ONNX Runtime on the QDQ export and on the float model.
    Ort,
    /// tract on the float model.
    Tract,
}

impl std::str::FromStr for Engine {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Engine> {
        match s.trim().to_ascii_lowercase().as_str() {
            "kestrel" => Ok(Engine::Kestrel),
            "ort" | "onnxruntime" => Ok(Engine::Ort),
            "tract" => Ok(Engine::Tract),
            other => bail!("unknown engine '{other}' (known: kestrel, ort, tract)"),
        }
    }
}

/// Options of one benchmark.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Threads for kestrel and ONNX Runtime (tract runs single-threaded).
    pub threads: usize,
    /// Engines to time.
    pub engines: Vec<Engine>,
    /// Samples per engine at least.
    pub min_runs: usize,
    /// Seconds of timed rounds at least (after warm-up).
    pub min_seconds: f64,
    /// Measure the machine's int8/f32 peak first and report percent of it.
    pub peak: bool,
    /// Random calibration inputs for the int8 model.
    pub calib: usize,
    /// Force a kestrel kernel set by name (default: the best this CPU runs).
    pub kernels: Option<String>,
}

/// One timed engine.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Engine and precision, e.g. "kestrel int8".
    pub engine: String,
    /// "int8" or "f32".
    pub precision: &'static str,
    /// Threads the engine ran on.
    pub threads: usize,
    /// Median milliseconds per inference.
    pub median_ms: f64,
    /// Fastest sample, milliseconds per inference.
    pub min_ms: f64,
    /// Samples taken.
    pub samples: usize,
    /// Inferences per sample.
    pub batch: usize,
    /// Model MACs / median time.
    pub gmacs: f64,
    /// Percent of the measured peak for this precision on this many threads.
    pub pct_peak: Option<f64>,
    /// Heap allocations per inference seen by the Rust allocator (`None` where the engine
    /// allocates in C++, out of sight).
    pub allocs_per_inference: Option<f64>,
    /// Arena bytes (kestrel).
    pub arena_bytes: Option<usize>,
}

/// A whole benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The model's name (file stem).
    pub model: String,
    /// Multiply-accumulates per inference.
    pub macs: u64,
    /// Threads requested (after clamping).
    pub threads: usize,
    /// The CPU, from /proc/cpuinfo.
    pub cpu: String,
    /// Logical cores available.
    pub cores: usize,
    /// kestrel's kernel set.
    pub kernels: String,
    /// Measured peak, with `--peak`.
    pub peak: Option<Peak>,
    /// One row per engine and precision.
    pub rows: Vec<Row>,
    /// Remarks (clamped threads, engines that could not run, ...).
    pub notes: Vec<String>,
}

/// The CPU's model name (Linux), or "unknown CPU".
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Something that runs one inference on the benchmark input.
trait Runner {
    fn run(&mut self) -> Result<()>;
}

struct KestrelRunner<'a> {
    model: Model<'a>,
    kernels: &'static Kernels,
    pool: &'a ThreadPool,
    arena: AlignedBuf,
    input: Vec<f32>,
    output: Vec<f32>,
}

impl Runner for KestrelRunner<'_> {
    fn run(&mut self) -> Result<()> {
        self.model.set_input_f32_with(self.kernels, self.arena.as_mut_slice(), &self.input)?;
        self.model.run_parallel(self.kernels, self.pool, self.arena.as_mut_slice())?;
        self.model.output_f32(self.arena.as_slice(), &mut self.output)?;
        Ok(())
    }
}

struct OrtRunner {
    model: OrtModel,
    shape: Vec<usize>,
    input: Vec<f32>,
}

impl Runner for OrtRunner {
    fn run(&mut self) -> Result<()> {
        std::hint::black_box(self.model.run(&self.shape, &self.input)?);
        Ok(())
    }
}

struct TractRunner {
    model: TractModel,
    shape: Vec<usize>,
    input: Vec<f32>,
}

impl Runner for TractRunner {
    fn run(&mut self) -> Result<()> {
        std::hint::black_box(self.model.run(&self.shape, &self.input)?);
        Ok(())
    }
}

fn slot<'a>(row: Row, runner: Box<dyn Runner + 'a>, counted: bool) -> Slot<'a> {
    Slot { row, runner, counted, samples: vec![], allocs: 0, inferences: 0 }
}

struct Slot<'a> {
    row: Row,
    runner: Box<dyn Runner + 'a>,
    /// Whether the Rust allocator sees this engine's allocations.
    counted: bool,
    samples: Vec<f64>,
    allocs: u64,
    inferences: u64,
}

/// Run the benchmark. `allocs` is `Some(counter)` when the counting allocator is installed.
pub fn bench(onnx: &[u8], name: &str, opts: &BenchOptions, allocs: Option<fn() -> u64>, log: &mut dyn FnMut(&str)) -> Result<Report> {
    let (threads, clamp_note) = check_threads(opts.threads)?;
    let mut notes: Vec<String> = clamp_note.into_iter().collect();
    let kset = match &opts.kernels {
        Some(n) => kernels::by_name(n).map_err(|e| anyhow!("--kernels {n}: {e}"))?,
        None => kernels::best(),
    };
    let want = |e: Engine| opts.engines.contains(&e);

    log("importing and compiling (int8: calibrating on random inputs)");
    let g8 = kestrel_compiler::onnx::import::import_onnx(onnx).with_context(|| format!("{name}: cannot import"))?;
    let mut g8 = g8;
    kestrel_compiler::passes::optimize(&mut g8, true)?;
    let gf = {
        let mut g = kestrel_compiler::onnx::import::import_onnx(onnx)?;
        kestrel_compiler::passes::optimize(&mut g, false)?;
        g
    };
    let macs = gf.macs();
    let in_v = &gf.values[gf.input];
    let shape = in_v.onnx_shape();
    let to_nhwc = |x: &[f32]| -> Vec<f32> {
        let [_, h, w, c] = in_v.dims;
        if in_v.layout == Layout::Nchw { kestrel_compiler::data::nchw_to_nhwc(x, c, h, w) } else { x.to_vec() }
    };
    let x_onnx = kestrel_compiler::zoo::random_input(&gf, 12_345);
    let x_nhwc = to_nhwc(&x_onnx);
    let calib: Vec<Vec<f32>> = (0..opts.calib.max(1)).map(|i| to_nhwc(&kestrel_compiler::zoo::random_input(&gf, 1000 + i as u64))).collect();
    let base = CompileOptions { precision: Precision::Int8, method: Method::MinMax, preprocess: default_preprocess(), labels: vec![] };
    let c8 = pipeline::compile(g8, &calib, &base, &mut || {})?;
    let qdq = pipeline::qdq_bytes(&c8)?;
    let cf = pipeline::compile(gf.clone(), &[], &CompileOptions { precision: Precision::F32, ..base }, &mut || {})?;
    let (kes8, kesf) = (AlignedBuf::from_bytes(&c8.lowered.bytes), AlignedBuf::from_bytes(&cf.lowered.bytes));
    let pool = ThreadPool::new(threads);

    let peak = if opts.peak {
        log("measuring peak throughput");
        let p = peak::probe(threads);
        if p.is_none() {
            notes.push("--peak: no probe for this CPU".into());
        }
        p
    } else {
        None
    };

    let mut slots: Vec<Slot<'_>> = Vec::new();
    let row = |engine: String, precision: &'static str, t: usize, arena: Option<usize>| Row {
        engine,
        precision,
        threads: t,
        median_ms: 0.0,
        min_ms: 0.0,
        samples: 0,
        batch: 1,
        gmacs: 0.0,
        pct_peak: None,
        allocs_per_inference: None,
        arena_bytes: arena,
    };
    if want(Engine::Kestrel) {
        for (kes, prec) in [(&kes8, "int8"), (&kesf, "f32")] {
            let model = Model::load(kes.as_slice())?;
            let r = KestrelRunner {
                model,
                kernels: kset,
                pool: &pool,
                arena: AlignedBuf::zeroed(model.arena_size()),
                input: x_nhwc.clone(),
                output: vec![0f32; model.output().len()],
            };
            let name = format!("kestrel {prec} ({})", kset.name);
            slots.push(slot(row(name, prec, threads, Some(model.arena_size())), Box::new(r), true));
        }
    }
    if want(Engine::Ort) {
        for (bytes, prec, label) in [(&qdq, "int8", "ONNX Runtime int8 (QDQ)"), (&onnx.to_vec(), "f32", "ONNX Runtime f32")] {
            match OrtModel::new(bytes, threads) {
                Ok(m) => slots.push(slot(row(label.into(), prec, threads, None), Box::new(OrtRunner { model: m, shape: shape.clone(), input: x_onnx.clone() }), false)),
                Err(e) => notes.push(format!("{label} skipped: {e:#}")),
            }
        }
    }
    if want(Engine::Tract) {
        match TractModel::new(onnx, &shape) {
            Ok(m) => slots.push(slot(row("tract f32".into(), "f32", 1, None), Box::new(TractRunner { model: m, shape: shape.clone(), input: x_onnx.clone() }), true)),
            Err(e) => notes.push(format!("tract skipped: {e:#}")),
        }
    }
    if slots.is_empty() {
        bail!("no engine could run (see the notes above)");
    }

    // Warm-up: a few inferences each; size batches to ~2 ms per sample.
    log("warming up");
    for s in slots.iter_mut() {
        let t = Instant::now();
        let mut n = 0;
        while n < 3 || (t.elapsed() < Duration::from_millis(200) && n < 1000) {
            s.runner.run()?;
            n += 1;
        }
        let per = t.elapsed().as_secs_f64() / n as f64;
        s.row.batch = ((0.002 / per).ceil() as usize).clamp(1, 100_000);
    }

    log("timing (interleaved rounds)");
    let start = Instant::now();
    let count = |on: bool| if on { allocs.map(|f| f()) } else { None };
    loop {
        for s in slots.iter_mut() {
            // With several threads, one untimed inference after switching engines: the
            // previous engine's spin-waiting workers (ONNX Runtime's spin after a run) would
            // otherwise take cores from this sample.
            if threads > 1 {
                s.runner.run()?;
            }
            let a0 = count(s.counted);
            let t = Instant::now();
            for _ in 0..s.row.batch {
                s.runner.run()?;
            }
            let dt = t.elapsed().as_secs_f64();
            if let (Some(a0), Some(a1)) = (a0, count(s.counted)) {
                s.allocs += a1 - a0;
            }
            s.inferences += s.row.batch as u64;
            s.samples.push(dt / s.row.batch as f64);
        }
        let done = slots[0].samples.len() >= opts.min_runs && start.elapsed().as_secs_f64() >= opts.min_seconds;
        if done {
            break;
        }
    }

    let mut rows = Vec::new();
    for s in slots {
        let mut v = s.samples.clone();
        v.sort_by(f64::total_cmp);
        let med = if v.len() % 2 == 1 { v[v.len() / 2] } else { (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0 };
        let mut r = s.row;
        r.median_ms = med * 1e3;
        r.min_ms = v[0] * 1e3;
        r.samples = v.len();
        r.gmacs = macs as f64 / med / 1e9;
        r.pct_peak = peak.as_ref().map(|p| {
            let per_thread = if r.precision == "int8" { p.int8_gmacs } else { p.f32_gmacs } / p.threads as f64;
            100.0 * r.gmacs / (per_thread * r.threads as f64)
        });
        r.allocs_per_inference = if s.counted && allocs.is_some() { Some(s.allocs as f64 / s.inferences.max(1) as f64) } else { None };
        rows.push(r);
    }
    if allocs.is_none() {
        notes.push("allocations not counted (the counting allocator is only in the kestrel binary)".into());
    }
    Ok(Report { model: name.to_string(), macs, threads, cpu: cpu_name(), cores: cores(), kernels: kset.name.to_string(), peak, rows, notes })
}

fn median_of<'a>(r: &'a Report, engine: &str) -> Option<&'a Row> {
    r.rows.iter().find(|row| row.engine.starts_with(engine))
}

/// "kestrel int8 is 1.23x ONNX Runtime int8" lines, from the medians of one run.
pub fn ratios(r: &Report) -> Vec<String> {
    let mut v = Vec::new();
    for (a, b) in [("kestrel int8", "ONNX Runtime int8"), ("kestrel f32", "ONNX Runtime f32"), ("kestrel int8", "tract f32"), ("kestrel f32", "tract f32")] {
        if let (Some(x), Some(y)) = (median_of(r, a), median_of(r, b)) {
            v.push(format!("{a} vs {b}: {:.2}x the speed ({:.3} vs {:.3} ms, medians)", y.median_ms / x.median_ms, x.median_ms, y.median_ms));
        }
    }
    v
}

fn fmt_ms(ms: f64) -> String {
    if ms < 0.1 { format!("{:.4}", ms) } else if ms < 10.0 { format!("{:.3}", ms) } else { format!("{:.1}", ms) }
}

fn fmt_int(n: usize) -> String {
    let s = n.to_string();
    let mut o = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            o.push(',');
        }
        o.push(c);
    }
    o
}

fn cells(r: &Row) -> [String; 8] {
    [
        r.engine.clone(),
        r.threads.to_string(),
        fmt_ms(r.median_ms),
        fmt_ms(r.min_ms),
        format!("{:.1}", r.gmacs),
        r.pct_peak.map_or("–".into(), |p| format!("{p:.1}%")),
        r.allocs_per_inference.map_or("–".into(), |a| format!("{a:.1}")),
        r.arena_bytes.map_or("–".into(), fmt_int),
    ]
}

const HEAD: [&str; 8] = ["engine", "threads", "median ms", "min ms", "GMAC/s", "% of peak", "allocs/inference", "arena bytes"];

fn headline(r: &Report) -> String {
    let peak = r.peak.as_ref().map_or(String::new(), |p| {
        format!(
            "; measured peak on {} thread(s): int8 {:.1} GMAC/s ({}), f32 {:.1} GMAC/s ({})",
            p.threads, p.int8_gmacs, p.int8_instruction, p.f32_gmacs, p.f32_instruction
        )
    });
    let work = if r.macs >= 1_000_000_000 { format!("{:.2} GMAC", r.macs as f64 / 1e9) } else { format!("{:.3} MMAC", r.macs as f64 / 1e6) };
    format!("{}: {work} per inference; {} ({} cores); kestrel kernels: {}{}", r.model, r.cpu, r.cores, r.kernels, peak)
}

/// The report as a text table.
pub fn table(r: &Report) -> String {
    let rows: Vec<[String; 8]> = r.rows.iter().map(cells).collect();
    let w: Vec<usize> = (0..8).map(|i| rows.iter().map(|c| c[i].chars().count()).chain([HEAD[i].len()]).max().unwrap_or(0)).collect();
    let line = |c: &[String]| -> String {
        c.iter().enumerate().map(|(i, s)| if i == 0 { format!("{s:<w$}", w = w[i]) } else { format!("{s:>w$}", w = w[i]) }).collect::<Vec<_>>().join("  ")
    };
    let mut out = format!("{}\n", headline(r));
    out += &line(&HEAD.map(String::from));
    out.push('\n');
    for c in &rows {
        out += &line(c);
        out.push('\n');
    }
    for s in ratios(r) {
        out += &format!("{s}\n");
    }
    for n in &r.notes {
        out += &format!("note: {n}\n");
    }
    out
}

/// The report as a markdown table, with the command that produced it.
pub fn markdown(r: &Report, command: &str) -> String {
    let mut out = format!("**{}**\n\n`{}`\n\n", headline(r), command);
    out += &format!("| {} |\n|{}\n", HEAD.join(" | "), "---|".repeat(8));
    for row in &r.rows {
        out += &format!("| {} |\n", cells(row).join(" | "));
    }
    out.push('\n');
    for s in ratios(r) {
        out += &format!("- {s}\n");
    }
    for n in &r.notes {
        out += &format!("- note: {n}\n");
    }
    out
}
