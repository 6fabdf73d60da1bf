//! Evaluation of a float graph (Candle, batched) and of a `.kes` (kestrel-runtime) on a
//! dataset split, with the same preprocessing for both: every sample goes through
//! [`kestrel_compiler::data::preprocess_image`] with one [`Preprocess`] (the `.kes`'s own when there is
//! one), exactly as `kestrel run` feeds images.

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use kestrel_runtime::{Model, Preprocess};
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::dataset::{Dataset, Source, Split};
use super::net::{logits_value, Net};
use super::trainer::Ui;
use kestrel_runtime::AlignedBuf;
use kestrel_compiler::ir::Graph;

/// One sample as an image.
pub fn sample_image(split: &Split, src: &Source) -> Result<image::DynamicImage> {
    match src {
        Source::Idx(i) => {
            let im = split.idx.as_ref().context("IDX split without images")?;
            let g = image::GrayImage::from_raw(im.cols as u32, im.rows as u32, im.image(*i).to_vec()).context("IDX image")?;
            Ok(image::DynamicImage::ImageLuma8(g))
        }
        Source::File(p) => image::open(p).with_context(|| format!("{}: cannot decode image", p.display())),
    }
}

/// Sample `i` of `split` as NHWC f32 for an input of NHWC `dims`.
pub fn sample_nhwc(split: &Split, i: usize, dims: [usize; 4], pp: &Preprocess) -> Result<Vec<f32>> {
    let img = sample_image(split, &split.items[i].0)?;
    let [_, h, w, c] = dims;
    Ok(kestrel_compiler::data::preprocess_image(&img, h, w, c, pp))
}

/// Predictions: the top-1 class of every sample (`None` where it could not be decoded).
pub type Predictions = Vec<Option<usize>>;

fn decode_or_mark(ds: &Dataset, split: &Split, i: usize, dims: [usize; 4], pp: &Preprocess) -> Option<Vec<f32>> {
    match sample_nhwc(split, i, dims, pp) {
        Ok(x) => Some(x),
        Err(e) => {
            if let Source::File(p) = &split.items[i].0 {
                ds.mark_corrupt(p, &format!("{e:#}"));
            }
            None
        }
    }
}

/// Top-1 of a float graph (any graph [`Net`] runs) on every sample of `split`.
pub fn predict_float(g: &Graph, ds: &Dataset, split: &Split, pp: &Preprocess, batch: usize, ui: &mut dyn Ui) -> Result<Predictions> {
    let net = Net::new(g.clone(), &Device::Cpu)?;
    let dims = g.values[g.input].dims;
    let [_, h, w, c] = dims;
    let logits_v = logits_value(g);
    let mut rng = StdRng::seed_from_u64(0);
    let mut out = vec![None; split.len()];
    ui.start(split.len(), "float");
    let ids: Vec<usize> = (0..split.len()).collect();
    for chunk in ids.chunks(batch.max(1)) {
        let mut xs = Vec::with_capacity(chunk.len() * h * w * c);
        let mut ok = Vec::with_capacity(chunk.len());
        for &i in chunk {
            if let Some(x) = decode_or_mark(ds, split, i, dims, pp) {
                xs.extend(kestrel_compiler::data::nhwc_to_nchw(&x, c, h, w));
                ok.push(i);
            }
        }
        ui.tick(chunk.len(), "");
        if ok.is_empty() {
            continue;
        }
        let x = Tensor::from_vec(xs, (ok.len(), c, h, w), &Device::Cpu)?;
        let logits = net.forward_from(g.input, &x, logits_v, false, &mut rng)?;
        for (&i, p) in ok.iter().zip(logits.argmax(1)?.to_vec1::<u32>()?) {
            out[i] = Some(p as usize);
        }
    }
    ui.finish();
    Ok(out)
}

/// Top-1 of a `.kes` on every sample of `split`, on `threads` threads.
pub fn predict_kes(kes: &[u8], ds: &Dataset, split: &Split, threads: usize, ui: &mut dyn Ui) -> Result<Predictions> {
    let buf = AlignedBuf::from_bytes(kes);
    let m = Model::load(buf.as_slice()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pp = m.meta().preprocess;
    let dims = m.input().dims;
    let n_out = m.output().len();
    let threads = threads.max(1);
    let mut out: Predictions = vec![None; split.len()];
    ui.start(split.len(), "int8");
    let chunk = split.len().div_ceil(threads).max(1);
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = out
            .chunks_mut(chunk)
            .enumerate()
            .map(|(t, part)| {
                let m = &m;
                s.spawn(move || -> Result<()> {
                    let mut arena = AlignedBuf::zeroed(m.arena_size());
                    let mut y = vec![0f32; n_out];
                    for (j, slot) in part.iter_mut().enumerate() {
                        let i = t * chunk + j;
                        let Some(x) = decode_or_mark(ds, split, i, dims, &pp) else { continue };
                        m.set_input_f32(arena.as_mut_slice(), &x).map_err(|e| anyhow::anyhow!("{e}"))?;
                        m.run(arena.as_mut_slice()).map_err(|e| anyhow::anyhow!("{e}"))?;
                        m.output_f32(arena.as_slice(), &mut y).map_err(|e| anyhow::anyhow!("{e}"))?;
                        *slot = Some(argmax(&y));
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("an eval thread panicked")))).collect()
    });
    ui.tick(split.len(), "");
    ui.finish();
    for r in results {
        r?;
    }
    Ok(out)
}

/// Index of the largest value (the first on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// The split to evaluate: `name` if given, else test, else validation, else train.
pub fn pick_split<'a>(ds: &'a Dataset, name: Option<&str>) -> Result<&'a Split> {
    let pick = |n: &str| -> Option<&'a Split> {
        match n {
            "test" => ds.test.as_ref(),
            "valid" | "validation" | "val" => ds.valid.as_ref(),
            "train" => Some(&ds.train),
            _ => None,
        }
    };
    let s = match name {
        Some(n) => pick(n).with_context(|| format!("the data has no '{n}' split"))?,
        None => ["test", "valid", "train"].iter().filter_map(|n| pick(n)).find(|s| !s.is_empty()).context("the data has no images")?,
    };
    if s.is_empty() {
        bail!("the '{}' split has no images", s.name);
    }
    Ok(s)
}
