//! Datasets: the Keras `flow_from_directory` layout and IDX files.
//!
//! Folders: `DIR/train/`, `DIR/valid/` (or `validation/`), optional `DIR/test/`, each with
//! one folder per class; classes are the sorted folder names of `train/` (or of `DIR`
//! itself when it has no `train/`, with the validation split cut from it). Images are
//! listed once (headers read to find their color mode, unreadable ones skipped and
//! reported) and decoded only when a batch needs them. IDX: `DIR` holds
//! `train-images-idx3-ubyte[.gz]` (+ labels) and optionally `t10k-…` (the test split), or
//! the path names one image file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};

use super::idx::{self, IdxImages};

/// Image file extensions the loader reads (as Keras' `flow_from_directory`).
pub const IMAGE_EXTS: [&str; 6] = ["png", "jpg", "jpeg", "bmp", "ppm", "gif"];

/// Where a sample's pixels come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// An image file.
    File(PathBuf),
    /// Image `i` of the split's IDX file.
    Idx(usize),
}

/// One split (train, validation or test).
#[derive(Debug, Clone)]
pub struct Split {
    /// `train`, `valid`, `test`.
    pub name: String,
    /// Samples and their class index.
    pub items: Vec<(Source, usize)>,
    /// The IDX images the samples point into.
    pub idx: Option<Arc<IdxImages>>,
}

impl Split {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// True if it has no samples.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// Samples per class.
    pub fn class_counts(&self, classes: usize) -> Vec<usize> {
        let mut c = vec![0; classes];
        for (_, l) in &self.items {
            c[*l] += 1;
        }
        c
    }
    /// A subset: the given item indices.
    pub fn subset(&self, keep: &[usize]) -> Split {
        Split { name: self.name.clone(), items: keep.iter().map(|&i| self.items[i].clone()).collect(), idx: self.idx.clone() }
    }
}

/// A dataset ready to stream.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Class names, sorted (folders) or `0`..`9` (IDX, unless a labels file names them).
    pub classes: Vec<String>,
    /// Training split.
    pub train: Split,
    /// Validation split.
    pub valid: Option<Split>,
    /// Test split.
    pub test: Option<Split>,
    /// Channels of the images: 1 if every image is grayscale, else 3.
    pub channels: usize,
    /// Native size (h, w) of the images when they all share one (IDX), else `None`.
    pub native_hw: Option<(usize, usize)>,
    /// Files skipped because they could not be read or decoded, with the reason.
    pub corrupt: Arc<Mutex<BTreeMap<PathBuf, String>>>,
    /// The color modes found, with a count and an example file each.
    pub modes: BTreeMap<String, (usize, PathBuf)>,
}

impl Dataset {
    /// Record an unreadable file.
    pub fn mark_corrupt(&self, p: &Path, why: &str) {
        if let Ok(mut m) = self.corrupt.lock() {
            m.entry(p.to_path_buf()).or_insert_with(|| why.to_string());
        }
    }
    /// The skipped files so far.
    pub fn corrupt_list(&self) -> Vec<(PathBuf, String)> {
        self.corrupt.lock().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
    }
}

/// How to open a dataset.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Fraction of the training data held out for validation when there is no
    /// validation split (the last fraction, as Keras' `validation_split`).
    pub validation_split: f32,
    /// Accept images of mixed color modes (converted to the model's channels).
    pub convert_modes: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { validation_split: 0.1, convert_modes: false }
    }
}

/// Open a dataset folder (folder layout or IDX) or an IDX image file.
pub fn open(path: &Path, opts: &OpenOptions) -> Result<Dataset> {
    if !path.exists() {
        bail!("data {} does not exist", path.display());
    }
    if path.is_file() {
        return open_idx_file(path, opts);
    }
    if idx::find_images(path, "train").is_some() || idx::find_images(path, "t10k").is_some() {
        return open_idx_dir(path, opts);
    }
    open_folders(path, opts)
}

fn class_names_10() -> Vec<String> {
    (0..10).map(|i| i.to_string()).collect()
}

fn idx_split(name: &str, images: &Path) -> Result<(Split, Vec<u8>)> {
    let labels = idx::labels_for(images).with_context(|| format!("{}: cannot tell its labels file", images.display()))?;
    let (im, lb) = idx::load_pair(images, &labels)?;
    let items = lb.iter().enumerate().map(|(i, &l)| (Source::Idx(i), l as usize)).collect();
    Ok((Split { name: name.into(), items, idx: Some(Arc::new(im)) }, lb))
}

fn finish_idx(train: Split, valid: Option<Split>, test: Option<Split>, max_label: usize, opts: &OpenOptions) -> Result<Dataset> {
    let classes = if max_label < 10 { class_names_10() } else { (0..=max_label).map(|i| i.to_string()).collect() };
    let (train, valid) = match valid {
        Some(v) => (train, Some(v)),
        None => hold_out(train, opts.validation_split),
    };
    let hw = train.idx.as_ref().map(|i| (i.rows, i.cols));
    let ds = Dataset {
        classes,
        train,
        valid,
        test,
        channels: 1,
        native_hw: hw,
        corrupt: Default::default(),
        modes: BTreeMap::new(),
    };
    check_classes(&ds)?;
    Ok(ds)
}

fn open_idx_file(images: &Path, opts: &OpenOptions) -> Result<Dataset> {
    let (train, lb) = idx_split("train", images)?;
    let max = lb.iter().copied().max().unwrap_or(0) as usize;
    finish_idx(train, None, None, max, opts)
}

fn open_idx_dir(dir: &Path, opts: &OpenOptions) -> Result<Dataset> {
    let train = idx::find_images(dir, "train").map(|p| idx_split("train", &p)).transpose()?;
    let test = idx::find_images(dir, "t10k").map(|p| idx_split("test", &p)).transpose()?;
    let max = train.iter().chain(test.iter()).flat_map(|(_, l)| l.iter().copied()).max().unwrap_or(0) as usize;
    match (train, test) {
        (Some((tr, _)), te) => finish_idx(tr, None, te.map(|t| t.0), max, opts),
        (None, Some((te, _))) => {
            // Only a test file: usable by `kestrel eval`, which reads the test split.
            let mut ds = finish_idx(te.clone(), None, Some(te), max, &OpenOptions { validation_split: 0.0, ..opts.clone() })?;
            ds.train.items.clear();
            Ok(ds)
        }
        (None, None) => unreachable!("checked by the caller"),
    }
}

/// Split off the last `frac` of `s` as validation (per class, so every class keeps
/// training samples).
fn hold_out(s: Split, frac: f32) -> (Split, Option<Split>) {
    if frac <= 0.0 || s.items.is_empty() {
        return (s, None);
    }
    let n_val = ((s.items.len() as f64) * frac as f64).round() as usize;
    if n_val == 0 || n_val >= s.items.len() {
        return (s, None);
    }
    let cut = s.items.len() - n_val;
    let train = Split { name: "train".into(), items: s.items[..cut].to_vec(), idx: s.idx.clone() };
    let valid = Split { name: "valid".into(), items: s.items[cut..].to_vec(), idx: s.idx };
    (train, Some(valid))
}

fn is_image(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTS.contains(&e.to_ascii_lowercase().as_str()))
}

fn sorted_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).with_context(|| format!("cannot read directory {}", dir.display()))?;
    let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    v.sort();
    Ok(v)
}

fn sorted_images(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_file() && is_image(p)).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The color mode of an image from its header, without decoding the pixels.
pub fn image_mode(p: &Path) -> Result<String> {
    use image::ImageDecoder;
    let r = image::ImageReader::open(p)?.with_guessed_format()?;
    let d = r.into_decoder()?;
    let (w, h) = d.dimensions();
    if w == 0 || h == 0 {
        bail!("empty image");
    }
    Ok(format!("{:?}", d.color_type()))
}

fn mode_channels(mode: &str) -> usize {
    if mode.starts_with('L') {
        1
    } else {
        3
    }
}

fn open_folders(root: &Path, opts: &OpenOptions) -> Result<Dataset> {
    let find = |names: &[&str]| names.iter().map(|n| root.join(n)).find(|p| p.is_dir());
    let train_dir = find(&["train", "training"]);
    let valid_dir = find(&["valid", "validation", "val"]);
    let test_dir = find(&["test"]);
    // The classes: train/'s folders; without train/, those of valid/ and test/ together
    // (a held-out set alone); without any split folder, the root's (a flat class folder).
    let split_only = train_dir.is_none() && (valid_dir.is_some() || test_dir.is_some());
    let class_root = train_dir.clone().unwrap_or_else(|| root.to_path_buf());
    let class_dirs = if split_only {
        let mut v = Vec::new();
        for d in valid_dir.iter().chain(test_dir.iter()) {
            v.extend(sorted_dirs(d)?);
        }
        v
    } else {
        sorted_dirs(&class_root)?
    };
    if class_dirs.is_empty() {
        bail!(
            "no classes found in {}: expected one folder per class (Keras flow_from_directory layout: train/<class>/*.jpg, valid/<class>/*.jpg) or IDX files",
            class_root.display()
        );
    }
    let mut classes: Vec<String> = class_dirs.iter().map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()).collect();
    classes.sort();
    classes.dedup();
    let corrupt: Arc<Mutex<BTreeMap<PathBuf, String>>> = Default::default();
    let mut modes: BTreeMap<String, (usize, PathBuf)> = BTreeMap::new();
    let mut scan = |name: &str, dir: &Path| -> Result<Split> {
        let mut items = Vec::new();
        for sub in sorted_dirs(dir)? {
            let cname = sub.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let Some(label) = classes.iter().position(|c| *c == cname) else {
                bail!("{}: class folder '{cname}' is not a class of the training data ({})", sub.display(), classes.join(", "));
            };
            for f in sorted_images(&sub) {
                match image_mode(&f) {
                    Ok(m) => {
                        let e = modes.entry(m).or_insert((0, f.clone()));
                        e.0 += 1;
                        items.push((Source::File(f), label));
                    }
                    Err(e) => {
                        corrupt.lock().map_err(|_| anyhow::anyhow!("lock"))?.insert(f, e.to_string());
                    }
                }
            }
        }
        Ok(Split { name: name.into(), items, idx: None })
    };
    let train = if split_only { Split { name: "train".into(), items: vec![], idx: None } } else { scan("train", &class_root)? };
    let valid = valid_dir.as_deref().map(|d| scan("valid", d)).transpose()?;
    let test = test_dir.as_deref().map(|d| scan("test", d)).transpose()?;
    let (train, valid) = match valid {
        Some(v) => (train, Some(v)),
        None => {
            // Hold out per class, so the split keeps every class.
            let mut tr = Vec::new();
            let mut va = Vec::new();
            for c in 0..classes.len() {
                let of: Vec<_> = train.items.iter().filter(|(_, l)| *l == c).cloned().collect();
                let n_val = ((of.len() as f64) * opts.validation_split.max(0.0) as f64).round() as usize;
                let n_val = if of.len() >= 2 { n_val.min(of.len() - 1) } else { 0 };
                let cut = of.len() - n_val;
                tr.extend_from_slice(&of[..cut]);
                va.extend_from_slice(&of[cut..]);
            }
            let v = (!va.is_empty()).then(|| Split { name: "valid".into(), items: va, idx: None });
            (Split { name: "train".into(), items: tr, idx: None }, v)
        }
    };
    if modes.len() > 1 && !opts.convert_modes {
        let list: Vec<String> = modes.iter().map(|(m, (n, p))| format!("{n} {m} (e.g. {})", p.display())).collect();
        bail!("images of mixed color modes: {}; convert them to one mode, or pass --convert-modes to convert each to the model's channels", list.join(", "));
    }
    let channels = if !modes.is_empty() && modes.keys().all(|m| mode_channels(m) == 1) { 1 } else { 3 };
    let ds = Dataset { classes, train, valid, test, channels, native_hw: None, corrupt, modes };
    check_classes(&ds)?;
    Ok(ds)
}

fn check_classes(ds: &Dataset) -> Result<()> {
    if ds.train.is_empty() && ds.test.as_ref().is_none_or(|t| t.is_empty()) && ds.valid.as_ref().is_none_or(|v| v.is_empty()) {
        bail!("no images found in the data (classes: {})", ds.classes.join(", "));
    }
    Ok(())
}

/// Classes with training images; a training run needs at least two.
pub fn check_trainable(ds: &Dataset) -> Result<()> {
    let counts = ds.train.class_counts(ds.classes.len());
    let with: Vec<&String> = ds.classes.iter().zip(&counts).filter(|&(_, &n)| n > 0).map(|(c, _)| c).collect();
    match with.len() {
        0 => bail!("no training images found (classes: {})", ds.classes.join(", ")),
        1 => bail!("only one class has training images ('{}'): a classifier needs at least two", with[0]),
        _ => Ok(()),
    }
}

/// Keep at most `n` samples per class of `s`, picked with `seed` (the course's quick check
/// on a small subset).
pub fn sample_per_class(s: &Split, n: usize, classes: usize, seed: u64) -> Split {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5a4d_504c_455f_5345);
    let mut keep = Vec::new();
    for c in 0..classes {
        let mut of: Vec<usize> = (0..s.items.len()).filter(|&i| s.items[i].1 == c).collect();
        of.shuffle(&mut rng);
        of.truncate(n);
        keep.extend(of);
    }
    keep.sort_unstable();
    s.subset(&keep)
}

/// Decode one sample into CHW f32 of `c` x `h` x `w`, pixels times `rescale`.
pub fn load_sample(split: &Split, src: &Source, c: usize, h: usize, w: usize, rescale: f32) -> Result<Vec<f32>> {
    match src {
        Source::Idx(i) => {
            let im = split.idx.as_ref().context("IDX split without images")?;
            let px = im.image(*i);
            let gray: Vec<f32> = if (im.rows, im.cols) == (h, w) {
                px.iter().map(|&p| p as f32 * rescale).collect()
            } else {
                let img = image::GrayImage::from_raw(im.cols as u32, im.rows as u32, px.to_vec()).context("IDX image")?;
                let r = image::imageops::resize(&img, w as u32, h as u32, image::imageops::FilterType::Triangle);
                r.pixels().map(|p| p[0] as f32 * rescale).collect()
            };
            Ok(if c == 1 { gray } else { gray.iter().cycle().take(c * h * w).copied().collect() })
        }
        Source::File(p) => {
            let img = image::open(p).with_context(|| format!("{}: cannot decode image", p.display()))?;
            let r = img.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle);
            let n = h * w;
            let mut out = vec![0f32; c * n];
            if c == 1 {
                for (i, p) in r.to_luma8().pixels().enumerate() {
                    out[i] = p[0] as f32 * rescale;
                }
            } else {
                for (i, p) in r.to_rgb8().pixels().enumerate() {
                    for ch in 0..c {
                        out[ch * n + i] = p[ch.min(2)] as f32 * rescale;
                    }
                }
            }
            Ok(out)
        }
    }
}
